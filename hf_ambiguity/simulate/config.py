"""The simulation study's configuration: frozen dataclasses read from (and documented by) a YAML file.

Every section and key is optional; missing keys take the defaults below (also shipped as
``hf_ambiguity/configs/simulate.yaml``). Unknown keys raise, naming the key and the valid ones, so that a typo is
never silently ignored.

>>> cfg = SimulationConfig.from_dict({"n_items": 500, "alm": {"sharpness": 3.0}})
>>> cfg.n_items, cfg.alm.sharpness, cfg.humans.votes_per_item
(500, 3.0, (3, 7))
>>> SimulationConfig.from_dict({"alm": {"sharpnes": 3.0}})
Traceback (most recent call last):
...
ValueError: config section 'alm': unknown key 'sharpnes'; valid keys: ['bias_strength', 'bias_toward', 'confusion', 'mode', 'noise', 'sharpness']
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

__all__ = ["TruthConfig", "HumanConfig", "AlmConfig", "EvaluationConfig", "SimulationConfig", "load_config",
           "DEFAULT_CONFIG_PATH"]

#: The default configuration shipped with the package (same values as the dataclass defaults).
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "configs" / "simulate.yaml"


def _range(name: str, value: Any, *, lo: float, hi: float = np.inf, integer: bool = False) -> tuple:
    """A ``[min, max]`` pair (a single number means min = max), checked to lie in ``[lo, hi]``."""
    raw = (value, value) if np.isscalar(value) else tuple(value)
    if len(raw) != 2:
        raise ValueError(f"{name} must be a number or a [min, max] pair, got {value!r}")
    try:
        pair = tuple(float(v) for v in raw)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold numbers, got {value!r}") from None
    if integer:
        if any(v != round(v) for v in pair):
            raise ValueError(f"{name} must hold whole numbers, got {value!r}")
        pair = tuple(int(v) for v in pair)
    if not (lo <= pair[0] <= pair[1] <= hi):
        raise ValueError(f"{name} must satisfy {lo} <= min <= max <= {hi}, got {list(pair)}")
    return pair


@dataclass(frozen=True)
class TruthConfig:
    """Latent true distributions: ``Dirichlet(concentration * m)`` around a dominant class.

    ``m`` puts ``dominant_mass`` on the item's dominant class (drawn from ``class_prior``, uniform when ``None``) and
    spreads the rest evenly over the other classes, so ``E[truth] = m``. ``dominant_mass`` is drawn uniformly from
    its ``[min, max]`` range per item (``1/n_classes`` = no dominant class: fully ambiguous), ``concentration``
    log-uniformly from its range (small = truths scattered far from ``m``).
    """

    dominant_mass: tuple[float, float] = (0.25, 0.95)
    concentration: tuple[float, float] = (2.0, 50.0)
    class_prior: tuple[float, ...] | None = None


@dataclass(frozen=True)
class HumanConfig:
    """Sparse human annotators: each item gets ``votes_per_item`` labels (uniform integer in ``[min, max]``), each
    an independent draw from the item's true distribution."""

    votes_per_item: tuple[int, int] = (3, 7)


@dataclass(frozen=True)
class AlmConfig:
    """The ALM proxy. Its per-item distribution is ``softmax(sharpness * log(truth @ C) + noise * z)``,
    ``z ~ N(0, 1)`` per item and class (shared by all K synthetic annotators of the item).

    ``C`` (row-stochastic, ``n_classes x n_classes``: row = true class, column = class the ALM says) is
    ``confusion`` when given, else ``(1 - bias_strength) * I`` plus ``bias_strength`` moved to ``bias_toward``
    (a class name or index; ``None`` = no bias). ``sharpness > 1`` = over-confident. ``mode="votes"``: K
    independent labels from that distribution (sampling annotators); ``"distribution"``: the fractional votes
    ``K * p`` (single-pass score mode).
    """

    confusion: tuple[tuple[float, ...], ...] | None = None
    bias_toward: str | int | None = 0
    bias_strength: float = 0.25
    sharpness: float = 8.0
    noise: float = 2.0
    mode: Literal["votes", "distribution"] = "votes"


@dataclass(frozen=True)
class EvaluationConfig:
    """What is compared: fixed merges ``human + λ * synthetic`` for every ``λ`` in ``lambdas`` and ``K`` in
    ``k_values`` (``λ = 1``, the reference concatenation, is always added), the adaptive merge per ``K``, and
    human-only; paired
    tests with ``n_resamples`` resamples, Holm-corrected over levels, at level ``alpha``."""

    k_values: tuple[int, ...] = (2, 4, 8, 16)
    lambdas: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0)
    n_resamples: int = 2000
    alpha: float = 0.05


@dataclass(frozen=True)
class SimulationConfig:
    """The whole study: ``n_items`` simulated utterances over ``class_names`` (or ``n_classes`` generic names)."""

    seed: int = 0
    n_items: int = 3000
    n_classes: int = 4
    class_names: tuple[str, ...] | None = ("neutral", "happy", "angry", "sad")
    truth: TruthConfig = field(default_factory=TruthConfig)
    humans: HumanConfig = field(default_factory=HumanConfig)
    alm: AlmConfig = field(default_factory=AlmConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def names(self) -> tuple[str, ...]:
        """Class names (``class_0``, ``class_1``, ... when none are configured)."""
        return self.class_names if self.class_names is not None else tuple(f"class_{i}" for i in range(self.n_classes))

    @property
    def bias_index(self) -> int | None:
        """Column index of ``alm.bias_toward`` (``None`` without bias)."""
        b = self.alm.bias_toward
        if b is None or isinstance(b, (int, np.integer)):
            return None if b is None else int(b)
        return self.names.index(b)

    def confusion_matrix(self) -> np.ndarray:
        """The ALM's ``(n_classes, n_classes)`` confusion matrix ``C`` (rows sum to 1)."""
        k = self.n_classes
        if self.alm.confusion is not None:
            return np.asarray(self.alm.confusion, dtype=np.float64)
        c = np.eye(k)
        if self.bias_index is not None and self.alm.bias_strength > 0:
            c = (1.0 - self.alm.bias_strength) * c
            c[:, self.bias_index] += self.alm.bias_strength
        return c

    def to_dict(self) -> dict[str, Any]:
        """Plain (YAML-serialisable) dictionary of every setting."""
        def plain(x: Any) -> Any:
            if isinstance(x, tuple):
                return [plain(v) for v in x]
            return x
        return {k: ({kk: plain(vv) for kk, vv in v.items()} if isinstance(v, dict) else plain(v))
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "SimulationConfig":
        """Build from a (possibly partial) nested dictionary, e.g. parsed YAML."""
        data = dict(data or {})
        sections = {"truth": TruthConfig, "humans": HumanConfig, "alm": AlmConfig, "evaluation": EvaluationConfig}
        top = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in top:
                raise ValueError(f"config: unknown key {key!r}; valid keys: {sorted(top)}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in sections:
                if not isinstance(value, dict):
                    raise ValueError(f"config section {key!r} must be a mapping, got {value!r}")
                kwargs[key] = _section(sections[key], key, value)
            elif key == "class_names":
                kwargs[key] = None if value is None else tuple(str(v) for v in value)
            else:
                kwargs[key] = value
        if "class_names" in kwargs and kwargs["class_names"] is not None and "n_classes" not in kwargs:
            kwargs["n_classes"] = len(kwargs["class_names"])
        if "n_classes" in kwargs and "class_names" not in kwargs:
            kwargs["class_names"] = None
        return cls(**kwargs)


def _section(klass: type, name: str, values: dict[str, Any]) -> Any:
    valid = sorted(f.name for f in dataclasses.fields(klass))
    for key in values:
        if key not in valid:
            raise ValueError(f"config section {name!r}: unknown key {key!r}; valid keys: {valid}")
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        out[key] = value
    return klass(**out)


def _validate(cfg: SimulationConfig) -> None:
    """Check every setting; normalise ranges to tuples (frozen dataclasses: via ``object.__setattr__``)."""
    if not isinstance(cfg.n_items, int) or cfg.n_items < 30:
        raise ValueError(f"n_items must be an integer >= 30 (three ambiguity levels need items), got {cfg.n_items!r}")
    if not isinstance(cfg.n_classes, int) or cfg.n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {cfg.n_classes!r}")
    if not isinstance(cfg.seed, int):
        raise ValueError(f"seed must be an integer, got {cfg.seed!r}")
    k = cfg.n_classes
    if cfg.class_names is not None and (len(cfg.class_names) != k or len(set(cfg.class_names)) != k):
        raise ValueError(f"class_names must be {k} distinct names (n_classes = {k}), got {list(cfg.class_names)}")
    t = cfg.truth
    object.__setattr__(t, "dominant_mass", _range("truth.dominant_mass", t.dominant_mass, lo=1.0 / k, hi=1.0))
    object.__setattr__(t, "concentration", _range("truth.concentration", t.concentration, lo=1e-3))
    if t.class_prior is not None:
        p = np.asarray(t.class_prior, dtype=np.float64)
        if p.shape != (k,) or (p < 0).any() or abs(p.sum() - 1.0) > 1e-6:
            raise ValueError(f"truth.class_prior must be {k} non-negative numbers summing to 1, got {t.class_prior!r}")
    h = cfg.humans
    object.__setattr__(h, "votes_per_item", _range("humans.votes_per_item", h.votes_per_item, lo=1, hi=1000,
                                                   integer=True))
    a = cfg.alm
    if a.mode not in ("votes", "distribution"):
        raise ValueError(f"alm.mode must be one of ['votes', 'distribution'], got {a.mode!r}")
    if not (np.isfinite(a.sharpness) and a.sharpness > 0):
        raise ValueError(f"alm.sharpness must be > 0 (1 = calibrated, > 1 = over-confident), got {a.sharpness!r}")
    if not (np.isfinite(a.noise) and a.noise >= 0):
        raise ValueError(f"alm.noise must be >= 0, got {a.noise!r}")
    if not 0.0 <= a.bias_strength <= 1.0:
        raise ValueError(f"alm.bias_strength must be in [0, 1], got {a.bias_strength!r}")
    if isinstance(a.bias_toward, str) and a.bias_toward not in cfg.names:
        raise ValueError(f"alm.bias_toward must be one of {list(cfg.names)} or a class index, got {a.bias_toward!r}")
    if isinstance(a.bias_toward, (int, np.integer)) and not 0 <= a.bias_toward < k:
        raise ValueError(f"alm.bias_toward index must be in [0, {k - 1}], got {a.bias_toward!r}")
    if a.confusion is not None:
        c = np.asarray(a.confusion, dtype=np.float64)
        if c.shape != (k, k):
            raise ValueError(f"alm.confusion must be a {k}x{k} matrix, got shape {c.shape}")
        for i, row in enumerate(c):
            if (row < 0).any() or abs(row.sum() - 1.0) > 1e-6:
                raise ValueError(f"alm.confusion row {i} must be non-negative and sum to 1, got {row.tolist()}")
    e = cfg.evaluation
    if not e.k_values or any(not isinstance(v, int) or v < 1 for v in e.k_values):
        raise ValueError(f"evaluation.k_values must be a non-empty list of integers >= 1, got {e.k_values!r}")
    if not e.lambdas or any(not (np.isfinite(v) and v > 0) for v in e.lambdas):
        raise ValueError(f"evaluation.lambdas must be a non-empty list of numbers > 0, got {e.lambdas!r}")
    object.__setattr__(e, "k_values", tuple(sorted(set(e.k_values))))
    # λ = 1 (the reference concatenation) is always part of the grid: every report compares with it
    object.__setattr__(e, "lambdas", tuple(sorted(set(float(v) for v in e.lambdas) | {1.0})))
    if not isinstance(e.n_resamples, int) or e.n_resamples < 100:
        raise ValueError(f"evaluation.n_resamples must be an integer >= 100, got {e.n_resamples!r}")
    if not 0.0 < e.alpha < 1.0:
        raise ValueError(f"evaluation.alpha must be in (0, 1), got {e.alpha!r}")


def load_config(path: str | Path | None = None) -> SimulationConfig:
    """Read a YAML config (``None``: the shipped default); errors name the file."""
    p = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    if not p.is_file():
        raise FileNotFoundError(f"simulation config {p} does not exist; start from {DEFAULT_CONFIG_PATH}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValueError(f"{p}: not valid YAML: {err}") from None
    if data is not None and not isinstance(data, dict):
        raise ValueError(f"{p}: the top level must be a mapping of settings, got {type(data).__name__}")
    try:
        return SimulationConfig.from_dict(data)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{p}: {err}") from None
