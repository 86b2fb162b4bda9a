"""The corpora and their emotion class sets: the one place where corpus names, class sets, each corpus' default
class set, licence, card template, split protocol and reference number of synthetic annotators are defined
(:class:`CorpusSpec`, :data:`CORPORA`), and the mapping from corpus label spellings onto class sets.

Corpora spell the same emotion many ways: IEMOCAP's evaluation files write ``Neutral`` (``Neutral state`` in the
``Categorical/`` files), the turn headers write ``neu``; MSP-Podcast writes ``Neutral`` in ``labels_detailed.csv``
and ``N`` in ``labels_consensus.csv``. A :class:`ClassSet` maps every known spelling of a corpus label either to one
of its classes or to ``None`` ("a real corpus label that this class set leaves out": counted as dropped, never an
error). A spelling the class set does not know at all raises :class:`UnknownLabelError` so that a typo or a new
corpus release is never silently turned into a missing vote.

>>> cs = get_class_set("iemocap-4")
>>> cs.names
('neutral', 'happy', 'angry', 'sad')
>>> cs.map_label("Excited"), cs.map_label("neu"), cs.map_label("Frustration")
('happy', 'neutral', None)
>>> cs.column("Excited"), cs.column("Frustration")  # position in the vote vector; -1 = outside the class set
(1, -1)
>>> get_class_set("paper-4class").map_label("exc") is None
True
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

__all__ = ["ClassSet", "UnknownLabelError", "CLASS_SETS", "get_class_set", "normalise_spelling", "CorpusSpec", "Licence",
           "CORPORA", "get_corpus", "corpus_of_kind"]


class UnknownLabelError(ValueError):
    """A label spelling that no class set of the corpus knows (neither a class nor a known left-out label)."""


def normalise_spelling(raw: str) -> str:
    """Case-fold and trim a raw label; drop a trailing ``;`` and collapse inner whitespace."""
    return " ".join(raw.strip().rstrip(";").strip().lower().split())


# Every spelling of every IEMOCAP emotion: long forms of the evaluation lines, header codes, Categorical/ forms.
_IEMOCAP_SPELLINGS: dict[str, str] = {
    "neutral": "neutral", "neutral state": "neutral", "neu": "neutral",
    "happiness": "happiness", "happy": "happiness", "hap": "happiness",
    "excited": "excited", "exc": "excited",
    "anger": "anger", "angry": "anger", "ang": "anger",
    "sadness": "sadness", "sad": "sadness",
    "frustration": "frustration", "frustrated": "frustration", "fru": "frustration",
    "fear": "fear", "fearful": "fear", "fea": "fear",
    "surprise": "surprise", "surprised": "surprise", "sur": "surprise",
    "disgust": "disgust", "disgusted": "disgust", "dis": "disgust",
    "other": "other", "oth": "other",
    "xxx": "xxx",
}

# MSP-Podcast: long forms of labels_detailed.csv and the one-letter codes of labels_consensus.csv.
_MSP_SPELLINGS: dict[str, str] = {
    "angry": "angry", "anger": "angry", "a": "angry",
    "sad": "sad", "sadness": "sad", "s": "sad",
    "happy": "happy", "happiness": "happy", "h": "happy",
    "surprise": "surprise", "surprised": "surprise", "u": "surprise",
    "fear": "fear", "f": "fear",
    "disgust": "disgust", "d": "disgust",
    "contempt": "contempt", "c": "contempt",
    "neutral": "neutral", "n": "neutral",
    "other": "other", "o": "other",
    "no agreement": "x", "x": "x",
    # secondary-emotion vocabulary of labels_detailed.csv (outside the 8 primary classes)
    "excited": "excited", "frustrated": "frustrated", "frustration": "frustrated", "amused": "amused",
    "concerned": "concerned", "annoyed": "annoyed", "confused": "confused", "depressed": "depressed",
    "disappointed": "disappointed",
}


@dataclass(frozen=True)
class ClassSet:
    """A named, ordered set of emotion classes and how each corpus spelling maps onto it.

    ``canonical`` maps a normalised spelling to a canonical corpus emotion; ``assign`` maps a canonical corpus
    emotion to one of ``names`` or to ``None`` (left out of this class set, counted as a dropped vote).
    """

    name: str
    corpus: str
    names: tuple[str, ...]
    canonical: Mapping[str, str] = field(repr=False)
    assign: Mapping[str, str | None] = field(repr=False)
    description: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def index(self, class_name: str) -> int:
        """Position of ``class_name`` in :attr:`names` (the column of the vote/distribution vectors)."""
        try:
            return self.names.index(class_name)
        except ValueError:
            raise ValueError(f"class {class_name!r} is not in class set {self.name!r} {list(self.names)}") from None

    def map_label(self, raw: str) -> str | None:
        """Map a raw spelling to a class name, or ``None`` when the corpus label is outside this class set.

        Raises :class:`UnknownLabelError` for a spelling the corpus does not use (a typo, a new release).
        MSP-Podcast's free-text ``Other-<text>`` answers map to ``other`` (outside every class set).
        Results for the built-in class sets are memoised (readers map every label of a corpus through here).
        """
        if CLASS_SETS.get(self.name) is self:
            return _map_builtin(self.name, raw)
        return self._map(raw)

    def column(self, raw: str) -> int:
        """The vote-vector column of a raw spelling (its class's :meth:`index`), or -1 outside the class set."""
        name = self.map_label(raw)
        return -1 if name is None else self.names.index(name)

    def _map(self, raw: str) -> str | None:
        s = normalise_spelling(raw)
        if s not in self.canonical and s.startswith("other"):
            s = "other"
        if s not in self.canonical:
            raise UnknownLabelError(
                f"label {raw!r} is not a {self.corpus} emotion (known spellings: {sorted(set(self.canonical))}); "
                f"fix the annotation file or run in lenient mode to skip and count it"
            )
        return self.assign.get(self.canonical[s])


def _make(name: str, corpus: str, names: tuple[str, ...], assign: dict[str, str | None], description: str) -> ClassSet:
    spellings = _IEMOCAP_SPELLINGS if corpus == "iemocap" else _MSP_SPELLINGS
    full_assign = {canon: assign.get(canon) for canon in set(spellings.values())}
    return ClassSet(name, corpus, names, MappingProxyType(dict(spellings)), MappingProxyType(full_assign), description)


CLASS_SETS: Mapping[str, ClassSet] = MappingProxyType({
    cs.name: cs
    for cs in (
        _make(
            "iemocap-4", "iemocap", ("neutral", "happy", "angry", "sad"),
            {"neutral": "neutral", "happiness": "happy", "excited": "happy", "anger": "angry", "sadness": "sad"},
            "IEMOCAP's usual 4 classes: happiness and excited merged into 'happy'.",
        ),
        _make(
            "paper-4class", "iemocap", ("neutral", "happy", "angry", "sad"),
            {"neutral": "neutral", "happiness": "happy", "anger": "angry", "sadness": "sad"},
            "IEMOCAP's 4 classes with 'happy' = happiness only (no 'excited'), the classes of the reference's subset "
            "(whose exact selection is not in the authors' code: docs/reference-protocol.md).",
        ),
        _make(
            "iemocap-full", "iemocap",
            ("neutral", "happy", "excited", "angry", "sad", "frustrated", "fear", "surprise", "disgust"),
            {"neutral": "neutral", "happiness": "happy", "excited": "excited", "anger": "angry", "sadness": "sad",
             "frustration": "frustrated", "fear": "fear", "surprise": "surprise", "disgust": "disgust"},
            "Every IEMOCAP emotion except 'other' and 'xxx' (no agreement).",
        ),
        _make(
            "msp-8", "msp-podcast",
            ("angry", "sad", "happy", "surprise", "fear", "disgust", "contempt", "neutral"),
            {c: c for c in ("angry", "sad", "happy", "surprise", "fear", "disgust", "contempt", "neutral")},
            "MSP-Podcast's 8 primary classes; 'other' and 'X' (no agreement) are left out.",
        ),
        _make(
            "msp-4", "msp-podcast", ("neutral", "happy", "angry", "sad"),
            {"neutral": "neutral", "happy": "happy", "angry": "angry", "sad": "sad"},
            "MSP-Podcast restricted to the reference method's 4 classes.",
        ),
    )
})


@functools.lru_cache(maxsize=4096)
def _map_builtin(class_set_name: str, raw: str) -> str | None:
    return CLASS_SETS[class_set_name]._map(raw)  # an UnknownLabelError propagates and is not cached


def get_class_set(name: str) -> ClassSet:
    """Return the class set called ``name``; the error lists the valid names."""
    try:
        return CLASS_SETS[name]
    except KeyError:
        raise ValueError(f"class set must be one of {sorted(CLASS_SETS)}, got {name!r}") from None


# --------------------------------------------------------------------------------------------------------------
# Corpora
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Licence:
    """The licence a corpus is distributed under: Hub card metadata and the notice shown to users."""

    name: str        # card ``license_name`` (``license: other``)
    link: str
    notice: str      # the paragraph of the dataset card
    summary: str     # one line, e.g. for a builder's ``LICENSE``
    licensed: bool = True  # redistribution needs the licence holder's acknowledgement


@dataclass(frozen=True)
class CorpusSpec:
    """Everything the package knows about one corpus, by the name used everywhere (CLI, config, ``corpus`` column).

    ``class_sets`` are the names of its class sets (:data:`CLASS_SETS`), ``default_class_set`` the one every command
    uses unless told otherwise; ``reference_n_annotators`` is the reference protocol's number of synthetic annotators
    (8 IEMOCAP, 10 MSP-Podcast); ``split_protocol`` says what the speaker-independent split is.
    """

    name: str
    pretty_name: str
    class_sets: tuple[str, ...]
    default_class_set: str
    reference_n_annotators: int
    licence: Licence
    card_template: str
    homepage: str
    citation: str
    split_protocol: str


_IEMOCAP_CITATION = """@article{busso2008iemocap,
  title={{IEMOCAP}: Interactive emotional dyadic motion capture database},
  author={Busso, Carlos and Bulut, Murtaza and Lee, Chi-Chun and Kazemzadeh, Abe and Mower, Emily and Kim, Samuel
          and Chang, Jeannette N. and Lee, Sungbok and Narayanan, Shrikanth S.},
  journal={Language Resources and Evaluation}, volume={42}, number={4}, pages={335--359}, year={2008}}
"""

_MSP_CITATION = """@article{lotfian2019podcast,
  title={Building Naturalistic Emotionally Balanced Speech Corpus by Retrieving Emotional Speech from Existing
         Podcast Recordings},
  author={Lotfian, Reza and Busso, Carlos},
  journal={IEEE Transactions on Affective Computing}, volume={10}, number={4}, pages={471--483}, year={2019}}
"""

CORPORA: Mapping[str, CorpusSpec] = MappingProxyType({
    "iemocap": CorpusSpec(
        name="iemocap",
        pretty_name="IEMOCAP with every evaluator's emotion labels",
        class_sets=("iemocap-4", "paper-4class", "iemocap-full"),
        default_class_set="iemocap-4",
        reference_n_annotators=8,
        licence=Licence(
            name="iemocap-license",
            link="https://sail.usc.edu/iemocap/",
            notice=(
                "IEMOCAP is distributed by the SAIL lab (University of Southern California) under a licence "
                "agreement that does not allow redistribution (https://sail.usc.edu/iemocap/). This dataset contains "
                "its audio and annotations: keep it in a **private** repository, shared only with people who hold "
                "their own IEMOCAP licence. `hf-ambiguity` pushes privately by default and refuses a public push "
                "unless the licence holder explicitly acknowledges the licence."
            ),
            summary="IEMOCAP licence agreement (USC SAIL); redistribution is not allowed",
        ),
        card_template="iemocap_ambig.md",
        homepage="https://sail.usc.edu/iemocap/",
        citation=_IEMOCAP_CITATION,
        split_protocol="leave one session out (sessions 1-5)",
    ),
    "msp-podcast": CorpusSpec(
        name="msp-podcast",
        pretty_name="MSP-Podcast with every worker's emotion labels",
        class_sets=("msp-8", "msp-4"),
        default_class_set="msp-8",
        reference_n_annotators=10,
        licence=Licence(
            name="msp-podcast-license",
            link="https://ecs.utdallas.edu/research/researchgroups/msp-lab/MSP-Podcast.html",
            notice=(
                "MSP-Podcast is distributed by the MSP Lab (The University of Texas at Dallas) under an academic "
                "licence agreement that does not allow redistribution. This dataset contains its audio and "
                "annotations: keep it in a **private** repository, shared only with people who hold their own "
                "MSP-Podcast licence. `hf-ambiguity` pushes privately by default and refuses a public push unless the "
                "licence holder explicitly acknowledges the licence."
            ),
            summary="MSP-Podcast academic licence (UT Dallas MSP Lab); redistribution is not allowed",
        ),
        card_template="msp_podcast_ambig.md",
        homepage="https://ecs.utdallas.edu/research/researchgroups/msp-lab/MSP-Podcast.html",
        citation=_MSP_CITATION,
        split_protocol="the official partitions (Train / Development / Test1 / Test2)",
    ),
})


def get_corpus(name: str) -> CorpusSpec:
    """The :class:`CorpusSpec` called ``name``; the error lists the known corpora.

    >>> get_corpus("msp-podcast").reference_n_annotators
    10
    """
    try:
        return CORPORA[name]
    except KeyError:
        raise ValueError(f"corpus must be one of {sorted(CORPORA)}, got {name!r}") from None


def corpus_of_kind(kind: str) -> CorpusSpec:
    """The corpus behind a pipeline ``corpus.kind``: the bundled ``demo`` is generated in the IEMOCAP layout."""
    return get_corpus("iemocap" if kind == "demo" else kind)
