"""Checkpoint folders ``output_dir/step_N/``: finding the latest complete one and checking it fits the run.

A checkpoint is *complete* once its ``training_state.json`` exists: it is written last, after
``Accelerator.save_state`` returned, so a run killed while saving never leaves a folder that ``latest`` picks.
Each checkpoint also keeps a copy of the best-so-far adapter + head (``step_N/best/``, small): a run killed after
its checkpoint may already have overwritten ``output_dir/best/`` with a later step, which the resumed run must not
restore at the end (:func:`snapshot_best`, :func:`restore_best_snapshot`).
``training_state.json`` also records what the run must agree on to continue the same trajectory (base model
architecture, head, classes, target, optimisation options); a mismatch is refused before any training starts.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> for n in (2, 10, 9):
...     (d / f"step_{n}").mkdir(); _ = (d / f"step_{n}" / STATE_FILE).write_text("{}")
>>> (d / "step_11").mkdir()  # incomplete: no state file
>>> find_latest_checkpoint(d).name  # by number, not by name: step_10 > step_9
'step_10'
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

__all__ = ["STATE_FILE", "TRAJECTORY_KEYS", "find_latest_checkpoint", "resolve_resume", "check_compatible",
           "CheckpointMismatchError", "snapshot_best", "restore_best_snapshot", "BEST_SNAPSHOT"]

STATE_FILE = "training_state.json"
BEST_SNAPSHOT = "best"
_STEP_RE = re.compile(r"^step_(\d+)$")

#: Options that change a run's trajectory: resuming with a different value would not continue the same run.
TRAJECTORY_KEYS = (
    "dataset", "dataset_config", "target", "split", "test_fraction", "split_seed", "test_session", "test_partition",
    "validation_fraction", "max_train_samples", "dime_aug", "dime_ratio", "dime_k", "weighted_sampler",
    "sampler_multipliers",
    "audio_augment", "head", "head_num_heads", "head_dropout", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules",
    "loss", "entropy_weight", "learning_rate", "weight_decay", "lr_scheduler", "lr_num_cycles", "warmup_ratio",
    "max_grad_norm", "per_device_train_batch_size", "gradient_accumulation_steps", "num_train_epochs",
    "max_train_steps", "seed", "include_transcript", "max_text_tokens", "max_audio_seconds",
)


class CheckpointMismatchError(ValueError):
    """A checkpoint or saved model belongs to another base model, head, class set or run configuration."""


def _step_of(path: Path) -> int | None:
    m = _STEP_RE.match(path.name)
    return int(m.group(1)) if m else None


def find_latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The complete ``step_N`` folder with the highest N (numerically), or ``None``."""
    root = Path(output_dir)
    if not root.is_dir():
        return None
    done = [(s, p) for p in root.iterdir() if p.is_dir() and (s := _step_of(p)) is not None and (p / STATE_FILE).is_file()]
    return max(done)[1] if done else None


def resolve_resume(output_dir: str | Path, resume: str | None) -> Path | None:
    """The folder to resume from: ``None`` (fresh run), ``"latest"`` (None when there is none yet) or a path."""
    if not resume:
        return None
    if resume == "latest":
        return find_latest_checkpoint(output_dir)
    path = Path(resume)
    if not path.is_dir():
        raise FileNotFoundError(f"--resume_from_checkpoint {resume!r}: no such folder; pass 'latest' or a step_N "
                                f"folder of {output_dir}")
    if not (path / STATE_FILE).is_file():
        raise CheckpointMismatchError(
            f"--resume_from_checkpoint {resume!r} is incomplete (no {STATE_FILE}: the run was probably killed while "
            "saving it); pass 'latest' to use the last complete checkpoint")
    return path


def snapshot_best(best_dir: Path, checkpoint: Path) -> None:
    """Copy ``best_dir`` (if any) into ``checkpoint/best`` — call before the checkpoint's state file is written."""
    import shutil

    if best_dir.is_dir():
        shutil.copytree(best_dir, checkpoint / BEST_SNAPSHOT, dirs_exist_ok=True)


def restore_best_snapshot(checkpoint: Path | None, best_dir: Path) -> None:
    """Make ``best_dir`` what it was when ``checkpoint`` was saved (removed when there was no best yet, or when
    ``checkpoint`` is ``None``: a fresh run must never restore a previous run's best weights)."""
    import shutil

    if best_dir.exists():
        shutil.rmtree(best_dir)
    if checkpoint is not None and (checkpoint / BEST_SNAPSHOT).is_dir():
        shutil.copytree(checkpoint / BEST_SNAPSHOT, best_dir)


def read_state(checkpoint: Path) -> dict[str, Any]:
    return json.loads((checkpoint / STATE_FILE).read_text())


def check_compatible(saved: dict[str, Any], current: dict[str, Any], *, what: str) -> None:
    """Raise :class:`CheckpointMismatchError` listing every recorded key whose value differs.

    ``saved``/``current`` hold ``model_fingerprint``, ``head``, ``class_names`` and ``config`` (trajectory keys).
    """
    problems = []
    fp_saved, fp_now = saved.get("model_fingerprint", {}), current.get("model_fingerprint", {})
    if fp_saved.get("sha256") != fp_now.get("sha256"):
        problems.append(f"base model: saved from {saved.get('base_model')!r} (architecture "
                        f"{fp_saved.get('architecture')}), now {current.get('base_model')!r} (architecture "
                        f"{fp_now.get('architecture')})")
    if saved.get("head") != current.get("head"):
        problems.append(f"head: saved {saved.get('head')}, now {current.get('head')}")
    if list(saved.get("class_names", [])) != list(current.get("class_names", [])):
        problems.append(f"classes: saved {saved.get('class_names')}, now {current.get('class_names')}")
    s_cfg, c_cfg = saved.get("config", {}), current.get("config", {})
    for k in TRAJECTORY_KEYS:
        if k in s_cfg and k in c_cfg and s_cfg[k] != c_cfg[k]:
            problems.append(f"--{k}: saved {s_cfg[k]!r}, now {c_cfg[k]!r}")
    if problems:
        raise CheckpointMismatchError(
            f"{what} does not match this run:\n  - " + "\n  - ".join(problems)
            + "\nrun with the original options, or use a new --output_dir to start afresh")
