"""Distribution fine-tuning of audio-language models (issue 6): head, losses, config/presets, data, loop, predict.

Run it with ``accelerate launch examples/train.py --dataset ... --target combined_dist --model ...`` (or
``accelerate launch -m hf_ambiguity.training.train``); use a trained model with :func:`load_trained` and
:func:`predict_distributions`. Importing this package is cheap: torch/transformers load on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainingArguments", "parse_args", "PRESETS", "train", "load_trained", "predict_distributions",
           "AttentionPoolingHead", "get_loss"]

_LAZY = {
    "TrainingArguments": "config", "parse_args": "config", "PRESETS": "config", "train": "loop",
    "load_trained": "predict", "predict_distributions": "predict", "AttentionPoolingHead": "head",
    "get_loss": "losses",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
