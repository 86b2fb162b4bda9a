"""``hf-ambiguity run``: the whole method from raw corpus to report, resumable stage by stage."""

from __future__ import annotations

import argparse
import logging

__all__ = ["register", "main"]

logger = logging.getLogger(__name__)


def main(args: argparse.Namespace) -> int:
    """Load the config (the bundled demo when none is given), run the pipeline, print where the report is."""
    from hf_ambiguity.pipeline import ConfigError, bundled_config_path, load_config, run_pipeline
    from hf_ambiguity.pipeline.runner import StageError

    config_path = args.config or str(bundled_config_path("demo"))
    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        logger.error(f"hf-ambiguity run: {exc}")
        return 2
    try:
        outcome = run_pipeline(cfg, run_dir=args.run_dir, config_path=config_path, force=tuple(args.force or ()))
    except ConfigError as exc:
        logger.error(f"hf-ambiguity run: {exc}")
        return 2
    except StageError as exc:
        if not isinstance(exc.__cause__, (ValueError, OSError)):
            raise  # not a user-input problem: keep the traceback
        logger.error(f"hf-ambiguity run: {exc}\nfix the input and rerun the same command: finished stages are reused")
        return 2
    print(f"report: {outcome.report}")
    for why in outcome.unavailable.values():
        logger.warning(f"not available: {why}")
    return 1 if outcome.unavailable_requested else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run", help="run the whole pipeline (build, annotate, merge, alignment, DiME-Aug, fine-tune, evaluate, "
                    "export) from a YAML config and write report.md",
        description="Run the whole method from a YAML config; every stage writes into the run folder and is "
                    "skipped when its output is there and its inputs are unchanged, so a killed run resumes. "
                    "Without --config, runs the bundled demo (a tiny random-weight model on a generated corpus: "
                    "a smoke test, not results).")
    p.add_argument("--config", metavar="PATH",
                   help="pipeline YAML (or a bundled name: demo, paper, recommended); default: the bundled demo")
    p.add_argument("--run-dir", metavar="DIR", help="run folder (default: the config's run_dir)")
    p.add_argument("--force", metavar="STAGE", nargs="+", choices=["build", "annotate", "merge", "alignment",
                                                                   "augment", "train", "evaluate", "export"],
                   help="re-run these stages even when up to date (build, annotate, merge, alignment, augment, "
                        "train, evaluate, export)")
    p.set_defaults(func=main)
