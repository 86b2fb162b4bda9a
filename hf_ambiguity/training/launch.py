"""Launching a training run, and the checks a launched process makes before it loads a model.

- :func:`check_training_launch` (inside each training process, right after the ``Accelerator`` is created): refuses
  a launch whose processes would each train alone (the launcher started several, Accelerate runs one:
  :func:`hf_ambiguity.distributed.check_launch`), and fp16 on a process that runs on the CPU.
- :func:`launch_training` (``hf-ambiguity train``): runs ``accelerate launch -m hf_ambiguity.training.train`` with
  the launcher options given, and returns the training script's own exit status, without Accelerate's
  ``CalledProcessError`` / ``ChildFailedError`` traceback after the script's message. CPU processes (``--cpu`` or a
  config file with ``use_cpu: true``) get ``ACCELERATE_USE_CPU=true`` and the multi-process launcher, which is what
  makes several CPU processes one data-parallel group (gloo).
- :func:`train_command`: the command the pipeline's training stage runs for one target;
  :func:`read_training_log` reads back what a run logged.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["check_training_launch", "LauncherOptions", "accelerate_launch_args", "launch_training", "train_command",
           "read_training_log", "free_port", "TRAINING_MODULE"]

TRAINING_MODULE = "hf_ambiguity.training.train"


def check_training_launch(accelerator: Any, cfg: Any) -> None:
    """Raise :class:`hf_ambiguity.distributed.LaunchError` when this launch cannot train as asked:

    - the launcher started several processes but Accelerate runs each alone (they would each train on the whole
      data and overwrite each other's outputs);
    - the process runs on the CPU but asks for fp16 (mixed precision or base weights): fp16 is a GPU recipe.
    """
    from hf_ambiguity.distributed import LaunchError, check_launch

    check_launch(accelerator, what="each training process")
    if getattr(accelerator.device, "type", str(accelerator.device)) != "cpu":
        return
    asked = []
    if str(accelerator.mixed_precision) == "fp16":
        asked.append("mixed precision fp16 (--mixed_precision, --preset paper or the accelerate config, e.g. "
                     "examples/configs/single_gpu.yaml)")
    if cfg.torch_dtype == "float16":
        asked.append("--torch_dtype float16 (the default of every preset)")
    if asked:
        why = "ACCELERATE_USE_CPU is set" if os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes") \
            else "no GPU is visible"
        raise LaunchError(
            f"this training process runs on the CPU ({why}) but asks for {' and '.join(asked)}; fp16 is a GPU "
            "recipe and is not trained on the CPU. To train on the CPU pass --mixed_precision no --torch_dtype "
            "float32 (or bf16 / bfloat16); to train in fp16, run on a GPU")


@dataclass(frozen=True)
class LauncherOptions:
    """How ``hf-ambiguity train`` launches the training processes (the ``accelerate launch`` options it passes)."""

    config_file: str | None = None
    num_processes: int | None = None
    num_machines: int | None = None
    machine_rank: int | None = None
    main_process_ip: str | None = None
    main_process_port: int | None = None
    cpu: bool = False
    #: the training run's --mixed_precision (None: the config's), passed on when there is no config file
    mixed_precision: str | None = None


def _config_values(config_file: str | None) -> dict[str, Any]:
    if not config_file:
        return {}
    from hf_ambiguity.config import read_yaml_mapping

    return dict(read_yaml_mapping(Path(config_file)))


def accelerate_launch_args(opts: LauncherOptions) -> tuple[list[str], dict[str, str]]:
    """``(accelerate launch options, environment variables to set)`` for ``opts``.

    Without a config file, the process and machine counts are passed explicitly, unless none was given and
    ``accelerate config`` saved defaults (then those apply). Several processes on one machine rendezvous on a free port unless a port is
    given. Several processes use the multi-process launcher (torchrun) unless the
    config file already names a multi-process backend (``MULTI_GPU``, ``DEEPSPEED``, ``FSDP``). CPU processes
    (``--cpu``, or ``use_cpu: true`` in the config file) get ``ACCELERATE_USE_CPU=true``: the config key alone does
    not reach the processes ``accelerate launch`` starts, and without it each of them runs alone.

    >>> args, env = accelerate_launch_args(LauncherOptions(num_processes=2, cpu=True))
    >>> args[:8], args[-1], env
    (['--num_processes', '2', '--num_machines', '1', '--dynamo_backend', 'no', '--mixed_precision', 'no'], '--multi_gpu', {'ACCELERATE_USE_CPU': 'true'})
    """
    config = _config_values(opts.config_file)
    n = opts.num_processes or int(config.get("num_processes") or 1)
    machines = opts.num_machines or int(config.get("num_machines") or 1)
    cpu = opts.cpu or bool(config.get("use_cpu"))
    args: list[str] = []
    if opts.config_file:
        args += ["--config_file", str(opts.config_file)]
        for flag in ("num_processes", "num_machines"):
            if getattr(opts, flag) is not None:
                args += [f"--{flag}", str(getattr(opts, flag))]
    elif cpu or opts.num_processes or opts.num_machines or not _default_config_exists():
        args += ["--num_processes", str(n), "--num_machines", str(machines), "--dynamo_backend", "no",
                 "--mixed_precision", opts.mixed_precision or "no"]
    for flag in ("machine_rank", "main_process_ip", "main_process_port"):
        if getattr(opts, flag) is not None:
            args += [f"--{flag}", str(getattr(opts, flag))]
    if n > 1 and machines == 1 and opts.main_process_port is None and not config.get("main_process_port"):
        # one machine: a free port instead of torchrun's fixed 29500, so that two runs on a machine never collide
        args += ["--main_process_port", str(free_port())]
    env = {"ACCELERATE_USE_CPU": "true"} if cpu else {}
    if n * machines > 1:
        if str(config.get("distributed_type", "")).upper() not in ("MULTI_GPU", "DEEPSPEED", "FSDP"):
            args.append("--multi_gpu")  # torchrun; with ACCELERATE_USE_CPU the group runs on the CPU (gloo)
    elif cpu:
        args.append("--cpu")
    return args, env


def free_port() -> int:
    """A TCP port no process listens on now (for the rendezvous of a one-machine multi-process run)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _default_config_exists() -> bool:
    try:
        from accelerate.commands.config import default_config_file
    except ImportError:  # pragma: no cover
        return False
    return os.path.isfile(default_config_file)


def _exit_code(err: BaseException) -> int:
    """The training script's exit status from an accelerate launcher exception."""
    code = getattr(err, "returncode", None)
    if code is None and hasattr(err, "get_first_failure"):  # torch.distributed.elastic ChildFailedError
        _, failure = err.get_first_failure()
        code = failure.exitcode
    code = int(code if code is not None else 1)
    return 128 - code if code < 0 else code  # killed by signal N: 128 + N, as a shell reports it


def launch_training(train_argv: Sequence[str], opts: LauncherOptions = LauncherOptions()) -> int:
    """Run the training script under ``accelerate launch`` with ``opts``; return its exit status.

    The script prints its own clear message on bad input (exit 2); Accelerate's traceback about the failed child
    process is not added after it.
    """
    import logging
    import subprocess

    from accelerate.commands.launch import launch_command, launch_command_parser

    launch_args, env = accelerate_launch_args(opts)
    args = launch_command_parser().parse_args([*launch_args, "-m", TRAINING_MODULE, *train_argv])
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    elastic_log = logging.getLogger("torch.distributed.elastic")
    level = elastic_log.level
    elastic_log.setLevel(logging.CRITICAL)  # its failure table repeats what the script said
    try:
        launch_command(args)
    except subprocess.CalledProcessError as err:
        return _exit_code(err)
    except Exception as err:  # noqa: BLE001 - torch elastic's ChildFailedError (import path varies)
        if type(err).__name__ != "ChildFailedError":
            raise
        return _exit_code(err)
    finally:
        elastic_log.setLevel(level)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return 0


def train_command(opt: Mapping[str, Any], *, dataset: Path, target: str, model: str, output_dir: Path,
                  resume: bool, checkpointing_steps: int | None = None) -> list[str]:
    """The ``hf-ambiguity train ...`` command of one pipeline target (``opt``: the pipeline's ``train`` options)."""
    cmd = [sys.executable, "-m", "hf_ambiguity", "train"]
    if opt["accelerate_config"]:
        cmd += ["--config_file", opt["accelerate_config"]]
    else:  # one process, whatever defaults `accelerate config` saved (the stage's hash does not see them)
        cmd += ["--num_processes", "1"]
    cmd += ["--dataset", str(dataset), "--split", "dataset", "--no_dime_aug", "--target", target, "--model", model,
            "--preset", opt["preset"], "--seed", str(opt["seed"]), "--output_dir", str(output_dir),
            "--report_to", "tensorboard"]
    for key, flag in (("max_steps", "--max_train_steps"), ("batch_size", "--per_device_train_batch_size"),
                      ("gradient_accumulation_steps", "--gradient_accumulation_steps"),
                      ("learning_rate", "--learning_rate")):
        if opt[key] is not None:
            cmd += [flag, str(opt[key])]
    if opt.get("prompt") is not None:
        cmd += ["--prompt", opt["prompt"]]
    if opt.get("audio_augment") is not None:
        cmd += ["--audio_augment" if opt["audio_augment"] else "--no_audio_augment"]
    if checkpointing_steps:
        cmd += ["--checkpointing_steps", str(checkpointing_steps)]
    if resume:
        cmd += ["--resume_from_checkpoint", "latest"]
    return cmd + list(opt["extra_args"])


def read_training_log(folder: Path) -> dict[str, Any]:
    """Loss per optimizer step (``train_log.jsonl``) and validation loss (``eval_log.jsonl``) of a training run."""
    import json

    from hf_ambiguity.files import read_json

    def rows(name: str) -> list[dict[str, Any]]:
        path = folder / name
        if not path.is_file():
            return []
        return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]

    log: dict[int, dict[str, Any]] = {}
    for r in rows("train_log.jsonl"):
        log.setdefault(r["step"], {"step": r["step"]})["loss"] = r.get("loss")
    for r in rows("eval_log.jsonl"):
        log.setdefault(r["step"], {"step": r["step"]})["val_loss"] = r.get("loss")
    res = read_json(folder / "eval_results.json") if (folder / "eval_results.json").is_file() else {}
    return {"log": [log[k] for k in sorted(log)], "steps": res.get("completed_steps"),
            "best_step": res.get("best_step"), "best_val_loss": res.get("best_val_loss")}
