"""Saturation analysis: how many synthetic labels per item until alignment with humans stops improving?

The reference method draws, for N = 1 … N_max, random subsets of N synthetic annotators, turns their labels into
a distribution per item, and averages the Jensen–Shannon divergence (base 2) and the Bhattacharyya coefficient to
the human distribution. A curve ``a + b·exp(−c·N)`` (``c > 0``) is fitted to each mean curve with
``scipy.optimize.curve_fit``; the reference writes it ``a − b·e^(−cN)``, which is the same family with the sign of
``b`` flipped: here a decreasing curve (JS) has ``b > 0`` and an increasing one (BC) has ``b < 0``, so one form fits
both without sign conventions.

Saturation point (``saturation_n``): the smallest N in 1 … N_max at which the fitted curve is within 10 % of its
range over 1 … N_max of its final (best) value, i.e. ``|f(N) − f(N_max)| <= 0.1·|f(1) − f(N_max)|``.
``saturation_n_asymptote`` measures against the asymptote ``a`` instead: ``N >= 1 + ln(10)/c`` (may exceed N_max).
If the fit fails (too few points, no convergence), ``fit_ok`` is False and ``saturation_n`` is taken from the
mean curve itself with the same 10 % rule.

Subsets: for each N, ``n_subsets`` distinct random subsets of the annotator pool (the same annotators for every
item), or all of them when there are no more than ``n_subsets``. Labels are class indices, ``-1`` = no valid
answer; an item whose subset has no valid label is left out of that subset's mean (counted in
``n_items_skipped``).

>>> rng = np.random.default_rng(0)
>>> human = rng.dirichlet(np.ones(4), size=200)
>>> labels = np.stack([(rng.random((200, 4)).cumsum(1) / 2 > rng.random((200, 1))).argmax(1) for _ in range(8)], 1)
>>> res = saturation_analysis(human, labels, n_subsets=5)
>>> res.n_values[:3], len(res.js_mean)
((1, 2, 3), 8)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import curve_fit

from hf_ambiguity.analysis.divergences import bhattacharyya_cm, jsd_natural_cm
from hf_ambiguity.distributions import validate_distributions

__all__ = ["CurveFit", "SaturationResult", "saturation_analysis", "fit_saturation_curve", "plot_saturation",
           "exp_curve", "synthetic_label_matrix", "saturation_from_dataset"]

#: Fraction of the fitted curve's range that counts as "saturated".
SATURATION_FRACTION = 0.1


def exp_curve(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """``a + b·exp(−c·n)``."""
    return a + b * np.exp(-c * np.asarray(n, dtype=np.float64))


@dataclass(frozen=True)
class CurveFit:
    """Fit of ``a + b·exp(−c·N)`` to one mean curve, and its saturation point."""

    a: float | None
    b: float | None
    c: float | None
    fit_ok: bool
    saturation_n: int
    saturation_n_asymptote: int | None
    fitted: tuple[float, ...]
    message: str = ""


@dataclass(frozen=True)
class SaturationResult:
    """Mean (and sd across subsets) JS divergence / Bhattacharyya coefficient per N, with fitted curves."""

    n_values: tuple[int, ...]
    js_mean: tuple[float, ...]
    js_sd: tuple[float, ...]
    bc_mean: tuple[float, ...]
    bc_sd: tuple[float, ...]
    n_subsets: tuple[int, ...]
    n_items_skipped: tuple[int, ...]
    js_fit: CurveFit
    bc_fit: CurveFit
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def _empirical_saturation(values: np.ndarray) -> int:
    final = values[-1]
    span = abs(values[0] - final)
    close = np.abs(values - final) <= SATURATION_FRACTION * span + 1e-15
    # first N from which the curve stays within the band
    for i in range(len(values)):
        if close[i:].all():
            return i + 1
    return len(values)


def fit_saturation_curve(n_values: Any, values: Any) -> CurveFit:
    """Fit ``a + b·exp(−c·N)`` (``c > 0``) to ``values`` at ``n_values`` and locate the saturation point.

    >>> n = np.arange(1, 11)
    >>> fit = fit_saturation_curve(n, 0.3 + 0.2 * np.exp(-0.5 * n))
    >>> round(fit.c, 3), fit.saturation_n, fit.saturation_n_asymptote
    (0.5, 6, 6)
    """
    n = np.asarray(n_values, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if n.shape != y.shape or n.ndim != 1 or n.size == 0:
        raise ValueError(f"n_values and values must be 1-D of the same length, got {n.shape} and {y.shape}")
    if n.size < 3 or np.ptp(y) == 0:
        why = "fewer than 3 points" if n.size < 3 else "the curve is flat"
        return CurveFit(None, None, None, False, _empirical_saturation(y), None, tuple(map(float, y)),
                        f"not fitted: {why}")
    a0 = y[-1]
    b0 = (y[0] - y[-1]) * math.e ** 0.5
    try:
        (a, b, c), _ = curve_fit(exp_curve, n, y, p0=(a0, b0, 0.5),
                                 bounds=([-np.inf, -np.inf, 1e-6], [np.inf, np.inf, 50.0]), maxfev=20000)
    except (RuntimeError, ValueError) as err:
        return CurveFit(None, None, None, False, _empirical_saturation(y), None, tuple(map(float, y)),
                        f"fit failed ({err}); saturation from the mean curve")
    grid = np.arange(1, int(n.max()) + 1)
    f = exp_curve(grid, a, b, c)
    sat = _empirical_saturation(f)
    sat_asym = int(math.ceil(1 + math.log(1 / SATURATION_FRACTION) / c - 1e-9))
    return CurveFit(float(a), float(b), float(c), True, int(grid[sat - 1]), sat_asym,
                    tuple(float(x) for x in exp_curve(n, a, b, c)))


def _subsets(n_annotators: int, size: int, n_subsets: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    total = math.comb(n_annotators, size)
    if total <= n_subsets:
        return list(combinations(range(n_annotators), size))
    seen: set[tuple[int, ...]] = set()
    while len(seen) < n_subsets:
        seen.add(tuple(sorted(rng.choice(n_annotators, size=size, replace=False).tolist())))
    return sorted(seen)


def saturation_analysis(human_dist: Any, synthetic_labels: Any, *, n_max: int | None = None, n_subsets: int = 20,
                        seed: int = 0, progress: bool = False) -> SaturationResult:
    """Alignment of N-annotator synthetic distributions with human distributions, N = 1 … ``n_max``.

    Args:
        human_dist: ``(n_items, n_classes)`` human distributions (validated).
        synthetic_labels: ``(n_items, n_annotators)`` class index each synthetic annotator gave (-1 = none).
        n_max: largest N (default: all annotators). n_subsets: subsets per N. seed: seeds subset choice.
        progress: show a tqdm bar over N.
    """
    h = validate_distributions(human_dist, name="human_dist")
    lab = np.asarray(synthetic_labels)
    if lab.ndim != 2 or lab.shape[0] != h.shape[0]:
        raise ValueError(f"synthetic_labels must be (n_items={h.shape[0]}, n_annotators), got shape {lab.shape}")
    n_items, k = h.shape
    n_ann = lab.shape[1]
    bad = ((lab < -1) | (lab >= k) | (lab != np.round(lab))).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"synthetic_labels row {i} has a value outside -1..{k - 1}: {lab[i].tolist()}")
    n_max = n_ann if n_max is None else n_max
    if not 1 <= n_max <= n_ann:
        raise ValueError(f"n_max must be between 1 and the number of annotators ({n_ann}), got {n_max}")
    if n_subsets < 1:
        raise ValueError(f"n_subsets must be >= 1, got {n_subsets}")
    lab = lab.astype(np.int64)
    onehot = np.zeros((n_items, n_ann, k))
    ii, jj = np.nonzero(lab >= 0)
    onehot[ii, jj, lab[ii, jj]] = 1.0
    rng = np.random.default_rng(seed)
    js_mean, js_sd, bc_mean, bc_sd, used, skipped = [], [], [], [], [], []
    from hf_ambiguity.progress import progress_bar as tqdm

    for size in tqdm(range(1, n_max + 1), desc="saturation (N)", disable=not progress):
        js_vals, bc_vals, skip = [], [], 0
        subs = _subsets(n_ann, size, n_subsets, rng)
        for sub in subs:
            votes = onehot[:, list(sub), :].sum(axis=1)
            tot = votes.sum(axis=1)
            ok = tot > 0
            skip += int((~ok).sum())
            if not ok.any():
                continue
            pt = (votes[ok] / tot[ok, None]).T
            ht = h[ok].T
            js_vals.append((jsd_natural_cm(pt, ht) / np.log(2.0)).mean())
            bc_vals.append(bhattacharyya_cm(pt, ht).mean())
        if not js_vals:
            raise ValueError(f"no item has a valid synthetic label in any subset of size {size}")
        js_mean.append(float(np.mean(js_vals)))
        js_sd.append(float(np.std(js_vals, ddof=1)) if len(js_vals) > 1 else 0.0)
        bc_mean.append(float(np.mean(bc_vals)))
        bc_sd.append(float(np.std(bc_vals, ddof=1)) if len(bc_vals) > 1 else 0.0)
        used.append(len(subs))
        skipped.append(skip)
    ns = tuple(range(1, n_max + 1))
    return SaturationResult(n_values=ns, js_mean=tuple(js_mean), js_sd=tuple(js_sd), bc_mean=tuple(bc_mean),
                            bc_sd=tuple(bc_sd), n_subsets=tuple(used), n_items_skipped=tuple(skipped),
                            js_fit=fit_saturation_curve(ns, js_mean), bc_fit=fit_saturation_curve(ns, bc_mean),
                            seed=seed)


def plot_saturation(result: SaturationResult, path: str | Path, *, title: str = "") -> Path:
    """Write a PNG with the JS and BC curves (mean ± sd over subsets), fits and saturation points."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(9, 3.6))
    FigureCanvasAgg(fig)
    n = np.asarray(result.n_values)
    dense = np.linspace(n.min(), n.max(), 200)
    panels = (("JS divergence (base 2) ↓", result.js_mean, result.js_sd, result.js_fit),
              ("Bhattacharyya coefficient ↑", result.bc_mean, result.bc_sd, result.bc_fit))
    for i, (label, mean, sd, fit) in enumerate(panels):
        ax = fig.add_subplot(1, 2, i + 1)
        ax.errorbar(n, mean, yerr=sd, fmt="o", capsize=3, label="mean ± sd over subsets")
        if fit.fit_ok:
            ax.plot(dense, exp_curve(dense, fit.a, fit.b, fit.c), "-",
                    label=f"{fit.a:.3f} {'+' if fit.b >= 0 else '−'} {abs(fit.b):.3f}·exp(−{fit.c:.3f}N)")
        ax.axvline(fit.saturation_n, color="grey", linestyle="--", label=f"saturation N = {fit.saturation_n}")
        ax.set_xlabel("synthetic labels per item (N)")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def synthetic_label_matrix(dataset: Any, name: str = "synthetic") -> np.ndarray:
    """``(n_items, n_annotators)`` class indices from a dataset's ``<name>_raw`` answers (annotator order), -1 where
    an answer names no class (parsed as ``annotate`` does, ``hf_ambiguity.alm.parsing.parse_answer``).

    ``<name>_labels`` cannot be used: it keeps only the valid answers, so annotator positions shift.
    """
    from hf_ambiguity.alm.parsing import parse_answer
    from hf_ambiguity.schema import class_names, synthetic_columns

    column = synthetic_columns(name)["raw"]
    if column not in dataset.column_names:
        raise ValueError(f"dataset has no column {column!r}; annotate it in sample mode first "
                         f"(`hf-ambiguity annotate`), or pass the right annotator name (got {name!r})")
    classes = class_names(dataset)
    index = {c: i for i, c in enumerate(classes)}
    raw = dataset[column]
    width = max((len(r) for r in raw), default=0)
    if width == 0:
        raise ValueError(f"column {column!r} holds no per-annotator answers (score mode gives one distribution per "
                         "item, not labels): the saturation analysis needs sample-mode annotations")
    out = np.full((len(raw), width), -1, dtype=np.int64)
    for i, answers in enumerate(raw):
        for j, answer in enumerate(answers):
            label = parse_answer(answer, classes)
            if label is not None:
                out[i, j] = index[label]
    return out


def saturation_from_dataset(dataset: Any, name: str = "synthetic", *, n_max: int | None = None,
                            n_subsets: int = 20, seed: int = 0, progress: bool = False) -> SaturationResult:
    """``saturation_analysis`` of a dataset's ``human_dist`` against its ``<name>`` synthetic annotators."""
    return saturation_analysis(np.asarray(dataset["human_dist"], dtype=np.float64),
                               synthetic_label_matrix(dataset, name), n_max=n_max, n_subsets=n_subsets, seed=seed,
                               progress=progress)
