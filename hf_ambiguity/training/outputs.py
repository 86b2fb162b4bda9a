"""What a run writes into ``--output_dir``, and how a finished output folder is recognised.

Only the main process writes here (every method is a no-op elsewhere), so a run on several processes writes each
file once. Every JSON file goes through :func:`hf_ambiguity.files.write_json` (atomic; NaN and infinities as
``null``, never the invalid token ``NaN``).

- ``train_log.jsonl`` / ``eval_log.jsonl``: one line per logged optimizer step / evaluation; a resumed run first
  drops the lines written after its checkpoint, so no step is logged twice (:class:`RunFiles`).
- ``adapter/`` (peft ``save_pretrained``), ``head.safetensors``, ``training_config.json`` (resolved options, class
  names, base-model fingerprint): :func:`save_trained`, also used for ``best/``.
- ``eval_results.json``, ``test_predictions.jsonl``, ``summary.md``, ``README.md`` (model card,
  :mod:`hf_ambiguity.training.card`).
- ``training_complete.json``, written last: the folder holds a finished run (:func:`finished_run`). A run that
  starts (fresh or resumed) removes it first, so a killed run is never taken for a finished one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from hf_ambiguity.files import read_json, to_jsonable, write_json, write_text

__all__ = ["FORMAT_VERSION", "TRAINING_CONFIG_FILE", "HEAD_FILE", "ADAPTER_DIR", "COMPLETE_FILE", "RESULTS_FILE",
           "RunFiles", "save_trained", "restore_trained", "finished_run", "summary_markdown"]

FORMAT_VERSION = 2  # 2: the attention head has the reference's projection block (LayerNorm, GELU, dropouts)
TRAINING_CONFIG_FILE = "training_config.json"
HEAD_FILE = "head.safetensors"
ADAPTER_DIR = "adapter"
COMPLETE_FILE = "training_complete.json"
RESULTS_FILE = "eval_results.json"
_LOGS = ("train_log.jsonl", "eval_log.jsonl")


def _line(record: dict[str, Any]) -> str:
    return json.dumps(to_jsonable(record), allow_nan=False) + "\n"


def _step(line: str) -> int | None:
    """The step of a log line; ``None`` for a blank line or one cut short by a kill (always after the checkpoint:
    a step's line is complete before that step's checkpoint is saved)."""
    try:
        return int(json.loads(line)["step"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def finished_run(output_dir: str | Path) -> dict[str, Any] | None:
    """The completion record of a finished run in ``output_dir`` (``None`` when the folder holds no finished run):
    ``{"completed_steps", "identity", "results_file"}``. The pipeline skips a target whose folder has one."""
    path = Path(output_dir) / COMPLETE_FILE
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or not (Path(output_dir) / RESULTS_FILE).is_file():
        return None
    return record


class RunFiles:
    """The run's log files and final outputs in ``output_dir``; writes only on the main process."""

    def __init__(self, output_dir: str | Path, *, is_main: bool) -> None:
        self.output_dir, self.is_main = Path(output_dir), is_main

    def start(self, resumed_step: int | None) -> None:
        """Before the first step: drop the completion marker; drop log lines after ``resumed_step`` (a resumed run)
        or the whole logs (a fresh run)."""
        if not self.is_main:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        (self.output_dir / COMPLETE_FILE).unlink(missing_ok=True)
        for name in _LOGS:
            path = self.output_dir / name
            if not path.is_file():
                continue
            if resumed_step is None:
                path.unlink()
                continue
            kept = [ln for ln in path.read_text().splitlines() if _step(ln) is not None and _step(ln) <= resumed_step]
            write_text(path, "".join(k + "\n" for k in kept))

    def _append(self, name: str, record: dict[str, Any]) -> None:
        if self.is_main:
            with (self.output_dir / name).open("a") as fh:
                fh.write(_line(record))

    def log_step(self, record: dict[str, Any]) -> None:
        """One line of ``train_log.jsonl`` (``step``, ``epoch``, ``loss``, ``lr``)."""
        self._append("train_log.jsonl", record)

    def log_eval(self, step: int, validation: dict[str, Any]) -> None:
        """One line of ``eval_log.jsonl``: the validation loss and alignment statistics at ``step``."""
        self._append("eval_log.jsonl", {"step": step, **validation})

    def logged_losses(self) -> list[dict[str, Any]]:
        path = self.output_dir / "train_log.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.is_file() else []

    def write_results(self, results: dict[str, Any], *, test_ids: Sequence[Any], test_pred: Any, target: str,
                      card: str | None = None, identity: dict[str, Any] | None = None) -> None:
        """``eval_results.json``, ``test_predictions.jsonl``, ``summary.md``, the model card ``README.md``; then
        the completion marker, last."""
        if not self.is_main:
            return
        out = self.output_dir
        write_json(out / RESULTS_FILE, results)
        write_text(out / "test_predictions.jsonl", "".join(
            _line({"id": i, "prediction": p, "target": target}) for i, p in zip(test_ids, test_pred)))
        write_text(out / "summary.md", summary_markdown(results))
        if card is not None:
            write_text(out / "README.md", card)
        write_json(out / COMPLETE_FILE, {"completed_steps": results.get("completed_steps"), "identity": identity,
                                         "results_file": RESULTS_FILE})


def save_trained(unwrapped: Any, folder: Path, identity: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    """Adapter (peft ``save_pretrained``) + head (safetensors) + ``training_config.json`` into ``folder``."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    unwrapped.backbone.save_pretrained(str(folder / ADAPTER_DIR))
    if unwrapped.head is not None:
        save_file({k: v.detach().cpu().contiguous() for k, v in unwrapped.head.state_dict().items()},
                  str(folder / HEAD_FILE))
    write_json(folder / TRAINING_CONFIG_FILE, {"format_version": FORMAT_VERSION, **identity, **(extra or {})})


def restore_trained(unwrapped: Any, folder: Path) -> None:
    """Load the adapter + head :func:`save_trained` wrote in ``folder`` into ``unwrapped`` (same architecture)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(unwrapped.backbone, load_file(str(folder / ADAPTER_DIR / "adapter_model.safetensors")))
    if unwrapped.head is not None:
        unwrapped.head.load_state_dict(load_file(str(folder / HEAD_FILE)))


def _fmt(x: Any) -> str:
    import math

    return "n/a" if x is None or not math.isfinite(x) else f"{x:.4f}"


def _dime_line(report: dict[str, Any]) -> str:
    if not report.get("applied"):
        return "off"
    return f"on the training part, {report['rows_before']} -> {report['rows_after']} rows"


def alignment_tables(results: dict[str, Any]) -> list[str]:
    """Markdown tables of the test alignment, overall and per ambiguity level, against the run's own target and the
    human distributions (summary.md and the model card)."""
    lines: list[str] = []
    for name, key in (("against the run's own target", "test_vs_own_target"),
                      ("against the HUMAN test distributions", "test_vs_human")):
        stats = results[key]
        column = results["target"] if key.endswith("target") else results["human_column"]
        lines += [f"## Test {name} (`{column}`)", "",
                  "| subset | n | JS (base 2) ↓ | BC ↑ | argmax acc ↑ |", "|---|---|---|---|---|"]
        for lvl, s in [("overall", stats["overall"]), *stats["per_level"].items()]:
            lines.append(f"| {lvl} | {s['n_items']} | {_fmt(s['js_divergence_base2'])} | "
                         f"{_fmt(s['bhattacharyya_coefficient'])} | {_fmt(s['argmax_accuracy'])} |")
        lines.append("")
    return lines


def summary_markdown(results: dict[str, Any]) -> str:
    best = results["best_val_loss"]
    lines = ["# Training summary", "", f"- base model: `{results['base_model']}`", f"- head: {results['head']}",
             f"- target: `{results['target']}`", f"- split: {results['split']['description']}",
             f"- sizes: {results['split']['sizes']}", f"- DiME-Aug: {_dime_line(results['split']['dime_aug'])}",
             f"- steps: {results['completed_steps']} "
             f"(best validation loss {_fmt(best)} at step {results['best_step']}; "
             f"stopped early: {results['stopped_early']})", ""]
    return "\n".join(lines + alignment_tables(results))
