"""Training data: load the dataset, split it, check the target column, and batch utterances for the model.

Splits (``--split`` ``random`` / ``speaker`` / ``dataset``, then a validation hold-out of the training part) are
:func:`hf_ambiguity.splits.train_validation_test`, the same code the pipeline and ``hf-ambiguity augment`` use; the
run's report names the one used. DiME-Aug then runs on the training part only.

Bad input is refused here, before any model is loaded: a missing target column, rows whose target is missing, has
the wrong length or is not a distribution (:func:`hf_ambiguity.distributions.validate_distributions`), an empty
split, a class count different from ``--num_classes``, a ``--prompt reference`` without a ``speaker`` column, bad
``--sampler_multipliers``.

:func:`make_dataloaders` turns the prepared splits into the three ``DataLoader`` s of a run. The training order is a
pure function of ``(seed, epoch)`` (:class:`EpochSampler`) and the audio augmentation of a row a pure function of
``(seed, epoch, row)``: what makes a resumed run repeat an uninterrupted one, and a run on several processes
repeat a single-process run (Accelerate gives process *p* the batches ``p, p + P, ...`` of that one order).

Audio augmentation (``--audio_augment``) follows the reference's distribution: each training clip is left as it
is with probability 0.8, pitch-shifted by U(-1, 1) semitones with probability 0.1 and time-stretched by a rate
U(0.95, 1.05) with probability 0.1 (the reference considers a clip with probability 0.3 and then picks pitch,
stretch or nothing uniformly). Validation and test clips are never augmented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from hf_ambiguity.audio import waveform
from hf_ambiguity.distributions import validate_distributions
from hf_ambiguity.errors import DataError, DistributionError, SplitError
from hf_ambiguity.splits import train_validation_test
from hf_ambiguity.schema import class_names as dataset_class_names

__all__ = [
    "TrainingDataError", "SplitInfo", "PreparedData", "load_any_dataset", "validate_target", "prepare_data",
    "DistributionRows", "DistributionCollator", "EpochSampler", "make_dataloaders", "reference_audio_augment",
    "REFERENCE_AUGMENT_P",
]

#: Probability that the reference's augmentation changes a training clip (0.3 x 2/3: pitch or stretch, not "none").
REFERENCE_AUGMENT_P = 0.2


class TrainingDataError(DataError):
    """The training data cannot be used as asked; the message says which split/column/row and what to do."""


@dataclass(frozen=True)
class SplitInfo:
    """How the data was split, for the run's report."""

    kind: str
    description: str
    sizes: dict[str, int]
    class_names: tuple[str, ...]
    dime_aug: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "description": self.description, "sizes": dict(self.sizes),
                "class_names": list(self.class_names), "dime_aug": self.dime_aug}


@dataclass(frozen=True)
class PreparedData:
    """The checked splits of a run (``train`` DiME-augmented when asked), how they were made, the class names, and
    the training rows' sampling weights (``--weighted_sampler``; ``None`` otherwise)."""

    splits: dict[str, Any]
    info: SplitInfo
    train_weights: Any = None

    @property
    def class_names(self) -> list[str]:
        return list(self.info.class_names)


def load_any_dataset(name: str, config_name: str | None = None):
    """A ``DatasetDict`` from a ``save_to_disk`` folder, a local dataset folder or a Hub id (offline if set).

    A single ``Dataset`` is returned as ``{"train": dataset}``.
    """
    from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

    path = Path(name)
    if path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
        ds = load_from_disk(str(path))
    else:
        try:
            ds = load_dataset(name, config_name)
        except FileNotFoundError as err:
            raise TrainingDataError(
                f"--dataset {name!r}: no local folder or reachable Hub dataset of that name ({err}); pass a folder "
                "written by `hf-ambiguity build`/save_to_disk or a Hub id (log in for private datasets)"
            ) from err
    if isinstance(ds, Dataset):
        ds = DatasetDict({"train": ds})
    return ds


def validate_target(ds, *, split: str, column: str, n_classes: int, option: str = "--target") -> np.ndarray:
    """The column as a float64 ``(n_rows, n_classes)`` array, or :class:`TrainingDataError` naming the bad row.

    ``option`` is the command-line option that named the column (``--target`` or ``--human_column``), for the hint.
    """
    if len(ds) == 0:
        raise TrainingDataError(f"split {split!r} is empty: nothing to train or evaluate on; check the split options")
    if column not in ds.column_names:
        raise TrainingDataError(
            f"split {split!r} has no column {column!r} (columns: {ds.column_names}); pick {option} among the "
            "*_dist columns, e.g. human_dist, or annotate/merge the dataset first")
    values = ds[column]
    ids = ds["id"] if "id" in ds.column_names else None

    def where(i: int) -> str:
        return f"split {split!r} row {i}" + (f" (id {ids[i]!r})" if ids is not None else "")

    for i, v in enumerate(values):
        if v is None:
            raise TrainingDataError(f"{where(i)}: {column!r} is missing; drop unlabelled rows or pick another {option}")
        if len(v) != n_classes:
            raise TrainingDataError(
                f"{where(i)}: {column!r} has {len(v)} entries but the class set has {n_classes}; the target must "
                "follow the dataset's class order (majority_label names)")
    try:
        return validate_distributions(np.asarray(values, dtype=np.float64), n_classes=n_classes, name=column)
    except DistributionError as err:
        raise TrainingDataError(f"{where(err.row)}: {err}; fix or drop the row, or renormalise the column") from None


def prepare_data(cfg: Any) -> PreparedData:
    """Load, split, hold out validation, check and DiME-Aug the data of a :class:`TrainingArguments`.

    Every check runs before DiME-Aug and before any model is loaded.
    """
    from datasets import Audio

    dsdict = load_any_dataset(cfg.dataset, cfg.dataset_config)
    first = dsdict[sorted(dsdict)[0]]
    try:
        names = tuple(dataset_class_names(first))
    except ValueError as err:
        raise TrainingDataError(str(err)) from None
    if cfg.num_classes is not None and len(names) != cfg.num_classes:
        raise TrainingDataError(
            f"the dataset has {len(names)} classes {list(names)} but --num_classes is {cfg.num_classes} "
            "(the paper preset uses the 4-class subset); build the dataset with a 4-class set or pass "
            "--num_classes to match")
    if cfg.prompt == "reference" and len(names) < 4:
        raise TrainingDataError(f"the reference prompt's example names classes 0, 1 and 3, but the dataset has "
                                f"{len(names)} classes {list(names)}; pass --prompt project")
    try:
        splits, description = train_validation_test(
            dsdict, kind=cfg.split, test_fraction=cfg.test_fraction, seed=cfg.split_seed,
            test_session=cfg.test_session, test_partition=cfg.test_partition,
            validation_fraction=cfg.validation_fraction)
    except SplitError as err:
        raise TrainingDataError(str(err)) from None
    if cfg.max_train_samples:
        splits["train"] = splits["train"].select(range(min(cfg.max_train_samples, len(splits["train"]))))
    if cfg.max_eval_samples:
        for k in ("validation", "test"):
            splits[k] = splits[k].select(range(min(cfg.max_eval_samples, len(splits[k]))))
    for name in ("train", "validation", "test"):
        validate_target(splits[name], split=name, column=cfg.target, n_classes=len(names))
    for name in ("validation", "test"):  # every model is also scored against the human distributions
        validate_target(splits[name], split=name, column=cfg.human_column, n_classes=len(names),
                        option="--human_column")
    for name in ("train", "validation", "test"):
        if "audio" not in splits[name].column_names:
            raise TrainingDataError(f"split {name!r} has no 'audio' column; the model needs the recordings")
        if cfg.prompt == "reference" and "speaker" not in splits[name].column_names:
            raise TrainingDataError(f"split {name!r} has no 'speaker' column, which the reference prompt names "
                                    "(--prompt reference, set by --preset paper); pass --prompt project")
    aug_report: dict[str, Any] = {"applied": False}
    if cfg.dime_aug:
        from hf_ambiguity.augment import dime_aug

        before = len(splits["train"])
        try:
            splits["train"], report = dime_aug(splits["train"], cfg.target, ratio=cfg.dime_ratio, k=cfg.dime_k,
                                               seed=cfg.seed)
        except ValueError as err:  # e.g. an already augmented dataset, an invalid other *_dist column
            raise TrainingDataError(f"DiME-Aug on split 'train': {err}; fix the data, or pass --no_dime_aug to "
                                    "train without it") from None
        aug_report = {"applied": True, "rows_before": before, "rows_after": len(splits["train"]),
                      "report": _jsonable(report)}
    for k in splits:
        splits[k] = splits[k].cast_column("audio", Audio(sampling_rate=cfg.sampling_rate))
    weights = None
    if cfg.weighted_sampler:
        from hf_ambiguity.augment.sampler import dataset_sample_weights
        from hf_ambiguity.training.config import sampler_multipliers

        try:
            weights = dataset_sample_weights(splits["train"], cfg.target, multipliers=sampler_multipliers(cfg))
        except ValueError as err:
            raise TrainingDataError(f"--weighted_sampler: {err}") from None
    info = SplitInfo(cfg.split, description, {k: len(v) for k, v in splits.items()}, names, aug_report)
    return PreparedData(splits, info, weights)


def _jsonable(obj: Any) -> Any:
    import dataclasses
    import json

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    try:
        json.dumps(obj)
        return obj
    except TypeError:
        return json.loads(json.dumps(obj, default=str))


class DistributionRows:
    """A torch-style dataset over a split: ``row i -> {"index", "audio", "transcript", "speaker", "target", ...}``.

    ``augment(waveform, item_seed) -> waveform`` (training only) gets a seed derived from ``(seed, epoch, index)``, so
    the same epoch and row always get the same augmentation — what makes resumed runs repeat uninterrupted ones.
    """

    def __init__(self, ds, *, target: str, sampling_rate: int, max_audio_seconds: float, extra: Sequence[str] = (),
                 augment: Callable[[np.ndarray, int], np.ndarray] | None = None, seed: int = 0):
        keep = ["audio", target] + [c for c in ("transcript", "speaker") if c in ds.column_names] + list(extra)
        self.ds = ds.select_columns(list(dict.fromkeys(keep)))
        self.target, self.extra = target, list(extra)
        self.sampling_rate, self.max_samples = sampling_rate, int(max_audio_seconds * sampling_rate)
        self.augment, self.seed, self.epoch = augment, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = self.ds[int(i)]
        y = waveform(row["audio"], expected_rate=self.sampling_rate)[0][: self.max_samples]
        if self.augment is not None:
            item_seed = int(np.random.SeedSequence([self.seed, self.epoch, int(i)]).generate_state(1)[0])
            y = self.augment(y, item_seed)
        item = {"index": int(i), "audio": y, "transcript": row.get("transcript") or "",
                "speaker": row.get("speaker"), "target": np.asarray(row[self.target], dtype=np.float32)}
        for c in self.extra:
            item[c] = row[c]
        return item


class DistributionCollator:
    """Rows → model inputs: chat prompt + audio through the processor, plus ``target`` ``(batch, n_classes)``.

    ``padding_side`` is ``"right"`` for the attention head (its first token is then always real) and ``"left"`` for
    the label-token head (the answer follows the last prompt token). ``prompt`` is ``"project"`` or ``"reference"``
    (:mod:`hf_ambiguity.training.prompt`); the label-token head always uses the annotator's prompt.
    """

    def __init__(self, processor: Any, class_names: Sequence[str], *, head: str = "attention",
                 include_transcript: bool = True, max_text_tokens: int = 512, sampling_rate: int = 16000,
                 prompt: str = "project"):
        self.processor, self.class_names, self.head = processor, list(class_names), head
        self.include_transcript, self.sampling_rate, self.prompt = include_transcript, sampling_rate, prompt
        self.padding_side = "left" if head == "label_token" else "right"
        self.max_text_tokens = max_text_tokens
        self._budgets: dict[Any, int] = {}
        self.transcript_budget = self._budget(None)

    def _budget(self, speaker: Any) -> int:
        """Tokens left for the transcript: the prompt's tokens around it (the transcript line included, measured
        with a one-token stand-in; the speaker's name counts too) taken from ``max_text_tokens``."""
        if speaker not in self._budgets:
            overhead = len(self._tokens(self._text("x", speaker))) - len(self._tokens("x"))
            if self.max_text_tokens - overhead < 0:
                from hf_ambiguity.errors import ConfigError

                raise ConfigError(f"--max_text_tokens {self.max_text_tokens} is below the {self.prompt} prompt's own "
                                  f"length ({overhead} tokens with this tokenizer); raise it", key="max_text_tokens")
            self._budgets[speaker] = self.max_text_tokens - overhead
        return self._budgets[speaker]

    def _messages(self, transcript: str, speaker: Any) -> list[dict[str, Any]]:
        if self.head == "label_token":
            from hf_ambiguity.alm.prompts import build_messages as annotator_messages

            return annotator_messages(transcript or None, None, self.class_names, None)
        from hf_ambiguity.training.prompt import build_messages

        return build_messages(self.class_names, transcript or None, speaker=speaker, prompt=self.prompt)

    def _text(self, transcript: str, speaker: Any = None) -> str:
        return self.processor.apply_chat_template(self._messages(transcript, speaker), add_generation_prompt=True,
                                                  tokenize=False)

    def _tokens(self, text: str) -> list[int]:
        return self.processor.tokenizer(text, add_special_tokens=False)["input_ids"]

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        from hf_ambiguity.training.prompt import truncate_transcript

        texts = []
        for r in rows:
            t = r["transcript"] if self.include_transcript else ""
            speaker = r.get("speaker")
            texts.append(self._text(truncate_transcript(self.processor.tokenizer, t, self._budget(speaker)), speaker))
        tok = self.processor.tokenizer
        old_side, tok.padding_side = tok.padding_side, self.padding_side
        try:
            enc = self.processor(text=texts, audio=[r["audio"] for r in rows], sampling_rate=self.sampling_rate,
                                 padding=True, return_tensors="pt")
        finally:
            tok.padding_side = old_side
        batch = {k: v for k, v in enc.items()}
        batch["target"] = torch.from_numpy(np.stack([r["target"] for r in rows]))
        batch["index"] = torch.tensor([r["index"] for r in rows], dtype=torch.long)
        return batch


class EpochSampler:
    """Row order of an epoch = a pure function of ``(seed, epoch)``: a permutation, or weighted draws with
    replacement when ``weights`` are given (the weighted sampler). ``set_epoch`` is called through Accelerate's
    ``DataLoader.set_epoch``.

    >>> s = EpochSampler(5, seed=3); s.set_epoch(1); a = list(s); s.set_epoch(1)
    >>> list(s) == a and sorted(a) == [0, 1, 2, 3, 4]
    True
    """

    def __init__(self, n: int, *, seed: int, weights: Sequence[float] | None = None) -> None:
        self.n, self.seed, self.epoch = int(n), int(seed), 0
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        import torch

        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + self.epoch)
        if self.weights is None:
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.multinomial(torch.as_tensor(self.weights), self.n, replacement=True, generator=g)
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.n


def reference_audio_augment(sampling_rate: int) -> Callable[[np.ndarray, int], np.ndarray]:
    """``augment(waveform, item_seed)`` with the reference's distribution (see the module docstring)."""
    from hf_ambiguity.augment.sampler import RandomAudioAugment

    def augment(y: np.ndarray, item_seed: int) -> np.ndarray:
        return RandomAudioAugment(p=REFERENCE_AUGMENT_P, semitones=1.0, stretch_range=(0.95, 1.05),
                                  sampling_rate=sampling_rate, seed=item_seed)(y)

    return augment


def make_dataloaders(cfg: Any, data: PreparedData, processor: Any):
    """``(train, validation, test)`` DataLoaders of a run (not yet prepared by Accelerate).

    Training rows come in :class:`EpochSampler` order (weighted when ``--weighted_sampler``), augmented when
    ``--audio_augment``; validation and test rows in dataset order. The collator builds the ``--prompt``.
    """
    import torch
    from torch.utils.data import DataLoader

    collator = DistributionCollator(processor, data.class_names, head=cfg.head, prompt=cfg.prompt,
                                    include_transcript=cfg.include_transcript, max_text_tokens=cfg.max_text_tokens,
                                    sampling_rate=cfg.sampling_rate)
    augment = reference_audio_augment(cfg.sampling_rate) if cfg.audio_augment else None

    def loader(split: str, batch_size: int, sampler: Any = None) -> DataLoader:
        rows = DistributionRows(data.splits[split], target=cfg.target, sampling_rate=cfg.sampling_rate,
                                max_audio_seconds=cfg.max_audio_seconds, seed=cfg.seed,
                                augment=augment if split == "train" else None)
        g = torch.Generator()
        g.manual_seed(cfg.seed)
        return DataLoader(rows, batch_size=batch_size, sampler=sampler(len(rows)) if sampler else None,
                          shuffle=False, collate_fn=collator, num_workers=cfg.dataloader_num_workers, generator=g)

    train = loader("train", cfg.per_device_train_batch_size,
                   lambda n: EpochSampler(n, seed=cfg.seed, weights=data.train_weights))
    return (train, loader("validation", cfg.per_device_eval_batch_size),
            loader("test", cfg.per_device_eval_batch_size))
