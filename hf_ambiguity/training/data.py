"""Training data: load the dataset, split it, check the target column, and batch utterances for the model.

Splits (``--split`` ``random`` / ``speaker`` / ``dataset``, then a validation hold-out of the training part) are
:func:`hf_ambiguity.splits.train_validation_test`, the same code the pipeline and ``hf-ambiguity augment`` use; the
run's report names the one used. DiME-Aug then runs on the training part only.

Bad input is refused here, before any model is loaded: a missing target column, rows whose target is missing, has
the wrong length or is not a distribution (:func:`hf_ambiguity.distributions.validate_distributions`), an empty
split, a class count different from ``--num_classes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from hf_ambiguity.audio import waveform
from hf_ambiguity.distributions import validate_distributions
from hf_ambiguity.errors import DataError, DistributionError, SplitError
from hf_ambiguity.splits import train_validation_test
from hf_ambiguity.schema import class_names as dataset_class_names

__all__ = [
    "TrainingDataError", "SplitInfo", "load_any_dataset", "validate_target", "prepare_data",
    "DistributionRows", "DistributionCollator",
]


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


def prepare_data(cfg: Any) -> tuple[dict[str, Any], SplitInfo]:
    """Load, split, hold out validation, check and DiME-Aug the data of a :class:`TrainingArguments`.

    Returns ``({"train", "validation", "test"} datasets, SplitInfo)``. Every check runs before DiME-Aug.
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
    info = SplitInfo(cfg.split, description, {k: len(v) for k, v in splits.items()}, names, aug_report)
    return splits, info


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
    """A torch-style dataset over a split: ``row i -> {"index", "audio", "transcript", "target"[, "human"]}``.

    ``augment(waveform, item_seed) -> waveform`` (training only) gets a seed derived from ``(seed, epoch, index)``, so
    the same epoch and row always get the same augmentation — what makes resumed runs repeat uninterrupted ones.
    """

    def __init__(self, ds, *, target: str, sampling_rate: int, max_audio_seconds: float, extra: Sequence[str] = (),
                 augment: Callable[[np.ndarray, int], np.ndarray] | None = None, seed: int = 0):
        keep = ["audio", target] + [c for c in ("transcript",) if c in ds.column_names] + list(extra)
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
                "target": np.asarray(row[self.target], dtype=np.float32)}
        for c in self.extra:
            item[c] = row[c]
        return item


class DistributionCollator:
    """Rows → model inputs: chat prompt + audio through the processor, plus ``target`` ``(batch, n_classes)``.

    ``padding_side`` is ``"right"`` for the attention head (its first token is then always real) and ``"left"`` for
    the label-token head (the answer follows the last prompt token).
    """

    def __init__(self, processor: Any, class_names: Sequence[str], *, head: str = "attention",
                 include_transcript: bool = True, max_text_tokens: int = 512, sampling_rate: int = 16000):
        self.processor, self.class_names, self.head = processor, list(class_names), head
        self.include_transcript, self.sampling_rate = include_transcript, sampling_rate
        self.padding_side = "left" if head == "label_token" else "right"
        # prompt tokens around a transcript (the "Transcript:" line included), measured with a one-token stand-in
        overhead = len(self._tokens(self._text("x"))) - len(self._tokens("x"))
        self.transcript_budget = max_text_tokens - overhead
        if self.transcript_budget < 0:
            raise ValueError(f"--max_text_tokens {max_text_tokens} is below the prompt's own length ({overhead} "
                             "tokens); raise it")

    def _messages(self, transcript: str) -> list[dict[str, Any]]:
        if self.head == "label_token":
            from hf_ambiguity.alm.prompts import build_messages as annotator_messages

            return annotator_messages(transcript or None, None, self.class_names, None)
        from hf_ambiguity.training.prompt import build_messages

        return build_messages(self.class_names, transcript or None)

    def _text(self, transcript: str) -> str:
        return self.processor.apply_chat_template(self._messages(transcript), add_generation_prompt=True,
                                                  tokenize=False)

    def _tokens(self, text: str) -> list[int]:
        return self.processor.tokenizer(text, add_special_tokens=False)["input_ids"]

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        from hf_ambiguity.training.prompt import truncate_transcript

        texts = []
        for r in rows:
            t = r["transcript"] if self.include_transcript else ""
            texts.append(self._text(truncate_transcript(self.processor.tokenizer, t, self.transcript_budget)))
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
