"""Corpus readers: raw IEMOCAP / MSP-Podcast releases → one row per utterance with every annotator's answer.

Each reader returns a :class:`ReadResult` (``rows``: dicts with exactly the :mod:`hf_ambiguity.schema` columns of
the corpus; ``report``: a :class:`ReadReport` of what was read, kept, skipped and dropped). Strict mode (default)
raises :class:`CorpusFormatError` naming ``file:line``; ``strict=False`` skips bad input and counts it.
"""

from __future__ import annotations

from hf_ambiguity.corpora.report import ReadReport, ReadResult
from hf_ambiguity.errors import CorpusFormatError
from hf_ambiguity.corpora.iemocap import IEMOCAP_COLUMNS, read_iemocap
from hf_ambiguity.corpora.msp_podcast import MSP_COLUMNS, SPLITS, read_msp_podcast

__all__ = ["CorpusFormatError", "ReadReport", "ReadResult", "read_iemocap", "IEMOCAP_COLUMNS", "read_msp_podcast",
           "MSP_COLUMNS", "SPLITS"]
