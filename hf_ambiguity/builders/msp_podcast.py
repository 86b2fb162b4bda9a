"""``MspPodcastAmbig``: MSP-Podcast as a ``datasets`` builder with every worker's primary vote, official splits.

>>> [c.name for c in MspPodcastAmbig.BUILDER_CONFIGS]
['msp-8', 'msp-4']

Use (MSP-Podcast cannot be downloaded; request it from the MSP Lab at UT Dallas)::

    builder = MspPodcastAmbig(config_name="msp-8", data_dir="/data/MSP-Podcast")
    builder.download_and_prepare()
    dsdict = builder.as_dataset()   # train, development, test1, test2 (test3 only when its labels are present)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import datasets

from hf_ambiguity.builders.features import FEATURES_VERSION
from hf_ambiguity.builders._base import AmbiguityBuilder, AmbiguityBuilderConfig
from hf_ambiguity.labels import get_class_set, get_corpus

__all__ = ["MspPodcastAmbig", "MspPodcastAmbigConfig", "MSP_CLASS_SETS", "MSP_SPLITS"]

_SPEC = get_corpus("msp-podcast")
MSP_CLASS_SETS = _SPEC.class_sets
#: Split names of the built dataset, in order (the release's Train / Development / Test1 / Test2 / Test3).
MSP_SPLITS = ("train", "development", "test1", "test2", "test3")

@dataclass
class MspPodcastAmbigConfig(AmbiguityBuilderConfig):
    """MSP-Podcast options on top of :class:`~hf_ambiguity.builders.AmbiguityBuilderConfig`.

    Attributes:
        duplicate_workers: ``first`` (default: a worker's repeated rows for one file count once) or ``all``.
        partitions: ``Split_Set`` values that are not official partitions, mapped onto one (``{"NA": "Train"}``)
            or to ``"ignore"`` to leave those files out (counted).
    """

    duplicate_workers: str = "first"
    partitions: dict[str, str] | None = None

    def reader_options(self) -> dict[str, Any]:
        return {**super().reader_options(), "duplicate_workers": self.duplicate_workers,
                "partitions": dict(self.partitions) if self.partitions else None}


class MspPodcastAmbig(AmbiguityBuilder):
    """MSP-Podcast files with every worker's primary answer; splits ``train``, ``development``, ``test1``,
    ``test2`` (and ``test3`` when its labels are in the release). ``data_dir`` is required."""

    BUILDER_CONFIG_CLASS = MspPodcastAmbigConfig
    CORPUS = "msp-podcast"
    DESCRIPTION = ("MSP-Podcast with every worker's primary emotion answer (secondary answers kept separately), "
                   "per-utterance vote counts, emotion distribution and ambiguity level (hf-ambiguity).")
    HOMEPAGE = _SPEC.homepage
    CITATION = _SPEC.citation
    LICENSE = _SPEC.licence.summary
    NEEDS_DATA_DIR = ("MSP-Podcast cannot be downloaded automatically; request it from the MSP Lab (UT Dallas) and "
                      "pass the release folder that holds Audios/ and Labels/")
    BUILDER_CONFIGS = [
        MspPodcastAmbigConfig(name=name, version=datasets.Version(FEATURES_VERSION),
                              description=get_class_set(name).description)
        for name in MSP_CLASS_SETS
    ]
    DEFAULT_CONFIG_NAME = _SPEC.default_class_set

    def _read(self, data_dir: str) -> Any:
        from hf_ambiguity.corpora.msp_podcast import read_msp_podcast

        return read_msp_podcast(data_dir, progress=self._progress, **self.config.reader_options())

    def _split_names(self, result: Any) -> list[str]:
        present = {self._split_of(r) for r in result.rows}
        return [s for s in MSP_SPLITS if s in present]

    def _split_of(self, row: dict[str, Any]) -> str:
        name = str(row["split"]).lower()
        if name not in MSP_SPLITS:
            raise ValueError(f"utterance {row.get('id')!r} has split {row['split']!r}, expected one of "
                             f"{list(MSP_SPLITS)} (any case)")
        return name
