"""Parsing an annotator's free-text answer into one of the prompt's labels.

Two rules (``rule=``), both case-insensitive and both trying an exact match against the label list first:

- ``"earliest"`` (the project's): surrounding whitespace, quotes and punctuation are ignored for the exact match;
  otherwise the label that occurs *earliest in the answer* wins (the longest label wins a tie, so ``"frustrated"``
  is not read as a shorter label it contains).
- ``"reference"`` (the reference code's): only surrounding whitespace is ignored for the exact match; otherwise the
  *first label in label-list order* that occurs anywhere in the answer wins, wherever it occurs ("happy or sad"
  parses as whichever of the two the list names first).

No match gives ``None``: the answer is dropped from the votes and counted in ``<name>_invalid``. ``labels`` are the
spellings the prompt listed, in the prompt's order (:meth:`hf_ambiguity.alm.prompts.PromptProtocol.labels_for`).

>>> parse_answer("Happy.", ["neutral", "happy", "angry", "sad"])
'happy'
>>> parse_answer("The speaker sounds SAD, maybe angry", ["neutral", "happy", "angry", "sad"])
'sad'
>>> parse_answer("The speaker sounds SAD, maybe angry", ["neutral", "happy", "angry", "sad"], rule="reference")
'angry'
>>> parse_answer("I cannot tell", ["neutral", "happy"]) is None
True
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["parse_answer", "PARSE_RULES"]

PARSE_RULES = ("earliest", "reference")
_STRIP = " \t\r\n\"'`.,;:!?*()[]{}<>"


def parse_answer(answer: str | None, labels: Sequence[str], *, rule: str = "earliest") -> str | None:
    """The label named by ``answer``, or ``None`` when it names none (see the module docstring)."""
    if rule not in PARSE_RULES:
        raise ValueError(f"parse rule must be one of {list(PARSE_RULES)}, got {rule!r}")
    if not answer:
        return None
    if rule == "reference":
        text = answer.strip().lower()
        for name in labels:
            if text == name.lower():
                return name
        return next((name for name in labels if name and name.lower() in text), None)
    text = answer.strip().strip(_STRIP).lower()
    lowered = {c.lower(): c for c in labels}
    if text in lowered:
        return lowered[text]
    hits = [(text.find(low), -len(low), name) for low, name in lowered.items() if low and low in text]
    return min(hits)[2] if hits else None
