"""``hf-ambiguity simulate``: the simulation study of when synthetic annotations help (report.md + PNG plot)."""

from __future__ import annotations

import argparse
import logging

__all__ = ["register", "main"]

logger = logging.getLogger(__name__)


def main(args: argparse.Namespace) -> int:
    """Load the config (the shipped default when none is given), run the study, write the outputs."""
    from hf_ambiguity.simulate.config import DEFAULT_CONFIG_PATH, load_config
    from hf_ambiguity.simulate.report import write_outputs
    from hf_ambiguity.simulate.study import run_study

    try:
        cfg = load_config(args.config)
    except (FileNotFoundError, ValueError) as exc:
        logger.error(f"hf-ambiguity simulate: {exc}")
        return 2
    if args.seed is not None:
        from dataclasses import replace
        cfg = replace(cfg, seed=args.seed)
    logger.info(f"simulating {cfg.n_items} items (config: {args.config or DEFAULT_CONFIG_PATH}, seed {cfg.seed})")
    result = run_study(cfg, progress=args.progress)
    paths = write_outputs(result, args.out)
    for g in result.goals:
        print(f"K={g.k}: adaptive never significantly worse than human-only: "
              f"{'yes' if g.never_worse_than_human else 'no (' + ', '.join(g.worse_levels) + ')'}; "
              f"closer than best fixed ({g.best_fixed}): {'yes' if g.beats_best_fixed else 'no'} "
              f"(difference {g.difference_vs_best_fixed:+.4f}, p={g.pvalue_vs_best_fixed:.3g})")
    print(f"report: {paths['report']}")
    print(f"plot: {paths['plot']}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "simulate", help="simulation study: when do synthetic (ALM) annotations improve the emotion distribution?",
        description="Simulate latent emotion distributions, sparse human votes and a biased / over-confident / "
                    "noisy ALM proxy; compare human-only, fixed merges human + λ·synthetic and the adaptive merge "
                    "against the latent truth per ambiguity level with paired tests; write report.md, "
                    "divergence_by_level.png, results.json and the effective config.yaml into --out.")
    p.add_argument("--config", metavar="YAML",
                   help="simulation config (documented in hf_ambiguity/configs/simulate.yaml, the default)")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder (created)")
    p.add_argument("--seed", type=int, help="override the config's seed")
    p.set_defaults(func=main)
