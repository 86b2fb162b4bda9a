"""The metric folders through `evaluate.load`, exactly as users call them: results equal the package's core, per-item
inputs (``ambiguity``, ``synthetic_labels``) travel through ``add_batch`` (streaming, several processes,
``evaluate.combine``), results are flat scalars, the docs' examples run, and each folder is a Hub Space layout."""

from __future__ import annotations

import doctest
import re
import runpy
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import evaluate
import numpy as np
import pytest
import yaml

from hf_ambiguity.analysis.agreement import fleiss_kappa, krippendorff_alpha, synthetic_human_agreement
from hf_ambiguity.analysis.alignment import alignment_statistics
from hf_ambiguity.analysis.significance import compare_candidates
from hf_ambiguity.metric_inputs import compute_from_json

REPO = Path(__file__).resolve().parents[1]
MODULES = ("distribution_alignment", "alignment_test", "annotator_agreement", "synthetic_benefit")
LEVELS = ("low", "medium", "high")


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # users call evaluate.load("metrics/<name>") from the repository root


def _data(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    ref = rng.dirichlet(np.ones(4), n)
    a = 0.7 * ref + 0.3 * rng.dirichlet(np.ones(4), n)
    b = 0.3 * ref + 0.7 * rng.dirichlet(np.ones(4), n)
    amb = rng.choice(LEVELS, n).tolist()
    return a.tolist(), b.tolist(), ref.tolist(), amb


def _close(got, want) -> None:
    """Nested results equal up to float rounding (streamed data is stored and read back through Arrow)."""
    if isinstance(want, dict):
        assert set(got) == set(want)
        for key in want:
            _close(got[key], want[key])
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
    else:
        assert got == want


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (int, float, str, bool))


def test_distribution_alignment_is_the_core_with_flat_overall_scalars() -> None:
    a, _, ref, amb = _data()
    metric = evaluate.load("metrics/distribution_alignment")
    got = metric.compute(predictions=a, references=ref, ambiguity=amb, n_bootstrap=50, seed=2)
    core = alignment_statistics(a, ref, amb, n_bootstrap=50, seed=2)
    assert {k: v for k, v in got.items() if k not in ("per_level", "confidence_intervals", "settings")} == \
        core["overall"]
    assert got["per_level"] == core["per_level"] and got["confidence_intervals"] == core["confidence_intervals"]
    assert all(_is_scalar(v) for k, v in got.items() if k not in ("per_level", "confidence_intervals", "settings"))
    plain = metric.compute(predictions=a, references=ref)  # ambiguity left out: no levels
    assert plain["per_level"] == {} and plain["js_divergence_base2"] == pytest.approx(core["overall"]["js_divergence_base2"])


def test_ambiguity_travels_through_add_batch_as_names_or_classlabel_codes() -> None:
    a, _, ref, amb = _data()
    metric = evaluate.load("metrics/distribution_alignment")
    for s in range(0, 60, 25):  # the middle batch gives ClassLabel codes, as ds["ambiguity"] returns them
        levels = amb[s: s + 25] if s != 25 else [LEVELS.index(x) for x in amb[s: s + 25]]
        metric.add_batch(predictions=a[s: s + 25], references=ref[s: s + 25], ambiguity=levels)
    streamed = metric.compute()
    _close(streamed["per_level"], alignment_statistics(a, ref, amb)["per_level"])
    for p, r, lv in zip(a[:6], ref[:6], amb[:6]):
        metric.add(prediction=p, reference=r, ambiguity=lv)
    _close(metric.compute()["per_level"], alignment_statistics(a[:6], ref[:6], amb[:6])["per_level"])
    metric.add_batch(predictions=a[:2], references=ref[:2], ambiguity=amb[:2])
    metric.add_batch(predictions=a[2:4], references=ref[2:4])
    with pytest.raises(ValueError, match=r"ambiguity row 2 is missing: give ambiguity for every item"):
        metric.compute()


def test_per_level_results_survive_two_processes(tmp_path: Path) -> None:
    a, _, ref, amb = _data(n=20)
    parts = {0: slice(0, 8), 1: slice(8, 20)}
    modules = {i: evaluate.load("metrics/distribution_alignment", num_process=2, process_id=i, experiment_id="mp",
                                cache_dir=str(tmp_path), timeout=60) for i in parts}

    def work(i: int):
        modules[i].add_batch(predictions=a[parts[i]], references=ref[parts[i]], ambiguity=amb[parts[i]])
        return modules[i].compute()

    with ThreadPoolExecutor(2) as pool:
        main, other = pool.map(work, [0, 1])
    assert other is None  # only process 0 computes, over both processes' items
    assert main["n_items"] == 20
    _close(main["per_level"], alignment_statistics(a, ref, amb)["per_level"])


def test_combine_routes_per_item_inputs_and_merges_flat_results() -> None:
    a, b, ref, amb = _data(seed=4)
    combined = evaluate.combine([evaluate.load("metrics/distribution_alignment"),
                                 evaluate.load("metrics/alignment_test")])
    for s in range(0, 60, 20):
        combined.add_batch(predictions=a[s: s + 20], baseline_predictions=b[s: s + 20], references=ref[s: s + 20],
                           ambiguity=amb[s: s + 20])
    got = combined.compute()
    align = alignment_statistics(a, ref, amb)
    test = compare_candidates(a, b, ref, amb).to_dict()
    assert got["js_divergence_base2"] == pytest.approx(align["overall"]["js_divergence_base2"])
    assert got["wilcoxon_pvalue"] == pytest.approx(test["overall"]["wilcoxon_pvalue"])
    # keys both modules return are prefixed by evaluate; the per-level detail of both is there
    assert got["distribution_alignment_per_level"]["low"]["n_items"] == amb.count("low")
    assert got["alignment_test_per_level"]["high"]["n_items"] == amb.count("high")
    assert got["alignment_test_n_items"] == got["distribution_alignment_n_items"] == 60


def test_distribution_alignment_errors_reach_the_user() -> None:
    metric = evaluate.load("metrics/distribution_alignment")
    with pytest.raises(ValueError, match=r"predictions row 1 does not sum to 1"):
        metric.compute(predictions=[[0.5, 0.5], [0.9, 0.3]], references=[[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"predictions row 1 has 3 entries but row 0 has 2"):
        metric.compute(predictions=[[0.5, 0.5], [0.5, 0.25, 0.25]], references=[[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"ambiguity row 0 has unknown level 'hi'"):
        metric.compute(predictions=[[0.5, 0.5]], references=[[1.0, 0.0]], ambiguity=["hi"])
    with pytest.raises(ValueError, match=r"ambiguity row 1 has the code 3, outside the levels"):
        metric.compute(predictions=[[0.5, 0.5]] * 2, references=[[1.0, 0.0]] * 2, ambiguity=[0, 3])
    counts = metric.compute(predictions=[[3, 1]], references=[[0, 2]], renormalize=True)
    assert counts["total_variation_distance"] == pytest.approx(0.75)


def test_alignment_test_is_the_core_with_flat_overall_scalars() -> None:
    a, b, ref, amb = _data(seed=1)
    metric = evaluate.load("metrics/alignment_test")
    got = metric.compute(predictions=a, baseline_predictions=b, references=ref, ambiguity=amb, n_resamples=500,
                         correction="fdr_bh", divergence="js_distance_natural")
    want = compare_candidates(a, b, ref, amb, n_resamples=500, correction="fdr_bh",
                              divergence="js_distance_natural").to_dict()
    assert got["per_level"] == want["per_level"]
    assert [got["mean_difference_ci95_low"], got["mean_difference_ci95_high"]] == \
        want["overall"]["mean_difference_ci95"]
    for key in ("n_items", "mean_difference", "wilcoxon_pvalue", "permutation_pvalue", "rank_biserial"):
        assert got[key] == want["overall"][key], key
    assert got["correction"] == "fdr_bh" and got["divergence"] == "js_distance_natural"
    assert all(_is_scalar(v) for k, v in got.items() if k != "per_level")
    assert got["mean_difference"] < 0 and got["wilcoxon_pvalue"] < 1e-6
    with pytest.raises(ValueError, match=r"correction must be one of"):
        metric.compute(predictions=a, baseline_predictions=b, references=ref, correction="holmes")


def test_annotator_agreement_both_configurations_and_streamed_label_lists() -> None:
    votes = [[3, 0, 0], [2, 1, 0], [0, 4, 1], [0, 0, 5], [1, 1, 1], [2, 0, 0]]
    metric = evaluate.load("metrics/annotator_agreement")
    got = metric.compute(votes=votes, seed=3)
    assert got["krippendorff_alpha"] == pytest.approx(krippendorff_alpha(votes).alpha)
    assert got["fleiss_kappa"] == pytest.approx(fleiss_kappa(votes, seed=3).kappa)
    assert got["fleiss_n_raters"] == 2 and got["n_pairable_items"] == 6
    assert all(_is_scalar(v) for v in got.values())
    pair = evaluate.load("metrics/annotator_agreement", "synthetic_vs_human")
    got = pair.compute(predictions=[[2, 0, 0]] * 6, references=votes)
    assert got["synthetic"]["alpha_pooled"] == pytest.approx(
        krippendorff_alpha(np.array(votes) + [[2, 0, 0]]).alpha)
    syn_votes = [[2, 0, 0], [1, 1, 0], [0, 2, 0], [0, 0, 2], [0, 1, 1], [2, 0, 0]]
    labels = [[0, 0], [0, 1], [1, 1], [2, 2], [1, 2], [0, 0]]
    for s in (0, 3):  # the label lists go with their items
        pair.add_batch(predictions=syn_votes[s: s + 3], references=votes[s: s + 3], synthetic_labels=labels[s: s + 3])
    streamed = pair.compute()
    want = synthetic_human_agreement(votes, syn_votes, synthetic_labels=labels).to_dict()
    assert streamed["synthetic"]["per_annotator"] == want["per_annotator"] and want["per_annotator"]
    with pytest.raises(ValueError, match=r"votes row 1 has a non-integer count"):
        metric.compute(votes=[[1, 1], [0.5, 1.5]])
    with pytest.raises(ValueError, match=r"configuration must be one of"):
        evaluate.load("metrics/annotator_agreement", "synthetic")


def test_a_module_loads_from_any_working_directory_by_its_absolute_path(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    metric = evaluate.load(str(REPO / "metrics" / "distribution_alignment"))
    assert metric.compute(predictions=[[1.0, 0.0]], references=[[1.0, 0.0]])["js_divergence_base2"] == 0.0


@pytest.mark.parametrize("name", MODULES)
def test_module_docstring_examples_run(name: str) -> None:
    module = evaluate.load(f"metrics/{name}")
    _run_doctest(module.inputs_description, f"{name}._KWARGS_DESCRIPTION")


@pytest.mark.parametrize("name", MODULES)
def test_card_examples_run_and_card_is_a_space_configuration(name: str) -> None:
    folder = REPO / "metrics" / name
    card = (folder / "README.md").read_text(encoding="utf-8")
    for section in ("Description", "How to Use", "Inputs", "Output Values", "Limitations and Bias", "Citation",
                    "Loading from any working directory", "Publish as a Space"):
        assert re.search(rf"^##+ .*{section}", card, flags=re.MULTILINE), section
    blocks = re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL)
    assert blocks
    _run_doctest("\n".join(blocks), f"{name}/README.md")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["sdk"] == "gradio" and re.fullmatch(r"\d+\.\d+\.\d+", str(meta["sdk_version"]))
    assert (folder / meta["app_file"]).is_file() and {"evaluate", "metric"} <= set(meta["tags"])
    assert meta["title"] and meta["description"]


@pytest.mark.parametrize("name", MODULES)
def test_requirements_name_installable_distributions(name: str) -> None:
    from packaging.requirements import Requirement

    lines = [ln.strip() for ln in (REPO / "metrics" / name / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    reqs = [Requirement(line) for line in lines]  # raises on anything pip would not parse
    assert {r.name for r in reqs} == {"evaluate", "hf-ambiguity"}
    from importlib.metadata import version

    evaluate_req = next(r for r in reqs if r.name == "evaluate")
    assert evaluate_req.specifier.contains(version("evaluate"))  # the version the suite runs satisfies it


@pytest.mark.parametrize("name", MODULES)
def test_space_app_builds_and_computes(name: str) -> None:
    """The Space's app.py with a current Gradio (skipped where Gradio is not installed: it is not a dependency)."""
    gr = pytest.importorskip("gradio")
    ns = runpy.run_path(str(REPO / "metrics" / name / "app.py"), run_name="app")
    demo = ns["demo"]
    assert isinstance(demo, gr.Blocks)
    for dependency in demo.fns.values():  # what a click runs, with the boxes' pre-filled example values
        result = dependency.fn(*[component.value for component in dependency.inputs])
        assert isinstance(result, dict) and result
        with pytest.raises(gr.Error, match="not valid JSON"):
            dependency.fn(*(["[[1, 0"] + [c.value for c in dependency.inputs[1:]]))


def test_space_app_input_parsing_without_gradio() -> None:
    metric = evaluate.load("metrics/distribution_alignment")
    got = compute_from_json(metric, {"predictions": "[[0.5, 0.5]]", "references": "[[1, 0]]", "ambiguity": ""},
                            '{"n_bootstrap": 0}')
    assert got["n_items"] == 1 and got["per_level"] == {}
    with pytest.raises(ValueError, match=r"options: expected a JSON object"):
        compute_from_json(metric, {"predictions": "[[1, 0]]", "references": "[[1, 0]]"}, "[1]")
    with pytest.raises(ValueError, match=r"references: not valid JSON"):
        compute_from_json(metric, {"predictions": "[[1, 0]]", "references": "[[1, 0"})


def _run_doctest(text: str, name: str) -> None:
    test = doctest.DocTestParser().get_doctest(text, {}, name, name, 0)
    assert test.examples, f"{name} has no examples"
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see output)"


@pytest.mark.parametrize("name", MODULES)
def test_evaluate_asks_for_the_right_package_when_hf_ambiguity_is_missing(name: str) -> None:
    from evaluate.loading import get_imports

    imports = get_imports(str(REPO / "metrics" / name / f"{name}.py"))
    ours = {path for kind, module, path, _ in imports if module == "hf_ambiguity"}
    assert ours == {"hf-ambiguity"}  # evaluate's "pip install ..." hint names the distribution, not the module
