"""Open a dataset the way a user names it: a local folder or a Hub dataset id.

Every command that reads a dataset (``annotate``, ``augment``, ...) accepts the same three forms:

- a ``save_to_disk`` folder (a ``Dataset`` or a ``DatasetDict``: ``state.json`` / ``dataset_dict.json``), e.g. the
  output of ``hf-ambiguity annotate``;
- a folder ``datasets.load_dataset`` reads, e.g. the Hub layout ``hf-ambiguity build`` / ``augment`` write
  (``README.md`` + ``data/*.parquet``);
- a Hub dataset id ``namespace/name`` (private and gated ones with your token: ``hf auth login`` or ``HF_TOKEN``).

A local folder wins over a Hub id of the same spelling. A single ``Dataset`` becomes ``DatasetDict({"train": ...})``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["load_dataset_dict", "looks_like_hub_id"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def looks_like_hub_id(source: str) -> bool:
    """Whether ``source`` is spelled like a Hub dataset id ``namespace/name``.

    >>> looks_like_hub_id("someuser/iemocap-ambig"), looks_like_hub_id("./runs/x"), looks_like_hub_id("a/b/c")
    (True, False, False)
    """
    return bool(_HUB_ID.match(source))


def load_dataset_dict(source: str | Path, *, revision: str | None = None, cache_dir: str | Path | None = None,
                      what: str = "DATASET") -> Any:
    """A ``DatasetDict`` from a local folder or a Hub dataset id (see the module docstring).

    ``what`` names the argument in error messages. Raises ``FileNotFoundError`` naming ``source`` when it is
    neither an existing folder nor a Hub id, and when the Hub does not have it (or you may not read it).
    """
    from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

    text = str(source)
    folder = Path(text).expanduser()
    if folder.is_dir():
        if (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file():
            ds = load_from_disk(str(folder))
        else:
            try:
                ds = load_dataset(str(folder), cache_dir=None if cache_dir is None else str(cache_dir))
            except (FileNotFoundError, ValueError) as err:
                raise FileNotFoundError(f"{what} {text!r} is a folder, but neither a save_to_disk folder nor one "
                                        f"datasets.load_dataset reads: {err}") from None
    elif looks_like_hub_id(text):
        try:
            ds = load_dataset(text, revision=revision, cache_dir=None if cache_dir is None else str(cache_dir))
        except Exception as err:  # noqa: BLE001 - DatasetNotFoundError, offline, gated: one clear message
            raise FileNotFoundError(
                f"{what} {text!r} is not a local folder, and loading it from the Hugging Face Hub failed "
                f"({type(err).__name__}: {err}). Check the id, log in (hf auth login) for a private or gated "
                "dataset, or pass a local folder") from None
    else:
        raise FileNotFoundError(f"{what} {text!r} does not exist as a folder and is not a Hub dataset id "
                                "(namespace/name)")
    return DatasetDict({"train": ds}) if isinstance(ds, Dataset) else ds
