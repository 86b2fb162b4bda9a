"""The run report: ``report.md`` plus PNG plots under ``plots/``, written from the stage folders' JSON outputs.

The report is rebuilt at the end of every run (it is cheap and reads only finished stage folders), so it always
describes the stage outputs that are on disk. Sections: a framing paragraph (for the demo protocol: a smoke test,
not results), the stages and their timings, stages not available, corpus statistics with the class × ambiguity
table, human vs synthetic alignment by ambiguity level with confidence intervals and paired tests, agreement,
DiME-Aug composition, training curves, and the fine-tuned models' alignment by ambiguity level (beside the
reference's published figures for the paper protocol).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from hf_ambiguity.pipeline.config import PipelineConfig
from hf_ambiguity.pipeline.published import TARGET_LABELS, published_for
from hf_ambiguity.pipeline.runner import RUN_INFO_FILE
from hf_ambiguity.schema import AMBIGUITY_LEVELS

__all__ = ["write_report", "paper_deviations", "DEMO_NOTICE"]

DEMO_NOTICE = (
    "**This is a smoke test of the pipeline, not results.** The demo corpus is a few dozen synthetic utterances "
    "and the audio-language model is a tiny model with random weights built on this machine, trained for a couple "
    "of steps; every number below only shows that each stage ran and wrote loadable outputs. Nothing here says "
    "anything about emotion recognition, synthetic annotators or the reference method."
)

_METRIC_NAMES = {"js_divergence": "JS div. (base 2) ↓", "js_distance": "JS dist. (ln) ↓",
                 "bhattacharyya": "BC ↑"}


def _fmt(x: Any, nd: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def _fmt_p(p: Any) -> str:
    """A p-value with 4 decimals, or in scientific notation below 0.0001 (never a bare "0.0000").

    >>> _fmt_p(0.01712), _fmt_p(4.77e-07), _fmt_p(None)
    ('0.0171', '4.8e-07', '–')
    """
    if isinstance(p, float) and math.isfinite(p) and 0 < p < 1e-4:
        return f"{p:.1e}"
    return _fmt(p, 4)


def _mean_ci(stat: Mapping[str, Any] | None) -> str:
    """``0.123 [0.100, 0.150]`` from ``{"mean", "ci_low", "ci_high"}``."""
    if not stat:
        return "–"
    s = _fmt(stat.get("mean"))
    if stat.get("ci_low") is not None and stat.get("ci_high") is not None:
        s += f" [{_fmt(stat['ci_low'])}, {_fmt(stat['ci_high'])}]"
    return s


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_fmt(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return out + [""]


class _Plot(NamedTuple):
    """Where one plot goes, and what every plot title of this report ends with (the demo's smoke-test note)."""

    path: Path
    title_suffix: str


class _PlotDir(NamedTuple):
    folder: Path
    title_suffix: str

    def __truediv__(self, name: str) -> _Plot:
        return _Plot(self.folder / name, self.title_suffix)


def _title(ax, text: str, plot: _Plot) -> None:
    ax.set_title(text + plot.title_suffix, fontsize=10)


def _plt():
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


# ------------------------------------------------------------------------------------------------ plots


def _plot_class_ambiguity(stats: Mapping[str, Any], plot: _Plot) -> None:
    plt = _plt()
    table = stats["class_by_ambiguity"]
    classes = list(table)
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(classes) + 2.5), 3.8))
    bottom = [0] * len(classes)
    colours = {"low": "#4c9be8", "medium": "#f2b134", "high": "#d9534f"}
    for level in AMBIGUITY_LEVELS:
        vals = [table[c].get(level, 0) for c in classes]
        ax.bar(classes, vals, bottom=bottom, label=f"{level} ambiguity", color=colours[level])
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("utterances")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(max(bottom), 1) * 1.15)
    if len(classes) > 5:
        ax.tick_params(axis="x", labelrotation=30)
    _title(ax, "Majority class × ambiguity level", plot)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(plot.path, dpi=110)
    plt.close(fig)


def _plot_by_level(series: Mapping[str, Mapping[str, Any]], metric: str, title: str, plot: _Plot) -> None:
    """Grouped bars: x = ambiguity level (+ overall), one bar per series, with CI whiskers."""
    plt = _plt()
    groups = [*AMBIGUITY_LEVELS, "overall"]
    names = list(series)
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(6.5 + (2.6 if len(names) > 2 else 0), 3.8))
    for i, name in enumerate(names):
        res = series[name]
        means, lo, hi = [], [], []
        for g in groups:
            st = (res.get("overall") if g == "overall" else res.get("by_level", {}).get(g, {})) or {}
            m = st.get(metric, {}) or {}
            mean = m.get("mean")
            means.append(mean if mean is not None else float("nan"))
            lo.append(mean - m["ci_low"] if mean is not None and m.get("ci_low") is not None else 0.0)
            hi.append(m["ci_high"] - mean if mean is not None and m.get("ci_high") is not None else 0.0)
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(groups))]
        ax.bar(xs, means, width=width * 0.95, yerr=[lo, hi], capsize=3, label=name)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel(_METRIC_NAMES.get(metric, metric))
    _title(ax, title, plot)
    if len(names) > 2:
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(plot.path, dpi=110)
    plt.close(fig)


def _plot_augment(aug: Mapping[str, Any], plot: _Plot) -> None:
    plt = _plt()
    targets = list(aug["targets"])
    fig, axes = plt.subplots(1, len(targets), figsize=(3.2 * len(targets), 3.2), squeeze=False)
    for ax, target in zip(axes[0], targets):
        rec = aug["targets"][target]
        classes = list(rec["before"])
        before = [rec["before"][c] for c in classes]
        added = [rec["after"].get(c, 0) - rec["before"][c] for c in classes]
        ax.bar(classes, before, label="original", color="#4c9be8")
        ax.bar(classes, added, bottom=before, label="DiME-Aug", color="#f2b134")
        ax.set_title(TARGET_LABELS.get(target, target), fontsize=9)
        ax.margins(y=0.1)
        if len(classes) > 5:
            ax.tick_params(axis="x", labelrotation=45)
        ax.tick_params(axis="x", labelsize=8)
    axes[0][0].set_ylabel("training utterances")
    axes[0][0].legend(frameon=False, fontsize=8)
    fig.suptitle("Training set composition by dominant emotion" + plot.title_suffix, fontsize=10)
    fig.tight_layout()
    fig.savefig(plot.path, dpi=110)
    plt.close(fig)


def _plot_training(train: Mapping[str, Any], plot: _Plot) -> bool:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    drawn = False
    from matplotlib.ticker import MaxNLocator

    for i, (target, rec) in enumerate(train["targets"].items()):
        colour = f"C{i}"
        log = rec.get("log") or []
        pts = [(r["step"], r["loss"]) for r in log if r.get("loss") is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=4, color=colour, label=f"{TARGET_LABELS.get(target, target)}: train")
            drawn = True
        vpts = [(r["step"], r["val_loss"]) for r in log if r.get("val_loss") is not None]
        if vpts:
            ax.plot(*zip(*vpts), marker="s", ms=6, ls="--", color=colour, mfc="white",
                    label=f"{TARGET_LABELS.get(target, target)}: validation")
            drawn = True
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    _title(ax, "Training curves", plot)
    if drawn:
        ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(plot.path, dpi=110)
    plt.close(fig)
    return drawn


# ------------------------------------------------------------------------------------------------ sections


def _level_rows(res: Mapping[str, Any], metrics: tuple[str, ...]) -> list[list[Any]]:
    rows = []
    for g in [*AMBIGUITY_LEVELS, "overall"]:
        st = res.get("overall") if g == "overall" else res.get("by_level", {}).get(g)
        if not st:
            continue
        rows.append([g, st.get("n", "–"), *[_mean_ci(st.get(m)) for m in metrics]])
    return rows


def _section_corpus(lines: list[str], stats: Mapping[str, Any], plots: _PlotDir) -> None:
    lines += ["## Corpus", ""]
    ann = stats.get("annotators", {})
    lines += _table(["utterances", "speakers", "annotators / utterance (mean, min–max)", "labels outside the "
                     "class set (kept utterances)", "classes"],
                    [[stats["n_utterances"], stats.get("n_speakers", "–"),
                      f"{_fmt(ann.get('mean'), 2)}, {ann.get('min')}–{ann.get('max')}",
                      stats.get("dropped_labels", "–"), ", ".join(stats["classes"])]])
    if stats.get("build_report"):
        lines += ["Build report: " + ", ".join(f"{k} = {v}" for k, v in stats["build_report"].items()), ""]
    lines += ["Majority class × ambiguity level (utterances). " + stats.get("ambiguity_definition", ""), ""]
    header = ["class", *AMBIGUITY_LEVELS, "total"]
    rows = []
    for c, by in stats["class_by_ambiguity"].items():
        rows.append([c, *[by.get(lv, 0) for lv in AMBIGUITY_LEVELS], sum(by.values())])
    rows.append(["total", *[stats["ambiguity_counts"].get(lv, 0) for lv in AMBIGUITY_LEVELS], stats["n_utterances"]])
    lines += _table(header, rows)
    _plot_class_ambiguity(stats, plots / "class_by_ambiguity.png")
    lines += ["![class by ambiguity](plots/class_by_ambiguity.png)", ""]


#: How the report words a verdict: the text never says "help" unless the verdict is "helps".
_VERDICT_WORDS = {"helps": "help", "hurts": "hurt", "no detectable difference": "make no detectable difference",
                  "too few items": "cannot be judged (too few items)"}


def benefit_sentence(title: str, groups: Mapping[str, Any]) -> str:
    """One sentence per merge that follows the verdicts exactly (overall, then each stratum).

    >>> benefit_sentence("x", {"overall": {"verdict": "no detectable difference"}, "low": {"verdict": "helps"}})
    'With x, the synthetic labels make no detectable difference overall; by ambiguity of the remaining labels: low: help.'
    """
    overall = groups.get("overall", {}).get("verdict", "too few items")
    parts = [f"{lv}: {_VERDICT_WORDS.get(g.get('verdict'), g.get('verdict'))}"
             for lv, g in groups.items() if lv != "overall"]
    text = f"With {title}, the synthetic labels {_VERDICT_WORDS.get(overall, overall)} overall"
    return text + ("; by ambiguity of the remaining labels: " + ", ".join(parts) if parts else "") + "."


def _benefit_rows(res: Mapping[str, Any], primary: str) -> list[list[Any]]:
    rows = []
    groups = {**{k: v for k, v in res.get("per_stratum", {}).items()}, "overall": res["overall"]}
    for name, g in groups.items():
        sc = (g.get("scores") or {}).get(primary, {})
        ci = g.get("confidence_interval") or [None, None]
        ni = g.get("non_inferiority") or {}
        rows.append([name, g.get("n_items"), _fmt(sc.get("mean_baseline"), 4), _fmt(sc.get("mean_candidate"), 4),
                     f"{_fmt(g.get('mean_difference'), 4)} [{_fmt(ci[0], 4)}, {_fmt(ci[1], 4)}]",
                     f"**{g.get('verdict')}**", ni.get("verdict", "–"),
                     _fmt_p(g.get("permutation_pvalue_holm", g.get("permutation_pvalue")))])
    return rows


def _section_alignment(lines: list[str], al: Mapping[str, Any], plots: _PlotDir, stage_folder: Path) -> None:
    lines += ["## Human vs synthetic alignment by ambiguity level (descriptive)", ""]
    lines += [al.get("description", ""), ""]
    if al.get("settings", {}).get("levels"):
        lines += [f"Levels: {al['settings']['levels']}.", ""]
    metrics = ("js_divergence", "js_distance", "bhattacharyya")
    for name, res in al["comparisons"].items():
        lines += [f"**{res.get('title', name)}** (mean [95 % bootstrap CI])", ""]
        lines += _table(["ambiguity", "n", *[_METRIC_NAMES[m] for m in metrics]], _level_rows(res, metrics))
    if al["comparisons"]:
        _plot_by_level({res.get("title", k): res for k, res in al["comparisons"].items()}, "js_divergence",
                       "Alignment to the human distribution (JS divergence, base 2)",
                       plots / "alignment_by_level.png")
        lines += ["![alignment by level](plots/alignment_by_level.png)", ""]
    benefit = al.get("benefit")
    if benefit:
        primary = benefit.get("primary_score", "brier")
        lines += ["## Do the synthetic labels help? (held-out-annotator test)", "", benefit["description"], ""]
        if benefit.get("undefined"):
            lines += [f"Not run: {benefit['undefined']}. Nothing is said about whether the synthetic labels help.",
                      ""]
        if benefit.get("items_without_synthetic_answer"):
            lines += [f"{benefit['items_without_synthetic_answer']} utterances without a synthetic answer are "
                      "skipped and counted by the test.", ""]
        for res in benefit["merges"].values():
            lines += [benefit_sentence(res["title"], {**res.get("per_stratum", {}), "overall": res["overall"]}), ""]
        for res in benefit["merges"].values():
            lines += [f"**{res['title']}** vs the ALM-free smoothing baseline ({primary} score, lower is better; "
                      "difference = candidate - baseline, negative = the synthetic labels help)", ""]
            lines += _table(["stratum", "items", f"baseline {primary}", f"candidate {primary}",
                             "difference [CI]", "verdict", "non-inferiority", "p (permutation, Holm)"],
                            _benefit_rows(res, primary))
    sat = al.get("saturation")
    if sat:
        lines += ["## Saturation", ""]
        if sat.get("undefined"):
            lines += [f"Saturation ({sat['procedure']} procedure) is undefined here: {sat['undefined']}.", ""]
        else:
            fit = sat.get("js_fit") or {}
            point = fit.get("saturation_n")
            lines += [f"Alignment (JS divergence to the human distribution) of 1..{max(sat['n_values'])} synthetic "
                      f"annotators per utterance ({sat['procedure']} procedure): the fitted curve saturates at N = "
                      f"{point if point is not None else '– (no saturation within the range)'} "
                      "(the paper reports about 6 for IEMOCAP and about 10 for MSP-Podcast).", ""]
            if sat.get("plot") and (stage_folder / sat["plot"]).is_file():
                import shutil

                shutil.copyfile(stage_folder / sat["plot"], plots.folder / "saturation.png")
                lines += ["![saturation](plots/saturation.png)", ""]
    agreement = al.get("agreement")
    if agreement:
        lines += ["## Agreement", ""]
        rows = [[who, _fmt(v.get("krippendorff_alpha")), _fmt(v.get("fleiss_kappa")), v.get("note", "")]
                for who, v in agreement.items()]
        lines += _table(["annotators", "Krippendorff's α (nominal)", "Fleiss' κ", "note"], rows)


def _section_augment(lines: list[str], aug: Mapping[str, Any], plots: _PlotDir) -> None:
    lines += ["## Splits and DiME-Aug", ""]
    sp = aug["split"]
    lines += [f"Split: {sp['description']} — train {sp['train']}, validation {sp['validation']}, "
              f"test {sp['test']} utterances.", ""]
    if sp.get("without_synthetic_label"):
        lines += [f"{sp['without_synthetic_label']} utterances got no parsable synthetic answer: they have no "
                  "synthetic distribution and are left out of the synthetic-target model's splits"
                  + (" (" + ", ".join(f"{k} {v}" for k, v in next(
                      (v for k, v in sp.items() if k.startswith("rows for ")), {}).items()) + ")"
                     if any(k.startswith("rows for ") for k in sp) else "") + ".", ""]
    if aug.get("targets"):
        for target, rec in aug["targets"].items():
            classes = list(rec["before"])
            lines += [f"**Training set for target `{target}`** (DiME-Aug ratio {rec.get('ratio')}, "
                      f"k = {rec.get('k')}, balanced by {rec.get('balance_by')}): "
                      f"{sum(rec['before'].values())} originals + {rec.get('n_new', 0)} synthesised"
                      + (f"; shortfall {rec['shortfall']}" if rec.get("shortfall") else ""), ""]
            lines += _table(["", *classes], [["before", *[rec["before"][c] for c in classes]],
                                             ["after", *[rec["after"].get(c, 0) for c in classes]]])
        _plot_augment(aug, plots / "dime_aug_composition.png")
        lines += ["![DiME-Aug composition](plots/dime_aug_composition.png)", ""]
    view = aug.get("eval_view")
    if view:
        lines += [f"**Balanced evaluation view** of the test split ({view.get('description', '')}): "
                  f"{view.get('n', '–')} of {sp['test']} test utterances.", ""]
        if view.get("table"):
            levels = list(next(iter(view["table"].values())))
            lines += _table(["class", *levels], [[c, *[by[lv] for lv in levels]] for c, by in view["table"].items()])


def _section_training(lines: list[str], train: Mapping[str, Any], plots: _PlotDir,
                      timings: Mapping[str, Any]) -> None:
    lines += ["## Fine-tuning", ""]
    rows = []
    for target, rec in train["targets"].items():
        log = rec.get("log") or []
        first = next((r["loss"] for r in log if r.get("loss") is not None), None)
        last = next((r["loss"] for r in reversed(log) if r.get("loss") is not None), None)
        rows.append([target, rec.get("steps", "–"), _fmt(first, 4), _fmt(last, 4),
                     _fmt((timings.get(target) or {}).get("seconds"), 1)])
    lines += [f"Model `{train.get('model')}`, preset `{train.get('preset')}`; command: `{train.get('command', '')}`",
              ""]
    lines += _table(["target", "optimizer steps", "first loss", "last loss", "seconds"], rows)
    if _plot_training(train, plots / "training_curve.png"):
        lines += ["![training curves](plots/training_curve.png)", ""]


def _section_evaluation(lines: list[str], ev: Mapping[str, Any], plots: _PlotDir,
                        published: Mapping[str, tuple[float, float]] | None, corpus: str) -> None:
    lines += ["## Fine-tuned models by ambiguity level", ""]
    lines += [ev.get("description", ""), ""]
    metrics = ("js_divergence", "bhattacharyya")
    series = {}
    settings = ev.get("settings") or {}
    if settings.get("levels"):
        lines += [f"Levels in these tables: {settings['levels']}", ""]
    for target, rec in ev["targets"].items():
        for ref_name, res in rec.items():
            title = f"model trained on {TARGET_LABELS.get(target, target)}, scored against {res['reference']}"
            lines += [f"**{title}**", ""]
            lines += _table(["ambiguity", "n", *[_METRIC_NAMES[m] for m in metrics]], _level_rows(res, metrics))
            short = TARGET_LABELS.get(target, target).split(" (")[0]
            series[f"trained on {short},\nscored vs {res['reference_column']}"] = res
    if series:
        _plot_by_level(series, "js_divergence", "Fine-tuned models: JS divergence to the test distributions",
                       plots / "finetuned_by_level.png")
        lines += ["![fine-tuned models by level](plots/finetuned_by_level.png)", ""]
    if published:
        lines += [f"### Beside the reference's published figures ({corpus})", "",
                  "The reference scored each model against its own label source's test set (random 80/20 split); "
                  "this run's figures in the same setting:", ""]
        rows = []
        for target, (js, bc) in published.items():
            scored = ev["targets"].get(target)
            # the human-target model scored against the human distributions is its own label source
            own = (scored or {}).get("own") or ((scored or {}).get("human") if target == "human_dist" else None)
            ours = own.get("overall", {}) if own else {}
            rows.append([TARGET_LABELS.get(target, target), f"{js:.3f} / {bc:.3f}",
                         f"{_fmt((ours.get('js_divergence') or {}).get('mean'))} / "
                         f"{_fmt((ours.get('bhattacharyya') or {}).get('mean'))}" if own else
                         "not trained" if scored is None else "not scored against its own label source"])
        lines += _table(["labels", "published JS / BC", "this run JS / BC"], rows)


#: Config keys that do not change what the paper protocol computes (paths, names, runtime, reporting; the
#: annotation precision, which the reference does not state).
_NOT_PROTOCOL = ("name", "protocol", "run_dir", "corpus.data_dir", "corpus.demo_utterances", "corpus.lenient",
                 "annotate.batch_size", "annotate.device", "annotate.dtype", "annotate.name", "annotate.seed", "annotate.base_url",
                 "annotate.trust_remote_code", "analysis.n_bootstrap", "analysis.n_resamples", "analysis.seed",
                 "analysis.benefit_design", "analysis.benefit_strata", "analysis.primary_score", "analysis.alpha",
                 "analysis.margin", "train.checkpointing_steps", "train.accelerate_config", "train.evaluate_against",
                 "train.enabled", "train.targets", "export", "report")


def paper_deviations(cfg: PipelineConfig) -> list[str]:
    """Settings of ``cfg`` that differ from the bundled ``paper.yaml`` (the reference protocol as far as the
    deviation ledger ``docs/reference-protocol.md`` says it can be followed); empty list: none.

    Every protocol key is compared, so a new option of the preset is covered without listing it here; for
    MSP-Podcast the corpus-specific values of the reference (class set ``msp-4``, 10 synthetic annotators) apply.
    """
    from hf_ambiguity.pipeline.config import config_to_dict, load_config

    ref = config_to_dict(load_config("paper"))
    ours = config_to_dict(cfg)
    if cfg.corpus.kind == "msp-podcast":
        ref["corpus"].update(kind="msp-podcast", class_set="msp-4", multi_label=cfg.corpus.multi_label)
        ref["annotate"]["n_annotators"] = 10

    def flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            key = f"{prefix}{k}"
            if any(key == x or key.startswith(f"{x}.") for x in _NOT_PROTOCOL):
                continue
            out.update(flat(v, f"{key}.") if isinstance(v, Mapping) else {key: v})
        return out

    want, have = flat(ref), flat(ours)
    if cfg.corpus.kind == "demo":
        want.pop("corpus.kind", None)
        have.pop("corpus.kind", None)
    return [f"{k} is {have.get(k)!r} (paper preset: {want.get(k)!r})" for k in want if have.get(k) != want.get(k)]


def write_report(run_dir: Path, cfg: PipelineConfig, results: Mapping[str, Any],
                 unavailable: Mapping[str, str], *, config_path: str | None = None) -> Path:
    """Write ``run_dir/report.md`` and ``run_dir/plots/*.png`` from the finished stage folders; return the path.

    ``results`` maps stage keys to :class:`~hf_ambiguity.pipeline.runner.StageResult` (status, timing, folder);
    ``unavailable`` maps stage keys to why they were left out of this run.
    """
    demo = cfg.protocol == "demo"
    plots = _PlotDir(run_dir / "plots", "\n(demo: smoke test with a random-weight model, not results)" if demo else "")
    plots.folder.mkdir(parents=True, exist_ok=True)
    for old in plots.folder.glob("*.png"):
        old.unlink()
    lines = [f"# hf-ambiguity run: {cfg.name}", ""]
    lines += [f"Protocol: **{cfg.protocol}** · corpus: `{cfg.corpus.kind}`"
              + (f" (`{cfg.corpus.data_dir}`)" if cfg.corpus.data_dir else "")
              + f" · class set: `{cfg.corpus.class_set}` · config: `{config_path or '(in memory)'}`", ""]
    def record(key: str) -> Any:
        return results[key].record() if key in results else None

    built = record("build") or {}
    if built.get("subset"):
        lines += [f"**Trial subset**: this run used {built['subset']['description']} (`corpus.max_utterances`, "
                  "`corpus.seed`); its figures describe that subset, not the whole corpus.", ""]
    if built.get("out_of_set_policy"):
        lines += [f"Utterance selection: {built['out_of_set_policy']}", ""]
    if cfg.protocol == "demo":
        lines += [DEMO_NOTICE, ""]
    elif cfg.protocol == "paper":
        lines += ["The paper protocol follows the reference recipe (random 80/20 utterance split, concatenation "
                  "merge, each model scored against its own label source's test set); its figures are printed "
                  "beside the reference's published ones. They are comparable only with the same corpus, class "
                  "subset and annotator model (the reference annotated with Gemini 2.5 Pro); the reference's "
                  "published models also used different DiME-Aug ratios per model (0.30 / 0.25 / 0.25 / 0.20). "
                  "Step by step, docs/reference-protocol.md says where this preset is the same as the authors' "
                  "code, where it deviates and why, and what cannot be verified.", ""]
        deviations = paper_deviations(cfg)
        if deviations:
            lines += ["**This run deviates from the reference protocol**, so its figures are not directly "
                      "comparable: " + "; ".join(deviations) + ".", ""]
    elif cfg.protocol == "recommended":
        lines += ["The recommended protocol uses speaker-independent splits and scores every model against the "
                  "human test distributions, with paired tests by ambiguity level; it is not the reference's "
                  "setting, so the reference's published figures are not comparable and not shown.", ""]
    lines += ["## Stages", ""]
    rows = [[r.folder.name, "ran" if r.status == "ran" else "up to date (skipped)", _fmt(r.seconds, 1),
             ", ".join(f"{k} = {v}" for k, v in list(r.summary.items())[:6])] for r in results.values()]
    lines += _table(["stage", "this run", "seconds (when it ran)", "summary"], rows)
    if unavailable:
        lines += [f"- not available: {why}" for why in unavailable.values()] + [""]

    stats = record("build")
    if stats:
        _section_corpus(lines, stats, plots)
    al = record("alignment")
    if al:
        _section_alignment(lines, al, plots, results["alignment"].folder)
    aug = record("augment")
    if aug:
        _section_augment(lines, aug, plots)
    train = record("train")
    if train:
        _section_training(lines, train, plots, results["train"].read(RUN_INFO_FILE) or {})
    ev = record("evaluate")
    published = published_for(cfg.corpus.kind, cfg.report.reference_figures, cfg.protocol)
    if ev:
        _section_evaluation(lines, ev, plots, published,
                            "MSP-Podcast" if cfg.corpus.kind == "msp-podcast" or
                            cfg.report.reference_figures == "msp-podcast" else "IEMOCAP")
    exp = record("export")
    if exp:
        hub = run_dir / exp["folder"]
        lines += ["## Export", "", f"Hub layout: `{hub}` (load with "
                  f"`datasets.load_dataset(\"{hub}\")`); splits: "
                  + ", ".join(f"{k} {v}" for k, v in exp.get("splits", {}).items()) + ".", ""]
        lines += [f"Pushed to `{exp['pushed_to']}` ({'gated: ' + exp['gated'] if exp.get('gated') else 'private' if exp.get('private') else 'public'})."
                  if exp.get("pushed_to") else "Not pushed (set `export.push_to` to push, private by default).", ""]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return path
