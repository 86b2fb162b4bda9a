"""Multi-process training on the CPU (DDP over gloo) through real launches, tiny random-weight Qwen2-Audio, offline.

Launched side by side: S, one process with per-device batch 4 (``hf-ambiguity train --config_file
examples/configs/cpu.yaml``); D, two processes with per-device batch 2 (``--config_file examples/configs/cpu_ddp.yaml``,
whose ``use_cpu`` makes the processes one gloo group); a launch with two processes but no ``--cpu`` (each process
would train alone: refused); a launch with bad input (its own exit status and message, no traceback). Then K: D's
output folder as a kill while writing ``step_6``'s state file leaves it, resumed by two processes started with plain
``ACCELERATE_USE_CPU=true accelerate launch --multi_gpu`` on ``examples/train.py``.

Why D must equal S: same seed (same initial weights), the same global batch (2 x 2 = 4 rows per micro-batch,
2 micro-batches per optimizer step), Accelerate gives process p the batches p, p + 2, ... of the one data order,
DDP averages the two processes' mean-loss gradients (= the mean over the 4 rows, as the batches are full), the
augmentation of a row depends on (seed, epoch, row) only, and there is no dropout (each process would draw its own
masks). What remains is floating-point summation order: losses agree to ~1e-7 relative here; the tolerance is 1e-5.
One exception among the weights: the key bias of the head's attention has a mathematically zero gradient (softmax
ignores a shift common to all keys), so AdamW turns its float-noise gradient into noise-sized updates (~1e-3 here);
it cannot change any output, which the test-prediction comparison checks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import make_dataset

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "examples" / "configs"
STEPS, CKPT_EVERY, N_TRAIN, N_VAL, N_TEST = 6, 3, 16, 3, 5


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ACCELERATE_USE_CPU"}
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1",
                "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}, **extra)
    return env


def _training_args(dataset: Path, model: Path, out: Path, batch: int) -> list[str]:
    return ["--dataset", str(dataset), "--split", "dataset", "--model", str(model), "--output_dir", str(out),
            "--target", "human_dist", "--mixed_precision", "no", "--torch_dtype", "float32", "--no_dime_aug",
            "--prompt", "project", "--per_device_train_batch_size", str(batch), "--gradient_accumulation_steps", "2",
            "--per_device_eval_batch_size", "2", "--max_train_steps", str(STEPS), "--learning_rate", "5e-3",
            "--checkpointing_steps", str(CKPT_EVERY), "--lora_dropout", "0", "--head_dropout", "0",
            "--report_to", "none"]


def _hf_train(*args: str) -> list[str]:
    return [sys.executable, "-m", "hf_ambiguity", "train", *args]


def _start(cmd: list[str], **env: str) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model):
    import datasets

    root = tmp_path_factory.mktemp("training_distributed")
    ds = make_dataset(N_TRAIN + N_VAL + N_TEST, seconds=0.5)
    dataset = root / "ds"
    datasets.DatasetDict({"train": ds.select(range(N_TRAIN)),
                          "validation": ds.select(range(N_TRAIN, N_TRAIN + N_VAL)),
                          "test": ds.select(range(N_TRAIN + N_VAL, len(ds)))}).save_to_disk(str(dataset))
    out = {k: root / k for k in ("S", "D", "K", "broken", "bad")}
    procs = {
        "S": _start(_hf_train("--config_file", str(CONFIGS / "cpu.yaml"),
                              *_training_args(dataset, tiny_model, out["S"], 4))),
        "D": _start(_hf_train("--config_file", str(CONFIGS / "cpu_ddp.yaml"),
                              *_training_args(dataset, tiny_model, out["D"], 2))),
        "broken": _start(_hf_train("--num_processes", "2", *_training_args(dataset, tiny_model, out["broken"], 2))),
        "bad": _start(_hf_train("--cpu", *_training_args(dataset, tiny_model, out["bad"], 4), "--target", "nope")),
    }
    done = {k: _finish(p) for k, p in procs.items()}
    for k in ("S", "D"):
        assert done[k][0] == 0, f"run {k} failed:\n{done[k][1][-3000:]}\n{done[k][2][-3000:]}"
    # K: D's folder as a kill while writing step_6's state file leaves it (empty state file, nothing after it)
    shutil.copytree(out["D"], out["K"])
    (out["K"] / f"step_{2 * CKPT_EVERY}" / "training_state.json").write_text("")
    for name in ("training_complete.json", "eval_results.json", "test_predictions.jsonl", "summary.md", "README.md",
                 "head.safetensors", "training_config.json"):
        (out["K"] / name).unlink()
    shutil.rmtree(out["K"] / "adapter")
    from hf_ambiguity.training.launch import free_port  # hf-ambiguity train picks one itself; torchrun's is fixed

    k = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                        "--num_machines", "1", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
                        str(REPO / "examples" / "train.py"),
                        *_training_args(dataset, tiny_model, out["K"], 2), "--resume_from_checkpoint", "latest"],
                       env=_env(ACCELERATE_USE_CPU="true"), capture_output=True, text=True, timeout=600)
    assert k.returncode == 0, k.stdout[-3000:] + k.stderr[-3000:]
    done["K"] = (k.returncode, k.stdout, k.stderr)
    return {"out": out, "done": done, "dataset": dataset}


def _log(folder: Path, name: str = "train_log.jsonl") -> list[dict]:
    return [json.loads(x) for x in (folder / name).read_text().splitlines() if x.strip()]


def _weights(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return {**{f"adapter/{k}": v for k, v in load_file(folder / "adapter" / "adapter_model.safetensors").items()},
            **{f"head/{k}": v for k, v in load_file(folder / "head.safetensors").items()}}


def _predictions(folder: Path) -> tuple[list[str], np.ndarray]:
    rows = _log(folder, "test_predictions.jsonl")
    return [r["id"] for r in rows], np.array([r["prediction"] for r in rows])


def test_two_processes_follow_the_one_process_trajectory_and_reach_the_same_weights(runs):
    s, d = runs["out"]["S"], runs["out"]["D"]
    assert "2 process(es), 4 micro-batches per process per epoch" in runs["done"]["D"][1]
    assert "1 process(es), 4 micro-batches per process per epoch" in runs["done"]["S"][1]
    ls, ld = _log(s), _log(d)
    assert [r["step"] for r in ld] == list(range(1, STEPS + 1))
    np.testing.assert_allclose([r["loss"] for r in ld], [r["loss"] for r in ls], rtol=1e-5)
    np.testing.assert_allclose([r["lr"] for r in ld], [r["lr"] for r in ls], rtol=1e-12)
    np.testing.assert_allclose([e["loss"] for e in _log(d, "eval_log.jsonl")],
                               [e["loss"] for e in _log(s, "eval_log.jsonl")], rtol=1e-5)
    ws, wd = _weights(s), _weights(d)
    assert ws.keys() == wd.keys()
    moved = 0
    for name in ws:
        a, b = ws[name], wd[name]
        if name == "head/attention.in_proj_bias":  # query | key | value biases: the key part has no true gradient
            hidden = a.shape[0] // 3
            a, b = np.delete(a, np.s_[hidden:2 * hidden]), np.delete(b, np.s_[hidden:2 * hidden])
        np.testing.assert_allclose(b, a, atol=1e-5, rtol=1e-4, err_msg=name)
        moved += bool(np.abs(a).max() > 0)
    assert moved > len(ws) // 2  # the comparison is about trained weights, not zeros
    rs, rd = (json.loads((f / "eval_results.json").read_text()) for f in (s, d))
    assert (rs["num_processes"], rd["num_processes"]) == (1, 2)
    np.testing.assert_allclose(rd["test_vs_human"]["overall"]["js_divergence_base2"],
                               rs["test_vs_human"]["overall"]["js_divergence_base2"], rtol=1e-5)


def test_evaluation_gathers_every_test_row_exactly_once(runs):
    # 5 test rows, 2 per process per batch: the last batch of process 1 is padded by Accelerate with a repeated row
    ids_d, pred_d = _predictions(runs["out"]["D"])
    ids_s, pred_s = _predictions(runs["out"]["S"])
    import datasets

    expected = datasets.load_from_disk(str(runs["dataset"]))["test"]["id"]
    assert ids_d == ids_s == expected and len(set(ids_d)) == N_TEST
    np.testing.assert_allclose(pred_d, pred_s, atol=1e-5)
    results = json.loads((runs["out"]["D"] / "eval_results.json").read_text())
    assert results["test_vs_human"]["overall"]["n_items"] == N_TEST
    assert all(e["vs_human"]["overall"]["n_items"] == N_VAL for e in _log(runs["out"]["D"], "eval_log.jsonl"))


def test_only_the_main_process_writes(runs):
    d = runs["out"]["D"]
    stdout = runs["done"]["D"][1]
    assert stdout.count("[train] saved adapter + head to") == 1 and stdout.count("[train] split:") == 1
    assert [r["step"] for r in _log(d)] == list(range(1, STEPS + 1))  # one line per step, not one per process
    assert [e["step"] for e in _log(d, "eval_log.jsonl")] == [2, 4, 6]
    ckpt = d / f"step_{CKPT_EVERY}"
    assert sorted(p.name for p in ckpt.glob("random_states_*.pkl")) == ["random_states_0.pkl", "random_states_1.pkl"]
    assert not list(ckpt.glob("custom_checkpoint_*"))  # the train state is JSON, never an executable pickle


def test_a_two_process_run_killed_while_checkpointing_resumes_to_the_same_result(runs):
    d, k = runs["out"]["D"], runs["out"]["K"]
    stdout, stderr = runs["done"]["K"][1], runs["done"]["K"][2]
    assert "is incomplete" in stderr and "skipped, falling back to the previous checkpoint" in stderr
    assert f"resuming from {k / f'step_{CKPT_EVERY}'}" in stdout and "2 process(es)" in stdout
    lk, ld = _log(k), _log(d)
    assert [r["step"] for r in lk] == list(range(1, STEPS + 1))  # no step lost or logged twice
    np.testing.assert_allclose([r["loss"] for r in lk], [r["loss"] for r in ld], rtol=1e-5)
    wd, wk = _weights(d), _weights(k)
    for name in wd:
        np.testing.assert_allclose(wk[name], wd[name], atol=1e-6, rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(_predictions(k)[1], _predictions(d)[1], atol=1e-6)
    assert (k / "training_complete.json").is_file()
    state = json.loads((k / f"step_{2 * CKPT_EVERY}" / "training_state.json").read_text())  # rewritten, complete
    assert state["step"] == 2 * CKPT_EVERY and state["run_id"] == json.loads((d / "run.json").read_text())["run_id"]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="the broken launch is the GPU-less machine's")
def test_several_processes_that_would_each_train_alone_are_refused_before_the_model_loads(runs):
    rc, out, err = runs["done"]["broken"]
    assert rc == 2, out[-2000:] + err[-2000:]
    assert err.count("the launcher started 2 processes (WORLD_SIZE=2) but accelerate runs each of them alone") == 1
    assert "ACCELERATE_USE_CPU=true" in err and "Traceback" not in err + out and "ChildFailedError" not in err
    assert "Loading weights" not in err + out and not runs["out"]["broken"].exists()


def test_bad_input_exits_with_the_scripts_status_and_message_only(runs):
    rc, out, err = runs["done"]["bad"]
    assert rc == 2
    assert err.count("error: split 'train' has no column 'nope'") == 1
    assert "Traceback" not in err + out and "CalledProcessError" not in err
