"""Trial subsets that represent the corpus (issue 17): ``corpus.max_utterances`` draws a seeded sample stratified by
session and majority class; a protocol that cannot run on the subset is refused before any stage runs; the
recommended and paper configs both run end to end on a 5-session corpus."""

from __future__ import annotations

import pytest

from hf_ambiguity.demo import make_demo_corpus
from hf_ambiguity.errors import ConfigError
from hf_ambiguity.pipeline import config_from_dict, config_to_dict, load_config, run_pipeline
from hf_ambiguity.pipeline.plan import check_protocol


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """400 turns in the IEMOCAP layout over five sessions (0.1 s generated clips: quick to build)."""
    return make_demo_corpus(tmp_path_factory.mktemp("five_sessions") / "raw", n_utterances=400, clip_seconds=0.1)


def _trial(name: str, corpus, tiny_model, **corpus_keys):
    cfg = config_to_dict(load_config(name))
    cfg["corpus"].update({"kind": "iemocap", "data_dir": str(corpus), **corpus_keys})
    cfg["annotate"].update({"model": str(tiny_model), "n_annotators": 2, "batch_size": 16, "device": "cpu"})
    cfg["analysis"].update({"n_bootstrap": 20, "n_resamples": 200})
    cfg["train"].update({"model": str(tiny_model), "targets": ["human_dist"], "max_steps": 1, "batch_size": 4,
                         "gradient_accumulation_steps": 1, "checkpointing_steps": None,
                         "extra_args": ["--torch_dtype", "float32", "--mixed_precision", "no", "--max_text_tokens", "2048",
                                        "--per_device_eval_batch_size", "16"]})
    cfg["export"]["enabled"] = False
    return config_from_dict(cfg, where=f"{name}.yaml")


@pytest.mark.parametrize("name", ["recommended", "paper"])
def test_the_shipped_configs_run_end_to_end_on_a_stratified_trial_subset(name, corpus, tiny_model, tmp_path):
    cfg = _trial(name, corpus, tiny_model, max_utterances=40, seed=3)
    outcome = run_pipeline(cfg, run_dir=tmp_path / name)
    built = outcome.results["build"].record()
    assert built["n_utterances"] <= 40 and built["subset"]["n_drawn"] == built["n_utterances"]
    sessions = {s: sum(c["drawn"] for c in per.values()) for s, per in built["subset"]["counts"].items()}
    assert set(sessions) == {f"session{i}" for i in range(1, 6)} and min(sessions.values()) >= 1
    assert outcome.results["evaluate"].status == "ran"
    report = outcome.report.read_text()
    assert "**Trial subset**: this run used a seeded sample of" in report and "(seed 3)" in report


def test_the_subset_is_seeded_and_changes_with_the_seed(corpus, tiny_model):
    a = check_protocol(_trial("recommended", corpus, tiny_model, max_utterances=60, seed=3))
    assert a == check_protocol(_trial("recommended", corpus, tiny_model, max_utterances=60, seed=3))
    assert "seed 3" in a and "stratified by split and majority_label" in a


def test_a_protocol_that_cannot_run_on_the_subset_is_refused_before_any_stage(corpus, tiny_model, tmp_path):
    cfg = _trial("recommended", corpus, tiny_model, max_utterances=2, seed=0)   # fewer than the 5 sessions
    with pytest.raises(ConfigError, match=r"recommended\.yaml: the split protocol \(split\.kind: speaker\) cannot "
                                          r"run on the trial subset \(corpus\.max_utterances: 2\): .*change "
                                          r"corpus\.max_utterances") as info:
        run_pipeline(cfg, run_dir=tmp_path / "r", config_path="recommended.yaml")
    assert info.value.key == "corpus.max_utterances"
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").glob("0*"))   # no stage ran


def test_a_held_out_session_absent_from_the_corpus_is_refused_before_any_stage(corpus, tiny_model, tmp_path):
    cfg = _trial("recommended", corpus, tiny_model, ids_file=None)
    cfg = config_from_dict({**config_to_dict(cfg), "split": {**config_to_dict(cfg)["split"], "test_session": 5}})
    ids = tmp_path / "ids.txt"      # an explicit subset without session 5
    from hf_ambiguity.builders import corpus_metadata

    meta = corpus_metadata("iemocap", corpus, class_set=cfg.corpus.class_set)
    ids.write_text("\n".join(x for s in ("session1", "session2") for x in meta[s]["id"]) + "\n")
    cfg = config_from_dict({**config_to_dict(cfg), "corpus": {**config_to_dict(cfg)["corpus"], "ids_file": str(ids)}})
    with pytest.raises(ConfigError, match=r"cannot run on this corpus: .*no row has session 5.*change "
                                          r"split\.test_session"):
        check_protocol(cfg)
