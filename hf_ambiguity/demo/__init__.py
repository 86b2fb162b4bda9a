"""Small corpora in the real IEMOCAP / MSP-Podcast layouts (for tests) and the bundled demo corpus."""

from __future__ import annotations

from hf_ambiguity.demo.corpus import demo_turns, make_demo_corpus
from hf_ambiguity.demo.layouts import (
    Evaluation,
    IemocapTurn,
    MspUtterance,
    Worker,
    example_iemocap_turns,
    example_msp_utterances,
    write_iemocap_layout,
    write_msp_layout,
)

__all__ = [
    "Evaluation", "IemocapTurn", "MspUtterance", "Worker", "example_iemocap_turns", "example_msp_utterances",
    "write_iemocap_layout", "write_msp_layout", "make_demo_corpus", "demo_turns",
]
