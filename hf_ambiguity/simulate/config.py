"""The simulation study's configuration, on the shared engine :func:`hf_ambiguity.config.build_config`.

The default (``hf_ambiguity/configs/simulate.yaml``, the same values as the dataclass defaults) is a *sweep*, not a
single world: a base ALM proxy (calibrated, unbiased, noise-free, about each item's own truth) and, one factor at a
time (or as a grid), proxies that are under- or over-confident, biased toward a class, noisy per item, or less
correlated with the truth; each with 3, 5 and 10 human raters per item and several seeds. No setting is chosen to
produce a conclusion; the report maps where synthetic labels help, hurt or make no detectable difference under the
held-out-annotator test (:mod:`hf_ambiguity.analysis.synthetic_benefit`).

Every key is optional; unknown keys, wrong types and invalid values raise :class:`~hf_ambiguity.errors.ConfigError`
naming the source, the dotted key and what is valid.

>>> cfg = config_from_dict({"n_items": 500, "proxy": {"sharpness": 3.0}})
>>> cfg.n_items, cfg.proxy.sharpness, cfg.humans.panels
(500, 3.0, ((3,), (5,), (10,)))
>>> [w.label for w in proxy_worlds(config_from_dict({"sweep": {"sharpness": [2.0], "noise": [],
...                                                           "bias_strength": [], "correlation": [0.0]}}))]
['base', 'sharpness=2', 'correlation=0']
>>> config_from_dict({"proxy": {"sharpnes": 3.0}})
Traceback (most recent call last):
...
hf_ambiguity.errors.ConfigError: <dict>: unknown key 'proxy.sharpnes'; valid keys: bias_strength, ...
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hf_ambiguity.config import build_config, config_to_dict, read_yaml_mapping
from hf_ambiguity.errors import ConfigError

__all__ = ["TruthConfig", "HumanConfig", "ProxyConfig", "SweepConfig", "EvaluationConfig", "SimulationConfig",
           "ProxyWorld", "proxy_worlds", "config_from_dict", "load_config", "DEFAULT_CONFIG_PATH", "SWEEP_FACTORS"]

#: The default configuration shipped with the package (same values as the dataclass defaults).
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "configs" / "simulate.yaml"

#: Proxy settings the sweep can vary, in report order.
SWEEP_FACTORS: tuple[str, ...] = ("sharpness", "bias_strength", "noise", "correlation")


@dataclass(frozen=True)
class TruthConfig:
    """Latent true distributions: ``Dirichlet(concentration * m)`` around a dominant class.

    ``m`` puts ``dominant_mass`` on the item's dominant class (drawn from ``class_prior``, uniform when null) and
    spreads the rest evenly, so ``E[truth] = m``. ``dominant_mass`` is uniform in its ``[min, max]`` range per item
    (``1 / n_classes``: no dominant class, fully ambiguous), ``concentration`` log-uniform in its range (small: truths
    scattered far from ``m``). The default range covers clear to fully ambiguous items.
    """

    dominant_mass: tuple[float, ...] = (0.25, 0.95)
    concentration: tuple[float, ...] = (2.0, 50.0)
    class_prior: tuple[float, ...] | None = None


@dataclass(frozen=True)
class HumanConfig:
    """Human raters. Each *panel* is one world: an item's rater count is drawn uniformly from the panel's list (so
    ``[3]`` = 3 raters everywhere; repeat values to weight them, as ``--calibrate-from`` does); every label is an
    independent draw from the item's truth."""

    panels: tuple[tuple[int, ...], ...] = ((3,), (5,), (10,))


@dataclass(frozen=True)
class ProxyConfig:
    """The ALM proxy (the base of the sweep). Its distribution for item ``i`` is::

        softmax(sharpness * (correlation * log(t_i C) + (1 - correlation) * log(t_j C)) + noise * z_i)

    with ``t_j`` the truth of a random other item (so ``correlation = 0``: a proxy unrelated to the item but with
    the corpus's class frequencies), ``C`` the bias matrix (``bias_strength`` of every class's mass moved to
    ``bias_toward``), ``z_i ~ N(0, 1)`` per item and class. ``sharpness`` 1 = calibrated, > 1 over-confident, < 1
    under-confident. ``mode: votes``: ``n_annotators`` sampled labels (the reference's synthetic annotators);
    ``distribution``: the distribution itself (score mode).
    """

    sharpness: float = 1.0
    bias_toward: int | str | None = 0
    bias_strength: float = 0.0
    noise: float = 0.0
    correlation: float = 1.0
    mode: Literal["votes", "distribution"] = "votes"
    n_annotators: int = 8


@dataclass(frozen=True)
class SweepConfig:
    """Proxy settings tried besides the base. ``one_at_a_time``: the base, then the base with one factor changed to
    each listed value; ``grid``: every combination of (base value + listed values) of all factors."""

    design: Literal["one_at_a_time", "grid"] = "one_at_a_time"
    sharpness: tuple[float, ...] = (0.5, 2.0, 4.0)
    bias_strength: tuple[float, ...] = (0.3,)
    noise: tuple[float, ...] = (0.5, 1.5)
    correlation: tuple[float, ...] = (0.5, 0.0)


@dataclass(frozen=True)
class EvaluationConfig:
    """The held-out-annotator test run on every world (:func:`~hf_ambiguity.analysis.synthetic_benefit.
    synthetic_benefit`), once per merge. ``concat`` weighs the synthetic distribution as ``proxy.n_annotators``
    votes (the reference concatenation). ``margin`` (units of the primary score) is the non-inferiority margin: the
    only way the report states "not worse than the smoothing-only baseline"."""

    merges: tuple[Literal["concat", "weighted", "adaptive"], ...] = ("concat", "weighted", "adaptive")
    design: Literal["leave_one_out", "split_half"] = "leave_one_out"
    strata: Literal["entropy", "reference", "none"] = "entropy"
    primary: Literal["brier", "log_loss"] = "brier"
    smoothing_target: Literal["marginal", "uniform"] = "marginal"
    n_folds: int = 5
    n_resamples: int = 1000
    alpha: float = 0.05
    margin: float = 0.005


@dataclass(frozen=True)
class SimulationConfig:
    """The whole study: ``n_items`` simulated utterances per world over ``class_names`` (or ``n_classes`` generic
    names), every world once per seed."""

    seeds: tuple[int, ...] = (0, 1, 2)
    n_items: int = 2000
    n_classes: int = 4
    class_names: tuple[str, ...] | None = ("neutral", "happy", "angry", "sad")
    truth: TruthConfig = field(default_factory=TruthConfig)
    humans: HumanConfig = field(default_factory=HumanConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)

    @property
    def names(self) -> tuple[str, ...]:
        """Class names (``class_0``, ``class_1``, ... when none are configured)."""
        return self.class_names if self.class_names is not None else tuple(f"class_{i}" for i in range(self.n_classes))

    def bias_index(self, proxy: ProxyConfig | None = None) -> int | None:
        """Column index of the proxy's ``bias_toward`` (``None`` without bias)."""
        b = (proxy or self.proxy).bias_toward
        if b is None or isinstance(b, int):
            return b
        return self.names.index(b)

    def confusion_matrix(self, proxy: ProxyConfig | None = None) -> np.ndarray:
        """The proxy's ``(n_classes, n_classes)`` bias matrix ``C`` (rows sum to 1; identity without bias)."""
        p = proxy or self.proxy
        c = np.eye(self.n_classes)
        j = self.bias_index(p)
        if j is not None and p.bias_strength > 0:
            c = (1.0 - p.bias_strength) * c
            c[:, j] += p.bias_strength
        return c

    def to_dict(self) -> dict[str, Any]:
        """Plain (YAML-serialisable) dictionary of every setting."""
        return config_to_dict(self)


@dataclass(frozen=True)
class ProxyWorld:
    """One proxy of the sweep: a short ``label`` (``base`` or ``factor=value``) and its settings."""

    label: str
    proxy: ProxyConfig
    changed: tuple[str, ...]


def _fmt(v: float) -> str:
    return f"{v:g}"


def proxy_worlds(cfg: SimulationConfig) -> list[ProxyWorld]:
    """The proxies the sweep runs, base first (duplicates of the base value are dropped)."""
    base = cfg.proxy
    sw = cfg.sweep
    if sw.design == "one_at_a_time":
        out = [ProxyWorld("base", base, ())]
        for factor in SWEEP_FACTORS:
            for v in getattr(sw, factor):
                if v == getattr(base, factor):
                    continue
                out.append(ProxyWorld(f"{factor}={_fmt(v)}", dataclasses.replace(base, **{factor: v}), (factor,)))
        return out
    levels = [[getattr(base, f)] + [v for v in getattr(sw, f) if v != getattr(base, f)] for f in SWEEP_FACTORS]
    out = []
    for combo in itertools.product(*levels):
        changed = tuple(f for f, v in zip(SWEEP_FACTORS, combo) if v != getattr(base, f))
        label = ", ".join(f"{f}={_fmt(v)}" for f, v in zip(SWEEP_FACTORS, combo) if f in changed) or "base"
        out.append(ProxyWorld(label, dataclasses.replace(base, **dict(zip(SWEEP_FACTORS, combo))), changed))
    return out


def _check(cfg: SimulationConfig, where: str) -> None:
    """Range and cross-field checks that the types alone cannot express."""
    def bad(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{where}: {key} {msg}", key=key)

    k = cfg.n_classes
    if not cfg.seeds:
        raise bad("seeds", "must list at least one seed")
    if cfg.n_items < 50:
        raise bad("n_items", f"must be at least 50 (the test needs items in every fold and stratum), got {cfg.n_items}")
    if k < 2:
        raise bad("n_classes", f"must be at least 2, got {k}")
    if cfg.class_names is not None and (len(cfg.class_names) != k or len(set(cfg.class_names)) != k):
        raise bad("class_names", f"must be {k} distinct names (n_classes = {k}), got {list(cfg.class_names)}")
    t = cfg.truth
    for key, rng_, lo, hi in (("dominant_mass", t.dominant_mass, 1.0 / k, 1.0),
                              ("concentration", t.concentration, 1e-3, 1e6)):
        if len(rng_) != 2 or not (lo - 1e-12 <= rng_[0] <= rng_[1] <= hi):
            raise bad(f"truth.{key}", f"must be [min, max] with {lo:g} <= min <= max <= {hi:g}, got {list(rng_)}")
    if t.class_prior is not None:
        p = np.asarray(t.class_prior)
        if p.shape != (k,) or (p < 0).any() or abs(p.sum() - 1.0) > 1e-6:
            raise bad("truth.class_prior", f"must be {k} non-negative numbers summing to 1, got {list(t.class_prior)}")
    if not cfg.humans.panels:
        raise bad("humans.panels", "must list at least one panel, e.g. [[3], [5], [10]]")
    for i, panel in enumerate(cfg.humans.panels):
        if not panel or any(c < 2 for c in panel):
            raise bad(f"humans.panels[{i}]", f"must be a non-empty list of rater counts >= 2, got {list(panel)}")
    if cfg.evaluation.design == "split_half" and min(min(p) for p in cfg.humans.panels) < 4:
        raise bad("evaluation.design", "split_half needs >= 4 raters per item in every panel")
    proxies = [w.proxy for w in proxy_worlds(cfg)] if _sweep_ok(cfg.sweep) else [cfg.proxy]
    for key, values, ok, what in (
            ("sharpness", cfg.sweep.sharpness + (cfg.proxy.sharpness,), lambda v: np.isfinite(v) and v > 0, "> 0"),
            ("bias_strength", cfg.sweep.bias_strength + (cfg.proxy.bias_strength,), lambda v: 0 <= v <= 1,
             "in [0, 1]"),
            ("noise", cfg.sweep.noise + (cfg.proxy.noise,), lambda v: np.isfinite(v) and v >= 0, ">= 0"),
            ("correlation", cfg.sweep.correlation + (cfg.proxy.correlation,), lambda v: 0 <= v <= 1, "in [0, 1]")):
        for v in values:
            if not ok(v):
                raise bad(f"proxy.{key}" if v == getattr(cfg.proxy, key) else f"sweep.{key}",
                          f"must be {what}, got {v!r}")
    b = cfg.proxy.bias_toward
    if isinstance(b, str) and b not in cfg.names:
        raise bad("proxy.bias_toward", f"must be one of {list(cfg.names)} or a class index, got {b!r}")
    if isinstance(b, int) and not 0 <= b < k:
        raise bad("proxy.bias_toward", f"index must be in [0, {k - 1}], got {b!r}")
    if cfg.proxy.n_annotators < 1:
        raise bad("proxy.n_annotators", f"must be at least 1, got {cfg.proxy.n_annotators}")
    if any(p.bias_strength > 0 for p in proxies) and b is None:
        raise bad("proxy.bias_toward", "is null but a bias_strength > 0 is used; name the class the bias goes to")
    ev = cfg.evaluation
    if not ev.merges:
        raise bad("evaluation.merges", "must list at least one of concat, weighted, adaptive")
    if ev.n_folds < 2:
        raise bad("evaluation.n_folds", f"must be at least 2, got {ev.n_folds}")
    if ev.n_resamples < 100:
        raise bad("evaluation.n_resamples", f"must be at least 100, got {ev.n_resamples}")
    if not 0 < ev.alpha < 0.5:
        raise bad("evaluation.alpha", f"must be in (0, 0.5), got {ev.alpha}")
    if not ev.margin >= 0:
        raise bad("evaluation.margin", f"must be >= 0 (units of the primary score), got {ev.margin}")


def _sweep_ok(sw: SweepConfig) -> bool:
    return all(np.isfinite(v) for f in SWEEP_FACTORS for v in getattr(sw, f))


def config_from_dict(data: Any, *, where: str = "<dict>") -> SimulationConfig:
    """Validate a parsed mapping into a :class:`SimulationConfig` (``where`` names the source in errors).

    ``class_names`` alone sets ``n_classes``; ``n_classes`` alone switches to generic names ``class_0`` ...
    """
    data = dict(data or {})
    if "class_names" in data and data["class_names"] is not None and "n_classes" not in data \
            and isinstance(data["class_names"], list):
        data["n_classes"] = len(data["class_names"])
    if "n_classes" in data and "class_names" not in data:
        data["class_names"] = None
    cfg = build_config(SimulationConfig, data, where=where)
    _check(cfg, where)
    return cfg


def load_config(path: str | Path | None = None) -> SimulationConfig:
    """Read and validate a YAML config (``None``: the shipped default); errors name the file."""
    p = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    if not p.is_file():
        raise ConfigError(f"simulation config {str(p)!r} does not exist; start from {DEFAULT_CONFIG_PATH}")
    return config_from_dict(read_yaml_mapping(p), where=str(p))
