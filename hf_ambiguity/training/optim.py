"""Optimizer, learning-rate schedule and the step plan of a run (how many optimizer steps, epochs, evaluations).

One *optimizer step* consumes ``gradient_accumulation_steps`` micro-batches of ``per_device_train_batch_size`` rows
on every process, i.e. a global batch of ``per_device_train_batch_size x gradient_accumulation_steps x
num_processes`` rows. The plan is computed from the prepared (sharded) training loader, so it is the same for one
process with batch 2b and two processes with batch b.

>>> plan = StepPlan.of(micro_batches_per_epoch=9, gradient_accumulation_steps=2, max_train_steps=None,
...                    num_train_epochs=3, eval_steps=0)
>>> plan.steps_per_epoch, plan.max_steps, plan.num_epochs, plan.eval_every
(5, 15, 3, 5)
>>> plan.resume_position(completed_steps=7, gradient_accumulation_steps=2)  # (epoch, micro-batches to skip)
(1, 4)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["StepPlan", "build_optimizer", "build_scheduler", "LossMeter"]


@dataclass(frozen=True)
class StepPlan:
    """Optimizer steps per epoch, the step budget, the number of epochs it spans and the evaluation interval."""

    steps_per_epoch: int
    max_steps: int
    num_epochs: int
    eval_every: int

    @classmethod
    def of(cls, *, micro_batches_per_epoch: int, gradient_accumulation_steps: int, max_train_steps: int | None,
           num_train_epochs: int, eval_steps: int) -> "StepPlan":
        """The plan for a training loader of ``micro_batches_per_epoch`` batches per process.

        Accelerate steps the optimizer at the end of every epoch even when the last accumulation window is short,
        hence the ceiling.
        """
        steps_per_epoch = math.ceil(micro_batches_per_epoch / gradient_accumulation_steps)
        max_steps = max_train_steps or num_train_epochs * steps_per_epoch
        return cls(steps_per_epoch, max_steps, math.ceil(max_steps / steps_per_epoch), eval_steps or steps_per_epoch)

    @classmethod
    def for_run(cls, cfg: Any, train_loader: Any) -> "StepPlan":
        """The plan of a :class:`~hf_ambiguity.training.config.TrainingArguments` and its prepared train loader."""
        return cls.of(micro_batches_per_epoch=len(train_loader),
                      gradient_accumulation_steps=cfg.gradient_accumulation_steps,
                      max_train_steps=cfg.max_train_steps, num_train_epochs=cfg.num_train_epochs,
                      eval_steps=cfg.eval_steps)

    def resume_position(self, *, completed_steps: int, gradient_accumulation_steps: int) -> tuple[int, int]:
        """``(epoch, micro-batches of that epoch already consumed)`` after ``completed_steps`` optimizer steps."""
        epoch, done_in_epoch = divmod(completed_steps, self.steps_per_epoch)
        return epoch, done_in_epoch * gradient_accumulation_steps

    def is_eval_step(self, step: int) -> bool:
        return step % self.eval_every == 0 or step == self.max_steps


def build_optimizer(model: Any, cfg: Any):
    """AdamW over the trainable parameters; no weight decay on biases and normalisation weights."""
    import torch

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=cfg.learning_rate)


def build_scheduler(optimizer: Any, cfg: Any, plan: StepPlan, *, num_processes: int):
    """The transformers scheduler ``cfg.lr_scheduler`` over ``plan.max_steps`` optimizer steps, warm-up
    ``ceil(warmup_ratio x max_steps)``.

    Accelerate's prepared scheduler advances ``num_processes`` times per optimizer step (its default
    ``split_batches=False``), so both lengths are multiplied by it: the learning rate after step s is the same
    whatever the number of processes.
    """
    from transformers import get_scheduler

    kwargs = {"num_cycles": cfg.lr_num_cycles} if cfg.lr_scheduler == "cosine_with_restarts" else {}
    return get_scheduler(cfg.lr_scheduler, optimizer=optimizer,
                         num_warmup_steps=math.ceil(cfg.warmup_ratio * plan.max_steps) * num_processes,
                         num_training_steps=plan.max_steps * num_processes, scheduler_specific_kwargs=kwargs)


class LossMeter:
    """Losses of the micro-batches of one optimizer step; :meth:`step_loss` is their mean over micro-batches and
    processes (every process contributes the same number of equal-sized micro-batches). Also counts the rows this
    process trained on, for the throughput figure."""

    def __init__(self) -> None:
        self._losses: list[Any] = []
        self.rows_seen = 0

    def add(self, loss: Any, n_rows: int) -> None:
        self._losses.append(loss.detach())
        self.rows_seen += int(n_rows)

    def step_loss(self, accelerator: Any) -> float:
        import torch

        local = torch.stack(self._losses).mean().reshape(1)
        self._losses = []
        return accelerator.gather(local).mean().item()
