"""The bundled demo corpus: a few dozen turns in the exact IEMOCAP layout, with speech-like audio and several
evaluators per turn who disagree the way IEMOCAP's evaluators do.

It stands in for the real corpus (which cannot be shipped) in the demo run and the tests. How it is made:

- Each turn gets a "true" emotion (neutral, happiness, excited, anger, sadness, frustration, in IEMOCAP-like
  proportions) and a clarity ``q ~ Beta(4, 1.6)``. Each of 3 to 6 outside evaluators (mostly 3, as in IEMOCAP)
  names the true emotion with probability ``q``, otherwise a confusable one (anger ↔ frustration,
  happiness ↔ excited, neutral ↔ sadness/frustration...); about 1 answer in 8 names a second emotion, a few say
  'Other' with free text, and some turns carry the actors' self-evaluations (``C-F<n>``/``C-M<n>``).
- The header consensus is the emotion named by a strict majority of the outside evaluators' first labels
  (``xxx`` otherwise), the header V/A/D the mean of the evaluators' ``A-`` lines, drawn around per-emotion values.
- Audio: ``espeak-ng`` speaks an emotion-typical sentence with per-emotion pitch, speed and amplitude (plus
  seeded jitter), resampled to 16 kHz. Without espeak-ng, a generated voiced signal with the same per-emotion
  pitch/rate/amplitude is used instead, and a warning says so (``demo_corpus.json`` records which).

Turns go round the five sessions (two dialogs each), so a corpus of any size has all five sessions and a trial
subset can be drawn from it the way it is drawn from IEMOCAP. For quick tests, ``clip_seconds`` gives every clip a
fixed short length (generated signals, no espeak-ng): 2,000 turns of 0.2 s are written in a few seconds.

The corpus is deterministic for a seed. ``out_dir/demo_corpus.json`` records the options; calling again with the
same options reuses the folder, with other options it is rewritten. It is written in a hidden sibling folder and
moved into place when complete, so a killed call leaves nothing behind that blocks the next one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np

from hf_ambiguity.audio import SAMPLING_RATE
from hf_ambiguity.demo.audio import espeak_available, espeak_speech, voiced_signal
from hf_ambiguity.demo.layouts import Evaluation, IemocapTurn, write_iemocap_layout

__all__ = ["make_demo_corpus", "demo_turns", "DEMO_VERSION"]

#: Bump when the generated content changes, so cached demo folders are rewritten.
DEMO_VERSION = 1

_EMOTIONS = ("Neutral", "Happiness", "Excited", "Anger", "Sadness", "Frustration")
_CODES = {"Neutral": "neu", "Happiness": "hap", "Excited": "exc", "Anger": "ang", "Sadness": "sad",
          "Frustration": "fru", "Surprise": "sur", "Fear": "fea", "Disgust": "dis", "Other": "oth"}
_PRIOR = np.array([0.26, 0.12, 0.12, 0.16, 0.16, 0.18])
_CONFUSIONS = {
    "Neutral": (("Sadness", "Frustration", "Happiness"), (0.4, 0.4, 0.2)),
    "Happiness": (("Excited", "Neutral", "Surprise"), (0.6, 0.3, 0.1)),
    "Excited": (("Happiness", "Neutral", "Surprise"), (0.6, 0.25, 0.15)),
    "Anger": (("Frustration", "Disgust", "Neutral"), (0.7, 0.15, 0.15)),
    "Sadness": (("Neutral", "Frustration", "Fear"), (0.55, 0.35, 0.1)),
    "Frustration": (("Anger", "Neutral", "Sadness"), (0.5, 0.3, 0.2)),
}
# (valence, activation, dominance) centres on IEMOCAP's 1-5 scale
_VAD = {"Neutral": (3.0, 2.5, 2.8), "Happiness": (4.0, 3.0, 3.0), "Excited": (4.2, 3.8, 3.4),
        "Anger": (1.7, 4.0, 4.0), "Sadness": (1.8, 2.0, 2.2), "Frustration": (2.0, 3.3, 3.2)}
# espeak-ng pitch (0-99), speed (words/min), amplitude (0-200)
_VOICE = {"Neutral": (45, 160, 100), "Happiness": (70, 175, 140), "Excited": (85, 205, 170),
          "Anger": (55, 190, 185), "Sadness": (25, 115, 70), "Frustration": (40, 175, 150)}
_SENTENCES = {
    "Neutral": ("I will be there at nine.", "The forms are on the desk.", "We can talk about it later.",
                "It is on the second floor."),
    "Happiness": ("That is lovely, thank you.", "I am so glad you came.", "What a nice surprise.",
                  "This is the best day."),
    "Excited": ("We did it, we actually did it!", "I got the job!", "Guess what happened today!",
                "Oh wow, look at that!"),
    "Anger": ("Do not talk to me like that.", "This is completely unacceptable.", "Get out of my way.",
              "You lied to me again."),
    "Sadness": ("I miss him so much.", "Nothing ever works out.", "I just want to go home.",
                "She is not coming back."),
    "Frustration": ("I have been waiting for hours.", "Why does this keep happening?",
                    "I already filled out that form.", "Nobody here will help me."),
}
_OTHER_TEXT = ("sarcastic", "disbelief", "bored", "nervous", "amused")


def demo_turns(n_utterances: int = 48, seed: int = 0) -> list[tuple[IemocapTurn, dict]]:
    """The demo turns and, per turn, the voice settings ``{"emotion", "pitch", "speed", "amplitude", "text"}``."""
    if n_utterances < 1:
        raise ValueError(f"n_utterances must be at least 1, got {n_utterances}")
    rng = np.random.default_rng(seed)
    dialogs = {1: ("Ses01F_impro01", "Ses01M_script02_2"), 2: ("Ses02F_impro03", "Ses02M_script01_1"),
               3: ("Ses03M_impro05a", "Ses03M_impro08b"), 4: ("Ses04F_impro02", "Ses04M_script03_2"),
               5: ("Ses05M_script01_1b", "Ses05F_impro06")}
    counters: dict[str, dict[str, int]] = {}
    out = []
    for i in range(n_utterances):
        session = i % 5 + 1
        dialog = dialogs[session][(i // 5) % 2]
        speaker = "F" if rng.random() < 0.5 else "M"
        num = counters.setdefault(dialog, {"F": 0, "M": 0})
        utt_id = f"{dialog}_{speaker}{num[speaker]:03d}"
        num[speaker] += 1
        emotion = _EMOTIONS[rng.choice(len(_EMOTIONS), p=_PRIOR)]
        q = rng.beta(4.0, 1.6)
        n_eval = int(rng.choice([3, 3, 3, 3, 4, 4, 5, 6]))
        pool = rng.permutation(6)[:n_eval] + 1
        evals = []
        firsts = []
        for e in sorted(pool):
            if rng.random() < q:
                first = emotion
            else:
                alts, w = _CONFUSIONS[emotion]
                first = alts[rng.choice(len(alts), p=w)]
            labels = [first]
            text = ""
            r = rng.random()
            if r < 0.12:
                alts, _ = _CONFUSIONS[emotion]
                second = next(a for a in (emotion, *alts) if a != first)
                labels.append(second)
            elif r < 0.16:
                labels = ["Other"]
                text = _OTHER_TEXT[rng.integers(len(_OTHER_TEXT))]
            firsts.append(labels[0])
            evals.append(Evaluation(f"E{e}", tuple(labels), text, _draw_vad(rng, emotion)))
        if rng.random() < 0.3:  # the actors' self-evaluations, on part of the corpus as in IEMOCAP
            for who in ("F", "M"):
                evals.append(Evaluation(f"{who}{session}", (emotion,) if rng.random() < 0.8 else (), "",
                                        _draw_vad(rng, emotion)))
        values, counts = np.unique(firsts, return_counts=True)
        top = int(counts.argmax())
        consensus = _CODES[values[top]] if counts[top] * 2 > len(firsts) else "xxx"
        outside = [e.vad for e in evals if e.evaluator.startswith("E")]
        vad = tuple(float(np.mean([v[k] for v in outside])) for k in range(3))
        sentences = _SENTENCES[emotion]
        text = sentences[rng.integers(len(sentences))]
        p, s, a = _VOICE[emotion]
        voice = {"emotion": emotion, "text": text, "pitch": int(np.clip(p + rng.integers(-8, 9), 0, 99)),
                 "speed": int(s + rng.integers(-15, 16)), "amplitude": int(np.clip(a + rng.integers(-15, 16), 20, 200))}
        duration = round(0.6 + 0.05 * len(text.split()) * 160 / voice["speed"] * 4, 2)
        out.append((IemocapTurn(utt_id, consensus, tuple(evals), vad, transcript=text, duration=duration), voice))
    return out


def _draw_vad(rng: np.random.Generator, emotion: str) -> tuple[int, int, int]:
    centre = np.array(_VAD[emotion])
    return tuple(int(x) for x in np.clip(np.rint(centre + rng.normal(0, 0.7, 3)), 1, 5))


def make_demo_corpus(out_dir: str | Path, n_utterances: int = 48, seed: int = 0, *,
                     use_espeak: bool | None = None, clip_seconds: float | None = None) -> Path:
    """Write (or reuse) the demo corpus in the ``IEMOCAP_full_release`` layout under ``out_dir``; return it.

    ``use_espeak=None`` uses espeak-ng when installed (else generated voiced signals, with a warning); ``False``
    always uses generated signals. ``clip_seconds`` makes every clip a generated signal of that length (quick test
    corpora; it cannot be combined with ``use_espeak=True``). Read it with
    :func:`hf_ambiguity.corpora.read_iemocap`.
    """
    out = Path(out_dir)
    if clip_seconds is not None:
        if use_espeak:
            raise ValueError("clip_seconds sets the length of generated signals; it cannot be combined with "
                             "use_espeak=True (espeak-ng speech has its own length)")
        if not clip_seconds > 0:
            raise ValueError(f"clip_seconds must be a positive number of seconds, got {clip_seconds!r}")
        use_espeak = False
    espeak = espeak_available() if use_espeak is None else bool(use_espeak)
    if espeak and not espeak_available():
        raise RuntimeError("use_espeak=True but espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    if use_espeak is None and not espeak:
        warnings.warn("espeak-ng is not installed: the demo corpus uses generated voiced signals instead of "
                      "synthetic speech (install it with apt-get install espeak-ng)", stacklevel=2)
    config = {"version": DEMO_VERSION, "n_utterances": int(n_utterances), "seed": int(seed),
              "audio": "espeak-ng" if espeak else "generated voiced signal", "sample_rate": SAMPLING_RATE}
    if clip_seconds is not None:
        config["clip_seconds"] = float(clip_seconds)
    marker = out / "demo_corpus.json"
    if marker.is_file():
        try:
            if json.loads(marker.read_text()) == config:
                return out
        except ValueError:
            pass
        for child in out.glob("Session[1-5]"):  # written by an earlier call with other options
            shutil.rmtree(child)
        marker.unlink()
    elif any(out.glob("Session[1-5]")):
        raise ValueError(f"{str(out)!r} already holds Session folders that make_demo_corpus did not write; "
                         "choose an empty or new out_dir")
    turns = demo_turns(n_utterances, seed)
    if clip_seconds is not None:
        turns = [(dataclasses.replace(t, duration=float(clip_seconds)), v) for t, v in turns]
    voices = {t.utt_id: v for t, v in turns}

    def audio(turn: IemocapTurn, sample_rate: int) -> np.ndarray:
        v = voices[turn.utt_id]
        if espeak:
            return espeak_speech(v["text"], pitch=v["pitch"], speed=v["speed"], amplitude=v["amplitude"],
                                 sample_rate=sample_rate)
        return voiced_signal(turn.duration, f0=80 + 2 * v["pitch"], rate=v["speed"] / 40,
                             amplitude=0.15 + v["amplitude"] / 400, sample_rate=sample_rate,
                             seed=seed * 100003 + sum(map(ord, turn.utt_id)))

    staging = out.parent / f".{out.name}.incomplete"  # a killed call leaves only this, removed by the next one
    shutil.rmtree(staging, ignore_errors=True)
    write_iemocap_layout(staging, [t for t, _ in turns], quirks=True, sample_rate=SAMPLING_RATE, audio=audio)
    out.mkdir(parents=True, exist_ok=True)
    for child in sorted(staging.iterdir()):
        os.replace(child, out / child.name)
    staging.rmdir()
    marker.write_text(json.dumps(config, indent=2) + "\n")  # last: the folder counts as written only now
    return out
