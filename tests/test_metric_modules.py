"""The metric folders through `evaluate.load`, exactly as users call them, and the examples in their docs."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import evaluate
import numpy as np
import pytest

from hf_ambiguity.analysis.agreement import fleiss_kappa, krippendorff_alpha
from hf_ambiguity.analysis.alignment import alignment_statistics
from hf_ambiguity.analysis.significance import compare_candidates

REPO = Path(__file__).resolve().parents[1]
MODULES = ("distribution_alignment", "alignment_test", "annotator_agreement", "synthetic_benefit")


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # users call evaluate.load("metrics/<name>") from the repository root


def _data(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    ref = rng.dirichlet(np.ones(4), n)
    a = 0.7 * ref + 0.3 * rng.dirichlet(np.ones(4), n)
    b = 0.3 * ref + 0.7 * rng.dirichlet(np.ones(4), n)
    amb = rng.choice(["low", "medium", "high"], n).tolist()
    return a.tolist(), b.tolist(), ref.tolist(), amb


def test_distribution_alignment_equals_the_core_and_supports_batches() -> None:
    a, _, ref, amb = _data()
    metric = evaluate.load("metrics/distribution_alignment")
    got = metric.compute(predictions=a, references=ref, ambiguity=amb, n_bootstrap=50, seed=2)
    assert got == alignment_statistics(a, ref, amb, n_bootstrap=50, seed=2)
    for s in range(0, 60, 25):
        metric.add_batch(predictions=a[s : s + 25], references=ref[s : s + 25])
    batched = metric.compute(ambiguity=amb)
    assert batched["overall"] == pytest.approx(alignment_statistics(a, ref)["overall"])
    assert batched["per_level"]["low"]["n_items"] == amb.count("low")


def test_distribution_alignment_errors_reach_the_user() -> None:
    metric = evaluate.load("metrics/distribution_alignment")
    with pytest.raises(ValueError, match=r"predictions row 1 does not sum to 1"):
        metric.compute(predictions=[[0.5, 0.5], [0.9, 0.3]], references=[[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"predictions row 1 has 3 entries but row 0 has 2"):
        metric.compute(predictions=[[0.5, 0.5], [0.5, 0.25, 0.25]], references=[[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"ambiguity row 0 has unknown level 'hi'"):
        metric.compute(predictions=[[0.5, 0.5]], references=[[1.0, 0.0]], ambiguity=["hi"])
    counts = metric.compute(predictions=[[3, 1]], references=[[0, 2]], renormalize=True)
    assert counts["overall"]["total_variation_distance"] == pytest.approx(0.75)


def test_alignment_test_equals_the_core() -> None:
    a, b, ref, amb = _data(seed=1)
    metric = evaluate.load("metrics/alignment_test")
    got = metric.compute(predictions=a, baseline_predictions=b, references=ref, ambiguity=amb, n_resamples=500,
                         correction="fdr_bh", divergence="js_distance_natural")
    want = compare_candidates(a, b, ref, amb, n_resamples=500, correction="fdr_bh",
                              divergence="js_distance_natural").to_dict()
    assert got == want
    assert got["overall"]["mean_difference"] < 0 and got["overall"]["wilcoxon_pvalue"] < 1e-6
    with pytest.raises(ValueError, match=r"correction must be one of"):
        metric.compute(predictions=a, baseline_predictions=b, references=ref, correction="holmes")


def test_annotator_agreement_both_configurations() -> None:
    votes = [[3, 0, 0], [2, 1, 0], [0, 4, 1], [0, 0, 5], [1, 1, 1], [2, 0, 0]]
    metric = evaluate.load("metrics/annotator_agreement")
    got = metric.compute(votes=votes, seed=3)
    assert got["krippendorff_alpha"] == pytest.approx(krippendorff_alpha(votes).alpha)
    assert got["fleiss_kappa"] == pytest.approx(fleiss_kappa(votes, seed=3).kappa)
    assert got["fleiss_n_raters"] == 2 and got["n_pairable_items"] == 6
    pair = evaluate.load("metrics/annotator_agreement", "synthetic_vs_human")
    got = pair.compute(predictions=[[2, 0, 0]] * 6, references=votes)
    assert got["synthetic"]["alpha_pooled"] == pytest.approx(
        krippendorff_alpha(np.array(votes) + [[2, 0, 0]]).alpha)
    with pytest.raises(ValueError, match=r"votes row 1 has a non-integer count"):
        metric.compute(votes=[[1, 1], [0.5, 1.5]])
    with pytest.raises(ValueError, match=r"configuration must be one of"):
        evaluate.load("metrics/annotator_agreement", "synthetic")


@pytest.mark.parametrize("name", MODULES)
def test_module_docstring_examples_run(name: str) -> None:
    module = evaluate.load(f"metrics/{name}")
    _run_doctest(module.inputs_description, f"{name}._KWARGS_DESCRIPTION")


@pytest.mark.parametrize("name", MODULES)
def test_card_examples_run_and_card_has_the_sections(name: str) -> None:
    card = (REPO / "metrics" / name / "README.md").read_text(encoding="utf-8")
    for section in ("Description", "How to Use", "Inputs", "Output Values", "Limitations and Bias", "Citation"):
        assert re.search(rf"^##+ .*{section}", card, flags=re.MULTILINE), section
    blocks = re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL)
    assert blocks
    _run_doctest("\n".join(blocks), f"{name}/README.md")
    assert (REPO / "metrics" / name / "requirements.txt").read_text().split() == ["hf-ambiguity"]


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
