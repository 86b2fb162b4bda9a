"""Checkpoint folders ``output_dir/step_N/``: writing them, finding the one to resume from, trusting it, rotating.

**Complete.** A checkpoint is complete once its ``training_state.json`` exists and parses: it is written last,
atomically (:func:`hf_ambiguity.files.write_json`: temporary file, fsync, rename), after
``Accelerator.save_state`` returned on every process. A run killed while saving leaves a folder without it (or,
on a full disk, an empty one); ``latest`` skips such a folder with a message and falls back to the previous one.

**Trusted.** Accelerate's state files are pickles (``optimizer.bin``, ``scheduler.bin``, ``random_states_*.pkl``;
``torch.load`` with ``weights_only=True``). The step counter and early-stopping state live in
``training_state.json``, never in accelerate's ``custom_checkpoint_*.pkl`` (that one is unpickled with
``weights_only=False``, i.e. it can run code). Before anything is loaded, :func:`verify_checkpoint` checks that the
checkpoint was written by *this* run: the run id in ``training_state.json`` must equal the output folder's
``run.json`` (created at a fresh start), and every file must have the SHA-256 recorded when it was written (no file
added, removed or changed since). This refuses a checkpoint copied in from elsewhere or altered afterwards; it is
not a defence against someone who can write the whole output folder, so checkpoints remain trusted input.

**Compatible.** ``training_state.json`` also records what the run must agree on to continue the same trajectory
(base model architecture, head, classes, target, optimisation options); a mismatch is refused before any training
starts (:func:`check_compatible`).

**Best snapshot.** Each checkpoint keeps a copy of the best-so-far adapter + head (``step_N/best/``, small): a run
killed after its checkpoint may already have overwritten ``output_dir/best/`` with a later step, which the resumed
run must not restore at the end (:func:`snapshot_best`, :func:`restore_best_snapshot`).

**Rotation.** ``--save_total_limit K`` keeps the K newest complete checkpoints plus the one saved at the best
validation step, if there is one (:func:`rotate_checkpoints`).

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> for n in (2, 10, 9):
...     (d / f"step_{n}").mkdir(); write_json(d / f"step_{n}" / STATE_FILE, {"step": n})
>>> (d / "step_11").mkdir()  # incomplete: no state file
>>> find_latest_checkpoint(d).name  # by number, not by name: step_10 > step_9
'step_10'
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from hf_ambiguity.files import read_json, write_json

__all__ = ["STATE_FILE", "RUN_FILE", "TRAJECTORY_KEYS", "BEST_SNAPSHOT", "CheckpointMismatchError", "TrainState",
           "find_latest_checkpoint", "resolve_resume", "read_state", "check_compatible", "verify_checkpoint",
           "new_run_id", "read_run_id", "write_checkpoint_state", "rotate_checkpoints", "snapshot_best",
           "restore_best_snapshot", "checkpoint_steps"]

logger = logging.getLogger(__name__)

STATE_FILE = "training_state.json"
RUN_FILE = "run.json"
BEST_SNAPSHOT = "best"
_STEP_RE = re.compile(r"^step_(\d+)$")

#: Options that change a run's trajectory: resuming with a different value would not continue the same run.
TRAJECTORY_KEYS = (
    "dataset", "dataset_config", "target", "split", "test_fraction", "split_seed", "test_session", "test_partition",
    "validation_fraction", "max_train_samples", "dime_aug", "dime_ratio", "dime_k", "weighted_sampler",
    "sampler_multipliers", "audio_augment", "prompt", "head", "head_num_heads", "head_dropout", "lora_r", "lora_alpha",
    "lora_dropout", "lora_target_modules", "loss", "entropy_weight", "learning_rate", "weight_decay", "lr_scheduler",
    "lr_num_cycles", "warmup_ratio", "max_grad_norm", "per_device_train_batch_size", "gradient_accumulation_steps",
    "num_train_epochs", "max_train_steps", "seed", "include_transcript", "max_text_tokens", "max_audio_seconds",
)


class CheckpointMismatchError(ValueError):
    """A checkpoint or saved model belongs to another base model, head, class set, run or run configuration."""


class TrainState:
    """Step counter and early-stopping state; saved in every checkpoint's ``training_state.json`` (JSON, no pickle).

    >>> s = TrainState()
    >>> s.record_evaluation(0.5, step=2, patience=2), s.record_evaluation(0.6, step=4, patience=2)
    (True, False)
    >>> s.record_evaluation(0.7, step=6, patience=2), s.stopped_early, s.best_step
    (False, True, 2)
    """

    def __init__(self) -> None:
        self.completed_steps = 0
        self.best_val_loss = math.inf
        self.best_step = -1
        self.bad_evals = 0
        self.stopped_early = False

    def record_evaluation(self, val_loss: float, *, step: int, patience: int) -> bool:
        """Update the early-stopping state with a validation loss; ``True`` when it is the best so far (strictly
        lower). After ``patience`` evaluations in a row without improvement (0 = never), ``stopped_early`` is set."""
        if val_loss < self.best_val_loss:
            self.best_val_loss, self.best_step, self.bad_evals = float(val_loss), int(step), 0
            return True
        self.bad_evals += 1
        if patience and self.bad_evals >= patience:
            self.stopped_early = True
        return False

    def state_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["best_val_loss"] = None if math.isinf(self.best_val_loss) else self.best_val_loss
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in vars(self):
            if k in state:
                setattr(self, k, state[k])
        if self.best_val_loss is None:
            self.best_val_loss = math.inf


def _step_of(path: Path) -> int | None:
    m = _STEP_RE.match(path.name)
    return int(m.group(1)) if m else None


def checkpoint_steps(output_dir: str | Path) -> list[tuple[int, Path]]:
    """Every ``step_N`` folder of ``output_dir`` (complete or not), by step."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    return sorted((s, p) for p in root.iterdir() if p.is_dir() and (s := _step_of(p)) is not None)


def read_state(checkpoint: Path) -> dict[str, Any]:
    """The parsed ``training_state.json`` of a checkpoint; :class:`CheckpointMismatchError` when it is missing,
    empty or not JSON (a save that was killed or hit a full disk)."""
    path = Path(checkpoint) / STATE_FILE
    if not path.is_file():
        raise CheckpointMismatchError(f"checkpoint {checkpoint} is incomplete (no {STATE_FILE}: the run was "
                                      "probably killed while saving it)")
    try:
        state = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointMismatchError(f"checkpoint {checkpoint} is incomplete ({STATE_FILE} is empty or cut short: "
                                      f"{err})") from None
    if not isinstance(state, dict):
        raise CheckpointMismatchError(f"checkpoint {checkpoint}: {STATE_FILE} does not hold a JSON object")
    return state


def find_latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The complete ``step_N`` folder with the highest N (numerically), or ``None``.

    Incomplete folders (state file missing, empty or not JSON) are skipped with a logged message naming them.
    """
    for _, path in reversed(checkpoint_steps(output_dir)):
        try:
            read_state(path)
        except CheckpointMismatchError as err:
            logger.warning("%s; skipped, falling back to the previous checkpoint", err)
            continue
        return path
    return None


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
    try:
        read_state(path)
    except CheckpointMismatchError as err:
        raise CheckpointMismatchError(f"--resume_from_checkpoint {resume!r}: {err}; pass 'latest' to use the last "
                                      "complete checkpoint") from None
    return path


# ------------------------------------------------------------------------------------------------ run identity


def new_run_id(output_dir: Path) -> str:
    """Start a new run in ``output_dir``: a fresh random run id in ``run.json`` (main process only)."""
    run_id = uuid.uuid4().hex
    write_json(Path(output_dir) / RUN_FILE, {"run_id": run_id})
    return run_id


def read_run_id(output_dir: Path) -> str | None:
    path = Path(output_dir) / RUN_FILE
    if not path.is_file():
        return None
    try:
        return str(read_json(path)["run_id"])
    except (json.JSONDecodeError, KeyError, TypeError):
        return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(checkpoint: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every file in ``checkpoint`` except the state file itself."""
    return {p.relative_to(checkpoint).as_posix(): _sha256(p) for p in sorted(checkpoint.rglob("*"))
            if p.is_file() and p.name != STATE_FILE}


def write_checkpoint_state(checkpoint: Path, *, step: int, run_id: str, identity: dict[str, Any],
                           train_state: TrainState) -> None:
    """Write ``training_state.json`` (last, atomically): step, run id, identity, early-stopping state, and the
    SHA-256 of every other file of the checkpoint."""
    write_json(checkpoint / STATE_FILE, {"step": step, "run_id": run_id, "identity": identity,
                                         "train_state": train_state.state_dict(), "files": _files(checkpoint)})


def verify_checkpoint(checkpoint: Path, *, run_id: str | None) -> dict[str, Any]:
    """The checkpoint's state after checking it was written by run ``run_id`` and left unchanged since.

    Raises :class:`CheckpointMismatchError` naming what differs. Nothing of the checkpoint is unpickled here.
    """
    state = read_state(checkpoint)
    saved_run = state.get("run_id")
    if run_id is None or saved_run != run_id:
        raise CheckpointMismatchError(
            f"checkpoint {checkpoint} was not written by the run of this output folder (its run id {saved_run}, the "
            f"folder's {run_id}; {RUN_FILE} missing or from another run). Checkpoints hold pickled state, so only "
            "the checkpoints a run wrote into its own --output_dir are resumed; to continue a run elsewhere, copy its "
            "whole output folder")
    recorded = state.get("files")
    if not isinstance(recorded, dict):
        raise CheckpointMismatchError(f"checkpoint {checkpoint}: {STATE_FILE} lists no file hashes (written by an "
                                      "older hf-ambiguity); start afresh with a new --output_dir")
    found = _files(checkpoint)
    changed = sorted(k for k in recorded.keys() & found.keys() if recorded[k] != found[k])
    missing, added = sorted(recorded.keys() - found.keys()), sorted(found.keys() - recorded.keys())
    if changed or missing or added:
        raise CheckpointMismatchError(
            f"checkpoint {checkpoint} changed after it was written (changed {changed[:5]}, missing {missing[:5]}, "
            f"added {added[:5]}); it is not loaded. Delete that folder to resume from the previous checkpoint")
    return state


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


# ------------------------------------------------------------------------------------------------ housekeeping


def rotate_checkpoints(output_dir: Path, *, limit: int | None, best_step: int | None) -> list[Path]:
    """Delete complete checkpoints beyond the ``limit`` newest, keeping the one at ``best_step``; also delete
    incomplete folders older than the newest complete one (left by kills). Returns the deleted folders."""
    steps = checkpoint_steps(output_dir)
    complete = []
    for s, p in steps:
        try:
            read_state(p)
            complete.append((s, p))
        except CheckpointMismatchError:
            pass
    removed: list[Path] = []
    newest = complete[-1][0] if complete else None
    keep = {s for s, _ in complete[-limit:]} if limit else {s for s, _ in complete}
    if best_step is not None:
        keep.add(best_step)
    for s, p in steps:
        is_complete = any(s == c for c, _ in complete)
        stale_incomplete = not is_complete and newest is not None and s < newest
        if (is_complete and s not in keep) or stale_incomplete:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def snapshot_best(best_dir: Path, checkpoint: Path) -> None:
    """Copy ``best_dir`` (if any) into ``checkpoint/best`` — call before the checkpoint's state file is written."""
    if best_dir.is_dir():
        shutil.copytree(best_dir, checkpoint / BEST_SNAPSHOT, dirs_exist_ok=True)


def restore_best_snapshot(checkpoint: Path | None, best_dir: Path) -> None:
    """Make ``best_dir`` what it was when ``checkpoint`` was saved (removed when there was no best yet, or when
    ``checkpoint`` is ``None``: a fresh run must never restore a previous run's best weights)."""
    if best_dir.exists():
        shutil.rmtree(best_dir)
    if checkpoint is not None and (checkpoint / BEST_SNAPSHOT).is_dir():
        shutil.copytree(checkpoint / BEST_SNAPSHOT, best_dir)
