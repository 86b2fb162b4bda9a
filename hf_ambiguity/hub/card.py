"""Dataset cards (the Hub's ``README.md``) for exported hf-ambiguity datasets, rendered from package templates.

A card has a small YAML header that ``datasets.load_dataset`` and the Hub read (``configs:`` with the parquet shards
of every split, ``dataset_info`` with features and split sizes, ``license: other`` with the corpus' licence name and
link, task, annotation creators, source dataset, language; ``extra_gated_*`` for a gated repository) and a body for
people: what the data is, uses and out-of-scope uses, splits, columns, one example row, class set, ambiguity, bias,
risks and limitations, how it was built, provenance and citations.

The machine-readable :class:`CardInfo` (build options, the reader's report, every provenance block) is **not** in
the header: it is written next to the card as ``provenance.json`` (:data:`CARD_INFO_FILE`), which the card links.
Each later stage (synthetic annotation, DiME-Aug, ...) appends a block with :func:`add_provenance` before it exports
again; :func:`read_card_info` on an exported folder gives back the :class:`CardInfo` to extend.

A card never records a machine path: provenance and options pass through :func:`portable_paths`, which keeps Hub
ids and relative paths as they are, writes a local absolute path relative to a given ``base`` folder (the run
folder) when it lies inside it, and otherwise as ``local:<folder name>``.

The body comes from ``hf_ambiguity/templates/<corpus>_ambig.md`` (``dataset_scripts/<name>/card_template.md`` is a
copy a test keeps identical), filled with :class:`string.Template`; a missing placeholder is an error.

>>> info = make_card_info("iemocap", "iemocap-4", options={"strict": True})
>>> info = add_provenance(info, "synthetic", {"model": "/home/me/runs/r1/00_model/model", "n_samples": 5},
...                       base="/home/me/runs/r1")
>>> info.provenance
(('synthetic', {'model': '00_model/model', 'n_samples': 5}),)
>>> add_provenance(info, "synthetic", {"model": "Qwen/Qwen2-Audio-7B-Instruct"})
Traceback (most recent call last):
...
ValueError: provenance key 'synthetic' is already in the card; use a distinct key (e.g. 'synthetic-2')
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path, PurePosixPath, PureWindowsPath
from string import Template
from typing import Any, Mapping

import numpy as np

from hf_ambiguity import __version__
from hf_ambiguity.labels import get_corpus
from hf_ambiguity.provenance import read_provenance
from hf_ambiguity.schema import AMBIGUITY_COLUMN, AMBIGUITY_LEVELS, CLASS_COLUMN, ambiguity_names

__all__ = [
    "CardInfo", "make_card_info", "add_provenance", "add_provenance_to_card", "render_card", "read_card_info",
    "template_path", "portable_paths", "portable_card_info", "gating_metadata", "CARD_INFO_FILE", "GATED_MODES",
    "PAPER_ARXIV_ID",
]

#: File next to ``README.md`` holding the machine-readable card information (options, reports, provenance).
CARD_INFO_FILE = "provenance.json"
#: Front-matter key of cards written by hf-ambiguity < 0.2 (read for backward compatibility, never written).
LEGACY_CARD_KEY = "hf_ambiguity"
#: Gated-access modes of a Hub repository (``HfApi.update_repo_settings(gated=...)``).
GATED_MODES = ("manual", "auto")
#: The method's paper.
PAPER_ARXIV_ID = "2601.14620"

_PAPER_CITATION = """@inproceedings{zhang2026scaling,
  title     = {Scaling Ambiguity: Augmenting Human Annotation in Speech Emotion Recognition with Audio-Language Models},
  author    = {Zhang and Jin and Wang and Wei and Dang},
  booktitle = {ICASSP},
  year      = {2026},
  note      = {arXiv:2601.14620}
}"""

#: Who produced the human annotations and the speech, per corpus (Hub ``annotations_creators`` /
#: ``language_creators`` vocabulary).
_CREATORS = {
    "iemocap": {"annotations": "expert-generated", "language": "expert-generated"},   # trained evaluators; actors
    "msp-podcast": {"annotations": "crowdsourced", "language": "found"},              # crowd workers; podcasts
}


@dataclass(frozen=True)
class CardInfo:
    """What a dataset card says beyond what can be read off the dataset itself.

    ``options`` are the build options (reader settings), ``build_report_markdown`` the reader's closing report,
    ``provenance`` an ordered tuple of ``(key, block)`` pairs appended by later stages (see :func:`add_provenance`).
    """

    corpus: str
    class_set: str
    pretty_name: str
    license_name: str
    license_link: str
    license_notice: str
    licensed: bool = True
    template: str = "iemocap_ambig.md"
    summary: str = ""
    ambiguity_description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    build_report_markdown: str = ""
    tags: tuple[str, ...] = ()
    provenance: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    package_version: str = __version__

    def __post_init__(self) -> None:
        # store plain JSON data (tuples -> lists, numpy -> Python) so a card read back compares equal
        object.__setattr__(self, "options", _jsonable(dict(self.options), "options"))
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "provenance", tuple((k, _jsonable(dict(v), k)) for k, v in self.provenance))

    @property
    def config_name(self) -> str:
        """The dataset config the card declares: the class set's name."""
        return self.class_set

    def to_yaml_dict(self) -> dict[str, Any]:
        """JSON-safe form, written as ``provenance.json`` next to the card (and by the pipeline's build stage)."""
        return {
            "corpus": self.corpus, "class_set": self.class_set, "pretty_name": self.pretty_name,
            "license_name": self.license_name, "license_link": self.license_link,
            "license_notice": self.license_notice, "licensed": self.licensed, "template": self.template,
            "summary": self.summary, "ambiguity_description": self.ambiguity_description,
            "options": _jsonable(dict(self.options), "options"), "build_report_markdown": self.build_report_markdown,
            "tags": list(self.tags), "package_version": self.package_version,
            "provenance": [{"key": k, "data": _jsonable(dict(v), k)} for k, v in self.provenance],
        }

    @classmethod
    def from_yaml_dict(cls, data: Mapping[str, Any]) -> "CardInfo":
        """Inverse of :meth:`to_yaml_dict`."""
        kwargs = dict(data)
        kwargs["tags"] = tuple(kwargs.get("tags", ()))
        kwargs["provenance"] = tuple((p["key"], dict(p["data"])) for p in kwargs.get("provenance", ()))
        kwargs["options"] = dict(kwargs.get("options", {}))
        return cls(**kwargs)


def make_card_info(corpus: str, class_set: str, *, options: Mapping[str, Any] | None = None,
                   build_report_markdown: str = "", ambiguity_description: str = "", summary: str = "",
                   tags: tuple[str, ...] = ()) -> CardInfo:
    """Card information with the corpus' defaults (template, pretty name, licence) filled in."""
    spec = get_corpus(corpus)
    base_tags = ("speech-emotion-recognition", "emotion-distribution", "ambiguity", "audio", corpus)
    return CardInfo(
        corpus=corpus, class_set=class_set, pretty_name=f"{spec.pretty_name} ({class_set})",
        license_name=spec.licence.name, license_link=spec.licence.link, license_notice=spec.licence.notice,
        licensed=spec.licence.licensed, template=spec.card_template, summary=summary,
        ambiguity_description=ambiguity_description, options=portable_paths(dict(options or {})),
        build_report_markdown=build_report_markdown, tags=tuple(dict.fromkeys(base_tags + tuple(tags))),
    )


def add_provenance(card_info: CardInfo, key: str, block: Mapping[str, Any], *,
                   base: str | Path | None = None) -> CardInfo:
    """A copy of ``card_info`` with a provenance block appended (e.g. ``"synthetic"``, ``"dime-aug"``).

    ``block`` must be JSON-serialisable (model id, options, counts, package version...); absolute local paths in it
    are made portable (:func:`portable_paths` with ``base``). Keys are unique so that a stage never silently
    overwrites another's record.
    """
    if not key or not isinstance(key, str):
        raise ValueError(f"provenance key must be a non-empty string, got {key!r}")
    if any(k == key for k, _ in card_info.provenance):
        raise ValueError(f"provenance key {key!r} is already in the card; use a distinct key (e.g. '{key}-2')")
    clean = portable_paths(_jsonable(dict(block), key), base)
    return replace(card_info, provenance=card_info.provenance + ((key, clean),))


def add_provenance_to_card(card_info: CardInfo, dataset: Any, *, base: str | Path | None = None) -> CardInfo:
    """A copy of ``card_info`` with every provenance block recorded on ``dataset`` (synthetic column sets,
    ``combined``) appended, skipping keys the card already has — pass the result to
    :func:`hf_ambiguity.hub.export_to_hub_layout` so the exported card documents the synthetic columns. ``base``:
    the folder local paths (a model built in the run folder) are recorded relative to (:func:`portable_paths`)."""
    present = {key for key, _ in card_info.provenance}
    for key, block in read_provenance(dataset).items():
        if key not in present:
            card_info = add_provenance(card_info, key, block, base=base)
    return card_info


def portable_paths(value: Any, base: str | Path | None = None) -> Any:
    """``value`` (JSON data) with every absolute local path made portable: relative to ``base`` (POSIX form) when it
    lies inside ``base``, else ``local:<last component>``. Hub ids (``org/name``), URLs and relative paths are kept.

    >>> portable_paths({"model": "/srv/run/00_model/model", "hub": "Qwen/Qwen2-Audio-7B-Instruct"}, "/srv/run")
    {'model': '00_model/model', 'hub': 'Qwen/Qwen2-Audio-7B-Instruct'}
    >>> portable_paths(["/home/me/models/qwen2-audio", "C:\\\\models\\\\qwen", "relative/dir"])
    ['local:qwen2-audio', 'local:qwen', 'relative/dir']
    """
    if isinstance(value, Mapping):
        return {k: portable_paths(v, base) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable_paths(v, base) for v in value]
    if isinstance(value, str) and _is_local_absolute(value):
        return _portable_path(value, base)
    return value


def gating_metadata(card_info: CardInfo) -> dict[str, Any]:
    """The card metadata of a gated repository: ``extra_gated_prompt`` naming the corpus licence and
    ``extra_gated_fields`` in which a requester confirms that they hold it (the Hub shows them as the access form)."""
    spec = get_corpus(card_info.corpus)
    corpus = spec.pretty_name.split(" with ")[0]
    prompt = (f"This dataset contains audio and annotations of {corpus}, distributed under a licence agreement that "
              f"does not allow redistribution ({card_info.license_link}). Access is granted only to people who hold "
              f"their own {corpus} licence: fill in the form below, and do not request access otherwise.")
    return {
        "extra_gated_heading": f"Confirm that you hold your own {corpus} licence",
        "extra_gated_prompt": prompt,
        "extra_gated_fields": {
            "Name": "text",
            "Affiliation": "text",
            f"Who signed your {corpus} licence agreement, and when": "text",
            f"I hold my own {corpus} licence ({card_info.license_name}) and will not redistribute this data":
                "checkbox",
        },
        "extra_gated_button_content": "Request access",
    }


def template_path(name: str) -> Path:
    """Path of a card template shipped in ``hf_ambiguity/templates/``."""
    path = Path(str(resources.files("hf_ambiguity") / "templates" / name))
    if not path.is_file():
        raise FileNotFoundError(f"card template {name!r} not found at {path}; reinstall hf-ambiguity")
    return path


def render_card(dsdict: Any, card_info: CardInfo, *, data_files: Mapping[str, list[str]],
                split_bytes: Mapping[str, int] | None = None, download_bytes: int | None = None,
                gated: str | None = None) -> str:
    """The full ``README.md`` text for ``dsdict`` exported with ``data_files`` (split -> shard paths in the folder).

    ``split_bytes`` (split -> Arrow bytes) and ``download_bytes`` (parquet bytes on disk) fill ``dataset_info``'s
    sizes when known. ``gated`` (``"manual"`` / ``"auto"``) adds the access form (:func:`gating_metadata`) and says
    so in the body. Any absolute local path still in ``card_info`` is made portable first.
    """
    if gated is not None and gated not in GATED_MODES:
        raise ValueError(f"gated must be one of {list(GATED_MODES)} or None, got {gated!r}")
    card_info = portable_card_info(card_info)
    card_data = _front_matter(dsdict, card_info, data_files=data_files, split_bytes=split_bytes or {},
                              download_bytes=download_bytes, gated=gated)
    values = {
        "front_matter": card_data.to_yaml().strip(),
        "pretty_name": card_info.pretty_name,
        "summary": card_info.summary or _default_summary(dsdict, card_info),
        "paper_link": f"[arXiv {PAPER_ARXIV_ID}](https://arxiv.org/abs/{PAPER_ARXIV_ID})",
        "license_notice": card_info.license_notice,
        "access_section": _access_section(card_info, gated),
        "splits_table": _splits_table(dsdict),
        "columns_table": _columns_table(dsdict),
        "example_row": _example_row(dsdict),
        "class_section": _class_section(dsdict, card_info),
        "ambiguity_section": _ambiguity_section(dsdict, card_info),
        "synthetic_limitations": _synthetic_limitations(dsdict, card_info),
        "build_section": _build_section(card_info),
        "provenance_section": _provenance_section(card_info),
        "citation_section": _citation_section(card_info),
    }
    text = template_path(card_info.template).read_text(encoding="utf-8")
    try:
        return Template(text).substitute(values)
    except KeyError as err:
        raise ValueError(f"card template {card_info.template!r} uses an unknown placeholder {err}; "
                         f"known placeholders: {sorted(values)}") from None


def read_card_info(folder: str | Path) -> CardInfo:
    """The :class:`CardInfo` of an exported folder (its ``provenance.json``; the ``hf_ambiguity`` front-matter
    block of cards written by hf-ambiguity < 0.2), to append provenance and re-export."""
    folder = Path(folder)
    path = folder / CARD_INFO_FILE
    if path.is_file():
        try:
            return CardInfo.from_yaml_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path} is not an hf-ambiguity card information file: {err}") from None
    readme = folder / "README.md"
    if not readme.is_file():
        raise FileNotFoundError(f"{folder} has neither {CARD_INFO_FILE} nor README.md; export the dataset with "
                                "export_to_hub_layout (hf-ambiguity build / augment) first")
    from huggingface_hub import DatasetCard

    data = DatasetCard.load(readme).data.to_dict()
    if LEGACY_CARD_KEY not in data:
        raise ValueError(f"{folder} has no {CARD_INFO_FILE}, so it was not exported by hf-ambiguity")
    return CardInfo.from_yaml_dict(data[LEGACY_CARD_KEY])


# ----------------------------------------------------------------------------------------------------------- helpers

_PATH_IN_TEXT = re.compile(r"(?<![\w.:/~-])(?:/[\w.@+-]+){2,}/?")


def _is_local_absolute(text: str) -> bool:
    if not text or "\n" in text or len(text) > 4096 or "://" in text:
        return False
    return text.startswith("~") or PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute()


def _portable_path(text: str, base: str | Path | None) -> str:
    if base is not None and not text.startswith("~"):
        try:
            return Path(text).resolve().relative_to(Path(base).resolve()).as_posix() or "."
        except (ValueError, OSError):
            pass
    name = PureWindowsPath(text).name if PureWindowsPath(text).drive else PurePosixPath(text.rstrip("/")).name
    return f"local:{name or 'folder'}"


def portable_card_info(card_info: CardInfo, base: str | Path | None = None) -> CardInfo:
    """``card_info`` with no absolute local path left in its options, provenance and report text
    (:func:`portable_paths`; the report's paths become ``local:<name>``)."""
    report = _PATH_IN_TEXT.sub(lambda m: _portable_path(m.group(0), None), card_info.build_report_markdown)
    return replace(card_info, options=portable_paths(dict(card_info.options), base), build_report_markdown=report,
                   provenance=tuple((k, portable_paths(dict(v), base)) for k, v in card_info.provenance))


def _jsonable(value: dict[str, Any], what: str) -> dict[str, Any]:
    """Round-trip through JSON so that what is stored is plain data; name the block when it is not."""
    try:
        return json.loads(json.dumps(value, default=_json_default))
    except (TypeError, ValueError) as err:
        raise ValueError(f"provenance/options block {what!r} is not JSON-serialisable: {err}") from None


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} {obj!r}")


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def _has_machine_labels(dsdict: Any) -> bool:
    """Synthetic (ALM) distributions or DiME-Aug rows in the dataset."""
    columns = next(iter(dsdict.values())).column_names
    return "augmented" in columns or any(c.endswith("_dist") and c != "human_dist" for c in columns)


def _front_matter(dsdict: Any, card_info: CardInfo, *, data_files: Mapping[str, list[str]],
                  split_bytes: Mapping[str, int], download_bytes: int | None, gated: str | None) -> Any:
    import datasets
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    total = sum(len(ds) for ds in dsdict.values())
    creators = _CREATORS.get(card_info.corpus, {"annotations": "expert-generated", "language": "found"})
    annotations = [creators["annotations"]] + (["machine-generated"] if _has_machine_labels(dsdict) else [])
    card_data = DatasetCardData(
        license="other", license_name=card_info.license_name, license_link=card_info.license_link,
        pretty_name=card_info.pretty_name, language=["en"], multilinguality=["monolingual"],
        task_categories=["audio-classification"], task_ids=["audio-emotion-recognition"],
        annotations_creators=annotations, language_creators=[creators["language"]],
        source_datasets=[f"extended|other-{card_info.corpus}"], tags=list(card_info.tags),
        size_categories=[_size_category(total)],
    )
    features = next(iter(dsdict.values())).features
    splits = datasets.SplitDict()
    for name, ds in dsdict.items():
        splits.add(datasets.SplitInfo(name=name, num_bytes=int(split_bytes.get(name, 0)), num_examples=len(ds)))
    info = datasets.DatasetInfo(features=features, splits=splits,
                                download_size=download_bytes or None,
                                dataset_size=int(sum(split_bytes.values())) or None)
    DatasetInfosDict({card_info.config_name: info}).to_dataset_card_data(card_data)
    MetadataConfigs({card_info.config_name: {
        "data_files": [{"split": split, "path": list(paths)} for split, paths in data_files.items()],
        "default": True,
    }}).to_dataset_card_data(card_data)
    if gated is not None:
        for key, value in gating_metadata(card_info).items():
            card_data[key] = value
    return card_data


def _default_summary(dsdict: Any, card_info: CardInfo) -> str:
    total = sum(len(ds) for ds in dsdict.values())
    return (f"{total:,} utterances of {card_info.corpus}, class set `{card_info.class_set}`, with every human "
            f"annotator's answer, the resulting emotion distribution (`human_votes`, `human_dist`) and an ambiguity "
            f"level per utterance. Built with hf-ambiguity {card_info.package_version}.")


def _access_section(card_info: CardInfo, gated: str | None) -> str:
    if gated is None:
        return ("Push this dataset to a **private** repository (the default of `hf-ambiguity`), or to a **gated** "
                "one (`--gated`, config `export.gated`) whose access form asks every requester to confirm their "
                "own licence.")
    how = "The owner approves every request by hand" if gated == "manual" else \
        "Requests are approved automatically once the form is filled in"
    return (f"This repository is **gated**: the access form asks for the requester's {card_info.license_name} "
            f"licence. {how}.")


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _column_values(ds: Any, column: str) -> list[Any]:
    """One column as a Python list, honouring any indices mapping, without decoding audio."""
    if column not in ds.column_names:
        return []
    return ds.select_columns([column]).with_format("arrow")[:][column].to_pylist()


def _splits_table(dsdict: Any) -> str:
    rows = []
    for name, ds in dsdict.items():
        speakers = len(set(_column_values(ds, "speaker")))
        rows.append([f"`{name}`", f"{len(ds):,}", speakers])
    rows.append(["**total**", f"{sum(len(ds) for ds in dsdict.values()):,}", ""])
    return _md_table(["split", "utterances", "speakers"], rows)


#: What each column holds (the contract is :mod:`hf_ambiguity.schema`); synthetic columns are matched by suffix.
_COLUMN_DOCS = {
    "id": "utterance id of the corpus", "corpus": "corpus name", "session": "IEMOCAP session (1-5)",
    "dialog": "IEMOCAP dialog", "method": "improvised or scripted", "speaker": "speaker id",
    "gender": "speaker gender (F / M)", "start": "start time in the dialog (s)", "end": "end time in the dialog (s)",
    "split": "official MSP-Podcast partition", "audio": "16 kHz audio",
    "transcript": "transcript (\"\" when the corpus has none)",
    "consensus_label": "the corpus' consensus label as written", "consensus_class": "consensus as a class name",
    "valence": "consensus valence", "activation": "consensus activation / arousal",
    "dominance": "consensus dominance", "annotators": "annotator ids",
    "raw_answers": "each annotator's categorical answer as written", "other_text": "free text of 'Other' answers",
    "secondary_answers": "MSP-Podcast secondary emotions", "human_labels": "class names of the kept human labels",
    "human_votes": "human votes per class (class order of `majority_label`)",
    "human_dist": "human emotion distribution (votes / total)", "n_annotators": "number of human annotators",
    "n_dropped_labels": "labels outside the class set", "entropy": "entropy of the human labels",
    "ambiguity": "ambiguity level (ClassLabel: low / medium / high)",
    "majority_label": "plurality class (ClassLabel; its names are the class order of every vector)",
    "has_majority": "whether one class has strictly the most votes",
    "combined_votes": "human + synthetic votes (merged)", "combined_dist": "human + synthetic distribution",
    "augmented": "DiME-Aug row (interpolated) or original", "aug_sources": "ids of the interpolated rows",
    "aug_alpha": "DiME-Aug interpolation weight",
}
_SUFFIX_DOCS = {"_labels": "synthetic annotators' parsed labels", "_raw": "synthetic annotators' raw answers",
                "_votes": "synthetic votes per class", "_dist": "synthetic emotion distribution",
                "_invalid": "synthetic answers that named no class"}


def _columns_table(dsdict: Any) -> str:
    rows = []
    for name, feature in next(iter(dsdict.values())).features.items():
        doc = _COLUMN_DOCS.get(name) or next((d for s, d in _SUFFIX_DOCS.items() if name.endswith(s)), "")
        rows.append([f"`{name}`", f"`{feature!r}`".replace("|", "\\|"), doc.replace("|", "\\|")])
    return _md_table(["column", "type", "meaning"], rows)


def _example_value(value: Any, feature: Any) -> str:
    from datasets import Audio, ClassLabel

    if isinstance(feature, Audio):
        name = (value or {}).get("path") or "?"
        return f"`{name}` ({feature.sampling_rate} Hz audio, decoded on access)"
    if isinstance(feature, ClassLabel) and isinstance(value, int):
        return f"`{value}` ({feature.int2str(value) if value >= 0 else 'missing'})"
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, list):
        text = json.dumps([round(v, 4) if isinstance(v, float) else v for v in value], ensure_ascii=False)
    else:
        text = json.dumps(value, ensure_ascii=False)
    text = text if len(text) <= 120 else text[:117] + "..."
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`"


def _example_row(dsdict: Any) -> str:
    """The first row of the first non-empty split, one line per column (audio by file name, not bytes)."""
    split, ds = next(((k, v) for k, v in dsdict.items() if len(v)), next(iter(dsdict.items())))
    if len(ds) == 0:
        return "(the dataset is empty)"
    row = ds.select(range(1)).with_format("arrow")[:].to_pylist()[0]
    rows = [[f"`{k}`", _example_value(row[k], f)] for k, f in ds.features.items()]
    return f"The first row of `{split}`:\n\n" + _md_table(["column", "value"], rows)


def _class_section(dsdict: Any, card_info: CardInfo) -> str:
    from hf_ambiguity.labels import CLASS_SETS

    first = next(iter(dsdict.values()))
    names = list(first.features[CLASS_COLUMN].names)
    cs = CLASS_SETS.get(card_info.class_set)
    intro = f"Class set `{card_info.class_set}`: {', '.join(names)}."
    if cs is not None and cs.description:
        intro += f" {cs.description}"
    intro += (" Vote and distribution columns (`human_votes`, `human_dist`, ...) list the classes in this order, "
              "which is also the order of the `majority_label` ClassLabel.")
    splits = list(dsdict)
    rows = []
    majority = {s: Counter(_column_values(dsdict[s], CLASS_COLUMN)) for s in splits}
    votes = np.zeros(len(names))
    for s in splits:
        v = [x for x in _column_values(dsdict[s], "human_votes") if x is not None]  # DiME-Aug rows: no votes
        if v:
            votes += np.asarray(v, dtype=np.float64).sum(axis=0)
    for i, name in enumerate(names):
        counts = [majority[s].get(i, 0) for s in splits]
        rows.append([name] + counts + [sum(counts), f"{votes[i]:g}"])
    table = _md_table(["class"] + [f"`{s}`" for s in splits] + ["total", "human votes"], rows)
    return f"{intro}\n\nUtterances per majority class (and total human votes per class):\n\n{table}"


def _ambiguity_section(dsdict: Any, card_info: CardInfo) -> str:
    splits = list(dsdict)
    counts = {s: Counter(ambiguity_names(_column_values(dsdict[s], AMBIGUITY_COLUMN),
                                         dsdict[s].features.get(AMBIGUITY_COLUMN))) for s in splits}
    rows = [[level] + [counts[s].get(level, 0) for s in splits] + [sum(counts[s].get(level, 0) for s in splits)]
            for level in AMBIGUITY_LEVELS]
    table = _md_table(["ambiguity"] + [f"`{s}`" for s in splits] + ["total"], rows)
    text = card_info.ambiguity_description or (
        "`ambiguity` is low / medium / high, from the normalised entropy of the human labels (see `entropy`).")
    return (f"{text} `ambiguity` is a `ClassLabel`: `ds[\"ambiguity\"]` gives 0 / 1 / 2, "
            f"`ds.features[\"ambiguity\"].int2str(...)` the names.\n\n{table}")


def _synthetic_limitations(dsdict: Any, card_info: CardInfo) -> str:
    columns = next(iter(dsdict.values())).column_names
    notes = []
    synthetic = sorted({c[: -len("_dist")] for c in columns if c.endswith("_dist")} - {"human", "combined"})
    if synthetic:
        notes.append(
            f"- The {', '.join(f'`{s}_*`' for s in synthetic)} columns are **machine-generated** by an audio-language "
            "model acting as extra annotators (see Provenance). They inherit the model's biases (accent, gender, "
            "recording conditions, prompt wording), are not human judgments, and `combined_dist` mixes them with "
            "the human votes: use `human_dist` as the reference when the question is what people perceived.")
    if "augmented" in columns:
        notes.append("- Rows with `augmented = true` are DiME-Aug interpolations of two training utterances (audio "
                     "and target mixed with the same weight): training material, never evaluation data.")
    return "\n".join(notes) if notes else "- All labels in this dataset are human annotations."


def _build_section(card_info: CardInfo) -> str:
    opts = _md_table(["option", "value"], [[f"`{k}`", f"`{v}`"] for k, v in card_info.options.items()]) \
        if card_info.options else "(no options recorded)"
    parts = [f"Built with `hf-ambiguity` {card_info.package_version} from the `{card_info.corpus}` release, "
             f"class set `{card_info.class_set}`.", "", opts]
    if card_info.build_report_markdown:
        parts += ["", "### Reader report", "", _demote_headings(card_info.build_report_markdown.strip(), to=4)]
    return "\n".join(parts)


def _demote_headings(markdown: str, *, to: int) -> str:
    """Shift headings so the shallowest becomes level ``to`` (an embedded report nests under the card's own)."""
    levels = [len(m.group(1)) for m in re.finditer(r"^(#+) ", markdown, flags=re.M)]
    if not levels:
        return markdown
    shift = max(0, to - min(levels))
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + shift) + " ", markdown, flags=re.M)


#: Provenance fields the card's summary leaves to provenance.json: resume-cache keys, not facts about the data.
_INTERNAL_FIELDS = ("run_key",)


def _scalars(block: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Top-level scalars of a provenance block, and those of its nested mappings one level down."""
    out: list[tuple[str, Any]] = []
    for k, v in block.items():
        if k in _INTERNAL_FIELDS:
            continue
        if isinstance(v, (str, int, float, bool)) and not (isinstance(v, str) and len(v) > 80):
            out.append((prefix + k, v))
        elif isinstance(v, Mapping) and not prefix:
            out += _scalars(v, prefix=f"{k}.")
    return out


def _provenance_section(card_info: CardInfo) -> str:
    parts = [f"Every option, the reader's report and each later stage's full record are in "
             f"[`{CARD_INFO_FILE}`]({CARD_INFO_FILE}) next to this card "
             f"(`hf_ambiguity.hub.card.read_card_info(folder)` reads it back).", "",
             f"- built by `hf-ambiguity` {card_info.package_version} (corpus `{card_info.corpus}`, class set "
             f"`{card_info.class_set}`)"]
    if not card_info.provenance:
        parts.append("- no later processing stages (synthetic annotation, augmentation) have been applied")
    for key, block in card_info.provenance:
        fields = ", ".join(f"`{k}` = `{v}`" for k, v in _scalars(block)[:12])
        parts.append(f"- `{key}`" + (f": {fields}" if fields else ""))
    return "\n".join(parts)


def _citation_section(card_info: CardInfo) -> str:
    spec = get_corpus(card_info.corpus)
    tool = ("@software{hf_ambiguity,\n  title   = {hf-ambiguity: ambiguous speech emotion recognition on the "
            "Hugging Face stack},\n  note    = {Implements arXiv:2601.14620},\n"
            f"  version = {{{card_info.package_version}}},\n  year    = {{2026}}\n}}")
    return "\n".join([
        "The method (synthetic annotators, merge, alignment by ambiguity level, DiME-Aug): "
        f"[arXiv {PAPER_ARXIV_ID}](https://arxiv.org/abs/{PAPER_ARXIV_ID}).",
        "", "```bibtex", _PAPER_CITATION, "```", "", "The tool that built this dataset:", "", "```bibtex", tool, "```",
        "", f"The corpus ({spec.homepage}):", "", "```bibtex", spec.citation.strip(), "```"])
