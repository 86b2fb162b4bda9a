"""Training building blocks, in-process and fast: losses, head, presets/options, splits, bad input, checkpoints,
sampler and collation. The end-to-end runs through ``accelerate launch`` are in ``test_training_launch.py``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from helpers import CLASSES, make_dataset, save_dataset
from hf_ambiguity.training.checkpoints import (
    STATE_FILE, CheckpointMismatchError, check_compatible, find_latest_checkpoint, resolve_resume,
)
from hf_ambiguity.training.config import PRESETS, parse_args
from hf_ambiguity.errors import SplitError
from hf_ambiguity.splits import make_splits
from hf_ambiguity.training.data import EpochSampler, TrainingDataError, prepare_data
from hf_ambiguity.training.head import AttentionPoolingHead
from hf_ambiguity.training.losses import get_loss, js_divergence, kl_divergence, prediction_entropy, soft_cross_entropy

RNG = np.random.default_rng(7)


# ---------------------------------------------------------------------------------------------------- losses

def _pairs(n=6, k=4):
    p = RNG.dirichlet(np.ones(k), size=n)
    q = RNG.dirichlet(np.ones(k), size=n)
    q[0] = [1.0, 0.0, 0.0, 0.0]  # a one-hot target with zeros
    return p, q


def test_losses_match_scipy():
    pred, target = _pairs()
    log_pred = torch.tensor(np.log(pred))
    t = torch.tensor(target)
    js_scipy = np.mean(jensenshannon(pred, target, axis=1) ** 2)  # natural log by default
    assert float(js_divergence(log_pred, t)) == pytest.approx(js_scipy, rel=1e-9)
    assert float(kl_divergence(log_pred, t)) == pytest.approx(np.mean([entropy(a, b) for a, b in zip(target, pred)]))
    ce = np.mean([-(a * np.log(b)).sum() for a, b in zip(target, pred)])
    assert float(soft_cross_entropy(log_pred, t)) == pytest.approx(ce)
    assert float(prediction_entropy(log_pred)) == pytest.approx(np.mean([entropy(b) for b in pred]))


def test_reference_loss_is_js_plus_008_mean_entropy_and_has_finite_gradients():
    pred, target = _pairs()
    log_pred = torch.tensor(np.log(pred), requires_grad=True)
    loss = get_loss("js_entropy")(log_pred, torch.tensor(target))
    expected = np.mean(jensenshannon(pred, target, axis=1) ** 2) + 0.08 * np.mean([entropy(b) for b in pred])
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-9)
    loss.backward()
    assert torch.isfinite(log_pred.grad).all()
    assert get_loss("kl").entropy_weight == 0.0 and get_loss("kl", entropy_weight=0.1).entropy_weight == 0.1
    with pytest.raises(ValueError, match=r"loss must be one of \['js_entropy', 'kl', 'soft_ce'\], got 'mse'"):
        get_loss("mse")


# ------------------------------------------------------------------------------------------------------ head

def test_attention_head_ignores_padding_and_outputs_distributions(one_thread):
    torch.manual_seed(0)
    head = AttentionPoolingHead(16, 4).eval()
    x = torch.randn(1, 5, 16)
    padded = torch.cat([x, torch.randn(1, 3, 16) * 100], dim=1)  # garbage in the padded positions
    mask = torch.tensor([[1] * 5 + [0] * 3])
    a, b = head(x, torch.ones(1, 5)), head(padded, mask)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a.exp().sum(-1), torch.ones(1))
    assert head.attention.num_heads == 8 and head.classifier.out_features == 4 and head.down.out_features == 8
    # the reference's layers: no attention dropout, 0.15 / 0.1 dropout in the residual / projection blocks
    assert head.attention.dropout == 0.0 and (head.block_dropout.p, head.down_dropout.p) == (0.15, 0.1)
    assert [type(m).__name__ for m in head.children()] == [
        "MultiheadAttention", "LayerNorm", "Linear", "Dropout", "GELU", "LayerNorm", "Linear", "Dropout", "LayerNorm",
        "Linear"]


def test_attention_head_pools_the_first_token_of_full_self_attention(one_thread):
    torch.manual_seed(0)
    head = AttentionPoolingHead(16, 4).eval()
    x = torch.randn(2, 6, 16)
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2])
    full, _ = head.attention(x, x, x, key_padding_mask=mask == 0, need_weights=False)  # every query
    pooled = full[:, 0]
    block = pooled + head.act(head.block_linear(head.block_norm(pooled)))  # eval: dropout is the identity
    z = head.act(head.down(head.down_input_norm(block)))
    expected = torch.log_softmax(head.classifier(head.down_norm(z)), dim=-1)
    torch.testing.assert_close(head(x, mask), expected)


def test_attention_head_rejects_bad_shapes():
    with pytest.raises(ValueError, match="hidden_size divisible by num_heads, got hidden_size=20, num_heads=8"):
        AttentionPoolingHead(20, 4)
    with pytest.raises(ValueError, match="at least 2 classes, got n_classes=1"):
        AttentionPoolingHead(16, 1)


@pytest.fixture
def one_thread():
    """Tiny tensors: one intra-op thread avoids thread contention on a loaded machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_attention_head_overfits_fixed_features_with_the_reference_loss(one_thread):
    torch.manual_seed(0)
    head = AttentionPoolingHead(16, 4, dropout=0.0)
    x = torch.randn(8, 6, 16)
    target = torch.full((8, 4), 0.1 / 3)
    target[torch.arange(8), torch.arange(8) % 4] = 0.9
    loss_fn, opt = get_loss("js_entropy"), torch.optim.AdamW(head.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = loss_fn(head(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


# ------------------------------------------------------------------------------------------- options/presets

def test_paper_preset_is_the_reference_recipe():
    cfg = parse_args(["--dataset", "d"]).resolved_config()
    expected = {
        "preset": "paper", "model": "Qwen/Qwen2-Audio-7B-Instruct", "torch_dtype": "float16",
        "mixed_precision": "fp16", "head": "attention", "head_num_heads": 8, "head_dropout": None, "lora_r": 8, "lora_alpha": 16,
        "lora_dropout": 0.2, "lora_target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"], "loss": "js_entropy",
        "effective_entropy_weight": 0.08, "learning_rate": 2.5e-6, "lr_scheduler": "cosine_with_restarts",
        "warmup_ratio": 0.15, "weight_decay": 0.03, "max_grad_norm": 3.0, "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 8, "num_train_epochs": 60, "early_stopping_patience": 8,
        "sampling_rate": 16000, "max_audio_seconds": 30.0, "max_text_tokens": 512, "validation_fraction": 0.1,
        "dime_aug": True, "split": "random", "test_fraction": 0.2, "split_seed": 42, "num_classes": 4,
        "target": "combined_dist", "hub_public": False, "trust_remote_code": False,
        "audio_augment": True, "prompt": "reference", "save_total_limit": 2,
    }
    assert {k: cfg[k] for k in expected} == expected
    json.dumps(cfg)


def test_command_line_overrides_preset_and_flags_are_store_true():
    cfg = parse_args(["--dataset", "d", "--preset", "project", "--no_dime_aug", "--gradient_checkpointing",
                      "--lora_target_modules", "q_proj", "v_proj", "--learning_rate", "1e-4"])
    assert (cfg.split, cfg.dime_aug, cfg.gradient_checkpointing) == ("speaker", False, True)
    assert cfg.lora_target_modules == ("q_proj", "v_proj") and cfg.learning_rate == 1e-4
    assert PRESETS["project"] == {"split": "speaker"}


@pytest.mark.parametrize("argv, message", [
    (["--target", "x"], "--dataset is required"),
    (["--dataset", "d", "--validation_fraction", "1.5"], r"--validation_fraction must be in \[0, 1\), got 1.5"),
    (["--dataset", "d", "--gradient_accumulation_steps", "0"], "--gradient_accumulation_steps must be at least 1"),
    (["--dataset", "d", "--push_to_hub"], "--push_to_hub needs --hub_model_id"),
    (["--dataset", "d", "--loss", "mse"], "invalid choice: 'mse'"),
    (["--dataset", "d", "--weighted_sampler", "--sampler_multipliers", "angry"], "'angry' is not CLASS=FACTOR"),
    (["--dataset", "d", "--weighted_sampler", "--sampler_multipliers", "angry=-1"], "'angry=-1' is not CLASS=FACTOR"),
    (["--dataset", "d", "--sampler_multipliers", "angry=1.3"], "--sampler_multipliers needs --weighted_sampler"),
])
def test_bad_options_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert re.search(message, capsys.readouterr().err)


# ---------------------------------------------------------------------------------------------------- splits

def test_random_split_is_80_20_by_utterance_and_seeded():
    from datasets import DatasetDict

    ds = DatasetDict({"train": make_dataset(20, seconds=0.5)})
    a, desc = make_splits(ds, kind="random", seed=42)
    b, _ = make_splits(ds, kind="random", seed=42)
    assert (len(a["train"]), len(a["test"])) == (16, 4) and a["test"]["id"] == b["test"]["id"]
    assert "random 80/20" in desc and "seed 42" in desc


def test_speaker_split_holds_out_an_iemocap_session_or_uses_msp_partitions():
    from datasets import DatasetDict

    ds = make_dataset(12, seconds=0.5)
    parts, desc = make_splits(DatasetDict({"train": ds}), kind="speaker", test_session=2)
    assert set(parts["test"]["session"]) == {2} and set(parts["train"]["session"]) == {1}
    assert "leave-one-session-out" in desc
    with pytest.raises(SplitError, match=r"--test_session 5: no row has session 5 \(sessions present: \[1, 2\]\)"):
        make_splits(DatasetDict({"train": ds}), kind="speaker", test_session=5)
    msp = ds.remove_columns("session").add_column("split", ["Train"] * 8 + ["Development"] * 2 + ["Test1"] * 2)
    parts, desc = make_splits(DatasetDict({"train": msp}), kind="speaker")
    assert [len(parts[k]) for k in ("train", "validation", "test")] == [8, 2, 2] and "official partitions" in desc
    with pytest.raises(SplitError, match="needs a 'session' column .* or a 'split' column"):
        make_splits(DatasetDict({"train": ds.remove_columns("session")}), kind="speaker")


# ----------------------------------------------------------------------------------------- bad input, early

def _cfg(tmp_path: Path, dataset: Path, *extra: str):
    # --model points nowhere: every check below must fire before any model is loaded
    return parse_args(["--dataset", str(dataset), "--model", str(tmp_path / "no-model"), "--target", "human_dist",
                       "--no_dime_aug", "--output_dir", str(tmp_path / "out"), *extra])


def _saved(tmp_path: Path, ds) -> Path:
    ds.save_to_disk(str(tmp_path / "ds"))
    return tmp_path / "ds"


def test_prepare_data_reports_the_split_and_holds_out_validation(tmp_path):
    info = prepare_data(_cfg(tmp_path, save_dataset(tmp_path / "ds", 20, seconds=0.5))).info
    assert info.sizes == {"train": 14, "test": 4, "validation": 2}
    assert "10% of the training part held out" in info.description and info.class_names == tuple(CLASSES)


def test_local_parquet_folder_loads_through_load_dataset(tmp_path):
    from hf_ambiguity.training.data import load_any_dataset

    (tmp_path / "hub" / "data").mkdir(parents=True)
    make_dataset(6, seconds=0.5).to_parquet(str(tmp_path / "hub" / "data" / "train-00000-of-00001.parquet"))
    loaded = load_any_dataset(str(tmp_path / "hub"))
    assert list(loaded) == ["train"] and len(loaded["train"]) == 6
    assert loaded["train"].features["majority_label"].names == CLASSES
    with pytest.raises(TrainingDataError, match="no local folder or reachable Hub dataset"):
        load_any_dataset(str(tmp_path / "missing"))


def test_missing_target_column_is_refused(tmp_path):
    ds = make_dataset(12, seconds=0.5).remove_columns("synthetic_dist")
    cfg = _cfg(tmp_path, _saved(tmp_path, ds), "--target", "synthetic_dist")
    with pytest.raises(TrainingDataError, match="split 'train' has no column 'synthetic_dist'"):
        prepare_data(cfg)


def test_missing_human_column_names_the_human_column_option(tmp_path):
    # every model is also scored against the human distributions: a missing one is refused before training
    cfg = _cfg(tmp_path, save_dataset(tmp_path / "ds", 12, seconds=0.5), "--human_column", "gold_dist")
    with pytest.raises(TrainingDataError, match=r"split 'validation' has no column 'gold_dist' .*pick --human_column"):
        prepare_data(cfg)


def test_non_distribution_rows_are_refused_naming_split_row_and_id(tmp_path):
    ds = make_dataset(12, seconds=0.5)
    bad = ds.map(lambda r: {"human_dist": [0.5, 0.5, 0.5, 0.0] if r["id"] == "utt0004" else r["human_dist"]})
    with pytest.raises(TrainingDataError, match=r"split '\w+' row \d+ \(id 'utt0004'\): human_dist row \d+ does not "
                                                r"sum to 1"):
        prepare_data(_cfg(tmp_path, _saved(tmp_path, bad)))


def test_dime_aug_input_errors_are_training_data_errors_before_the_model(tmp_path):
    ds = make_dataset(12, seconds=0.5)
    ds = ds.add_column("augmented", [False] * len(ds))  # already a DiME-Aug output
    with pytest.raises(TrainingDataError, match=r"DiME-Aug on split 'train': .*already has DiME-Aug columns.*"
                                                r"--no_dime_aug"):
        prepare_data(_cfg(tmp_path, _saved(tmp_path, ds), "--dime_aug"))


def test_sampler_multiplier_of_an_unknown_class_is_refused_before_the_model_loads(tmp_path):
    from hf_ambiguity.training.loop import train

    from accelerate.state import AcceleratorState, GradientState

    cfg = _cfg(tmp_path, save_dataset(tmp_path / "ds", 12, seconds=0.5), "--weighted_sampler", "--sampler_multipliers",
               "angry=1.3", "bored=2", "--report_to", "none", "--mixed_precision", "no", "--torch_dtype", "float32")
    assert dict(x.split("=") for x in cfg.resolved_config()["sampler_multipliers"]) == {"angry": "1.3", "bored": "2"}
    try:
        with pytest.raises(TrainingDataError, match=r"--weighted_sampler: multiplier for unknown class 'bored'; "
                                                    r"classes are \['neutral', 'happy', 'angry', 'sad'\]"):
            train(cfg)  # --model points nowhere: the multipliers are checked first
    finally:  # train() stopped before end_training: leave no Accelerate state to the next test
        AcceleratorState._reset_state(True)
        GradientState._reset_state()


def test_vectors_of_the_wrong_length_are_refused(tmp_path):
    ds = make_dataset(12, seconds=0.5).map(lambda r: {"human_dist": r["human_dist"][:3] + [0.0, 0.0]})
    with pytest.raises(TrainingDataError, match=r"'human_dist' has 5 entries but the class set has 4"):
        prepare_data(_cfg(tmp_path, _saved(tmp_path, ds)))


def test_class_count_other_than_the_preset_is_refused(tmp_path):
    with pytest.raises(TrainingDataError, match=r"the dataset has 4 classes .* but --num_classes is 3"):
        prepare_data(_cfg(tmp_path, save_dataset(tmp_path / "ds", 12, seconds=0.5), "--num_classes", "3"))


def test_empty_split_is_refused(tmp_path):
    ds = make_dataset(12, seconds=0.5).map(lambda r: {"session": 2})  # every speaker in the held-out session
    with pytest.raises(TrainingDataError, match=r"split 'train' is empty \(speaker-independent: IEMOCAP "
                                                r"leave-one-session-out, session 2 is the test set\)"):
        prepare_data(_cfg(tmp_path, _saved(tmp_path, ds), "--split", "speaker", "--test_session", "2"))


# ------------------------------------------------------------------------------------------------ checkpoints

def test_latest_checkpoint_is_the_highest_complete_step(tmp_path):
    for n in (3, 12, 9, 30):
        (tmp_path / f"step_{n}").mkdir()
        if n != 30:  # step_30 was killed while saving
            (tmp_path / f"step_{n}" / STATE_FILE).write_text("{}")
    assert find_latest_checkpoint(tmp_path).name == "step_12"
    assert resolve_resume(tmp_path, "latest").name == "step_12"
    assert resolve_resume(tmp_path / "empty", "latest") is None and resolve_resume(tmp_path, None) is None
    with pytest.raises(FileNotFoundError, match="no such folder"):
        resolve_resume(tmp_path, str(tmp_path / "step_99"))
    with pytest.raises(CheckpointMismatchError, match="is incomplete"):
        resolve_resume(tmp_path, str(tmp_path / "step_30"))


def test_resume_restores_the_best_weights_of_the_checkpoint_not_of_the_killed_run(tmp_path):
    from hf_ambiguity.training.checkpoints import restore_best_snapshot, snapshot_best

    best, ckpt = tmp_path / "best", tmp_path / "step_4"
    best.mkdir()
    (best / "head.safetensors").write_text("step 2")
    ckpt.mkdir()
    snapshot_best(best, ckpt)
    (best / "head.safetensors").write_text("step 6")  # the run went on, improved at step 6, then was killed
    restore_best_snapshot(ckpt, best)
    assert (best / "head.safetensors").read_text() == "step 2"
    restore_best_snapshot(None, best)  # a fresh run never restores an earlier run's best weights
    assert not best.exists()
    restore_best_snapshot(tmp_path / "step_2", best)  # a checkpoint saved before any evaluation: no best yet
    assert not best.exists()


def test_checkpoint_of_another_model_or_configuration_is_refused():
    saved = {"base_model": "a", "model_fingerprint": {"sha256": "1", "architecture": {}}, "head": {"kind": "attention"},
             "class_names": CLASSES, "config": {"learning_rate": 1e-3, "seed": 1}}
    check_compatible(saved, json.loads(json.dumps(saved)), what="checkpoint x")
    now = {**saved, "model_fingerprint": {"sha256": "2", "architecture": {}}, "config": {"learning_rate": 2e-3,
                                                                                          "seed": 1}}
    with pytest.raises(CheckpointMismatchError, match=r"(?s)base model: saved from 'a'.*--learning_rate: saved 0.001"):
        check_compatible(saved, now, what="checkpoint x")


def test_an_empty_or_missing_state_file_is_skipped_and_the_previous_checkpoint_used(tmp_path, caplog):
    from hf_ambiguity.files import write_json

    for n in (3, 6, 9):
        (tmp_path / f"step_{n}").mkdir()
    write_json(tmp_path / "step_3" / STATE_FILE, {"step": 3})
    (tmp_path / "step_6" / STATE_FILE).write_text("")  # a kill or a full disk while writing it
    # step_9: killed before its state file was written
    with caplog.at_level("WARNING"):
        assert find_latest_checkpoint(tmp_path).name == "step_3"
    assert "step_9 is incomplete (no training_state.json" in caplog.text
    assert "step_6 is incomplete (training_state.json is empty or cut short" in caplog.text
    with pytest.raises(CheckpointMismatchError, match="step_6.*is incomplete"):
        resolve_resume(tmp_path, str(tmp_path / "step_6"))


def test_a_checkpoint_is_loaded_only_when_this_run_wrote_it_and_nothing_changed_since(tmp_path):
    from hf_ambiguity.training.checkpoints import (
        TrainState, new_run_id, read_run_id, verify_checkpoint, write_checkpoint_state,
    )

    run_id = new_run_id(tmp_path)
    assert read_run_id(tmp_path) == run_id and len(run_id) == 32
    ckpt = tmp_path / "step_2"
    ckpt.mkdir()
    (ckpt / "optimizer.bin").write_bytes(b"state")
    state = TrainState()
    state.record_evaluation(0.5, step=2, patience=0)
    write_checkpoint_state(ckpt, step=2, run_id=run_id, identity={"head": "x"}, train_state=state)
    saved = verify_checkpoint(ckpt, run_id=run_id)
    restored = TrainState()
    restored.load_state_dict(saved["train_state"])
    assert (restored.best_step, restored.best_val_loss) == (2, 0.5)
    with pytest.raises(CheckpointMismatchError, match="was not written by the run of this output folder"):
        verify_checkpoint(ckpt, run_id="another-run")
    with pytest.raises(CheckpointMismatchError, match="was not written by the run"):
        verify_checkpoint(ckpt, run_id=None)  # no run.json: a folder copied in without its run
    (ckpt / "custom_checkpoint_0.pkl").write_bytes(b"pickled code")
    with pytest.raises(CheckpointMismatchError, match=r"changed after it was written .*added \['custom_checkpoint_0"):
        verify_checkpoint(ckpt, run_id=run_id)
    (ckpt / "custom_checkpoint_0.pkl").unlink()
    (ckpt / "optimizer.bin").write_bytes(b"other")
    with pytest.raises(CheckpointMismatchError, match=r"changed \['optimizer.bin'\]"):
        verify_checkpoint(ckpt, run_id=run_id)
    fresh = TrainState()  # no evaluation yet: JSON null, not the invalid token Infinity
    assert fresh.state_dict()["best_val_loss"] is None


def test_rotation_keeps_the_newest_checkpoints_and_the_best_one(tmp_path):
    from hf_ambiguity.files import write_json
    from hf_ambiguity.training.checkpoints import rotate_checkpoints

    for n in (2, 4, 6, 8, 10, 11):
        (tmp_path / f"step_{n}").mkdir()
        if n != 4 and n != 11:
            write_json(tmp_path / f"step_{n}" / STATE_FILE, {"step": n})
    removed = rotate_checkpoints(tmp_path, limit=2, best_step=2)
    assert sorted(p.name for p in tmp_path.glob("step_*")) == ["step_10", "step_11", "step_2", "step_8"]
    assert sorted(p.name for p in removed) == ["step_4", "step_6"]  # step_4: an old incomplete one
    rotate_checkpoints(tmp_path, limit=None, best_step=None)  # no limit: every complete checkpoint stays
    assert sorted(p.name for p in tmp_path.glob("step_*")) == ["step_10", "step_11", "step_2", "step_8"]


def test_finished_runs_are_recognised_and_logs_never_hold_nan(tmp_path):
    from hf_ambiguity.training.outputs import RunFiles, finished_run

    files = RunFiles(tmp_path, is_main=True)
    files.start(None)
    files.log_step({"step": 1, "epoch": 0, "loss": float("nan"), "lr": 1e-3})
    assert json.loads((tmp_path / "train_log.jsonl").read_text())["loss"] is None
    assert finished_run(tmp_path) is None
    results = {"completed_steps": 1, "best_val_loss": float("inf"), "samples_per_second_this_run": float("nan"),
               "split": {"description": "d", "sizes": {}, "dime_aug": {}}, "base_model": "m", "head": "attention",
               "target": "t", "human_column": "h", "best_step": -1, "stopped_early": False,
               **{k: {"overall": {"n_items": 1, "js_divergence_base2": float("nan"), "bhattacharyya_coefficient": None,
                                  "argmax_accuracy": None}, "per_level": {}} for k in ("test_vs_own_target",
                                                                                      "test_vs_human")}}
    files.write_results(results, test_ids=["a"], test_pred=np.array([[0.5, 0.5]]), target="t", identity={"x": 1})
    stored = json.loads((tmp_path / "eval_results.json").read_text())  # strict JSON: NaN/inf are null
    assert stored["best_val_loss"] is None and stored["samples_per_second_this_run"] is None
    assert finished_run(tmp_path)["completed_steps"] == 1
    with (tmp_path / "train_log.jsonl").open("a") as fh:  # step 2's line, then a kill in the middle of step 3's
        fh.write('{"step": 2, "loss": 0.5}\n{"step": 3, "lo')
    files.start(1)  # a run resumed from step 1 in this folder: not finished until it writes the marker again
    assert finished_run(tmp_path) is None
    assert [json.loads(x)["step"] for x in (tmp_path / "train_log.jsonl").read_text().splitlines()] == [1]
    assert not RunFiles(tmp_path / "other", is_main=False).start(None) and not (tmp_path / "other").exists()


# ------------------------------------------------------------------------------------------------ launch checks

def _accelerator(device: str, mixed_precision: str = "no", num_processes: int = 1):
    from types import SimpleNamespace

    return SimpleNamespace(device=torch.device(device), mixed_precision=mixed_precision, num_processes=num_processes)


def test_fp16_on_a_cpu_process_is_refused_with_the_flags_that_fix_it(monkeypatch):
    from hf_ambiguity.distributed import LaunchError
    from hf_ambiguity.training.launch import check_training_launch

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
    cpu32 = parse_args(["--dataset", "d", "--mixed_precision", "no", "--torch_dtype", "float32"])
    check_training_launch(_accelerator("cpu"), cpu32)
    with pytest.raises(LaunchError, match=r"runs on the CPU \(no GPU is visible\) but asks for mixed precision fp16 "
                                          r".*single_gpu.yaml.*--mixed_precision no --torch_dtype float32"):
        check_training_launch(_accelerator("cpu", "fp16"), cpu32)  # e.g. the single-GPU accelerate config
    with pytest.raises(LaunchError, match="--torch_dtype float16"):
        check_training_launch(_accelerator("cpu"), parse_args(["--dataset", "d", "--mixed_precision", "no"]))
    check_training_launch(_accelerator("cuda", "fp16"), parse_args(["--dataset", "d"]))  # fp16 on a GPU: fine
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(LaunchError, match="started 2 processes .* each training process would do all the work"):
        check_training_launch(_accelerator("cpu"), cpu32)


def test_cpu_processes_get_the_environment_variable_that_makes_them_one_group(tmp_path, monkeypatch):
    from hf_ambiguity.training import launch
    from hf_ambiguity.training.launch import LauncherOptions, accelerate_launch_args

    monkeypatch.setattr(launch, "_default_config_exists", lambda: True)  # the user ran `accelerate config`
    assert accelerate_launch_args(LauncherOptions()) == ([], {})  # nothing given: the saved defaults apply
    args, _ = accelerate_launch_args(LauncherOptions(num_processes=1))  # the pipeline: one process, explicitly
    assert args[:2] == ["--num_processes", "1"]

    repo = Path(__file__).parents[1]
    args, env = accelerate_launch_args(LauncherOptions(config_file=str(repo / "examples/configs/cpu_ddp.yaml")))
    assert env == {"ACCELERATE_USE_CPU": "true"} and "--multi_gpu" not in args  # the config is MULTI_GPU already
    args, env = accelerate_launch_args(LauncherOptions(num_processes=4))  # GPUs: no CPU variable
    assert env == {} and "--multi_gpu" in args and args[args.index("--num_processes") + 1] == "4"
    ports = {accelerate_launch_args(LauncherOptions(num_processes=2))[0][-2] for _ in range(3)}
    assert len(ports) > 1  # not torchrun's fixed 29500: two runs on one machine do not collide
    args, env = accelerate_launch_args(LauncherOptions(cpu=True))
    assert env == {"ACCELERATE_USE_CPU": "true"} and "--cpu" in args and "--multi_gpu" not in args
    args, _ = accelerate_launch_args(LauncherOptions(num_processes=2, num_machines=2, machine_rank=1,
                                                     main_process_ip="10.0.0.1", main_process_port=29500))
    assert args[args.index("--machine_rank") + 1] == "1" and args[args.index("--main_process_ip") + 1] == "10.0.0.1"


def test_hf_ambiguity_train_passes_the_training_options_on_unchanged(monkeypatch):
    from hf_ambiguity import cli
    from hf_ambiguity.training import launch

    seen = {}
    monkeypatch.setattr(launch, "launch_training", lambda argv, opts: seen.update(argv=argv, opts=opts) or 7)
    argv = ["--dataset", "d", "--preset", "project", "--no_dime_aug", "--lora_target_modules", "q_proj", "v_proj",
            "--learning_rate", "1e-4", "--resume_from_checkpoint", "latest", "--weighted_sampler"]
    assert cli.main(["train", "--num_processes", "2", "--cpu", *argv]) == 7  # the script's exit status
    assert (seen["opts"].num_processes, seen["opts"].cpu, seen["opts"].config_file) == (2, True, None)
    assert parse_args(seen["argv"]) == parse_args(argv)
    with pytest.raises(SystemExit):  # option errors before anything is launched
        cli.main(["train", "--dataset", "d", "--validation_fraction", "2"])


# ------------------------------------------------------------------------------------------ sampler, collator

# ------------------------------------------------------------------------------------------ sampler, collator

def test_epoch_sampler_order_depends_only_on_seed_and_epoch():
    s = EpochSampler(10, seed=3)
    s.set_epoch(2)
    first = list(s)
    t = EpochSampler(10, seed=3)
    t.set_epoch(2)
    assert list(t) == first and sorted(first) == list(range(10))
    t.set_epoch(3)
    assert list(t) != first
    w = EpochSampler(10, seed=3, weights=[0.0] * 9 + [1.0])
    assert set(w) == {9}


def test_collator_truncates_the_transcript_to_the_text_budget(tiny_model):
    from transformers import AutoProcessor

    from hf_ambiguity.training.data import DistributionCollator

    proc = AutoProcessor.from_pretrained(tiny_model)
    col = DistributionCollator(proc, CLASSES, max_text_tokens=400)
    rows = [{"index": i, "audio": np.zeros(8000, np.float32), "transcript": "wonderful " * (200 * i),
             "target": np.full(4, 0.25, np.float32)} for i in range(2)]
    batch = col(rows)
    audio_tokens = int((batch["input_ids"][0] == proc.audio_token_id).sum())
    text_lengths = batch["attention_mask"].sum(1) - audio_tokens
    assert int(text_lengths.max()) <= 400
    assert int(text_lengths[1]) > int(text_lengths[0])
    assert batch["attention_mask"][0, -1] == 0 and batch["attention_mask"][1, -1] == 1  # right padding
    assert batch["target"].shape == (2, 4)
    with pytest.raises(ValueError, match="--max_text_tokens 10 is below the project prompt.s own length"):
        DistributionCollator(proc, CLASSES, max_text_tokens=10)


# ------------------------------------------------------------------------------------------- early stopping

def test_early_stopping_on_validation_loss_keeps_the_best_step(tmp_path, tiny_model, one_thread):
    from hf_ambiguity.training.loop import train

    model = tiny_model
    cfg = parse_args(["--dataset", str(save_dataset(tmp_path / "ds", 12, seconds=0.5)), "--model", str(model),
                      "--output_dir", str(tmp_path / "out"), "--target", "human_dist", "--no_dime_aug",
                      "--mixed_precision", "no", "--torch_dtype", "float32", "--report_to", "none",
                      "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1",
                      "--learning_rate", "0", "--early_stopping_patience", "2", "--max_train_steps", "20",
                      "--split", "random", "--prompt", "project"])
    results = train(cfg)  # lr 0: the validation loss never improves after the first evaluation
    assert results["stopped_early"] and results["completed_steps"] == 6  # evaluations at steps 2, 4, 6
    assert results["best_step"] == 2
    assert json.loads((tmp_path / "out" / "best" / "training_config.json").read_text())["step"] == 2


# ------------------------------------------------------------------------------------------- label-token head

def test_label_token_head_gives_distributions_and_trains_only_lora(tiny_model, one_thread):
    from datasets import Audio

    from hf_ambiguity.training.data import DistributionCollator, DistributionRows
    from hf_ambiguity.training.model import MODEL_INPUT_KEYS, build_model

    cfg = parse_args(["--dataset", "d", "--model", str(tiny_model),
                      "--torch_dtype", "float32", "--head", "label_token"])
    torch.manual_seed(0)
    model, processor, _ = build_model(cfg, CLASSES)
    assert model.head is None and all("lora_" in n for n, p in model.named_parameters() if p.requires_grad)
    ds = make_dataset(3, seconds=0.5).cast_column("audio", Audio(sampling_rate=16000))
    rows = DistributionRows(ds, target="human_dist", sampling_rate=16000, max_audio_seconds=30.0)
    batch = DistributionCollator(processor, CLASSES, head="label_token")([rows[i] for i in range(3)])
    assert (batch["attention_mask"][:, -1] == 1).all()  # left padding: the answer follows the last prompt token
    log_p = model(**{k: batch[k] for k in MODEL_INPUT_KEYS})
    torch.testing.assert_close(log_p.exp().sum(-1), torch.ones(3))
    get_loss("js_entropy")(log_p, batch["target"]).backward()
    grads = [p.grad for n, p in model.named_parameters() if "lora_B" in n]
    assert grads and all(g is not None for g in grads) and any(float(g.abs().sum()) > 0 for g in grads)


# ------------------------------------------------------------------------------- examples/train.py = train()

def test_the_example_script_and_the_library_loop_give_the_same_trajectory(tmp_path, tiny_model, one_thread):
    """examples/train.py writes the loop out for users to copy; it must not drift from hf_ambiguity.training.train
    (same pieces, same order): same losses, learning rates, validation losses and test scores, with dropout and
    audio augmentation on (both draw from the same seeded streams in the same order), accumulation and a checkpoint."""
    import importlib.util

    from accelerate.state import AcceleratorState, GradientState

    from hf_ambiguity.training.loop import train

    spec = importlib.util.spec_from_file_location("example_train", Path(__file__).parents[1] / "examples" / "train.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    dataset = save_dataset(tmp_path / "ds", 12, seconds=0.5)

    def cfg(out: str):
        return parse_args(["--dataset", str(dataset), "--model", str(tiny_model), "--output_dir", str(tmp_path / out),
                           "--target", "human_dist", "--no_dime_aug", "--mixed_precision", "no", "--torch_dtype",
                           "float32", "--report_to", "none", "--prompt", "project", "--per_device_train_batch_size",
                           "2", "--gradient_accumulation_steps", "2", "--max_train_steps", "4",
                           "--learning_rate", "5e-3", "--checkpointing_steps", "3"])

    results = {}
    for name, run in (("library", train), ("example", example.run)):
        try:
            results[name] = run(cfg(name))
        finally:
            AcceleratorState._reset_state(True)
            GradientState._reset_state()
    logs = {n: [json.loads(x) for x in (tmp_path / n / "train_log.jsonl").read_text().splitlines()] for n in results}
    assert [r["step"] for r in logs["example"]] == [1, 2, 3, 4]
    for key in ("loss", "lr", "epoch"):
        np.testing.assert_allclose([r[key] for r in logs["example"]], [r[key] for r in logs["library"]], rtol=1e-6)
    for key in ("best_val_loss", "best_step", "final_train_loss", "test_loss_vs_own_target"):
        np.testing.assert_allclose(results["example"][key], results["library"][key], rtol=1e-6)
    for name in results:
        assert sorted(p.name for p in (tmp_path / name).glob("step_*")) == ["step_3"]
        assert (tmp_path / name / "training_complete.json").is_file() and (tmp_path / name / "README.md").is_file()


def test_the_reference_prompt_names_the_speaker_and_puts_the_text_before_the_audio(tiny_model):
    from transformers import AutoProcessor

    from hf_ambiguity.training.data import DistributionCollator

    proc = AutoProcessor.from_pretrained(tiny_model)
    col = DistributionCollator(proc, CLASSES, prompt="reference", max_text_tokens=2048)
    rows = [{"index": 0, "audio": np.zeros(8000, np.float32), "transcript": "  Oh no.  ", "speaker": "Ses01F",
             "target": np.full(4, 0.25, np.float32)},
            {"index": 1, "audio": np.zeros(8000, np.float32), "transcript": "", "speaker": "Ses02M",
             "target": np.full(4, 0.25, np.float32)}]
    batch = col(rows)
    text = [proc.tokenizer.decode(ids) for ids in batch["input_ids"]]
    assert "expert in emotion analysis who provides accurate emotion judgment." in text[0]
    assert 'Utterance: "Oh no."\nSpeaker: Ses01F' in text[0] and "VALID EMOTIONS LIST: neutral, happy, angry, sad" in text[0]
    assert "Utterance: \nSpeaker: Ses02M" in text[1] and "Rely solely on audio cues" in text[1]
    audio_at = text[0].index("<|AUDIO|>")
    assert text[0].index("IMPORTANT: Output ONLY the JSON dictionary") < audio_at  # text, then audio
    project = DistributionCollator(proc, CLASSES, max_text_tokens=2048)(rows)
    assert "Ses01F" not in proc.tokenizer.decode(project["input_ids"][0])  # the project prompt names no speaker


def test_prepare_data_refuses_the_reference_prompt_without_speakers(tmp_path):
    ds = make_dataset(12, seconds=0.5).remove_columns("speaker")
    with pytest.raises(TrainingDataError, match=r"no 'speaker' column, which the reference prompt names .*"
                                                r"--prompt project"):
        prepare_data(_cfg(tmp_path, _saved(tmp_path, ds)))
    prepare_data(_cfg(tmp_path, tmp_path / "ds", "--prompt", "project"))


def test_reference_audio_augmentation_changes_one_clip_in_five_half_pitch_half_stretch():
    from hf_ambiguity.training.data import reference_audio_augment

    augment = reference_audio_augment(16000)
    y = (0.3 * np.sin(np.linspace(0, 2000, 4000))).astype(np.float32)
    kinds = []
    for seed in range(300):
        out = augment(y, seed)
        np.testing.assert_array_equal(out, augment(y, seed))  # a pure function of the item seed
        kinds.append("none" if np.array_equal(out, y) else "pitch" if len(out) == len(y) else "stretch")
    counts = {k: kinds.count(k) for k in ("none", "pitch", "stretch")}
    # expected 240 / 30 / 30 (binomial sd 7 and 5): the reference's 0.3 x (pitch, stretch, nothing)
    assert 210 <= counts["none"] <= 270 and 15 <= counts["pitch"] <= 45 and 15 <= counts["stretch"] <= 45, counts
