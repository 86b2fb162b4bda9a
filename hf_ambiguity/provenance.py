"""Provenance of synthetic columns, kept inside the dataset (``dataset.info.description``) so it survives
``save_to_disk``/``push_to_hub`` and can be rendered in the dataset card.

The description keeps whatever text it had; a single marker line
``<!-- hf-ambiguity-provenance: {json} -->`` holds ``{column set name: provenance dict}``.

>>> from datasets import Dataset
>>> ds = attach_provenance(Dataset.from_dict({"x": [1]}), "synthetic", {"mode": "sample"})
>>> read_provenance(ds)
{'synthetic': {'mode': 'sample'}}
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["attach_provenance", "read_provenance", "library_versions"]

_MARKER = re.compile(r"<!-- hf-ambiguity-provenance: (.*?) -->", re.S)


def read_provenance(dataset: Any) -> dict[str, dict[str, Any]]:
    """``{name: provenance}`` of every synthetic/merged column set recorded on ``dataset`` (``{}`` if none)."""
    m = _MARKER.search(dataset.info.description or "")
    return json.loads(m.group(1)) if m else {}


def attach_provenance(dataset: Any, name: str, provenance: dict[str, Any]) -> Any:
    """Return ``dataset`` with ``provenance`` recorded under ``name`` (replacing an older entry of that name)."""
    entries = read_provenance(dataset)
    entries[name] = provenance
    marker = "<!-- hf-ambiguity-provenance: " + json.dumps(entries, sort_keys=True).replace("-->", "--\\u003e") + " -->"
    text = dataset.info.description or ""
    text = _MARKER.sub(lambda _: marker, text) if _MARKER.search(text) else (text + ("\n" if text else "") + marker)
    dataset.info.description = text  # the live DatasetInfo that save_to_disk writes
    return dataset


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape synthetic labels (those installed)."""
    from importlib import metadata

    out = {}
    for pkg in ("hf-ambiguity", "transformers", "torch", "datasets", "accelerate", "tokenizers", "google-genai"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out
