"""Benchmark: the merge and the simulation study, against straightforward per-row Python loops.

    .venv/bin/python bench/simulate.py [--runs 5]

Median of ``--runs`` wall times, side by side from one run of this script:

- ``merge_votes`` concat on 100,000 items vs a per-row loop (``votes = h + s``, ``/ total``) over the same rows;
- the adaptive merge's held-out (leave-one-annotator-out) likelihood, vectorised, vs explicit loops over items and
  held-out labels (2,000 items, 3–7 votes; same value to 1e-12);
- ``fit_adaptive_merge`` on 3,000 / 30,000 items (what the annotation engine runs on a corpus);
- one world of the default sweep (2,000 items, 3 / 5 / 10 raters, the held-out-annotator test with the three
  merges, 1,000 resamples, and the true effects), and the default study's world count, for its expected duration;
  ``--full`` runs the whole default study (``hf-ambiguity simulate`` with the shipped config) once.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import numpy as np

from hf_ambiguity.annotate.merge import _loo_mean_loglik, _loo_terms, fit_adaptive_merge, merge_votes
from hf_ambiguity.simulate.config import SimulationConfig, proxy_worlds
from hf_ambiguity.simulate.study import evaluate_world, run_study


def median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def corpus(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.dirichlet(np.full(4, 0.7), size=n)
    human = np.stack([rng.multinomial(rng.integers(3, 8), p) for p in truth]).astype(float)
    synth = np.stack([rng.multinomial(8, p) for p in truth]).astype(float)
    return human, synth


def loop_concat(h: np.ndarray, s: np.ndarray) -> np.ndarray:
    out = np.empty_like(h)
    for i in range(len(h)):
        v = h[i] + s[i]
        out[i] = v / v.sum()
    return out


def loop_loo(h: np.ndarray, s: np.ndarray, a0: float, rho: float, b: float) -> float:
    k = h.shape[1]
    total, n_labels = 0.0, 0
    for hv, sv in zip(h, s):
        if hv.sum() < 2:
            continue
        prior = sv / sv.sum()
        labels = [c for c in range(k) for _ in range(int(hv[c]))]
        for j, held in enumerate(labels):
            rest = np.bincount(labels[:j] + labels[j + 1:], minlength=k).astype(float)
            q = rest[rest > 0] / rest.sum()
            a = a0 * (1 - rho * float(-(q * np.log(q)).sum() / np.log(k)))
            total += np.log((rest[held] + a * prior[held] + b / k) / (rest.sum() + a + b))
            n_labels += 1
    return total / n_labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--full", action="store_true", help="also run the whole default study once")
    args = ap.parse_args()
    r = args.runs
    print(f"median of {r} runs")

    h, s = corpus(100_000)
    assert np.allclose(merge_votes(h, s).dist, loop_concat(h, s))
    t_vec = median_time(lambda: merge_votes(h, s), r)
    t_loop = median_time(lambda: loop_concat(h, s), max(1, r // 2))
    print(f"concat merge, 100k items: vectorised {t_vec * 1e3:.1f} ms | per-row loop {t_loop * 1e3:.1f} ms "
          f"| loop / vectorised = {t_loop / t_vec:.0f}x")

    h2, s2 = corpus(2_000, seed=1)
    params = (4.0, 0.5, 2.0)
    terms = _loo_terms(h2, s2)
    assert abs(_loo_mean_loglik(terms, *params) - loop_loo(h2, s2, *params)) < 1e-12
    t_vec = median_time(lambda: _loo_mean_loglik(_loo_terms(h2, s2), *params), r)
    t_loop = median_time(lambda: loop_loo(h2, s2, *params), max(1, r // 2))
    print(f"held-out likelihood, 2k items: vectorised {t_vec * 1e3:.2f} ms | explicit loops {t_loop * 1e3:.1f} ms "
          f"| loop / vectorised = {t_loop / t_vec:.0f}x")

    for n in (3_000, 30_000):
        hn, sn = corpus(n, seed=2)
        t = median_time(lambda: fit_adaptive_merge(hn, sn), r)
        print(f"fit_adaptive_merge, {n} items: {t * 1e3:.0f} ms")

    cfg = SimulationConfig()
    base = proxy_worlds(cfg)[0]
    per_panel = {}
    for panel in cfg.humans.panels:
        per_panel[panel] = median_time(lambda: evaluate_world(cfg, base, panel, 0), 1)
        print(f"one world of the default sweep, {panel[0]} raters ({cfg.n_items} items, merges "
              f"{list(cfg.evaluation.merges)}, {cfg.evaluation.n_resamples} resamples): {per_panel[panel]:.1f} s")
    n_proxies = len(proxy_worlds(cfg))
    estimate = n_proxies * len(cfg.seeds) * sum(per_panel.values())
    print(f"default study: {n_proxies} proxies x {len(cfg.humans.panels)} panels x {len(cfg.seeds)} seeds; "
          f"expected about {estimate / 60:.1f} min")
    if args.full:
        t = median_time(lambda: run_study(cfg), 1)
        print(f"default study, measured: {t / 60:.1f} min")


if __name__ == "__main__":
    main()
