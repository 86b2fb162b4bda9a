"""Launch checks shared by every multi-process stage (annotation shards, training).

A launcher (``accelerate launch``, ``torchrun``, ``mpirun``) tells each process how many processes it started through
the environment (``WORLD_SIZE``, or ``PMI_SIZE`` / ``OMPI_COMM_WORLD_SIZE`` / ``MV2_COMM_WORLD_SIZE``). Accelerate
then forms a process group only when it has a backend for it: a GPU per process, or CPU processes when told so
(``ACCELERATE_USE_CPU=true`` / ``accelerate launch --cpu``). Otherwise every process silently runs *alone*
(``num_processes == 1``): each one annotates or trains on the whole data and they overwrite each other's outputs.
:func:`check_launch` stops such a launch before any model is loaded.

>>> class State:  # what accelerate's PartialState / Accelerator expose
...     num_processes = 1
>>> check_launch(State(), environ={})                       # a plain single-process run
>>> check_launch(State(), environ={"WORLD_SIZE": "1"})
>>> check_launch(State(), environ={"WORLD_SIZE": "2"})      # doctest: +ELLIPSIS
Traceback (most recent call last):
...
hf_ambiguity.distributed.LaunchError: the launcher started 2 processes (WORLD_SIZE=2) but accelerate runs each ...
"""

from __future__ import annotations

import os
from typing import Any, Mapping

__all__ = ["LaunchError", "launched_world_size", "check_launch", "WORLD_SIZE_VARIABLES"]

#: Environment variables a launcher sets to the number of processes it started (first one set wins).
WORLD_SIZE_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


class LaunchError(ValueError):
    """A multi-process launch that cannot work as started; the message says what happened and how to fix it."""


def launched_world_size(environ: Mapping[str, str] | None = None) -> tuple[int, str | None]:
    """``(number of processes the launcher says it started, the variable that said so)``; ``(1, None)`` when no
    launcher variable is set.

    >>> launched_world_size({"OMPI_COMM_WORLD_SIZE": "4"})
    (4, 'OMPI_COMM_WORLD_SIZE')
    """
    env = os.environ if environ is None else environ
    for var in WORLD_SIZE_VARIABLES:
        value = env.get(var)
        if value is None or str(value).strip() == "":
            continue
        try:
            n = int(str(value).strip())
        except ValueError:
            raise LaunchError(f"environment variable {var}={value!r} is not a number of processes; unset it or "
                              "launch with `accelerate launch`") from None
        if n < 1:
            raise LaunchError(f"environment variable {var}={value!r} must be >= 1; unset it or launch with "
                              "`accelerate launch`")
        return n, var
    return 1, None


def check_launch(state: Any, *, environ: Mapping[str, str] | None = None, what: str = "each process") -> None:
    """Raise :class:`LaunchError` when the launcher started several processes but ``state`` (an accelerate
    ``PartialState`` or ``Accelerator``: anything with ``num_processes``) runs only one, i.e. the processes would
    not share the work but each do all of it. Call it right after creating the state, before loading a model.

    ``what`` names the work in the message (e.g. ``"each annotation process"``).
    """
    world, var = launched_world_size(environ)
    running = int(getattr(state, "num_processes", 1) or 1)
    if world > 1 and running == 1:
        kind = getattr(state, "distributed_type", None)
        kind_text = f" (distributed type {getattr(kind, 'value', kind)})" if kind is not None else ""
        raise LaunchError(
            f"the launcher started {world} processes ({var}={world}) but accelerate runs each of them alone"
            f"{kind_text}, so {what} would do all the work and overwrite the others' outputs. Fix: give every "
            f"process its own GPU (accelerate launch --multi_gpu --num_processes {world} on a machine with {world} "
            "GPUs), or run CPU processes with ACCELERATE_USE_CPU=true (accelerate launch --cpu --num_processes "
            f"{world}); or start a single process."
        )
    if world > 1 and running != world:
        raise LaunchError(
            f"the launcher started {world} processes ({var}={world}) but accelerate formed a group of {running}; "
            "relaunch with matching --num_processes and one device per process"
        )
