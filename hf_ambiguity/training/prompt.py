"""The fine-tuning prompt: a system prompt plus a user prompt asking for the emotion distribution as JSON.

The distribution itself comes from the head (the last hidden states of this prompt + audio), never from generated
text; the prompt only conditions the model. The transcript (when the dataset has one and ``include_transcript`` is
on) is cut so that the text part stays within the token budget (512 in the reference).

Two prompts (``--prompt``):

- ``project`` (:func:`user_prompt`): audio first, then a short request; no speaker.
- ``reference`` (:func:`reference_user_prompt`, the ``paper`` preset): the authors' training prompt, line for line:
  it gives the transcript on an ``Utterance:`` line (quoted and stripped; when there is none the line stays empty
  and rule 1 says to rely on the audio), **names the speaker** (the dataset's ``speaker`` value as it is), lists the
  classes joined with ", ", states five rules and shows a JSON example with classes 0, 1 and 3; the text comes
  *before* the audio in the user turn, and the system prompt is the authors' one sentence.

>>> print(user_prompt(["neutral", "happy"], transcript="Oh no."))
Listen to the audio and estimate how likely each emotion is for this utterance.
Emotions: neutral, happy.
Transcript: "Oh no."
Answer with a JSON object mapping every emotion to its probability, for example {"neutral": 0.5, "happy": 0.5}.
Rules: emotions can be ambiguous, so spread probability over every emotion that fits; use only the listed emotions; the probabilities must be between 0 and 1 and sum to 1.
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["SYSTEM_PROMPT", "REFERENCE_SYSTEM_PROMPT", "PROMPT_KINDS", "user_prompt", "reference_user_prompt",
           "build_messages", "truncate_transcript"]

PROMPT_KINDS = ("project", "reference")

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


REFERENCE_SYSTEM_PROMPT = "You are an expert in emotion analysis who provides accurate emotion judgment."

_REFERENCE_WITH_TEXT = "Carefully analyze the emotional content in both the audio and the text."
_REFERENCE_AUDIO_ONLY = "This audio has no utterance. Rely solely on audio cues for analysis."


def reference_user_prompt(class_names: Sequence[str], transcript: str | None, speaker: Any) -> str:
    """The reference training prompt (see the module docstring); ``transcript`` None or blank = no utterance.

    >>> text = reference_user_prompt(["Anger", "Happiness", "Neutral state", "Sadness"], " Oh no. ", "Ses01F")
    >>> print(*text.splitlines()[2:4], sep=chr(10))
    Utterance: "Oh no."
    Speaker: Ses01F
    >>> text.splitlines()[17:21]  # the example skips class 2; note the trailing spaces
    ['{', '"Anger": 0.6, ', '"Happiness": 0.2, ', '"Sadness": 0.2, ']
    """
    names = list(class_names)
    if len(names) < 4:
        raise ValueError(f"the reference prompt's example names classes 0, 1 and 3: it needs at least 4 classes, got "
                         f"{names}; use --prompt project")
    has_text = bool(transcript and transcript.strip())
    section = f'"{transcript.strip()}"' if has_text else ""
    formatted = ", ".join(names)
    return "\n".join([
        "Listen to the audio and analyze this speech utterance. Provide a probability distribution across all "
        "emotions in the VALID EMOTIONS LIST.",
        "",
        f"Utterance: {section}",
        f"Speaker: {speaker}",
        "",
        f"VALID EMOTIONS LIST: {formatted}",
        "",
        "Output MUST satisfy the following rules:",
        f"Rule 1: {_REFERENCE_WITH_TEXT if has_text else _REFERENCE_AUDIO_ONLY}",
        "Rule 2: Pay attention to vocal tone, pitch, intensity, and speaking rate in the audio.",
        "Rule 3: Consider that emotions can be ambiguous and multiple emotions may be present simultaneously.",
        "Rule 4: ONLY use emotions from the VALID EMOTIONS LIST.",
        "Rule 5: Ensure the probabilities sum to 1.0.",
        "",
        f"Provide your answer as a JSON dictionary with the EXACT emotion labels from {formatted} as keys and "
        "probabilities as values.",
        "",
        "For example: ",
        "{",
        f'"{names[0]}": 0.6, ',
        f'"{names[1]}": 0.2, ',
        f'"{names[3]}": 0.2, ',
        "}",
        "",
        "IMPORTANT: Output ONLY the JSON dictionary and NO OTHER TEXT.",
    ])


def build_messages(class_names: Sequence[str], transcript: str | None = None, *, speaker: Any = None,
                   prompt: str = "project") -> list[dict[str, Any]]:
    """Chat messages (system + user with one audio part) for ``processor.apply_chat_template``.

    ``prompt="project"``: audio, then :func:`user_prompt`; ``prompt="reference"``: :func:`reference_user_prompt`,
    then the audio, under the reference system prompt.
    """
    if prompt == "reference":
        return [
            {"role": "system", "content": [{"type": "text", "text": REFERENCE_SYSTEM_PROMPT}]},
            {"role": "user", "content": [
                {"type": "text", "text": reference_user_prompt(class_names, transcript, speaker)},
                {"type": "audio", "audio": "<audio>"}]},
        ]
    if prompt != "project":
        raise ValueError(f"prompt must be one of {list(PROMPT_KINDS)}, got {prompt!r}")
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
