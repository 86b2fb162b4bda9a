"""What both corpus builders share: the config options, reading the corpus once, embedding the audio, and keeping
the reader's report next to the prepared data.

A builder reads the whole corpus in ``_split_generators`` (ambiguity terciles need every utterance at once), groups
the rows by split and writes them with the audio *bytes* embedded (the stored ``path`` is only the file name, never a
local absolute path), so the prepared dataset and anything exported from it no longer depend on the raw release.
The reader's :class:`~hf_ambiguity.corpora.ReadReport` is saved as ``read_report.json`` in the prepared folder, so
a dataset reused from the cache still has its report (:meth:`AmbiguityBuilder.read_report`).

The cache is keyed by the config name, every option and :func:`~hf_ambiguity.builders.fingerprint.corpus_fingerprint`
(label and transcript files and the ids file by content, audio files by size and modification time): a changed
option, an edited label file (even one of the same size and mtime) or a restored/replaced wav (e.g. one a lenient
build skipped as missing) re-prepares instead of reusing stale data.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator

import datasets
from datasets.builder import Key

from hf_ambiguity.builders.features import utterance_features
from hf_ambiguity.builders.fingerprint import corpus_fingerprint
from hf_ambiguity.corpora.report import LENIENT_HINT
from hf_ambiguity.corpora.selection import DEFAULT_MIN_IN_SET_SHARE
from hf_ambiguity.distributions import DEFAULT_AMBIGUITY_CUTS
from hf_ambiguity.errors import CorpusFormatError

__all__ = ["AmbiguityBuilderConfig", "AmbiguityBuilder", "READ_REPORT_FILE"]

READ_REPORT_FILE = "read_report.json"


@dataclass
class AmbiguityBuilderConfig(datasets.BuilderConfig):
    """Options every corpus builder has; the config ``name`` is the class set (``iemocap-4``, ``msp-8``, ...).

    Attributes:
        ambiguity: ``reference`` (label-list entropy / log(#distinct labels), equal terciles over the corpus read;
            the reference method's definition) or ``fixed`` (entropy / log(#classes) with ``ambiguity_cuts``).
        ambiguity_cuts: the two cut points of ``fixed``.
        ambiguity_ties: ties at a tercile cut of ``reference`` (``together``, ``rank`` or ``reference``).
        consensus_in_set: keep only utterances whose consensus label is in the class set (None: the reader's
            default, True for ``paper-4class`` only).
        out_of_set: ``share`` (default: keep an utterance only when at least ``min_in_set_share`` of its valid
            votes are in the class set) or ``keep`` (every utterance with an in-set vote); see
            :mod:`hf_ambiguity.corpora.selection`.
        min_in_set_share: the threshold of ``share`` (default 0.5).
        ids_file: keep only the utterances listed in this file (one id per line; ids not in the corpus are an
            error).
        strict: bad input raises an error naming file and line (default); False skips it and counts it.
        check_audio: check that every audio file exists and decodes to a non-empty signal while reading.
        corpus_fingerprint: set automatically from the corpus files (part of the cache key).
    """

    ambiguity: str = "reference"
    ambiguity_cuts: tuple[float, float] = DEFAULT_AMBIGUITY_CUTS
    ambiguity_ties: str = "together"
    consensus_in_set: bool | None = None
    out_of_set: str = "share"
    min_in_set_share: float = DEFAULT_MIN_IN_SET_SHARE
    ids_file: str | None = None
    strict: bool = True
    check_audio: bool = True
    corpus_fingerprint: str = ""

    @property
    def class_set(self) -> str:
        return self.name

    def reader_options(self) -> dict[str, Any]:
        """Keyword options for the corpus reader (subclasses add their corpus-specific ones)."""
        opts: dict[str, Any] = {"class_set": self.name, "ambiguity": self.ambiguity,
                                "ambiguity_cuts": tuple(self.ambiguity_cuts), "ambiguity_ties": self.ambiguity_ties,
                                "strict": self.strict,
                                "check_audio": self.check_audio, "out_of_set": self.out_of_set,
                                "min_in_set_share": float(self.min_in_set_share), "ids_file": self.ids_file}
        if self.consensus_in_set is not None:
            opts["consensus_in_set"] = self.consensus_in_set
        return opts


class AmbiguityBuilder(datasets.GeneratorBasedBuilder):
    """Base of :class:`~hf_ambiguity.builders.IemocapAmbig` and :class:`~hf_ambiguity.builders.MspPodcastAmbig`."""

    BUILDER_CONFIG_CLASS = AmbiguityBuilderConfig
    VERSION = datasets.Version("0.1.0")
    DEFAULT_WRITER_BATCH_SIZE = 256  # rows carry audio bytes: keep Arrow record batches small

    #: Set by subclasses.
    CORPUS: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    HOMEPAGE: ClassVar[str] = ""
    CITATION: ClassVar[str] = ""
    LICENSE: ClassVar[str] = ""
    NEEDS_DATA_DIR: ClassVar[str] = ""

    def __init__(self, *args: Any, progress: bool = True, **kwargs: Any) -> None:
        if kwargs.get("ids_file") is not None:
            kwargs["ids_file"] = str(Path(kwargs["ids_file"]).expanduser().resolve())
        data_dir = kwargs.get("data_dir")
        if data_dir is not None:
            kwargs["data_dir"] = str(Path(data_dir).expanduser().resolve())
            if not kwargs.get("corpus_fingerprint"):
                kwargs["corpus_fingerprint"] = corpus_fingerprint(self.CORPUS, kwargs["data_dir"],
                                                                  ids_file=kwargs.get("ids_file"))
        self._progress = progress
        self._read_report: Any = None
        super().__init__(*args, **kwargs)

    # -- datasets API -------------------------------------------------------------------------------------------
    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=self.DESCRIPTION, features=utterance_features(self.CORPUS, self.config.name),
            homepage=self.HOMEPAGE, citation=self.CITATION, license=self.LICENSE,
        )

    def _download_and_prepare(self, dl_manager: Any, verification_mode: Any, **kwargs: Any) -> None:
        super()._download_and_prepare(dl_manager, verification_mode, **kwargs)
        if self._read_report is not None:  # written into the (temporary) output dir, moved with the data
            path = Path(self._output_dir) / READ_REPORT_FILE
            path.write_text(json.dumps(dataclasses.asdict(self._read_report), indent=2, default=list),
                            encoding="utf-8")

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        if not self.config.data_dir:
            raise ValueError(f"{type(self).__name__} needs data_dir=...: {self.NEEDS_DATA_DIR}")
        result = self._read(self.config.data_dir)
        self._read_report = result.report
        if not result.rows:
            raise CorpusFormatError(f"{self.config.data_dir}: no utterance was kept, so there is no dataset to build; "
                                    "check --data-dir / corpus.data_dir and the options against the reader report "
                                    f"below (what was read and why it was skipped).\n{result.report.as_markdown()}")
        by_split: dict[str, list[dict[str, Any]]] = {name: [] for name in self._split_names(result)}
        for row in result.rows:
            by_split[self._split_of(row)].append(row)
        return [datasets.SplitGenerator(name=name, gen_kwargs={"rows": rows}) for name, rows in by_split.items()]

    def _generate_examples(self, rows: list[dict[str, Any]]) -> Iterator[tuple[Key, dict[str, Any]]]:
        for i, row in enumerate(rows):
            out = dict(row)
            out["audio"] = _audio_with_bytes(row["audio"], row.get("id", ""))
            yield Key(0, i), out

    # -- to implement -------------------------------------------------------------------------------------------
    def _read(self, data_dir: str) -> Any:
        raise NotImplementedError

    def _split_names(self, result: Any) -> list[str]:
        raise NotImplementedError

    def _split_of(self, row: dict[str, Any]) -> str:
        raise NotImplementedError

    # -- extras -------------------------------------------------------------------------------------------------
    def read_metadata(self) -> Any:
        """The corpus' rows without audio, in this builder's splits: a ``DatasetDict`` of the label columns a
        protocol check needs (``id``, ``session`` or ``split``, ``majority_label``, ``ambiguity``), read with the
        same reader and options as the build (audio is not opened), in seconds instead of a full build."""
        result = self._read(self.config.data_dir)
        if not result.rows:
            raise CorpusFormatError(f"{self.config.data_dir}: no utterance was kept\n{result.report.as_markdown()}")
        names = list(utterance_features(self.CORPUS, self.config.name)["majority_label"].names)
        keep = [c for c in ("id", "session", "split", "speaker", "ambiguity") if c in result.rows[0]]
        by_split: dict[str, dict[str, list[Any]]] = {}
        for row in result.rows:
            cols = by_split.setdefault(self._split_of(row), {c: [] for c in (*keep, "majority_label")})
            for c in keep:
                cols[c].append(row[c])
            cols["majority_label"].append(names.index(row["majority_label"]))
        features = {c: utterance_features(self.CORPUS, self.config.name)[c] for c in (*keep, "majority_label")}
        return datasets.DatasetDict({name: datasets.Dataset.from_dict(cols, features=datasets.Features(features))
                                     for name, cols in by_split.items()})

    def read_report(self) -> Any:
        """The reader's report of the prepared data (from this run, or stored with a cached preparation)."""
        if self._read_report is not None:
            return self._read_report
        from hf_ambiguity.corpora import ReadReport

        path = Path(self._output_dir) / READ_REPORT_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no {READ_REPORT_FILE} in {self._output_dir}; call download_and_prepare() first")
        self._read_report = ReadReport(**json.loads(path.read_text(encoding="utf-8")))
        return self._read_report


def _audio_with_bytes(path: str, utt_id: str) -> dict[str, Any]:
    """``{"bytes", "path"}`` for the Audio feature; the stored path is the file name only (no local paths).

    A file that cannot be read here was not checked while reading (``check_audio=False``): the error names it and
    says how to have the reader skip it instead (:func:`hf_ambiguity.builders.build_dataset` unwraps it from the
    ``datasets`` generation error).
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise CorpusFormatError(
            f"{path}: audio of utterance {utt_id!r} cannot be read ({err.strerror or type(err).__name__}); restore "
            f"the file from the release, or keep the audio check on (do not pass --no-check-audio) and "
            f"{LENIENT_HINT} so that the reader skips and counts it") from None
    name: str | None = os.path.basename(path)
    if os.path.exists(name):  # datasets would keep only a path that exists relative to the working directory
        name = None
    return {"bytes": data, "path": name}
