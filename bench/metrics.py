"""Benchmark: the distribution-alignment statistics, vectorised core vs a per-row scipy loop.

    .venv/bin/python bench/metrics.py [--n 1000000] [--k 8] [--runs 3] [--loop-rows 20000] [--module-rows 100000]

Random Dirichlet distributions (``--n`` × ``--k``, predictions and references, seeded) and timings, each the
median of ``--runs``:

1. ``alignment_statistics`` on all ``--n`` items, no bootstrap, with a per-item ambiguity level (the full
   ``distribution_alignment`` result: overall + per level);
2. the same on 10,000 items with 1,000 bootstrap resamples (CIs for every statistic, overall + per level);
3. a per-row loop on ``--loop-rows`` items with scipy (``jensenshannon`` base 2 and natural, ``entropy`` for KL
   and both entropies, ``cosine``, ``spearmanr``) and numpy (BC, TVD) — the per-item part only, without the
   dataset-level statistics — against the vectorised core on the same rows; and as throughput (items/s) against
   run 1;
4. for information, ``evaluate.load("metrics/distribution_alignment").compute`` on ``--module-rows`` items
   (adds evaluate's Arrow round trip of the inputs);
5. the held-out-annotator test ``synthetic_benefit`` (``metrics/synthetic_benefit``) on ``--sb-n`` items × 5 raters
   × 4 classes (labels drawn from Dirichlet truths, synthetic = a noisy copy of the truth) with ``--sb-resamples``
   bootstrap and permutation resamples, default options (weighted merge, leave-one-out, entropy strata, both
   scores), goal < 10 s; and, side by side, its inference step (item bootstrap CIs, sign-flip permutation and
   Wilcoxon p-values for all items and 3 strata, both scores) against the same statistics from scipy.stats' generic
   vectorised routines (``bootstrap(method="percentile", vectorized=True)``, ``permutation_test(permutation_type=
   "samples", vectorized=True)``, ``wilcoxon``) on the same item-level values — the fair baseline, since fitting is
   the same closed-form / Newton code either way. ``--only-synthetic-benefit`` skips 1–4.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy import stats
from scipy.spatial.distance import cosine, jensenshannon

from hf_ambiguity.analysis.alignment import alignment_statistics
from hf_ambiguity.analysis.divergences import KL_EPSILON

REPO = Path(__file__).resolve().parents[1]


def timed(fn: Callable[[], Any], runs: int, cpu: list[float] | None = None) -> float:
    """Median wall time of ``runs`` calls (median process CPU time appended to ``cpu`` when given)."""
    times, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    if cpu is not None:
        cpu.append(statistics.median(cpus))
    return statistics.median(times)


def scipy_loop(p: np.ndarray, q: np.ndarray) -> dict[str, float]:
    """Per-item statistics one row at a time, as straightforward scipy code would do."""
    k = p.shape[1]
    acc: dict[str, list[float]] = {name: [] for name in ("js2", "jsd", "bc", "kl", "tvd", "cos", "rho", "hp", "hq")}
    for a, b in zip(p, q):
        acc["js2"].append(jensenshannon(a, b, base=2) ** 2)
        acc["jsd"].append(jensenshannon(a, b))
        acc["bc"].append(np.sum(np.sqrt(a * b)))
        scale = 1 + k * KL_EPSILON
        acc["kl"].append(stats.entropy((b + KL_EPSILON) / scale, (a + KL_EPSILON) / scale))
        acc["tvd"].append(0.5 * np.abs(a - b).sum())
        acc["cos"].append(1.0 - cosine(a, b))
        acc["rho"].append(stats.spearmanr(a, b).statistic)
        acc["hp"].append(stats.entropy(a))
        acc["hq"].append(stats.entropy(b))
    return {name: float(np.nanmean(v)) for name, v in acc.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--loop-rows", type=int, default=20_000)
    parser.add_argument("--boot-rows", type=int, default=10_000)
    parser.add_argument("--n-bootstrap", type=int, default=1_000)
    parser.add_argument("--module-rows", type=int, default=100_000, help="0 skips the evaluate-module timing")
    parser.add_argument("--sb-n", type=int, default=100_000, help="items of the synthetic_benefit benchmark")
    parser.add_argument("--sb-resamples", type=int, default=1_000)
    parser.add_argument("--only-synthetic-benefit", action="store_true")
    args = parser.parse_args(argv)
    if args.only_synthetic_benefit:
        print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at start")
        return bench_synthetic_benefit(args)

    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(args.k), args.n)
    q = rng.dirichlet(np.full(args.k, 0.5), args.n)
    amb = rng.choice(np.array(["low", "medium", "high"]), args.n)
    print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at start; "
          f"data: {args.n:,} x {args.k} (Dirichlet), median of {args.runs} runs")

    cpu: list[float] = []
    full = timed(lambda: alignment_statistics(p, q, amb), args.runs, cpu)
    print(f"[1] full result, {args.n:,} items, no bootstrap:            {full:8.3f} s wall, {cpu[0]:.3f} s CPU "
          f"({args.n / full:,.0f} items/s)  goal < 2 s: {'met' if full < 2 else 'NOT met'}")

    nb = args.boot_rows
    boot = timed(lambda: alignment_statistics(p[:nb], q[:nb], amb[:nb], n_bootstrap=args.n_bootstrap), args.runs)
    print(f"[2] full result, {nb:,} items, {args.n_bootstrap:,} bootstrap resamples:  {boot:8.3f} s")

    m = args.loop_rows
    loop = timed(lambda: scipy_loop(p[:m], q[:m]), args.runs)
    vec_small = timed(lambda: alignment_statistics(p[:m], q[:m], amb[:m]), args.runs)
    per_item_loop = loop / m
    per_item_vec = full / args.n
    print(f"[3] per-row scipy loop, {m:,} items (per-item stats only):  {loop:8.3f} s "
          f"({m / loop:,.0f} items/s)")
    print(f"    vectorised full result on the same {m:,} items:       {vec_small:8.3f} s "
          f"-> {loop / vec_small:,.0f}x the loop")
    print(f"    throughput of [1] vs the loop:                      {per_item_loop / per_item_vec:,.0f}x "
          f"(loop extrapolated to {args.n:,} items: {per_item_loop * args.n:,.0f} s)  goal >= 50x: "
          f"{'met' if per_item_loop / per_item_vec >= 50 else 'NOT met'}")
    check = scipy_loop(p[:2000], q[:2000])
    core = alignment_statistics(p[:2000], q[:2000])["overall"]
    assert abs(check["js2"] - core["js_divergence_base2"]) < 1e-9, "loop and core disagree"
    assert abs(check["bc"] - core["bhattacharyya_coefficient"]) < 1e-9, "loop and core disagree"

    print(f"load average at end: {os.getloadavg()[0]:.1f} (other processes share the cores: timings are upper bounds)")
    if args.module_rows:
        os.chdir(REPO)
        import evaluate

        metric = evaluate.load("metrics/distribution_alignment")
        r = args.module_rows
        pl, ql, al = p[:r].tolist(), q[:r].tolist(), amb[:r].tolist()
        mod = timed(lambda: metric.compute(predictions=pl, references=ql, ambiguity=al), args.runs)
        core_r = timed(lambda: alignment_statistics(p[:r], q[:r], amb[:r]), args.runs)
        print(f"[4] evaluate module, {r:,} items (Python lists in):      {mod:8.3f} s "
              f"(core alone {core_r:.3f} s; the rest is evaluate's Arrow round trip)")
    return bench_synthetic_benefit(args)


def _sb_data(n: int, seed: int = 0) -> tuple[list[list[int]], np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.dirichlet(np.full(4, 0.8), n)
    cdf = truth.cumsum(axis=1)
    labels = (rng.random((n, 5))[:, :, None] > cdf[:, None, :]).sum(axis=2).clip(0, 3)
    synthetic = 0.5 * truth + 0.5 * rng.dirichlet(np.ones(4), n)
    return labels.tolist(), synthetic


def bench_synthetic_benefit(args: argparse.Namespace) -> int:
    """Section 5: the held-out-annotator test and its inference step against scipy.stats' generic routines."""
    from hf_ambiguity.analysis import synthetic_benefit as sbm

    n, b = args.sb_n, args.sb_resamples
    labels, synthetic = _sb_data(n)
    runs = max(3, args.runs)
    cpu: list[float] = []
    full = timed(lambda: sbm.synthetic_benefit(labels, synthetic, 4, n_resamples=b), runs, cpu)
    res = sbm.synthetic_benefit(labels, synthetic, 4, n_resamples=b)
    print(f"[5] synthetic_benefit, {n:,} items x 5 raters x 4 classes, {b:,} resamples, default options "
          f"(median of {runs}): {full:6.2f} s wall, {cpu[0]:.2f} s CPU  goal < 10 s: "
          f"{'met' if full < 10 else 'NOT met'}; verdict {res.overall.verdict}, {len(res.fits)} cross-fitted fits")
    split = timed(lambda: sbm.synthetic_benefit(labels, synthetic, 4, n_resamples=b, design="split_half"), runs)
    print(f"    split-half design, same data:                     {split:6.2f} s")

    # the inference step alone, on item-level values with the layout synthetic_benefit uses (2 scores x 4 groups)
    rng = np.random.default_rng(1)
    d = rng.standard_normal((n, 8)) * 0.3 - 0.01
    present = np.ones((n, 4), dtype=bool)
    present[:, 1:] = rng.random((n, 3)) < np.array([0.5, 0.4, 0.3])
    num = np.where(np.tile(present, 2), d, 0.0)
    den = present.astype(np.float64)

    def ours() -> None:
        g = np.random.default_rng(2)
        sbm._bootstrap_ratios(num, den, 2, b, g)
        sbm._sign_flip_pvalues(num, np.tile(den, 2), b, g)
        for j in range(8):
            x = num[np.tile(present, 2)[:, j], j]
            stats.wilcoxon(x[x != 0])

    def scipy_generic() -> None:
        g = np.random.default_rng(2)
        for j in range(8):
            x = d[np.tile(present, 2)[:, j], j]
            stats.bootstrap((x,), np.mean, n_resamples=b, method="percentile", vectorized=True, batch=50,
                            random_state=g)
            stats.permutation_test((x,), np.mean, permutation_type="samples", n_resamples=b, vectorized=True,
                                   batch=50, random_state=g)
            stats.wilcoxon(x)

    t_ours = timed(ours, runs)
    t_scipy = timed(scipy_generic, runs)
    print(f"    inference step, {n:,} items, 8 columns, {b:,} resamples: hf_ambiguity {t_ours:6.2f} s | "
          f"scipy.stats generic {t_scipy:6.2f} s | scipy / ours = {t_scipy / t_ours:.1f}x")
    # same CI as scipy's percentile bootstrap (within Monte Carlo error) on the all-items column
    x = d[:, 0]
    ci_scipy = stats.bootstrap((x,), np.mean, n_resamples=b, method="percentile", vectorized=True, batch=50,
                               random_state=np.random.default_rng(3)).confidence_interval
    boot = sbm._bootstrap_ratios(num[:, :1], den[:, :1], 1, b, np.random.default_rng(3))[:, 0]
    ci_ours = np.quantile(boot, [0.025, 0.975])
    se = x.std() / np.sqrt(n)
    assert abs(ci_ours[0] - ci_scipy.low) < 0.5 * se and abs(ci_ours[1] - ci_scipy.high) < 0.5 * se
    print(f"    95% CI of the all-items mean: ours [{ci_ours[0]:.5f}, {ci_ours[1]:.5f}], scipy "
          f"[{ci_scipy.low:.5f}, {ci_scipy.high:.5f}] (standard error {se:.5f})")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
