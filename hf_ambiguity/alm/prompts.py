"""The annotation protocol's prompt in one place: wording, structure, foci and temperatures of the simulated annotators.

A :class:`PromptProtocol` holds everything that shapes the text a model sees:

- the wording — ``system`` text, the user ``template`` (placeholders ``{transcript_label}``, ``{transcript}``,
  ``{speaker}``, ``{classes}``, ``{focus}``, ``{modality}``), the ``foci`` (one sentence per annotator "personality":
  annotator ``i`` uses ``foci[i % len(foci)]``), the text for a missing transcript and the two modality sentences;
- the structure — how labels are spelled (``labels``: the dataset's class names, the corpus' own spelling such as
  IEMOCAP's "Neutral state", or an explicit mapping), their order (``label_order``: dataset order or alphabetical by
  spelling), the transcript's label per corpus (``transcript_label``) and whether the text comes before or after the
  audio (``layout``).

:meth:`PromptProtocol.project` is the project's own wording and structure (the default). :meth:`PromptProtocol.
reference_structure` keeps the project's wording but arranges it as the reference protocol does (corpus spellings in
alphabetical order, "Transcript" for IEMOCAP and "Utterance" for MSP-Podcast, the text before the audio).
:func:`load_prompt_file` reads a user's YAML/JSON prompt file (any wording, the authors' published one included; the
project ships only its own). :meth:`PromptProtocol.hash` covers every field that reaches the model and goes into the
provenance and the resume key of every synthetic column, so a changed prompt never mixes with cached answers.

The project's template ends with the focus sentence, so every annotator's prompt shares all text before it (with
the audio) and ``expected`` mode re-encodes only the focus sentence per annotator.

Temperatures (:func:`annotator_specs`): scheme ``"project"`` draws annotator ``i``'s temperature from band
``TEMPERATURE_BANDS[i % 5]`` plus a uniform jitter of ±``JITTER``, clipped to ``[0.1, 1.0]``, seeded by
``(seed, i)``; scheme ``"reference"`` reproduces the reference code bit for bit: numpy's legacy global stream
re-seeded with the annotator index, ``base = lo + uniform(0, width)``, ``jitter = uniform(-0.05, 0.05)``, clipped
(independent of the run seed).

>>> [a.focus_index for a in annotator_specs(7)]
[0, 1, 2, 3, 4, 0, 1]
>>> [round(a.temperature, 4) for a in annotator_specs(5, temperatures="reference")]
[0.2313, 0.4054, 0.5398, 0.831, 0.9337]
>>> p = PromptProtocol.reference_structure()
>>> p.labels_for(["neutral", "happy", "angry", "sad"], "iemocap").spellings
('Anger', 'Happiness', 'Neutral state', 'Sadness')
>>> print(user_prompt("I can't believe it.", "Ses01F", ["neutral", "happy"], FOCI[0]).splitlines()[2])
Transcript: "I can't believe it."
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import string
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Mapping, Sequence

import numpy as np

__all__ = [
    "SYSTEM_INSTRUCTION", "FOCI", "TEMPERATURE_BANDS", "JITTER", "TEMPERATURE_RANGE", "TEMPERATURE_SCHEMES",
    "REFERENCE_BAND_WIDTHS", "CORPUS_LABELS", "TEMPLATE_FIELDS", "PromptProtocol", "PromptLabels", "AnnotatorSpec",
    "annotator_specs", "annotator_temperature", "reference_temperature", "user_prompt", "build_messages",
    "prompt_hash", "load_prompt_file", "prompt_protocol", "PROMPT_STRUCTURES",
]

SYSTEM_INSTRUCTION = (
    "You are an expert in the analysis of emotion in human speech. You judge carefully and accurately which "
    "emotion a speaker expresses."
)

#: One sentence per annotator "personality"; annotator i uses FOCI[i % 5].
FOCI: tuple[str, ...] = (
    "Pay particular attention to the speaker's tone of voice.",
    "Pay particular attention to the words that are spoken and what they mean.",
    "Pay particular attention to the pitch, loudness and speaking rate.",
    "Pay particular attention to the context the utterance would plausibly occur in.",
    "Pay particular attention to subtle cues that reveal how the speaker really feels.",
)

#: Temperature bands (low, high); annotator i draws from band i % 5.
TEMPERATURE_BANDS: tuple[tuple[float, float], ...] = ((0.1, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 0.93))
#: The reference code's band widths (band lower ends as in TEMPERATURE_BANDS).
REFERENCE_BAND_WIDTHS: tuple[float, ...] = (0.2, 0.2, 0.2, 0.2, 0.03)
JITTER = 0.05
TEMPERATURE_RANGE = (0.1, 1.0)
TEMPERATURE_SCHEMES = ("project", "reference")

_USER_TEMPLATE = (
    "Listen to the audio clip and analyse the utterance. Select the ONE emotion that is most dominant.\n"
    "\n"
    "{transcript_label}: {transcript}\n"
    "Speaker: {speaker}\n"
    "Possible emotions: {classes}\n"
    "\n"
    "{modality} Choose only from the list of possible emotions and answer with only the name of the emotion.\n"
    "{focus}"
)
_MODALITY_BOTH = "Base your judgment on both the audio and the transcript."
_MODALITY_AUDIO = "There is no transcript, so base your judgment on the audio alone."
_NO_TRANSCRIPT = "(none)"

#: Placeholders a prompt template may use.
TEMPLATE_FIELDS = ("transcript_label", "transcript", "speaker", "classes", "focus", "modality")

#: How each corpus spells its emotions (IEMOCAP's evaluator lines, MSP-Podcast's detailed labels), by class name.
CORPUS_LABELS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "iemocap": MappingProxyType({
        "neutral": "Neutral state", "happy": "Happiness", "angry": "Anger", "sad": "Sadness", "excited": "Excited",
        "frustrated": "Frustration", "fear": "Fear", "surprise": "Surprise", "disgust": "Disgust",
    }),
    "msp-podcast": MappingProxyType({
        "angry": "Angry", "sad": "Sad", "happy": "Happy", "surprise": "Surprise", "fear": "Fear",
        "disgust": "Disgust", "contempt": "Contempt", "neutral": "Neutral",
    }),
})
_DEFAULT = "*"  # key of the value used for corpora a per-corpus mapping does not name


@dataclass(frozen=True)
class PromptLabels:
    """The labels a prompt lists, in prompt order: ``spellings[j]`` names dataset class ``classes[j]``."""

    spellings: tuple[str, ...]
    classes: tuple[int, ...]

    def to_class_order(self, values: np.ndarray) -> np.ndarray:
        """``(..., n_labels)`` values in prompt order → dataset class order."""
        out = np.empty_like(values)
        out[..., list(self.classes)] = values
        return out


def _freeze(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType({k: (_freeze(v) if isinstance(v, Mapping) else v) for k, v in mapping.items()})


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class PromptProtocol:
    """Wording and structure of the annotation prompt (see the module docstring)."""

    system: str = SYSTEM_INSTRUCTION
    template: str = _USER_TEMPLATE
    foci: tuple[str, ...] = FOCI
    no_transcript: str = _NO_TRANSCRIPT
    modality_both: str = _MODALITY_BOTH
    modality_audio: str = _MODALITY_AUDIO
    #: The transcript line's label: one string, or ``{corpus: label}`` with an optional ``"*"`` default.
    transcript_label: str | Mapping[str, str] = "Transcript"
    #: ``"dataset"`` (class names), ``"corpus"`` (:data:`CORPUS_LABELS`), ``{class: spelling}`` or
    #: ``{corpus: {class: spelling}}`` (with an optional ``"*"`` default); an unnamed class keeps its class name.
    labels: str | Mapping[str, Any] = "dataset"
    #: ``"alphabetical"`` sorts the spellings as the reference sorts its label list (Python order: by code point).
    label_order: Literal["dataset", "alphabetical"] = "dataset"
    layout: Literal["audio-first", "text-first"] = "audio-first"
    #: Where the protocol came from (``"project"``, ``"reference-structure"`` or a file path); not hashed.
    source: str = field(default="project", compare=False)

    def __post_init__(self):
        if isinstance(self.transcript_label, Mapping):
            object.__setattr__(self, "transcript_label", _freeze(self.transcript_label))
        if isinstance(self.labels, Mapping):
            object.__setattr__(self, "labels", _freeze(self.labels))
        object.__setattr__(self, "foci", tuple(self.foci))
        _check_protocol(self, where=self.source)

    # ------------------------------------------------------------------------------------------------ presets
    @classmethod
    def project(cls) -> PromptProtocol:
        """The project's wording and structure (dataset class names in dataset order, audio before text)."""
        return cls()

    @classmethod
    def reference_structure(cls) -> PromptProtocol:
        """The project's wording in the reference protocol's structure: labels as the corpus spells them, in
        alphabetical order; the transcript labelled "Transcript" (IEMOCAP) / "Utterance" (MSP-Podcast); the text
        before the audio (so the audio cannot be shared between annotators' prompts: ``expected`` mode then runs one
        pass per annotator prompt)."""
        return cls(transcript_label={"iemocap": "Transcript", "msp-podcast": "Utterance", _DEFAULT: "Transcript"},
                   labels="corpus", label_order="alphabetical", layout="text-first", source="reference-structure")

    def replace(self, **changes: Any) -> PromptProtocol:
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------------------------------------ rendering
    def labels_for(self, class_names: Sequence[str], corpus: str | None = None) -> PromptLabels:
        """The prompt's labels for a dataset's ``class_names`` (of ``corpus``), in prompt order."""
        spelled = [self._spell(c, corpus) for c in class_names]
        if len({s.lower() for s in spelled}) != len(spelled):
            raise ValueError(f"prompt labels {spelled} name two classes alike (case-insensitively); fix the "
                             f"labels of the prompt ({self.source})")
        order = list(range(len(spelled)))
        if self.label_order == "alphabetical":
            order.sort(key=lambda j: spelled[j])
        return PromptLabels(tuple(spelled[j] for j in order), tuple(order))

    def _spell(self, class_name: str, corpus: str | None) -> str:
        if self.labels == "dataset":
            return class_name
        if self.labels == "corpus":
            return CORPUS_LABELS.get(corpus or "", {}).get(class_name, class_name)
        table: Mapping[str, Any] = self.labels  # type: ignore[assignment]
        if any(isinstance(v, Mapping) for v in table.values()):
            table = table.get(corpus or "", table.get(_DEFAULT, {}))
        return str(table.get(class_name, class_name))

    def _transcript_label(self, corpus: str | None) -> str:
        if isinstance(self.transcript_label, str):
            return self.transcript_label
        return self.transcript_label.get(corpus or "", self.transcript_label.get(_DEFAULT, "Transcript"))

    def user_text(self, transcript: str | None, speaker: str | None, class_names: Sequence[str],
                  focus: str | None, corpus: str | None = None) -> str:
        """The user turn's text for one utterance (the audio goes in a separate content part).

        ``focus=None`` leaves the focus sentence out (``score`` mode's single, annotator-neutral pass).
        """
        has_text = bool(transcript and transcript.strip())
        text = self.template.format(
            transcript_label=self._transcript_label(corpus),
            transcript=f'"{transcript.strip()}"' if has_text else self.no_transcript,
            speaker=speaker or "unknown",
            classes=", ".join(self.labels_for(class_names, corpus).spellings),
            modality=self.modality_both if has_text else self.modality_audio,
            focus=focus or "",
        )
        return text.replace(" \n", "\n").rstrip()

    def messages(self, transcript: str | None, speaker: str | None, class_names: Sequence[str], focus: str | None,
                 corpus: str | None = None) -> list[dict[str, Any]]:
        """Chat messages in the transformers multimodal format: system turn + user turn (audio and text parts in
        the order ``layout`` says)."""
        audio = {"type": "audio", "audio": "<utterance>"}
        text = {"type": "text", "text": self.user_text(transcript, speaker, class_names, focus, corpus)}
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": [audio, text] if self.layout == "audio-first" else [text, audio]},
        ]

    def to_dict(self) -> dict[str, Any]:
        """Every field that reaches the model (JSON-able; what :meth:`hash` covers)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "source"}

    def hash(self) -> str:
        """A short SHA-256 over :meth:`to_dict` (provenance and resume key)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def _check_protocol(p: PromptProtocol, *, where: str) -> None:
    from hf_ambiguity.errors import ConfigError

    def bad(key: str, message: str) -> ConfigError:
        return ConfigError(f"{where}: prompt {key} {message}", key=f"prompt.{key}")

    for key in ("system", "template", "no_transcript", "modality_both", "modality_audio"):
        if not isinstance(getattr(p, key), str):
            raise bad(key, f"must be a string, got {getattr(p, key)!r}")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(p.template) if name is not None}
    except ValueError as err:
        raise bad("template", f"is not a valid template ({err}); write literal braces as {{{{ and }}}}") from None
    unknown = sorted(n for n in names if n not in TEMPLATE_FIELDS)
    if unknown:
        raise bad("template", f"uses unknown placeholder(s) {unknown}; valid: {list(TEMPLATE_FIELDS)}")
    if "classes" not in names:
        raise bad("template", "must list the labels with {classes}")
    if not p.foci or not all(isinstance(f, str) and f.strip() for f in p.foci):
        raise bad("foci", f"must be a non-empty list of non-empty sentences, got {list(p.foci)!r}")
    if "focus" not in names:
        raise bad("template", "must place the annotator's focus sentence with {focus}")
    if p.label_order not in ("dataset", "alphabetical"):
        raise bad("label_order", f"must be 'dataset' or 'alphabetical', got {p.label_order!r}")
    if p.layout not in ("audio-first", "text-first"):
        raise bad("layout", f"must be 'audio-first' or 'text-first', got {p.layout!r}")
    if not isinstance(p.labels, (str, Mapping)) or (isinstance(p.labels, str)
                                                    and p.labels not in ("dataset", "corpus")):
        raise bad("labels", f"must be 'dataset', 'corpus' or a mapping of class names to spellings, got {p.labels!r}")
    if isinstance(p.labels, Mapping):
        for k, v in p.labels.items():
            inner = v if isinstance(v, Mapping) else {k: v}
            if not all(isinstance(s, str) and s.strip() for s in inner.values()):
                raise bad(f"labels.{k}", f"must map class names to non-empty spellings, got {_plain(v)!r}")
    if isinstance(p.transcript_label, Mapping):
        if not all(isinstance(v, str) for v in p.transcript_label.values()):
            raise bad("transcript_label", f"must be a string or a mapping of corpus to string, "
                                          f"got {_plain(p.transcript_label)!r}")
    elif not isinstance(p.transcript_label, str):
        raise bad("transcript_label", f"must be a string or a mapping of corpus to string, got {p.transcript_label!r}")


#: Built-in prompt structures (``annotate.prompt_structure``).
PROMPT_STRUCTURES = ("project", "reference")


def prompt_protocol(structure: str = "project", prompt_file: str | Path | None = None) -> PromptProtocol:
    """The protocol a configuration names: a prompt file (its own ``structure`` key picks the preset it changes),
    else the built-in ``structure`` (``"project"`` or ``"reference"``: :meth:`PromptProtocol.reference_structure`).

    >>> prompt_protocol("reference").layout
    'text-first'
    """
    if prompt_file is not None:
        return load_prompt_file(prompt_file)
    if structure not in PROMPT_STRUCTURES:
        raise ValueError(f"prompt structure must be one of {list(PROMPT_STRUCTURES)}, got {structure!r}")
    return PromptProtocol.project() if structure == "project" else PromptProtocol.reference_structure()


_FILE_KEYS = ("system", "template", "foci", "no_transcript", "modality_both", "modality_audio", "transcript_label",
              "labels", "label_order", "layout", "structure")


def load_prompt_file(path: str | Path) -> PromptProtocol:
    """A :class:`PromptProtocol` from a YAML or JSON file (``annotate.prompt_file``).

    Keys (all optional): ``structure`` (``project`` or ``reference``: the preset the other keys change),
    ``system``, ``template``, ``foci`` (list), ``no_transcript``, ``modality_both``, ``modality_audio``,
    ``transcript_label``, ``labels``, ``label_order``, ``layout`` — see :class:`PromptProtocol`. Unknown keys and
    wrong types raise :class:`~hf_ambiguity.errors.ConfigError` naming the file and key. Nothing in the file is
    executed.
    """
    from hf_ambiguity.config import read_yaml_mapping
    from hf_ambiguity.errors import ConfigError

    p = Path(path)
    data = read_yaml_mapping(p)  # YAML is a superset of JSON
    unknown = [k for k in data if k not in _FILE_KEYS]
    if unknown:
        raise ConfigError(f"{p}: unknown prompt key {unknown[0]!r}; valid keys: {', '.join(_FILE_KEYS)}",
                          key=f"prompt.{unknown[0]}")
    structure = data.pop("structure", "project")
    if structure not in ("project", "reference"):
        raise ConfigError(f"{p}: prompt structure must be 'project' or 'reference', got {structure!r}",
                          key="prompt.structure")
    base = PromptProtocol.project() if structure == "project" else PromptProtocol.reference_structure()
    if "foci" in data and not isinstance(data["foci"], list):
        raise ConfigError(f"{p}: prompt foci must be a list of sentences, got {data['foci']!r}", key="prompt.foci")
    changes = {k: (tuple(v) if k == "foci" else v) for k, v in data.items()}
    try:
        return dataclasses.replace(base, **changes, source=str(p))
    except ConfigError:
        raise
    except (TypeError, AttributeError) as err:
        raise ConfigError(f"{p}: invalid prompt file ({err})") from None


# ---------------------------------------------------------------------------------------------------- annotators
@dataclass(frozen=True)
class AnnotatorSpec:
    """One simulated annotator: its index, focus sentence and sampling temperature."""

    index: int
    focus_index: int
    focus: str | None
    temperature: float


def annotator_temperature(i: int, *, seed: int = 0) -> float:
    """Annotator ``i``'s temperature under the ``"project"`` scheme: uniform in band ``i % 5`` + uniform
    ±``JITTER``, clipped; seeded by (seed, i)."""
    if i < 0:
        raise ValueError(f"annotator index must be >= 0, got {i}")
    rng = np.random.default_rng([seed, i])
    lo, hi = TEMPERATURE_BANDS[i % len(TEMPERATURE_BANDS)]
    t = rng.uniform(lo, hi) + rng.uniform(-JITTER, JITTER)
    return round(float(np.clip(t, *TEMPERATURE_RANGE)), 6)


def reference_temperature(i: int) -> float:
    """Annotator ``i``'s temperature exactly as the reference code computes it (numpy's legacy MT19937 stream seeded
    with ``i``: ``lo + uniform(0, width)`` then ``uniform(-0.05, 0.05)``, clipped to [0.1, 1.0]).

    >>> reference_temperature(3)
    0.8309743627767255
    """
    if i < 0:
        raise ValueError(f"annotator index must be >= 0, got {i}")
    rs = np.random.RandomState(i)  # the same stream as np.random.seed(i) without touching the global state
    segment = i % len(TEMPERATURE_BANDS)
    base = TEMPERATURE_BANDS[segment][0] + rs.uniform(0, REFERENCE_BAND_WIDTHS[segment])
    jitter = rs.uniform(-JITTER, JITTER)
    return float(max(TEMPERATURE_RANGE[0], min(TEMPERATURE_RANGE[1], base + jitter)))


def annotator_specs(n: int, *, seed: int = 0, protocol: PromptProtocol | None = None,
                    temperatures: str = "project") -> list[AnnotatorSpec]:
    """The ``n`` simulated annotators: annotator ``i`` has focus ``foci[i % len(foci)]`` of ``protocol`` and the
    temperature of the ``temperatures`` scheme (``"project"``, seeded by ``(seed, i)``, or ``"reference"``)."""
    if n < 1:
        raise ValueError(f"the number of synthetic annotators must be >= 1, got {n}")
    if temperatures not in TEMPERATURE_SCHEMES:
        raise ValueError(f"temperatures must be one of {list(TEMPERATURE_SCHEMES)}, got {temperatures!r}")
    foci = (protocol or PromptProtocol.project()).foci
    temp = (lambda i: annotator_temperature(i, seed=seed)) if temperatures == "project" else reference_temperature
    return [AnnotatorSpec(i, i % len(foci), foci[i % len(foci)], temp(i)) for i in range(n)]


# ---------------------------------------------------------------------------------------------------- shortcuts
def user_prompt(transcript: str | None, speaker: str | None, class_names: Sequence[str], focus: str | None,
                corpus: str | None = None) -> str:
    """:meth:`PromptProtocol.user_text` of the project protocol."""
    return PromptProtocol.project().user_text(transcript, speaker, class_names, focus, corpus)


def build_messages(transcript: str | None, speaker: str | None, class_names: Sequence[str],
                   focus: str | None, corpus: str | None = None) -> list[dict[str, Any]]:
    """:meth:`PromptProtocol.messages` of the project protocol."""
    return PromptProtocol.project().messages(transcript, speaker, class_names, focus, corpus)


def prompt_hash() -> str:
    """:meth:`PromptProtocol.hash` of the project protocol.

    >>> len(prompt_hash()), prompt_hash() == PromptProtocol().hash()
    (16, True)
    """
    return PromptProtocol.project().hash()
