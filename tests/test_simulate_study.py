"""The simulation study on small sweeps: the map's verdicts agree with what the simulated worlds contain, the
report states non-inferiority only with its margin, the CLI writes its outputs, and ``--calibrate-from`` reads a
pipeline run folder (a small dataset written here with ``save_to_disk`` in the annotate stage's layout)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from hf_ambiguity.cli import main
from hf_ambiguity.simulate.config import config_from_dict
from hf_ambiguity.simulate.study import run_study

SMALL = {"n_items": 400, "seeds": [0], "humans": {"panels": [[5]]},
         "sweep": {"sharpness": [], "bias_strength": [], "noise": [], "correlation": [0.0]},
         "evaluation": {"merges": ["concat", "weighted"], "n_resamples": 200}}


@pytest.fixture(scope="module")
def study():
    return run_study(config_from_dict(SMALL))


def test_the_map_shows_what_the_worlds_contain(study):
    cells = {(c["merge"], c["world"], c["group"]): c for c in study.cells()}
    for merge in ("concat", "weighted"):  # the base proxy samples each item's own truth
        base = cells[(merge, "base", "overall")]
        assert base["verdicts"] == ["helps"] and base["oracle_difference"] < 0 and base["true_alm_effect"] < 0
    unrelated = cells[("concat", "correlation=0", "overall")]  # 8 votes about another item
    assert unrelated["verdicts"] == ["hurts"] and unrelated["true_alm_effect"] > 0
    assert "helps" not in {v for (m, w, g), c in cells.items() if w == "correlation=0" for v in c["verdicts"]}
    # smoothing alone beats raw vote shares (the part of any merge's gain that needs no ALM)
    assert cells[("weighted", "base", "overall")]["true_smoothing_effect"] < 0
    run = study.select(world="base", merge="weighted")[0]
    assert run.settings["merge"] == "weighted" and run.settings["n_items_used"] == 400


def test_report_states_non_inferiority_with_its_margin(study, tmp_path):
    from hf_ambiguity.simulate.report import render_markdown, write_outputs

    text = render_markdown(study)
    assert "## The map" in text and "## Smoothing-only ablation" in text
    assert "margin **0.005**" in text and "never worse" not in text.lower()
    assert "| base | 5 | `+` " in text
    paths = write_outputs(study, tmp_path)
    assert paths["map"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads(paths["results"].read_text())
    assert {c["merge"] for c in results["map"]} == {"concat", "weighted"} and len(results["runs"]) == 4
    assert yaml.safe_load(paths["config"].read_text())["n_items"] == 400


def test_seeded_study_is_identical():
    cfg = config_from_dict(SMALL | {"n_items": 200, "sweep": {"sharpness": [], "bias_strength": [], "noise": [],
                                                                "correlation": []},
                                    "evaluation": {"merges": ["weighted"], "n_resamples": 100}})
    assert run_study(cfg).to_dict() == run_study(cfg).to_dict()


def test_cli_writes_the_outputs_and_rejects_a_bad_config(tmp_path, capsys):
    cfg_path = tmp_path / "sim.yaml"
    cfg_path.write_text(yaml.safe_dump(SMALL | {"sweep": {"sharpness": [], "bias_strength": [], "noise": [],
                                                          "correlation": []},
                                                "evaluation": {"merges": ["weighted"], "n_resamples": 100}}))
    out = tmp_path / "out"
    assert main(["simulate", "--config", str(cfg_path), "--out", str(out), "--quiet"]) == 0
    assert (out / "report.md").is_file() and (out / "map.png").is_file() and (out / "results.json").is_file()
    assert "weighted, base proxy, 5 raters: helps" in capsys.readouterr().out
    bad = tmp_path / "typo.yaml"
    bad.write_text("proxy:\n  sharpnes: 3\n")
    assert main(["simulate", "--config", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "typo.yaml" in err and "unknown key 'proxy.sharpnes'" in err


def _write_run(run_dir, *, sharpness=2.5, bias=0.3, seed=3):
    """A pipeline run folder with only what --calibrate-from reads: RUN/02_annotate/dataset (a DatasetDict)."""
    import datasets

    from hf_ambiguity.distributions import reference_label_entropy, tercile_levels
    from hf_ambiguity.simulate.sampling import simulate_world

    cfg = config_from_dict({"n_items": 600, "proxy": {"sharpness": sharpness, "bias_strength": bias,
                                                      "bias_toward": "neutral"}})
    w = simulate_world(cfg, cfg.proxy, (3, 3, 4), seed)
    names = list(cfg.names)
    labels = [[names[c] for c in row] for row in w.label_lists()]
    votes = w.synthetic * 8
    votes[:5] = 0  # five utterances without a parsable synthetic answer
    dist = np.where(votes.sum(axis=1, keepdims=True) > 0, w.synthetic, 0.0)
    amb = tercile_levels([reference_label_entropy(lab) for lab in labels])
    features = datasets.Features({
        "human_labels": datasets.List(datasets.Value("string")),
        "human_votes": datasets.List(datasets.Value("float64")),
        "human_dist": datasets.List(datasets.Value("float64")),
        "n_annotators": datasets.Value("int32"), "ambiguity": datasets.Value("string"),
        "synthetic_dist": datasets.List(datasets.Value("float64")),
        "synthetic_votes": datasets.List(datasets.Value("float64")),
        "majority_label": datasets.ClassLabel(names=names)})
    rows = {"human_labels": labels, "human_votes": w.human_votes.tolist(),
            "human_dist": (w.human_votes / w.human_votes.sum(1, keepdims=True)).tolist(),
            "n_annotators": w.lengths.tolist(), "ambiguity": amb, "synthetic_dist": dist.tolist(),
            "synthetic_votes": votes.tolist(), "majority_label": w.human_votes.argmax(axis=1).tolist()}
    ds = datasets.Dataset.from_dict(rows, features=features)
    split = datasets.DatasetDict({"train": ds.select(range(450)), "test": ds.select(range(450, 600))})
    split.save_to_disk(str(run_dir / "02_annotate" / "dataset"))
    return w


def test_calibrate_from_a_run_folder(tmp_path, capsys):
    import datasets

    from hf_ambiguity.commands.simulate import annotate_dataset_dir
    from hf_ambiguity.simulate.calibrate import calibrate, observed_statistics_from_dataset

    run = tmp_path / "run"
    _write_run(run)
    folder = annotate_dataset_dir(run)
    assert folder == run / "02_annotate" / "dataset"
    obs = observed_statistics_from_dataset(datasets.load_from_disk(str(folder)))
    assert (obs.synthetic_mode, obs.n_annotators, obs.n_items) == ("votes", 8, 595)
    assert set(obs.rater_counts) == {3, 4} and obs.class_names[0] == "neutral"
    assert obs.class_bias[0] == max(obs.class_bias) > 0.05  # biased toward neutral
    cal = calibrate(obs, config_from_dict(SMALL), n_items=600)
    p = cal.parameters
    assert p["bias_toward"] == 0 and p["bias_strength"] > 0.1 and p["sharpness"] > 1.2
    assert abs(cal.simulated.synthetic_entropy - obs.synthetic_entropy) < 0.05
    assert abs(cal.simulated.human_agreement - obs.human_agreement) < 0.03

    cfg_path = tmp_path / "sim.yaml"
    cfg_path.write_text(yaml.safe_dump(SMALL | {"evaluation": {"merges": ["weighted"], "n_resamples": 100}}))
    out = tmp_path / "out"
    assert main(["simulate", "--config", str(cfg_path), "--calibrate-from", str(run), "--out", str(out),
                 "--quiet"]) == 0
    report = (out / "report.md").read_text()
    assert "## Calibration" in report and str(folder) in report
    saved = json.loads((out / "calibration.json").read_text())
    assert saved["observed"]["n_annotators"] == 8 and saved["parameters"]["bias_toward"] == 0
    written = yaml.safe_load((out / "config.yaml").read_text())
    assert set(written["humans"]["panels"][0]) == {3, 4} and written["class_names"][0] == "neutral"
    capsys.readouterr()
    assert main(["simulate", "--calibrate-from", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "no annotate-stage dataset" in capsys.readouterr().err
