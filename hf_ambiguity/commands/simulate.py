"""``hf-ambiguity simulate``: where do synthetic labels help? A sweep of simulated worlds, tested as real data.

``--calibrate-from RUN_DIR`` reads the annotate stage's dataset of a pipeline run (``RUN_DIR/02_annotate/dataset``)
and fits the simulation's humans, truth and ALM proxy to it first (:mod:`hf_ambiguity.simulate.calibrate`).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
import logging

__all__ = ["register", "main", "annotate_dataset_dir"]


def annotate_dataset_dir(run_dir: str | Path) -> Path:
    """The annotate stage's dataset folder inside a pipeline run folder (the pipeline's own folder names)."""
    from hf_ambiguity.pipeline.runner import DATASET_DIR, STAGE_FOLDERS

    return Path(run_dir) / STAGE_FOLDERS["annotate"] / DATASET_DIR

logger = logging.getLogger(__name__)


def main(args: argparse.Namespace) -> int:
    """Load the config (the shipped default when none is given), optionally calibrate it, run the sweep, write the
    outputs."""
    from hf_ambiguity.errors import ConfigError
    from hf_ambiguity.files import write_json
    from hf_ambiguity.simulate.config import DEFAULT_CONFIG_PATH, load_config
    from hf_ambiguity.simulate.report import write_outputs
    from hf_ambiguity.simulate.study import run_study

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        logger.error(f"hf-ambiguity simulate: {exc}")
        return 2
    if args.seed is not None:
        cfg = dataclasses.replace(cfg, seeds=(args.seed,))
    calibration = None
    if args.calibrate_from:
        import datasets

        from hf_ambiguity.simulate.calibrate import calibrate, observed_statistics_from_dataset

        folder = annotate_dataset_dir(args.calibrate_from)
        if not folder.is_dir():
            logger.error(f"hf-ambiguity simulate: --calibrate-from {args.calibrate_from}: no annotate-stage dataset "
                         f"at {folder}; pass the folder of a pipeline run (`hf-ambiguity run`) whose annotate stage "
                         "finished")
            return 2
        try:
            observed = observed_statistics_from_dataset(datasets.load_from_disk(str(folder)), name=args.name)
        except ValueError as exc:
            logger.error(f"hf-ambiguity simulate: --calibrate-from {folder}: {exc}")
            return 2
        logger.info(f"calibrating to {observed.n_items} items of {folder}")
        cal = calibrate(observed, cfg, n_items=cfg.n_items, seed=cfg.seeds[0])
        cfg = cal.config
        calibration = cal.to_dict(source=str(folder))
        logger.info("calibrated proxy: " + ", ".join(f"{k}={v}" for k, v in cal.parameters.items()))
    n_worlds = len(cfg.seeds) * len(cfg.humans.panels)
    logger.info(f"simulating {cfg.n_items} items per world, {n_worlds} worlds per proxy "
                f"(config: {args.config or DEFAULT_CONFIG_PATH})")
    result = run_study(cfg, progress=args.progress, calibration=calibration)
    paths = write_outputs(result, args.out)
    if calibration is not None:
        paths["calibration"] = Path(args.out) / "calibration.json"
        write_json(paths["calibration"], calibration, indent=1)
    for cell in result.cells():
        if cell["group"] == "overall" and cell["world"] == result.worlds[0].label:
            print(f"{cell['merge']}, {cell['world']} proxy, {cell['panel']} raters: "
                  f"{', '.join(cell['verdicts'])} (seeds {list(cfg.seeds)})")
    print(f"report: {paths['report']}")
    print(f"map: {paths['map']}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "simulate", help="simulation study: where do synthetic (ALM) labels help, hurt or make no difference?",
        description="Simulate latent emotion distributions, human raters and ALM proxies of varied quality "
                    "(sharpness, class bias, item noise, correlation with the truth) for several rater counts and "
                    "seeds; run the held-out-annotator test (proper scores, cross-fitted smoothing baseline) on "
                    "each world as on real data; write report.md (the map of verdicts, the smoothing-only "
                    "ablation, non-inferiority with its margin), map.png, results.json and the effective "
                    "config.yaml into --out.")
    p.add_argument("--config", metavar="YAML",
                   help="simulation config (documented in hf_ambiguity/configs/simulate.yaml, the default)")
    p.add_argument("--out", metavar="DIR", default="runs/simulate", help="output folder (created; default runs/simulate)")
    p.add_argument("--seed", type=int, help="run only this seed (overrides the config's seeds)")
    p.add_argument("--calibrate-from", metavar="RUN_DIR",
                   help="a pipeline run folder: fit the humans, truth and base proxy to its annotate-stage dataset")
    p.add_argument("--name", help="with --calibrate-from: the synthetic annotator set (column prefix), when the "
                                  "dataset has several")
    p.set_defaults(func=main)
