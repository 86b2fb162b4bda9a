"""The annotation engine: N simulated annotators over a dataset, in one of three modes.

:func:`annotate` adds the ``<name>_*`` columns of its mode (class order from :func:`hf_ambiguity.schema.class_names`;
the column set of each mode is documented in :mod:`hf_ambiguity.schema`), records provenance on the dataset, and
returns an :class:`AnnotateReport`. Merging with the human votes is :func:`hf_ambiguity.annotate.merge.merge_dataset`.

Modes:

- ``sample`` — the reference protocol: each annotator ``i`` (its focus sentence and temperature ``T_i``) answers in
  free text, the answer is parsed (:func:`hf_ambiguity.alm.parsing.parse_answer`, rule ``parse_rule``) and counted.
  Faithful, noisy (N draws), and it encodes the audio once per annotator.
- ``expected`` — the exact expectation of ``sample``'s annotators without the sampling noise: for each annotator the
  probability that temperature-``T_i`` sampling from its own prompt answers exactly each label; ``<name>_dist`` is
  the mean over annotators of the per-annotator distributions renormalised over the classes, and each annotator's
  remaining mass (an answer that is not exactly a label) is kept. The audio and the shared prompt prefix are encoded
  once per utterance (:mod:`hf_ambiguity.alm.local`). Local models, and OpenAI-compatible servers that return prompt
  log-probabilities (vLLM).
- ``score`` — one annotator-neutral prompt (no focus sentence) at temperature 1: the class probabilities of a single
  "average" annotator. Cheaper than ``expected`` (one prompt), but it is not the protocol's N annotators and it is
  flatter than their expected votes (their temperatures are below 1).

``<name>_votes`` is, in ``score`` and ``expected`` mode, ``N x <name>_dist`` (expected counts of N annotators), so the
reference concatenation merge weighs the proxy like N labels, as it weighs N sampled labels.

Prompt options: ``protocol`` (:class:`~hf_ambiguity.alm.prompts.PromptProtocol`: wording and structure; its hash is in
the resume key and the provenance), ``temperatures`` (``"project"`` or ``"reference"``) and ``parse_rule``
(``"earliest"`` or ``"reference"``; sample mode only, applied when the columns are built, so it never invalidates
cached answers).

Resumable: with ``cache_dir`` every finished request is stored (:class:`~hf_ambiguity.annotate.store.ResultStore`)
keyed by (utterance id, annotator index) within a run key (model identity, prompt hash, mode, temperatures, class
names); a rerun redoes only what is missing, and a run with more annotators only asks the new ones. Ids must be
unique across everything annotated with one cache (splits of one corpus are fine). ``shard=(index, count)``
annotates one contiguous shard (one process of an Accelerate launch) and, with ``assemble=False``, only fills the
store; a launch of several processes that calls :func:`annotate` without ``shard`` is refused
(:func:`hf_ambiguity.distributed.launched_world_size`), since every process would annotate every row.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np

from hf_ambiguity.alm.base import AnnotationBackendError, Annotator, Item, Request
from hf_ambiguity.alm.parsing import PARSE_RULES, parse_answer
from hf_ambiguity.alm.prompts import TEMPERATURE_SCHEMES, PromptProtocol, annotator_specs
from hf_ambiguity.annotate.store import ResultStore, run_key_hash
from hf_ambiguity.distributed import LaunchError, launched_world_size
from hf_ambiguity.labels import CORPORA
from hf_ambiguity.provenance import attach_provenance, library_versions
from hf_ambiguity.schema import class_names as dataset_class_names
from hf_ambiguity.schema import mode_columns

__all__ = ["annotate", "AnnotateReport", "MODES", "REFERENCE_N_ANNOTATORS", "default_n_annotators",
           "null_rows_without_synthetic_label", "MODE_DESCRIPTIONS"]

MODES = ("sample", "score", "expected")
#: What each mode's distribution is, in one sentence (provenance and reports).
MODE_DESCRIPTIONS = {
    "sample": "N simulated annotators (focus sentence and temperature each) answer in free text; parsed answers "
              "are counted",
    "expected": "the exact expected answer distribution of the N simulated annotators (each with its focus and "
                "temperature), renormalised over the classes per annotator and averaged; no sampling noise",
    "score": "class probabilities of one annotator-neutral prompt (no focus sentence) at temperature 1; not the N "
             "annotators of the protocol",
}

#: The reference protocol's number of synthetic annotators per corpus (the ``corpus`` column's value).
REFERENCE_N_ANNOTATORS: dict[str, int] = {name: spec.reference_n_annotators for name, spec in CORPORA.items()}
_FALLBACK_N_ANNOTATORS = 8


def default_n_annotators(dataset: Any) -> int:
    """The reference N for ``dataset``: 8 for IEMOCAP, 10 for MSP-Podcast (from its ``corpus`` column); 8 when the
    column is missing or names another or several corpora.

    >>> from datasets import Dataset
    >>> default_n_annotators(Dataset.from_dict({"corpus": ["msp-podcast"] * 2}))
    10
    >>> default_n_annotators(Dataset.from_dict({"corpus": ["iemocap"]}))
    8
    """
    if "corpus" not in getattr(dataset, "column_names", ()):
        return _FALLBACK_N_ANNOTATORS
    corpora = set(dataset.unique("corpus"))
    if len(corpora) == 1:
        return REFERENCE_N_ANNOTATORS.get(str(next(iter(corpora))), _FALLBACK_N_ANNOTATORS)
    return _FALLBACK_N_ANNOTATORS


@dataclass(frozen=True)
class AnnotateReport:
    """What one :func:`annotate` call did. Counts are over the rows it covered (the shard, if any).

    ``n_invalid_answers``: sample mode, the number of answers that named no class; score and expected mode, the
    expected number (a float: the probability mass of answers that are not exactly a label, summed over rows and
    annotators). ``n_items_without_valid_label``: rows without any parsable answer (sample mode only; 0 otherwise).
    """

    name: str
    mode: str
    n_items: int
    n_annotators: int
    n_new_results: int
    n_cached_results: int
    n_invalid_answers: float
    n_items_without_valid_label: int
    elapsed_s: float
    utterances_per_s: float
    run_key: str
    provenance: dict[str, Any] = field(repr=False)
    n_corrupt_cache_records: int = 0  # complete but unreadable cache lines: ignored, their requests redone


def _check_ids(ids: Sequence[str]) -> None:
    seen: set[str] = set()
    for i, x in enumerate(ids):
        if x in seen:
            raise ValueError(f"row {i}: id {x!r} occurs twice; annotation results are keyed by id, so ids must be "
                             "unique (deduplicate the dataset first)")
        seen.add(x)


def _items(dataset: Any, rows: Sequence[int], classes: tuple[str, ...]) -> list[Item]:
    """The rows' utterances, audio decoded to mono 16 kHz float32.

    An ``Audio`` column is read undecoded and decoded by :func:`hf_ambiguity.audio.decode_audio`
    (libsndfile for WAV/FLAC/OGG/MP3, torchcodec otherwise): creating one torchcodec decoder per clip costs about
    as much as the tiny model's whole forward pass, and the score mode pays it once per utterance.
    """
    from datasets import Audio

    from hf_ambiguity.audio import waveform

    sub = dataset.select(rows)
    undecoded = isinstance(sub.features.get("audio"), Audio)
    if undecoded:
        sub = sub.cast_column("audio", Audio(decode=False))
    out = []
    for r, row in zip(rows, sub):
        audio, sr = waveform(row["audio"])
        if audio.size == 0:
            raise ValueError(f"row {r} (id {row['id']!r}): empty audio; drop or fix the clip")
        out.append(Item(str(row["id"]), audio, sr, str(row.get("transcript") or ""), str(row.get("speaker") or ""),
                        classes, str(row.get("corpus") or "")))
    return out


def _check_options(annotator: Annotator, mode: str, batch_size: int, temperatures: str, parse_rule: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    if mode == "score" and not getattr(annotator, "supports_score", False):
        raise ValueError(f"backend {annotator.identity!r} cannot score classes; use mode 'sample', or a local model "
                         "or a vLLM server")
    if mode == "expected" and not getattr(annotator, "supports_expected", False):
        raise ValueError(f"backend {annotator.identity!r} gives no class-answer probabilities, so mode 'expected' is "
                         "impossible; use mode 'sample', or a local model or a vLLM server")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if temperatures not in TEMPERATURE_SCHEMES:
        raise ValueError(f"temperatures must be one of {list(TEMPERATURE_SCHEMES)}, got {temperatures!r}")
    if parse_rule not in PARSE_RULES:
        raise ValueError(f"parse_rule must be one of {list(PARSE_RULES)}, got {parse_rule!r}")


def annotate(dataset: Any, annotator: Annotator, *, name: str = "synthetic",
             mode: Literal["sample", "score", "expected"] = "sample", n_annotators: int | None = None, seed: int = 0,
             batch_size: int = 8, cache_dir: str | None = None, progress: bool = True,
             shard: tuple[int, int] | None = None, assemble: bool = True, protocol: PromptProtocol | None = None,
             temperatures: str = "project", parse_rule: str = "earliest"):
    """Annotate ``dataset`` (a ``datasets.Dataset`` with the schema columns) with ``annotator``.

    Returns ``(dataset with the <name>_* columns, AnnotateReport)`` — or ``(None, report)`` with ``assemble=False``;
    with ``shard`` the returned dataset holds the shard's rows only. A backend failure
    (:class:`~hf_ambiguity.alm.base.AnnotationBackendError`) stops the run after storing every answer that arrived.
    ``batch_size`` counts requests (utterance x annotator) in ``sample`` mode and utterances otherwise.
    ``n_annotators=None`` takes the reference N of the dataset's corpus (:func:`default_n_annotators`: 8 IEMOCAP,
    10 MSP-Podcast). ``protocol``: the prompt (default :meth:`PromptProtocol.project`); ``temperatures``: the
    annotators' temperature scheme; ``parse_rule``: how sample-mode answers are parsed.
    """
    from hf_ambiguity.progress import progress_bar as tqdm

    _check_options(annotator, mode, batch_size, temperatures, parse_rule)
    protocol = protocol or PromptProtocol.project()
    classes = tuple(dataset_class_names(dataset))
    if n_annotators is None:
        n_annotators = default_n_annotators(dataset)
    specs = annotator_specs(n_annotators, seed=seed, protocol=protocol, temperatures=temperatures)
    ids = [str(x) for x in dataset["id"]]
    _check_ids(ids)
    # annotator i's focus and temperature are fixed by (seed, i), the scheme and the prompt hash, so a larger N
    # reuses the answers of annotators 0..N-1 of an earlier run
    run_key: dict[str, Any] = {"model": annotator.identity, "prompt_hash": protocol.hash(), "mode": mode,
                               "classes": list(classes)}
    if mode != "score":
        run_key.update(seed=seed, temperatures=temperatures)
    tmp = None
    if cache_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="hf-ambiguity-annotate-")
        cache_dir = tmp.name
    rank = shard[0] if shard else 0
    store = ResultStore(cache_dir, run_key, rank=rank)
    try:
        rows = list(range(len(ids)))
        if shard is not None:
            index, count = shard
            if not (count >= 1 and 0 <= index < count):
                raise ValueError(f"shard must be (index, count) with 0 <= index < count, got {shard}")
            bounds = np.linspace(0, len(rows), count + 1).astype(int)
            rows = rows[bounds[index]:bounds[index + 1]]
        annot = [-1] if mode == "score" else [s.index for s in specs]
        missing = [(r, a) for r in rows for a in annot if (ids[r], a) not in store]
        world, var = launched_world_size()
        if shard is None and world > 1 and missing:
            raise LaunchError(
                f"{var}={world}: {world} processes were launched but this call annotates every row in each of them; "
                "pass shard=(process index, number of processes) — `hf-ambiguity annotate` under `accelerate "
                "launch` does — or start a single process")
        n_cached = len(rows) * len(annot) - len(missing)
        start = time.perf_counter()
        bar = tqdm(total=len(rows), initial=len(rows) - len({r for r, _ in missing}), unit="utt",
                   desc=f"annotate[{mode}]" + (f" shard {rank}" if shard else ""), disable=not progress)
        with bar:
            n_new = _run(annotator, dataset, store, ids, specs, classes, mode, missing, batch_size, seed, protocol,
                         bar)
        elapsed = time.perf_counter() - start
        n_done_rows = len({r for r, _ in missing})
        provenance = _provenance(annotator, protocol, run_key, mode, n_annotators, seed, classes, specs,
                                 temperatures, parse_rule)
        columns, n_invalid, empty = _columns(store, [ids[r] for r in rows], specs, classes, mode, n_annotators,
                                             _row_labels(dataset, rows, classes, protocol), parse_rule)
        report = AnnotateReport(name, mode, len(rows), n_annotators, n_new, n_cached, n_invalid, empty,
                                elapsed, (n_done_rows / elapsed) if elapsed > 0 else 0.0,
                                run_key_hash(run_key), provenance, store.n_corrupt)
        if not assemble:
            return None, report
        target = dataset if shard is None else dataset.select(rows)  # a shard's rows only
        return _add_columns(target, name, columns, provenance), report
    finally:
        if tmp is not None:
            tmp.cleanup()


def _run(annotator: Annotator, dataset: Any, store: ResultStore, ids: Sequence[str], specs, classes, mode: str,
         missing: list[tuple[int, int]], batch_size: int, seed: int, protocol: PromptProtocol, bar) -> int:
    """Ask the backend for every missing (row, annotator) in batches; store each batch; return how many were new."""
    n_new = 0
    pending: dict[int, int] = {}
    for r, _ in missing:
        pending[r] = pending.get(r, 0) + 1
    if mode == "sample":
        chunks = [missing[b:b + batch_size] for b in range(0, len(missing), batch_size)]
    else:  # one unit = one utterance (all its missing annotators)
        by_row: dict[int, list[int]] = {}
        for r, a in missing:
            by_row.setdefault(r, []).append(a)
        row_list = list(by_row)
        chunks = [[(r, a) for r in row_list[b:b + batch_size] for a in by_row[r]]
                  for b in range(0, len(row_list), batch_size)]
    for chunk in chunks:
        chunk_rows = list(dict.fromkeys(r for r, _ in chunk))
        items = dict(zip(chunk_rows, _items(dataset, chunk_rows, classes)))
        if mode == "sample":
            try:
                answers = annotator.annotate_batch([Request(items[r], specs[a], seed) for r, a in chunk], protocol)
            except AnnotationBackendError as err:  # keep what did arrive, then stop (resumable)
                store.append((ids[chunk[i][0]], chunk[i][1], str(ans)) for i, ans in err.partial.items())
                raise
            if len(answers) != len(chunk):
                raise RuntimeError(f"backend returned {len(answers)} answers for {len(chunk)} requests")
            n_new += store.append((ids[r], a, str(ans)) for (r, a), ans in zip(chunk, answers))
        elif mode == "score":
            try:
                scores = np.asarray(annotator.score_batch([items[r] for r in chunk_rows], protocol),
                                    dtype=np.float64)
            except AnnotationBackendError as err:  # partial: {position in chunk_rows: (K,) log-probabilities}
                store.append((ids[chunk_rows[i]], -1, [float(x) for x in v]) for i, v in err.partial.items())
                raise
            _check_shape(scores, (len(chunk_rows), len(classes)), "scores")
            n_new += store.append((ids[r], -1, [float(x) for x in s]) for r, s in zip(chunk_rows, scores))
        else:
            n_new += _run_expected(annotator, store, ids, specs, classes, chunk, items, protocol)
        done = 0
        for r, _ in chunk:
            pending[r] -= 1
            done += pending[r] == 0
        bar.update(done)
    return n_new


def _run_expected(annotator: Annotator, store: ResultStore, ids, specs, classes, chunk, items, protocol) -> int:
    """One expected-mode chunk: rows grouped by which annotators they miss (usually all the same)."""
    wanted: dict[int, list[int]] = {}
    for r, a in chunk:
        wanted.setdefault(r, []).append(a)
    groups: dict[tuple[int, ...], list[int]] = {}
    for r, annots in wanted.items():
        groups.setdefault(tuple(annots), []).append(r)
    n_new = 0
    for annots, group_rows in groups.items():
        try:
            logp = np.asarray(annotator.expected_batch([items[r] for r in group_rows], [specs[a] for a in annots],
                                                       protocol), dtype=np.float64)
        except AnnotationBackendError as err:  # partial: {position in group_rows: (len(annots), K) log-probs}
            store.append((ids[group_rows[i]], a, [float(x) for x in lp[j]])
                         for i, lp in err.partial.items() for j, a in enumerate(annots))
            raise
        _check_shape(logp, (len(group_rows), len(annots), len(classes)), "expected log-probabilities")
        n_new += store.append((ids[r], a, [float(x) for x in logp[i, j]])
                              for i, r in enumerate(group_rows) for j, a in enumerate(annots))
    return n_new


def _check_shape(values: np.ndarray, expected: tuple[int, ...], what: str) -> None:
    if values.shape != expected:
        raise RuntimeError(f"backend {what} have shape {values.shape}, expected {expected}")


def _row_labels(dataset: Any, rows: Sequence[int], classes: tuple[str, ...], protocol: PromptProtocol):
    """Each row's prompt labels (they depend on the row's corpus when the prompt uses corpus spellings)."""
    corpora = dataset.select(rows)["corpus"] if "corpus" in dataset.column_names else [""] * len(rows)
    cache: dict[str, Any] = {}
    return [cache.setdefault(str(c or ""), protocol.labels_for(classes, str(c or ""))) for c in corpora]


def _provenance(annotator: Annotator, protocol: PromptProtocol, run_key: dict[str, Any], mode: str, n: int, seed: int,
                classes, specs, temperatures: str, parse_rule: str) -> dict[str, Any]:
    prompt = {"hash": protocol.hash(), "source": protocol.source, "labels": protocol.to_dict()["labels"],
              "label_order": protocol.label_order, "layout": protocol.layout,
              "transcript_label": protocol.to_dict()["transcript_label"]}
    return {
        "backend": annotator.provenance(), "identity": annotator.identity, "prompt_hash": protocol.hash(),
        "prompt": prompt, "mode": mode, "mode_description": MODE_DESCRIPTIONS[mode], "n_annotators": n,
        "seed": seed, "class_names": list(classes), "columns": list(mode_columns(mode)),
        "temperature_scheme": None if mode == "score" else temperatures,
        "temperatures": [1.0] if mode == "score" else [s.temperature for s in specs],
        "foci": None if mode == "score" else [s.focus_index for s in specs],
        "parse_rule": parse_rule if mode == "sample" else None,
        "run_key": run_key_hash(run_key), "libraries": library_versions(),
    }


def _columns(store: ResultStore, ids: Sequence[str], specs, classes: tuple[str, ...], mode: str, n: int, row_labels,
             parse_rule: str) -> tuple[dict[str, Any], float, int]:
    """``(columns by suffix, invalid answers (count or expected count), rows without a valid label)``."""
    from scipy.special import logsumexp, softmax

    k = len(classes)
    if mode == "score":
        logp = np.array([store.get((i, -1)) for i in ids], dtype=np.float64).reshape(len(ids), k)
        dist = softmax(logp, axis=-1) if len(ids) else np.zeros((0, k))
        invalid = n * _invalid_mass(logp)
        return {"logprobs": logp, "dist": dist, "votes": dist * n, "invalid": invalid}, float(invalid.sum()), 0
    if mode == "expected":
        logp = np.array([[store.get((i, s.index)) for s in specs] for i in ids], dtype=np.float64)
        logp = logp.reshape(len(ids), len(specs), k)
        bad = ~np.isfinite(logsumexp(logp, axis=-1)) if len(ids) else np.zeros((0, len(specs)), bool)
        if bad.any():
            r, a = map(int, np.argwhere(bad)[0])
            raise RuntimeError(f"utterance {ids[r]!r} annotator {specs[a].index}: every class has probability 0 "
                               "(the model cannot answer with any label); check the labels and the prompt")
        per_annotator = softmax(logp, axis=-1) if len(ids) else np.zeros((0, len(specs), k))
        mass = _invalid_mass(logp)                                                      # (rows, N)
        dist = per_annotator.mean(axis=1) if len(ids) else np.zeros((0, k))
        return ({"annotator_dists": per_annotator, "annotator_invalid": mass, "dist": dist, "votes": dist * n,
                 "invalid": mass.sum(axis=-1)}, float(mass.sum()), 0)
    votes = np.zeros((len(ids), k))
    raw, per_annotator_labels, labels, invalid = [], [], [], []
    for row, item_id in enumerate(ids):
        answers = [store.get((item_id, s.index)) for s in specs]
        spelled = row_labels[row]
        by_label = dict(zip(spelled.spellings, spelled.classes))
        parsed = [parse_answer(a, spelled.spellings, rule=parse_rule) for a in answers]
        named = [None if p is None else classes[by_label[p]] for p in parsed]
        kept = [c for c in named if c is not None]
        for c in kept:
            votes[row, classes.index(c)] += 1
        raw.append(answers)
        per_annotator_labels.append(named)
        labels.append(kept)
        invalid.append(len(named) - len(kept))
    total = votes.sum(axis=1, keepdims=True)
    dist = np.divide(votes, total, out=np.zeros_like(votes), where=total > 0)
    empty = int((total[:, 0] == 0).sum()) if len(ids) else 0
    return ({"raw": raw, "annotator_labels": per_annotator_labels, "labels": labels, "votes": votes, "dist": dist,
             "invalid": invalid}, float(sum(invalid)), empty)


def _invalid_mass(logp: np.ndarray) -> np.ndarray:
    """``1 - sum_k exp(logp)`` over the last axis, clipped at 0 (float error)."""
    from scipy.special import logsumexp

    if logp.size == 0:
        return np.zeros(logp.shape[:-1])
    return np.clip(-np.expm1(np.minimum(logsumexp(logp, axis=-1), 0.0)), 0.0, 1.0)


def _add_columns(dataset: Any, name: str, columns: dict[str, Any], provenance: dict[str, Any]):
    from datasets import List, Value

    f64, string = Value("float64"), Value("string")
    features = {"raw": List(string), "annotator_labels": List(string), "labels": List(string),
                "votes": List(f64), "dist": List(f64), "logprobs": List(f64),
                "annotator_dists": List(List(f64)), "annotator_invalid": List(f64),
                "invalid": Value("int32") if "raw" in columns else f64}
    # every column any mode writes under this name goes, so a rerun in another mode leaves no stale column behind
    stale = [f"{name}_{s}" for s in [*features, "uncalibrated_dist"] if f"{name}_{s}" in dataset.column_names]
    if stale:
        dataset = dataset.remove_columns(stale)
    for suffix, values in columns.items():
        values = values.tolist() if isinstance(values, np.ndarray) else list(values)
        dataset = dataset.add_column(f"{name}_{suffix}", values, feature=features[suffix])
    return attach_provenance(dataset, name, provenance)


def null_rows_without_synthetic_label(dsdict: Any, column: str) -> tuple[Any, int]:
    """``(dsdict, n)``: sample mode leaves an all-zero ``<name>_dist`` where no synthetic answer parsed; such a row has no synthetic
    distribution, so it becomes null (DiME-Aug mixes it to null, training on that target skips it)."""
    if column not in next(iter(dsdict.values())).column_names:
        return dsdict, 0
    n = sum(int(sum(1 for v in ds[column] if v is None or sum(v) == 0)) for ds in dsdict.values())
    if n == 0:
        return dsdict, 0

    def nullify(batch: dict[str, list]) -> dict[str, list]:
        return {column: [None if v is None or sum(v) == 0 else v for v in batch[column]]}

    return type(dsdict)({k: v.map(nullify, batched=True, features=v.features) for k, v in dsdict.items()}), n
