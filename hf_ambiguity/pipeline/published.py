"""The reference method's published fine-tuning results (arXiv 2601.14620, Table of JS / BC by label source).

Each model was trained on one label source's distributions and scored on *its own* label source's test set
(random 80/20 utterance split, 4 classes). JS is the Jensen–Shannon divergence in base 2 (lower is better), BC the
Bhattacharyya coefficient (higher is better). They are printed beside a run's figures only for the paper protocol,
where the run follows the same recipe; other protocols are not comparable to them.

>>> PUBLISHED["iemocap"]["combined_dist"]
(0.325, 0.715)
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

__all__ = ["PUBLISHED", "TARGET_LABELS", "published_for"]

#: corpus -> training target column -> (JS divergence, Bhattacharyya coefficient).
PUBLISHED: Mapping[str, Mapping[str, tuple[float, float]]] = MappingProxyType({
    "iemocap": MappingProxyType({
        "human_dist": (0.302, 0.724), "synthetic_dist": (0.431, 0.607), "combined_dist": (0.325, 0.715),
    }),
    "msp-podcast": MappingProxyType({
        "human_dist": (0.307, 0.719), "synthetic_dist": (0.373, 0.660), "combined_dist": (0.274, 0.757),
    }),
})

#: How the report names each training target.
TARGET_LABELS: Mapping[str, str] = MappingProxyType({
    "human_dist": "human", "synthetic_dist": "synthetic", "combined_dist": "combined (human + synthetic)",
})


def published_for(corpus_kind: str, setting: str, protocol: str) -> Mapping[str, tuple[float, float]] | None:
    """The published figures to print for a run, or ``None`` when they do not apply.

    ``setting`` is the report config's ``reference_figures`` (``auto`` = by corpus, only for ``protocol: paper``).
    """
    if setting == "none":
        return None
    if setting == "auto":
        if protocol != "paper":
            return None
        return PUBLISHED.get("iemocap" if corpus_kind == "demo" else corpus_kind)
    return PUBLISHED[setting]
