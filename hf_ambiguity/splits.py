"""Train / validation / test splits: the one definition of every split protocol, shared by the pipeline, the
``augment`` command and the training script.

- ``random`` (the reference): every row of every split pooled, then ``1 - test_fraction`` / ``test_fraction`` by
  utterance with ``datasets.Dataset.train_test_split(seed=seed)``; speakers overlap train and test.
- ``speaker`` (the project's default): IEMOCAP leave-one-session-out (``session == test_session`` is the test set)
  or MSP-Podcast's official partitions (``split`` column: Train / Development (or Validation) / ``test_partition``).
- ``dataset``: the dataset's own ``train`` / ``validation`` / ``test`` splits.

Validation is held out of the training part *before* any augmentation (:func:`split_train_validation`), so that
validation and test rows can never be DiME-Aug sources; :func:`train_validation_test` does both steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hf_ambiguity.errors import SplitError

__all__ = ["SPLIT_KINDS", "pool_splits", "make_splits", "split_train_validation", "train_validation_test"]

SPLIT_KINDS = ("random", "speaker", "dataset")


def pool_splits(dsdict: Any) -> Any:
    """Every split of a ``DatasetDict`` as one ``Dataset`` (splits in name order; a ``Dataset`` is returned as is)."""
    from datasets import Dataset, concatenate_datasets

    if isinstance(dsdict, Dataset):
        return dsdict
    parts = [dsdict[k] for k in sorted(dsdict)]
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def make_splits(dsdict: Any, *, kind: str, test_fraction: float = 0.2, seed: int = 42, test_session: int = 5,
                test_partition: str = "Test1") -> tuple[dict[str, Any], str]:
    """``({"train": ..., "test": ..., ["validation": ...]}, description)`` for split ``kind`` (see the module
    docstring); :class:`~hf_ambiguity.errors.SplitError` when the protocol cannot be applied to this data."""
    if kind == "random":
        pooled = pool_splits(dsdict)
        if len(pooled) < 2:
            raise SplitError(f"the dataset has {len(pooled)} row(s); a random split needs at least 2")
        parts = pooled.train_test_split(test_size=test_fraction, seed=seed, shuffle=True)
        return ({"train": parts["train"], "test": parts["test"]},
                f"random {round((1 - test_fraction) * 100)}/{round(test_fraction * 100)} split by utterance "
                f"(seed {seed}) of all {len(pooled)} rows (reference protocol; speakers overlap train and test)")
    if kind == "speaker":
        pooled = pool_splits(dsdict)
        cols = pooled.column_names
        if "session" in cols:
            sessions = np.asarray(pooled["session"])
            if not (sessions == test_session).any():
                raise SplitError(
                    f"--test_session {test_session}: no row has session {test_session} "
                    f"(sessions present: {sorted(set(sessions.tolist()))})")
            test_idx = np.flatnonzero(sessions == test_session).tolist()
            train_idx = np.flatnonzero(sessions != test_session).tolist()
            return ({"train": pooled.select(train_idx), "test": pooled.select(test_idx)},
                    f"speaker-independent: IEMOCAP leave-one-session-out, session {test_session} is the test set")
        if "split" in cols:
            parts = np.asarray(pooled["split"])
            present = sorted(set(parts.tolist()))
            val_name = next((v for v in ("Development", "Validation") if v in present), None)
            if "Train" not in present or test_partition not in present:
                raise SplitError(
                    f"MSP-Podcast partitions: need 'Train' and --test_partition {test_partition!r} in column "
                    f"'split', found {present}")
            out = {"train": pooled.select(np.flatnonzero(parts == "Train").tolist()),
                   "test": pooled.select(np.flatnonzero(parts == test_partition).tolist())}
            if val_name:
                out["validation"] = pooled.select(np.flatnonzero(parts == val_name).tolist())
            return out, (f"speaker-independent: MSP-Podcast official partitions (Train / {val_name or 'held-out'} "
                         f"/ {test_partition})")
        raise SplitError(
            "--split speaker needs a 'session' column (IEMOCAP) or a 'split' column (MSP-Podcast partitions); "
            "this dataset has neither: use --split random or --split dataset")
    if kind == "dataset":
        if "train" not in dsdict or "test" not in dsdict:
            raise SplitError(
                f"--split dataset needs 'train' and 'test' splits, the dataset has {sorted(dsdict)}; "
                "use --split random or --split speaker")
        out = {"train": dsdict["train"], "test": dsdict["test"]}
        if "validation" in dsdict:
            out["validation"] = dsdict["validation"]
        return out, f"the dataset's own splits {sorted(out)}"
    raise ValueError(f"split must be one of ['random', 'speaker', 'dataset'], got {kind!r}")


def split_train_validation(dataset: Any, validation_fraction: float = 0.1, seed: int = 42) -> Any:
    """Take a validation split out of a training ``Dataset`` *before* augmentation: ``DatasetDict(train, validation)``.

    Random utterance split with ``Dataset.train_test_split(seed=seed)``; augment only the returned ``"train"``.
    """
    import datasets

    if isinstance(dataset, datasets.DatasetDict):
        raise TypeError("split_train_validation takes the training Dataset (e.g. dsdict['train']), not a DatasetDict")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    if len(dataset) < 2:
        raise ValueError(f"cannot split {len(dataset)} row(s) into train and validation; at least 2 are needed")
    parts = dataset.train_test_split(test_size=validation_fraction, seed=seed, shuffle=True)
    return datasets.DatasetDict({"train": parts["train"], "validation": parts["test"]})


def train_validation_test(dsdict: Any, *, kind: str, test_fraction: float = 0.2, seed: int = 42,
                          test_session: int = 5, test_partition: str = "Test1", validation_fraction: float = 0.1,
                          validation_seed: int | None = None) -> tuple[dict[str, Any], str]:
    """:func:`make_splits`, then (unless the protocol defines one) ``validation_fraction`` of the training part held
    out as validation (seed ``validation_seed``, default ``seed``). Empty splits raise
    :class:`~hf_ambiguity.errors.SplitError`. Returns ``({"train", "validation", "test"}, description)``.
    """
    splits, description = make_splits(dsdict, kind=kind, test_fraction=test_fraction, seed=seed,
                                      test_session=test_session, test_partition=test_partition)
    for name, part in splits.items():
        if len(part) == 0:
            raise SplitError(f"split {name!r} is empty ({description}): nothing to train or evaluate on; check the "
                             "split options")
    if "validation" not in splits:
        if len(splits["train"]) < 2:
            raise SplitError(f"split 'train' has {len(splits['train'])} row(s): too few to hold out validation")
        parts = split_train_validation(splits["train"], validation_fraction=validation_fraction,
                                       seed=seed if validation_seed is None else validation_seed)
        splits["train"], splits["validation"] = parts["train"], parts["validation"]
        description += f"; {validation_fraction:.0%} of the training part held out for validation"
    return splits, description
