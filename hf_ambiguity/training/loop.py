"""The training loop (Accelerate): seeded, resumable, evaluated per ambiguity level.

One call, :func:`train`, does the whole run for a :class:`~hf_ambiguity.training.config.TrainingArguments`:

1. data: load, split, check (every bad-input error is raised here, before the model is loaded), DiME-Aug;
2. a resumed run checks ``step_N/training_state.json`` against the current options (model architecture, head,
   classes, trajectory options) — also before loading the model;
3. model: base ALM + LoRA (peft) + head; AdamW; transformers scheduler; ``accelerator.prepare``;
4. loop: ``accelerator.accumulate``, clipping, logging (tensorboard through Accelerate trackers + ``train_log.jsonl``),
   validation every ``eval_steps`` (or epoch) with early stopping on the validation loss, ``save_state`` to
   ``step_N/`` every ``checkpointing_steps``;
5. end: the best (lowest validation loss) adapter + head are restored, the test split is scored against the run's own
   target *and* the human distributions (overall and per ambiguity level, :func:`hf_ambiguity.analysis.alignment.
   alignment_statistics`), and the adapter (peft ``save_pretrained``), head (safetensors), resolved config, JSON +
   markdown summaries are written (optionally pushed, private by default).

Resuming (``--resume_from_checkpoint latest``) restores model/optimizer/scheduler/RNG states, the step counter,
the early-stopping state and the best-so-far adapter + head as of the checkpoint (``step_N/best``), and skips the batches already seen in the interrupted epoch
(``accelerator.skip_first_batches``). The data order is a pure function of ``(seed, epoch)`` (:class:`EpochSampler`)
and every ``DataLoader`` has its own generator, so the global RNG (dropout) sees the same draws as in an
uninterrupted run: on CPU a resumed run ends with the same loss within float tolerance.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from hf_ambiguity.training.checkpoints import (
    STATE_FILE, check_compatible, read_state, resolve_resume, restore_best_snapshot, snapshot_best,
)
from hf_ambiguity.training.config import TrainingArguments
from hf_ambiguity.training.data import DistributionCollator, DistributionRows, TrainingDataError, prepare_data
from hf_ambiguity.training.losses import get_loss
from hf_ambiguity.training.model import MODEL_INPUT_KEYS, DistributionModel, model_fingerprint

__all__ = ["EpochSampler", "TrainState", "train", "save_trained", "FORMAT_VERSION", "TRAINING_CONFIG_FILE",
           "HEAD_FILE", "ADAPTER_DIR"]

FORMAT_VERSION = 2  # 2: the attention head has the reference's projection block (LayerNorm, GELU, dropouts)
TRAINING_CONFIG_FILE = "training_config.json"
HEAD_FILE = "head.safetensors"
ADAPTER_DIR = "adapter"
TRAINABLE_FILE = "trainable.safetensors"


class EpochSampler(Sampler[int]):
    """Row order of an epoch = a pure function of ``(seed, epoch)``: a permutation, or weighted draws with
    replacement when ``weights`` are given (the weighted sampler). ``set_epoch`` is called by Accelerate."""

    def __init__(self, n: int, *, seed: int, weights: Sequence[float] | None = None) -> None:
        self.n, self.seed, self.epoch = int(n), int(seed), 0
        self.weights = None if weights is None else torch.as_tensor(np.asarray(weights, dtype=np.float64))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + self.epoch)
        if self.weights is None:
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.multinomial(self.weights, self.n, replacement=True, generator=g)
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.n


class TrainState:
    """Step counter and early-stopping state, saved in every checkpoint (``register_for_checkpointing``)."""

    def __init__(self) -> None:
        self.completed_steps = 0
        self.best_val_loss = math.inf
        self.best_step = -1
        self.bad_evals = 0
        self.stopped_early = False

    def state_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)


def _trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def _load_trainable(model: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    expected = {n for n, p in model.named_parameters() if p.requires_grad}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state))[:5], sorted(set(state) - expected)[:5]
        raise ValueError(f"{where}: trainable parameters do not match the model (missing {missing}, unexpected "
                         f"{extra}); it was saved from another model/head configuration")
    model.load_state_dict(state, strict=False)


def _flat_for_tracker(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, (int, float, str, bool)) else json.dumps(v)) for k, v in d.items()}


def _run_identity(cfg: TrainingArguments, class_names: Sequence[str], fingerprint: dict[str, Any]) -> dict[str, Any]:
    head = {"kind": cfg.head}
    if cfg.head == "attention":
        head.update({"num_heads": cfg.head_num_heads, "n_classes": len(class_names)})
    return {"base_model": cfg.model, "model_fingerprint": fingerprint, "head": head,
            "class_names": list(class_names), "config": cfg.resolved_config()}


def _evaluate(model, loader, accelerator, n_rows: int) -> np.ndarray:
    """Predicted distributions ``(n_rows, n_classes)`` in row order (``gather_for_metrics`` over processes)."""
    model.eval()
    preds: list[np.ndarray] = []
    idxs: list[np.ndarray] = []
    with torch.no_grad():
        for batch in loader:
            logp = model(**{k: batch[k] for k in MODEL_INPUT_KEYS if k in batch})
            idx, logp = accelerator.gather_for_metrics((batch["index"], logp.float()))
            idxs.append(idx.cpu().numpy())
            preds.append(logp.exp().cpu().numpy())
    model.train()
    idx = np.concatenate(idxs)
    probs = np.concatenate(preds).astype(np.float64)
    out = np.zeros((n_rows, probs.shape[1]))
    out[idx] = probs
    if len(np.unique(idx)) != n_rows:
        raise RuntimeError(f"evaluation covered {len(np.unique(idx))} of {n_rows} rows")
    return out / out.sum(axis=1, keepdims=True)


def _ambiguity(ds) -> list[str] | None:
    from hf_ambiguity.schema import ambiguity_levels

    return ambiguity_levels(ds) if "ambiguity" in ds.column_names else None


def _alignment(pred: np.ndarray, ref: np.ndarray, ambiguity) -> dict[str, Any]:
    from hf_ambiguity.analysis.alignment import alignment_statistics

    return alignment_statistics(pred, ref, ambiguity)


def _loss_value(loss_fn, pred: np.ndarray, target: np.ndarray) -> float:
    logp = torch.log(torch.as_tensor(pred, dtype=torch.float64).clamp_min(1e-12))
    return float(loss_fn(logp, torch.as_tensor(target, dtype=torch.float64)))


def save_trained(unwrapped: DistributionModel, folder: Path, identity: dict[str, Any],
                 extra: dict[str, Any] | None = None) -> None:
    """Adapter (peft ``save_pretrained``) + head (safetensors) + ``training_config.json`` into ``folder``."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    unwrapped.backbone.save_pretrained(str(folder / ADAPTER_DIR))
    if unwrapped.head is not None:
        save_file({k: v.detach().cpu().contiguous() for k, v in unwrapped.head.state_dict().items()},
                  str(folder / HEAD_FILE))
    info = {"format_version": FORMAT_VERSION, **identity, **(extra or {})}
    (folder / TRAINING_CONFIG_FILE).write_text(json.dumps(info, indent=2))


def _dime_line(report: dict[str, Any]) -> str:
    if not report.get("applied"):
        return "off"
    return f"on the training part, {report['rows_before']} -> {report['rows_after']} rows"


def _summary_markdown(results: dict[str, Any]) -> str:
    lines = ["# Training summary", "", f"- base model: `{results['base_model']}`", f"- head: {results['head']}",
             f"- target: `{results['target']}`", f"- split: {results['split']['description']}",
             f"- sizes: {results['split']['sizes']}", f"- DiME-Aug: {_dime_line(results['split']['dime_aug'])}",
             f"- steps: {results['completed_steps']} "
             f"(best validation loss {results['best_val_loss']:.6f} at step {results['best_step']}; "
             f"stopped early: {results['stopped_early']})", ""]
    for name, key in (("against the run's own target", "test_vs_own_target"),
                      ("against the HUMAN test distributions", "test_vs_human")):
        stats = results[key]
        lines += [f"## Test {name} (`{results['target'] if key.endswith('target') else results['human_column']}`)",
                  "", "| subset | n | JS (base 2) ↓ | BC ↑ | argmax acc ↑ |", "|---|---|---|---|---|"]
        rows = [("overall", stats["overall"])] + list(stats["per_level"].items())
        for lvl, s in rows:
            def f(x):
                return "n/a" if x is None else f"{x:.4f}"
            lines.append(f"| {lvl} | {s['n_items']} | {f(s['js_divergence_base2'])} | "
                         f"{f(s['bhattacharyya_coefficient'])} | {f(s['argmax_accuracy'])} |")
        lines.append("")
    return "\n".join(lines)


def train(cfg: TrainingArguments) -> dict[str, Any]:
    """Run training as configured; return the results dict also written to ``eval_results.json``."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from safetensors.torch import load_file, save_file
    from hf_ambiguity.progress import progress_bar as tqdm
    from transformers import AutoConfig, get_scheduler

    out = Path(cfg.output_dir)
    accelerator = Accelerator(
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, mixed_precision=cfg.mixed_precision,
        log_with=None if cfg.report_to == "none" else cfg.report_to, project_dir=str(out),
    )
    main = accelerator.is_main_process

    def say(msg: str) -> None:
        if main:
            print(f"[train] {msg}", flush=True)

    # 1. data (all bad-input checks happen here)
    splits, split_info = prepare_data(cfg)
    class_names = list(split_info.class_names)
    weights = None
    if cfg.weighted_sampler:
        from hf_ambiguity.augment.sampler import dataset_sample_weights
        from hf_ambiguity.training.config import sampler_multipliers

        try:
            weights = dataset_sample_weights(splits["train"], cfg.target, multipliers=sampler_multipliers(cfg))
        except ValueError as err:
            raise TrainingDataError(f"--weighted_sampler: {err}") from None
    say(f"split: {split_info.description}; sizes {split_info.sizes}")

    # 2. identity + resume checks, before the model is loaded
    base_config = AutoConfig.from_pretrained(cfg.model, trust_remote_code=cfg.trust_remote_code)
    identity = _run_identity(cfg, class_names, model_fingerprint(base_config))
    resume_dir = resolve_resume(out, cfg.resume_from_checkpoint)
    if cfg.resume_from_checkpoint == "latest" and resume_dir is None:
        say(f"--resume_from_checkpoint latest: no complete step_N checkpoint in {out} yet, starting afresh")
    if resume_dir is not None:
        check_compatible(read_state(resume_dir)["identity"], identity, what=f"checkpoint {resume_dir}")

    # 3. model, data loaders, optimiser
    set_seed(cfg.seed)
    from hf_ambiguity.training.model import build_model

    model, processor, _ = build_model(cfg, class_names)
    collator = DistributionCollator(processor, class_names, head=cfg.head, include_transcript=cfg.include_transcript,
                                    max_text_tokens=cfg.max_text_tokens, sampling_rate=cfg.sampling_rate)
    augment = None
    if cfg.audio_augment:
        from hf_ambiguity.augment.sampler import RandomAudioAugment

        def augment(y: np.ndarray, item_seed: int) -> np.ndarray:
            return RandomAudioAugment(sampling_rate=cfg.sampling_rate, seed=item_seed)(y)
    rows = {k: DistributionRows(splits[k], target=cfg.target, sampling_rate=cfg.sampling_rate,
                                max_audio_seconds=cfg.max_audio_seconds, seed=cfg.seed,
                                augment=augment if k == "train" else None) for k in ("train", "validation", "test")}

    def loader(k: str, batch_size: int, sampler=None) -> DataLoader:
        g = torch.Generator()
        g.manual_seed(cfg.seed)
        return DataLoader(rows[k], batch_size=batch_size, sampler=sampler, shuffle=False, collate_fn=collator,
                          num_workers=cfg.dataloader_num_workers, generator=g)

    train_sampler = EpochSampler(len(rows["train"]), seed=cfg.seed, weights=weights)
    train_loader = loader("train", cfg.per_device_train_batch_size, train_sampler)
    val_loader = loader("validation", cfg.per_device_eval_batch_size)
    test_loader = loader("test", cfg.per_device_eval_batch_size)

    decay, no_decay = [], []
    for n, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in n.lower() else decay).append(p)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.learning_rate)
    model, optimizer, train_loader, val_loader, test_loader = accelerator.prepare(
        model, optimizer, train_loader, val_loader, test_loader)
    steps_per_epoch = math.ceil(len(train_loader) / cfg.gradient_accumulation_steps)
    max_steps = cfg.max_train_steps or cfg.num_train_epochs * steps_per_epoch
    num_epochs = math.ceil(max_steps / steps_per_epoch)
    scheduler_kwargs = {"num_cycles": cfg.lr_num_cycles} if cfg.lr_scheduler == "cosine_with_restarts" else {}
    lr_scheduler = get_scheduler(
        cfg.lr_scheduler, optimizer=optimizer,
        num_warmup_steps=math.ceil(cfg.warmup_ratio * max_steps) * accelerator.num_processes,
        num_training_steps=max_steps * accelerator.num_processes, scheduler_specific_kwargs=scheduler_kwargs)
    lr_scheduler = accelerator.prepare(lr_scheduler)
    say(f"{accelerator.num_processes} process(es), {len(train_loader)} micro-batches per process per epoch, "
        f"{steps_per_epoch} optimizer steps per epoch, {max_steps} steps ({num_epochs} epochs at most)")
    state = TrainState()
    accelerator.register_for_checkpointing(state)

    def save_hook(models, weights_list, output_dir):
        # only the trainable parameters (LoRA + head): the frozen base model is never copied into checkpoints
        if main:
            save_file(_trainable_state(accelerator.unwrap_model(models[0])), os.path.join(output_dir, TRAINABLE_FILE))
        while weights_list:
            weights_list.pop()

    def load_hook(models, input_dir):
        _load_trainable(accelerator.unwrap_model(models[0]), load_file(os.path.join(input_dir, TRAINABLE_FILE)),
                        input_dir)
        while models:
            models.pop()

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)
    loss_fn = get_loss(cfg.loss, entropy_weight=cfg.entropy_weight)
    log_path, eval_log_path = out / "train_log.jsonl", out / "eval_log.jsonl"

    if main:
        out.mkdir(parents=True, exist_ok=True)
    if cfg.report_to != "none":
        accelerator.init_trackers("hf_ambiguity_train", config=_flat_for_tracker(cfg.resolved_config()))

    start_epoch, skip_batches = 0, 0
    best_dir = out / "best"
    if main:  # the best adapter + head as of the checkpoint (none on a fresh start)
        restore_best_snapshot(resume_dir, best_dir)
    if resume_dir is not None:
        say(f"resuming from {resume_dir}")
        accelerator.load_state(str(resume_dir))
        done_in_epoch = state.completed_steps % steps_per_epoch
        start_epoch = state.completed_steps // steps_per_epoch
        skip_batches = done_in_epoch * cfg.gradient_accumulation_steps
        for path in (log_path, eval_log_path):  # drop lines written after the checkpoint (no duplicates)
            if main and path.is_file():
                kept = [ln for ln in path.read_text().splitlines()
                        if ln.strip() and json.loads(ln)["step"] <= state.completed_steps]
                path.write_text("".join(k + "\n" for k in kept))
    else:
        for path in (log_path, eval_log_path):
            if main and path.is_file():
                path.unlink()

    eval_every = cfg.eval_steps or steps_per_epoch
    val_targets = np.asarray(splits["validation"][cfg.target], dtype=np.float64)

    val_human = np.asarray(splits["validation"][cfg.human_column], dtype=np.float64)
    val_ambiguity = _ambiguity(splits["validation"])

    def evaluate_validation() -> dict[str, Any]:
        """Validation loss + alignment statistics (overall and per ambiguity level) vs own target and human."""
        pred = _evaluate(model, val_loader, accelerator, len(rows["validation"]))
        return {"loss": _loss_value(loss_fn, pred, val_targets),
                "vs_own_target": _alignment(pred, val_targets, val_ambiguity),
                "vs_human": _alignment(pred, val_human, val_ambiguity)}

    def scalars(val: dict[str, Any]) -> dict[str, float]:
        out = {"validation/loss": val["loss"]}
        for ref in ("vs_own_target", "vs_human"):
            for level, stats in [("overall", val[ref]["overall"]), *val[ref]["per_level"].items()]:
                for stat in ("js_divergence_base2", "bhattacharyya_coefficient"):
                    if stats[stat] is not None:
                        out[f"validation_{ref}/{level}/{stat}"] = stats[stat]
        return out

    progress = tqdm(total=max_steps, initial=state.completed_steps, disable=not main, desc="training")
    t0 = time.perf_counter()
    samples_seen = 0
    last_loss = float("nan")
    model.train()
    for epoch in range(start_epoch, num_epochs):
        if state.stopped_early or state.completed_steps >= max_steps:
            break
        rows["train"].set_epoch(epoch)
        train_loader.set_epoch(epoch)
        active = train_loader
        if epoch == start_epoch and skip_batches:
            active = accelerator.skip_first_batches(train_loader, skip_batches)
            if hasattr(active, "set_epoch"):
                active.set_epoch(epoch)
        micro_losses: list[torch.Tensor] = []
        for batch in active:
            with accelerator.accumulate(model):
                logp = model(**{k: batch[k] for k in MODEL_INPUT_KEYS if k in batch})
                loss = loss_fn(logp.float(), batch["target"])
                accelerator.backward(loss)
                if accelerator.sync_gradients and cfg.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad()
            micro_losses.append(loss.detach())
            samples_seen += batch["target"].shape[0]
            if not accelerator.sync_gradients:
                continue
            state.completed_steps += 1
            progress.update(1)
            step_loss = accelerator.gather(torch.stack(micro_losses).mean().reshape(1)).mean().item()
            micro_losses = []
            last_loss = step_loss
            step = state.completed_steps
            if step % cfg.logging_steps == 0 or step == max_steps:
                record = {"step": step, "epoch": epoch, "loss": step_loss, "lr": lr_scheduler.get_last_lr()[0]}
                accelerator.log({"train/loss": step_loss, "train/lr": record["lr"]}, step=step)
                if main:
                    with log_path.open("a") as fh:
                        fh.write(json.dumps(record) + "\n")
            if step % eval_every == 0 or step == max_steps:
                val = evaluate_validation()
                accelerator.log(scalars(val), step=step)
                if main:
                    with eval_log_path.open("a") as fh:
                        fh.write(json.dumps({"step": step, **val}, default=str) + "\n")
                if val["loss"] < state.best_val_loss:
                    state.best_val_loss, state.best_step, state.bad_evals = val["loss"], step, 0
                    if main:
                        save_trained(accelerator.unwrap_model(model), best_dir, identity, {"step": step})
                else:
                    state.bad_evals += 1
                    if cfg.early_stopping_patience and state.bad_evals >= cfg.early_stopping_patience:
                        state.stopped_early = True
                        say(f"early stopping at step {step}: no lower validation loss in {state.bad_evals} evaluations")
            if cfg.checkpointing_steps and step % cfg.checkpointing_steps == 0:
                ckpt = out / f"step_{step}"
                accelerator.save_state(str(ckpt))
                if main:
                    snapshot_best(best_dir, ckpt)
                    (ckpt / STATE_FILE).write_text(json.dumps({"step": step, "identity": identity}, default=str))
                accelerator.wait_for_everyone()
            if state.stopped_early or step >= max_steps:
                break
    progress.close()
    elapsed = time.perf_counter() - t0
    accelerator.wait_for_everyone()

    # 5. restore the best adapter + head, score the test split, save
    unwrapped = accelerator.unwrap_model(model)
    if (best_dir / TRAINING_CONFIG_FILE).is_file():
        _restore_best(unwrapped, best_dir)
    test_pred = _evaluate(model, test_loader, accelerator, len(rows["test"]))
    amb = _ambiguity(splits["test"])
    own = np.asarray(splits["test"][cfg.target], dtype=np.float64)
    human = np.asarray(splits["test"][cfg.human_column], dtype=np.float64)
    results = {
        "base_model": cfg.model, "head": cfg.head, "target": cfg.target, "human_column": cfg.human_column,
        "split": split_info.to_dict(), "completed_steps": state.completed_steps, "max_train_steps": max_steps,
        "steps_per_epoch": steps_per_epoch, "final_train_loss": last_loss, "best_val_loss": state.best_val_loss,
        "best_step": state.best_step, "stopped_early": state.stopped_early,
        "test_loss_vs_own_target": _loss_value(loss_fn, test_pred, own),
        "test_vs_own_target": _alignment(test_pred, own, amb),
        "test_vs_human": _alignment(test_pred, human, amb),
        "train_seconds_this_process_run": elapsed,
        "samples_per_second_this_run": samples_seen * accelerator.num_processes / max(elapsed, 1e-9),
        "num_processes": accelerator.num_processes, "mixed_precision": accelerator.mixed_precision,
    }
    accelerator.log({"test/js_vs_own_target": results["test_vs_own_target"]["overall"]["js_divergence_base2"],
                     "test/js_vs_human": results["test_vs_human"]["overall"]["js_divergence_base2"]},
                    step=state.completed_steps)
    if main:
        save_trained(unwrapped, out, identity, {"split": split_info.to_dict(), "best_step": state.best_step})
        (out / "eval_results.json").write_text(json.dumps(results, indent=2, default=str))
        ids = splits["test"]["id"] if "id" in splits["test"].column_names else list(range(len(rows["test"])))
        with (out / "test_predictions.jsonl").open("w") as fh:
            for i, p in zip(ids, test_pred):
                fh.write(json.dumps({"id": i, "prediction": p.tolist(), "target": cfg.target}) + "\n")
        (out / "summary.md").write_text(_summary_markdown(results))
        say(f"saved adapter + head to {out}; test JS vs own target "
            f"{results['test_vs_own_target']['overall']['js_divergence_base2']:.4f}, vs human "
            f"{results['test_vs_human']['overall']['js_divergence_base2']:.4f}")
        if cfg.push_to_hub:
            _push(out, cfg)
    accelerator.end_training()
    return results


def _restore_best(unwrapped: DistributionModel, best_dir: Path) -> None:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    adapter_file = best_dir / ADAPTER_DIR / "adapter_model.safetensors"
    set_peft_model_state_dict(unwrapped.backbone, load_file(str(adapter_file)))
    if unwrapped.head is not None:
        unwrapped.head.load_state_dict(load_file(str(best_dir / HEAD_FILE)))


def _push(out: Path, cfg: TrainingArguments) -> None:
    """Upload the adapter, head, config and summaries (private unless ``--hub_public``); tokens never printed."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(cfg.hub_model_id, private=not cfg.hub_public, exist_ok=True)
    api.upload_folder(repo_id=cfg.hub_model_id, folder_path=str(out),
                      allow_patterns=[f"{ADAPTER_DIR}/*", HEAD_FILE, TRAINING_CONFIG_FILE, "eval_results.json",
                                      "summary.md"])
    print(f"[train] pushed to https://huggingface.co/{cfg.hub_model_id} ({'public' if cfg.hub_public else 'private'})")
