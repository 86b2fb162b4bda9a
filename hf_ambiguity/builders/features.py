"""``datasets.Features`` of a built corpus, column for column as :mod:`hf_ambiguity.schema` describes them.

The column order is the readers' row order (``hf_ambiguity.corpora.iemocap.IEMOCAP_COLUMNS`` and the MSP-Podcast
equivalent). ``majority_label`` is a ``ClassLabel`` whose names are the class set's classes, which fixes the order of
every vote/distribution vector (:func:`hf_ambiguity.schema.class_names`); ``ambiguity`` is a ``ClassLabel`` (low /
medium / high) and every vote/distribution column a list of float64 (:func:`hf_ambiguity.schema.distribution_feature`,
the type the synthetic and combined columns share).

>>> f = utterance_features("iemocap", "iemocap-4")
>>> f["majority_label"].names, f["audio"].sampling_rate, f["ambiguity"].names
(['neutral', 'happy', 'angry', 'sad'], 16000, ['low', 'medium', 'high'])
>>> f["human_dist"] == f["human_votes"] == distribution_feature()
True
>>> "session" in f, "split" in utterance_features("msp-podcast", "msp-8")
(True, True)
"""

from __future__ import annotations

from typing import Any

from hf_ambiguity.audio import SAMPLING_RATE
from hf_ambiguity.labels import CORPORA as CORPUS_SPECS
from hf_ambiguity.labels import get_class_set
from hf_ambiguity.schema import ambiguity_feature, distribution_feature

__all__ = ["utterance_features", "CORPORA", "FEATURES_VERSION"]

#: Version of the column types; the builders' config version, so that a prepared cache with other column types is
#: never reused (0.2.0: ``ambiguity`` ClassLabel, float64 vote/distribution columns).
FEATURES_VERSION = "0.2.0"

#: Corpora that have a builder, by the name used everywhere (CLI, card, ``corpus`` column).
CORPORA = tuple(CORPUS_SPECS)


def _spec(corpus: str, class_names: list[str]) -> list[tuple[str, Any]]:
    from datasets import Audio, ClassLabel, Sequence, Value

    string, f32, i32 = Value("string"), Value("float32"), Value("int32")
    strings = Sequence(Value("string"))
    identity: list[tuple[str, Any]] = [("id", string), ("corpus", string)]
    if corpus == "iemocap":
        identity += [("session", i32), ("dialog", string), ("method", string), ("speaker", string),
                     ("gender", string), ("start", f32), ("end", f32)]
    else:
        identity += [("split", string), ("speaker", string), ("gender", string)]
    identity += [("audio", Audio(sampling_rate=SAMPLING_RATE)), ("transcript", string)]
    consensus = [("consensus_label", string), ("consensus_class", string),
                 ("valence", f32), ("activation", f32), ("dominance", f32)]
    raw = [("annotators", strings), ("raw_answers", strings), ("other_text", strings)]
    if corpus == "msp-podcast":
        raw.append(("secondary_answers", strings))
    human = [("human_labels", strings), ("human_votes", distribution_feature()),
             ("human_dist", distribution_feature()), ("n_annotators", i32), ("n_dropped_labels", i32),
             ("in_set_share", f32), ("entropy", f32), ("ambiguity", ambiguity_feature()),
             ("majority_label", ClassLabel(names=list(class_names))), ("has_majority", Value("bool"))]
    return identity + consensus + raw + human


def utterance_features(corpus: str, class_set: str) -> Any:
    """The ``datasets.Features`` of a ``corpus`` (``iemocap`` / ``msp-podcast``) dataset built with ``class_set``.

    Raises ``ValueError`` when the corpus is unknown or the class set belongs to the other corpus.
    """
    from datasets import Features

    if corpus not in CORPORA:
        raise ValueError(f"corpus must be one of {list(CORPORA)}, got {corpus!r}")
    cs = get_class_set(class_set)
    if cs.corpus != corpus:
        raise ValueError(f"class set {class_set!r} belongs to {cs.corpus}, not {corpus}")
    return Features(dict(_spec(corpus, list(cs.names))))
