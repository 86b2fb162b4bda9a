"""The simulation study's outputs: ``report.md`` (tables), ``divergence_by_level.png``, ``results.json``, and the
effective ``config.yaml`` (every setting, defaults filled in, so a run can be repeated exactly)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import yaml

from hf_ambiguity.simulate.study import GROUPS, StudyResult

__all__ = ["write_outputs", "render_markdown", "plot_divergence", "PLOT_NAME", "REPORT_NAME", "RESULTS_NAME"]

PLOT_NAME = "divergence_by_level.png"
REPORT_NAME = "report.md"
RESULTS_NAME = "results.json"
CONFIG_NAME = "config.yaml"


def _fmt_p(p: float) -> str:
    if math.isnan(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _cell(result: StudyResult, name: str, group: str) -> str:
    s = result.strategy(name)
    text = f"{s.mean[group]:.4f}"
    if name == "human" or math.isnan(s.mean[group]):
        return text
    try:
        c = result.comparison(name, "human")
    except KeyError:
        return text
    alpha = result.config.evaluation.alpha
    mark = "*" if c.pvalue[group] < alpha else ""
    return f"{text} ({c.difference[group]:+.4f}{mark})"


def _rows_for_k(result: StudyResult, k: int) -> list[str]:
    names = ["human", "human+smoothing", f"synthetic K={k}"]
    names += [s.name for s in result.strategies if s.kind == "fixed" and s.k == k]
    names += [f"adaptive K={k}", f"adaptive-no-smoothing K={k}"]
    best = next(g.best_fixed for g in result.goals if g.k == k)
    lines = ["| strategy | " + " | ".join(GROUPS) + " |", "|---|" + "---|" * len(GROUPS)]
    for n in names:
        label = f"**{n}** (best fixed)" if n == best else n
        if n == f"fixed λ=1 K={k}":
            label += " = reference concat"
        lines.append(f"| {label} | " + " | ".join(_cell(result, n, g) for g in GROUPS) + " |")
    return lines


def _levels_text(levels: list[str]) -> str:
    return ", ".join(levels) if levels else "no level"


def _findings(result: StudyResult) -> list[str]:
    """One line per K on the reference concat and the adaptive merge, read off the paired tests."""
    alpha = result.config.evaluation.alpha
    lines = []
    for g in result.goals:
        concat = result.comparison(f"fixed λ=1 K={g.k}", "human")
        levels = [lv for lv in GROUPS if lv != "overall"]
        better = [lv for lv in concat.significantly_better(alpha) if lv in levels]
        worse = [lv for lv in concat.significantly_worse(alpha) if lv in levels]
        ad = result.comparison(f"adaptive K={g.k}", "human")
        ad_better = [lv for lv in ad.significantly_better(alpha) if lv in levels]
        lines.append(
            f"- K = {g.k}: the reference concat is significantly closer to the truth than human-only at "
            f"{_levels_text(better)} and significantly farther at {_levels_text(worse)}; the adaptive merge is "
            f"significantly closer at {_levels_text(ad_better)} and significantly farther at "
            f"{_levels_text(list(g.worse_levels))}; versus the best fixed λ ({g.best_fixed}) it differs by "
            f"{g.difference_vs_best_fixed:+.4f} overall (p {_fmt_p(g.pvalue_vs_best_fixed)}).")
    return lines


def render_markdown(result: StudyResult, plot_name: str = PLOT_NAME) -> str:
    """The report: setup, one table per K, the adaptive merge's goal checks, its fitted parameters, the plot."""
    cfg = result.config
    ev = cfg.evaluation
    t, h, a = cfg.truth, cfg.humans, cfg.alm
    conf = np.asarray(cfg.confusion_matrix())
    out = [
        "# Simulation study: when do synthetic (ALM) annotations help?",
        "",
        "Divergence (Jensen–Shannon, base 2; lower is better) of each estimate from the **latent true emotion "
        "distribution**, per ambiguity level. Levels: the reference definition (entropy of the human label list / "
        "log(#distinct labels), equal terciles, ties together) computed from the simulated human votes.",
        "",
        "## Setup",
        "",
        f"- {cfg.n_items} items, {cfg.n_classes} classes {list(cfg.names)}, seed {cfg.seed}; levels: "
        + ", ".join(f"{g} {n}" for g, n in result.level_counts.items()),
        f"- truth ~ Dirichlet(concentration · m), dominant mass {list(t.dominant_mass)} (uniform), concentration "
        f"{list(t.concentration)} (log-uniform)",
        f"- humans: {h.votes_per_item[0]}–{h.votes_per_item[1]} votes per item, each a draw from the truth",
        f"- ALM proxy: softmax({a.sharpness:g} · log(truth · C) + {a.noise:g} · N(0, 1)), mode `{a.mode}`; "
        f"C = {np.round(conf, 3).tolist()}",
        f"- fixed merges human + λ·synthetic for λ ∈ {list(ev.lambdas)} and K ∈ {list(ev.k_values)} "
        "(λ = 1 is the reference concatenation)",
        f"- tests: paired sign-flip permutation test of the mean difference ({ev.n_resamples} resamples), "
        f"Holm-corrected over the three levels; `*` = different from human-only at α = {ev.alpha}",
        "",
        "Cells: mean JS divergence (difference from human-only; `*` significant). `human+smoothing` is the ALM-free "
        "empirical-Bayes estimate (human votes + a fitted uniform pseudo-count): the part of the adaptive merge's "
        "gain that does not come from the ALM. `adaptive-no-smoothing` is the adaptive merge with that uniform "
        "pseudo-count removed (falls back to exactly human-only). The best fixed λ is chosen on the truth "
        "(an oracle); the adaptive merge is fitted on human votes only.",
        "",
        f"![divergence by ambiguity level]({plot_name})",
        "",
    ]
    out += ["## Findings (computed from the tables below)", "", *_findings(result), ""]
    for k in ev.k_values:
        out += [f"## K = {k} synthetic annotators", "", *_rows_for_k(result, k), ""]
    out += ["## Goals of the adaptive merge", "",
            "| K | never significantly worse than human-only (every level) | closer than the best fixed λ overall "
            "| difference vs best fixed λ (p) | adaptive-no-smoothing vs best fixed λ (p) "
            "| adaptive vs human+smoothing (p) |",
            "|---|---|---|---|---|---|"]
    for g in result.goals:
        bare = result.comparison(f"adaptive-no-smoothing K={g.k}", g.best_fixed)
        eb = result.comparison(f"adaptive K={g.k}", "human+smoothing")
        out.append(
            f"| {g.k} | {'yes' if g.never_worse_than_human else 'NO: ' + ', '.join(g.worse_levels)} | "
            f"{'yes' if g.beats_best_fixed else 'NO'} ({g.best_fixed}) | {g.difference_vs_best_fixed:+.4f} "
            f"({_fmt_p(g.pvalue_vs_best_fixed)}) | {bare.difference['overall']:+.4f} "
            f"({_fmt_p(bare.pvalue['overall'])}) | {eb.difference['overall']:+.4f} "
            f"({_fmt_p(eb.pvalue['overall'])}) |")
    out += ["", "## Fitted adaptive merge (human votes only, leave-one-annotator-out)", "",
            "| K | concentration | entropy reduction | smoothing | held-out log-lik / label | without ALM |",
            "|---|---|---|---|---|---|"]
    for k, p in result.adaptive.items():
        out.append(f"| {k} | {p.concentration:.3f} | {p.entropy_reduction:.3f} | {p.smoothing:.3f} | "
                   f"{p.loo_loglik:.4f} | {p.loo_loglik_without_alm:.4f} |")
    out += ["", "ALM pseudo-count of item i: concentration · (1 − entropy reduction · H_i), H_i = normalised "
            "entropy of its human votes; posterior mean (human + ALM pseudo-counts · ALM distribution + smoothing / "
            "n_classes) / total.", ""]
    return "\n".join(out)


def plot_divergence(result: StudyResult, path: str | Path) -> Path:
    """One panel per K: mean JS divergence (±1.96 SE) by ambiguity level for the main strategies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = result.config.evaluation.k_values
    fig, axes = plt.subplots(1, len(ks), figsize=(3.6 * len(ks) + 1.0, 3.8), sharey=True, squeeze=False)
    x = np.arange(len(GROUPS))
    for ax, k in zip(axes[0], ks):
        best = next(g.best_fixed for g in result.goals if g.k == k)
        series = [("human", "human-only", "black", "-", "o"),
                  ("human+smoothing", "human + smoothing (no ALM)", "0.55", "--", "s"),
                  (f"fixed λ=1 K={k}", "concat (reference, λ=1)", "tab:red", "-", "^"),
                  (best, "best fixed λ (oracle)", "tab:orange", "-", "v"),
                  (f"adaptive-no-smoothing K={k}", "adaptive, no smoothing", "tab:cyan", ":", "D"),
                  (f"adaptive K={k}", "adaptive", "tab:blue", "-", "D")]
        for name, label, color, ls, marker in series:
            s = result.strategy(name)
            y = np.array([s.mean[g] for g in GROUPS])
            e = 1.96 * np.array([s.sem[g] for g in GROUPS])
            ax.errorbar(x, y, yerr=e, label=label, color=color, linestyle=ls, marker=marker, capsize=3, ms=4)
        ax.set_xticks(x, list(GROUPS))
        ax.set_title(f"K = {k} synthetic votes (best fixed λ = {best.split('λ=')[1].split(' ')[0]})", fontsize=10)
        ax.set_xlabel("ambiguity level (human votes)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("mean JS divergence from truth (bits)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    p = Path(path)
    fig.savefig(p, dpi=120)
    plt.close(fig)
    return p


def write_outputs(result: StudyResult, out_dir: str | Path) -> dict[str, Path]:
    """Write report, plot, JSON results and the effective config into ``out_dir`` (created); returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"plot": plot_divergence(result, out / PLOT_NAME)}
    paths["report"] = out / REPORT_NAME
    paths["report"].write_text(render_markdown(result, PLOT_NAME), encoding="utf-8")
    paths["results"] = out / RESULTS_NAME
    paths["results"].write_text(json.dumps(result.to_dict(), indent=2, allow_nan=True, ensure_ascii=False) + "\n",
                                encoding="utf-8")
    paths["config"] = out / CONFIG_NAME
    paths["config"].write_text(yaml.safe_dump(result.config.to_dict(), sort_keys=False, allow_unicode=True),
                               encoding="utf-8")
    return paths
