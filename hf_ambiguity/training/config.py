"""Training arguments as one dataclass, named presets, and the command-line parser built from them.

Precedence: dataclass defaults < ``--preset`` values < options given on the command line. The default preset is
``paper`` (the reference recipe of arXiv 2601.14620; docs/reference-protocol.md lists where it is the same and
where it deviates); ``project`` is the dataclass defaults with the recommended speaker-independent split; ``none``
applies nothing on top of the defaults.

The reference recipe (``--preset paper``): Qwen/Qwen2-Audio-7B-Instruct in fp16; LoRA r 8 / α 16 / dropout 0.2 on
q/k/v/o projections; attention-pooling head; JS divergence (natural log) + 0.08 × mean prediction entropy; AdamW,
lr 2.5e-6, cosine with restarts, warm-up 15 %, weight decay 0.03, gradient clipping 3.0, batch 8 × 8 accumulation,
up to 60 epochs, early stopping with patience 8 on validation loss, the two newest checkpoints kept; audio 16 kHz up
to 30 s with the reference's light audio augmentation, text up to 512 tokens; the reference training prompt (it
names the speaker); 10 % of training held out for validation; DiME-Aug on the training part; random 80/20 utterance
split, seed 42. The ``project`` preset differs from it in the split (speaker-independent), the prompt (the project
prompt, no speaker: with a speaker-independent split the test speakers are never seen in training), no audio
augmentation, no checkpoint rotation and the mixed precision (the accelerate config's).

>>> cfg = parse_args(["--dataset", "d", "--target", "human_dist"])
>>> cfg.preset, cfg.split, cfg.learning_rate, cfg.lora_r, cfg.mixed_precision, cfg.prompt, cfg.audio_augment
('paper', 'random', 2.5e-06, 8, 'fp16', 'reference', True)
>>> parse_args(["--dataset", "d", "--preset", "project"]).split
'speaker'
>>> parse_args(["--dataset", "d", "--split", "speaker"]).split  # the command line wins over the preset
'speaker'
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Sequence, get_args, get_origin, get_type_hints

from hf_ambiguity.training.head import HEAD_KINDS
from hf_ambiguity.training.losses import LOSS_NAMES

__all__ = ["TrainingArguments", "PRESETS", "PRESET_NAMES", "SPLIT_KINDS", "parse_args", "build_parser",
           "add_training_arguments", "training_argv", "sampler_multipliers"]

from hf_ambiguity.splits import SPLIT_KINDS  # noqa: E402  (the split protocols are defined once)
PRESET_NAMES = ("paper", "project", "none")


@dataclass(frozen=True)
class TrainingArguments:
    """Every option of a training run. Field docs are the ``--help`` texts."""

    # --- data -------------------------------------------------------------------------------------------------
    dataset: str = field(default="", metadata={"help": "Hub dataset id, local dataset folder, or save_to_disk folder."})
    dataset_config: str | None = field(default=None, metadata={"help": "Dataset configuration name (load_dataset)."})
    target: str = field(default="combined_dist", metadata={
        "help": "Target distribution column: human_dist, synthetic_dist (<name>_dist) or combined_dist."})
    human_column: str = field(default="human_dist", metadata={
        "help": "Human distribution column every model is also scored against on the test split."})
    split: Literal["random", "speaker", "dataset"] = field(default="speaker", metadata={
        "help": "random: 80/20 by utterance (reference); speaker: IEMOCAP leave-one-session-out / MSP-Podcast "
                "official partitions; dataset: the dataset's own train/validation/test splits."})
    test_fraction: float = field(default=0.2, metadata={"help": "Test share of the random split."})
    split_seed: int = field(default=42, metadata={"help": "Seed of the random split and the validation hold-out."})
    test_session: int = field(default=5, metadata={"help": "IEMOCAP session held out as test (speaker split)."})
    test_partition: str = field(default="Test1", metadata={"help": "MSP-Podcast partition used as test."})
    validation_fraction: float = field(default=0.1, metadata={"help": "Share of the training part held out."})
    num_classes: int | None = field(default=None, metadata={
        "help": "Expected class count (checked against the dataset's class set before training)."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N training rows (debug)."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep the first N val/test rows (debug)."})
    sampling_rate: int = field(default=16000, metadata={"help": "Audio sampling rate (Hz)."})
    max_audio_seconds: float = field(default=30.0, metadata={"help": "Audio longer than this is cut."})
    max_text_tokens: int = field(default=512, metadata={"help": "Token budget of the text part of the prompt."})
    include_transcript: bool = field(default=True, metadata={"help": "Put the transcript in the user prompt."})
    dime_aug: bool = field(default=True, metadata={"help": "DiME-Aug on the training part."})
    dime_ratio: float = field(default=0.3, metadata={"help": "DiME-Aug top-up ratio of the majority count."})
    dime_k: int = field(default=3, metadata={"help": "DiME-Aug nearest neighbours."})
    weighted_sampler: bool = field(default=False, metadata={"help": "Sample training rows inversely to class size."})
    sampler_multipliers: tuple[str, ...] = field(default=(), metadata={
        "help": "Per-class factors of the weighted sampler, CLASS=FACTOR ... (e.g. neutral=0.8 angry=1.3; the "
                "reference's corpus-specific values); needs --weighted_sampler."})
    audio_augment: bool = field(default=False, metadata={
        "help": "The reference's light audio augmentation of training clips: 10 %% pitch shift by U(-1, 1) "
                "semitones, 10 %% time stretch by U(0.95, 1.05), seeded by (seed, epoch, row)."})
    prompt: Literal["project", "reference"] = field(default="project", metadata={
        "help": "Training prompt of the attention head: project (audio, then a short request; no speaker) or "
                "reference (the authors' prompt: transcript, the speaker's name, five rules, a JSON example; text "
                "before audio). The label_token head always asks the annotator's question."})
    # --- model ------------------------------------------------------------------------------------------------
    model: str = field(default="Qwen/Qwen2-Audio-7B-Instruct", metadata={"help": "Base ALM id or folder."})
    torch_dtype: Literal["float32", "float16", "bfloat16"] = field(default="float16", metadata={
        "help": "dtype of the frozen base weights (trainable LoRA/head parameters are float32)."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow model code from the Hub (off)."})
    head: Literal["attention", "label_token"] = field(default="attention", metadata={
        "help": "attention: the reference attention-pooling head; label_token: class-name probabilities."})
    head_num_heads: int = field(default=8, metadata={"help": "Heads of the head's self-attention."})
    head_dropout: float | None = field(default=None, metadata={
        "help": "Dropout inside the attention head (default: the reference's 0.15 in the residual block and 0.1 in "
                "the projection block; a value sets both)."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.2, metadata={"help": "LoRA dropout."})
    lora_target_modules: tuple[str, ...] = field(default=("q_proj", "k_proj", "v_proj", "o_proj"), metadata={
        "help": "Module names that get LoRA adapters."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute activations (saves memory)."})
    # --- optimisation -----------------------------------------------------------------------------------------
    loss: Literal["js_entropy", "kl", "soft_ce"] = field(default="js_entropy", metadata={
        "help": "js_entropy (reference), kl or soft_ce."})
    entropy_weight: float | None = field(default=None, metadata={
        "help": "Weight of the mean prediction entropy (default 0.08 for js_entropy, else 0)."})
    learning_rate: float = field(default=2.5e-6, metadata={"help": "AdamW learning rate."})
    weight_decay: float = field(default=0.03, metadata={"help": "AdamW weight decay (not on biases/norms)."})
    lr_scheduler: str = field(default="cosine_with_restarts", metadata={"help": "transformers scheduler name."})
    lr_num_cycles: int = field(default=1, metadata={"help": "Hard restarts of cosine_with_restarts."})
    warmup_ratio: float = field(default=0.15, metadata={"help": "Warm-up share of the optimisation steps."})
    max_grad_norm: float = field(default=3.0, metadata={"help": "Gradient clipping norm."})
    per_device_train_batch_size: int = field(default=8, metadata={"help": "Micro-batch size per device."})
    per_device_eval_batch_size: int = field(default=8, metadata={"help": "Evaluation batch size per device."})
    gradient_accumulation_steps: int = field(default=8, metadata={"help": "Micro-batches per optimizer step."})
    num_train_epochs: int = field(default=60, metadata={"help": "Maximum epochs."})
    max_train_steps: int | None = field(default=None, metadata={"help": "Optimizer steps (overrides epochs)."})
    early_stopping_patience: int = field(default=8, metadata={
        "help": "Stop after this many evaluations without a lower validation loss (0 = never)."})
    eval_steps: int = field(default=0, metadata={"help": "Evaluate every N optimizer steps (0 = every epoch)."})
    seed: int = field(default=42, metadata={"help": "Seed of the model init, dropout and data order."})
    mixed_precision: Literal["no", "fp16", "bf16"] | None = field(default=None, metadata={
        "help": "Accelerate mixed precision (default: the accelerate config / launch flag)."})
    dataloader_num_workers: int = field(default=0, metadata={"help": "DataLoader worker processes."})
    # --- output, checkpoints, tracking ------------------------------------------------------------------------
    output_dir: str = field(default="outputs/train", metadata={"help": "Where checkpoints and the model go."})
    checkpointing_steps: int | None = field(default=None, metadata={
        "help": "save_state to output_dir/step_N every N optimizer steps."})
    save_total_limit: int | None = field(default=None, metadata={
        "help": "Keep only the N newest checkpoints (plus the one at the best validation step); unset = keep all."})
    resume_from_checkpoint: str | None = field(default=None, metadata={
        "help": "'latest' (highest complete step_N) or a step_N folder."})
    logging_steps: int = field(default=1, metadata={"help": "Log the training loss every N optimizer steps."})
    report_to: Literal["tensorboard", "none", "all"] = field(default="tensorboard", metadata={
        "help": "Accelerate trackers."})
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the adapter + head to the Hub."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Hub repo id for --push_to_hub."})
    hub_public: bool = field(default=False, metadata={"help": "Make the pushed repo public (private by default)."})
    preset: Literal["paper", "project", "none"] = field(default="paper", metadata={
        "help": "paper: the reference recipe (random 80/20 split); project: speaker-independent split."})

    def resolved_config(self) -> dict[str, Any]:
        """Every option after presets and command line, JSON-serialisable (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["lora_target_modules"] = list(self.lora_target_modules)
        out["sampler_multipliers"] = list(self.sampler_multipliers)
        out["effective_entropy_weight"] = (
            self.entropy_weight if self.entropy_weight is not None else (0.08 if self.loss == "js_entropy" else 0.0))
        json.dumps(out)  # fail here, not at save time, if a field is not serialisable
        return out


#: Values a preset puts on top of the dataclass defaults (the defaults already hold the reference values).
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "model": "Qwen/Qwen2-Audio-7B-Instruct", "torch_dtype": "float16", "mixed_precision": "fp16",
        "head": "attention", "head_num_heads": 8, "head_dropout": None, "loss": "js_entropy", "entropy_weight": 0.08,
        "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.2,
        "lora_target_modules": ("q_proj", "k_proj", "v_proj", "o_proj"),
        "learning_rate": 2.5e-6, "lr_scheduler": "cosine_with_restarts", "warmup_ratio": 0.15,
        "weight_decay": 0.03, "max_grad_norm": 3.0, "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 8, "num_train_epochs": 60, "early_stopping_patience": 8,
        "sampling_rate": 16000, "max_audio_seconds": 30.0, "max_text_tokens": 512, "validation_fraction": 0.1,
        "dime_aug": True, "split": "random", "test_fraction": 0.2, "split_seed": 42, "num_classes": 4,
        "audio_augment": True, "prompt": "reference", "save_total_limit": 2,
    },
    "project": {"split": "speaker"},
    "none": {},
}


def _field_type(tp: Any) -> tuple[Any, tuple[str, ...] | None, bool]:
    """(scalar type, choices, is_tuple) of a field annotation."""
    args = [a for a in get_args(tp) if a is not type(None)]
    if get_origin(tp) is Literal:
        return str, tuple(get_args(tp)), False
    if args and get_origin(args[0]) is Literal:
        return str, tuple(get_args(args[0])), False
    if get_origin(tp) is tuple:
        return str, None, True
    base = args[0] if args else tp
    return base, None, False


def build_parser() -> argparse.ArgumentParser:
    """An argparse parser with one option per :class:`TrainingArguments` field; unset options stay unset (SUPPRESS)."""
    parser = argparse.ArgumentParser(
        prog="train", description="Fine-tune an audio-language model to predict emotion distributions.",
        argument_default=argparse.SUPPRESS,
    )
    add_training_arguments(parser)
    return parser


def add_training_arguments(parser: argparse.ArgumentParser | Any) -> None:
    """Add one option per :class:`TrainingArguments` field to ``parser`` (or an argument group), each defaulting to
    "not given" (``argparse.SUPPRESS``) so that presets can tell given options from defaults."""
    hints = get_type_hints(TrainingArguments)
    for f in fields(TrainingArguments):
        help_text = f.metadata.get("help", "")
        if f.name in PRESETS["paper"] and PRESETS["paper"][f.name] != f.default:
            default = f"default {PRESETS['paper'][f.name]} with --preset paper, {f.default} with --preset none"
        else:
            default = f"default {f.default}"
        tp, choices, is_tuple = _field_type(hints[f.name])
        if tp is bool:
            parser.add_argument(f"--{f.name}", dest=f.name, action="store_true", help=f"{help_text} ({default})",
                                default=argparse.SUPPRESS)
            parser.add_argument(f"--no_{f.name}", dest=f.name, action="store_false", help=f"Turn off --{f.name}.",
                                default=argparse.SUPPRESS)
        elif is_tuple:
            parser.add_argument(f"--{f.name}", nargs="+", type=str, help=f"{help_text} ({default})",
                                default=argparse.SUPPRESS)
        else:
            parser.add_argument(f"--{f.name}", type=tp, choices=choices, help=f"{help_text} ({default})",
                                default=argparse.SUPPRESS)


def training_argv(given: dict[str, Any]) -> list[str]:
    """The command line that gives exactly the options in ``given`` (a parsed namespace's ``vars``, options not
    given absent), for relaunching the training script: ``parse_args(training_argv(vars(ns)))`` sees the same options.

    >>> training_argv({"dataset": "d", "dime_aug": False, "lora_target_modules": ["q_proj", "v_proj"], "x": 1})
    ['--dataset', 'd', '--no_dime_aug', '--lora_target_modules', 'q_proj', 'v_proj']
    """
    hints = get_type_hints(TrainingArguments)
    argv: list[str] = []
    for f in fields(TrainingArguments):
        if f.name not in given:
            continue
        value = given[f.name]
        tp, _, is_tuple = _field_type(hints[f.name])
        if tp is bool:
            argv.append(f"--{f.name}" if value else f"--no_{f.name}")
        elif is_tuple:
            argv += [f"--{f.name}", *[str(v) for v in value]]
        else:
            argv += [f"--{f.name}", str(value)]
    return argv


def parse_args(argv: Sequence[str] | None = None) -> TrainingArguments:
    """Parse the command line into a :class:`TrainingArguments` (defaults < preset < command line)."""
    parser = build_parser()
    given = vars(parser.parse_args(argv))
    preset = given.get("preset", TrainingArguments.preset)
    values: dict[str, Any] = dict(PRESETS[preset])
    values.update(given)
    for name in ("lora_target_modules", "sampler_multipliers"):
        if name in values:
            values[name] = tuple(values[name])
    if not values.get("dataset"):
        parser.error("--dataset is required (a Hub dataset id, a local dataset folder or a save_to_disk folder)")
    cfg = TrainingArguments(**values)
    _check(cfg, parser)
    return cfg


def sampler_multipliers(cfg: TrainingArguments) -> dict[str, float]:
    """``--sampler_multipliers neutral=0.8 angry=1.3`` as ``{"neutral": 0.8, "angry": 1.3}`` (``ValueError`` if
    malformed; class names are checked against the dataset when the weights are computed)."""
    out: dict[str, float] = {}
    for item in cfg.sampler_multipliers:
        name, sep, value = item.partition("=")
        try:
            factor = float(value)
        except ValueError:
            factor = -1.0
        if not sep or not name or not factor >= 0:
            raise ValueError(f"--sampler_multipliers: {item!r} is not CLASS=FACTOR with a non-negative FACTOR "
                             "(e.g. angry=1.3)")
        out[name] = factor
    return out


def _check(cfg: TrainingArguments, parser: argparse.ArgumentParser) -> None:
    """Option values that argparse cannot check (ranges, combinations)."""
    if cfg.head not in HEAD_KINDS or cfg.loss not in LOSS_NAMES or cfg.split not in SPLIT_KINDS:  # pragma: no cover
        parser.error("invalid --head/--loss/--split")
    for name in ("validation_fraction", "test_fraction"):
        v = getattr(cfg, name)
        if not 0.0 <= v < 1.0:
            parser.error(f"--{name} must be in [0, 1), got {v}")
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps",
                 "num_train_epochs", "logging_steps", "lora_r"):
        if getattr(cfg, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(cfg, name)}")
    for name in ("max_train_steps", "checkpointing_steps", "save_total_limit"):
        v = getattr(cfg, name)
        if v is not None and v < 1:
            parser.error(f"--{name} must be at least 1, got {v}")
    try:
        sampler_multipliers(cfg)
    except ValueError as err:
        parser.error(str(err))
    if cfg.sampler_multipliers and not cfg.weighted_sampler:
        parser.error("--sampler_multipliers needs --weighted_sampler")
    if cfg.push_to_hub and not cfg.hub_model_id:
        parser.error("--push_to_hub needs --hub_model_id <user>/<repo>")
