"""Dataset cards (the Hub's ``README.md``) for exported hf-ambiguity datasets, rendered from package templates.

A card has YAML front matter that ``datasets.load_dataset`` and the Hub read (``configs:`` with the parquet shards of
every split, ``dataset_info`` with features and split sizes, ``license: other`` with the corpus' licence name and
link, pretty name, tags) and a body for people: class set and class counts, ambiguity counts, how the dataset was
built (package version, options, the reader's report) and a provenance section.

Provenance is extensible: each later stage (synthetic annotation, DiME-Aug, ...) appends a block with
:func:`add_provenance` before it exports again. Blocks are stored machine-readably under the ``hf_ambiguity`` key of
the front matter, so :func:`read_card_info` on an exported folder gives back the :class:`CardInfo` to extend.

The body comes from ``hf_ambiguity/templates/<corpus>_ambig.md`` (the same files as
``dataset_scripts/*/README.template.md``), filled with :class:`string.Template`; a missing placeholder is an error.

>>> info = make_card_info("iemocap", "iemocap-4", options={"strict": True})
>>> info = add_provenance(info, "synthetic", {"model": "tiny-qwen2-audio", "n_samples": 5})
>>> [key for key, _ in info.provenance]
['synthetic']
>>> add_provenance(info, "synthetic", {"model": "other"})
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
from pathlib import Path
from string import Template
from typing import Any, Mapping

import numpy as np

from hf_ambiguity import __version__
from hf_ambiguity.labels import get_corpus
from hf_ambiguity.provenance import read_provenance
from hf_ambiguity.schema import AMBIGUITY_LEVELS, CLASS_COLUMN

__all__ = [
    "CardInfo", "make_card_info", "add_provenance", "add_provenance_to_card", "render_card",
    "read_card_info",
    "template_path",
]

#: Front-matter key under which the machine-readable card information is stored.
CARD_KEY = "hf_ambiguity"


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
        """JSON/YAML-safe form stored under the ``hf_ambiguity`` front-matter key."""
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
        licensed=spec.licence.licensed, template=spec.card_template, summary=summary, ambiguity_description=ambiguity_description,
        options=dict(options or {}), build_report_markdown=build_report_markdown,
        tags=tuple(dict.fromkeys(base_tags + tuple(tags))),
    )


def add_provenance(card_info: CardInfo, key: str, block: Mapping[str, Any]) -> CardInfo:
    """A copy of ``card_info`` with a provenance block appended (e.g. ``"synthetic"``, ``"dime-aug"``).

    ``block`` must be JSON-serialisable (model id, options, counts, package version...). Keys are unique so that a
    stage never silently overwrites another's record.
    """
    if not key or not isinstance(key, str):
        raise ValueError(f"provenance key must be a non-empty string, got {key!r}")
    if any(k == key for k, _ in card_info.provenance):
        raise ValueError(f"provenance key {key!r} is already in the card; use a distinct key (e.g. '{key}-2')")
    clean = _jsonable(dict(block), key)
    return replace(card_info, provenance=card_info.provenance + ((key, clean),))


def add_provenance_to_card(card_info: Any, dataset: Any) -> Any:
    """A copy of a :class:`hf_ambiguity.hub.card.CardInfo` with every provenance block recorded on ``dataset``
    (synthetic column sets, ``combined``) appended, skipping keys the card already has — pass the result to
    :func:`hf_ambiguity.hub.export_to_hub_layout` so the exported card documents the synthetic columns."""
    present = {key for key, _ in card_info.provenance}
    for key, block in read_provenance(dataset).items():
        if key not in present:
            card_info = add_provenance(card_info, key, block)
    return card_info


def template_path(name: str) -> Path:
    """Path of a card template shipped in ``hf_ambiguity/templates/``."""
    path = Path(str(resources.files("hf_ambiguity") / "templates" / name))
    if not path.is_file():
        raise FileNotFoundError(f"card template {name!r} not found at {path}; reinstall hf-ambiguity")
    return path


def render_card(dsdict: Any, card_info: CardInfo, *, data_files: Mapping[str, list[str]],
                split_bytes: Mapping[str, int] | None = None, download_bytes: int | None = None) -> str:
    """The full ``README.md`` text for ``dsdict`` exported with ``data_files`` (split -> shard paths in the folder).

    ``split_bytes`` (split -> Arrow bytes) and ``download_bytes`` (parquet bytes on disk) fill ``dataset_info``'s
    sizes when known.
    """
    from huggingface_hub import DatasetCardData

    card_data = _front_matter(dsdict, card_info, data_files=data_files, split_bytes=split_bytes or {},
                              download_bytes=download_bytes)
    front = card_data.to_yaml() if isinstance(card_data, DatasetCardData) else str(card_data)
    values = {
        "front_matter": front.strip(),
        "pretty_name": card_info.pretty_name,
        "summary": card_info.summary or _default_summary(dsdict, card_info),
        "license_notice": card_info.license_notice,
        "splits_table": _splits_table(dsdict),
        "columns_table": _columns_table(next(iter(dsdict.values())).features),
        "class_section": _class_section(dsdict, card_info),
        "ambiguity_section": _ambiguity_section(dsdict, card_info),
        "build_section": _build_section(card_info),
        "provenance_section": _provenance_section(card_info),
    }
    text = template_path(card_info.template).read_text(encoding="utf-8")
    try:
        return Template(text).substitute(values)
    except KeyError as err:
        raise ValueError(f"card template {card_info.template!r} uses an unknown placeholder {err}; "
                         f"known placeholders: {sorted(values)}") from None


def read_card_info(folder: str | Path) -> CardInfo:
    """The :class:`CardInfo` stored in an exported folder's ``README.md`` (to append provenance and re-export)."""
    from huggingface_hub import DatasetCard

    readme = Path(folder) / "README.md"
    if not readme.is_file():
        raise FileNotFoundError(f"{readme} does not exist; export the dataset with export_to_hub_layout first")
    data = DatasetCard.load(readme).data.to_dict()
    if CARD_KEY not in data:
        raise ValueError(f"{readme} has no {CARD_KEY!r} front-matter block, so it was not written by hf-ambiguity")
    return CardInfo.from_yaml_dict(data[CARD_KEY])


# ----------------------------------------------------------------------------------------------------------- helpers

def _jsonable(value: dict[str, Any], what: str) -> dict[str, Any]:
    """Round-trip through JSON so that what is stored in YAML is plain data; name the block when it is not."""
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


def _front_matter(dsdict: Any, card_info: CardInfo, *, data_files: Mapping[str, list[str]],
                  split_bytes: Mapping[str, int], download_bytes: int | None) -> Any:
    import datasets
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    total = sum(len(ds) for ds in dsdict.values())
    card_data = DatasetCardData(
        license="other", license_name=card_info.license_name, license_link=card_info.license_link,
        pretty_name=card_info.pretty_name, language=["en"], task_categories=["audio-classification"],
        tags=list(card_info.tags), size_categories=[_size_category(total)],
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
    card_data[CARD_KEY] = card_info.to_yaml_dict()
    return card_data


def _default_summary(dsdict: Any, card_info: CardInfo) -> str:
    total = sum(len(ds) for ds in dsdict.values())
    return (f"{total:,} utterances of {card_info.corpus}, class set `{card_info.class_set}`, with every human "
            f"annotator's answer, the resulting emotion distribution (`human_votes`, `human_dist`) and an ambiguity "
            f"level per utterance. Built with hf-ambiguity {card_info.package_version}.")


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


def _columns_table(features: Any) -> str:
    return _md_table(["column", "type"], [[f"`{k}`", f"`{v!r}`".replace("|", "\\|")] for k, v in features.items()])


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
    counts = {s: Counter(_column_values(dsdict[s], "ambiguity")) for s in splits}
    rows = [[level] + [counts[s].get(level, 0) for s in splits] + [sum(counts[s].get(level, 0) for s in splits)]
            for level in AMBIGUITY_LEVELS]
    table = _md_table(["ambiguity"] + [f"`{s}`" for s in splits] + ["total"], rows)
    text = card_info.ambiguity_description or (
        "`ambiguity` is low / medium / high, from the normalised entropy of the human labels (see `entropy`).")
    return f"{text}\n\n{table}"


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


def _provenance_section(card_info: CardInfo) -> str:
    parts = [f"- built by `hf-ambiguity` {card_info.package_version} (corpus `{card_info.corpus}`, class set "
             f"`{card_info.class_set}`)"]
    if not card_info.provenance:
        parts.append("- no later processing stages (synthetic annotation, augmentation) have been applied")
    for key, block in card_info.provenance:
        parts += ["", f"### {key}", "", "```json", json.dumps(block, indent=2, sort_keys=True), "```"]
    return "\n".join(parts)
