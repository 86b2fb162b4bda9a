"""Training-time balancing options: weighted random sampling and light on-the-fly audio augmentation.

Neither is the authors' training as run: their code builds a weighted sampler with per-class multipliers but never
hands it to its Trainer (which samples uniformly), and its audio augmentation picks pitch shift, time stretch or
nothing with equal chances inside its 30 % (10 % each), where :class:`RandomAudioAugment` below picks pitch or
stretch with equal chances (15 % each); see ``docs/reference-protocol.md``.

:func:`class_sample_weights` gives one weight per training row, ``multiplier[class] / count[class]`` (class = argmax
of the target distribution), to pass to ``torch.utils.data.WeightedRandomSampler(weights, num_samples=len(weights),
replacement=True)`` (:func:`weighted_sampler` builds exactly that). With all multipliers 1 every class is drawn
equally often in expectation; a multiplier above 1 favours its class further.

:class:`RandomAudioAugment` is the callable the training loop applies to each waveform: with probability ``p``
(default 0.3) either a pitch shift of up to ±1 semitone or a time stretch at rate 0.95–1.05, each with probability
1/2, via ``librosa.effects``; otherwise the waveform is returned unchanged.

>>> class_sample_weights([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]]).tolist()
[0.25, 0.25, 0.5]
>>> class_sample_weights([[0.9, 0.1], [0.3, 0.7]], class_names=["neu", "sad"], multipliers={"sad": 3}).tolist()
[0.25, 0.75]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from hf_ambiguity.audio import SAMPLING_RATE

__all__ = ["class_sample_weights", "dataset_sample_weights", "weighted_sampler", "RandomAudioAugment"]


def class_sample_weights(targets: Any, *, class_names: Sequence[str] | None = None,
                         multipliers: Mapping[str, float] | None = None) -> np.ndarray:
    """Per-row sampling weights ``(n_rows,)`` from target distributions ``(n_rows, n_classes)``, summing to 1.

    ``multipliers`` maps class names (``class_names``, default ``class_0``, ``class_1``, ...) to a factor on that
    class's weight; unknown names raise. Classes without rows simply get no weight.
    """
    p = np.asarray(targets, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ValueError(f"targets must be a non-empty (n_rows, n_classes >= 2) array, got shape {p.shape}")
    if not np.isfinite(p).all():
        row = int(np.flatnonzero(~np.isfinite(p).all(axis=1))[0])
        raise ValueError(f"target row {row} contains NaN or infinity: {p[row].tolist()}")
    names = list(class_names) if class_names is not None else [f"class_{i}" for i in range(p.shape[1])]
    if len(names) != p.shape[1]:
        raise ValueError(f"{len(names)} class names given for {p.shape[1]} target columns")
    mult = np.ones(p.shape[1])
    for name, factor in (multipliers or {}).items():
        if name not in names:
            raise ValueError(f"multiplier for unknown class {name!r}; classes are {names}")
        if not factor >= 0:
            raise ValueError(f"multiplier for {name!r} must be non-negative, got {factor}")
        mult[names.index(name)] = float(factor)
    cls = p.argmax(axis=1)
    counts = np.bincount(cls, minlength=p.shape[1]).astype(np.float64)
    w = mult[cls] / counts[cls]
    if w.sum() <= 0:
        raise ValueError("every row has weight 0: at least one class with rows needs a positive multiplier")
    return w / w.sum()


def dataset_sample_weights(dataset: Any, target_column: str, *,
                           multipliers: Mapping[str, float] | None = None) -> np.ndarray:
    """:func:`class_sample_weights` of a dataset's target column, class names from ``majority_label`` if present."""
    from hf_ambiguity.schema import class_names

    if target_column not in dataset.column_names:
        raise ValueError(f"target column {target_column!r} is not in the dataset (columns: {dataset.column_names})")
    targets = dataset.select_columns([target_column]).with_format("numpy")[:][target_column]
    targets = np.stack(list(targets)) if targets.dtype == object else targets
    try:
        names = class_names(dataset)
    except ValueError:
        names = None
    if names is not None and len(names) != targets.shape[1]:
        names = None
    return class_sample_weights(targets, class_names=names, multipliers=multipliers)


def weighted_sampler(weights: np.ndarray, *, num_samples: int | None = None, seed: int = 0) -> Any:
    """A ``torch.utils.data.WeightedRandomSampler`` over ``weights`` (with replacement, seeded generator)."""
    import torch

    g = torch.Generator().manual_seed(int(seed))
    n = len(weights) if num_samples is None else int(num_samples)
    return torch.utils.data.WeightedRandomSampler(torch.as_tensor(np.asarray(weights), dtype=torch.double), n,
                                                  replacement=True, generator=g)


@dataclass
class RandomAudioAugment:
    """On-the-fly waveform augmentation: with probability ``p`` a ±``semitones`` pitch shift or a time stretch.

    ``__call__(y)`` takes and returns a mono float waveform ``(n_samples,)``; the shift is drawn from
    U(−semitones, semitones), the stretch rate from U(*stretch_range); the choice between them is 50/50. Seeded
    (``seed``) so that a training run can be repeated. ``last`` records what the latest call did.

    >>> aug = RandomAudioAugment(p=1.0, seed=0)
    >>> y = np.sin(np.linspace(0, 800, 16000)).astype(np.float32)
    >>> out = aug(y)
    >>> aug.last[0] in ("pitch_shift", "time_stretch")
    True
    """

    p: float = 0.3
    semitones: float = 1.0
    stretch_range: tuple[float, float] = (0.95, 1.05)
    sampling_rate: int = SAMPLING_RATE
    seed: int | None = None
    last: tuple[str, float] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {self.p}")
        lo, hi = self.stretch_range
        if not 0 < lo <= hi:
            raise ValueError(f"stretch_range must be (low, high) with 0 < low <= high, got {self.stretch_range}")
        self._rng = np.random.default_rng(self.seed)

    def __call__(self, y: np.ndarray) -> np.ndarray:
        import librosa

        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1:
            raise ValueError(f"RandomAudioAugment takes a mono waveform (n_samples,), got shape {y.shape}")
        if y.size < 2048 or self._rng.uniform() >= self.p:  # too short for a 2048-point STFT: left as is
            self.last = ("none", 0.0)
            return y
        if self._rng.uniform() < 0.5:
            steps = float(self._rng.uniform(-self.semitones, self.semitones))
            self.last = ("pitch_shift", steps)
            return librosa.effects.pitch_shift(y, sr=self.sampling_rate, n_steps=steps).astype(np.float32)
        rate = float(self._rng.uniform(*self.stretch_range))
        self.last = ("time_stretch", rate)
        return librosa.effects.time_stretch(y, rate=rate).astype(np.float32)
