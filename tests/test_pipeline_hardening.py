"""Hardening of the run folder and the config (issue 15): the whole config is checked at load with the key named,
one run per run folder, damaged finished stages re-run, finished training targets never relaunched, operational
failures reported in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hf_ambiguity.errors import ConfigError
from hf_ambiguity.pipeline import config_from_dict
from hf_ambiguity.pipeline.runner import RunFolderBusyError, RunLock, Stage, StageContext, run_stages


@pytest.mark.parametrize(("data", "key", "match"), [
    ({"annotate": {"name": "../../ESCAPED/x"}}, "annotate.name", r"annotate\.name must be letters, digits"),
    ({"annotate": {"name": "a/b"}}, "annotate.name", r"annotate\.name must be"),
    ({"merge": {"weight": float("nan")}}, "merge.weight", r"merge\.weight must be a finite non-negative number"),
    ({"merge": {"weight": float("inf")}}, "merge.weight", r"merge\.weight must be a finite"),
    ({"train": {"targets": ["human_dist", "human_dist"]}}, "train.targets", r"names \['human_dist'\] more than once"),
    ({"train": {"preset": "papr"}}, "train.preset", r"train\.preset: the training script refuses it: .*'papr'"),
    ({"train": {"learning_rate": -1.0}}, "train.learning_rate", r"train\.learning_rate must be a positive number"),
    ({"train": {"batch_size": 0}}, "train.batch_size", r"train\.batch_size must be at least 1"),
    ({"train": {"extra_args": ["--no_such_flag"]}}, "train.extra_args", r"unrecognized arguments: --no_such_flag"),
    ({"split": {"seed": -3}}, "split.seed", r"split\.seed must be a non-negative integer"),
    ({"corpus": {"kind": "iemocap", "data_dir": "/x"}, "split": {"kind": "speaker", "test_session": 6}},
     "split.test_session", r"must be an IEMOCAP session 1-5, got 6"),
    ({"corpus": {"kind": "msp-podcast", "data_dir": "/x"}, "split": {"kind": "speaker", "test_partition": "Dev"}},
     "split.test_partition", r"must be one of \['Test1', 'Test2', 'Test3'\]"),
    ({"export": {"push_to": "me/iemocap-ambig", "private": False}}, "export.private",
     r"export\.private is false but iemocap is licensed .*export\.acknowledge_license: true"),
    ({"export": {"push_to": "not a repo"}}, "export.push_to", r"must be a Hub repo id"),
])
def test_the_whole_config_is_checked_at_load_naming_the_key(data, key, match):
    with pytest.raises(ConfigError, match=match) as info:
        config_from_dict(data, where="c.yaml")
    assert info.value.key == key and str(info.value).startswith("c.yaml: ")


def test_a_public_push_with_the_licence_acknowledged_is_accepted_at_load():
    cfg = config_from_dict({"export": {"push_to": "me/x", "private": False, "acknowledge_license": True}})
    assert cfg.export.private is False


def _writer(name: str, text: str):
    def stage(ctx: StageContext):
        (ctx.out_dir / "sub").mkdir()
        (ctx.out_dir / "sub" / name).write_text(text)
        return {"wrote": name}
    return stage


def test_a_damaged_finished_stage_runs_again(tmp_path):
    stages = [Stage(key="build", folder="01_build", func=_writer("a.txt", "payload"))]
    assert run_stages(stages, tmp_path)["build"].status == "ran"
    assert run_stages(stages, tmp_path)["build"].status == "skipped"
    (tmp_path / "01_build" / "sub" / "a.txt").write_text("pay")          # truncated: same name, other size
    assert run_stages(stages, tmp_path)["build"].status == "ran"
    (tmp_path / "01_build" / "sub" / "a.txt").unlink()                   # deleted
    assert run_stages(stages, tmp_path)["build"].status == "ran"
    assert (tmp_path / "01_build" / "sub" / "a.txt").read_text() == "payload"
    record = json.loads((tmp_path / "01_build" / "stage.json").read_text())
    assert record["outputs"] == {"sub/a.txt": 7}


def test_one_run_per_run_folder(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(RunFolderBusyError, match=rf"in use by pid {os.getpid()} on host .*delete .*\.lock"):
            with RunLock(tmp_path):
                pass
    assert not (tmp_path / ".lock").exists()        # released when the run ends


def test_a_stale_lock_of_a_dead_process_is_reported_and_replaced(tmp_path):
    import socket

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "x"}))
    with RunLock(tmp_path) as lock:
        assert lock.stale["pid"] == dead.pid
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()


def test_a_lock_from_another_host_is_refused(tmp_path):
    (tmp_path / ".lock").write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "t"}))
    with pytest.raises(RunFolderBusyError, match="pid 1 on host elsewhere"):
        with RunLock(tmp_path):
            pass


def test_a_finished_training_target_is_not_relaunched(tmp_path, monkeypatch):
    from hf_ambiguity.pipeline import stages as S

    cache = tmp_path / "cache"
    work = cache / "human_dist"
    work.mkdir(parents=True)
    (work / "eval_results.json").write_text(json.dumps({"completed_steps": 4, "best_step": 2}))
    (work / "training_complete.json").write_text(json.dumps({"completed_steps": 4}))   # the completion marker
    (work / "train_log.jsonl").write_text(json.dumps({"step": 1, "loss": 0.5}) + "\n")
    (cache / "train_human_dist.log").write_text("the earlier run's log\n")

    def no_launch(*a, **k):
        raise AssertionError("a finished training target was launched again")

    monkeypatch.setattr(S.subprocess, "run", no_launch)
    out = tmp_path / "out"
    out.mkdir()
    ctx = StageContext(out_dir=out, run_dir=tmp_path, inputs={"augment": tmp_path / "aug", "model": tmp_path},
                       cache_dir=cache, folder="06_train",
                       options={"model": "org/model", "preset": "paper", "targets": ["human_dist"],
                                "accelerate_config": None, "seed": 42, "max_steps": None, "batch_size": None,
                                "gradient_accumulation_steps": None, "learning_rate": None, "extra_args": []})
    summary = S.stage_train(ctx)
    assert summary == {"human_dist": "4 steps"}
    assert (out / "models" / "human_dist" / "eval_results.json").is_file()
    assert (out / "train_human_dist.log").read_text() == "the earlier run's log\n"
    assert json.loads((out / "run_info.json").read_text())["human_dist"]["reused_finished_run"] is True


def test_an_operational_failure_is_one_line_and_debug_shows_the_traceback(tmp_path, monkeypatch, capsys):
    from hf_ambiguity.cli import main
    from hf_ambiguity.pipeline import stages as S

    def unreachable(ctx):
        raise ConnectionError("the annotation backend at http://127.0.0.1:9 is unreachable")

    monkeypatch.setattr(S, "stage_build", unreachable)
    run_dir = tmp_path / "run"
    assert main(["run", "--run-dir", str(run_dir)]) == 1       # operational: not the user's input
    err = capsys.readouterr().err
    assert "stage 01_build failed: the annotation backend at http://127.0.0.1:9 is unreachable" in err
    assert "rerun the same command (add --debug for the traceback)" in err and "Traceback" not in err
    with pytest.raises(Exception, match="unreachable"):
        main(["run", "--run-dir", str(run_dir), "--debug"])

    def bad_corpus(ctx):
        raise ValueError("Session1/dialog/EmoEvaluation/x.txt:3: malformed line")

    monkeypatch.setattr(S, "stage_build", bad_corpus)
    assert main(["run", "--run-dir", str(run_dir)]) == 2       # the input: fix it
    err = capsys.readouterr().err
    assert "x.txt:3: malformed line\nfix the input and rerun the same command" in err
