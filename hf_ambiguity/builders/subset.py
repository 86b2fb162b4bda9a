"""A trial subset that looks like the corpus: a seeded sample stratified by split (IEMOCAP session, MSP-Podcast
partition) and majority class, so that every split a protocol needs is present and class proportions are kept.

Taking the first N utterances of a corpus takes them from Session 1 only (two speakers), so a leave-one-session-out
protocol cannot run on it and its figures say nothing about the corpus. :func:`stratified_subset` instead:

1. forms the strata: one per (split, majority class) with at least one utterance;
2. allocates ``n`` in proportion to the strata's sizes (largest remainders, ties to the earlier stratum); when ``n``
   is at least the number of strata, a stratum whose share rounds to zero gets one utterance, taken from the
   stratum most above its exact share, so every stratum is present and each holds its exact share give or take
   about one utterance. When ``n`` is smaller than the number of strata not every stratum can be present: each
   split first gets one utterance from its largest class (the largest splits first, when ``n`` is smaller than the
   number of splits), then the remaining strata get one each, largest first; the description names the strata
   left out;
3. draws within each stratum from a permutation seeded by ``(seed, split, class)``, so the draw is deterministic
   for a seed.

The rows keep their order within each split; splits left empty are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

__all__ = ["stratified_subset", "SubsetDescription"]


@dataclass(frozen=True)
class SubsetDescription:
    """How a subset was drawn: sizes, seed, strata and what each stratum contributed.

    ``counts[split][class] = (drawn, available)``; ``missing`` lists ``"split/class"`` strata of the corpus with
    no utterance in the subset (only when ``n`` is smaller than the number of strata).
    """

    n_requested: int
    n_drawn: int
    n_total: int
    seed: int
    by: tuple[str, ...]
    counts: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    missing: tuple[str, ...] = ()

    @property
    def is_subset(self) -> bool:
        return self.n_drawn < self.n_total

    def __str__(self) -> str:
        if not self.is_subset:
            return (f"all {self.n_total} utterances (max_utterances={self.n_requested} is not smaller than the "
                    "corpus)")
        n_strata = sum(1 for per in self.counts.values() for d, a in per.values() if a)
        text = (f"a seeded sample of {self.n_drawn} of {self.n_total} utterances (seed {self.seed}), stratified by "
                f"split and {', '.join(self.by)} ({n_strata} strata; allocation proportional to stratum size, at "
                "least one per stratum)")
        if self.missing:
            text += (f"; {self.n_requested} is smaller than the number of strata, so {len(self.missing)} "
                     f"strata have no utterance: {', '.join(self.missing)}")
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"n_requested": self.n_requested, "n_drawn": self.n_drawn, "n_total": self.n_total,
                "seed": self.seed, "by": list(self.by), "description": str(self),
                "counts": {s: {c: {"drawn": d, "available": a} for c, (d, a) in per.items()}
                           for s, per in self.counts.items()},
                "missing": list(self.missing)}


def _stratum_values(ds: Any, column: str) -> list[str]:
    """The values of ``column`` as strings (class names for a ``ClassLabel``), without decoding audio."""
    if column not in ds.column_names:
        raise ValueError(f"cannot stratify by {column!r}: the dataset has no such column "
                         f"(columns: {ds.column_names})")
    values = ds.select_columns([column]).to_dict()[column]
    feature = ds.features[column]
    if hasattr(feature, "int2str"):
        return [feature.int2str(int(v)) for v in values]
    return [str(v) for v in values]


def _largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """Integers summing to ``total`` in proportion to ``weights`` (Hamilton; ties go to the earlier entry)."""
    w = np.asarray(weights, dtype=float)
    if total <= 0 or w.sum() <= 0:
        return [0] * len(w)
    quota = total * w / w.sum()
    base = np.floor(quota).astype(int)
    rest = total - int(base.sum())
    order = sorted(range(len(w)), key=lambda i: (-(quota[i] - base[i]), i))
    for i in order[:rest]:
        base[i] += 1
    return base.tolist()


def stratified_subset(dsdict: Any, n: int, *, seed: int = 0,
                      by: Sequence[str] = ("majority_label",)) -> tuple[Any, SubsetDescription]:
    """A seeded subset of about ``n`` utterances of ``dsdict`` stratified by split and ``by`` (see the module
    docstring): ``(DatasetDict, SubsetDescription)``. Exactly ``n`` utterances when ``n`` is smaller than the
    corpus; the whole ``dsdict`` (unchanged) otherwise.

    >>> from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
    >>> f = Features({"id": Value("string"), "majority_label": ClassLabel(names=["a", "b"])})
    >>> d = DatasetDict({s: Dataset.from_dict({"id": [f"{s}{i}" for i in range(40)],
    ...                                         "majority_label": [int(i < 10) for i in range(40)]}, features=f)
    ...                  for s in ("session1", "session2")})
    >>> sub, how = stratified_subset(d, 8, seed=0)
    >>> {s: sorted(sub[s]["majority_label"]) for s in sub}  # 3:1 in both splits, as in the corpus
    {'session1': [0, 0, 0, 1], 'session2': [0, 0, 0, 1]}
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive number of utterances, got {n!r}")
    if not len(dsdict):
        raise ValueError("the dataset has no split to draw from")
    n, seed, by = int(n), int(seed), tuple(by)
    splits = list(dsdict)
    strata: list[tuple[int, str, list[int]]] = []  # (split position, class, row indices)
    class_order: dict[str, int] = {}
    for si, split in enumerate(splits):
        ds = dsdict[split]
        keys = [_stratum_values(ds, c) for c in by]
        groups: dict[str, list[int]] = {}
        for row, parts in enumerate(zip(*keys)) if by else enumerate([()] * len(ds)):
            groups.setdefault("/".join(parts) or "all", []).append(row)
        for cls in groups:
            class_order.setdefault(cls, len(class_order))
        for cls in sorted(groups, key=lambda c: class_order[c]):
            strata.append((si, cls, groups[cls]))
    sizes = [len(rows) for _, _, rows in strata]
    total = sum(sizes)
    if n >= total:
        counts = {split: {} for split in splits}
        for si, cls, rows in strata:
            counts[splits[si]][cls] = (len(rows), len(rows))
        return dsdict, SubsetDescription(n, total, total, seed, by, counts)

    if n >= len(strata):
        alloc = _largest_remainder(n, sizes)
        quota = [n * size / total for size in sizes]
        while 0 in alloc:  # n >= number of strata, so some stratum holds two or more while one holds none
            donor = max((k for k in range(len(alloc)) if alloc[k] >= 2), key=lambda k: (alloc[k] - quota[k], -k))
            alloc[donor] -= 1
            alloc[alloc.index(0)] = 1
    else:
        alloc = [0] * len(strata)
        by_split: dict[int, list[int]] = {}
        for k, (si, _, _) in enumerate(strata):
            by_split.setdefault(si, []).append(k)
        heads = [max(ks, key=lambda k: (sizes[k], -k)) for ks in by_split.values()]
        heads.sort(key=lambda k: (-sum(sizes[j] for j in by_split[strata[k][0]]), k))  # largest splits first
        rest = sorted((k for k in range(len(strata)) if k not in heads), key=lambda k: (-sizes[k], k))
        for k in (heads + rest)[:n]:
            alloc[k] = 1

    picked: dict[int, list[int]] = {si: [] for si in range(len(splits))}
    counts = {split: {} for split in splits}
    missing = []
    for k, (si, cls, rows) in enumerate(strata):
        rng = np.random.default_rng([seed, si, class_order[cls]])
        take = rng.permutation(len(rows))[:alloc[k]]
        picked[si].extend(rows[i] for i in take)
        counts[splits[si]][cls] = (int(alloc[k]), len(rows))
        if alloc[k] == 0:
            missing.append(f"{splits[si]}/{cls}")
    out = type(dsdict)({splits[si]: dsdict[splits[si]].select(sorted(rows))
                        for si, rows in picked.items() if rows})
    return out, SubsetDescription(n, sum(alloc), total, seed, by, counts, tuple(missing))
