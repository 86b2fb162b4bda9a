"""The training loop (Accelerate): seeded, resumable, evaluated per ambiguity level, on one process or several.

:func:`train` runs one whole training run of a :class:`~hf_ambiguity.training.config.TrainingArguments`. It is built
from the same pieces as ``examples/train.py`` (an explicit loop a user can copy; a test checks both give the same
loss trajectory):

1. ``Accelerator``; :func:`~hf_ambiguity.training.launch.check_training_launch` refuses a broken multi-process
   launch and fp16 on the CPU;
2. data (:func:`~hf_ambiguity.training.data.prepare_data`): load, split, check — every bad-input error is raised
   here, before the model is loaded — and DiME-Aug;
3. what the run is (:func:`~hf_ambiguity.training.model.run_identity`) and the checkpoint to resume from
   (:meth:`~hf_ambiguity.training.resume.TrainingCheckpoints.find_resume`), also before the model is loaded; a
   ``--resume_from_checkpoint`` run whose output folder already holds the finished run does nothing;
4. model (:func:`~hf_ambiguity.training.model.build_model`: base ALM + LoRA + head), data loaders, AdamW and the
   transformers scheduler (:mod:`hf_ambiguity.training.optim`), ``accelerator.prepare``;
5. the loop: ``accelerator.accumulate`` (the optimizer steps once per accumulated batch), clipping, logging
   (tensorboard through Accelerate trackers + ``train_log.jsonl``), validation every ``eval_steps`` (or epoch) with
   early stopping on the validation loss, checkpoints every ``checkpointing_steps``;
6. the best adapter + head are restored, the test split is scored against the run's own target *and* the human
   distributions, and the outputs are written (:mod:`hf_ambiguity.training.outputs`, model card), optionally pushed
   (private by default).

**Several processes.** Data parallelism through Accelerate (DDP; DeepSpeed ZeRO through an accelerate config).
The global batch is ``per_device_train_batch_size x gradient_accumulation_steps x processes``. Process *p* gets
batches ``p, p + P, ...`` of the single-process order, and DDP averages the gradients, so P processes with batch b
follow the trajectory of one process with batch P·b (same seed) up to floating-point summation order — exactly when
there is no dropout (each process draws its own dropout masks) and the training rows fill whole global batches
(otherwise Accelerate repeats rows from the start of the epoch to fill the last one; logged). Only the main process
writes files; evaluation gathers each validation/test row exactly once.

**Resuming** (``--resume_from_checkpoint latest``) restores model/optimizer/scheduler/RNG states, the step counter,
the early-stopping state and the best-so-far adapter + head as of the checkpoint, and skips the micro-batches
already seen in the interrupted epoch (``accelerator.skip_first_batches``). The data order is a pure function of
``(seed, epoch)`` and every ``DataLoader`` has its own generator, so the global RNG (dropout) sees the same draws as
in an uninterrupted run: on the CPU a resumed run ends with the same losses within float tolerance.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

__all__ = ["train", "epoch_batches"]

logger = logging.getLogger(__name__)


def epoch_batches(accelerator: Any, train_loader: Any, epoch: int, skip: int = 0) -> Any:
    """The prepared training loader set to ``epoch`` (row order and augmentation seeds), without its first ``skip``
    micro-batches (those a resumed run already trained on)."""
    train_loader.set_epoch(epoch)
    # The rows' epoch (augmentation seeds): Accelerate forwards set_epoch to the dataset only when it does not shard
    # the batches (one process), so a multi-process run would augment every epoch like epoch 0.
    rows = getattr(train_loader, "dataset", None)
    if hasattr(rows, "set_epoch"):
        rows.set_epoch(epoch)
    if not skip:
        return train_loader
    active = accelerator.skip_first_batches(train_loader, skip)
    if hasattr(active, "set_epoch"):
        active.set_epoch(epoch)
    return active


def _warn_uneven_batches(accelerator: Any, n_train: int, cfg: Any, say) -> None:
    global_micro = cfg.per_device_train_batch_size * accelerator.num_processes
    if accelerator.num_processes > 1 and n_train % global_micro:
        say(f"{n_train} training rows do not fill whole global micro-batches of {global_micro} rows "
            f"({cfg.per_device_train_batch_size} per process x {accelerator.num_processes} processes): Accelerate "
            f"fills the last one of each epoch with {global_micro - n_train % global_micro} rows from the epoch's "
            "start, so those rows count twice in that step (a single-process run would use a smaller last batch)")


def train(cfg: Any) -> dict[str, Any]:
    """Run training as configured; return the results dict also written to ``eval_results.json``."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from hf_ambiguity.progress import progress_bar as tqdm

    from hf_ambiguity.training.card import model_card, push_to_hub
    from hf_ambiguity.training.checkpoints import check_compatible
    from hf_ambiguity.training.config import PRESETS
    from hf_ambiguity.training.data import make_dataloaders, prepare_data
    from hf_ambiguity.training.evaluation import Evaluator, model_inputs
    from hf_ambiguity.training.launch import check_training_launch
    from hf_ambiguity.training.losses import get_loss
    from hf_ambiguity.training.model import build_model, run_identity
    from hf_ambiguity.training.optim import LossMeter, StepPlan, build_optimizer, build_scheduler
    from hf_ambiguity.files import read_json
    from hf_ambiguity.training.outputs import (
        TRAINING_CONFIG_FILE, RunFiles, finished_run, restore_trained, save_trained,
    )
    from hf_ambiguity.training.resume import TrainingCheckpoints

    out = Path(cfg.output_dir)
    accelerator = Accelerator(
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, mixed_precision=cfg.mixed_precision,
        log_with=None if cfg.report_to == "none" else cfg.report_to, project_dir=str(out),
    )
    check_training_launch(accelerator, cfg)
    main = accelerator.is_main_process

    def say(msg: str) -> None:
        if main:
            print(f"[train] {msg}", flush=True)

    # 1. data: every bad-input check happens here, before the model is loaded
    data = prepare_data(cfg)
    say(f"split: {data.info.description}; sizes {data.info.sizes}")

    # 2. what this run is, and where it resumes from (checked before the model is loaded)
    identity = run_identity(cfg, data.class_names)
    done = finished_run(out) if cfg.resume_from_checkpoint else None
    if done is not None:
        check_compatible(done.get("identity") or {}, identity, what=f"the finished run in {out}")
        say(f"{out} already holds this finished run ({done.get('completed_steps')} steps); nothing to do")
        return read_json(out / done["results_file"])
    checkpoints = TrainingCheckpoints(accelerator, out, identity, total_limit=cfg.save_total_limit, say=say)
    resume_dir = checkpoints.find_resume(cfg.resume_from_checkpoint)

    # 3. model, data loaders, optimizer and schedule
    set_seed(cfg.seed)
    model, processor, _ = build_model(cfg, data.class_names)
    train_loader, val_loader, test_loader = make_dataloaders(cfg, data, processor)
    optimizer = build_optimizer(model, cfg)
    model, optimizer, train_loader, val_loader, test_loader = accelerator.prepare(
        model, optimizer, train_loader, val_loader, test_loader)
    plan = StepPlan.for_run(cfg, train_loader)
    lr_scheduler = accelerator.prepare(build_scheduler(optimizer, cfg, plan, num_processes=accelerator.num_processes))
    say(f"{accelerator.num_processes} process(es), {len(train_loader)} micro-batches per process per epoch, "
        f"{plan.steps_per_epoch} optimizer steps per epoch, {plan.max_steps} steps ({plan.num_epochs} epochs at most)")
    _warn_uneven_batches(accelerator, len(data.splits["train"]), cfg, say)

    # 4. fresh start or resume; logs and trackers
    state = checkpoints.start(resume_dir)
    files = RunFiles(out, is_main=main)
    files.start(state.completed_steps if resume_dir is not None else None)
    if cfg.report_to != "none":
        accelerator.init_trackers("hf_ambiguity_train", config=_flat_for_tracker(cfg.resolved_config()))
    loss_fn = get_loss(cfg.loss, entropy_weight=cfg.entropy_weight)
    evaluator = Evaluator(accelerator, data.splits, target=cfg.target, human_column=cfg.human_column,
                          loss_fn=loss_fn)
    start_epoch, skip = plan.resume_position(completed_steps=state.completed_steps,
                                             gradient_accumulation_steps=cfg.gradient_accumulation_steps)

    # 5. the loop
    progress = tqdm(total=plan.max_steps, initial=state.completed_steps, disable=not main, desc="training")
    meter, last_loss, t0 = LossMeter(), None, time.perf_counter()
    model.train()
    for epoch in range(start_epoch, plan.num_epochs):
        if state.stopped_early or state.completed_steps >= plan.max_steps:
            break
        for batch in epoch_batches(accelerator, train_loader, epoch, skip if epoch == start_epoch else 0):
            with accelerator.accumulate(model):
                loss = loss_fn(model(**model_inputs(batch)).float(), batch["target"])
                accelerator.backward(loss)
                if accelerator.sync_gradients and cfg.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                optimizer.step()  # a no-op until the last micro-batch of the accumulation window
                lr_scheduler.step()
                optimizer.zero_grad()
            meter.add(loss, len(batch["target"]))
            if not accelerator.sync_gradients:
                continue
            state.completed_steps += 1
            step = state.completed_steps
            progress.update(1)
            last_loss = meter.step_loss(accelerator)
            if step % cfg.logging_steps == 0 or step == plan.max_steps:
                lr = lr_scheduler.get_last_lr()[0]
                files.log_step({"step": step, "epoch": epoch, "loss": last_loss, "lr": lr})
                accelerator.log({"train/loss": last_loss, "train/lr": lr}, step=step)
            if plan.is_eval_step(step):
                val = evaluator.validate(model, val_loader)
                files.log_eval(step, val)
                accelerator.log(evaluator.scalars(val), step=step)
                if state.record_evaluation(val["loss"], step=step, patience=cfg.early_stopping_patience):
                    if main:
                        save_trained(accelerator.unwrap_model(model), checkpoints.best_dir, identity, {"step": step})
                elif state.stopped_early:
                    say(f"early stopping at step {step}: no lower validation loss in {state.bad_evals} evaluations")
            if cfg.checkpointing_steps and step % cfg.checkpointing_steps == 0:
                checkpoints.save(step, state)
            if state.stopped_early or step >= plan.max_steps:
                break
    progress.close()
    elapsed = time.perf_counter() - t0
    accelerator.wait_for_everyone()

    # 6. the best adapter + head, test scores, outputs
    unwrapped = accelerator.unwrap_model(model)
    if (checkpoints.best_dir / TRAINING_CONFIG_FILE).is_file():
        restore_trained(unwrapped, checkpoints.best_dir)
    test_pred, test_scores = evaluator.test(model, test_loader)
    if last_loss is None:  # resumed at the end of the budget: the last logged loss
        last_loss = next((r["loss"] for r in reversed(files.logged_losses())), None)
    rows_seen = meter.rows_seen * accelerator.num_processes
    results = {
        "base_model": cfg.model, "head": cfg.head, "target": cfg.target, "human_column": cfg.human_column,
        "split": data.info.to_dict(), "completed_steps": state.completed_steps, "max_train_steps": plan.max_steps,
        "steps_per_epoch": plan.steps_per_epoch, "final_train_loss": last_loss,
        "best_val_loss": state.best_val_loss, "best_step": state.best_step, "stopped_early": state.stopped_early,
        **test_scores,
        "train_seconds_this_process_run": elapsed,
        "samples_per_second_this_run": rows_seen / elapsed if rows_seen else None,
        "num_processes": accelerator.num_processes, "mixed_precision": str(accelerator.mixed_precision),
    }
    accelerator.log({"test/js_vs_own_target": results["test_vs_own_target"]["overall"]["js_divergence_base2"],
                     "test/js_vs_human": results["test_vs_human"]["overall"]["js_divergence_base2"]},
                    step=state.completed_steps)
    if main:
        save_trained(unwrapped, out, identity, {"split": data.info.to_dict(), "best_step": state.best_step})
        card = model_card(results, identity["config"], preset_values=PRESETS[cfg.preset])
        files.write_results(results, test_ids=evaluator.test_ids(), test_pred=test_pred, target=cfg.target,
                            card=card, identity=identity)
        say(f"saved adapter + head to {out}; test JS vs own target "
            f"{results['test_vs_own_target']['overall']['js_divergence_base2']:.4f}, vs human "
            f"{results['test_vs_human']['overall']['js_divergence_base2']:.4f}")
        if cfg.push_to_hub:
            url = push_to_hub(out, cfg.hub_model_id, private=not cfg.hub_public)
            say(f"pushed adapter, head and model card to {url} ({'public' if cfg.hub_public else 'private'})")
    accelerator.end_training()
    return results


def _flat_for_tracker(d: dict[str, Any]) -> dict[str, Any]:
    import json

    return {k: (v if isinstance(v, (int, float, str, bool)) else json.dumps(v)) for k, v in d.items()}
