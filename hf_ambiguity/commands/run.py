"""``hf-ambiguity run``: the whole method from raw corpus to report, resumable stage by stage."""

from __future__ import annotations

import argparse
import logging
import sys

__all__ = ["register", "main"]

logger = logging.getLogger(__name__)

#: Failures caused by the input (a bad corpus or dataset, a missing or unreadable file): exit 2, "fix the input".
#: Everything else (an unreachable backend, a failed push, a failed training subprocess) is operational: exit 1.
_INPUT_ERRORS = (ValueError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)

#: What to do when a stage fails for a reason that is not bad input (a backend, the Hub, a training subprocess).
_OPERATIONAL_HINT = ("finished stages are kept: fix the cause and rerun the same command (add --debug for the "
                     "traceback)")


def main(args: argparse.Namespace) -> int:
    """Load the config (the bundled demo when none is given), run the pipeline, print where the report is.

    Exit codes: 0 done, 1 a stage failed for an operational reason or a requested stage was not available, 2 bad
    input (config, corpus, a busy run folder). Errors are one clear line; ``--debug`` shows the traceback.
    """
    from hf_ambiguity.errors import ConfigError, CorpusFormatError, DataError
    from hf_ambiguity.pipeline import bundled_config_path, load_config, run_pipeline
    from hf_ambiguity.pipeline.runner import RunFolderBusyError, StageError

    config_path = args.config or str(bundled_config_path("demo"))
    try:
        cfg = load_config(config_path)
        outcome = run_pipeline(cfg, run_dir=args.run_dir, config_path=config_path, force=tuple(args.force or ()))
    except (ConfigError, RunFolderBusyError, DataError, CorpusFormatError) as exc:
        if args.debug:
            raise
        logger.error(f"hf-ambiguity run: {exc}")
        return 2
    except StageError as exc:
        if args.debug:
            raise
        cause = exc.__cause__
        user_input = isinstance(cause, _INPUT_ERRORS + (DataError,))
        first = str(cause).strip().splitlines()[0] if cause is not None and str(cause).strip() else type(cause).__name__
        hint = ("fix the input and rerun the same command: finished stages are reused" if user_input
                else _OPERATIONAL_HINT)
        logger.error(f"hf-ambiguity run: stage {exc.stage} failed: {first}\n{hint}")
        return 2 if user_input else 1
    print(f"report: {outcome.report}")
    for why in outcome.unavailable.values():
        logger.warning(f"not available: {why}")
    return 1 if outcome.unavailable_requested else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from hf_ambiguity.pipeline.runner import STAGE_FOLDERS

    stages = [k for k in STAGE_FOLDERS if k != "model"]
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
    p.add_argument("--force", metavar="STAGE", nargs="+", choices=stages,
                   help=f"re-run these stages even when up to date ({', '.join(stages)})")
    p.add_argument("--debug", action="store_true", help="show the full traceback of a failure")
    p.set_defaults(func=main)
