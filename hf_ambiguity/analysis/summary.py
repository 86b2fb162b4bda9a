"""What the alignment and evaluation stages report, as library functions.

:func:`synthetic_alignment_record` answers, for a dataset with human and synthetic columns: how close are the
synthetic and the merged distributions to the human ones by ambiguity level (descriptive, with bootstrap CIs); do the
synthetic labels help predict what a *new* human rater says (the held-out-annotator test of
:func:`~hf_ambiguity.analysis.synthetic_benefit.synthetic_benefit`, for the run's merge and every other merge, each
beside the ALM-free smoothing baseline); agreement; and, for sample-mode annotators, the saturation of alignment with
the number of synthetic annotators. :func:`model_alignment_record` scores a fine-tuned model's test predictions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from hf_ambiguity.analysis.agreement import agreement_summary, synthetic_human_agreement
from hf_ambiguity.analysis.alignment import alignment_statistics, argmax_tie_order, summarise_alignment
from hf_ambiguity.analysis.synthetic_benefit import synthetic_benefit
from hf_ambiguity.distributions import AmbiguityDefinition, evaluation_levels, label_indices
from hf_ambiguity.schema import ambiguity_levels, class_names

__all__ = ["synthetic_alignment_record", "benefit_record", "model_alignment_record", "levels_description",
           "EVALUATION_DESCRIPTION",
           "BENEFIT_DESCRIPTION", "column_matrix"]

#: Fewest items (with >= 2 human labels and a synthetic answer) the held-out-annotator test is run on.
MIN_ITEMS = 20

#: How the report introduces the held-out-annotator test (its design in a few sentences).
BENEFIT_DESCRIPTION = (
    "Do the synthetic labels help predict what a new human rater says? Each human label of an item is held out in "
    "turn and forecast from the item's remaining labels, once smoothed toward the corpus class frequencies without "
    "any ALM (the baseline) and once merged with the synthetic distribution; both forecasts are scored with proper "
    "scores (Brier, log-loss). Every weight and pseudo-count is fitted on other items (cross-fitting), so nothing is "
    "fitted on the labels it scores, and the ambiguity strata come from the remaining labels, never from the "
    "held-out one. A verdict says \"helps\" only when the bootstrap confidence interval of the score difference "
    "(candidate - baseline, items resampled) lies below zero, \"hurts\" when above, else \"no detectable "
    "difference\" (per-stratum intervals Bonferroni-adjusted); \"not worse\" is only claimed as non-inferiority "
    "with its margin. Design and limits: docs/synthetic-benefit.md.")

#: What each annotation mode's synthetic distribution is, in words (the report says which mode produced it).
MODE_WORDS = {
    "sample": "N simulated annotators' free-text answers, each with its focus and temperature; vote shares",
    "expected": "the exact expectation of the N simulated annotators' answers, each with its focus and temperature",
    "score": "one annotator-neutral prompt at temperature 1; not the protocol's N annotators",
}

#: How the evaluation record introduces the scores of fine-tuned models.
EVALUATION_DESCRIPTION = (
    "Test split predictions of each fine-tuned model, scored against the test set's distributions of the "
    "model's own label source (`own`, the reference's scoring) and against the human distributions "
    "(`human`, the project's recommendation: the human judgments are what a model should match).")


def column_matrix(ds: Any, column: str) -> np.ndarray:
    """A vector column of a dataset as a float64 ``(n_rows, width)`` array."""
    return np.asarray(ds.with_format("numpy")[column], dtype=np.float64)


def benefit_record(labels: list[np.ndarray], synthetic: np.ndarray, n_classes: int, opt: Mapping[str, Any]
                   ) -> dict[str, Any]:
    """The held-out-annotator test for the run's merge and the other merges, each against the ALM-free smoothing
    baseline.

    ``synthetic``: ``(n_items, n_classes)`` synthetic vote counts (a zero row = no synthetic answer: the item is
    skipped and counted). The run's merge (``opt["merge"]``): ``concat`` adds the item's synthetic distribution
    weighted by the mean number of synthetic votes per answered item (the run's N), ``weighted`` by ``weight`` x N,
    ``adaptive`` the empirical-Bayes merge; the other rows are the merge with its synthetic weight cross-fitted
    (the best fixed weight) and the adaptive merge. Options: ``benefit_design``, ``benefit_strata``,
    ``primary_score``, ``alpha``, ``margin``, ``n_resamples``, ``seed``.
    """
    totals = synthetic.sum(axis=1)
    answered = totals > 0
    eligible = int(sum(1 for lab, a in zip(labels, answered) if a and len(lab) >= 2))
    if eligible < MIN_ITEMS:
        return {"description": BENEFIT_DESCRIPTION, "primary_score": opt["primary_score"],
                "undefined": f"only {eligible} utterances have at least two human labels and a synthetic answer; "
                             f"the test needs at least {MIN_ITEMS} (cross-fitting over 5 folds)", "merges": {}}
    dist = np.divide(synthetic, totals[:, None], out=np.zeros_like(synthetic), where=answered[:, None])
    n_votes = float(totals[answered].mean()) if answered.any() else 0.0
    strategy, weight = opt["merge"]["strategy"], float(opt["merge"]["weight"])
    runs: list[tuple[str, str, dict[str, Any]]] = []
    if strategy == "adaptive":
        runs.append(("run", "the run's merge: adaptive (fitted by folds)", {"merge": "adaptive"}))
    else:
        w = n_votes * (1.0 if strategy == "concat" else weight)
        label = (f"the run's merge: concat ({n_votes:.3g} synthetic votes per item)" if strategy == "concat" else
                 f"the run's merge: weighted (lambda = {weight:g}, {w:.3g} votes per item)")
        runs.append(("run", label, {"merge": "concat", "synthetic_weight": w}))
        runs.append(("adaptive", "adaptive merge (fitted by folds)", {"merge": "adaptive"}))
    runs.append(("best_weight", "best fixed synthetic weight (fitted by folds; weight 0 = the baseline)",
                 {"merge": "weighted"}))
    common = {"design": opt["benefit_design"], "strata": opt["benefit_strata"], "primary": opt["primary_score"],
              "alpha": opt["alpha"], "margin": opt["margin"], "n_resamples": opt["n_resamples"], "seed": opt["seed"]}
    merges: dict[str, Any] = {}
    for key, title, kwargs in runs:
        res = synthetic_benefit(labels, dist, n_classes, min_items=MIN_ITEMS, **common, **kwargs)
        merges[key] = {"title": title, **res.to_dict()}
    return {"description": BENEFIT_DESCRIPTION, "primary_score": opt["primary_score"],
            "synthetic_votes_per_answered_item": n_votes, "items_without_synthetic_answer": int((~answered).sum()),
            "merges": merges}


def synthetic_alignment_record(ds: Any, opt: Mapping[str, Any], *, plot_dir: Path | None = None
                               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Descriptive alignment, the held-out-annotator test, agreement and saturation of a dataset with ``human_*``
    (and, when ``opt["synthetic"]``, ``<name>_*`` and ``combined_*``) columns.

    ``opt``: ``name``, ``synthetic``, ``synthetic_labels`` (sample mode: labels, so agreement and saturation are
    defined), ``merge`` (``strategy``, ``weight``) and the ``analysis`` options (``n_bootstrap``, ``seed``,
    ``argmax_ties``, ``fleiss_scheme``, ``saturation`` and those of :func:`benefit_record`). ``plot_dir``: where the
    saturation plot is written. Returns ``(record, summary)``: the JSON record the report reads and headline
    numbers.
    """
    classes = class_names(ds)
    k = len(classes)
    human = column_matrix(ds, "human_dist")
    amb = np.asarray(ambiguity_levels(ds))
    ties = argmax_tie_order(classes, opt["argmax_ties"])
    labels = label_indices(ds["human_labels"], classes)
    human_counts = np.stack([np.bincount(x, minlength=k) for x in labels]).astype(np.float64)
    out: dict[str, Any] = {"comparisons": {}, "full": {}, "settings": {
        "argmax_ties": opt["argmax_ties"], "fleiss_scheme": opt["fleiss_scheme"],
        "levels": "the build's ambiguity levels over the whole corpus (column `ambiguity`)"}}
    agreement: dict[str, Any] = {"human": agreement_summary(human_counts, kappa_scheme=opt["fleiss_scheme"])}
    summary: dict[str, Any] = {"items": len(ds)}
    name = opt["name"]
    if opt["synthetic"]:
        out["description"] = (
            f"Descriptive: `{name}_dist` (synthetic annotators) and `combined_dist` (human + synthetic, merge "
            f"`{opt['merge']['strategy']}`) against `human_dist`. The combined distribution contains the human "
            "labels, so it is closer to them by construction: these figures do not say whether the synthetic labels "
            "help; the held-out-annotator test below does.")
        syn_votes = column_matrix(ds, f"{name}_votes")
        has = syn_votes.sum(axis=1) > 0   # sample mode: no parsable answer -> no synthetic distribution
        out["utterances_without_synthetic_label"] = int((~has).sum())
        if not has.all():
            out["description"] += (f" {int((~has).sum())} of {len(ds)} utterances got no parsable synthetic answer "
                                   "and are left out of the synthetic-vs-human rows.")
        syn = column_matrix(ds, f"{name}_dist")
        comb = column_matrix(ds, "combined_dist")
        mode = opt.get("mode", "sample")
        out["description"] += f" The synthetic columns come from annotation mode `{mode}` ({MODE_WORDS.get(mode, mode)})."
        rows = [("synthetic_vs_human", syn[has], human[has], amb[has], "synthetic vs human")]
        if f"{name}_uncalibrated_dist" in ds.column_names:   # raw beside calibrated
            raw = column_matrix(ds, f"{name}_uncalibrated_dist")
            rows[0] = ("synthetic_vs_human", syn[has], human[has], amb[has], "synthetic (calibrated) vs human")
            rows.append(("uncalibrated_vs_human", raw[has], human[has], amb[has],
                         "synthetic (uncalibrated) vs human"))
        rows.append(("combined_vs_human", comb, human, amb, "combined vs human"))
        for key, pred, ref, lv, title in rows:
            if len(pred) == 0:
                continue
            st = alignment_statistics(pred, ref, lv, n_bootstrap=opt["n_bootstrap"], seed=opt["seed"],
                                      tie_order=ties)
            out["full"][key] = st
            out["comparisons"][key] = {"title": title, **summarise_alignment(st)}
        if "synthetic_vs_human" in out["comparisons"]:
            summary["JS synthetic vs human"] = round(out["comparisons"]["synthetic_vs_human"]["overall"]
                                                    ["js_divergence"]["mean"], 4)
        out["benefit"] = benefit_record(labels, syn_votes, k, opt)
        if out["benefit"]["merges"]:
            summary["synthetic labels (run's merge)"] = out["benefit"]["merges"]["run"]["overall"]["verdict"]
        if opt["synthetic_labels"]:
            agreement[f"synthetic annotators (`{name}`)"] = agreement_summary(syn_votes,
                                                                              kappa_scheme=opt["fleiss_scheme"])
            agreement["human + synthetic"] = agreement_summary(human_counts + syn_votes,
                                                               kappa_scheme=opt["fleiss_scheme"])
            sh = synthetic_human_agreement(human_counts.astype(np.int64), np.rint(syn_votes).astype(np.int64))
            agreement["human + synthetic"]["note"] += (
                f"; synthetic plurality = human plurality on {sh.plurality_agreement:.3f} of "
                f"{sh.n_items_plurality} items with a unique plurality on both sides")
            out["saturation"] = _saturation(ds, name, opt, plot_dir)
        else:
            agreement[f"synthetic annotators (`{name}`)"] = {
                "note": "this annotation mode gives one distribution per utterance, not labels: no agreement or "
                        "saturation statistic"}
    else:
        out["description"] = "No synthetic annotators in this run: human agreement only."
    out["agreement"] = agreement
    alpha = agreement["human"].get("krippendorff_alpha")
    summary["human alpha"] = None if alpha is None else round(alpha, 3)
    return out, summary


def _saturation(ds: Any, name: str, opt: Mapping[str, Any], plot_dir: Path | None) -> dict[str, Any]:
    """Alignment of 1..N sample-mode synthetic annotators with the human distributions, and its saturation point."""
    from hf_ambiguity.analysis.saturation import plot_saturation, saturation_from_dataset

    try:
        res = saturation_from_dataset(ds, name, seed=opt["seed"], procedure=opt["saturation"])
    except ValueError as err:   # e.g. a single synthetic annotator: no curve
        return {"procedure": opt["saturation"], "undefined": str(err)}
    record = {"procedure": opt["saturation"], **res.to_dict()}
    if plot_dir is not None:
        plot_saturation(res, plot_dir / "saturation.png", title=f"Saturation ({opt['saturation']} procedure)")
        record["plot"] = "saturation.png"
    return record


def levels_description(levels_over: str, definition: AmbiguityDefinition | None = None) -> str:
    """Which levels :func:`model_alignment_record` uses, in words (the report states it for every table)."""
    if levels_over == "test":
        return (definition or AmbiguityDefinition()).describe("the test split")
    return "the build's ambiguity levels over the whole corpus (column `ambiguity`)"


def model_alignment_record(pred: np.ndarray, test: Any, target: str, *, against: str, n_bootstrap: int, seed: int,
                           balanced_ids: set[str] | None = None, levels_over: str = "corpus",
                           definition: AmbiguityDefinition | None = None, argmax_ties: str = "class_order"
                           ) -> tuple[dict[str, Any], dict[str, float]]:
    """A fine-tuned model's test predictions ``(n_rows, n_classes)`` scored by ambiguity level with bootstrap CIs
    against its own target column (``against`` ``own``/``both``: the reference's scoring) and/or the human
    distributions (``human``/``both``), and against the human distributions on the balanced evaluation view when
    ``balanced_ids`` (the view's row ids) are given.

    ``levels_over="test"`` recomputes the levels on the test split from its ``entropy`` scores with ``definition``
    (the reference bins its test set); ``"corpus"`` uses the build's levels. ``argmax_ties`` orders arg-max ties
    (:func:`~hf_ambiguity.analysis.alignment.argmax_tie_order`). Returns ``(record, headline JS figures)``.
    """
    summary: dict[str, float] = {}
    ties = argmax_tie_order(class_names(test), argmax_ties)
    if levels_over == "test":
        amb = evaluation_levels(test["entropy"], definition or AmbiguityDefinition())
    else:
        amb = ambiguity_levels(test)
    record: dict[str, Any] = {}
    refs = []
    if against in ("own", "both"):
        own_title = (f"its own label source (`{target}`)" if target != "human_dist" else
                     "its own label source, the human distributions (`human_dist`)")
        refs.append(("own", target, own_title))
    if against == "human" or (against == "both" and target != "human_dist"):
        refs.append(("human", "human_dist", "the human distributions (`human_dist`)"))
    for key, column, title in refs:
        st = alignment_statistics(pred, column_matrix(test, column), amb, n_bootstrap=n_bootstrap, seed=seed,
                                  tie_order=ties)
        record[key] = {"reference": title, "reference_column": column, **summarise_alignment(st), "full": st}
        summary[f"JS {target} vs {column}"] = round(st["overall"]["js_divergence_base2"], 4)
    if balanced_ids is not None:
        rows = [i for i, x in enumerate(test["id"]) if str(x) in balanced_ids]
        if rows:
            st = alignment_statistics(pred[rows], column_matrix(test, "human_dist")[rows], [amb[i] for i in rows],
                                      n_bootstrap=n_bootstrap, seed=seed, tie_order=ties)
            record["balanced"] = {
                "reference": "the human distributions on the balanced evaluation view (equal counts per "
                             "dominant emotion × ambiguity cell)", "reference_column": "human_dist (balanced)",
                **summarise_alignment(st), "full": st}
    return record, summary
