"""Saving and resuming a run with Accelerate: what goes into ``step_N/``, and starting a run fresh or from one.

:class:`TrainingCheckpoints` wraps ``Accelerator.save_state`` / ``load_state`` for this package's runs:

- only the trainable parameters (LoRA + head) are saved (``trainable.safetensors``), never the frozen base model;
- the step counter and early-stopping state go into ``training_state.json`` (JSON), not into accelerate's pickled
  ``custom_checkpoint_*.pkl``;
- :meth:`~TrainingCheckpoints.find_resume` picks and checks the checkpoint *before* the model is loaded (complete,
  written by this run and unchanged since, same options: :mod:`hf_ambiguity.training.checkpoints`);
- :meth:`~TrainingCheckpoints.start` begins a fresh run (new run id, an earlier run's checkpoints in the folder
  removed) or restores model/optimizer/scheduler/RNG states and the best-so-far adapter + head of the checkpoint;
- :meth:`~TrainingCheckpoints.save` writes ``step_N/`` on every process, then (main process) the best snapshot,
  the state file last, and rotates old checkpoints.

Every process must call these methods at the same point (they synchronise with ``wait_for_everyone``); only the
main process writes shared files. Checkpoints must be on a filesystem every process (and machine) sees.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from hf_ambiguity.training.checkpoints import (
    TrainState, check_compatible, checkpoint_steps, new_run_id, read_run_id, read_state, resolve_resume,
    restore_best_snapshot, rotate_checkpoints, snapshot_best, verify_checkpoint, write_checkpoint_state,
)

__all__ = ["TrainingCheckpoints", "TRAINABLE_FILE", "trainable_state", "load_trainable"]

logger = logging.getLogger(__name__)

TRAINABLE_FILE = "trainable.safetensors"


def trainable_state(model: Any) -> dict[str, Any]:
    """The trainable parameters (LoRA + head) of an unwrapped model, on the CPU."""
    return {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable(model: Any, state: dict[str, Any], where: str) -> None:
    """Load :func:`trainable_state` output into ``model``; refuse another model/head configuration."""
    expected = {n for n, p in model.named_parameters() if p.requires_grad}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state))[:5], sorted(set(state) - expected)[:5]
        raise ValueError(f"{where}: trainable parameters do not match the model (missing {missing}, unexpected "
                         f"{extra}); it was saved from another model/head configuration")
    model.load_state_dict(state, strict=False)


class TrainingCheckpoints:
    """Checkpoints of one run in ``output_dir`` (see the module docstring). Create it after ``accelerator.prepare``
    (it registers the save/load hooks)."""

    def __init__(self, accelerator: Any, output_dir: str | Path, identity: dict[str, Any], *,
                 total_limit: int | None = None, say=logger.info) -> None:
        self.accelerator, self.output_dir, self.identity = accelerator, Path(output_dir), identity
        self.total_limit, self.say = total_limit, say
        self.best_dir = self.output_dir / "best"
        self.run_id: str | None = None
        self._hooks_registered = False

    # -- before the model is loaded ------------------------------------------------------------------------

    def find_resume(self, resume: str | None) -> Path | None:
        """The checkpoint ``--resume_from_checkpoint`` names (``None``: start fresh), checked: complete, written by
        this output folder's run and unchanged, same model/head/classes/options. Reads JSON and hashes files only."""
        ckpt = resolve_resume(self.output_dir, resume)
        if resume == "latest" and ckpt is None:
            self.say(f"--resume_from_checkpoint latest: no complete step_N checkpoint in {self.output_dir} yet, "
                     "starting afresh")
        if ckpt is None:
            return None
        state = verify_checkpoint(ckpt, run_id=read_run_id(self.output_dir))
        check_compatible(state["identity"], self.identity, what=f"checkpoint {ckpt}")
        return ckpt

    # -- after accelerator.prepare -------------------------------------------------------------------------

    def _register_hooks(self) -> None:
        if self._hooks_registered:
            return
        acc = self.accelerator

        def save_hook(models, weights, output_dir):
            from safetensors.torch import save_file

            if acc.is_main_process:
                save_file(trainable_state(acc.unwrap_model(models[0])), os.path.join(output_dir, TRAINABLE_FILE))
            weights.clear()  # the frozen base model is never written

        def load_hook(models, input_dir):
            from safetensors.torch import load_file

            load_trainable(acc.unwrap_model(models[0]), load_file(os.path.join(input_dir, TRAINABLE_FILE)), input_dir)
            models.clear()

        acc.register_save_state_pre_hook(save_hook)
        acc.register_load_state_pre_hook(load_hook)
        self._hooks_registered = True

    def start(self, resume_dir: Path | None) -> TrainState:
        """Begin the run: fresh (``resume_dir`` None) or restored from ``resume_dir``. Returns the train state."""
        acc = self.accelerator
        self._register_hooks()
        state = TrainState()
        if acc.is_main_process:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        if resume_dir is None:
            if acc.is_main_process:
                old = checkpoint_steps(self.output_dir)
                if old:
                    self.say(f"fresh start: removing {len(old)} checkpoint folder(s) of an earlier run in "
                             f"{self.output_dir}")
                for _, path in old:
                    shutil.rmtree(path, ignore_errors=True)
                new_run_id(self.output_dir)
                restore_best_snapshot(None, self.best_dir)  # never an earlier run's best weights
            acc.wait_for_everyone()
            self.run_id = read_run_id(self.output_dir)
            return state
        self.say(f"resuming from {resume_dir}")
        self.run_id = read_run_id(self.output_dir)
        if acc.is_main_process:  # the best adapter + head as of the checkpoint
            restore_best_snapshot(resume_dir, self.best_dir)
        acc.load_state(str(resume_dir))
        state.load_state_dict(read_state(resume_dir)["train_state"])
        acc.wait_for_everyone()
        return state

    def save(self, step: int, state: TrainState) -> Path:
        """Write ``step_N`` (all processes), then its best snapshot and state file (main), then rotate."""
        acc = self.accelerator
        ckpt = self.output_dir / f"step_{step}"
        if acc.is_main_process:
            if ckpt.exists():  # left by an attempt killed while saving this step
                shutil.rmtree(ckpt)
            ckpt.mkdir(parents=True)
        acc.wait_for_everyone()
        acc.save_state(str(ckpt))
        acc.wait_for_everyone()
        if acc.is_main_process:
            snapshot_best(self.best_dir, ckpt)
            write_checkpoint_state(ckpt, step=step, run_id=self.run_id, identity=self.identity, train_state=state)
            rotate_checkpoints(self.output_dir, limit=self.total_limit,
                               best_step=state.best_step if state.best_step > 0 else None)
        acc.wait_for_everyone()
        return ckpt
