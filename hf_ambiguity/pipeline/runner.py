"""Stage runner: content-hash caching and atomic stage folders.

Each stage writes its outputs into ``run_dir/<NN_stage>/`` together with ``stage.json``, which records the hash of
everything the stage read (its options, its code version and the *output* hashes of the stages it depends on) and
the hash of what it wrote. On the next run a stage is skipped when its folder exists and that input hash is
unchanged; otherwise it runs again, and so does every stage downstream whose inputs (the re-run stage's output
hash) actually changed.

A stage runs in a temporary sibling folder (``.tmp-<NN_stage>``) that is renamed into place only after the stage
finished and ``stage.json`` was written, so a run killed at any point never leaves a half-written stage that looks
complete; leftover temporary folders are removed on the next run. Stages that have their own fine-grained resume
(annotation) keep their progress in ``run_dir/.cache/<NN_stage>/``, which survives a kill.

``stage.json`` also lists every output file with its size; a finished stage whose outputs no longer match (a file
deleted or truncated by hand or by a full disk) is run again instead of being trusted. One run at a time per run
folder: :class:`RunLock` holds ``run_dir/.lock`` (pid, host, start time) for the whole run; a second run is refused
with who holds it, and a lock left by a process that no longer exists on this host is reported and replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from hf_ambiguity.files import read_json, write_json, write_text

__all__ = ["Stage", "StageContext", "StageResult", "StageError", "RunLock", "RunFolderBusyError", "run_stages",
           "hash_json", "hash_folder", "read_stage_json", "output_listing", "damaged_outputs", "STAGE_FILE",
           "RUN_INFO_FILE", "STAGE_FOLDERS", "STAGE_RECORDS", "DATASET_DIR", "LOCK_FILE"]

#: Every stage's folder in the run folder, in run order: the one place these names are defined.
STAGE_FOLDERS = {
    "model": "00_model", "build": "01_build", "annotate": "02_annotate", "merge": "03_merge",
    "alignment": "04_alignment", "augment": "05_augment", "train": "06_train", "evaluate": "07_evaluate",
    "export": "08_export",
}
#: The JSON record a stage writes for the report (:meth:`StageContext.write_record`, :meth:`StageResult.record`).
STAGE_RECORDS = {
    "build": "corpus_stats.json", "annotate": "annotate_stats.json", "alignment": "alignment.json",
    "augment": "augment.json", "train": "train.json", "evaluate": "evaluation.json", "export": "export.json",
}
#: Folder of a stage's output dataset (``save_to_disk``) inside its stage folder.
DATASET_DIR = "dataset"
STAGE_FILE = "stage.json"
#: Held by the run that is using a run folder (see :class:`RunLock`).
LOCK_FILE = ".lock"
#: A stage's timings and resume counters: written beside its outputs but left out of the output hash, because they
#: differ between a resumed and an uninterrupted run whose outputs are identical.
RUN_INFO_FILE = "run_info.json"


def hash_json(obj: Any) -> str:
    """sha256 of a canonical JSON encoding (sorted keys) of ``obj``."""
    data = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(data).hexdigest()


def _file_digest(path: Path) -> str:
    if path.name == "state.json":
        # datasets' save_to_disk state: its fingerprint changes between identical runs; the rest is content.
        try:
            state = json.loads(path.read_text())
            state.pop("_fingerprint", None)
            return hash_json(state)
        except (ValueError, OSError):
            pass
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _output_files(folder: Path, exclude: tuple[str, ...]) -> list[tuple[str, Path]]:
    """``(relative path, path)`` of a stage folder's output files, sorted; ``exclude`` names top-level files left
    out, and so are tensorboard event files (they carry wall-clock times) and datasets' transform caches (written
    beside a dataset by whoever reads it later)."""
    out = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel in exclude or "/events.out.tfevents" in f"/{rel}":
            continue
        if path.name.startswith("cache-") and path.suffix == ".arrow":
            continue
        out.append((rel, path))
    return out


def hash_folder(folder: Path, *, exclude: tuple[str, ...] = (STAGE_FILE, RUN_INFO_FILE)) -> str:
    """sha256 over the relative paths and contents of every output file under ``folder``."""
    h = hashlib.sha256()
    for rel, path in _output_files(folder, exclude):
        h.update(rel.encode() + b"\0" + _file_digest(path).encode() + b"\n")
    return h.hexdigest()


def output_listing(folder: Path) -> dict[str, int]:
    """``{relative path: size in bytes}`` of every output file of a stage folder (recorded in ``stage.json``)."""
    return {rel: path.stat().st_size for rel, path in _output_files(folder, (STAGE_FILE,))}


def damaged_outputs(folder: Path, record: Mapping[str, Any]) -> list[str]:
    """The outputs ``stage.json`` lists that are missing or have another size (``["(no output list)"]`` for a
    record written before outputs were listed), so a damaged finished stage is run again."""
    listed = record.get("outputs")
    if not isinstance(listed, Mapping):
        return ["(no output list in stage.json)"]
    bad = []
    for rel, size in listed.items():
        path = folder / rel
        try:
            if path.stat().st_size != size:
                bad.append(f"{rel} (size {path.stat().st_size}, expected {size})")
        except OSError:
            bad.append(f"{rel} (missing)")
    return bad


def read_stage_json(folder: Path) -> dict[str, Any] | None:
    """The ``stage.json`` of a finished stage folder, or ``None`` when absent or unreadable."""
    try:
        return json.loads((folder / STAGE_FILE).read_text())
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class StageContext:
    """What a stage function gets: where to write, where its inputs are, and a persistent cache folder."""

    out_dir: Path
    run_dir: Path
    inputs: Mapping[str, Path]
    cache_dir: Path
    options: Mapping[str, Any]
    runtime: Mapping[str, Any] = field(default_factory=dict)
    #: The stage's folder name in the run folder (``out_dir`` is a temporary sibling until the stage finishes).
    folder: str = ""

    def input(self, key: str) -> Path:
        """The finished folder of the upstream stage ``key``."""
        return self.inputs[key]

    def input_dataset(self, key: str) -> Any:
        """The ``DatasetDict`` the upstream stage ``key`` saved."""
        import datasets

        return datasets.load_from_disk(str(self.inputs[key] / DATASET_DIR))

    def save_dataset(self, dsdict: Any) -> None:
        """Save this stage's output ``DatasetDict`` (audio embedded: the stage folder is self-contained)."""
        dsdict.save_to_disk(str(self.out_dir / DATASET_DIR))

    def write_json(self, name: str, obj: Any) -> None:
        """Write one JSON file of this stage's outputs (atomically; NaN as null)."""
        write_json(self.out_dir / name, obj)

    def write_text(self, name: str, text: str) -> None:
        """Write one text file of this stage's outputs."""
        write_text(self.out_dir / name, text)

    def write_record(self, key: str, obj: Any) -> None:
        """Write the JSON record the report reads for stage ``key`` (:data:`STAGE_RECORDS`)."""
        self.write_json(STAGE_RECORDS[key], obj)


@dataclass(frozen=True)
class Stage:
    """One pipeline stage.

    ``func(ctx)`` writes into ``ctx.out_dir`` and returns a JSON-serialisable summary (stored in ``stage.json``).
    ``options`` are everything that changes its output besides upstream outputs; ``version`` is bumped when the
    stage's code changes what it writes. ``extra_hash`` lets a stage add a fingerprint of files outside the run
    (the raw corpus).
    """

    key: str
    folder: str
    func: Callable[[StageContext], Mapping[str, Any]]
    depends: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    version: str = "1"
    extra_hash: Callable[[], str] | None = None
    #: Settings that change how the stage runs but not what it writes (not hashed), e.g. checkpoint frequency.
    runtime: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StageResult:
    """What happened to a stage in this run."""

    key: str
    folder: Path
    status: str  # "ran" | "skipped"
    #: Run time of the stage (for a skipped stage: of the run that wrote its folder).
    seconds: float
    input_hash: str
    output_hash: str
    summary: Mapping[str, Any]

    def record(self) -> Any:
        """The JSON record this stage wrote for the report (:data:`STAGE_RECORDS`), or None."""
        return self.read(STAGE_RECORDS.get(self.key, ""))

    def read(self, name: str) -> Any:
        """A JSON file of this stage's folder, or None when absent or unreadable."""
        try:
            return read_json(self.folder / name) if name else None
        except (OSError, ValueError):
            return None


class StageError(RuntimeError):
    """A stage failed; ``stage`` is its folder name and ``__cause__`` the original error. Nothing of the failed
    attempt is left looking complete; finished stages stay and are reused by the next run."""

    def __init__(self, stage: str, cause: BaseException):
        super().__init__(f"stage {stage} failed: {type(cause).__name__}: {cause}")
        self.stage = stage


def _input_hash(stage: Stage, upstream: Mapping[str, StageResult]) -> str:
    return hash_json({
        "stage": stage.key,
        "version": stage.version,
        "options": stage.options,
        "depends": {k: upstream[k].output_hash for k in stage.depends},
        "extra": stage.extra_hash() if stage.extra_hash else None,
    })


def _clean_leftovers(run_dir: Path) -> None:
    for p in run_dir.glob(".tmp-*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in run_dir.glob(".old-*"):
        shutil.rmtree(p, ignore_errors=True)


def _log(msg: str) -> None:
    print(f"[hf-ambiguity run] {msg}", file=sys.stderr, flush=True)


def run_stages(stages: list[Stage], run_dir: Path, *, force: tuple[str, ...] = ()) -> dict[str, StageResult]:
    """Run ``stages`` in order inside ``run_dir``; skip those whose folder is complete and inputs unchanged.

    ``force`` names stage keys to re-run regardless. Returns the result of every stage by key.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(run_dir)
    results: dict[str, StageResult] = {}
    for stage in stages:
        missing = [k for k in stage.depends if k not in results]
        if missing:
            raise ValueError(f"stage {stage.key!r} depends on {missing}, which are not earlier in the pipeline")
        final = run_dir / stage.folder
        input_hash = _input_hash(stage, results)
        previous = read_stage_json(final) if final.is_dir() else None
        damaged = damaged_outputs(final, previous) if previous else []
        if damaged and previous.get("input_hash") == input_hash and stage.key not in force:
            _log(f"{stage.folder}: outputs damaged ({', '.join(damaged[:3])}"
                 + (f" and {len(damaged) - 3} more" if len(damaged) > 3 else "") + "): running it again")
        elif previous and previous.get("input_hash") == input_hash and stage.key not in force:
            _log(f"{stage.folder}: up to date, skipped")
            results[stage.key] = StageResult(stage.key, final, "skipped", float(previous.get("seconds", 0.0)),
                                             input_hash,
                                             previous["output_hash"], previous.get("summary", {}))
            continue
        _log(f"{stage.folder}: running" + (" (inputs changed)" if previous else ""))
        tmp = run_dir / f".tmp-{stage.folder}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        # Progress kept across kills, keyed by the input hash so a changed option never resumes stale work.
        cache = run_dir / ".cache" / stage.folder / input_hash[:16]
        cache.mkdir(parents=True, exist_ok=True)
        ctx = StageContext(out_dir=tmp, run_dir=run_dir, inputs={k: results[k].folder for k in stage.depends},
                           cache_dir=cache, options=stage.options, runtime=stage.runtime,
                           folder=stage.folder)
        t0 = time.perf_counter()
        try:
            summary = dict(stage.func(ctx) or {})
        except Exception as exc:
            _log(f"{stage.folder}: failed ({type(exc).__name__}); earlier stages are kept, rerun to resume")
            raise StageError(stage.folder, exc) from exc
        seconds = time.perf_counter() - t0
        output_hash = hash_folder(tmp)
        record = {
            "stage": stage.key, "folder": stage.folder, "version": stage.version, "input_hash": input_hash,
            "output_hash": output_hash, "options": stage.options,
            "depends": {k: results[k].output_hash for k in stage.depends},
            "seconds": round(seconds, 3), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "summary": summary,
            "outputs": output_listing(tmp),
        }
        write_json(tmp / STAGE_FILE, json.loads(json.dumps(record, default=str)), sort_keys=True)
        if final.exists():
            old = run_dir / f".old-{stage.folder}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        shutil.rmtree(cache.parent, ignore_errors=True)
        _log(f"{stage.folder}: done in {seconds:.1f} s")
        results[stage.key] = StageResult(stage.key, final, "ran", seconds, input_hash, output_hash, summary)
    return results


class RunFolderBusyError(RuntimeError):
    """Another run holds the run folder's lock."""


class RunLock:
    """``run_dir/.lock`` for the duration of a run: one run per run folder.

    The lock file holds the holder's pid, host and start time and is created exclusively (``O_EXCL``). A second run
    is refused with :class:`RunFolderBusyError` naming the holder. A lock whose holder is on this host and no longer
    running (a killed run) is stale: it is replaced, and :attr:`stale` says whose it was. A lock from another host
    cannot be checked from here and is refused with how to remove it.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self.stale: dict[str, Any] | None = None
        self._held = False

    def __enter__(self) -> "RunLock":
        import socket

        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder.get("host") == me["host"] and not _pid_alive(holder.get("pid")):
                    self.stale = holder
                    _log(f"removed a stale lock of pid {holder.get('pid')} (not running) from {self.path}")
                    self.path.unlink(missing_ok=True)
                    continue
                where = (f"pid {holder.get('pid')} on host {holder.get('host')}, started {holder.get('started')}"
                         if holder else "an unreadable lock file")
                raise RunFolderBusyError(
                    f"run folder {self.path.parent} is in use by {where}; wait for that run to finish, use another "
                    f"--run-dir, or, if that run is gone, delete {self.path}") from None
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(me, fh)
            self._held = True
            return self
        raise RunFolderBusyError(f"could not take the lock {self.path}; delete it if no run uses the folder")

    def _holder(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def __exit__(self, *exc: Any) -> None:
        if self._held:
            self.path.unlink(missing_ok=True)
            self._held = False


def _pid_alive(pid: Any) -> bool:
    """Whether process ``pid`` exists on this host (a pid we may not signal still exists)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
