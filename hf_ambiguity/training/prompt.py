"""The fine-tuning prompt: a system prompt plus a user prompt asking for the emotion distribution as JSON.

The distribution itself comes from the head (the last hidden states of this prompt + audio), never from generated
text; the prompt only conditions the model the way the reference did. The transcript (when the dataset has one and
``include_transcript`` is on) is cut so that the text part stays within the token budget (512 in the reference).

>>> print(user_prompt(["neutral", "happy"], transcript="Oh no."))
Listen to the audio and estimate how likely each emotion is for this utterance.
Emotions: neutral, happy.
Transcript: "Oh no."
Answer with a JSON object mapping every emotion to its probability, for example {"neutral": 0.5, "happy": 0.5}.
Rules: emotions can be ambiguous, so spread probability over every emotion that fits; use only the listed emotions; the probabilities must be between 0 and 1 and sum to 1.
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["SYSTEM_PROMPT", "user_prompt", "build_messages", "truncate_transcript"]

SYSTEM_PROMPT = (
    "You are an expert in speech emotion recognition. You listen to speech and judge the emotions it expresses, "
    "knowing that listeners often disagree and that one utterance can carry several emotions."
)


def user_prompt(class_names: Sequence[str], transcript: str | None = None) -> str:
    """The user turn's text (the audio part is added by :func:`build_messages`)."""
    names = list(class_names)
    uniform = round(1.0 / len(names), 4)
    example = "{" + ", ".join(f'"{c}": {uniform}' for c in names) + "}"
    lines = [
        "Listen to the audio and estimate how likely each emotion is for this utterance.",
        f"Emotions: {', '.join(names)}.",
    ]
    if transcript:
        lines.append(f'Transcript: "{transcript}"')
    lines += [
        f"Answer with a JSON object mapping every emotion to its probability, for example {example}.",
        "Rules: emotions can be ambiguous, so spread probability over every emotion that fits; use only the listed "
        "emotions; the probabilities must be between 0 and 1 and sum to 1.",
    ]
    return "\n".join(lines)


def build_messages(class_names: Sequence[str], transcript: str | None = None) -> list[dict[str, Any]]:
    """Chat messages (system + user with one audio part) for ``processor.apply_chat_template``."""
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
        {"role": "user", "content": [{"type": "audio", "audio": "<audio>"},
                                     {"type": "text", "text": user_prompt(class_names, transcript)}]},
    ]


def truncate_transcript(tokenizer: Any, transcript: str, max_tokens: int) -> str:
    """``transcript`` cut to at most ``max_tokens`` tokens of ``tokenizer`` ("" when the budget is spent)."""
    if max_tokens <= 0 or not transcript:
        return ""
    ids = tokenizer(transcript, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return transcript
    return tokenizer.decode(ids[:max_tokens], skip_special_tokens=True)
