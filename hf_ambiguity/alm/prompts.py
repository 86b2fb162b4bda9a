"""The reference annotation protocol's prompt, in one place: system instruction, user prompt, foci, temperatures.

Every simulated annotator ``i`` (0-based) gets

- focus sentence ``FOCI[i % 5]`` (what to attend to: tone of voice, words, ...), and
- a temperature drawn from band ``TEMPERATURE_BANDS[i % 5]`` plus a uniform jitter of ±``JITTER``, clipped to
  ``[0.1, 1.0]``; the draw is seeded by ``(seed, i)`` so annotator ``i`` always gets the same temperature.

:func:`prompt_hash` hashes all prompt text (and the band/jitter constants) and goes into the provenance of every
synthetic column, so a changed prompt never silently mixes with cached answers of the old one.

>>> [a.focus_index for a in annotator_specs(7)]
[0, 1, 2, 3, 4, 0, 1]
>>> t = [a.temperature for a in annotator_specs(10)]
>>> all(0.1 <= x <= 1.0 for x in t) and t == [a.temperature for a in annotator_specs(10)]
True
>>> print(user_prompt("I can't believe it.", "Ses01F", ["neutral", "happy"], FOCI[0]).splitlines()[2])
Transcript: "I can't believe it."
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = [
    "SYSTEM_INSTRUCTION", "FOCI", "TEMPERATURE_BANDS", "JITTER", "TEMPERATURE_RANGE", "AnnotatorSpec",
    "annotator_specs", "annotator_temperature", "user_prompt", "build_messages", "prompt_hash",
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
JITTER = 0.05
TEMPERATURE_RANGE = (0.1, 1.0)

_USER_TEMPLATE = (
    "Listen to the audio clip and analyse the utterance. Select the ONE emotion that is most dominant.\n"
    "\n"
    "Transcript: {transcript}\n"
    "Speaker: {speaker}\n"
    "Possible emotions: {classes}\n"
    "\n"
    "{modality} {focus}\n"
    "Choose only from the list of possible emotions and answer with only the name of the emotion."
)
_MODALITY_BOTH = "Base your judgment on both the audio and the transcript."
_MODALITY_AUDIO = "There is no transcript, so base your judgment on the audio alone."
_NO_TRANSCRIPT = "(none)"


@dataclass(frozen=True)
class AnnotatorSpec:
    """One simulated annotator: its index, focus sentence and sampling temperature."""

    index: int
    focus_index: int
    focus: str | None
    temperature: float


def annotator_temperature(i: int, *, seed: int = 0) -> float:
    """Annotator ``i``'s temperature: uniform in band ``i % 5`` + uniform ±``JITTER``, clipped; seeded by (seed, i)."""
    if i < 0:
        raise ValueError(f"annotator index must be >= 0, got {i}")
    rng = np.random.default_rng([seed, i])
    lo, hi = TEMPERATURE_BANDS[i % len(TEMPERATURE_BANDS)]
    t = rng.uniform(lo, hi) + rng.uniform(-JITTER, JITTER)
    return round(float(np.clip(t, *TEMPERATURE_RANGE)), 6)


def annotator_specs(n: int, *, seed: int = 0) -> list[AnnotatorSpec]:
    """The ``n`` simulated annotators of the reference protocol."""
    if n < 1:
        raise ValueError(f"the number of synthetic annotators must be >= 1, got {n}")
    return [AnnotatorSpec(i, i % len(FOCI), FOCI[i % len(FOCI)], annotator_temperature(i, seed=seed))
            for i in range(n)]


def user_prompt(transcript: str | None, speaker: str | None, class_names: Sequence[str], focus: str | None) -> str:
    """The user turn's text for one utterance (the audio goes in a separate content part).

    ``focus=None`` leaves the focus sentence out (used by ``score`` mode's single, annotator-neutral pass).
    """
    has_text = bool(transcript and transcript.strip())
    return _USER_TEMPLATE.format(
        transcript=json.dumps(transcript.strip(), ensure_ascii=False) if has_text else _NO_TRANSCRIPT,
        speaker=speaker or "unknown",
        classes=", ".join(class_names),
        modality=_MODALITY_BOTH if has_text else _MODALITY_AUDIO,
        focus=focus or "",
    ).replace(" \n", "\n")


def build_messages(transcript: str | None, speaker: str | None, class_names: Sequence[str],
                   focus: str | None) -> list[dict[str, Any]]:
    """Chat messages in the transformers multimodal format: system turn + user turn (audio part, then text)."""
    return [
        {"role": "system", "content": SYSTEM_INSTRUCTION},
        {"role": "user", "content": [
            {"type": "audio", "audio": "<utterance>"},
            {"type": "text", "text": user_prompt(transcript, speaker, class_names, focus)},
        ]},
    ]


def prompt_hash() -> str:
    """A short SHA-256 over every piece of prompt text and the temperature protocol (provenance and cache key).

    >>> len(prompt_hash()), prompt_hash() == prompt_hash()
    (16, True)
    """
    payload = json.dumps({
        "system": SYSTEM_INSTRUCTION, "user": _USER_TEMPLATE, "foci": FOCI, "bands": TEMPERATURE_BANDS,
        "jitter": JITTER, "range": TEMPERATURE_RANGE, "both": _MODALITY_BOTH, "audio": _MODALITY_AUDIO,
        "none": _NO_TRANSCRIPT,
    }, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
