"""Fit the simulation to a real run, so that the study speaks about that corpus and that ALM.

:func:`observed_statistics` summarises human labels and synthetic distributions (arrays, or a ``datasets`` dataset
with the pipeline's columns via :func:`observed_statistics_from_dataset`): rater counts, human class frequencies and
agreement (the probability that two raters of an item agree), the synthetic distributions' mean normalised entropy,
their class bias (mean synthetic minus mean human distribution), how often their arg-max is the human plurality, and
the human–synthetic Jensen–Shannon divergence (base 2) per ambiguity level (the reference definition, terciles, from
the human labels). :func:`calibrate` then chooses, by the method of moments on simulated corpora (fixed seed, so the
objective is deterministic), the truth's dominant-mass range and class prior (to match agreement and class
frequencies) and the proxy's sharpness, noise, correlation with the truth and bias (to match the synthetic
statistics), and sets the human panel to the observed rater counts. The fit is approximate: the report shows the
observed and simulated statistics side by side.

>>> from hf_ambiguity.simulate.config import SimulationConfig, config_from_dict
>>> from hf_ambiguity.simulate.sampling import simulate_world
>>> cfg = config_from_dict({"n_items": 800, "proxy": {"sharpness": 2.0, "noise": 0.5}})
>>> w = simulate_world(cfg, cfg.proxy, (3, 4), seed=5)
>>> obs = observed_statistics(w.label_lists(), w.synthetic, cfg.names, synthetic_votes=w.synthetic * 8)
>>> obs.synthetic_mode, obs.n_annotators, sorted(obs.rater_counts)
('votes', 8, [3, 4])
>>> cal = calibrate(obs, SimulationConfig(), n_items=800)
>>> 1.0 <= cal.config.proxy.sharpness <= 4.0 and cal.config.humans.panels[0][0] >= 3
True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy.optimize import minimize
from scipy.spatial.distance import jensenshannon

from hf_ambiguity.analysis.synthetic_benefit import labels_to_votes
from hf_ambiguity.distributions import normalized_entropy, tercile_levels
from hf_ambiguity.schema import AMBIGUITY_LEVELS, class_names
from hf_ambiguity.config import config_to_dict
from hf_ambiguity.simulate.config import SimulationConfig, config_from_dict
from hf_ambiguity.simulate.sampling import simulate_world

__all__ = ["ObservedStatistics", "Calibration", "observed_statistics", "observed_statistics_from_dataset",
           "calibrate", "synthetic_column_names"]


@dataclass(frozen=True)
class ObservedStatistics:
    """What the calibration matches (see the module docstring)."""

    class_names: tuple[str, ...]
    n_items: int
    rater_counts: dict[int, int]
    human_class_frequencies: tuple[float, ...]
    human_agreement: float
    synthetic_mode: str
    n_annotators: int
    synthetic_entropy: float
    class_bias: tuple[float, ...]
    plurality_agreement: float
    divergence_by_level: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["rater_counts"] = {int(k): int(v) for k, v in self.rater_counts.items()}
        return d


def _reference_levels(votes: np.ndarray) -> np.ndarray:
    p = votes / votes.sum(axis=1, keepdims=True)
    distinct = (votes > 0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        score = np.where(distinct > 1, h / np.log(np.maximum(distinct, 2)), 0.0)
    return np.asarray(tercile_levels(score))


def observed_statistics(human_labels: Sequence[Sequence[int]], synthetic: np.ndarray, class_names_: Sequence[str],
                        *, synthetic_votes: np.ndarray | None = None) -> ObservedStatistics:
    """Statistics of human labels (class indices per item) and synthetic distributions ``(n_items, n_classes)``.

    Items with fewer than 2 human labels or no synthetic distribution (an all-zero row) are left out.
    ``synthetic_votes`` (the raw counts) tells votes mode (whole counts: ``n_annotators`` = their median total)
    from score mode; without it, score mode is assumed.
    """
    k = len(class_names_)
    h = labels_to_votes(human_labels, k)
    s = np.asarray(synthetic, dtype=np.float64)
    if s.shape != h.shape:
        raise ValueError(f"synthetic has shape {s.shape} but the human labels give {h.shape} (items, classes)")
    tot = s.sum(axis=1)
    keep = (h.sum(axis=1) >= 2) & (tot > 0)
    if keep.sum() < 20:
        raise ValueError(f"only {int(keep.sum())} items have >= 2 human labels and a synthetic distribution; "
                         "calibration needs at least 20")
    h, s = h[keep], s[keep] / tot[keep, None]
    n = h.sum(axis=1)
    counts, freq = np.unique(n.astype(int), return_counts=True)
    agree = float(((h * (h - 1)).sum(axis=1) / (n * (n - 1))).mean())
    human_dist = h / n[:, None]
    mode, n_ann = "distribution", 0
    if synthetic_votes is not None:
        v = np.asarray(synthetic_votes, dtype=np.float64)[keep]
        if np.allclose(v, np.round(v)):
            mode, n_ann = "votes", int(np.median(v.sum(axis=1)))
    plurality = h.max(axis=1)
    unique = (h == plurality[:, None]).sum(axis=1) == 1
    plur_agree = float((s[unique].argmax(axis=1) == h[unique].argmax(axis=1)).mean()) if unique.any() else float("nan")
    js = jensenshannon(human_dist, s, axis=1, base=2.0) ** 2
    levels = _reference_levels(h)
    by_level = {lv: float(js[levels == lv].mean()) for lv in AMBIGUITY_LEVELS if (levels == lv).any()}
    return ObservedStatistics(
        class_names=tuple(class_names_), n_items=int(keep.sum()),
        rater_counts={int(c): int(f) for c, f in zip(counts, freq)},
        human_class_frequencies=tuple(float(x) for x in h.sum(axis=0) / h.sum()), human_agreement=agree,
        synthetic_mode=mode, n_annotators=n_ann, synthetic_entropy=float(normalized_entropy(s).mean()),
        class_bias=tuple(float(x) for x in s.mean(axis=0) - human_dist.mean(axis=0)),
        plurality_agreement=plur_agree, divergence_by_level=by_level)


def synthetic_column_names(columns: Sequence[str]) -> list[str]:
    """Names ``X`` of synthetic annotator sets in a dataset (columns ``X_dist`` and ``X_votes``, ``X`` not human /
    combined)."""
    return sorted(c[: -len("_dist")] for c in columns
                  if c.endswith("_dist") and c[: -len("_dist")] not in ("human", "combined")
                  and f"{c[: -len('_dist')]}_votes" in columns)


def observed_statistics_from_dataset(dataset: Any, *, name: str | None = None) -> ObservedStatistics:
    """:func:`observed_statistics` of a ``datasets`` Dataset or DatasetDict (splits pooled) with the pipeline's
    columns: ``human_labels`` (class names), the ``majority_label`` ClassLabel (class order) and ``<name>_dist`` /
    ``<name>_votes`` (``name`` found automatically when there is one synthetic set)."""
    parts = list(dataset.values()) if hasattr(dataset, "values") and not hasattr(dataset, "features") else [dataset]
    if not parts:
        raise ValueError("the dataset has no splits")
    first = parts[0]
    names = class_names(first)
    cols = first.column_names
    if "human_labels" not in cols:
        raise ValueError(f"the dataset has no 'human_labels' column (columns: {cols}); calibrate from the "
                         "annotate stage's dataset of a pipeline run")
    found = synthetic_column_names(cols)
    if name is None:
        if len(found) != 1:
            raise ValueError(f"the dataset has {len(found)} synthetic annotator sets {found}; choose one with name=")
        name = found[0]
    elif name not in found:
        raise ValueError(f"the dataset has no synthetic set {name!r} (columns {name}_dist / {name}_votes); "
                         f"found {found}")
    index = {c: i for i, c in enumerate(names)}
    labels: list[list[int]] = []
    dist, votes = [], []
    for part in parts:
        for row in part["human_labels"]:
            try:
                labels.append([index[c] for c in row])
            except KeyError as exc:
                raise ValueError(f"human label {exc.args[0]!r} is not one of the classes {names}") from None
        dist.append(np.asarray(part[f"{name}_dist"], dtype=np.float64))
        votes.append(np.asarray(part[f"{name}_votes"], dtype=np.float64))
    d = np.nan_to_num(np.concatenate(dist))  # rows without a synthetic answer may be null
    return observed_statistics(labels, d, names, synthetic_votes=np.nan_to_num(np.concatenate(votes)))


@dataclass(frozen=True)
class Calibration:
    """The calibrated config, the observed and simulated statistics, the fitted parameters and the fit's loss."""

    config: SimulationConfig
    observed: ObservedStatistics
    simulated: ObservedStatistics
    parameters: dict[str, Any]
    loss: float

    def to_dict(self, source: str | None = None) -> dict[str, Any]:
        return {"source": source, "observed": self.observed.to_dict(), "simulated": self.simulated.to_dict(),
                "parameters": self.parameters, "loss": self.loss}


def _panel(rater_counts: dict[int, int], size: int = 40) -> tuple[int, ...]:
    """Rater counts at ``size`` evenly spaced quantiles: a list the simulation draws from uniformly."""
    values = np.repeat(np.array(sorted(rater_counts)), [rater_counts[c] for c in sorted(rater_counts)])
    q = np.quantile(values, (np.arange(size) + 0.5) / size, method="inverted_cdf")
    return tuple(int(x) for x in q)


def _simulate_stats(cfg: SimulationConfig, panel: tuple[int, ...], seed: int) -> ObservedStatistics:
    w = simulate_world(cfg, cfg.proxy, panel, seed)
    votes = w.synthetic * cfg.proxy.n_annotators if cfg.proxy.mode == "votes" else None
    return observed_statistics(w.label_lists(), w.synthetic, cfg.names, synthetic_votes=votes)


def calibrate(observed: ObservedStatistics, base: SimulationConfig, *, n_items: int = 2000, seed: int = 0
              ) -> Calibration:
    """A copy of ``base`` whose classes, human panel, truth and base proxy are fitted to ``observed``."""
    k = len(observed.class_names)
    panel = _panel(observed.rater_counts)
    mode = observed.synthetic_mode
    n_ann = observed.n_annotators if mode == "votes" else base.proxy.n_annotators
    bias_vec = np.asarray(observed.class_bias)
    bias_to = int(np.argmax(bias_vec)) if bias_vec.max() > 0.02 else None
    # without an observed bias the proxy gets none, but the sweep's biased proxies still need a class to go to
    sweep_to = bias_to if bias_to is not None else int(np.argmax(observed.human_class_frequencies))
    cfg = dataclasses.replace(
        base, n_items=n_items, n_classes=k, class_names=observed.class_names,
        humans=dataclasses.replace(base.humans, panels=(panel,)),
        proxy=dataclasses.replace(base.proxy, mode=mode, n_annotators=max(1, n_ann), bias_toward=sweep_to,
                                  bias_strength=0.0))

    # 1. truth: dominant-mass range [1/k, upper] and class prior, to match agreement and class frequencies
    prior = np.asarray(observed.human_class_frequencies)

    def truth_cfg(upper: float, prior_: np.ndarray) -> SimulationConfig:
        return dataclasses.replace(cfg, truth=dataclasses.replace(
            cfg.truth, dominant_mass=(1.0 / k, float(upper)), class_prior=tuple(float(x) for x in prior_)))

    grid = np.linspace(1.0 / k + 0.05, 0.99, 24)
    for _ in range(3):
        agree = np.array([_simulate_stats(truth_cfg(u, prior), panel, seed).human_agreement for u in grid])
        upper = float(grid[int(np.argmin(np.abs(agree - observed.human_agreement)))])
        sim = _simulate_stats(truth_cfg(upper, prior), panel, seed)
        ratio = np.asarray(observed.human_class_frequencies) / np.maximum(sim.human_class_frequencies, 1e-6)
        prior = prior * ratio
        prior = prior / prior.sum()
    cfg = truth_cfg(upper, prior)

    # 2. proxy: sharpness, noise, correlation, bias strength by the method of moments
    levels = list(observed.divergence_by_level)

    def moments(st: ObservedStatistics) -> np.ndarray:
        bias_part = [st.class_bias[bias_to]] if bias_to is not None else []
        return np.array([st.divergence_by_level.get(lv, np.nan) for lv in levels]
                        + [st.synthetic_entropy, st.plurality_agreement] + bias_part)

    target = moments(observed)

    def proxy_cfg(x: np.ndarray) -> SimulationConfig:
        sharp, noise = float(np.exp(np.clip(x[0], -3.0, 3.0))), float(max(x[1], 0.0))
        corr, bias = float(np.clip(x[2], 0.0, 1.0)), float(np.clip(x[3], 0.0, 0.9))
        return dataclasses.replace(cfg, proxy=dataclasses.replace(
            cfg.proxy, sharpness=sharp, noise=noise, correlation=corr,
            bias_strength=bias if bias_to is not None else 0.0))

    def loss(x: np.ndarray) -> float:
        d = moments(_simulate_stats(proxy_cfg(x), panel, seed)) - target
        return float(np.nansum(d * d))

    starts = [np.array([np.log(s), n, c, b]) for s in (0.5, 1.0, 2.0, 4.0) for n in (0.0, 1.0)
              for c in (0.3, 0.7, 1.0) for b in ((0.0, 0.3) if bias_to is not None else (0.0,))]
    x0 = min(starts, key=loss)
    res = minimize(loss, x0, method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-7, "maxiter": 200})
    x = res.x if res.fun <= loss(x0) else x0
    cfg = config_from_dict(config_to_dict(proxy_cfg(x)), where="calibrated config")  # re-validated
    simulated = _simulate_stats(cfg, panel, seed)
    params = {"sharpness": round(cfg.proxy.sharpness, 4), "noise": round(cfg.proxy.noise, 4),
              "correlation": round(cfg.proxy.correlation, 4), "bias_toward": cfg.proxy.bias_toward,
              "bias_strength": round(cfg.proxy.bias_strength, 4), "mode": mode,
              "n_annotators": cfg.proxy.n_annotators,
              "dominant_mass": [round(v, 4) for v in cfg.truth.dominant_mass],
              "class_prior": [round(v, 4) for v in cfg.truth.class_prior], "panel": sorted(set(panel))}
    return Calibration(config=cfg, observed=observed, simulated=simulated, parameters=params, loss=float(loss(x)))
