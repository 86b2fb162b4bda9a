"""Launching a training run as a subprocess (``accelerate launch -m hf_ambiguity.training.train ...``) and reading
back what it logged: the pipeline's training stage and ``hf-ambiguity train`` use these."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

__all__ = ["train_command", "read_training_log"]


def train_command(opt: Mapping[str, Any], *, dataset: Path, target: str, model: str, output_dir: Path,
                  resume: bool, checkpointing_steps: int | None = None) -> list[str]:
    """The ``accelerate launch -m hf_ambiguity.training.train ...`` command of one target."""
    import sys

    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    if opt["accelerate_config"]:
        cmd += ["--config_file", opt["accelerate_config"]]
    else:
        # one process; mixed precision comes from the training preset (fp16 for paper) or --mixed_precision
        cmd += ["--num_processes", "1", "--num_machines", "1", "--dynamo_backend", "no"]
    cmd += ["-m", "hf_ambiguity.training.train", "--dataset", str(dataset), "--split", "dataset", "--no_dime_aug",
            "--target", target, "--model", model, "--preset", opt["preset"], "--seed", str(opt["seed"]),
            "--output_dir", str(output_dir), "--report_to", "tensorboard"]
    for key, flag in (("max_steps", "--max_train_steps"), ("batch_size", "--per_device_train_batch_size"),
                      ("gradient_accumulation_steps", "--gradient_accumulation_steps"),
                      ("learning_rate", "--learning_rate")):
        if opt[key] is not None:
            cmd += [flag, str(opt[key])]
    if checkpointing_steps:
        cmd += ["--checkpointing_steps", str(checkpointing_steps)]
    if resume:
        cmd += ["--resume_from_checkpoint", "latest"]
    return cmd + list(opt["extra_args"])


def read_training_log(folder: Path) -> dict[str, Any]:
    """Loss per optimizer step (``train_log.jsonl``) and validation loss (``eval_log.jsonl``) of a training run."""
    def rows(name: str) -> list[dict[str, Any]]:
        path = folder / name
        if not path.is_file():
            return []
        return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]

    log: dict[int, dict[str, Any]] = {}
    for r in rows("train_log.jsonl"):
        log.setdefault(r["step"], {"step": r["step"]})["loss"] = r.get("loss")
    for r in rows("eval_log.jsonl"):
        log.setdefault(r["step"], {"step": r["step"]})["val_loss"] = r.get("loss")
    res = json.loads((folder / "eval_results.json").read_text()) if (folder / "eval_results.json").is_file() else {}
    return {"log": [log[k] for k in sorted(log)], "steps": res.get("completed_steps"),
            "best_step": res.get("best_step"), "best_val_loss": res.get("best_val_loss")}
