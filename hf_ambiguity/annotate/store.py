"""Append-only JSONL result store that makes annotation runs resumable.

A run is identified by its *run key* (model identity, prompt hash, mode, seed, class names); its results live in
``<cache_dir>/<hash of the run key>/``: ``run.json`` (the key, for humans) and one ``part-<rank>.jsonl`` per process,
one record per line: ``{"id": ..., "a": <annotator index>, "raw": <answer>}`` (sample mode),
``{"id": ..., "a": <annotator index>, "logp": [...]}`` (expected mode: that annotator's class log-probabilities) or
``{"id": ..., "a": -1, "logp": [...]}`` (score mode). Records are appended and fsync'ed after every batch, so a kill
loses at most the batch in flight. A line cut short by a kill is truncated away when the part is reopened, and a
record already present is never written twice; reading keeps the first record of a key. A changed prompt, model or
seed gives a different run key, so stale answers are never mixed in.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

__all__ = ["ResultStore", "run_key_hash"]


def run_key_hash(run_key: dict[str, Any]) -> str:
    """Stable 16-hex-digit hash of a JSON-able run key."""
    return hashlib.sha256(json.dumps(run_key, sort_keys=True).encode()).hexdigest()[:16]


class ResultStore:
    """Results of one run in ``cache_dir`` (see the module docstring); ``rank`` picks the part file to append to."""

    def __init__(self, cache_dir: str | os.PathLike, run_key: dict[str, Any], *, rank: int = 0):
        self.dir = Path(cache_dir) / run_key_hash(run_key)
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "run.json"
        if not meta.exists():
            tmp = meta.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(run_key, indent=1, sort_keys=True))
            os.replace(tmp, meta)
        self.part = self.dir / f"part-{rank}.jsonl"
        self._repair(self.part)
        self.results: dict[tuple[str, int], Any] = {}
        self.n_corrupt = 0
        self.reload()

    @staticmethod
    def _repair(path: Path) -> None:
        """Cut a trailing partial line (a write interrupted by a kill) so the next append starts on a fresh line."""
        if not path.exists() or path.stat().st_size == 0:
            return
        data = path.read_bytes()
        if data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as fh:
            fh.truncate(cut)

    def reload(self) -> None:
        """Read every part file (all ranks) into :attr:`results` (first record of a key wins)."""
        self.results = {}
        self.n_corrupt = 0
        for part in sorted(self.dir.glob("part-*.jsonl")):
            with open(part, "rb") as fh:
                for line in fh:
                    if not line.endswith(b"\n"):
                        continue  # being written by another process, or cut by a kill: redone, not trusted
                    try:
                        rec = json.loads(line)
                        key = (str(rec["id"]), int(rec["a"]))
                        value = rec["logp"] if "logp" in rec else rec["raw"]
                        if not isinstance(value, (str, list)):
                            raise TypeError(value)
                    except (ValueError, KeyError, TypeError):
                        self.n_corrupt += 1
                        continue
                    self.results.setdefault(key, value)

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self.results

    def get(self, key: tuple[str, int]) -> Any:
        return self.results[key]

    def append(self, records: Iterable[tuple[str, int, Any]]) -> int:
        """Append ``(id, annotator, value)`` records not stored yet; fsync; return how many were written."""
        lines = []
        for item_id, a, value in records:
            key = (str(item_id), int(a))
            if key in self.results:
                continue
            self.results[key] = value
            field = "raw" if isinstance(value, str) else "logp"
            lines.append(json.dumps({"id": key[0], "a": key[1], field: value}, ensure_ascii=False) + "\n")
        if lines:
            with open(self.part, "a", encoding="utf-8") as fh:
                fh.write("".join(lines))
                fh.flush()
                os.fsync(fh.fileno())
        return len(lines)
