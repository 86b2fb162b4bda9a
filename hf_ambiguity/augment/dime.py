"""DiME-Aug: distribution-aware multimodal emotion augmentation that tops up under-represented classes.

The method of arXiv 2601.14620. The defaults below differ from the authors' code (``model_finetuning/train.py``,
class ``DiME``) in five places, each an option that the ``paper`` preset turns on (``docs/reference-protocol.md``
lists every step with its status):

- ``top_up``: ``"ceil"`` (default): every group below the target gets up to ``ceil(ratio × largest)`` rows;
  ``"reference"``: the target is ``int(ratio × largest)`` and only groups present in the data are topped up.
- ``neighbours``: ``"project"`` (default): ``j`` among the ``min(k, m − 1)`` nearest *other* sources of the
  group; ``"reference"``: ``n_neighbors = min(k, m − 1)`` queried with the anchor itself and the first hit
  dropped, so ``j`` is among ``min(k, m − 1) − 1`` neighbours (2 for ``k = 3``).
- ``transcript_from``: ``"alpha"`` (default): the anchor ``i``'s transcript when ``α < 0.5``, else ``j``'s;
  ``"anchor"``: always the anchor's, as the authors' new sample keeps the anchor's training prompt (its
  transcript and speaker).
- ``features``: ``"project"`` (default): the ten transcript statistics of
  :func:`~hf_ambiguity.augment.dime_features.text_features`, audio padded to one frame; ``"reference"``: the
  authors' ten statistics (:func:`~hf_ambiguity.augment.dime_features.reference_text_features`), audio padded to
  0.5 s.
- ``dominant_ties``: ``"class_order"`` (default) or ``"alphabetical"`` (the authors'): which class a tied target
  counts for when grouping (step 2).

The procedure:

1. It runs on the **training portion only**: take the validation split out first (:func:`hf_ambiguity.splits.split_train_validation`)
   and pass ``dsdict["train"]``; validation and test stay real. :func:`dime_aug` refuses a ``DatasetDict`` so that
   no other split can become a source by accident.
2. Utterances are grouped by dominant emotion, the argmax of the target distribution (ties: the first class in
   class order; ``dominant_ties="alphabetical"``: the first by name, as the authors' class-ordered dicts do).
   ``balance_by="class_ambiguity"`` groups by (dominant emotion × ``ambiguity`` level) instead.
3. Each utterance of a group that needs new samples gets the 82-d feature vector of
   :mod:`hf_ambiguity.augment.dime_features` (72 audio statistics + 10 transcript statistics), standardised
   within its group — one ``StandardScaler`` per group, as in the authors' code (which fits the scaler on the
   minority class's samples). Groups that need nothing are never decoded.
4. A group below the target (``top_up``) gets new samples up to it. A new sample: a random source ``i`` (the
   anchor) of the group, one of its nearest neighbours ``j`` in the same group (Euclidean,
   ``sklearn.neighbors.NearestNeighbors``; ``neighbours``), ``α ~ U(0, 1)``; audio ``α·x_i + (1 − α)·x_j``
   sample-wise, cut to the shorter; transcript per ``transcript_from``; target ``α·P_i + (1 − α)·P_j``
   renormalised. The authors' code writes the mixture with ``α`` on the neighbour (``(1 − α)·x_i + α·x_j``); as
   ``α`` and ``1 − α`` are both uniform the two give the same mixtures in distribution, but ``aug_alpha`` here is
   the anchor's weight. All randomness comes from ``numpy.random.default_rng(seed)`` (the authors' code draws from
   numpy's global legacy generator seeded 42 over its own row order, so its exact samples cannot be reproduced).

What a new row holds (original rows are unchanged and get ``augmented=False``, ``aug_sources=[]``, and null
``aug_alpha`` / ``aug_k`` / ``aug_seed``):

- ``id``: ``dimeaug-s<seed>-<n>`` (unique; checked against the original ids); ``audio``: the mixed waveform as
  16-bit WAV bytes in an ``Audio(sampling_rate=16000)`` column, so the result exports like any other dataset;
- every **distribution column** — the target and every other ``*_dist`` column (``human_dist``, ``<name>_dist``,
  ``combined_dist``), or exactly ``distribution_columns`` when given — is the α-mixture of the two sources'
  distributions, renormalised (null when either source's is null);
- ``majority_label`` (when present): the group's dominant emotion (an α-mixture of two distributions with the same
  argmax keeps it); ``has_majority``: whether the mixed target has a unique maximum;
- null (not observed for a synthetic utterance): per-annotator and per-recording measurements —
  columns ending in ``_votes``, ``_labels``, ``_raw``, ``_invalid``, and ``annotators``, ``raw_answers``,
  ``other_text``, ``secondary_answers``, ``n_annotators``, ``n_dropped_labels``, ``entropy``, ``consensus_label``,
  ``consensus_class``, ``valence``, ``activation``, ``dominance``, ``start``, ``end``;
- the transcript per ``transcript_from``; every other column (``corpus``, ``speaker``, ``gender``, ``session``,
  ``ambiguity``, ...) is copied from the anchor ``i`` (as the authors' code keeps the anchor's prompt, which names
  its speaker); in ``class_ambiguity`` mode both sources share the ``ambiguity`` level;
- provenance: ``augmented=True``, ``aug_sources=[id_i, id_j]``, ``aug_alpha=α``, ``aug_k=k``, ``aug_seed=seed``.

Bad input: a missing audio, target or id column raises naming it; a missing transcript column is allowed (text
features zero, :attr:`AugmentReport.text_features_missing`); an invalid target (or other distribution) raises
naming the row and id, or with ``lenient=True`` the row is kept as an original but never used as a source, and is
listed in the report; silent (peak below ``silence_threshold``) or zero-length audio in a group that needs new
samples is never a source and is listed in the report (such rows still count in their group's size: they are real
training data); a group with fewer than two usable sources (or, with ``neighbours="reference"``, fewer than three:
with two the reference's query returns no neighbour) cannot be topped up: its shortfall is counted.

Long runs: the new rows are written to the ``datasets`` cache under a fingerprint of the input, the sample plan and
this code. An interrupted run leaves no partial output (``datasets`` only publishes a finished split): running it
again starts over (features are recomputed) and produces the same rows, never duplicated or lost, because the plan
is fixed by the seed before any row is written; a repeated finished run reuses the cached rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Sequence

import numpy as np

from hf_ambiguity.analysis.alignment import ARGMAX_TIES, argmax_tie_order
from hf_ambiguity.audio import SAMPLING_RATE, decode_audio, encode_wav
from hf_ambiguity.augment.dime_features import row_features, single_threaded_blas, standardise
from hf_ambiguity.distributions import distribution_problems
from hf_ambiguity.schema import AMBIGUITY_LEVELS, CLASS_COLUMN, ambiguity_names

__all__ = [
    "AugmentReport", "dime_aug", "mark_originals", "PROVENANCE_COLUMNS", "UNOBSERVED_COLUMNS",
    "UNOBSERVED_SUFFIXES", "BalanceBy", "DIME_OPTIONS", "REFERENCE_OPTIONS",
]

BalanceBy = Literal["class", "class_ambiguity"]
_BALANCE_BY = ("class", "class_ambiguity")
#: The choices of each reference-related option of :func:`dime_aug`, default first.
DIME_OPTIONS: dict[str, tuple[str, ...]] = {
    "top_up": ("ceil", "reference"),
    "neighbours": ("project", "reference"),
    "transcript_from": ("alpha", "anchor"),
    "features": ("project", "reference"),
    "dominant_ties": ARGMAX_TIES,
}
#: The values of those options that follow the authors' code (the ``paper`` preset's).
REFERENCE_OPTIONS: dict[str, str] = {"top_up": "reference", "neighbours": "reference", "transcript_from": "anchor",
                                     "features": "reference", "dominant_ties": "alphabetical"}
#: Columns DiME-Aug adds to every row.
PROVENANCE_COLUMNS = ("augmented", "aug_sources", "aug_alpha", "aug_k", "aug_seed")
#: Columns set to null in new rows: they describe annotators or a recording, not a synthetic mixture.
UNOBSERVED_COLUMNS = frozenset({
    "annotators", "raw_answers", "other_text", "secondary_answers", "n_annotators", "n_dropped_labels", "entropy",
    "consensus_label", "consensus_class", "valence", "activation", "dominance", "start", "end",
})
UNOBSERVED_SUFFIXES = ("_votes", "_labels", "_raw", "_invalid", "_annotator_labels", "_annotator_dists",
                       "_annotator_invalid", "_logprobs")


@dataclass(frozen=True)
class AugmentReport:
    """What :func:`dime_aug` did. Group names are class names, or ``class/level`` with ``class_ambiguity``.

    ``counts_before``/``counts_after``: usable-target rows per group; ``target_count``: ``ceil(ratio × largest)``;
    ``generated``: new rows per group; ``shortfall``: rows a group still lacks (fewer than two usable sources),
    with the reason in ``shortfall_reasons``; ``silent_ids``: zero-length or silent rows of the
    groups that needed new samples (never sources; other groups are not decoded);
    ``invalid``: ``(id, reason)`` of rows skipped in lenient mode; ``text_features_missing``: no transcript column;
    ``options``: the reference-related options used (``top_up``, ``neighbours``, ``transcript_from``, ``features``,
    ``dominant_ties``).
    """

    target_column: str
    balance_by: str
    ratio: float
    k: int
    seed: int
    groups: tuple[str, ...]
    counts_before: Mapping[str, int]
    counts_after: Mapping[str, int]
    target_count: int
    generated: Mapping[str, int]
    shortfall: Mapping[str, int]
    shortfall_reasons: Mapping[str, str]
    silent_ids: tuple[str, ...]
    invalid: tuple[tuple[str, str], ...]
    text_features_missing: bool
    n_original: int
    n_generated: int
    options: Mapping[str, str] = dataclasses.field(default_factory=lambda: {k: v[0] for k, v in DIME_OPTIONS.items()})

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for ``augment_report.json`` and the card's provenance block)."""
        return {
            "target_column": self.target_column, "balance_by": self.balance_by, "ratio": self.ratio, "k": self.k,
            "seed": self.seed, "groups": list(self.groups), "counts_before": dict(self.counts_before),
            "counts_after": dict(self.counts_after), "target_count": self.target_count,
            "generated": dict(self.generated), "shortfall": dict(self.shortfall),
            "shortfall_reasons": dict(self.shortfall_reasons), "silent_ids": list(self.silent_ids),
            "invalid": [list(x) for x in self.invalid], "text_features_missing": self.text_features_missing,
            "n_original": self.n_original, "n_generated": self.n_generated, "options": dict(self.options),
        }

    def to_markdown(self) -> str:
        """A per-group table (before, generated, after, shortfall) and the skipped rows, for the card and logs."""
        lines = [
            f"DiME-Aug on `{self.target_column}`, balance by {self.balance_by}, ratio {self.ratio}, k {self.k}, "
            f"seed {self.seed}: {self.n_original} original rows + {self.n_generated} new rows; "
            f"target per group {self.target_count}.",
            "Options: " + ", ".join(f"{k} `{v}`" for k, v in self.options.items()) + ".",
            "",
            "| group | before | generated | after | shortfall |",
            "|---|---:|---:|---:|---:|",
        ]
        for g in self.groups:
            lines.append(f"| {g} | {self.counts_before[g]} | {self.generated[g]} | {self.counts_after[g]} | "
                         f"{self.shortfall[g]} |")
        lines.append("")
        for g, why in self.shortfall_reasons.items():
            lines.append(f"- shortfall in {g}: {why}")
        if self.silent_ids:
            lines.append(f"- {len(self.silent_ids)} silent or zero-length rows never used as sources: "
                         f"{', '.join(self.silent_ids[:20])}{' ...' if len(self.silent_ids) > 20 else ''}")
        if self.invalid:
            lines.append(f"- {len(self.invalid)} rows with invalid distributions skipped (lenient): "
                         + "; ".join(f"{i} ({why})" for i, why in self.invalid[:20]))
        if self.text_features_missing:
            lines.append("- no transcript column: the 10 text features are zero for every row")
        return "\n".join(lines).rstrip() + "\n"


# ------------------------------------------------------------------------------------------------------ validation

def _column(ds: Any, name: str) -> list[Any]:
    """One column as Python values without decoding audio, respecting an indices mapping."""
    return ds.select_columns([name]).with_format("arrow")[:][name].to_pylist()


def _distribution_columns(ds: Any, target: str, given: Sequence[str] | None) -> list[str]:
    from datasets import LargeList, List, Value

    if given is not None:
        cols = list(dict.fromkeys([target, *given]))
    else:
        cols = [target] + [c for c in ds.column_names if c.endswith("_dist") and c != target]
    for c in cols:
        if c not in ds.column_names:
            raise ValueError(f"distribution column {c!r} is not in the dataset (columns: {ds.column_names})")
        feat = ds.features[c]
        inner = getattr(feat, "feature", None)
        if not isinstance(feat, (List, LargeList)) or not isinstance(inner, Value) or "float" not in inner.dtype:
            raise ValueError(f"distribution column {c!r} must be a list of floats, got feature {feat}")
    return cols


def _check_inputs(ds: Any, target: str, audio_column: str, id_column: str, ratio: float, k: int,
                  balance_by: str, ambiguity_column: str, num_proc: int | None, options: Mapping[str, str]) -> None:
    import datasets

    if isinstance(ds, datasets.DatasetDict):
        raise TypeError(
            "dime_aug takes the training portion only (a Dataset), not a DatasetDict: take the validation split out "
            "with hf_ambiguity.splits.split_train_validation(dsdict['train']) and pass its 'train' split, so that validation and test "
            "rows can never become sources")
    if not isinstance(ds, datasets.Dataset):
        raise TypeError(f"dime_aug needs a datasets.Dataset, got {type(ds).__name__}")
    cols = ds.column_names
    for name, what, hint in (
        (audio_column, "audio", "pass audio_column= (CLI: --audio-column) naming the Audio column"),
        (target, "target distribution", "pass the distribution column to balance on, e.g. 'human_dist'"),
        (id_column, "id", "add unique ids with dataset.add_column('id', [...]) or pass id_column="),
    ):
        if name not in cols:
            raise ValueError(f"{what} column {name!r} is not in the dataset (columns: {cols}); {hint}")
    if not isinstance(ds.features[audio_column], datasets.Audio):
        raise ValueError(f"column {audio_column!r} must be a datasets.Audio column, got {ds.features[audio_column]}")
    if any(c in cols for c in PROVENANCE_COLUMNS):
        raise ValueError("the dataset already has DiME-Aug columns (augmented, aug_sources, ...): augment the original "
                         "training split, not an augmented one")
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"ratio must be in (0, 1] (fraction of the largest group's count), got {ratio}")
    if int(k) != k or k < 1:
        raise ValueError(f"k (number of nearest neighbours) must be a positive integer, got {k}")
    if balance_by not in _BALANCE_BY:
        raise ValueError(f"balance_by must be one of {list(_BALANCE_BY)}, got {balance_by!r}")
    for name, value in options.items():
        if value not in DIME_OPTIONS[name]:
            raise ValueError(f"{name} must be one of {list(DIME_OPTIONS[name])}, got {value!r}")
    if balance_by == "class_ambiguity" and ambiguity_column not in cols:
        raise ValueError(f"balance_by='class_ambiguity' needs the ambiguity column {ambiguity_column!r}, which the "
                         "dataset lacks; build it with hf-ambiguity build or use balance_by='class'")
    if len(ds) == 0:
        raise ValueError("the dataset is empty: nothing to augment")
    if num_proc is not None and (int(num_proc) != num_proc or num_proc < 1):
        raise ValueError(f"num_proc must be a positive integer or None, got {num_proc}")


def _class_names(ds: Any, n_classes: int) -> list[str]:
    feat = ds.features.get(CLASS_COLUMN)
    names = list(getattr(feat, "names", []) or [])
    return names if len(names) == n_classes else [f"class_{i}" for i in range(n_classes)]


def _usable_rows(values: Mapping[str, list[Any]], target_column: str, ids: Sequence[str], n_classes: int, *,
                 lenient: bool) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Rows whose every distribution is valid (a null non-target distribution is allowed: it mixes to null).

    Strict: raise naming the first bad row. Lenient: ``(usable mask, [(id, reason), ...])``.
    """
    usable = np.ones(len(ids), dtype=bool)
    invalid: list[tuple[str, str]] = []
    for c, column in values.items():
        for r, why in enumerate(distribution_problems(column, n_classes)):
            if why is None or (column[r] is None and c != target_column):
                continue
            if not lenient:
                raise ValueError(f"row {r} (id {ids[r]!r}): {c} {why}; fix the distribution or pass lenient=True "
                                 "(CLI: --lenient) to skip such rows as sources and count them in the report")
            if usable[r]:
                invalid.append((ids[r], f"{c} {why}"))
            usable[r] = False
    return usable, invalid


def _features_of(cells: list[tuple[int, Any, str | None]], silence_threshold: float, style: str = "project"
                 ) -> list[tuple[int, np.ndarray | None, np.ndarray]]:
    """``(row, raw 82-d features or None when silent/empty, waveform)`` for ``(row, audio cell, transcript)``s."""
    out = []
    with single_threaded_blas():
        for r, cell, text in cells:
            y = decode_audio(cell, SAMPLING_RATE)
            silent = y.size == 0 or float(np.max(np.abs(y))) < silence_threshold
            out.append((r, None if silent else row_features(y, text, style=style), y))
    return out


def _extract(audio_ds: Any, audio_column: str, rows: np.ndarray, transcripts: list[Any] | None, *,
             silence_threshold: float, num_proc: int | None, progress: bool, style: str = "project"
             ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Raw features and waveforms of every non-silent row in ``rows``.

    ``num_proc > 1`` spreads chunks of 32 rows over a process pool, with at most ``2 × num_proc`` chunks in flight
    (bounded memory); results do not depend on ``num_proc``.
    """
    from collections import deque

    from hf_ambiguity.progress import progress_bar as tqdm

    def cells(chunk: np.ndarray) -> list[tuple[int, Any, str | None]]:
        return [(int(r), audio_ds[int(r)][audio_column], transcripts[r] if transcripts is not None else None)
                for r in chunk]

    feats: dict[int, np.ndarray] = {}
    waves: dict[int, np.ndarray] = {}

    def collect(results: list[tuple[int, np.ndarray | None, np.ndarray]]) -> None:
        for r, f, y in results:
            if f is not None:
                feats[r], waves[r] = f, y

    chunks = [rows[i:i + 32] for i in range(0, len(rows), 32)]
    bar = tqdm(total=len(rows), desc="DiME-Aug features", disable=not progress, unit="utt")
    if not num_proc or num_proc == 1 or len(chunks) < 2:
        for chunk in chunks:
            collect(_features_of(cells(chunk), silence_threshold, style))
            bar.update(len(chunk))
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=int(num_proc)) as pool:
            pending: deque[tuple[Any, int]] = deque()
            for chunk in chunks:
                pending.append((pool.submit(_features_of, cells(chunk), silence_threshold, style),
                                len(chunk)))
                while len(pending) >= 2 * int(num_proc):
                    future, size = pending.popleft()
                    collect(future.result())
                    bar.update(size)
            while pending:
                future, size = pending.popleft()
                collect(future.result())
                bar.update(size)
    bar.close()
    return feats, waves


def _plan_pairs(group_of: np.ndarray, sources: np.ndarray, features: np.ndarray, need: np.ndarray,
                counts: np.ndarray, group_names: Sequence[str], *, k: int, seed: int, text_missing: bool,
                neighbours: str = "project"
                ) -> tuple[list[tuple[int, int, int, float]], dict[str, int], dict[str, str]]:
    """The sample plan ``[(group, i, j, alpha), ...]`` plus shortfall counts and reasons per group.

    ``sources``: usable row indices, ``features``: their raw features (same order), standardised here within each
    group. Groups are visited in order with one ``default_rng(seed)``: ``i`` uniform among the group's sources,
    ``j`` uniform among ``i``'s neighbours, ``alpha ~ U(0, 1)``. Neighbours (Euclidean): ``project``: the
    ``min(k, m − 1)`` nearest *other* sources of the group; ``reference``: the query of the authors' code,
    ``min(k, m − 1)`` nearest including ``i`` itself, the first hit dropped (normally ``i``; with exact duplicate
    features it may be a duplicate, and then ``i`` can be its own neighbour, as there).
    """
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(seed)
    plan: list[tuple[int, int, int, float]] = []
    shortfall: dict[str, int] = {}
    reasons: dict[str, str] = {}
    for g in np.flatnonzero(need > 0):
        in_group = group_of[sources] == g
        members, x = sources[in_group], features[in_group]
        if members.size < 2:
            shortfall[group_names[g]] = int(need[g])
            reasons[group_names[g]] = (f"{members.size} usable source(s) ({counts[g]} rows): at least 2 are needed "
                                       "to interpolate between neighbours")
            continue
        x = standardise(x, text_missing=text_missing).values
        if neighbours == "reference":
            queried = min(int(k), members.size - 1)
            if queried < 2:
                shortfall[group_names[g]] = int(need[g])
                reasons[group_names[g]] = (
                    f"{members.size} usable sources: the reference's neighbour query (n_neighbors = min(k, m - 1) = "
                    f"{queried}, the source itself included and dropped) leaves no neighbour")
                continue
            _, idx = NearestNeighbors(n_neighbors=queried).fit(x).kneighbors(x)
            neigh = idx[:, 1:]
        else:
            queried = min(int(k), members.size - 1)
            _, idx = NearestNeighbors(n_neighbors=queried + 1).fit(x).kneighbors(x)
            neigh = np.array([[j for j in row if j != a][:queried] for a, row in enumerate(idx)])  # drop self
        for _ in range(int(need[g])):
            a = int(rng.integers(members.size))
            b = int(neigh[a, rng.integers(neigh.shape[1])])
            plan.append((int(g), int(members[a]), int(members[b]), float(rng.uniform(0.0, 1.0))))
    return plan, shortfall, reasons


# ------------------------------------------------------------------------------------------------------ main entry

def dime_aug(
    dataset: Any,
    target_column: str,
    *,
    ratio: float = 0.30,
    k: int = 3,
    seed: int = 0,
    balance_by: BalanceBy = "class",
    audio_column: str = "audio",
    transcript_column: str = "transcript",
    id_column: str = "id",
    ambiguity_column: str = "ambiguity",
    distribution_columns: Sequence[str] | None = None,
    lenient: bool = False,
    silence_threshold: float = 1e-4,
    num_proc: int | None = None,
    progress: bool = True,
    top_up: Literal["ceil", "reference"] = "ceil",
    neighbours: Literal["project", "reference"] = "project",
    transcript_from: Literal["alpha", "anchor"] = "alpha",
    features: Literal["project", "reference"] = "project",
    dominant_ties: Literal["class_order", "alphabetical"] = "class_order",
) -> tuple[Any, AugmentReport]:
    """Top up under-represented groups of a **training** ``Dataset`` with DiME-Aug samples (see the module doc).

    ``top_up``, ``neighbours``, ``transcript_from``, ``features`` and ``dominant_ties`` choose between the project's
    rules (defaults) and the authors' code's (:data:`REFERENCE_OPTIONS`); see the module docstring.
    Returns ``(dataset, report)``: the original rows (in order, ``augmented=False``) followed by the new rows.
    Identical inputs and ``seed`` give identical outputs, whatever ``num_proc`` (processes extracting features;
    default 1).
    """
    import datasets
    from hf_ambiguity.progress import progress_bar as tqdm

    options = {"top_up": top_up, "neighbours": neighbours, "transcript_from": transcript_from, "features": features,
               "dominant_ties": dominant_ties}
    _check_inputs(dataset, target_column, audio_column, id_column, ratio, k, balance_by, ambiguity_column, num_proc,
                  options)
    dist_cols = _distribution_columns(dataset, target_column, distribution_columns)
    ids = [str(x) for x in _column(dataset, id_column)]
    if len(set(ids)) != len(ids):
        dup = next(x for x in ids if ids.count(x) > 1)
        raise ValueError(f"column {id_column!r} has duplicate id {dup!r}; ids must be unique to record provenance")
    n = len(ids)

    first = next((v for v in _column(dataset, target_column) if v is not None), None)
    n_classes = len(first) if first is not None else 0
    if n_classes < 2:
        raise ValueError(f"target column {target_column!r} has no row with at least 2 classes")
    values = {c: _column(dataset, c) for c in dist_cols}
    usable, invalid = _usable_rows(values, target_column, ids, n_classes, lenient=lenient)
    target = np.array([v if usable[r] else [np.nan] * n_classes for r, v in enumerate(values[target_column])],
                      dtype=np.float64)
    classes = _class_names(dataset, n_classes)
    order = np.asarray(argmax_tie_order(classes, dominant_ties), dtype=np.int64)
    dominant = np.where(usable, order[np.argmax(np.nan_to_num(target, nan=-1.0)[:, order], axis=1)], -1)

    if balance_by == "class_ambiguity":
        levels = ambiguity_names(_column(dataset, ambiguity_column), dataset.features[ambiguity_column])
        for r, lv in enumerate(levels):
            if usable[r] and lv not in AMBIGUITY_LEVELS:
                raise ValueError(f"row {r} (id {ids[r]!r}): {ambiguity_column} is {lv!r}, expected one of "
                                 f"{list(AMBIGUITY_LEVELS)}")
        group_names = [f"{c}/{lv}" for c in classes for lv in AMBIGUITY_LEVELS]
        group_of = np.array([d * len(AMBIGUITY_LEVELS) + AMBIGUITY_LEVELS.index(levels[r]) if d >= 0 else -1
                             for r, d in enumerate(dominant)], dtype=np.int64)
    else:
        group_names = list(classes)
        group_of = dominant
    n_groups = len(group_names)
    counts = np.bincount(group_of[group_of >= 0], minlength=n_groups)
    if top_up == "reference":  # the authors' code: int(largest × ratio), only for groups present in the data
        target_count = int(int(counts.max()) * float(ratio))
        need = np.where(counts > 0, np.maximum(0, target_count - counts), 0)
    else:
        target_count = math.ceil(ratio * counts.max() - 1e-9)
        need = np.maximum(0, target_count - counts)

    # Decode the usable rows of the groups that need new samples, once: silence check, raw features, waveforms.
    transcripts = _column(dataset, transcript_column) if transcript_column in dataset.column_names else None
    audio_ds = dataset.select_columns([audio_column]).cast_column(audio_column, datasets.Audio(decode=False))
    candidates = np.array([r for r in np.flatnonzero(usable) if need[group_of[r]] > 0], dtype=np.int64)
    feats, waves = _extract(audio_ds, audio_column, candidates, transcripts,
                            silence_threshold=silence_threshold, num_proc=num_proc, progress=progress,
                            style=features)
    silent = [ids[r] for r in candidates if int(r) not in feats]
    sources = np.array(sorted(feats), dtype=np.int64)
    raw = np.vstack([feats[int(r)] for r in sources]) if sources.size else np.zeros((0, 0))

    plan, shortfall, reasons = _plan_pairs(group_of, sources, raw, need, counts, group_names, k=int(k),
                                           seed=int(seed), text_missing=transcripts is None, neighbours=neighbours)
    generated = np.bincount(np.array([p[0] for p in plan], dtype=np.int64), minlength=n_groups)

    feats_out = _output_features(dataset, audio_column)
    originals = mark_originals(dataset, audio_column=audio_column)

    id_set = set(ids)
    new_ids = [f"dimeaug-s{seed}-{t:06d}" for t in range(len(plan))]
    clash = id_set.intersection(new_ids)
    if clash:
        raise ValueError(f"generated id {sorted(clash)[0]!r} already exists in the dataset; rename the originals")

    report = AugmentReport(
        target_column=target_column, balance_by=balance_by, ratio=float(ratio), k=int(k), seed=int(seed),
        groups=tuple(group_names), counts_before={g: int(c) for g, c in zip(group_names, counts)},
        counts_after={g: int(c + m) for g, c, m in zip(group_names, counts, generated)},
        target_count=int(target_count), generated={g: int(m) for g, m in zip(group_names, generated)},
        shortfall={g: int(shortfall.get(g, 0)) for g in group_names}, shortfall_reasons=reasons,
        silent_ids=tuple(silent), invalid=tuple(invalid), text_features_missing=transcripts is None,
        n_original=n, n_generated=len(plan), options=options,
    )
    if not plan:
        return originals, report

    meta_cols = [c for c in dataset.column_names if c != audio_column]
    meta = dataset.select_columns(meta_cols).with_format("arrow")[:].to_pylist() if meta_cols else [{}] * n

    per_class = len(AMBIGUITY_LEVELS) if balance_by == "class_ambiguity" else 1
    set_class = CLASS_COLUMN in dataset.column_names and len(getattr(dataset.features[CLASS_COLUMN], "names",
                                                                    ()) or ()) == n_classes

    def rows_gen() -> Iterator[dict[str, Any]]:
        for t, (g, i, j, alpha) in enumerate(tqdm(plan, desc="DiME-Aug samples", disable=not progress,
                                                   unit="utt")):
            yield _new_row(new_ids[t], meta[i], meta[j], waves[i], waves[j], alpha,
                           dominant=g // per_class if set_class else None, k=int(k), seed=int(seed),
                           ids=(ids[i], ids[j]), dist_cols=dist_cols, id_column=id_column, audio_column=audio_column,
                           transcript_column=transcript_column, target_column=target_column,
                           transcript_from=transcript_from)

    quiet = not progress and not datasets.utils.are_progress_bars_disabled()
    if quiet:
        datasets.utils.disable_progress_bars()
    try:
        new_ds = datasets.Dataset.from_generator(rows_gen, features=feats_out,
                                                fingerprint=_fingerprint(dataset, plan, dist_cols, audio_column,
                                                                         transcript_from))
    finally:
        if quiet:
            datasets.utils.enable_progress_bars()
    return datasets.concatenate_datasets([originals, new_ds]), report


def _output_features(dataset: Any, audio_column: str) -> Any:
    import datasets

    feats = datasets.Features(dict(dataset.features))
    feats[audio_column] = datasets.Audio(sampling_rate=SAMPLING_RATE, decode=dataset.features[audio_column].decode)
    feats.update(augmented=datasets.Value("bool"), aug_sources=datasets.List(datasets.Value("string")),
                 aug_alpha=datasets.Value("float64"), aug_k=datasets.Value("int32"), aug_seed=datasets.Value("int64"))
    return feats


def mark_originals(dataset: Any, *, audio_column: str = "audio") -> Any:
    """``dataset`` with the provenance columns of an original row (``augmented=False``, ``aug_sources=[]``, nulls).

    Apply it to the splits that are not augmented (validation, test) so that every split of an exported
    ``DatasetDict`` has the same columns (one ``dataset_info`` for all splits in the Hub layout).
    """
    import datasets

    if any(c in dataset.column_names for c in PROVENANCE_COLUMNS):
        raise ValueError("the dataset already has DiME-Aug provenance columns (augmented, aug_sources, ...)")
    feats = _output_features(dataset, audio_column)
    n = len(dataset)
    out = dataset
    if dataset.features[audio_column] != feats[audio_column]:
        out = out.cast_column(audio_column, feats[audio_column])
    out = (out.add_column("augmented", [False] * n, feature=feats["augmented"])
           .add_column("aug_sources", [[] for _ in range(n)], feature=feats["aug_sources"])
           .add_column("aug_alpha", [None] * n, feature=feats["aug_alpha"])
           .add_column("aug_k", [None] * n, feature=feats["aug_k"])
           .add_column("aug_seed", [None] * n, feature=feats["aug_seed"]))
    return out if out.features == feats else out.cast(feats)


def _new_row(new_id: str, src_i: Mapping[str, Any], src_j: Mapping[str, Any], x_i: np.ndarray, x_j: np.ndarray,
             alpha: float, *, dominant: int | None, k: int, seed: int, ids: tuple[str, str],
             dist_cols: Sequence[str], id_column: str, audio_column: str, transcript_column: str,
             target_column: str, transcript_from: str = "alpha") -> dict[str, Any]:
    """One new row (see the module docstring for what each column holds)."""
    length = min(x_i.size, x_j.size)
    mixed = alpha * x_i[:length].astype(np.float64) + (1.0 - alpha) * x_j[:length].astype(np.float64)
    row: dict[str, Any] = {}
    for col, value in src_i.items():
        if col in UNOBSERVED_COLUMNS or col.endswith(UNOBSERVED_SUFFIXES):
            row[col] = None
        else:
            row[col] = value
    for col in dist_cols:
        p, q = src_i.get(col), src_j.get(col)
        if p is None or q is None:
            row[col] = None
            continue
        m = alpha * np.asarray(p, dtype=np.float64) + (1.0 - alpha) * np.asarray(q, dtype=np.float64)
        row[col] = (m / m.sum()).tolist()
    if transcript_column in src_i and transcript_from == "alpha":  # "anchor": i's, copied above
        row[transcript_column] = src_i[transcript_column] if alpha < 0.5 else src_j[transcript_column]
    if dominant is not None:
        row[CLASS_COLUMN] = dominant
    if "has_majority" in row:
        t = np.asarray(row[target_column])
        row["has_majority"] = bool(np.sum(t >= t.max() - 1e-12) == 1)
    row[id_column] = new_id
    row[audio_column] = {"bytes": encode_wav(mixed.astype(np.float32)), "path": f"{new_id}.wav"}
    row.update(augmented=True, aug_sources=list(ids), aug_alpha=float(alpha), aug_k=k, aug_seed=seed)
    return row


def _fingerprint(ds: Any, plan: Sequence[tuple[int, int, int, float]], dist_cols: Sequence[str],
                 audio_column: str, transcript_from: str) -> str:
    """Cache key of the generated rows: input fingerprint, plan, columns and this module's code."""
    from hf_ambiguity import audio as audio_module

    h = hashlib.sha256()
    h.update(str(getattr(ds, "_fingerprint", "")).encode())
    h.update(repr((plan, list(dist_cols), audio_column, transcript_from)).encode())
    h.update(Path(__file__).read_bytes())
    h.update(Path(audio_module.__file__).read_bytes())
    return "dimeaug-" + h.hexdigest()[:32]
