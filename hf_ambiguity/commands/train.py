"""``hf-ambiguity train``: fine-tune an audio-language model to predict emotion distributions.

    hf-ambiguity train --dataset iemocap_ambig --target combined_dist --output_dir outputs/iemocap-combined
    hf-ambiguity train --num_processes 4 ...                     # DDP on 4 GPUs of this machine
    hf-ambiguity train --config_file examples/configs/deepspeed_zero2.yaml ...
    hf-ambiguity train --cpu --num_processes 2 --mixed_precision no --torch_dtype float32 ...  # 2 CPU processes

The training options are those of the Accelerate script (``accelerate launch -m hf_ambiguity.training.train`` /
``examples/train.py``); the launcher options (``--config_file``, ``--num_processes``, ``--num_machines``,
``--machine_rank``, ``--main_process_ip``, ``--main_process_port``, ``--cpu``) go to ``accelerate launch``. The
exit status is the training script's own (2 on bad input, with its message), without Accelerate's traceback.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run_train"]

_LAUNCHER = ("config_file", "num_processes", "num_machines", "machine_rank", "main_process_ip", "main_process_port",
             "cpu")


def register(subparsers: Any) -> None:
    """Add the ``train`` sub-command."""
    from hf_ambiguity.training.config import add_training_arguments

    p = subparsers.add_parser("train", help="fine-tune an audio-language model to predict emotion distributions",
                              description=__doc__.splitlines()[0], argument_default=argparse.SUPPRESS)
    launch = p.add_argument_group("launcher (accelerate launch)")
    launch.add_argument("--config_file", help="accelerate config file (e.g. examples/configs/multi_gpu_ddp.yaml; "
                                              "default: the one `accelerate config` wrote, else one process)")
    launch.add_argument("--num_processes", type=int, help="processes to start (one per GPU; overrides the config)")
    launch.add_argument("--num_machines", type=int, help="machines taking part (multi-node; overrides the config)")
    launch.add_argument("--machine_rank", type=int, help="rank of this machine (multi-node)")
    launch.add_argument("--main_process_ip", help="address of machine 0 (multi-node)")
    launch.add_argument("--main_process_port", type=int, help="port on machine 0 (multi-node)")
    launch.add_argument("--cpu", action="store_true",
                        help="run the processes on the CPU (several: one data-parallel group over gloo)")
    add_training_arguments(p.add_argument_group("training (hf_ambiguity.training.train)"))
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    from hf_ambiguity.training.config import parse_args, training_argv
    from hf_ambiguity.training.launch import LauncherOptions, launch_training

    given = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
    launcher = {k: given.pop(k) for k in _LAUNCHER if k in given}
    argv = training_argv(given)
    cfg = parse_args(argv)  # option errors (ranges, combinations) now, before anything is launched
    return launch_training(argv, LauncherOptions(**launcher, mixed_precision=cfg.mixed_precision))
