"""``IemocapAmbig``: IEMOCAP as a ``datasets`` builder with every evaluator's answer, one split per session.

>>> [c.name for c in IemocapAmbig.BUILDER_CONFIGS]
['iemocap-4', 'paper-4class', 'iemocap-full']

Use (IEMOCAP cannot be downloaded; request it from USC SAIL and point ``data_dir`` at ``IEMOCAP_full_release``)::

    builder = IemocapAmbig(config_name="paper-4class", data_dir="/data/IEMOCAP_full_release", cache_dir="~/cache")
    builder.download_and_prepare()
    dsdict = builder.as_dataset()          # DatasetDict session1 .. session5
    builder.read_report().as_markdown()    # what was read, kept, skipped and dropped
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import datasets

from hf_ambiguity.builders.features import FEATURES_VERSION
from hf_ambiguity.builders._base import AmbiguityBuilder, AmbiguityBuilderConfig
from hf_ambiguity.labels import get_class_set, get_corpus

__all__ = ["IemocapAmbig", "IemocapAmbigConfig", "IEMOCAP_CLASS_SETS"]

_SPEC = get_corpus("iemocap")
IEMOCAP_CLASS_SETS = _SPEC.class_sets

@dataclass
class IemocapAmbigConfig(AmbiguityBuilderConfig):
    """IEMOCAP options on top of :class:`~hf_ambiguity.builders.AmbiguityBuilderConfig`.

    Attributes:
        include_self_evaluations: add the actors' own ``C-F*``/``C-M*`` answers as annotators. Default False: they
            are the actors' view, not outside perception, and exist for only part of the corpus (see
            :mod:`hf_ambiguity.corpora.iemocap`).
        multi_label: ``fractional`` (default: an evaluator naming several emotions splits one vote among them) or
            ``whole`` (one vote per emotion named).
    """

    include_self_evaluations: bool = False
    multi_label: str = "fractional"

    def reader_options(self) -> dict[str, Any]:
        return {**super().reader_options(), "include_self_evaluations": self.include_self_evaluations,
                "multi_label": self.multi_label}


class IemocapAmbig(AmbiguityBuilder):
    """IEMOCAP rated turns with every outside evaluator's categorical answer; splits ``session1`` .. ``session5``.

    Config kwargs: see :class:`IemocapAmbigConfig`; ``data_dir`` is required.
    """

    BUILDER_CONFIG_CLASS = IemocapAmbigConfig
    CORPUS = "iemocap"
    DESCRIPTION = ("IEMOCAP with every evaluator's categorical emotion answer, per-utterance vote counts, emotion "
                   "distribution and ambiguity level (hf-ambiguity).")
    HOMEPAGE = _SPEC.homepage
    CITATION = _SPEC.citation
    LICENSE = _SPEC.licence.summary
    NEEDS_DATA_DIR = ("IEMOCAP cannot be downloaded automatically; request it from https://sail.usc.edu/iemocap/ and "
                      "pass the IEMOCAP_full_release folder")
    BUILDER_CONFIGS = [
        IemocapAmbigConfig(name=name, version=datasets.Version(FEATURES_VERSION),
                               description=get_class_set(name).description)
        for name in IEMOCAP_CLASS_SETS
    ]
    DEFAULT_CONFIG_NAME = _SPEC.default_class_set

    def _read(self, data_dir: str) -> Any:
        from hf_ambiguity.corpora.iemocap import read_iemocap

        return read_iemocap(data_dir, progress=self._progress, **self.config.reader_options())

    def _split_names(self, result: Any) -> list[str]:
        present = {int(r["session"]) for r in result.rows}  # a session the selections emptied has no split
        return [f"session{s}" for s in result.report.options.get("sessions", range(1, 6)) if s in present]

    def _split_of(self, row: dict[str, Any]) -> str:
        return f"session{int(row['session'])}"
