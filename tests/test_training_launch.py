"""Training through real ``accelerate launch`` subprocesses on the tiny random-weight Qwen2-Audio (CPU, offline).

Three launches of ``examples/train.py`` with the ``paper`` preset (the reference audio augmentation included, whose
seeds a resumed run must repeat; the project prompt, which is much shorter than the reference prompt in the tiny
model's nearly character-level tokenizer): an uninterrupted run (A) and a run killed with SIGKILL right
after its first checkpoint (B) run side by side; then B is resumed (C). A checks that the loss falls when overfitting
8 utterances and that the outputs are complete; C must reproduce A's per-step losses and test scores. The saved
adapter + head are reloaded and predict valid distributions identical to those written at the end of training.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import save_dataset

REPO = Path(__file__).resolve().parents[1]
CPU_CONFIG = REPO / "examples" / "configs" / "cpu.yaml"
STEPS, CKPT_EVERY = 16, 3  # 2 optimizer steps per epoch: step_3 is mid-epoch


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
    return env


def _command(dataset: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CPU_CONFIG),
        "--num_cpu_threads_per_process", "1", str(REPO / "examples" / "train.py"),
        "--dataset", str(dataset), "--model", str(model), "--output_dir", str(out), "--target", "human_dist",
        "--mixed_precision", "no", "--torch_dtype", "float32", "--no_dime_aug",
        "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2", "--per_device_eval_batch_size", "4",
        "--max_train_steps", str(STEPS), "--learning_rate", "5e-3", "--checkpointing_steps", str(CKPT_EVERY),
        "--prompt", "project",
        # less dropout than the reference (0.2 / 0.1) so that a tiny random model can overfit in 16 steps; the LoRA
        # dropout left still draws from the global RNG, which resuming must restore
        "--lora_dropout", "0.05", "--head_dropout", "0",
        *extra,
    ]


def _log(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines() if x.strip()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model):
    root = tmp_path_factory.mktemp("training_launch")
    model = tiny_model
    dataset = save_dataset(root / "ds", 12, seconds=0.5)
    a_out, b_out = root / "run_a", root / "run_b"
    a = subprocess.Popen(_command(dataset, model, a_out), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    b = subprocess.Popen(_command(dataset, model, b_out), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True)
    marker = b_out / f"step_{CKPT_EVERY}" / "training_state.json"
    deadline = time.monotonic() + 240
    while not marker.is_file() and b.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(b.pid, signal.SIGKILL)  # the whole launcher + training process group, like a pre-empted job
    b_output = b.communicate()[0]
    a_output = a.communicate(timeout=300)[0]
    assert a.returncode == 0, a_output[-4000:]
    assert b.returncode == -signal.SIGKILL, f"run B was not killed mid-run (rc {b.returncode}):\n{b_output[-3000:]}"
    killed_at = _log(b_out)[-1]["step"]
    c = subprocess.run(_command(dataset, model, b_out, "--resume_from_checkpoint", "latest"), env=_env(),
                       capture_output=True, text=True, timeout=300)
    assert c.returncode == 0, c.stdout[-3000:] + c.stderr[-3000:]
    return {"model": model, "dataset": dataset, "a": a_out, "b": b_out, "killed_at": killed_at, "c_output": c.stdout}


def test_loss_decreases_when_overfitting_eight_utterances(runs):
    info = json.loads((runs["a"] / "training_config.json").read_text())
    assert info["split"]["sizes"]["train"] == 8
    log = _log(runs["a"])
    assert [r["step"] for r in log] == list(range(1, STEPS + 1))
    # 2 steps per epoch (batch 2 x accumulation 2): each epoch's mean loss covers all 8 utterances once
    per_epoch = [np.mean([r["loss"] for r in log if r["epoch"] == e]) for e in range(STEPS // 2)]
    assert np.mean(per_epoch[-2:]) < 0.75 * np.mean(per_epoch[:2]), per_epoch


def test_optimizer_and_scheduler_step_once_per_accumulated_step(runs):
    # the logged learning rate after optimizer step s must be the schedule's value after exactly s scheduler steps:
    # stepping on every micro-batch (or on the first one) would put it ahead by the accumulation factor
    import torch
    from transformers import get_scheduler

    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=5e-3)
    sched = get_scheduler("cosine_with_restarts", optimizer=opt, num_warmup_steps=3,  # ceil(0.15 x 16)
                          num_training_steps=STEPS, scheduler_specific_kwargs={"num_cycles": 1})
    expected = []
    for _ in range(STEPS):
        opt.step()
        sched.step()
        expected.append(sched.get_last_lr()[0])
    np.testing.assert_allclose([r["lr"] for r in _log(runs["a"])], expected, rtol=1e-9)
    np.testing.assert_allclose([r["lr"] for r in _log(runs["b"])], expected, rtol=1e-9)  # resumed run too


def test_outputs_are_complete_and_evaluated_against_own_target_and_human(runs):
    out = runs["a"]
    assert (out / "adapter" / "adapter_config.json").is_file() and (out / "head.safetensors").is_file()
    results = json.loads((out / "eval_results.json").read_text())
    for key in ("test_vs_own_target", "test_vs_human"):
        assert results[key]["overall"]["n_items"] == results["split"]["sizes"]["test"]
        assert set(results[key]["per_level"]) <= {"low", "medium", "high"} and results[key]["per_level"]
    assert results["target"] == "human_dist" and results["completed_steps"] == STEPS
    assert "random 80/20" in results["split"]["description"]
    summary = (out / "summary.md").read_text()
    assert "HUMAN test distributions" in summary and "own target" in summary and "- DiME-Aug: off" in summary
    assert list((out / "hf_ambiguity_train").rglob("events.out.tfevents.*")), "no tensorboard event file"
    evals = [json.loads(x) for x in (out / "eval_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == list(range(2, STEPS + 1, 2))  # every epoch (2 optimizer steps)
    assert all(e["vs_human"]["overall"]["n_items"] == results["split"]["sizes"]["validation"] for e in evals)
    assert all("per_level" in e["vs_own_target"] for e in evals)
    # --save_total_limit 2 (paper preset): the two newest checkpoints, plus the one saved at the best validation step
    last = STEPS - STEPS % CKPT_EVERY
    best_then = json.loads((out / f"step_{last}" / "training_state.json").read_text())["train_state"]["best_step"]
    kept = {last - CKPT_EVERY, last} | ({best_then} if best_then % CKPT_EVERY == 0 else set())
    assert sorted(p.name for p in out.glob("step_*")) == sorted(f"step_{n}" for n in kept)
    # each checkpoint keeps the best-so-far adapter + head of its own time (what a resumed run restores)
    for ckpt in out.glob("step_*"):
        best_step = json.loads((ckpt / "best" / "training_config.json").read_text())["step"]
        assert best_step <= int(ckpt.name.split("_")[1]) and (ckpt / "best" / "head.safetensors").is_file()


def test_resolved_config_keeps_the_paper_preset_values_not_overridden(runs):
    cfg = json.loads((runs["a"] / "training_config.json").read_text())["config"]
    assert cfg["preset"] == "paper"
    assert (cfg["lora_r"], cfg["lora_alpha"], cfg["head_num_heads"]) == (8, 16, 8)
    assert (cfg["loss"], cfg["effective_entropy_weight"]) == ("js_entropy", 0.08)
    assert cfg["lora_target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert (cfg["lr_scheduler"], cfg["warmup_ratio"], cfg["weight_decay"], cfg["max_grad_norm"]) == (
        "cosine_with_restarts", 0.15, 0.03, 3.0)
    assert cfg["early_stopping_patience"] == 8 and cfg["num_classes"] == 4 and cfg["max_text_tokens"] == 512
    assert (cfg["audio_augment"], cfg["save_total_limit"]) == (True, 2)
    assert (cfg["split"], cfg["test_fraction"], cfg["split_seed"], cfg["validation_fraction"]) == ("random", 0.2, 42,
                                                                                                  0.1)
    # and the command line won where it was given
    assert (cfg["learning_rate"], cfg["per_device_train_batch_size"], cfg["mixed_precision"], cfg["lora_dropout"]) == (
        5e-3, 2, "no", 0.05)


def test_killed_run_resumes_to_the_same_losses_as_an_uninterrupted_run(runs):
    assert runs["killed_at"] < STEPS, "run B finished before it was killed"
    assert json.loads((runs["a"] / "eval_results.json").read_text())["steps_per_epoch"] == 2
    assert "resuming from" in runs["c_output"]
    a, c = _log(runs["a"]), _log(runs["b"])
    assert [r["step"] for r in c] == list(range(1, STEPS + 1))  # no lost or duplicated steps
    evals_b = [json.loads(x)["step"] for x in (runs["b"] / "eval_log.jsonl").read_text().splitlines()]
    assert evals_b == list(range(2, STEPS + 1, 2))
    np.testing.assert_allclose([r["loss"] for r in c], [r["loss"] for r in a], rtol=1e-5, atol=1e-6)
    ra = json.loads((runs["a"] / "eval_results.json").read_text())
    rc = json.loads((runs["b"] / "eval_results.json").read_text())
    np.testing.assert_allclose(rc["final_train_loss"], ra["final_train_loss"], rtol=1e-5)
    for key in ("test_vs_own_target", "test_vs_human"):
        np.testing.assert_allclose(rc[key]["overall"]["js_divergence_base2"], ra[key]["overall"]["js_divergence_base2"],
                                   rtol=1e-5, atol=1e-7)


def test_saved_adapter_and_head_reload_and_predict_the_same_distributions(runs):
    from datasets import load_from_disk

    from hf_ambiguity.training import load_trained, predict_distributions

    model = load_trained(runs["a"])
    saved = [json.loads(x) for x in (runs["a"] / "test_predictions.jsonl").read_text().splitlines()]
    ds = load_from_disk(str(runs["dataset"]))
    ids = ds["id"]
    test = ds.select([ids.index(r["id"]) for r in saved])
    probs = predict_distributions(model, test, progress=False)
    assert probs.shape == (len(saved), 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert (probs >= 0).all()
    np.testing.assert_allclose(probs, [r["prediction"] for r in saved], atol=1e-5)


def test_reload_refuses_another_base_model_or_head(runs, tmp_path):
    from hf_ambiguity.training import load_trained
    from hf_ambiguity.training.checkpoints import CheckpointMismatchError

    with pytest.raises(CheckpointMismatchError, match="holds the 'attention' head, not 'label_token'"):
        load_trained(runs["a"], head="label_token")
    old_format = tmp_path / "old_format"
    old_format.mkdir()
    info = json.loads((runs["a"] / "training_config.json").read_text())
    (old_format / "training_config.json").write_text(json.dumps({**info, "format_version": 1}))
    with pytest.raises(CheckpointMismatchError, match="format_version 1, this hf-ambiguity reads 2"):
        load_trained(old_format)
    other = tmp_path / "other"
    other.mkdir()
    for f in runs["model"].iterdir():
        if f.is_file():
            (other / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((other / "config.json").read_text())
    cfg["text_config"]["intermediate_size"] = 96  # same family, another architecture
    (other / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointMismatchError, match="was trained on .* but base_model .* has architecture"):
        load_trained(runs["a"], base_model=str(other))


def _in_process(runs, out: Path, *extra: str) -> int:
    """Run A's options again, in this process, into ``out`` (train.main: exit status, message on stderr)."""
    from hf_ambiguity.training.train import main

    argv = _command(runs["dataset"], runs["model"], out)
    return main([*argv[argv.index("--dataset"):], "--report_to", "none", *extra])


def test_resume_refuses_a_checkpoint_or_finished_run_of_another_head(runs, capsys, tmp_path):
    rc = _in_process(runs, runs["a"], "--head", "label_token", "--resume_from_checkpoint", "latest")
    err = capsys.readouterr().err
    assert rc == 2 and f"the finished run in {runs['a']} does not match this run" in err
    assert "head: saved {'kind': 'attention'" in err and "--head: saved 'attention', now 'label_token'" in err
    unfinished = tmp_path / "unfinished"  # the same folder before its run finished: its latest checkpoint is checked
    shutil.copytree(runs["a"], unfinished)
    (unfinished / "training_complete.json").unlink()
    rc = _in_process(runs, unfinished, "--head", "label_token", "--resume_from_checkpoint", "latest")
    err = capsys.readouterr().err
    latest = STEPS - STEPS % CKPT_EVERY
    assert rc == 2 and f"checkpoint {unfinished / f'step_{latest}'} does not match this run" in err
    assert "--head: saved 'attention', now 'label_token'" in err


def test_a_finished_run_relaunched_to_resume_does_nothing_and_its_results_stay_valid_json(runs, capsys):
    results = runs["a"] / "eval_results.json"
    before = results.read_bytes()
    assert _in_process(runs, runs["a"], "--resume_from_checkpoint", "latest") == 0
    assert "already holds this finished run (16 steps); nothing to do" in capsys.readouterr().out
    assert results.read_bytes() == before
    parsed = json.loads(before, parse_constant=lambda c: pytest.fail(f"{c} in eval_results.json"))
    assert parsed["samples_per_second_this_run"] > 0 and parsed["final_train_loss"] > 0


def test_the_model_card_names_base_model_target_preset_and_scores_by_level(runs):
    from huggingface_hub import ModelCard

    card = ModelCard.load(runs["a"] / "README.md")
    assert card.data.library_name == "peft" and "hf-ambiguity" in card.data.tags
    assert card.data.base_model is None and card.data.datasets is None  # local folders stay out of the metadata
    text = card.text
    assert "target column: `human_dist`" in text and "preset: `paper`" in text
    assert "`--learning_rate 0.005`" in text and "`--lora_dropout 0.05`" in text  # changed from the preset
    assert "## Test against the HUMAN test distributions (`human_dist`)" in text and "| low |" in text
    assert "## Limits" in text


def test_push_to_hub_uploads_adapter_head_and_card_to_a_private_repo(runs, monkeypatch):
    import huggingface_hub

    from hf_ambiguity.training.card import push_to_hub

    calls = []

    class FakeApi:
        def create_repo(self, repo_id, **kw):
            calls.append(("create_repo", repo_id, kw))

        def upload_folder(self, **kw):
            calls.append(("upload_folder", kw["repo_id"], kw))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    url = push_to_hub(runs["a"], "someone/iemocap-human")
    assert url == "https://huggingface.co/someone/iemocap-human"
    (_, _, create), (_, _, upload) = calls
    assert create["private"] is True and create["repo_type"] == "model"
    patterns = upload["allow_patterns"]
    assert {"adapter/*", "head.safetensors", "README.md", "training_config.json"} <= set(patterns)
    uploaded = [p for p in runs["a"].rglob("*") if p.is_file()
                and any(fnmatch.fnmatch(p.relative_to(runs["a"]).as_posix(), pat) for pat in patterns)]
    assert not [p for p in uploaded if "step_" in str(p) or p.suffix == ".jsonl"]  # no checkpoints, logs, predictions
    push_to_hub(runs["a"], "someone/x", private=False)
    assert calls[2][2]["private"] is False


def test_loading_a_shared_model_never_takes_trust_remote_code_from_its_files(runs, tmp_path):
    from hf_ambiguity.training import load_trained
    from hf_ambiguity.training.checkpoints import CheckpointMismatchError

    shared = tmp_path / "shared"
    shutil.copytree(runs["a"], shared, ignore=shutil.ignore_patterns("step_*"))
    info = json.loads((shared / "training_config.json").read_text())
    info["config"]["trust_remote_code"] = True
    (shared / "training_config.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointMismatchError, match="trained with trust_remote_code .* pass trust_remote_code=True"):
        load_trained(shared)
    assert load_trained(shared, trust_remote_code=True).head == "attention"  # the caller decides
