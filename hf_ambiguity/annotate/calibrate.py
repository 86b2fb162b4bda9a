"""Calibrating a synthetic annotator set against human label distributions (``annotate.calibrate``).

A model's class probabilities are often too sharp or too flat, or lean towards a class. Calibration fits a small
map on the **training split only** — the rows the caller passes to :func:`fit_calibration` — by minimising a proper
scoring loss, the cross-entropy of the human distributions under the calibrated synthetic ones
(``-sum_k h_k log q_k``, natural log: the expected log-loss of one human label drawn from the row's human
distribution), and is then applied unchanged to every split (:func:`calibrate_splits`).

Kinds:

- ``temperature``: one scalar ``tau > 0``, ``q = softmax(s / tau)``.
- ``bias``: one offset per class, ``q = softmax(s + b)`` with ``b_0 = 0`` (a common offset changes nothing).

What ``s`` is depends on the annotation mode (:mod:`hf_ambiguity.annotate.engine`):

- ``score``: the class log-probabilities ``<name>_logprobs``; ``q`` replaces ``<name>_dist``.
- ``expected``: each annotator's log-distribution ``log <name>_annotator_dists[i]``; every annotator is calibrated
  by the same map and ``q`` is the mean of the calibrated annotator distributions (as ``<name>_dist`` is the mean of
  the raw ones). A temperature here rescales every annotator's temperature by the same factor.
- ``sample``: refused. Its distribution is the proportion of N sampled labels: there are no probabilities to rescale,
  and a map fitted on vote proportions would mostly model the sampling noise of N draws.

:func:`calibrate_splits` writes the calibrated distribution to ``<name>_dist`` (and ``N x`` it to
``<name>_votes``, so merges use it), keeps the raw one in ``<name>_uncalibrated_dist`` and records the fitted map
in the ``<name>`` provenance entry under ``"calibration"``.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> truth = rng.dirichlet(np.ones(4), size=500)
>>> human = np.stack([rng.multinomial(20, p) / 20 for p in truth])
>>> cal = fit_calibration("temperature", human, logprobs=3.0 * np.log(truth))  # 3x too sharp
>>> round(cal.temperature, 1), cal.loss_after < cal.loss_before
(3.0, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CALIBRATION_KINDS", "Calibration", "fit_calibration", "calibration_inputs", "calibrate_splits"]

CALIBRATION_KINDS = ("temperature", "bias")
_TINY = 1e-300


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration map (see the module docstring). ``loss_before`` / ``loss_after``: the mean cross-entropy
    (nats) of the fitting rows' human distributions under the raw / calibrated synthetic ones; ``n_rows``: rows
    fitted on; ``mode``: the annotation mode whose outputs it maps."""

    kind: str
    mode: str
    temperature: float
    bias: tuple[float, ...]
    loss_before: float
    loss_after: float
    n_rows: int

    def apply(self, *, logprobs: np.ndarray | None = None, annotator_dists: np.ndarray | None = None) -> np.ndarray:
        """Calibrated distributions ``(n_rows, n_classes)`` from score-mode ``logprobs`` ``(n_rows, n_classes)`` or
        expected-mode ``annotator_dists`` ``(n_rows, n_annotators, n_classes)``."""
        scores, mixture = _inputs(logprobs, annotator_dists)
        if scores.shape[-1] != len(self.bias):
            raise ValueError(f"this calibration has {len(self.bias)} classes, the data {scores.shape[-1]}")
        return _calibrated(scores, mixture, self.temperature, np.asarray(self.bias))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "mode": self.mode, "temperature": self.temperature, "bias": list(self.bias),
                "loss": "mean cross-entropy of the human distribution under the synthetic one (nats)",
                "loss_before": self.loss_before, "loss_after": self.loss_after, "n_rows": self.n_rows}


def _inputs(logprobs: np.ndarray | None, annotator_dists: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """``(scores, mixture)``: log-scores with the class axis last; ``mixture``: an annotator axis before it."""
    if (logprobs is None) == (annotator_dists is None):
        raise ValueError("pass exactly one of logprobs (score mode) or annotator_dists (expected mode)")
    if logprobs is not None:
        s = np.asarray(logprobs, dtype=np.float64)
        if s.ndim != 2:
            raise ValueError(f"logprobs must be (n_rows, n_classes), got shape {s.shape}")
        return s, False
    d = np.asarray(annotator_dists, dtype=np.float64)
    if d.ndim != 3:
        raise ValueError(f"annotator_dists must be (n_rows, n_annotators, n_classes), got shape {d.shape}")
    return np.log(np.clip(d, _TINY, None)), True


def _calibrated(scores: np.ndarray, mixture: bool, temperature: float, bias: np.ndarray) -> np.ndarray:
    from scipy.special import softmax

    q = softmax(scores / temperature + bias, axis=-1)
    return q.mean(axis=1) if mixture else q


def _loss(q: np.ndarray, human: np.ndarray) -> float:
    return float(-(human * np.log(np.clip(q, _TINY, None))).sum(axis=1).mean())


def fit_calibration(kind: str, human_dist: np.ndarray, *, logprobs: np.ndarray | None = None,
                    annotator_dists: np.ndarray | None = None, mode: str | None = None) -> Calibration:
    """Fit a ``kind`` calibration on these rows only: ``human_dist`` ``(n_rows, n_classes)`` (each row sums to 1)
    and the same rows' score-mode ``logprobs`` or expected-mode ``annotator_dists``."""
    from scipy.optimize import minimize, minimize_scalar

    if kind not in CALIBRATION_KINDS:
        raise ValueError(f"calibration must be one of {list(CALIBRATION_KINDS)}, got {kind!r}")
    scores, mixture = _inputs(logprobs, annotator_dists)
    human = np.asarray(human_dist, dtype=np.float64)
    if human.shape != (scores.shape[0], scores.shape[-1]):
        raise ValueError(f"human_dist has shape {human.shape}, expected {(scores.shape[0], scores.shape[-1])}")
    if len(human) == 0:
        raise ValueError("no rows to fit the calibration on (the training split has no human distribution)")
    if not np.allclose(human.sum(axis=1), 1.0, atol=1e-4) or (human < 0).any():
        raise ValueError("human_dist rows must be distributions (non-negative, summing to 1)")
    k = scores.shape[-1]
    zero = np.zeros(k)
    before = _loss(_calibrated(scores, mixture, 1.0, zero), human)
    if kind == "temperature":
        res = minimize_scalar(lambda lt: _loss(_calibrated(scores, mixture, float(np.exp(lt)), zero), human),
                              bounds=(np.log(1e-2), np.log(1e2)), method="bounded", options={"xatol": 1e-6})
        temperature, bias = float(np.exp(res.x)), zero
    else:
        def f(b: np.ndarray) -> float:
            return _loss(_calibrated(scores, mixture, 1.0, np.concatenate([[0.0], b])), human)

        res = minimize(f, np.zeros(k - 1), method="L-BFGS-B", options={"ftol": 1e-12, "gtol": 1e-8})
        temperature, bias = 1.0, np.concatenate([[0.0], res.x])
    after = _loss(_calibrated(scores, mixture, temperature, bias), human)
    if after > before:  # the optimiser never makes the fit worse than doing nothing
        temperature, bias, after = 1.0, zero, before
    return Calibration(kind, mode or ("expected" if mixture else "score"), temperature,
                       tuple(float(x) for x in bias), before, after, int(len(human)))


def calibration_inputs(dataset: Any, name: str = "synthetic") -> dict[str, np.ndarray]:
    """The raw synthetic values calibration acts on, by the mode recorded in the ``name`` provenance entry:
    ``{"logprobs": ...}`` (score) or ``{"annotator_dists": ...}`` (expected); sample mode is refused."""
    from hf_ambiguity.provenance import read_provenance

    mode = read_provenance(dataset).get(name, {}).get("mode")
    if mode == "score":
        return {"logprobs": np.asarray(dataset[f"{name}_logprobs"], dtype=np.float64)}
    if mode == "expected":
        return {"annotator_dists": np.asarray(dataset[f"{name}_annotator_dists"], dtype=np.float64)}
    if mode == "sample":
        raise ValueError(f"{name!r} was annotated in sample mode: its distributions are proportions of N sampled "
                         "labels, with no probabilities to calibrate; annotate in mode 'expected' (or 'score') or "
                         "set annotate.calibrate to none")
    raise ValueError(f"the dataset has no provenance for synthetic annotators {name!r}; annotate it first")


def _human_rows(dataset: Any, column: str) -> tuple[np.ndarray, np.ndarray]:
    """``(row indices with a human distribution, those distributions)``."""
    values = dataset[column]
    keep = [i for i, v in enumerate(values) if v is not None and sum(v) > 0]
    human = np.array([values[i] for i in keep], dtype=np.float64).reshape(len(keep), -1)
    human /= np.where(human.sum(axis=1, keepdims=True) > 0, human.sum(axis=1, keepdims=True), 1.0)
    return np.array(keep, dtype=int), human


def calibrate_splits(dsdict: Any, *, kind: str, name: str = "synthetic", fit_split: str = "train",
                     human_column: str = "human_dist", fit_on: Any = None,
                     fitted_on: dict[str, Any] | None = None) -> tuple[Any, Calibration]:
    """Fit a ``kind`` calibration on ``dsdict[fit_split]`` (its rows with a human distribution) — or on the
    ``Dataset`` ``fit_on`` (e.g. the protocol's training rows, drawn across the corpus' splits), described by
    ``fitted_on`` in the provenance — and apply it to every split; see the module docstring for the columns
    written. Returns ``(new DatasetDict, Calibration)``."""
    from datasets import List, Value

    from hf_ambiguity.provenance import attach_provenance, read_provenance

    if fit_on is None and fit_split not in dsdict:
        raise ValueError(f"calibration is fitted on split {fit_split!r}, which the dataset lacks "
                         f"(splits: {list(dsdict)})")
    train = dsdict[fit_split] if fit_on is None else fit_on
    if human_column not in train.column_names:
        raise ValueError(f"split {fit_split!r} has no column {human_column!r} to calibrate against")
    rows, human = _human_rows(train, human_column)
    inputs = {k: v[rows] for k, v in calibration_inputs(train, name).items()}
    cal = fit_calibration(kind, human, **inputs)
    out = {}
    for split, ds in dsdict.items():
        prov = read_provenance(ds).get(name, {})
        if prov.get("mode") != cal.mode:
            raise ValueError(f"split {split!r} was annotated in mode {prov.get('mode')!r}, split {fit_split!r} in "
                             f"{cal.mode!r}; annotate every split the same way")
        n = int(prov.get("n_annotators") or 0)
        raw = np.asarray(ds[f"{name}_dist"], dtype=np.float64)
        if f"{name}_uncalibrated_dist" in ds.column_names:
            raise ValueError(f"split {split!r} is calibrated already ({name}_uncalibrated_dist exists)")
        q = cal.apply(**calibration_inputs(ds, name))
        f64 = List(Value("float64"))
        ds = ds.remove_columns([f"{name}_dist", f"{name}_votes"])
        ds = ds.add_column(f"{name}_uncalibrated_dist", raw.tolist(), feature=f64)
        ds = ds.add_column(f"{name}_dist", q.tolist(), feature=f64)
        ds = ds.add_column(f"{name}_votes", (n * q).tolist(), feature=f64)
        where = fitted_on if fit_on is not None else {"split": fit_split}
        out[split] = attach_provenance(ds, name, {**prov, "calibration": {**cal.to_dict(), "fitted_on": where}})
    return type(dsdict)(out), cal
