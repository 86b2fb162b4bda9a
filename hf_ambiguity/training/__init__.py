"""Distribution fine-tuning of audio-language models: head, losses, config/presets, data, loop pieces, predict.

Run it with ``hf-ambiguity train --dataset ... --target combined_dist --model ...`` (which launches
``accelerate launch -m hf_ambiguity.training.train``), or copy ``examples/train.py``: an explicit Accelerate loop
built from the pieces exported here (the library's own :func:`train` uses the same ones). Use a trained model with
:func:`load_trained` and :func:`predict_distributions`. Importing this package is cheap: torch/transformers load on
first use.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    # options
    "TrainingArguments", "parse_args", "PRESETS",
    # the whole run, and inference
    "train", "load_trained", "predict_distributions",
    # the pieces of a training loop (examples/train.py)
    "check_training_launch", "prepare_data", "run_identity", "build_model", "make_dataloaders", "build_optimizer",
    "build_scheduler", "StepPlan", "LossMeter", "TrainingCheckpoints", "RunFiles", "Evaluator", "epoch_batches",
    "model_inputs", "get_loss", "save_trained", "restore_trained", "model_card", "push_to_hub", "finished_run",
    "AttentionPoolingHead",
]

_LAZY = {
    "TrainingArguments": "config", "parse_args": "config", "PRESETS": "config", "train": "loop",
    "epoch_batches": "loop", "load_trained": "predict", "predict_distributions": "predict",
    "AttentionPoolingHead": "head", "get_loss": "losses", "check_training_launch": "launch",
    "prepare_data": "data", "make_dataloaders": "data", "run_identity": "model", "build_model": "model",
    "build_optimizer": "optim", "build_scheduler": "optim", "StepPlan": "optim", "LossMeter": "optim",
    "TrainingCheckpoints": "resume", "RunFiles": "outputs", "save_trained": "outputs", "restore_trained": "outputs",
    "finished_run": "outputs", "Evaluator": "evaluation", "model_inputs": "evaluation", "model_card": "card",
    "push_to_hub": "card",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
