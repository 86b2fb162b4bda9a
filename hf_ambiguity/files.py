"""Writing the files a later step trusts: JSON (numpy values converted, NaN/inf as ``null`` so the file is valid
JSON for every reader) and text, atomically (temporary file in the same folder, flushed and fsynced, then renamed),
so that a kill or a full disk never leaves a truncated file behind where a complete one is expected.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "x.json"
>>> write_json(path, {"a": np.float32(0.5), "b": float("nan"), "c": np.arange(2)})
>>> read_json(path)
{'a': 0.5, 'b': None, 'c': [0, 1]}
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["to_jsonable", "write_json", "read_json", "write_text"]


def to_jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays as Python values, paths as strings, tuples as lists and non-finite floats
    as ``None`` (JSON has no NaN; ``json.dumps`` would write the invalid token ``NaN``)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj: Any, *, indent: int | None = 2, sort_keys: bool = False) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (see :func:`to_jsonable` for the conversions)."""
    text = json.dumps(to_jsonable(obj), indent=indent, sort_keys=sort_keys, allow_nan=False)
    write_text(path, text + "\n")


def read_json(path: str | Path) -> Any:
    """The parsed JSON at ``path``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
