#!/usr/bin/env python
"""Fine-tune an audio-language model to predict emotion distributions, with Accelerate: a script to copy and edit.

    accelerate launch examples/train.py --dataset <user>/iemocap-ambig --target combined_dist \
        --model Qwen/Qwen2-Audio-7B-Instruct --output_dir outputs/iemocap-combined
    # several CPU processes (gloo), e.g. to try data parallelism without a GPU:
    ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 examples/train.py ... \
        --mixed_precision no --torch_dtype float32

Like transformers' ``run_*_no_trainer.py`` examples, the whole loop is written out here: parse the options, create
the ``Accelerator``, load and check the data, build the model, the optimizer and the schedule, ``prepare`` them,
then loop with ``accelerator.accumulate``, evaluate with early stopping, checkpoint, and save. Each step is one
piece of ``hf_ambiguity.training``; ``hf_ambiguity.training.train`` (what ``hf-ambiguity train`` and the pipeline
launch) runs the same pieces in the same order, and a test checks that both give the same loss trajectory.

``--preset paper`` (the default) is the reference recipe of arXiv 2601.14620; ``--help`` lists every option.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from hf_ambiguity.files import read_json
from hf_ambiguity.training import (
    PRESETS, Evaluator, LossMeter, RunFiles, StepPlan, TrainingCheckpoints, build_model, build_optimizer,
    build_scheduler, check_training_launch, epoch_batches, finished_run, get_loss, make_dataloaders, model_card,
    model_inputs, parse_args, prepare_data, push_to_hub, restore_trained, run_identity, save_trained,
)
from hf_ambiguity.training.checkpoints import check_compatible
from hf_ambiguity.training.train import USER_ERRORS, report_user_error


def run(args) -> dict:
    out = Path(args.output_dir)
    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps, mixed_precision=args.mixed_precision,
        log_with=None if args.report_to == "none" else args.report_to, project_dir=str(out),
    )
    # Refuse a launch whose processes would each train alone, and fp16 on a CPU process.
    check_training_launch(accelerator, args)

    def say(msg: str) -> None:
        if accelerator.is_main_process:
            print(f"[train] {msg}", flush=True)

    # Data: load, split, check (bad input stops here, before the model is loaded), DiME-Aug.
    data = prepare_data(args)
    say(f"split: {data.info.description}; sizes {data.info.sizes}")

    # What this run is (base model, head, classes, options), and the checkpoint to resume from, if any.
    identity = run_identity(args, data.class_names)
    done = finished_run(out) if args.resume_from_checkpoint else None
    if done is not None:  # relaunched after it finished: nothing to do
        check_compatible(done.get("identity") or {}, identity, what=f"the finished run in {out}")
        say(f"{out} already holds this finished run ({done.get('completed_steps')} steps); nothing to do")
        return read_json(out / done["results_file"])
    checkpoints = TrainingCheckpoints(accelerator, out, identity, total_limit=args.save_total_limit, say=say)
    resume_dir = checkpoints.find_resume(args.resume_from_checkpoint)  # checked before any weight is loaded

    # Model (base ALM + LoRA + head), data loaders, optimizer, schedule; Accelerate wraps them.
    set_seed(args.seed)
    model, processor, _ = build_model(args, data.class_names)
    train_loader, val_loader, test_loader = make_dataloaders(args, data, processor)
    optimizer = build_optimizer(model, args)
    model, optimizer, train_loader, val_loader, test_loader = accelerator.prepare(
        model, optimizer, train_loader, val_loader, test_loader)
    plan = StepPlan.for_run(args, train_loader)  # steps per epoch from the sharded loader
    lr_scheduler = accelerator.prepare(build_scheduler(optimizer, args, plan, num_processes=accelerator.num_processes))
    say(f"{accelerator.num_processes} process(es), {len(train_loader)} micro-batches per process per epoch, "
        f"{plan.steps_per_epoch} optimizer steps per epoch, {plan.max_steps} steps ({plan.num_epochs} epochs at most)")

    # Start fresh or restore the checkpoint (weights, optimizer, scheduler, RNG, step, early-stopping state).
    state = checkpoints.start(resume_dir)
    files = RunFiles(out, is_main=accelerator.is_main_process)
    files.start(state.completed_steps if resume_dir is not None else None)
    if args.report_to != "none":
        accelerator.init_trackers("hf_ambiguity_train", config={"preset": args.preset, "target": args.target,
                                                                "learning_rate": args.learning_rate})
    loss_fn = get_loss(args.loss, entropy_weight=args.entropy_weight)
    evaluator = Evaluator(accelerator, data.splits, target=args.target, human_column=args.human_column,
                          loss_fn=loss_fn)
    # A resumed run continues in the epoch it stopped in, after the micro-batches it had already trained on.
    start_epoch, skip = plan.resume_position(completed_steps=state.completed_steps,
                                             gradient_accumulation_steps=args.gradient_accumulation_steps)

    progress = tqdm(total=plan.max_steps, initial=state.completed_steps,
                    disable=not accelerator.is_main_process, desc="training")
    meter, last_loss, t0 = LossMeter(), None, time.perf_counter()
    model.train()
    for epoch in range(start_epoch, plan.num_epochs):
        if state.stopped_early or state.completed_steps >= plan.max_steps:
            break
        for batch in epoch_batches(accelerator, train_loader, epoch, skip if epoch == start_epoch else 0):
            # Inside `accumulate`, Accelerate skips the optimizer and scheduler steps (and the gradient sync) until
            # the last micro-batch of the accumulation window: one optimizer step per accumulated batch.
            with accelerator.accumulate(model):
                loss = loss_fn(model(**model_inputs(batch)).float(), batch["target"])
                accelerator.backward(loss)
                if accelerator.sync_gradients and args.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad()
            meter.add(loss, len(batch["target"]))
            if not accelerator.sync_gradients:
                continue  # mid-window: no optimizer step happened
            state.completed_steps += 1
            step = state.completed_steps
            progress.update(1)
            last_loss = meter.step_loss(accelerator)  # mean over the window's micro-batches and all processes
            if step % args.logging_steps == 0 or step == plan.max_steps:
                lr = lr_scheduler.get_last_lr()[0]
                files.log_step({"step": step, "epoch": epoch, "loss": last_loss, "lr": lr})
                accelerator.log({"train/loss": last_loss, "train/lr": lr}, step=step)
            if plan.is_eval_step(step):  # validation, early stopping, the best adapter + head so far
                val = evaluator.validate(model, val_loader)
                files.log_eval(step, val)
                accelerator.log(evaluator.scalars(val), step=step)
                if state.record_evaluation(val["loss"], step=step, patience=args.early_stopping_patience):
                    if accelerator.is_main_process:
                        save_trained(accelerator.unwrap_model(model), checkpoints.best_dir, identity, {"step": step})
                elif state.stopped_early:
                    say(f"early stopping at step {step}: no lower validation loss in {state.bad_evals} evaluations")
            if args.checkpointing_steps and step % args.checkpointing_steps == 0:
                checkpoints.save(step, state)
            if state.stopped_early or step >= plan.max_steps:
                break
    progress.close()
    elapsed = time.perf_counter() - t0
    accelerator.wait_for_everyone()

    # Score the best adapter + head on the test split, against the run's own target and the human distributions.
    unwrapped = accelerator.unwrap_model(model)
    if (checkpoints.best_dir / "training_config.json").is_file():
        restore_trained(unwrapped, checkpoints.best_dir)
    test_pred, test_scores = evaluator.test(model, test_loader)
    if last_loss is None:  # resumed at the end of the budget: the last logged loss
        last_loss = next((r["loss"] for r in reversed(files.logged_losses())), None)
    rows_seen = meter.rows_seen * accelerator.num_processes
    results = {
        "base_model": args.model, "head": args.head, "target": args.target, "human_column": args.human_column,
        "split": data.info.to_dict(), "completed_steps": state.completed_steps, "max_train_steps": plan.max_steps,
        "steps_per_epoch": plan.steps_per_epoch, "final_train_loss": last_loss,
        "best_val_loss": state.best_val_loss, "best_step": state.best_step, "stopped_early": state.stopped_early,
        **test_scores,
        "train_seconds_this_process_run": elapsed,
        "samples_per_second_this_run": rows_seen / elapsed if rows_seen else None,
        "num_processes": accelerator.num_processes, "mixed_precision": str(accelerator.mixed_precision),
    }

    # Save (main process only): adapter + head + config, results, predictions, summary, model card; then push.
    if accelerator.is_main_process:
        save_trained(unwrapped, out, identity, {"split": data.info.to_dict(), "best_step": state.best_step})
        files.write_results(results, test_ids=evaluator.test_ids(), test_pred=test_pred, target=args.target,
                            card=model_card(results, identity["config"], preset_values=PRESETS[args.preset]),
                            identity=identity)
        say(f"saved adapter + head to {out}; test JS vs human "
            f"{results['test_vs_human']['overall']['js_divergence_base2']:.4f}")
        if args.push_to_hub:
            url = push_to_hub(out, args.hub_model_id, private=not args.hub_public)
            say(f"pushed to {url} ({'public' if args.hub_public else 'private'})")
    accelerator.end_training()
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except USER_ERRORS as err:  # bad input or a launch that cannot work: one clear message, exit status 2
        return report_user_error(err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
