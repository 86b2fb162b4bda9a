"""The progress bars of every long step: ``tqdm``, shown unless the caller turned them off (``progress=False``,
CLI ``--no-progress`` / ``--quiet``) or the environment does (``TQDM_DISABLE=1``, ``HF_DATASETS_DISABLE_PROGRESS_BARS``
is left to datasets), and never for an empty job (no "DiME-Aug features: 0utt" line).

``progress_bar`` takes tqdm's arguments, so a module swaps ``from tqdm.auto import tqdm`` for
``from hf_ambiguity.progress import progress_bar as tqdm``. tqdm reads ``TQDM_*`` variables once, when it is imported,
and an explicit ``disable=False`` overrides them; this module reads ``TQDM_DISABLE`` at every call.

>>> import os
>>> progress_bar(range(3), disable=False).disable, progress_bar([], desc="empty").disable
(False, True)
>>> os.environ["TQDM_DISABLE"] = "1"; progress_bar(range(3), disable=False).disable
True
>>> del os.environ["TQDM_DISABLE"]
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["progress_bar", "progress_enabled", "env_disables_progress"]

_FALSE = ("", "0", "false", "no", "off")


def env_disables_progress() -> bool:
    """Whether ``TQDM_DISABLE`` is set to a true value (anything but empty / 0 / false / no / off)."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in _FALSE


def progress_enabled(progress: bool = True) -> bool:
    """``progress`` unless ``TQDM_DISABLE`` turns bars off."""
    return bool(progress) and not env_disables_progress()


def progress_bar(iterable: Any = None, *args: Any, **kwargs: Any) -> Any:
    """``tqdm.auto.tqdm(iterable, *args, **kwargs)``, disabled when ``disable`` is true, ``TQDM_DISABLE`` is set, or
    the job is empty (``total == 0`` or an empty sized iterable)."""
    from tqdm.auto import tqdm

    total = kwargs.get("total", args[1] if len(args) > 1 else None)
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    kwargs["disable"] = bool(kwargs.get("disable")) or env_disables_progress() or total == 0
    return tqdm(iterable, *args, **kwargs)
