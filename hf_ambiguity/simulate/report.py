"""The simulation study's outputs: ``report.md`` (the map and the checks), ``map.png``, ``results.json`` (every run)
and the effective ``config.yaml`` (every setting, defaults filled in, so a study can be repeated exactly)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hf_ambiguity.simulate.study import StudyResult

__all__ = ["write_outputs", "render_markdown", "plot_map", "MAP_NAME", "REPORT_NAME", "RESULTS_NAME", "CONFIG_NAME",
           "SYMBOLS"]

MAP_NAME = "map.png"
REPORT_NAME = "report.md"
RESULTS_NAME = "results.json"
CONFIG_NAME = "config.yaml"

#: One character per seed in the map's cells.
SYMBOLS = {"helps": "+", "hurts": "−", "no detectable difference": "0", "too few items": "·"}


def _num(x: float | None, digits: int = 4) -> str:
    return "n/a" if x is None else f"{x:+.{digits}f}"


def _symbols(verdicts: list[str]) -> str:
    return "".join(SYMBOLS.get(v, "?") for v in verdicts)


def _cell(c: dict[str, Any]) -> str:
    return f"`{_symbols(c['verdicts'])}` {_num(c['mean_difference'], 3)} / {_num(c['oracle_difference'], 3)}"


def _category(verdicts: list[str]) -> str:
    s = set(verdicts)
    if s == {"too few items"}:
        return "too few items"
    s.discard("too few items")
    if s == {"helps"}:
        return "helps (every seed)"
    if s == {"hurts"}:
        return "hurts (every seed)"
    if s == {"no detectable difference"}:
        return "no detectable difference"
    if "helps" in s and "hurts" in s:
        return "helps and hurts"
    return "helps in some seeds" if "helps" in s else "hurts in some seeds"


_COLORS = {"helps (every seed)": "#1a9850", "helps in some seeds": "#a6d96a", "no detectable difference": "#d9d9d9",
           "hurts in some seeds": "#fdae61", "hurts (every seed)": "#d73027", "helps and hurts": "#9e6fb8",
           "too few items": "#ffffff"}


def _worlds_text(items: list[str]) -> str:
    return ", ".join(items) if items else "none"


def _findings(result: StudyResult, cells: list[dict[str, Any]]) -> list[str]:
    cfg = result.config
    lines = []
    for merge in cfg.evaluation.merges:
        mine = [c for c in cells if c["merge"] == merge and c["group"] == "overall"]
        helps = [f"{c['world']} ({c['panel']} raters)" for c in mine if _category(c["verdicts"]) == "helps (every seed)"]
        hurts = [f"{c['world']} ({c['panel']} raters)" for c in mine if _category(c["verdicts"]) == "hurts (every seed)"]
        lines.append(f"- **{merge}**, all items: helps in every seed in {len(helps)} of {len(mine)} worlds, hurts in "
                     f"every seed in {len(hurts)}" + (f" ({_worlds_text(hurts)})" if hurts else "") + ".")
        for g in result.groups[1:]:
            cg = [c for c in cells if c["merge"] == merge and c["group"] == g]
            h = sum(_category(c["verdicts"]) == "helps (every seed)" for c in cg)
            u = [f"{c['world']} ({c['panel']})" for c in cg if _category(c["verdicts"]) == "hurts (every seed)"]
            few = sum(_category(c["verdicts"]) == "too few items" for c in cg)
            lines.append(f"  - {g} ambiguity: helps in every seed in {h} of {len(cg)} worlds; hurts in every seed in "
                         f"{len(u)}" + (f" ({_worlds_text(u)})" if u else "")
                         + (f"; too few items in {few}" if few else "") + ".")
    return lines


def _non_inferiority(result: StudyResult, cells: list[dict[str, Any]]) -> list[str]:
    ev = result.config.evaluation
    lines = [f"Non-inferiority of each merge to the smoothing-only baseline, margin **{ev.margin:g}** "
             f"({ev.primary} score): the one-sided upper confidence bound of (merge − baseline) is below the margin "
             f"(level {1 - ev.alpha:g} for all items, {1 - ev.alpha / max(1, len(result.groups) - 1):.4g} per "
             "stratum). Counted per world over "
             f"the {len(result.config.seeds)} seeds. A world without a detectable difference is *not* counted as "
             "non-inferior unless its bound is below the margin.", ""]
    lines += ["| merge | group | non-inferior in every seed | not shown in some seed (worlds) |", "|---|---|---|---|"]
    for merge in ev.merges:
        for g in result.groups:
            cg = [c for c in cells if c["merge"] == merge and c["group"] == g
                  and _category(c["verdicts"]) != "too few items"]
            ok = [c for c in cg if c["non_inferior_seeds"] == c["seeds"]]
            bad = [f"{c['world']} ({c['panel']}: {c['non_inferior_seeds']}/{c['seeds']})" for c in cg
                   if c["non_inferior_seeds"] < c["seeds"]]
            shown = "; ".join(bad[:6]) + (f"; … {len(bad) - 6} more" if len(bad) > 6 else "")
            lines.append(f"| {merge} | {g} | {len(ok)} of {len(cg)} | {shown or '—'} |")
    return lines


def _checks(result: StudyResult, cells: list[dict[str, Any]]) -> list[str]:
    """How the test's verdicts compare with its difference recomputed from the truth (the oracle)."""
    wrong_help = wrong_hurt = n_help = n_hurt = 0
    gaps = []
    for r in result.runs:
        for g, v in r.verdict.items():
            t = r.oracle_difference.get(g)
            d = r.mean_difference.get(g)
            if t is None or d is None or v == "too few items":
                continue
            gaps.append(abs(d - t))
            if v == "helps":
                n_help += 1
                wrong_help += t > 0
            elif v == "hurts":
                n_hurt += 1
                wrong_hurt += t < 0
    unrelated = [r for r in result.runs if any(w.label == r.world and w.proxy.correlation == 0
                                               for w in result.worlds)]
    null_verdicts = [v for r in unrelated for v in r.verdict.values() if v != "too few items"]
    lines = [f"- 'helps' verdicts whose oracle difference (the same forecasts, each held-out label replaced by its "
             f"expectation under the latent truth) is an improvement: {n_help - wrong_help} of {n_help}; 'hurts' "
             f"verdicts with an oracle worsening: {n_hurt - wrong_hurt} of {n_hurt}. Median |test − oracle| "
             f"difference: {np.median(gaps) if gaps else float('nan'):.4f}."]
    if null_verdicts:
        lines.append(f"- Proxies unrelated to the items (correlation 0): {null_verdicts.count('helps')} 'helps' "
                     f"among {len(null_verdicts)} verdicts (each verdict's error rate toward 'helps' is at most "
                     f"alpha / 2 overall and alpha / 6 per stratum when nothing is to be found).")
    return lines


def _ablation(result: StudyResult, cells: list[dict[str, Any]]) -> list[str]:
    merges = result.config.evaluation.merges
    lines = ["True effects (expected score of a new human label under the latent truth, mean over seeds, all items; "
             "negative = better). *smoothing − raw*: the ALM-free smoothing-only ablation (human labels + a fitted "
             "pseudo-count) against raw human vote shares; *merge − smoothing*: what the synthetic labels add on top. "
             "Forecasts are fitted on half of the items and evaluated on the other half.", "",
             "| world | raters | smoothing − raw | " + " | ".join(f"{m} − smoothing" for m in merges) + " |",
             "|---|---|---|" + "---|" * len(merges)]
    seen = []
    for c in cells:
        key = (c["world"], c["panel"])
        if c["group"] != "overall" or key in seen:
            continue
        seen.append(key)
        row = {m: next(x for x in cells if x["merge"] == m and (x["world"], x["panel"]) == key
                       and x["group"] == "overall") for m in merges}
        lines.append(f"| {key[0]} | {key[1]} | {_num(c['true_smoothing_effect'])} | "
                     + " | ".join(_num(row[m]["true_alm_effect"]) for m in merges) + " |")
    return lines


def _calibration(cal: dict[str, Any]) -> list[str]:
    obs, sim = cal["observed"], cal["simulated"]
    lines = [f"Calibrated from `{cal.get('source', 'a run')}`: the base proxy and the human panel were fitted so "
             "that the simulation reproduces these statistics of the real run (method of moments on a simulated "
             "corpus; compare the columns to judge the fit).", "",
             "| statistic | observed | simulated |", "|---|---|---|"]
    for key in ("human_agreement", "synthetic_entropy", "plurality_agreement"):
        lines.append(f"| {key.replace('_', ' ')} | {obs[key]:.4f} | {sim[key]:.4f} |")
    for lv in obs["divergence_by_level"]:
        lines.append(f"| human–synthetic JS divergence, {lv} ambiguity | {obs['divergence_by_level'][lv]:.4f} | "
                     f"{sim['divergence_by_level'].get(lv, float('nan')):.4f} |")
    lines.append(f"| class bias (synthetic − human mean) | {np.round(obs['class_bias'], 3).tolist()} | "
                 f"{np.round(sim['class_bias'], 3).tolist()} |")
    lines.append(f"| raters per item (counts) | {obs['rater_counts']} | panel {cal['parameters']['panel']} |")
    lines += ["", "Fitted: " + ", ".join(f"{k} = {v}" for k, v in cal["parameters"].items() if k != "panel"), ""]
    return lines


def render_markdown(result: StudyResult, map_name: str = MAP_NAME) -> str:
    """The report: setup, the map (one table per merge), findings, the smoothing-only ablation, non-inferiority and
    how the verdicts compare with the simulation's true effects."""
    cfg = result.config
    ev, t = cfg.evaluation, cfg.truth
    cells = result.cells()
    out = [
        "# Simulation study: where do synthetic (ALM) labels help?",
        "",
        "Each world simulates latent true emotion distributions, human raters (independent draws from the truth) "
        "and an ALM proxy of controlled quality, then runs the **held-out-annotator test** "
        "(`hf_ambiguity.analysis.synthetic_benefit`) on the simulated labels only, exactly as on a real corpus: "
        "does merging the synthetic distribution into the remaining human labels forecast a held-out human label "
        "better than the remaining labels with a cross-fitted pseudo-count alone (proper scores, nothing fitted on "
        "the items it scores, strata from the remaining labels)? Beside each verdict: the true effect, which only "
        "a simulation knows.",
        "",
        "## Setup",
        "",
        f"- {cfg.n_items} items per world, {cfg.n_classes} classes {list(cfg.names)}, seeds {list(cfg.seeds)}; "
        f"{len(result.worlds)} proxies × {len(cfg.humans.panels)} rater panels × {len(cfg.seeds)} seeds = "
        f"{len(result.worlds) * len(cfg.humans.panels) * len(cfg.seeds)} worlds, each tested with "
        f"{', '.join(ev.merges)}.",
        f"- truth ~ Dirichlet(concentration · m), dominant mass {list(t.dominant_mass)}, concentration "
        f"{list(t.concentration)}, class prior {'uniform' if t.class_prior is None else list(t.class_prior)}.",
        f"- raters per item: panels {[list(p) for p in cfg.humans.panels]} (each a list the count is drawn from).",
        f"- proxy = softmax(sharpness · (correlation · log(t_i C) + (1 − correlation) · log(t_j C)) + noise · z), "
        f"t_j the truth of a random other item, C moves bias_strength of each class's mass to class "
        f"{cfg.proxy.bias_toward!r}; mode `{cfg.proxy.mode}` with {cfg.proxy.n_annotators} synthetic annotators "
        f"(concat weighs them {cfg.proxy.n_annotators} votes, as the reference). Base proxy: "
        + ", ".join(f"{f}={getattr(cfg.proxy, f):g}" for f in ("sharpness", "bias_strength", "noise", "correlation"))
        + f"; sweep `{cfg.sweep.design}` over: " + ", ".join(w.label for w in result.worlds[1:]) + ".",
        f"- test: design `{ev.design}`, strata `{ev.strata}` (from the remaining labels), primary score "
        f"`{ev.primary}`, smoothing target `{ev.smoothing_target}`, {ev.n_folds} folds, {ev.n_resamples} "
        f"resamples, alpha {ev.alpha:g} (per-stratum CIs at 1 − alpha/3), non-inferiority margin {ev.margin:g}.",
        "",
    ]
    if result.calibration:
        out += ["## Calibration", "", *_calibration(result.calibration)]
    out += [
        "## The map",
        "",
        f"![map of verdicts]({map_name})",
        "",
        "Cells: one symbol per seed (`+` helps, `−` hurts, `0` no detectable difference, `·` too few items), then "
        "the test's mean score difference (merge − baseline, mean over seeds) / the oracle difference (the same "
        "with each held-out label replaced by its expectation under the latent truth). Negative = the synthetic "
        "labels help. With 3 raters the "
        "2 remaining labels are either unanimous or split, so the `entropy` strata cannot reach 'high'.",
        "",
    ]
    for merge in ev.merges:
        out += [f"### {merge}", "", "| proxy | raters | " + " | ".join(result.groups[1:]) + " | all items |",
                "|---|---|" + "---|" * len(result.groups)]
        rows: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        for c in cells:
            if c["merge"] == merge:
                rows.setdefault((c["world"], c["panel"]), {})[c["group"]] = c
        for (w, p), g in rows.items():
            out.append(f"| {w} | {p} | " + " | ".join(_cell(g[x]) for x in (*result.groups[1:], "overall")) + " |")
        out.append("")
    out += ["## Findings (read off the map)", "", *_findings(result, cells), "",
            "## Smoothing-only ablation", "", *_ablation(result, cells), "",
            "## Non-inferiority", "", *_non_inferiority(result, cells), "",
            "## Does the test find what is there?", "", *_checks(result, cells), ""]
    return "\n".join(out)


def plot_map(result: StudyResult, path: str | Path) -> Path:
    """One panel per merge: rows = proxy × rater panel, columns = strata and all items, colour = the verdicts over
    seeds, text = one symbol per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    cells = result.cells()
    merges = result.config.evaluation.merges
    cols = (*result.groups[1:], "overall")
    keys = list(dict.fromkeys((c["world"], c["panel"]) for c in cells))
    fig, axes = plt.subplots(1, len(merges), figsize=(2.2 + 2.6 * len(merges), 1.2 + 0.28 * len(keys)),
                             squeeze=False, sharey=True)
    for ax, merge in zip(axes[0], merges):
        lookup = {(c["world"], c["panel"], c["group"]): c for c in cells if c["merge"] == merge}
        for i, key in enumerate(keys):
            for j, g in enumerate(cols):
                c = lookup.get((*key, g))
                if c is None:
                    continue
                cat = _category(c["verdicts"])
                ax.add_patch(plt.Rectangle((j, i), 1, 1, color=_COLORS[cat], ec="white", lw=0.8))
                ax.text(j + 0.5, i + 0.5, _symbols(c["verdicts"]), ha="center", va="center", fontsize=6.5)
        ax.set_xlim(0, len(cols))
        ax.set_ylim(len(keys), 0)
        ax.set_xticks(np.arange(len(cols)) + 0.5, [("all" if g == "overall" else g) for g in cols], fontsize=8)
        ax.set_title(merge, fontsize=10)
        ax.tick_params(length=0)
    axes[0][0].set_yticks(np.arange(len(keys)) + 0.5, [f"{w} | {p} raters" for w, p in keys], fontsize=7)
    handles = [Patch(color=c, label=k) for k, c in _COLORS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    p = Path(path)
    fig.savefig(p, dpi=130)
    plt.close(fig)
    return p


def write_outputs(result: StudyResult, out_dir: str | Path) -> dict[str, Path]:
    """Write report, map, JSON results and the effective config into ``out_dir`` (created); returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"map": plot_map(result, out / MAP_NAME), "report": out / REPORT_NAME, "results": out / RESULTS_NAME,
             "config": out / CONFIG_NAME}
    paths["report"].write_text(render_markdown(result, MAP_NAME), encoding="utf-8")
    paths["results"].write_text(json.dumps(result.to_dict(), indent=1, allow_nan=False, ensure_ascii=False) + "\n",
                                encoding="utf-8")
    paths["config"].write_text(yaml.safe_dump(result.config.to_dict(), sort_keys=False, allow_unicode=True),
                               encoding="utf-8")
    return paths
