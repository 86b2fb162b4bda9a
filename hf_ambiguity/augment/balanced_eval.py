"""A balanced evaluation view of a test split: every dominant emotion × ambiguity cell counts equally.

Metrics averaged over a test split drawn like the corpus reward a model for the common classes (neutral) and the
common ambiguity level. :func:`balanced_eval_view` offers two remedies, computed on the **test split's original
rows only** (DiME-Aug rows, ``augmented=True``, are excluded):

- a stratified subsample: from every non-empty cell (dominant emotion = argmax of the target distribution, crossed
  with the ``ambiguity`` level; ``by`` chooses the factors) the same number of rows — the smallest cell's count —
  drawn without replacement with ``numpy.random.default_rng(seed)``, kept in their original order;
- per-row weights over the full test split, ``1 / (n_non_empty_cells × cell_count)`` (0 for augmented rows), so a
  weighted mean gives each cell the same total weight without discarding rows.

The composition table (markdown) lists every cell with its test and view counts and weight, for the dataset card
and the run report. Empty cells cannot be balanced: they are listed with 0 rows and named in a note.

>>> import datasets
>>> ds = datasets.Dataset.from_dict({"p": [[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 2,
...                                  "ambiguity": ["low", "low", "low", "high", "high", "high"]})
>>> view, table, w = balanced_eval_view(ds, "p", class_names=["neu", "sad"])
>>> len(view), w.cells
(3, {'neu/low': 0.1111111111111111, 'neu/high': 0.3333333333333333, 'sad/high': 0.16666666666666666})
>>> w.empty_cells
('neu/medium', 'sad/low', 'sad/medium')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from hf_ambiguity.distributions import DIST_ATOL
from hf_ambiguity.schema import AMBIGUITY_LEVELS, CLASS_COLUMN, ambiguity_levels, ambiguity_names, class_names

__all__ = ["BalancedEvalView", "CellWeights", "balanced_eval_view", "balanced_view_record"]

_FACTORS = ("class", "ambiguity")


@dataclass(frozen=True)
class CellWeights:
    """Per-cell weights of the full test split.

    ``cells``: weight of each row in a non-empty cell (cell name → weight); ``counts``: test rows per cell (all
    cells, empty ones included); ``row_weights``: ``(n_rows,)`` aligned with the dataset passed in (0 for augmented
    rows), summing to 1; ``empty_cells``: cells without test rows.
    """

    cells: Mapping[str, float]
    counts: Mapping[str, int]
    row_weights: np.ndarray
    empty_cells: tuple[str, ...]


class BalancedEvalView(NamedTuple):
    """``(dataset, composition, weights)``: the stratified view, its markdown composition table, the weights."""

    dataset: Any
    composition: str
    weights: CellWeights


def balanced_eval_view(dataset: Any, target_column: str, *, seed: int = 0,
                       by: Sequence[str] = ("class", "ambiguity"), ambiguity_column: str = "ambiguity",
                       class_names: Sequence[str] | None = None) -> BalancedEvalView:
    """Stratified, cell-balanced view of a **test** split (``DatasetDict``: its ``"test"`` split) and cell weights.

    ``by``: non-empty subset of ``("class", "ambiguity")``. Raises naming the row for an invalid target
    distribution or an unknown ambiguity level.
    """
    import datasets

    if isinstance(dataset, datasets.DatasetDict):
        if "test" not in dataset:
            raise ValueError(f"balanced_eval_view uses the test split only; the DatasetDict has {list(dataset)}")
        dataset = dataset["test"]
    by = tuple(by)
    if not by or any(b not in _FACTORS for b in by) or len(set(by)) != len(by):
        raise ValueError(f"by must be a non-empty subset of {list(_FACTORS)}, got {list(by)}")
    for col in (target_column,) + ((ambiguity_column,) if "ambiguity" in by else ()):
        if col not in dataset.column_names:
            raise ValueError(f"column {col!r} is not in the dataset (columns: {dataset.column_names})")
    if len(dataset) == 0:
        raise ValueError("the test split is empty")

    table = dataset.select_columns(
        [c for c in (target_column, ambiguity_column, "augmented", "id") if c in dataset.column_names]
    ).with_format("arrow")[:]
    targets = table[target_column].to_pylist()
    n_classes = len(next(t for t in targets if t is not None)) if any(t is not None for t in targets) else 0
    if class_names is None:
        feat = dataset.features.get(CLASS_COLUMN)
        class_names = list(getattr(feat, "names", None) or [f"class_{i}" for i in range(n_classes)])
    class_names = list(class_names)
    original = ~np.array(table["augmented"].to_pylist(), dtype=bool) if "augmented" in table.column_names \
        else np.ones(len(targets), dtype=bool)
    ids = table["id"].to_pylist() if "id" in table.column_names else list(range(len(targets)))
    levels = ambiguity_names(table[ambiguity_column].to_pylist(), dataset.features[ambiguity_column]) \
        if "ambiguity" in by else None

    factor_values = {"class": class_names, "ambiguity": list(AMBIGUITY_LEVELS)}
    cells = [""]
    for b in by:
        cells = [f"{c}/{v}" if c else v for c in cells for v in factor_values[b]]
    cell_of = np.full(len(targets), -1, dtype=np.int64)
    for r in np.flatnonzero(original):
        p = np.asarray(targets[r], dtype=np.float64) if targets[r] is not None else None
        if p is None or p.shape != (len(class_names),) or not np.isfinite(p).all() or (p < 0).any() \
                or abs(p.sum() - 1.0) > DIST_ATOL:
            raise ValueError(f"row {r} (id {ids[r]!r}): {target_column} is not a valid {len(class_names)}-class "
                             f"distribution: {targets[r]!r}; fix or drop the row before evaluating")
        parts = []
        for b in by:
            if b == "class":
                parts.append(class_names[int(np.argmax(p))])
            else:
                if levels[r] not in AMBIGUITY_LEVELS:
                    raise ValueError(f"row {r} (id {ids[r]!r}): {ambiguity_column} is {levels[r]!r}, expected one "
                                     f"of {list(AMBIGUITY_LEVELS)}")
                parts.append(levels[r])
        cell_of[r] = cells.index("/".join(parts))

    counts = np.bincount(cell_of[cell_of >= 0], minlength=len(cells))
    nonempty = np.flatnonzero(counts)
    per_cell = int(counts[nonempty].min())
    rng = np.random.default_rng(seed)
    chosen = np.sort(np.concatenate([
        rng.choice(np.flatnonzero(cell_of == c), size=per_cell, replace=False) for c in nonempty]))
    cell_weight = {cells[c]: 1.0 / float(len(nonempty) * counts[c]) for c in nonempty}
    row_weights = np.array([cell_weight[cells[c]] if c >= 0 else 0.0 for c in cell_of])
    weights = CellWeights(cells=cell_weight, counts={cells[c]: int(counts[c]) for c in range(len(cells))},
                          row_weights=row_weights, empty_cells=tuple(cells[c] for c in np.flatnonzero(counts == 0)))
    view = dataset.select(chosen.tolist())
    return BalancedEvalView(view, _composition(by, cells, counts, per_cell, weights, seed), weights)


def _composition(by: tuple[str, ...], cells: list[str], counts: np.ndarray, per_cell: int, weights: CellWeights,
                 seed: int) -> str:
    names = {"class": "dominant emotion", "ambiguity": "ambiguity"}
    head = " | ".join(names[b] for b in by)
    lines = [
        f"Balanced evaluation view (test split, original rows only, seed {seed}): {per_cell} rows from each of "
        f"{len(weights.cells)} non-empty cells = {per_cell * len(weights.cells)} rows "
        f"(of {int(counts.sum())}).",
        "",
        f"| {head} | test rows | view rows | weight per test row |",
        "|" + "---|" * len(by) + "---:|---:|---:|",
    ]
    for c, n in zip(cells, counts):
        w = f"{weights.cells[c]:.6f}" if c in weights.cells else "–"
        lines.append(f"| {' | '.join(c.split('/'))} | {int(n)} | {per_cell if n else 0} | {w} |")
    if weights.empty_cells:
        lines += ["", f"Empty cells (cannot be balanced): {', '.join(weights.empty_cells)}."]
    return "\n".join(lines) + "\n"


def balanced_view_record(test: Any, *, seed: int) -> tuple[list[str], str, dict[str, Any]]:
    """The balanced evaluation view of a test split by its human distributions (originals only; every dominant
    human emotion × ambiguity cell equally represented): ``(ids of the view's rows, composition markdown, record)``,
    the record holding a description, the size and the class × ambiguity table of the view."""
    view, composition, weights = balanced_eval_view(test, "human_dist", seed=seed)
    classes = class_names(test)
    table = {c: {lv: 0 for lv in AMBIGUITY_LEVELS} for c in classes}
    for p, lv in zip(view["human_dist"], ambiguity_levels(view)):
        table[classes[int(np.argmax(p))]][lv] += 1
    return [str(x) for x in view["id"]], composition, {"description": "dominant human emotion × ambiguity level, the same number of test utterances per "
                           "non-empty cell" + (f"; empty cells: {', '.join(weights.empty_cells)}"
                                               if weights.empty_cells else ""),
            "n": len(view), "table": table}
