"""What the alignment and evaluation stages report, as library functions: synthetic and merged distributions
against the human ones by ambiguity level (with bootstrap CIs, the paired held-out test and agreement), and a
fine-tuned model's test predictions against its own target and the human distributions."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from hf_ambiguity.analysis.agreement import agreement_summary, synthetic_human_agreement
from hf_ambiguity.analysis.alignment import alignment_statistics, summarise_alignment
from hf_ambiguity.analysis.divergences import js_divergence
from hf_ambiguity.analysis.significance import paired_comparison
from hf_ambiguity.annotate.merge import fit_adaptive_merge, merge_votes
from hf_ambiguity.distributions import label_indices
from hf_ambiguity.schema import AMBIGUITY_LEVELS, ambiguity_levels, class_names

__all__ = ["synthetic_alignment_record", "leave_one_label_out", "model_alignment_record", "EVALUATION_DESCRIPTION",
           "column_matrix"]


def column_matrix(ds: Any, column: str) -> np.ndarray:
    """A vector column of a dataset as a float64 ``(n_rows, width)`` array."""
    return np.asarray(ds.with_format("numpy")[column], dtype=np.float64)


def leave_one_label_out(labels: list[np.ndarray], synthetic_votes: np.ndarray, n_classes: int, *,
                        strategy: str, weight: float, adaptive: Any = None) -> dict[str, np.ndarray]:
    """Per item: how well human-only and human + synthetic predict a held-out human label.

    For every item with at least two human labels, each label in turn is held out; the rest give the human-only
    distribution (A) and, merged with the item's synthetic votes by ``strategy``, the merged distribution (B). The
    score is the JS divergence (base 2) of A and of B to the held-out label (one-hot), averaged over the held-out
    choices. Returns ``{"items", "human_only", "merged"}`` (item indices and the two per-item scores).
    """
    rows_item, rest, held = [], [], []
    for i, lab in enumerate(labels):
        if lab.size < 2:
            continue
        counts = np.bincount(lab, minlength=n_classes).astype(np.float64)
        for c in lab:
            r = counts.copy()
            r[c] -= 1
            rows_item.append(i)
            rest.append(r)
            held.append(c)
    if not rows_item:
        return {"items": np.zeros(0, dtype=np.int64), "human_only": np.zeros(0), "merged": np.zeros(0)}
    item = np.asarray(rows_item)
    rest_v = np.asarray(rest)
    onehot = np.eye(n_classes)[np.asarray(held)]
    human = rest_v / rest_v.sum(axis=1, keepdims=True)
    merged = merge_votes(rest_v, synthetic_votes[item], strategy=strategy, weight=weight, adaptive=adaptive).dist
    div_h = js_divergence(human, onehot)
    div_m = js_divergence(merged, onehot)
    items, inverse = np.unique(item, return_inverse=True)
    n = np.bincount(inverse)
    return {"items": items, "human_only": np.bincount(inverse, weights=div_h) / n,
            "merged": np.bincount(inverse, weights=div_m) / n}


def synthetic_alignment_record(ds: Any, opt: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Human vs synthetic (and merged) alignment by ambiguity level, the paired held-out test, and agreement, of a
    dataset with ``human_*`` (and, when ``opt["synthetic"]``, ``<name>_*`` and ``combined_*``) columns.

    ``opt``: ``name``, ``synthetic``, ``synthetic_labels`` (sample mode: labels, so agreement is defined),
    ``merge`` (``strategy``, ``weight``), ``n_bootstrap``, ``n_resamples``, ``seed``. Returns ``(record, summary)``:
    the JSON record the report reads and a few headline numbers.
    """
    classes = class_names(ds)
    k = len(classes)
    human = column_matrix(ds, "human_dist")
    amb = ambiguity_levels(ds)
    out: dict[str, Any] = {"comparisons": {}, "full": {}}
    name = opt["name"]
    labels = label_indices(ds["human_labels"], classes)
    human_counts = np.stack([np.bincount(x, minlength=k) for x in labels]).astype(np.float64)
    agreement: dict[str, Any] = {"human": agreement_summary(human_counts)}
    summary: dict[str, Any] = {"items": len(ds)}
    if opt["synthetic"]:
        out["description"] = (
            f"`{name}_dist` (synthetic annotators) and `combined_dist` (human + synthetic, merge "
            f"`{opt['merge']['strategy']}`) against `human_dist`. The combined distribution contains the human "
            "labels, so it is closer to them by construction; the paired test below asks the fair question: does "
            "adding the synthetic labels help predict a *held-out* human label?")
        syn_votes = column_matrix(ds, f"{name}_votes")
        has = syn_votes.sum(axis=1) > 0   # sample mode: no parsable answer -> no synthetic distribution
        out["utterances_without_synthetic_label"] = int((~has).sum())
        if not has.all():
            out["description"] += (f" {int((~has).sum())} of {len(ds)} utterances got no parsable synthetic answer "
                                   "and are left out of the synthetic-vs-human rows.")
        syn = column_matrix(ds, f"{name}_dist")
        comb = column_matrix(ds, "combined_dist")
        amb_arr = np.asarray(amb)
        for key, pred, ref, lv, title in (
                ("synthetic_vs_human", syn[has], human[has], amb_arr[has], "synthetic vs human"),
                ("combined_vs_human", comb, human, amb_arr, "combined vs human")):
            if len(pred) == 0:
                continue
            st = alignment_statistics(pred, ref, lv, n_bootstrap=opt["n_bootstrap"], seed=opt["seed"])
            out["full"][key] = st
            out["comparisons"][key] = {"title": title, **summarise_alignment(st)}
        if "synthetic_vs_human" in out["comparisons"]:
            summary["JS synthetic vs human"] = round(out["comparisons"]["synthetic_vs_human"]["overall"]
                                                    ["js_divergence"]["mean"], 4)
        adaptive = None
        if opt["merge"]["strategy"] == "adaptive":
            adaptive = fit_adaptive_merge(human_counts, syn_votes)
        loo = leave_one_label_out(labels, syn_votes, k, strategy=opt["merge"]["strategy"],
                                  weight=opt["merge"]["weight"], adaptive=adaptive)
        if loo["items"].size >= 2:
            amb_loo = [amb[i] for i in loo["items"]]
            res = paired_comparison(loo["merged"], loo["human_only"], amb_loo, n_resamples=opt["n_resamples"],
                                    seed=opt["seed"])
            rows = []
            for level, t in [*((lv, res.per_level[lv]) for lv in AMBIGUITY_LEVELS if lv in res.per_level),
                             ("overall", res.overall)]:
                rows.append({"level": level, "n": t.n_items, "mean_a": t.mean_a, "mean_b": t.mean_b,
                             "effect_size": t.rank_biserial, "p_value": t.wilcoxon_pvalue,
                             "p_corrected": t.wilcoxon_pvalue_corrected if level != "overall" else t.wilcoxon_pvalue,
                             "significant": bool((t.wilcoxon_pvalue_corrected if level != "overall"
                                                  else t.wilcoxon_pvalue) < 0.05)})
            out["paired_test"] = {
                "name_a": "human + synthetic", "name_b": "human only", "correction": res.correction,
                "description": ("leave-one-label-out: each human label in turn is held out; JS divergence (base 2) "
                                "of the remaining human labels (human only) and of those merged with the synthetic "
                                "votes (human + synthetic) to the held-out label, averaged per utterance; Wilcoxon "
                                "signed-rank test per ambiguity level, Holm-corrected across levels; effect size = "
                                "matched-pairs rank-biserial correlation (negative: human + synthetic is closer). "
                                f"{loo['items'].size} utterances with at least two human labels."),
                "rows": rows, "full": res.to_dict()}
        if opt["synthetic_labels"]:
            agreement[f"synthetic annotators (`{name}`)"] = agreement_summary(syn_votes)
            agreement["human + synthetic"] = agreement_summary(human_counts + syn_votes)
            sh = synthetic_human_agreement(human_counts.astype(np.int64), np.rint(syn_votes).astype(np.int64))
            agreement["human + synthetic"]["note"] += (
                f"; synthetic plurality = human plurality on {sh.plurality_agreement:.3f} of "
                f"{sh.n_items_plurality} items with a unique plurality on both sides")
        else:
            agreement[f"synthetic annotators (`{name}`)"] = {
                "note": "score mode gives one distribution per utterance, not labels: no agreement statistic"}
    else:
        out["description"] = "No synthetic annotators in this run: human agreement only."
    out["agreement"] = agreement
    alpha = agreement["human"].get("krippendorff_alpha")
    summary["human alpha"] = None if alpha is None else round(alpha, 3)
    return out, summary


#: How the evaluation record introduces the scores of fine-tuned models.
EVALUATION_DESCRIPTION = (
    "Test split predictions of each fine-tuned model, scored against the test set's distributions of the "
    "model's own label source (`own`, the reference's scoring) and against the human distributions "
    "(`human`, the project's recommendation: the human judgments are what a model should match).")


def model_alignment_record(pred: np.ndarray, test: Any, target: str, *, against: str, n_bootstrap: int, seed: int,
                           balanced_ids: set[str] | None = None) -> tuple[dict[str, Any], dict[str, float]]:
    """A fine-tuned model's test predictions ``(n_rows, n_classes)`` scored by ambiguity level with bootstrap CIs
    against its own target column (``against`` ``own``/``both``: the reference's scoring) and/or the human
    distributions (``human``/``both``), and against the human distributions on the balanced evaluation view when
    ``balanced_ids`` (the view's row ids) are given. Returns ``(record, headline JS figures)``."""
    summary: dict[str, float] = {}
    record: dict[str, Any] = {}
    amb = ambiguity_levels(test)
    refs = []
    if against in ("own", "both"):
        own_title = (f"its own label source (`{target}`)" if target != "human_dist" else
                     "its own label source, the human distributions (`human_dist`)")
        refs.append(("own", target, own_title))
    if against == "human" or (against == "both" and target != "human_dist"):
        refs.append(("human", "human_dist", "the human distributions (`human_dist`)"))
    for key, column, title in refs:
        st = alignment_statistics(pred, column_matrix(test, column), amb, n_bootstrap=n_bootstrap, seed=seed)
        record[key] = {"reference": title, "reference_column": column, **summarise_alignment(st), "full": st}
        summary[f"JS {target} vs {column}"] = round(st["overall"]["js_divergence_base2"], 4)
    if balanced_ids is not None:
        rows = [i for i, x in enumerate(test["id"]) if str(x) in balanced_ids]
        if rows:
            st = alignment_statistics(pred[rows], column_matrix(test, "human_dist")[rows], [amb[i] for i in rows],
                                      n_bootstrap=n_bootstrap, seed=seed)
            record["balanced"] = {
                "reference": "the human distributions on the balanced evaluation view (equal counts per "
                             "dominant emotion × ambiguity cell)", "reference_column": "human_dist (balanced)",
                **summarise_alignment(st), "full": st}
    return record, summary
