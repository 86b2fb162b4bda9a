"""The simulation study: a map of where synthetic labels help, hurt or make no detectable difference.

For every world of the sweep (proxy setting × human panel × seed, :mod:`.config`) it simulates a corpus
(:mod:`.sampling`) and, for every merge, runs the held-out-annotator test
:func:`hf_ambiguity.analysis.synthetic_benefit.synthetic_benefit` on the *simulated human labels and synthetic
distributions only* (as on a real corpus), per ambiguity stratum and overall, with the non-inferiority margin.

Beside each verdict it computes what the test cannot see but the simulation knows:

- the **oracle difference**: the test's own estimand, with every held-out label replaced by its expectation under
  the item's latent distribution (same forecasts, same strata), so the report can check the CIs' coverage;
- the **true effects** of the merged distributions built from *all* of an item's labels, as the expected score of
  a new human label under the latent truth. Forecasts are fitted on one half of the items and evaluated on the other
  (then swapped; :func:`~hf_ambiguity.analysis.synthetic_benefit.fit_merge`):

- ``true_smoothing_effect``: smoothing-only (human labels + a fitted pseudo-count, no ALM) minus raw human-only:
  the part of any merge's gain that needs no ALM (the smoothing-only ablation);
- ``true_alm_effect``: the merge minus smoothing-only: what the synthetic labels add.

Strata of the true effects: the test's stratum definition applied to all of an item's human labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hf_ambiguity.progress import progress_bar as tqdm

from hf_ambiguity.analysis.synthetic_benefit import fit_merge, synthetic_benefit
from hf_ambiguity.distributions import normalized_entropy, tercile_levels
from hf_ambiguity.schema import AMBIGUITY_LEVELS
from hf_ambiguity.simulate.config import ProxyWorld, SimulationConfig, proxy_worlds
from hf_ambiguity.simulate.sampling import SimulatedWorld, simulate_world

__all__ = ["RunResult", "StudyResult", "run_study", "evaluate_world", "panel_label", "expected_score"]


def panel_label(panel: tuple[int, ...]) -> str:
    """``"3"`` for a fixed count, ``"3-7"`` for a range of counts."""
    lo, hi = min(panel), max(panel)
    return str(lo) if lo == hi else f"{lo}-{hi}"


@dataclass(frozen=True)
class RunResult:
    """One merge on one world (proxy × panel × seed). Dicts are keyed by group (``overall`` and the strata)."""

    world: str
    panel: str
    seed: int
    merge: str
    n_items: dict[str, int]
    verdict: dict[str, str]
    mean_difference: dict[str, float | None]
    confidence_interval: dict[str, tuple[float, float] | None]
    non_inferior: dict[str, bool | None]
    oracle_difference: dict[str, float | None]
    true_alm_effect: dict[str, float | None]
    true_smoothing_effect: dict[str, float | None]
    settings: dict[str, Any] = field(repr=False)


def expected_score(q: np.ndarray, truth: np.ndarray, score: str) -> np.ndarray:
    """Expected score of a new label drawn from ``truth`` under forecast ``q`` (row-wise); log-loss is ``inf`` where
    a class with positive probability gets 0."""
    if score == "brier":
        return (q * q).sum(axis=1) - 2.0 * (q * truth).sum(axis=1) + 1.0
    with np.errstate(divide="ignore"):
        return -np.where(truth > 0, truth * np.log(q), 0.0).sum(axis=1)


def _item_strata(votes: np.ndarray, cfg: SimulationConfig) -> tuple[np.ndarray, tuple[str, ...]]:
    ev = cfg.evaluation
    p = votes / votes.sum(axis=1, keepdims=True)
    if ev.strata == "none":
        return np.zeros(len(votes), dtype=np.int64), ("all",)
    if ev.strata == "entropy":
        e = normalized_entropy(p, n_classes=cfg.n_classes)
        return np.where(e <= 0.33, 0, np.where(e <= 0.66, 1, 2)), AMBIGUITY_LEVELS
    distinct = (votes > 0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        score = np.where(distinct > 1, h / np.log(np.maximum(distinct, 2)), 0.0)
    code = {lv: i for i, lv in enumerate(AMBIGUITY_LEVELS)}
    return np.array([code[x] for x in tercile_levels(score)]), AMBIGUITY_LEVELS


def _true_effects(world: SimulatedWorld, cfg: SimulationConfig, merges: tuple[str, ...], seed: int,
                  concat_weight: float) -> tuple[dict[str, dict[str, float | None]], dict[str, float | None]]:
    """Cross-fitted (2 halves) true effects: per merge ``{group: merge - smoothing}`` and ``{group: smoothing -
    raw human}`` in the primary score's expected value under the truth."""
    ev = cfg.evaluation
    k = cfg.n_classes
    labels = world.label_lists()
    h = world.human_votes
    half = np.random.default_rng([seed, 7]).permutation(len(h)) % 2
    preds: dict[str, np.ndarray] = {name: np.empty_like(h) for name in ("smoothing", *merges)}
    for part in (0, 1):
        fit_rows = np.flatnonzero(half != part)
        eval_rows = half == part
        fit_labels = [labels[i] for i in fit_rows]
        for name in preds:
            kw: dict[str, Any] = {"score": ev.primary, "smoothing_target": ev.smoothing_target}
            if name == "concat":
                kw["synthetic_weight"] = concat_weight
            syn = None if name == "smoothing" else world.synthetic[fit_rows]
            fitted = fit_merge(fit_labels, syn, k, merge=name, **kw)
            preds[name][eval_rows] = fitted.predict(h[eval_rows], None if name == "smoothing"
                                                    else world.synthetic[eval_rows])
    raw = h / h.sum(axis=1, keepdims=True)
    s_raw = expected_score(raw, world.truth, ev.primary)
    s_smooth = expected_score(preds["smoothing"], world.truth, ev.primary)
    code, names = _item_strata(h, cfg)
    groups = [("overall", np.ones(len(h), dtype=bool))] + [(nm, code == j) for j, nm in enumerate(names)]

    def mean(x: np.ndarray, mask: np.ndarray) -> float | None:
        if not mask.any():
            return None
        v = float(x[mask].mean())
        return v if np.isfinite(v) else None

    alm = {m: {g: mean(expected_score(preds[m], world.truth, ev.primary) - s_smooth, mask) for g, mask in groups}
           for m in merges}
    smoothing = {g: mean(s_smooth - s_raw, mask) for g, mask in groups}
    return alm, smoothing


def evaluate_world(cfg: SimulationConfig, pw: ProxyWorld, panel: tuple[int, ...], seed: int) -> list[RunResult]:
    """Simulate one world and run every configured merge's test on it, with the true effects."""
    ev = cfg.evaluation
    world = simulate_world(cfg, pw.proxy, panel, seed)
    labels = world.label_lists()
    weight = float(pw.proxy.n_annotators)  # concat: one vote per synthetic annotator, as the reference
    alm_true, smooth_true = _true_effects(world, cfg, ev.merges, seed, weight)
    out = []
    for merge in ev.merges:
        kw: dict[str, Any] = {"synthetic_weight": weight} if merge == "concat" else {}
        res = synthetic_benefit(labels, world.synthetic, cfg.n_classes, merge=merge, design=ev.design,
                                strata=ev.strata, primary=ev.primary, smoothing_target=ev.smoothing_target,
                                n_folds=ev.n_folds, seed=seed, n_resamples=ev.n_resamples, alpha=ev.alpha,
                                margin=ev.margin, true_distributions=world.truth, **kw)
        groups = {"overall": res.overall, **res.per_stratum}
        out.append(RunResult(
            world=pw.label, panel=panel_label(panel), seed=seed, merge=merge,
            n_items={g: r.n_items for g, r in groups.items()},
            verdict={g: r.verdict for g, r in groups.items()},
            mean_difference={g: r.mean_difference for g, r in groups.items()},
            confidence_interval={g: r.confidence_interval for g, r in groups.items()},
            non_inferior={g: (None if r.non_inferiority is None or r.confidence_interval is None
                              else r.non_inferiority.verdict == "non-inferior") for g, r in groups.items()},
            oracle_difference={g: r.scores[ev.primary].oracle_difference for g, r in groups.items()},
            true_alm_effect=alm_true[merge], true_smoothing_effect=smooth_true, settings=res.settings))
    return out


@dataclass(frozen=True)
class StudyResult:
    """Every run of the sweep, with the config (and the calibration, when the config was calibrated)."""

    config: SimulationConfig
    worlds: tuple[ProxyWorld, ...]
    runs: tuple[RunResult, ...]
    calibration: dict[str, Any] | None = None

    @property
    def groups(self) -> tuple[str, ...]:
        return ("overall", *(("all",) if self.config.evaluation.strata == "none" else AMBIGUITY_LEVELS))

    def select(self, *, world: str | None = None, panel: str | None = None, merge: str | None = None
               ) -> list[RunResult]:
        return [r for r in self.runs if (world is None or r.world == world) and (panel is None or r.panel == panel)
                and (merge is None or r.merge == merge)]

    def cells(self) -> list[dict[str, Any]]:
        """The map: one row per (merge, world, panel, group) with the verdicts over seeds, their counts, the mean
        test difference, the mean true effects and how many seeds showed non-inferiority."""
        rows = []
        panels = list(dict.fromkeys(r.panel for r in self.runs))
        for merge in self.config.evaluation.merges:
            for w in self.worlds:
                for p in panels:
                    runs = self.select(world=w.label, panel=p, merge=merge)
                    if not runs:
                        continue
                    for g in self.groups:
                        verdicts = [r.verdict.get(g, "too few items") for r in runs]
                        diffs = [r.mean_difference.get(g) for r in runs if r.mean_difference.get(g) is not None]
                        alm = [r.true_alm_effect.get(g) for r in runs if r.true_alm_effect.get(g) is not None]
                        sm = [r.true_smoothing_effect.get(g) for r in runs
                              if r.true_smoothing_effect.get(g) is not None]
                        ni = [r.non_inferior.get(g) for r in runs]
                        orc = [r.oracle_difference.get(g) for r in runs if r.oracle_difference.get(g) is not None]
                        rows.append({
                            "merge": merge, "world": w.label, "panel": p, "group": g, "verdicts": verdicts,
                            "counts": {v: verdicts.count(v) for v in dict.fromkeys(verdicts)},
                            "mean_difference": float(np.mean(diffs)) if diffs else None,
                            "oracle_difference": float(np.mean(orc)) if orc else None,
                            "true_alm_effect": float(np.mean(alm)) if alm else None,
                            "true_smoothing_effect": float(np.mean(sm)) if sm else None,
                            "non_inferior_seeds": sum(1 for x in ni if x), "seeds": len(runs)})
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable: the config, the proxies, every run and the map."""
        from hf_ambiguity.analysis.synthetic_benefit import _json_safe

        return _json_safe({
            "config": self.config.to_dict(),
            "worlds": [{"label": w.label, "changed": list(w.changed), **vars(w.proxy)} for w in self.worlds],
            "runs": [{k: v for k, v in vars(r).items() if k != "settings"} for r in self.runs],
            "map": self.cells(),
            "calibration": self.calibration,
        })


def run_study(cfg: SimulationConfig, *, progress: bool = False, calibration: dict[str, Any] | None = None
              ) -> StudyResult:
    """Run every world of the sweep (same config → same result)."""
    worlds = proxy_worlds(cfg)
    jobs = [(w, p, s) for w in worlds for p in cfg.humans.panels for s in cfg.seeds]
    runs: list[RunResult] = []
    for w, p, s in tqdm(jobs, desc="simulation worlds", disable=not progress, unit="world"):
        runs.extend(evaluate_world(cfg, w, p, s))
    return StudyResult(config=cfg, worlds=tuple(worlds), runs=tuple(runs), calibration=calibration)
