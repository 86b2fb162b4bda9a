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

__all__ = ["attach_provenance", "read_provenance", "library_versions", "redact_url"]

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


def redact_url(url: str | None) -> str | None:
    """``url`` without what may hold a credential — user-info (``user:password@``), query string and fragment — so
    that it can be printed and recorded (provenance, stage records, resolved configs, dataset cards).

    >>> redact_url("https://user:sekret@api.example.com/v1?api-key=abc#x")
    'https://api.example.com/v1'
    >>> redact_url("http://127.0.0.1:8000/v1/")
    'http://127.0.0.1:8000/v1/'
    """
    if url is None:
        return None
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        netloc = host + (f":{parts.port}" if parts.port is not None else "")
    except ValueError:  # not a URL at all: keep nothing that could be a secret
        return "<unparsable url>"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape synthetic labels (those installed)."""
    from importlib import metadata

    out = {}
    for pkg in ("hf-ambiguity", "transformers", "torch", "datasets", "accelerate", "tokenizers", "google-genai",
                "openai"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out
