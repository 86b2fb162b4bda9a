"""``datasets`` builders for the corpora (one config per class set) and :func:`build_dataset`, which runs one and
returns the dataset with a :class:`BuildReport`.

>>> sorted(BUILDERS)
['iemocap', 'msp-podcast']
>>> build_dataset("timit", "/nowhere")
Traceback (most recent call last):
...
ValueError: corpus must be one of ['iemocap', 'msp-podcast'], got 'timit'
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import datasets

from hf_ambiguity import __version__
from hf_ambiguity.builders._base import AmbiguityBuilder, AmbiguityBuilderConfig
from hf_ambiguity.builders.features import CORPORA, utterance_features
from hf_ambiguity.builders.fingerprint import corpus_fingerprint
from hf_ambiguity.builders.subset import SubsetDescription, stratified_subset
from hf_ambiguity.distributions import AmbiguityDefinition
from hf_ambiguity.errors import CorpusFormatError
from hf_ambiguity.labels import CORPORA as CORPORA_SPECS
from hf_ambiguity.builders.iemocap import IEMOCAP_CLASS_SETS, IemocapAmbig, IemocapAmbigConfig
from hf_ambiguity.builders.msp_podcast import MSP_CLASS_SETS, MSP_SPLITS, MspPodcastAmbig, MspPodcastAmbigConfig

__all__ = [
    "AmbiguityBuilder", "AmbiguityBuilderConfig", "IemocapAmbig", "IemocapAmbigConfig", "MspPodcastAmbig",
    "MspPodcastAmbigConfig", "BUILDERS", "DEFAULT_CLASS_SET", "BuildReport", "build_dataset", "get_builder",
    "utterance_features", "corpus_fingerprint", "corpus_metadata", "CORPORA", "stratified_subset", "SubsetDescription",
    "IEMOCAP_CLASS_SETS", "MSP_CLASS_SETS", "MSP_SPLITS",
]

BUILDERS: Mapping[str, type[AmbiguityBuilder]] = {"iemocap": IemocapAmbig, "msp-podcast": MspPodcastAmbig}
DEFAULT_CLASS_SET = {name: spec.default_class_set for name, spec in CORPORA_SPECS.items()}


@dataclass(frozen=True)
class BuildReport:
    """What a build produced: the reader's report plus split sizes, options and where the data was prepared."""

    corpus: str
    class_set: str
    options: Mapping[str, Any]
    read_report: Any  # hf_ambiguity.corpora.ReadReport
    split_sizes: Mapping[str, int]
    prepared_dir: str
    package_version: str = __version__
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        return int(sum(self.split_sizes.values()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (what ``build_report.json`` holds)."""
        return json.loads(json.dumps({
            "corpus": self.corpus, "class_set": self.class_set, "options": dict(self.options),
            "split_sizes": dict(self.split_sizes), "num_rows": self.num_rows, "prepared_dir": self.prepared_dir,
            "package_version": self.package_version, "extra": dict(self.extra),
            "read_report": dataclasses.asdict(self.read_report),
        }, default=list))

    def as_markdown(self) -> str:
        """The closing report: build summary, rows per split, then the reader's report."""
        lines = [f"# hf-ambiguity build: {self.corpus}, class set `{self.class_set}`", "",
                 f"- hf-ambiguity {self.package_version}", f"- rows in the dataset: {self.num_rows}",
                 "- options: " + ", ".join(f"{k}={v!r}" for k, v in self.options.items()), "",
                 "| split | rows |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in self.split_sizes.items()]
        for k, v in self.extra.items():
            lines.append(f"- {k}: {v}")
        return "\n".join(lines) + "\n\n" + self.read_report.as_markdown()

    def card_info(self, **kwargs: Any) -> Any:
        """A :class:`hf_ambiguity.hub.card.CardInfo` for exporting this build (``kwargs`` go to ``make_card_info``)."""
        from hf_ambiguity.hub.card import make_card_info

        return make_card_info(self.corpus, self.class_set, options=dict(self.options),
                              build_report_markdown=self.read_report.as_markdown(),
                              ambiguity_description=AmbiguityDefinition.from_options(self.options).describe(), **kwargs)


def get_builder(corpus: str, data_dir: str | Path, *, class_set: str | None = None, cache_dir: str | Path | None = None,
                progress: bool = True, **options: Any) -> AmbiguityBuilder:
    """Instantiate the builder of ``corpus`` with config ``class_set`` and options (see the config classes)."""
    if corpus not in BUILDERS:
        raise ValueError(f"corpus must be one of {sorted(BUILDERS)}, got {corpus!r}")
    cls = BUILDERS[corpus]
    class_set = class_set or DEFAULT_CLASS_SET[corpus]
    names = [c.name for c in cls.BUILDER_CONFIGS]
    if class_set not in names:
        raise ValueError(f"class set for {corpus} must be one of {names}, got {class_set!r}")
    fields = {f.name for f in dataclasses.fields(cls.BUILDER_CONFIG_CLASS)} - {
        f.name for f in dataclasses.fields(datasets.BuilderConfig)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for {corpus}; valid options: {sorted(fields)}")
    if "ambiguity_cuts" in options:
        options["ambiguity_cuts"] = tuple(float(x) for x in options["ambiguity_cuts"])
    if options.get("partitions") is not None:
        options["partitions"] = {str(k): str(v) for k, v in dict(options["partitions"]).items()}
    if options.get("ids_file") is not None:
        options["ids_file"] = str(options["ids_file"])
    _check_options(options)
    return cls(config_name=class_set, data_dir=str(data_dir), cache_dir=None if cache_dir is None else str(cache_dir),
               progress=progress, **options)


def corpus_metadata(corpus: str, data_dir: str | Path, *, class_set: str | None = None, **options: Any) -> Any:
    """The corpus' label columns in the build's splits, without audio (see ``AmbiguityBuilder.read_metadata``):
    the same reader and options as :func:`build_dataset`, for checks before a long build."""
    builder = get_builder(corpus, data_dir, class_set=class_set, progress=False, **{**options, "check_audio": False})
    return builder.read_metadata()


def _check_options(options: Mapping[str, Any]) -> None:
    """Refuse a bad selection option before any reading (a typo fails before a long parse, and not as a traceback
    from inside ``datasets``)."""
    from hf_ambiguity.corpora.selection import OutOfSetPolicy

    OutOfSetPolicy(options.get("out_of_set", "share"), options.get("min_in_set_share", 0.5))
    if options.get("partitions") is not None:
        from hf_ambiguity.corpora.msp_podcast import partition_map

        partition_map(options["partitions"])
    if options.get("ids_file") is not None and not Path(options["ids_file"]).expanduser().is_file():
        raise CorpusFormatError(f"ids file {options['ids_file']!r} does not exist; pass a text file with one "
                                "utterance id per line (--ids-file / corpus.ids_file)")


def build_dataset(corpus: str, data_dir: str | Path, *, class_set: str | None = None,
                  cache_dir: str | Path | None = None, progress: bool = True, download_mode: str | None = None,
                  **options: Any) -> tuple[Any, BuildReport]:
    """Build ``corpus`` from its raw release at ``data_dir``: ``(DatasetDict, BuildReport)``.

    ``options`` are the builder config options: ``strict``, ``ambiguity``, ``ambiguity_cuts``,
    ``consensus_in_set``, ``out_of_set``, ``min_in_set_share``, ``ids_file``, ``check_audio``; IEMOCAP
    ``include_self_evaluations``, ``multi_label``; MSP-Podcast ``duplicate_workers``, ``partitions``. A second
    call with the same options and unchanged corpus files reuses the prepared data in ``cache_dir``
    (``download_mode="force_redownload"`` rebuilds).

    Bad input is a :class:`~hf_ambiguity.errors.CorpusFormatError` naming the file (never a ``datasets``
    generation traceback).
    """
    if corpus not in BUILDERS:
        raise ValueError(f"corpus must be one of {sorted(BUILDERS)}, got {corpus!r}")
    builder = get_builder(corpus, data_dir, class_set=class_set, cache_dir=cache_dir, progress=progress, **options)
    try:
        builder.download_and_prepare(download_mode=download_mode)
    except datasets.exceptions.DatasetGenerationError as err:
        cause = err.__cause__ or err.__context__
        if isinstance(cause, CorpusFormatError):
            raise cause from None
        raise
    dsdict = builder.as_dataset()
    cfg = builder.config
    used = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
            if f.name not in {f0.name for f0 in dataclasses.fields(datasets.BuilderConfig)}
            and f.name != "corpus_fingerprint"}
    used = {"class_set": cfg.name, **used}
    read_report = builder.read_report()
    used.update({k: v for k, v in read_report.options.items() if k in used})  # effective values (None resolved)
    report = BuildReport(corpus=corpus, class_set=cfg.name, options=used, read_report=read_report,
                         split_sizes={k: len(v) for k, v in dsdict.items()}, prepared_dir=str(builder._output_dir))
    return dsdict, report
