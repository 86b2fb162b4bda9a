"""Pipeline config loading and validation, and the stage runner's caching and atomicity (toy stages, fast)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hf_ambiguity.pipeline import BUNDLED_CONFIGS, ConfigError, config_from_dict, load_config
from hf_ambiguity.pipeline.runner import Stage, hash_folder, read_stage_json, run_stages


@pytest.mark.parametrize("name", BUNDLED_CONFIGS)
def test_bundled_configs_load(name):
    cfg = load_config(name)
    assert cfg.protocol == name


def test_paper_config_is_the_reference_protocol():
    cfg = load_config("paper")
    assert (cfg.corpus.class_set, cfg.corpus.ambiguity) == ("paper-4class", "reference")
    assert cfg.corpus.multi_label == "whole"      # one count per emotion named, as the reference's label list
    assert cfg.corpus.max_utterances is None and (cfg.augment.k, cfg.augment.balance_by) == (3, "class")
    assert (cfg.annotate.mode, cfg.annotate.n_annotators) == ("sample", 8)
    assert cfg.merge.strategy == "concat"
    assert (cfg.split.kind, cfg.split.test_fraction, cfg.split.seed) == ("random", 0.2, 42)
    assert cfg.augment.ratio == 0.3 and cfg.train.preset == "paper"
    assert set(cfg.train.targets) == {"human_dist", "synthetic_dist", "combined_dist"}
    assert cfg.train.evaluate_against in ("own", "both")


def test_recommended_config_is_speaker_independent_and_scored_against_humans():
    cfg = load_config("recommended")
    assert cfg.split.kind == "speaker" and cfg.train.evaluate_against == "human"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_unknown_key_names_the_dotted_key_and_lists_valid_ones(tmp_path):
    p = _write(tmp_path, "annotate:\n  modle: score\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown key 'annotate\.modle'; valid keys: .*mode.*n_annotators"):
        load_config(p)


def test_unknown_top_level_section(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'trian'; valid keys: .*train"):
        load_config(_write(tmp_path, "trian: {}\n"))


def test_bad_choice_lists_the_choices(tmp_path):
    with pytest.raises(ConfigError, match=r"annotate\.mode must be one of \['sample', 'expected', 'score'\], got 'scor'"):
        load_config(_write(tmp_path, "annotate: {mode: scor}\n"))


@pytest.mark.parametrize("text, match", [
    ("annotate: {n_annotators: eight}\n", r"annotate\.n_annotators must be int or null, got 'eight'"),
    ("annotate: {n_annotators: 0}\n", r"annotate\.n_annotators must be at least 1"),
    ("export: {private: yes-please}\n", r"export\.private must be true or false"),
    ("train: {targets: [human_dist, vibes_dist]}\n", r"train\.targets\[1\] must be one of .*combined_dist"),
    ("corpus: {kind: iemocap}\n", r"corpus\.data_dir is required for corpus\.kind 'iemocap'"),
    ("corpus: {class_set: msp-8}\n", r"corpus\.class_set 'msp-8' is a class set of another corpus.*iemocap-4"),
    ("corpus: {class_set: nope}\n", r"corpus\.class_set must be one of"),
    ("augment: {ratio: 1.5}\n", r"augment\.ratio must be in \(0, 1\]"),
    ("split: {test_fraction: 1}\n", r"split\.test_fraction must be between 0 and 1"),
    ("annotate: {enabled: false}\ntrain: {targets: [combined_dist]}\n", r"needs synthetic labels"),
    ("annotate: [1, 2]\n", r"annotate must be a mapping"),
    ("- just\n- a list\n", r"the config must be a mapping"),
])
def test_invalid_values(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(_write(tmp_path, text))


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match=r"does not exist; pass a YAML file or one of demo, paper, recommended"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"not valid YAML"):
        load_config(_write(tmp_path, "a: [1,\n"))


def test_defaults_fill_unnamed_keys():
    cfg = config_from_dict({"train": {"max_steps": 3}})
    assert cfg.train.max_steps == 3 and cfg.train.preset == "paper" and cfg.annotate.mode == "sample"
    assert isinstance(cfg.train.targets, tuple)


# ------------------------------------------------------------------------------------------------ runner


def _counting_stage(key, folder, calls, depends=(), options=None, payload=None):
    def func(ctx):
        calls.append(key)
        text = payload(ctx) if payload else json.dumps(dict(ctx.options))
        (ctx.out_dir / "out.txt").write_text(text)
        return {"chars": len(text)}
    return Stage(key=key, folder=folder, func=func, depends=depends, options=options or {})


def test_runner_skips_unchanged_and_reruns_only_affected(tmp_path):
    calls: list[str] = []

    def plan(a_opt, c_opt):
        def b_payload(ctx):  # b's output only depends on a's output
            return "b:" + (ctx.input("a") / "out.txt").read_text()
        return [
            _counting_stage("a", "01_a", calls, options={"x": a_opt}),
            _counting_stage("b", "02_b", calls, depends=("a",), payload=b_payload),
            _counting_stage("c", "03_c", calls, depends=("a",), options={"y": c_opt}),
        ]

    res = run_stages(plan(1, 1), tmp_path)
    assert calls == ["a", "b", "c"] and {r.status for r in res.values()} == {"ran"}
    calls.clear()
    res = run_stages(plan(1, 1), tmp_path)
    assert calls == [] and {r.status for r in res.values()} == {"skipped"}
    run_stages(plan(1, 2), tmp_path)           # only c's option changed
    assert calls == ["c"]
    calls.clear()
    run_stages(plan(2, 2), tmp_path)           # a changed: a and everything reading a re-run
    assert calls == ["a", "b", "c"]
    rec = read_stage_json(tmp_path / "02_b")
    assert rec["output_hash"] == hash_folder(tmp_path / "02_b")
    assert rec["depends"]["a"] == read_stage_json(tmp_path / "01_a")["output_hash"]


def test_runner_force_reruns(tmp_path):
    calls: list[str] = []
    run_stages([_counting_stage("a", "01_a", calls)], tmp_path)
    run_stages([_counting_stage("a", "01_a", calls)], tmp_path, force=("a",))
    assert calls == ["a", "a"]


def test_a_failing_stage_leaves_no_complete_looking_folder(tmp_path):
    def boom(ctx):
        (ctx.out_dir / "half.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        run_stages([Stage(key="a", folder="01_a", func=boom)], tmp_path)
    assert not (tmp_path / "01_a").exists()          # never renamed into place
    calls: list[str] = []
    run_stages([_counting_stage("a", "01_a", calls)], tmp_path)
    assert calls == ["a"] and (tmp_path / "01_a" / "stage.json").is_file()
    assert not list(tmp_path.glob(".tmp-*"))         # leftovers of the failed attempt removed


def test_a_folder_without_stage_json_is_rerun(tmp_path):
    calls: list[str] = []
    run_stages([_counting_stage("a", "01_a", calls)], tmp_path)
    os.remove(tmp_path / "01_a" / "stage.json")
    run_stages([_counting_stage("a", "01_a", calls)], tmp_path)
    assert calls == ["a", "a"]


def test_cache_folder_survives_a_failure_and_is_keyed_by_inputs(tmp_path):
    seen: list[list[str]] = []

    def resumable(ctx):
        seen.append(sorted(p.name for p in ctx.cache_dir.iterdir()))
        (ctx.cache_dir / "progress").write_text("1")
        if len(seen) == 1:
            raise RuntimeError("killed")
        (ctx.out_dir / "done").write_text("ok")
        return {}

    stage = Stage(key="a", folder="01_a", func=resumable)
    with pytest.raises(RuntimeError):
        run_stages([stage], tmp_path)
    run_stages([stage], tmp_path)
    assert seen == [[], ["progress"]]                # the second attempt saw the first one's progress
    assert not (tmp_path / ".cache" / "01_a").exists()  # removed once the stage completed


def test_paper_config_has_no_deviation_from_the_reference_and_the_demo_does():
    from hf_ambiguity.pipeline.report import paper_deviations

    assert paper_deviations(load_config("paper")) == []
    demo = paper_deviations(load_config("demo"))
    assert "annotate.mode is 'score' (paper preset: 'sample')" in demo
    assert "train.max_steps is 2 (paper preset: None)" in demo
    assert any(d.startswith("train.extra_args is ['--torch_dtype'") for d in demo)


def test_paper_deviations_name_every_changed_reference_setting():
    from dataclasses import replace

    from hf_ambiguity.pipeline.report import paper_deviations

    paper = load_config("paper")
    changed = replace(paper, augment=replace(paper.augment, ratio=0.5, k=5, balance_by="class_ambiguity"),
                      corpus=replace(paper.corpus, max_utterances=100))
    assert paper_deviations(replace(paper, corpus=replace(paper.corpus, multi_label="fractional"))) == [
        "corpus.multi_label is 'fractional' (paper preset: 'whole')"]
    assert paper_deviations(changed) == [
        "corpus.max_utterances is 100 (paper preset: None)",
        "augment.ratio is 0.5 (paper preset: 0.3)",
        "augment.k is 5 (paper preset: 3)",
        "augment.balance_by is 'class_ambiguity' (paper preset: 'class')",
    ]
    msp = replace(paper, corpus=replace(paper.corpus, kind="msp-podcast", class_set="msp-4"))
    assert paper_deviations(msp) == ["annotate.n_annotators is 8 (paper preset: 10)"]
    assert paper_deviations(replace(msp, annotate=replace(paper.annotate, n_annotators=10))) == []


def test_train_command_is_an_hf_ambiguity_train_launch(tmp_path):
    from hf_ambiguity.cli import build_parser
    from hf_ambiguity.pipeline import config_to_dict
    from hf_ambiguity.training.config import parse_args, training_argv
    from hf_ambiguity.training.launch import train_command

    opt = config_to_dict(load_config("demo"))["train"]
    cmd = train_command(opt, dataset=tmp_path / "d", target="combined_dist", model="m", output_dir=tmp_path / "o",
                        resume=False)
    assert cmd[1:4] == ["-m", "hf_ambiguity", "train"]  # exits with the training script's own status and message
    args = cmd[4:]
    assert "--config_file" not in args and args[:2] == ["--num_processes", "1"]
    assert args[args.index("--dataset") + 1] == str(tmp_path / "d")
    assert ["--split", "dataset", "--no_dime_aug"] == args[4:7]      # the pipeline's own split + DiME-Aug
    assert args[args.index("--max_train_steps") + 1] == "2" and args[-4:] == list(opt["extra_args"])
    assert "--resume_from_checkpoint" not in args and "--checkpointing_steps" not in args
    opt = {**opt, "accelerate_config": "multi_gpu.yaml"}
    cmd = train_command(opt, dataset=tmp_path, target="human_dist", model="m", output_dir=tmp_path, resume=True,
                        checkpointing_steps=50)
    assert cmd[4:6] == ["--config_file", "multi_gpu.yaml"] and "--num_processes" not in cmd
    assert cmd[cmd.index("--checkpointing_steps") + 1] == "50"
    assert cmd[cmd.index("--resume_from_checkpoint") + 1] == "latest"
    given = vars(build_parser().parse_args(cmd[3:]))   # hf-ambiguity train accepts every flag we pass
    assert given["config_file"] == "multi_gpu.yaml"
    parsed = parse_args(training_argv(given))
    assert (parsed.split, parsed.dime_aug, parsed.target, parsed.checkpointing_steps) == \
        ("dataset", False, "human_dist", 50)


def test_rows_without_a_parsable_synthetic_answer_get_a_null_synthetic_distribution():
    import datasets

    from hf_ambiguity.annotate.engine import null_rows_without_synthetic_label as _null_empty_synthetic

    ds = datasets.Dataset.from_dict({"id": ["a", "b", "c"],
                                     "synthetic_dist": [[0.5, 0.5], [0.0, 0.0], [1.0, 0.0]]})
    out, n = _null_empty_synthetic(datasets.DatasetDict({"s1": ds, "s2": ds.select([0])}), "synthetic_dist")
    assert n == 1
    assert out["s1"]["synthetic_dist"] == [[0.5, 0.5], None, [1.0, 0.0]] and out["s2"].num_rows == 1
    same, n = _null_empty_synthetic(datasets.DatasetDict({"s": ds.select([0, 2])}), "synthetic_dist")
    assert n == 0 and same["s"]["synthetic_dist"] == [[0.5, 0.5], [1.0, 0.0]]


def test_published_figures_row_says_why_a_figure_is_missing(tmp_path):
    from hf_ambiguity.pipeline.published import PUBLISHED
    from hf_ambiguity.pipeline.report import _PlotDir, _section_evaluation

    def scored(js, bc):
        return {"reference": "x", "reference_column": "x", "by_level": {},
                "overall": {"n": 10, "js_divergence": {"mean": js}, "bhattacharyya": {"mean": bc}}}

    ev = {"description": "", "targets": {"human_dist": {"human": scored(0.31, 0.71)},      # evaluate_against: human
                                         "combined_dist": {"human": scored(0.4, 0.6)}}}
    lines: list[str] = []
    _section_evaluation(lines, ev, _PlotDir(tmp_path, ""), PUBLISHED["iemocap"], "IEMOCAP")
    text = "\n".join(lines)
    assert "| human | 0.302 / 0.724 | 0.310 / 0.710 |" in text          # human = the human model's own source
    assert "| synthetic | 0.431 / 0.607 | not trained |" in text
    assert "| combined (human + synthetic) | 0.325 / 0.715 | not scored against its own label source |" in text


@pytest.mark.parametrize(("corpus", "expected"), [
    ({"kind": "demo"}, 8),
    ({"kind": "iemocap", "data_dir": "/x", "class_set": "paper-4class"}, 8),
    ({"kind": "msp-podcast", "data_dir": "/x", "class_set": "msp-4"}, 10),
])
def test_unset_n_annotators_is_the_reference_n_of_the_corpus(corpus: dict, expected: int) -> None:
    assert config_from_dict({"corpus": corpus}).annotate.n_annotators == expected
    assert config_from_dict({"corpus": corpus, "annotate": {"n_annotators": 3}}).annotate.n_annotators == 3


def test_annotate_dtype_reaches_the_local_model_and_is_checked_at_load(tmp_path, tiny_model):
    """``annotate.dtype`` picks the local model's precision (float32 is what the README recommends for published
    distributions); a misspelt precision is refused at load, naming the key."""
    from hf_ambiguity.alm.factory import make_annotator
    from hf_ambiguity.pipeline.config import config_to_dict

    cfg = config_from_dict({"annotate": {"dtype": "bfloat16"}})
    annotator = make_annotator(config_to_dict(cfg)["annotate"], tiny_model)
    assert annotator.provenance()["dtype"] == "bfloat16"
    assert make_annotator(config_to_dict(load_config("demo"))["annotate"], tiny_model).provenance()["dtype"] \
        == "float32"  # unset: float32 on a CPU
    with pytest.raises(ConfigError, match="annotate.dtype"):
        load_config(_write(tmp_path, "annotate: {dtype: fp8}\n"))
