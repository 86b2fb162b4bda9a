"""Saturation analysis: how many synthetic labels per item until alignment with humans stops improving?

For N = 1 … N_max, N synthetic labels per item are turned into a distribution and the Jensen–Shannon divergence
(base 2) and the Bhattacharyya coefficient to the human distribution are averaged over items; a curve
``a + b·exp(−c·N)`` is fitted to each mean curve and a saturation point read off it. Two procedures
(``procedure=``), both with this output:

``"project"`` (default):
    Subsets: for each N, ``n_subsets`` distinct random subsets of the annotator pool (the same annotators for every
    item), or all of them when there are no more than ``n_subsets``; an item whose subset has no valid label is
    left out of that subset's mean (counted in ``n_items_skipped``). Fit: ``a + b·exp(−c·N)`` with ``c > 0``
    (bounded ``curve_fit``; the reference's ``a − b·e^(−cN)`` is the same family with the sign of ``b`` flipped: a
    decreasing curve (JS) has ``b > 0``, an increasing one (BC) ``b < 0``). Saturation point (``saturation_n``):
    the smallest N in 1 … N_max at which the fitted curve is within 10 % of its range over 1 … N_max of its final
    value, ``|f(N) − f(N_max)| <= 0.1·|f(1) − f(N_max)|``; ``saturation_n_asymptote`` measures against the
    asymptote instead: ``N >= 1 + ln(10)/c`` (may exceed N_max). If the fit fails, ``fit_ok`` is False and
    ``saturation_n`` comes from the mean curve itself with the same 10 % rule.

``"reference"`` (the reference's ``saturation_analysis.ipynb``):
    Runs: ``n_runs`` (5) runs per N, run ``r`` seeded ``seed + r`` (the reference: 42 … 46) with Python's
    ``random`` module; in each run every item draws its own random subset of ``min(N, m_i)`` of its ``m_i`` valid
    labels without replacement (``random.sample``, items in row order) and its distribution is the counts over
    the subset size; the run's value is the item mean; per N the mean and the sd (ddof 1) over runs. Items with no
    valid label are skipped (counted). Fit (:func:`fit_saturation_curve` with ``rule="reference"``): lower-is-better
    curves (JS) are flipped to ``max(y) − y`` and fitted with ``a − b·exp(−c·N)`` by unbounded ``curve_fit``
    from its default start (1, 1, 1); on 100 evenly spaced points from 1 to N_max, the saturation point is the first
    where the flipped fit reaches 90 % of its asymptote ``a`` (JS; for a higher-is-better curve, BC: the first where
    the fit reaches 95 % of ``a``), reported as ``int(round(x))`` (``saturation_x`` keeps x). The published
    figures: about 6 for IEMOCAP and about 10 for MSP-Podcast (20 Gemini labels per training item).

Labels are class indices per annotator, ``-1`` = no valid answer.

>>> rng = np.random.default_rng(0)
>>> human = rng.dirichlet(np.ones(4), size=200)
>>> labels = np.stack([(rng.random((200, 4)).cumsum(1) / 2 > rng.random((200, 1))).argmax(1) for _ in range(8)], 1)
>>> res = saturation_analysis(human, labels, n_subsets=5)
>>> res.n_values[:3], len(res.js_mean)
((1, 2, 3), 8)
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import curve_fit

from hf_ambiguity.analysis.divergences import bhattacharyya_cm, jsd_natural_cm
from hf_ambiguity.distributions import validate_distributions

__all__ = ["CurveFit", "SaturationResult", "saturation_analysis", "fit_saturation_curve", "plot_saturation",
           "exp_curve", "synthetic_label_matrix", "saturation_from_dataset", "PROCEDURES", "REFERENCE_SEED"]

#: Fraction of the fitted curve's range that counts as "saturated".
SATURATION_FRACTION = 0.1
#: The saturation procedures (see the module docstring).
PROCEDURES = ("project", "reference")
#: The reference's base seed (runs use 42, 43, ...); the default of ``procedure="reference"``.
REFERENCE_SEED = 42
#: The reference's thresholds: the fit reaches 90 % (lower is better) / 95 % (higher is better) of its asymptote.
_REFERENCE_SHARE = {True: 0.9, False: 0.95}


def exp_curve(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """``a + b·exp(−c·n)``."""
    return a + b * np.exp(-c * np.asarray(n, dtype=np.float64))


@dataclass(frozen=True)
class CurveFit:
    """Fit of ``a + b·exp(−c·N)`` to one mean curve (on the curve's own scale), and its saturation point.

    ``rule``: ``project`` or ``reference`` (see the module docstring). With ``reference``, ``saturation_x`` is the
    grid point read off the fit, ``threshold`` the value the curve had to reach (as the reference prints it) and
    ``saturation_n`` = ``int(round(saturation_x))``; it is None when the fit failed or never reaches the threshold
    on 1 … N_max (the reference then draws no saturation line).
    """

    a: float | None
    b: float | None
    c: float | None
    fit_ok: bool
    saturation_n: int | None
    saturation_n_asymptote: int | None
    fitted: tuple[float, ...]
    message: str = ""
    rule: str = "project"
    saturation_x: float | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class SaturationResult:
    """Mean (and sd across subsets, or across runs for the ``reference`` procedure) JS divergence / Bhattacharyya
    coefficient per N, with fitted curves. ``n_subsets``: subsets (project) or runs (reference) per N."""

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
    procedure: str = "project"

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


def fit_saturation_curve(n_values: Any, values: Any, *, rule: str = "project",
                         lower_is_better: bool = True) -> CurveFit:
    """Fit ``a + b·exp(−c·N)`` to ``values`` at ``n_values`` and locate the saturation point.

    ``rule="project"``: bounded fit (``c > 0``) and the 10 %-of-range rule; ``rule="reference"``: the reference's
    fit and threshold (see the module docstring), which need ``lower_is_better`` (True for JS, False for BC).

    >>> n = np.arange(1, 11)
    >>> fit = fit_saturation_curve(n, 0.3 + 0.2 * np.exp(-0.5 * n))
    >>> round(fit.c, 3), fit.saturation_n, fit.saturation_n_asymptote
    (0.5, 6, 6)
    >>> ref = fit_saturation_curve(n, 0.3 + 0.2 * np.exp(-0.5 * n), rule="reference")
    >>> round(ref.c, 3), round(ref.saturation_x, 2), ref.saturation_n  # 90 % of the flipped asymptote at 5.61
    (0.5, 5.64, 6)
    """
    if rule not in PROCEDURES:
        raise ValueError(f"rule must be one of {list(PROCEDURES)}, got {rule!r}")
    n = np.asarray(n_values, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if n.shape != y.shape or n.ndim != 1 or n.size == 0:
        raise ValueError(f"n_values and values must be 1-D of the same length, got {n.shape} and {y.shape}")
    if rule == "reference":
        return _reference_fit(n, y, lower_is_better)
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


def _reference_curve(x: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """The reference's form ``a − b·exp(−c·x)``."""
    return a - b * np.exp(-c * x)


def _reference_fit(n: np.ndarray, y: np.ndarray, lower_is_better: bool) -> CurveFit:
    """The reference's fit and saturation threshold (``fit_and_plot_curve``), written for this project."""
    import warnings

    from scipy.optimize import OptimizeWarning

    top = float(y.max())
    target = top - y if lower_is_better else y
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)  # covariance not estimable: the fit itself stands
            (a_r, b_r, c), _ = curve_fit(_reference_curve, n, target, maxfev=10000)
    except (RuntimeError, ValueError, TypeError) as err:
        return CurveFit(None, None, None, False, None, None, tuple(map(float, y)),
                        f"reference fit failed ({err}); no saturation point", rule="reference")
    grid = np.linspace(n.min(), n.max(), 100)
    flipped = _reference_curve(grid, a_r, b_r, c)
    share = _REFERENCE_SHARE[lower_is_better]
    if lower_is_better:  # back on the curve's scale: y = max(y) − (a_r − b_r·e^(−cN))
        a, b, threshold = top - a_r, b_r, top - share * a_r
        reached = top - flipped <= threshold
    else:
        a, b, threshold = a_r, -b_r, share * a_r
        reached = flipped >= threshold
    x = float(grid[np.argmax(reached)]) if reached.any() else None
    message = "" if x is not None else (f"the fit never reaches {share:.0%} of its asymptote on "
                                        f"{n.min():g} … {n.max():g}: no saturation point")
    return CurveFit(float(a), float(b), float(c), True, int(round(x)) if x is not None else None, None,
                    tuple(float(v) for v in exp_curve(n, a, b, c)), message, rule="reference", saturation_x=x,
                    threshold=float(threshold))


def _subsets(n_annotators: int, size: int, n_subsets: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    total = math.comb(n_annotators, size)
    if total <= n_subsets:
        return list(combinations(range(n_annotators), size))
    seen: set[tuple[int, ...]] = set()
    while len(seen) < n_subsets:
        seen.add(tuple(sorted(rng.choice(n_annotators, size=size, replace=False).tolist())))
    return sorted(seen)


def saturation_analysis(human_dist: Any, synthetic_labels: Any, *, n_max: int | None = None, n_subsets: int = 20,
                        seed: int | None = None, progress: bool = False, procedure: str = "project",
                        n_runs: int = 5) -> SaturationResult:
    """Alignment of N-annotator synthetic distributions with human distributions, N = 1 … ``n_max``.

    Args:
        human_dist: ``(n_items, n_classes)`` human distributions (validated).
        synthetic_labels: ``(n_items, n_annotators)`` class index each synthetic annotator gave (-1 = none).
        n_max: largest N (default: all annotators). n_subsets: subsets per N (``project``).
        seed: seeds subset choice (default 0; ``reference``: 42, the reference's, runs use ``seed + run``).
        progress: show a tqdm bar over N.
        procedure: ``project`` or ``reference`` (see the module docstring). n_runs: runs per N (``reference``).
    """
    if procedure not in PROCEDURES:
        raise ValueError(f"saturation procedure must be one of {list(PROCEDURES)}, got {procedure!r}")
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
    if n_runs < 1 or (procedure == "reference" and n_runs < 2):
        raise ValueError(f"n_runs must be >= 2 for the reference procedure (its sd is over runs), got {n_runs}")
    lab = lab.astype(np.int64)
    if seed is None:
        seed = REFERENCE_SEED if procedure == "reference" else 0
    if procedure == "reference":
        per_n = _reference_runs(h, lab, n_max=n_max, n_runs=n_runs, seed=seed, progress=progress)
    else:
        per_n = _project_subsets(h, lab, n_max=n_max, n_subsets=n_subsets, seed=seed, progress=progress)
    js_mean, js_sd, bc_mean, bc_sd, used, skipped = (tuple(col) for col in zip(*per_n))
    ns = tuple(range(1, n_max + 1))
    return SaturationResult(n_values=ns, js_mean=js_mean, js_sd=js_sd, bc_mean=bc_mean,
                            bc_sd=bc_sd, n_subsets=used, n_items_skipped=skipped,
                            js_fit=fit_saturation_curve(ns, js_mean, rule=procedure, lower_is_better=True),
                            bc_fit=fit_saturation_curve(ns, bc_mean, rule=procedure, lower_is_better=False),
                            seed=int(seed), procedure=procedure)


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _scores(pt: np.ndarray, ht: np.ndarray) -> tuple[float, float]:
    """Mean JS divergence (base 2) and Bhattacharyya coefficient of class-major ``(k, n)`` distributions."""
    return float((jsd_natural_cm(pt, ht) / np.log(2.0)).mean()), float(bhattacharyya_cm(pt, ht).mean())


def _project_subsets(h: np.ndarray, lab: np.ndarray, *, n_max: int, n_subsets: int, seed: int, progress: bool
                     ) -> list[tuple[float, float, float, float, int, int]]:
    """Per N: (JS mean, JS sd, BC mean, BC sd, subsets, items skipped) over annotator subsets shared by all items."""
    from tqdm.auto import tqdm

    n_items, k = h.shape
    n_ann = lab.shape[1]
    onehot = np.zeros((n_items, n_ann, k))
    ii, jj = np.nonzero(lab >= 0)
    onehot[ii, jj, lab[ii, jj]] = 1.0
    rng = np.random.default_rng(seed)
    out = []
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
            js, bc = _scores((votes[ok] / tot[ok, None]).T, h[ok].T)
            js_vals.append(js)
            bc_vals.append(bc)
        if not js_vals:
            raise ValueError(f"no item has a valid synthetic label in any subset of size {size}")
        out.append((*_mean_sd(js_vals), *_mean_sd(bc_vals), len(subs), skip))
    return out


def _reference_runs(h: np.ndarray, lab: np.ndarray, *, n_max: int, n_runs: int, seed: int, progress: bool
                    ) -> list[tuple[float, float, float, float, int, int]]:
    """Per N: (JS mean, JS sd, BC mean, BC sd, runs, items skipped) over runs with a random subset per item."""
    from tqdm.auto import tqdm

    k = h.shape[1]
    valid = [row[row >= 0].tolist() for row in lab]  # each item's valid labels in annotator order
    has = np.array([len(v) > 0 for v in valid])
    if not has.any():
        raise ValueError("no item has a valid synthetic label")
    ht = h[has].T
    out = []
    for size in tqdm(range(1, n_max + 1), desc="saturation (N)", disable=not progress):
        js_vals, bc_vals = [], []
        for run in range(n_runs):
            rng = random.Random(seed + run)  # reseeded per (N, run), as the reference does
            dist = np.zeros((int(has.sum()), k))
            for r, labels in enumerate(v for v in valid if v):
                take = min(size, len(labels))
                dist[r] = np.bincount(rng.sample(labels, take), minlength=k) / take
            js, bc = _scores(dist.T, ht)
            js_vals.append(js)
            bc_vals.append(bc)
        out.append((*_mean_sd(js_vals), *_mean_sd(bc_vals), n_runs, int((~has).sum())))
    return out


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
        over = "runs" if result.procedure == "reference" else "subsets"
        ax.errorbar(n, mean, yerr=sd, fmt="o", capsize=3, label=f"mean ± sd over {over}")
        if fit.fit_ok:
            ax.plot(dense, exp_curve(dense, fit.a, fit.b, fit.c), "-",
                    label=f"{fit.a:.3f} {'+' if fit.b >= 0 else '−'} {abs(fit.b):.3f}·exp(−{fit.c:.3f}N)")
        if fit.saturation_n is not None:
            where = fit.saturation_x if fit.saturation_x is not None else fit.saturation_n
            ax.axvline(where, color="grey", linestyle="--", label=f"saturation N ≈ {fit.saturation_n}")
        ax.set_xlabel("synthetic labels per item (N)")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def synthetic_label_matrix(dataset: Any, name: str = "synthetic") -> np.ndarray:
    """``(n_items, n_annotators)`` class indices of a sample-mode annotator set, in annotator order, -1 where an
    answer named no class: read from ``<name>_annotator_labels`` (the labels the annotation parsed, with the run's
    own parse rule and label spellings), never re-parsed from the raw answers.

    ``<name>_labels`` cannot be used: it keeps only the valid answers, so annotator positions shift.
    """
    from hf_ambiguity.schema import class_names, synthetic_columns

    column = synthetic_columns(name)["annotator_labels"]
    if column not in dataset.column_names:
        raise ValueError(f"dataset has no column {column!r}; annotate it in sample mode first "
                         f"(`hf-ambiguity annotate`), or pass the right annotator name (got {name!r})")
    classes = class_names(dataset)
    index = {c: i for i, c in enumerate(classes)}
    labels = dataset.select_columns([column]).with_format("arrow")[:][column].to_pylist()
    width = max((len(r) for r in labels if r), default=0)
    if width == 0:
        raise ValueError(f"column {column!r} holds no per-annotator labels: the saturation analysis needs "
                         "sample-mode annotations")
    out = np.full((len(labels), width), -1, dtype=np.int64)
    for i, row in enumerate(labels):
        for j, label in enumerate(row or ()):
            if label is not None:
                out[i, j] = index[label]
    return out


def saturation_from_dataset(dataset: Any, name: str = "synthetic", *, n_max: int | None = None,
                            n_subsets: int = 20, seed: int | None = None, progress: bool = False,
                            procedure: str = "project", n_runs: int = 5) -> SaturationResult:
    """``saturation_analysis`` of a dataset's ``human_dist`` against its ``<name>`` synthetic annotators (sample
    mode: one label per annotator). The reference runs it on the *training* split against the human training
    distributions, with 20 synthetic labels per item (the paper's Figure 2)."""
    return saturation_analysis(np.asarray(dataset["human_dist"], dtype=np.float64),
                               synthetic_label_matrix(dataset, name), n_max=n_max, n_subsets=n_subsets, seed=seed,
                               progress=progress, procedure=procedure, n_runs=n_runs)
