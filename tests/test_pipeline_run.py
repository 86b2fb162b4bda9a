"""`hf-ambiguity run` end to end on the bundled demo: report contents, every stage's output loads, resume after a
SIGKILL in the middle of the annotate stage, and re-running only the stages whose inputs changed.

The demo run (tiny random-weight model, 48 generated utterances, 2 training steps per target) is done once per
module (about 2 minutes on a 2-core CPU) and shared by the tests below.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from hf_ambiguity.cli import main as cli_main
from hf_ambiguity.pipeline import config_to_dict, load_config, run_pipeline
from hf_ambiguity.pipeline.report import DEMO_NOTICE, write_report
from hf_ambiguity.pipeline.runner import read_stage_json

STAGES = ("00_model", "01_build", "02_annotate", "03_merge", "04_alignment", "05_augment", "06_train",
          "07_evaluate", "08_export")
DATA_STAGES = ("02_annotate", "03_merge", "04_alignment", "05_augment", "08_export")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("demo") / "run"
    assert cli_main(["run", "--run-dir", str(run_dir)]) == 0   # no --config: the bundled demo
    return run_dir


def _content_hash(folder: Path, run_dir: Path) -> str:
    """Hash of a stage folder's files except stage.json, run_info.json (timings, resume counters) and datasets'
    transform caches, with the run
    folder's path (which provenance records as the tiny model's location, also hashed into the annotation run key)
    replaced by a placeholder and datasets' state fingerprints ignored."""
    h = hashlib.sha256()
    for p in sorted(x for x in folder.rglob("*") if x.is_file()):
        if p.name in ("stage.json", "run_info.json") or (p.name.startswith("cache-") and p.suffix == ".arrow"):
            continue
        data = p.read_bytes().replace(str(run_dir).encode(), b"<run>")
        data = re.sub(rb'(run_key\\?"?: \\?"?)[0-9a-f]{16}', rb"\1<key>", data)   # JSON, escaped JSON, YAML
        if p.name == "state.json":
            state = json.loads(data)
            state.pop("_fingerprint", None)
            data = json.dumps(state, sort_keys=True).encode()
        h.update(p.relative_to(folder).as_posix().encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def test_demo_report_says_smoke_test_and_has_every_section(demo_run):
    report = (demo_run / "report.md").read_text()
    assert DEMO_NOTICE in report and "not results" in report
    for heading in ("## Stages", "## Corpus", "## Human vs synthetic alignment by ambiguity level", "## Agreement",
                    "## Splits and DiME-Aug", "## Fine-tuning", "## Fine-tuned models by ambiguity level",
                    "## Export", "## Do the synthetic labels help? (held-out-annotator test)",
                    "**Balanced evaluation view**"):
        assert heading in report, heading
    assert "not available" not in report          # every stage module is installed
    for stage in STAGES:
        assert f"| {stage} | ran |" in report
    assert "0.302 / 0.724" not in report           # published figures only for the paper protocol
    assert "Paired test" not in report             # the old test decided by the held-out label is gone
    # the words follow the verdicts: one sentence per merge, "help" only where the verdict is "helps"
    from hf_ambiguity.pipeline.report import benefit_sentence

    benefit = json.loads((demo_run / "04_alignment" / "alignment.json").read_text())["benefit"]
    for res in benefit["merges"].values():
        groups = {**res["per_stratum"], "overall": res["overall"]}
        sentence = benefit_sentence(res["title"], groups)
        assert sentence in report
        if all(g["verdict"] != "helps" for g in groups.values()):
            assert ": help" not in sentence and "labels help" not in sentence
    stats = json.loads((demo_run / "01_build" / "corpus_stats.json").read_text())
    total_row = next(ln for ln in report.splitlines() if ln.startswith("| total |"))
    assert total_row.endswith(f"| {stats['n_utterances']} |")
    for png in ("class_by_ambiguity", "alignment_by_level", "dime_aug_composition", "training_curve",
                "finetuned_by_level"):
        assert f"(plots/{png}.png)" in report
        data = (demo_run / "plots" / f"{png}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_every_stage_output_loads(demo_run):
    import datasets

    from hf_ambiguity.distributions import validate_distributions
    from hf_ambiguity.training import load_trained, predict_distributions

    for stage in STAGES:
        rec = read_stage_json(demo_run / stage)
        assert rec is not None and rec["folder"] == stage
    built = datasets.load_from_disk(str(demo_run / "01_build" / "dataset"))
    assert sorted(built) == [f"session{i}" for i in range(1, 6)]
    merged = datasets.load_from_disk(str(demo_run / "03_merge" / "dataset"))
    assert merged.num_rows == built.num_rows
    for split in merged.values():
        for col in ("human_dist", "synthetic_dist", "combined_dist"):
            validate_distributions(np.asarray(split[col]), n_classes=4, name=col)
    alignment = json.loads((demo_run / "04_alignment" / "alignment.json").read_text())
    js = alignment["comparisons"]["synthetic_vs_human"]["overall"]["js_divergence"]
    assert 0 <= js["ci_low"] <= js["mean"] <= js["ci_high"] <= 1
    for target in ("human_dist", "combined_dist"):
        dd = datasets.load_from_disk(str(demo_run / "05_augment" / target))
        assert sorted(dd) == ["test", "train", "validation"]
        assert not any(dd["test"]["augmented"] if "augmented" in dd["test"].column_names else [])
        assert set(dd["train"]["id"]).isdisjoint(dd["test"]["id"])
    train = json.loads((demo_run / "06_train" / "train.json").read_text())
    assert {t: r["steps"] for t, r in train["targets"].items()} == {"human_dist": 2, "combined_dist": 2}
    model = load_trained(str(demo_run / "06_train" / "models" / "combined_dist"))
    test = datasets.load_from_disk(str(demo_run / "05_augment" / "combined_dist"))["test"]
    pred = np.asarray(predict_distributions(model, test.select(range(2))))
    validate_distributions(pred, n_classes=4)
    saved = np.load(demo_run / "07_evaluate" / "predictions_combined_dist.npy")
    np.testing.assert_allclose(saved[:2], pred, atol=1e-5)
    evaluation = json.loads((demo_run / "07_evaluate" / "evaluation.json").read_text())
    assert set(evaluation["targets"]["combined_dist"]) == {"own", "human", "balanced"}
    assert set(evaluation["targets"]["human_dist"]) == {"own", "balanced"}     # own = human: not repeated
    view_ids = json.loads((demo_run / "05_augment" / "eval_view_ids.json").read_text())
    assert set(view_ids) <= set(test["id"])
    assert evaluation["targets"]["combined_dist"]["balanced"]["overall"]["n"] == len(view_ids)
    hub = datasets.load_dataset(str(demo_run / "08_export" / "hub"))
    assert {k: v.num_rows for k, v in hub.items()} == {k: v.num_rows for k, v in merged.items()}
    audio = hub["session1"][0]["audio"].get_all_samples()
    assert audio.sample_rate == 16000 and audio.data.shape[-1] > 0


def test_paper_protocol_report_puts_published_figures_beside_the_run(demo_run, tmp_path):
    view = tmp_path / "paper_view"
    view.mkdir()
    for stage in STAGES:
        os.symlink(demo_run / stage, view / stage)
    cfg = replace(load_config("demo"), protocol="paper")
    from hf_ambiguity.pipeline.runner import StageResult

    res = {}
    for stage in STAGES:
        rec = read_stage_json(view / stage)
        res[rec["stage"]] = StageResult(rec["stage"], view / stage, "skipped", rec["seconds"], rec["input_hash"],
                                        rec["output_hash"], rec["summary"])
    report = write_report(view, cfg, res, {}).read_text()
    assert DEMO_NOTICE not in report
    assert "**This run deviates from the reference protocol**" in report and "split.test_fraction is 0.25" in report
    assert "### Beside the reference's published figures (IEMOCAP)" in report
    for published in ("0.302 / 0.724", "0.431 / 0.607", "0.325 / 0.715"):
        assert published in report
    ours = json.loads((demo_run / "07_evaluate" / "evaluation.json").read_text())
    js = ours["targets"]["combined_dist"]["own"]["overall"]["js_divergence"]["mean"]
    assert f"| combined (human + synthetic) | 0.325 / 0.715 | {js:.3f} / " in report
    assert "| synthetic | 0.431 / 0.607 | not trained |" in report


def test_kill_during_annotate_then_rerun_gives_the_same_outputs(demo_run, tmp_path):
    run_dir = tmp_path / "killed"
    run_dir.mkdir()
    for stage in ("00_model", "01_build"):      # the earlier stages are reused as they are (same content hashes)
        shutil.copytree(demo_run / stage, run_dir / stage)
    cfg = config_to_dict(load_config("demo"))
    cfg["train"]["enabled"] = False            # the stages compared below; training is covered by the demo run
    cfg_path = tmp_path / "demo_no_train.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    # the CLI in a child process whose annotation pauses 1 s after each batch it stores (answers unchanged), so the
    # kill below lands inside the annotate stage however busy the machine is
    slow_store = ("import sys, time\n"
                  "from hf_ambiguity.annotate.store import ResultStore\n"
                  "append = ResultStore.append\n"
                  "def slow_append(self, records):\n"
                  "    n = append(self, records)\n"
                  "    time.sleep(1.0)\n"
                  "    return n\n"
                  "ResultStore.append = slow_append\n"
                  "from hf_ambiguity.cli import main\n"
                  "sys.exit(main(sys.argv[1:]))\n")
    cmd = [sys.executable, "-c", slow_store, "run", "--config", str(cfg_path), "--run-dir", str(run_dir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            parts = [p for p in (run_dir / ".cache" / "02_annotate").glob("*/session*/*/part-0.jsonl")
                     if p.stat().st_size > 0]
            if parts or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before the annotate stage had written results"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not (run_dir / "02_annotate").exists()   # the killed stage never looks complete
    assert (run_dir / ".tmp-02_annotate").exists()

    outcome = run_pipeline(load_config(cfg_path), run_dir=run_dir)
    assert outcome.results["annotate"].status == "ran"
    info = json.loads((run_dir / "02_annotate" / "run_info.json").read_text())
    assert info["results_from_cache"] > 0 and info["new_results"] > 0   # resumed from the killed run's results
    assert not list(run_dir.glob(".tmp-*"))
    for stage in DATA_STAGES:
        assert _content_hash(run_dir / stage, run_dir) == _content_hash(demo_run / stage, demo_run), stage
    # no model path in the statistics: even the stage's own output hash is identical
    assert read_stage_json(run_dir / "04_alignment")["output_hash"] == \
        read_stage_json(demo_run / "04_alignment")["output_hash"]


def test_rerun_skips_everything_and_a_changed_option_reruns_only_its_stages(demo_run):
    before = {s: read_stage_json(demo_run / s) for s in STAGES}
    cfg = load_config("demo")
    outcome = run_pipeline(cfg, run_dir=demo_run)
    assert {r.status for r in outcome.results.values()} == {"skipped"}
    # the protocol only frames the report, and annotation batch size / device only how the answers are computed
    # (so a run killed by an out-of-memory error resumes its annotation cache with a smaller batch)
    outcome = run_pipeline(replace(cfg, protocol="custom", annotate=replace(cfg.annotate, batch_size=3,
                                                                           device="cpu")), run_dir=demo_run)
    assert {r.status for r in outcome.results.values()} == {"skipped"}

    changed = replace(cfg, analysis=replace(cfg.analysis, n_resamples=500))   # read by the paired tests only
    outcome = run_pipeline(changed, run_dir=demo_run)
    ran = {k for k, r in outcome.results.items() if r.status == "ran"}
    assert ran == {"alignment"}
    assert read_stage_json(demo_run / "04_alignment")["options"]["n_resamples"] == 500
    for s in STAGES:
        if s != "04_alignment":
            assert read_stage_json(demo_run / s)["finished"] == before[s]["finished"], s

    # export option changed, analysis back to the original: those two stages re-run, nothing else
    changed = replace(cfg, export=replace(cfg.export, private=False))   # no push: only export.json changes
    outcome = run_pipeline(changed, run_dir=demo_run)
    assert {k for k, r in outcome.results.items() if r.status == "ran"} == {"alignment", "export"}

    outcome = run_pipeline(cfg, run_dir=demo_run)     # back to the original options: same outputs as before
    assert {k for k, r in outcome.results.items() if r.status == "ran"} == {"export"}
    for s in ("04_alignment", "08_export"):
        assert read_stage_json(demo_run / s)["output_hash"] == before[s]["output_hash"], s


def test_cli_reports_a_bad_config_without_running(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("annotate:\n  n_annotator: 3\n")
    assert cli_main(["run", "--config", str(bad), "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'annotate.n_annotator'; valid keys:" in err and "n_annotators" in err
    assert not (tmp_path / "r").exists()


def test_real_corpus_layout_without_model_stages_and_a_changed_label_file_rebuilds(demo_run, tmp_path):
    corpus = tmp_path / "IEMOCAP_full_release"
    shutil.copytree(demo_run / "01_build" / "raw", corpus)
    cfg_path = tmp_path / "human_only.yaml"
    cfg_path.write_text(yaml.safe_dump({
        "name": "human-only", "protocol": "recommended",
        "corpus": {"kind": "iemocap", "data_dir": str(corpus), "class_set": "paper-4class", "multi_label": "whole"},
        "annotate": {"enabled": False}, "train": {"enabled": False, "targets": []},
        "augment": {"enabled": False}, "analysis": {"n_bootstrap": 20, "n_resamples": 100}}))
    run_dir = tmp_path / "run"
    outcome = run_pipeline(load_config(cfg_path), run_dir=run_dir)
    assert list(outcome.results) == ["build", "alignment", "export"] and not outcome.unavailable
    report = (run_dir / "report.md").read_text()
    assert "No synthetic annotators in this run: human agreement only." in report
    assert "class set: `paper-4class`" in report and "0.302 / 0.724" not in report
    alignment = json.loads((run_dir / "04_alignment" / "alignment.json").read_text())
    assert alignment["comparisons"] == {} and alignment["agreement"]["human"]["krippendorff_alpha"] is not None
    # multi_label: whole reaches the builder: one vote per emotion named (the reference's label-list counts), so an
    # evaluator naming two of the four classes counts twice
    import datasets

    built = json.loads((run_dir / "01_build" / "build_report.json").read_text())
    assert built["options"]["multi_label"] == "whole"
    rows = datasets.concatenate_datasets(list(datasets.load_from_disk(str(run_dir / "01_build" / "dataset")).values()))
    votes = np.asarray(rows["human_votes"])
    assert votes.sum(axis=1).tolist() == [len(x) for x in rows["human_labels"]]
    assert (votes.sum(axis=1) > np.asarray(rows["n_annotators"])).any()

    outcome = run_pipeline(load_config(cfg_path), run_dir=run_dir)
    assert {r.status for r in outcome.results.values()} == {"skipped"}
    evaluation = sorted((corpus / "Session1" / "dialog" / "EmoEvaluation").glob("Ses*.txt"))[0]
    evaluation.write_bytes(evaluation.read_bytes() + b"\n")   # the raw corpus changed: the build re-runs
    outcome = run_pipeline(load_config(cfg_path), run_dir=run_dir)
    assert outcome.results["build"].status == "ran"


def test_bad_corpus_line_stops_the_build_with_file_and_line_and_lenient_counts_it(demo_run, tmp_path, capsys):
    corpus = tmp_path / "IEMOCAP_full_release"
    shutil.copytree(demo_run / "01_build" / "raw", corpus)
    evaluation = corpus / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    lines = evaluation.read_bytes().split(b"\n")
    assert lines[3].startswith(b"C-E1:")
    lines[3] = b"C-E1:\tBlissful;\t()\t\r"
    evaluation.write_bytes(b"\n".join(lines))
    cfg = {"corpus": {"kind": "iemocap", "data_dir": str(corpus)}, "annotate": {"enabled": False},
           "train": {"enabled": False}, "augment": {"enabled": False}, "export": {"enabled": False},
           "analysis": {"n_bootstrap": 10, "n_resamples": 100}}
    cfg_path = tmp_path / "strict.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    run_dir = tmp_path / "run"
    assert cli_main(["run", "--config", str(cfg_path), "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "stage 01_build failed" in err and "Ses01F_impro01.txt:4: unknown emotion label 'Blissful'" in err
    assert not (run_dir / "01_build").exists()

    cfg["corpus"]["lenient"] = True
    cfg_path.write_text(yaml.safe_dump(cfg))
    assert cli_main(["run", "--config", str(cfg_path), "--run-dir", str(run_dir)]) == 0
    built = json.loads((run_dir / "01_build" / "build_report.json").read_text())
    assert any("Blissful" in p for p in built["read_report"]["problems"])


def test_msp_podcast_layout_human_only_pushed_privately(tmp_path, monkeypatch):
    import hf_ambiguity.hub
    from hf_ambiguity.demo import write_msp_layout

    pushes = []
    monkeypatch.setattr(hf_ambiguity.hub, "push_dataset", lambda folder, repo, **kw: pushes.append((folder, repo, kw)))
    corpus = write_msp_layout(tmp_path / "MSP-PODCAST", quirks=False)
    cfg_path = tmp_path / "msp.yaml"
    cfg_path.write_text(yaml.safe_dump({
        "corpus": {"kind": "msp-podcast", "data_dir": str(corpus), "class_set": "msp-8", "lenient": True},
        "annotate": {"enabled": False}, "train": {"enabled": False}, "augment": {"enabled": False},
        "analysis": {"n_bootstrap": 10, "n_resamples": 100}, "export": {"push_to": "someone/msp-ambig"}}))
    outcome = run_pipeline(load_config(cfg_path), run_dir=tmp_path / "run")
    assert list(outcome.results) == ["build", "alignment", "export"]
    ((folder, repo, kw),) = pushes
    assert repo == "someone/msp-ambig" and kw["private"] is True and kw["license_acknowledged"] is False
    assert Path(folder).name == "hub" and kw["licensed"] is True
    assert "Pushed to `someone/msp-ambig` (private)." in (tmp_path / "run" / "report.md").read_text()
    stats = json.loads((tmp_path / "run" / "01_build" / "corpus_stats.json").read_text())
    assert stats["classes"] == ["angry", "sad", "happy", "surprise", "fear", "disgust", "contempt", "neutral"]
    import datasets

    hub = datasets.load_dataset(str(tmp_path / "run" / "08_export" / "hub"))
    assert sum(v.num_rows for v in hub.values()) == stats["n_utterances"] and "split" in hub["train"].column_names


def test_sample_mode_annotators_with_unparsable_answers(demo_run, tmp_path):
    """The reference's mode: N sampled answers per utterance. The tiny random model mostly answers nonsense, so
    utterances without any parsable answer are left out of synthetic-vs-human (counted), and an undefined synthetic
    agreement (no utterance with two valid synthetic answers) is reported, not a crash."""
    import datasets

    run_dir = tmp_path / "sample"
    run_dir.mkdir()
    for stage in ("00_model", "01_build"):
        shutil.copytree(demo_run / stage, run_dir / stage)
    cfg = load_config("demo")
    cfg = replace(cfg, annotate=replace(cfg.annotate, mode="sample", n_annotators=2),
                  analysis=replace(cfg.analysis, n_bootstrap=20, n_resamples=100),
                  augment=replace(cfg.augment, enabled=False), train=replace(cfg.train, enabled=False),
                  export=replace(cfg.export, enabled=False))
    outcome = run_pipeline(cfg, run_dir=run_dir)
    assert list(outcome.results) == ["model", "build", "annotate", "merge", "alignment"]
    assert outcome.results["build"].status == "skipped"
    merged = datasets.concatenate_datasets(list(datasets.load_from_disk(str(run_dir / "03_merge" / "dataset"))
                                                .values()))
    syn_votes = np.asarray(merged["synthetic_votes"])
    assert syn_votes.max() <= 2 and (syn_votes == np.round(syn_votes)).all()    # whole answers, N = 2
    unlabelled = int((syn_votes.sum(axis=1) == 0).sum())
    alignment = json.loads((run_dir / "04_alignment" / "alignment.json").read_text())
    assert alignment["utterances_without_synthetic_label"] == unlabelled
    assert alignment["comparisons"]["synthetic_vs_human"]["overall"]["n"] == len(merged) - unlabelled
    assert alignment["comparisons"]["combined_vs_human"]["overall"]["n"] == len(merged)
    agreement = alignment["agreement"]
    pairable = int((syn_votes.sum(axis=1) >= 2).sum())
    assert (agreement["synthetic annotators (`synthetic`)"]["krippendorff_alpha"] is None) == (pairable == 0)
    assert "synthetic plurality = human plurality on" in agreement["human + synthetic"]["note"]
    report = (run_dir / "report.md").read_text()
    assert unlabelled > 0    # the path this test is about (the seeded tiny model leaves 31 of 45 without one)
    assert f"{unlabelled} of {len(merged)} utterances got no parsable synthetic answer" in report
