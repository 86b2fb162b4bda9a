"""The pipeline's stage functions: each one calls the project module that does the work and writes its outputs.

Every function takes a :class:`~hf_ambiguity.pipeline.runner.StageContext` whose ``options`` are the config
sections it depends on (so a changed option re-runs exactly the stages that read it) and returns a short summary.
Datasets are written with ``save_to_disk`` (audio bytes embedded, so stage folders are self-contained);
statistics as JSON in the format :mod:`hf_ambiguity.pipeline.report` reads.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from hf_ambiguity.pipeline.runner import RUN_INFO_FILE, StageContext
from hf_ambiguity.schema import AMBIGUITY_LEVELS, class_names
from hf_ambiguity.splits import pool_splits

__all__ = ["stage_model", "stage_build", "stage_annotate", "stage_merge", "stage_alignment", "stage_augment",
           "stage_train", "stage_evaluate", "stage_export", "corpus_statistics",
           "leave_one_label_out", "train_command", "read_training_log", "make_annotator", "write_json",
           "load_dataset_dir", "DATASET_DIR"]

#: Folder name of the dataset inside a stage folder.
DATASET_DIR = "dataset"


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON (numpy scalars converted)."""
    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        raise TypeError(f"not JSON-serialisable: {type(o).__name__}")

    path.write_text(json.dumps(obj, indent=2, default=default) + "\n", encoding="utf-8")


def load_dataset_dir(folder: Path) -> Any:
    """``datasets.load_from_disk`` of a stage's dataset folder."""
    import datasets

    return datasets.load_from_disk(str(folder))


def _matrix(ds: Any, column: str) -> np.ndarray:
    return np.asarray(ds.with_format("numpy")[column], dtype=np.float64)


# ------------------------------------------------------------------------------------------------ 00_model


def stage_model(ctx: StageContext) -> Mapping[str, Any]:
    """Build the tiny random-weight Qwen2-Audio (demo / tests) into ``model/``."""
    from hf_ambiguity.tiny_alm import build_tiny_qwen2_audio

    path = build_tiny_qwen2_audio(ctx.out_dir / "model", seed=int(ctx.options["seed"]))
    n_bytes = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return {"model": "tiny random-weight Qwen2-Audio", "megabytes": round(n_bytes / 1e6, 1)}


# ------------------------------------------------------------------------------------------------ 01_build


def corpus_statistics(ds: Any) -> dict[str, Any]:
    """Counts the report prints: utterances, speakers, annotators, dropped labels, class × ambiguity table."""
    classes = class_names(ds)
    majority = [classes[i] for i in ds["majority_label"]]
    ambiguity = list(ds["ambiguity"])
    n_ann = np.asarray(ds["n_annotators"], dtype=float)
    table = {c: {lv: 0 for lv in AMBIGUITY_LEVELS} for c in classes}
    for c, lv in zip(majority, ambiguity):
        table[c][lv] += 1
    return {
        "n_utterances": len(ds),
        "n_speakers": len(set(ds["speaker"])) if "speaker" in ds.column_names else None,
        "classes": classes,
        "annotators": {"mean": float(n_ann.mean()) if len(n_ann) else None,
                       "min": int(n_ann.min()) if len(n_ann) else None,
                       "max": int(n_ann.max()) if len(n_ann) else None},
        "dropped_labels": int(np.sum(ds["n_dropped_labels"])) if "n_dropped_labels" in ds.column_names else None,
        "class_counts": dict(Counter(majority)),
        "ambiguity_counts": {lv: ambiguity.count(lv) for lv in AMBIGUITY_LEVELS},
        "class_by_ambiguity": table,
    }


def stage_build(ctx: StageContext) -> Mapping[str, Any]:
    """Raw corpus (or the generated demo corpus) → the corpus' ``DatasetDict`` (IEMOCAP: one split per session,
    MSP-Podcast: its partitions) with every annotator's answer and the human distributions."""
    from hf_ambiguity.builders import build_dataset
    from hf_ambiguity.distributions import AmbiguityDefinition

    opt = ctx.options
    kind = opt["kind"]
    if kind == "demo":
        from hf_ambiguity.demo import make_demo_corpus

        data_dir = make_demo_corpus(ctx.out_dir / "raw", n_utterances=opt["demo_utterances"])
        corpus = "iemocap"
    else:
        data_dir = Path(opt["data_dir"])
        corpus = kind
    extra = {"multi_label": opt["multi_label"]} if corpus == "iemocap" else {}
    dsdict, report = build_dataset(corpus, data_dir, class_set=opt["class_set"], cache_dir=ctx.cache_dir / "hf",
                                   ambiguity=opt["ambiguity"], strict=not opt["lenient"], **extra)
    if opt["max_utterances"] is not None:
        keep = set(sorted(pool_splits(dsdict)["id"])[: opt["max_utterances"]])
        dsdict = dsdict.filter(lambda ids: [i in keep for i in ids], input_columns="id", batched=True)
        dsdict = type(dsdict)({k: v for k, v in dsdict.items() if len(v)})
    dsdict.save_to_disk(str(ctx.out_dir / DATASET_DIR))
    stats = corpus_statistics(pool_splits(dsdict))
    stats["ambiguity_definition"] = AmbiguityDefinition.from_options(report.options).describe()
    rr = report.read_report
    stats["build_report"] = {"utterances read": rr.utterances_read, "kept": rr.utterances_kept,
                             "skipped": sum(rr.skipped.values()),
                             "labels outside the class set": sum(rr.dropped_labels.values()),
                             "splits": ", ".join(f"{k} {v}" for k, v in dsdict.num_rows.items())}
    write_json(ctx.out_dir / "corpus_stats.json", stats)
    build_record = report.to_dict()
    build_record.pop("prepared_dir", None)  # a cache path of this attempt, not a property of the output
    write_json(ctx.out_dir / "build_report.json", build_record)
    write_json(ctx.out_dir / "card_info.json", report.card_info().to_yaml_dict())
    (ctx.out_dir / "build_report.md").write_text(report.as_markdown(), encoding="utf-8")
    return {"utterances": stats["n_utterances"], "corpus": corpus, "splits": len(dsdict)}


# ------------------------------------------------------------------------------------------------ 02_annotate


def make_annotator(opt: Mapping[str, Any], model_dir: Path | None) -> Any:
    """The :class:`hf_ambiguity.alm.base.Annotator` a config's ``annotate`` section names."""
    if opt["backend"] == "transformers":
        from hf_ambiguity.alm.local import TransformersAnnotator

        model = str(model_dir) if opt["model"] == "tiny" else opt["model"]
        return TransformersAnnotator(model, device=opt["device"], trust_remote_code=opt["trust_remote_code"])
    from hf_ambiguity.alm import hosted

    if opt["backend"] == "gemini":
        return hosted.GeminiAnnotator(opt["model"])
    kwargs = {"base_url": opt["base_url"]} if opt.get("base_url") else {}
    return hosted.OpenAICompatibleAnnotator(opt["model"], **kwargs)


def stage_annotate(ctx: StageContext) -> Mapping[str, Any]:
    """Synthetic annotators on every split. Finished requests are kept in the stage's cache folder, so a run killed
    in the middle redoes only what was missing (same columns as an uninterrupted run)."""
    import datasets

    opt = {**ctx.options, **ctx.runtime}   # runtime: batch_size, device (not part of the stage's input hash)
    dsdict = datasets.load_from_disk(str(ctx.input("build") / DATASET_DIR))
    model_dir = ctx.input("model") / "model" if opt["model"] == "tiny" else None
    annotator = make_annotator(opt, model_dir)
    out, reports = {}, {}
    for split in sorted(dsdict):
        out[split], rep = annotate_split(dsdict[split], annotator, opt, ctx.cache_dir / split)
        reports[split] = rep
    datasets.DatasetDict(out).save_to_disk(str(ctx.out_dir / DATASET_DIR))
    n = sum(r.n_items for r in reports.values())
    secs = sum(r.elapsed_s for r in reports.values())
    stats = {
        "model": opt["model"], "backend": opt["backend"], "mode": opt["mode"], "n_annotators": opt["n_annotators"],
        "n_utterances": n, "invalid_answers": sum(r.n_invalid_answers for r in reports.values()),
        "utterances_without_valid_label": sum(r.n_items_without_valid_label for r in reports.values()),
        "provenance": next(iter(reports.values())).provenance,
    }
    write_json(ctx.out_dir / "annotate_stats.json", stats)
    write_json(ctx.out_dir / RUN_INFO_FILE, {
        "annotation_seconds": secs, "utterances_per_second": n / secs if secs > 0 else None,
        "results_from_cache": sum(r.n_cached_results for r in reports.values()),
        "new_results": sum(r.n_new_results for r in reports.values())})
    return {"utterances": n, "mode": opt["mode"], "invalid answers": stats["invalid_answers"],
            "without valid label": stats["utterances_without_valid_label"]}


def annotate_split(ds: Any, annotator: Any, opt: Mapping[str, Any], cache: Path) -> tuple[Any, Any]:
    """:func:`hf_ambiguity.annotate.annotate` of one split with the config's options and a resume cache."""
    from hf_ambiguity.annotate import annotate

    cache.mkdir(parents=True, exist_ok=True)
    return annotate(ds, annotator, name=opt["name"], mode=opt["mode"], n_annotators=opt["n_annotators"],
                    seed=opt["seed"], batch_size=opt["batch_size"], cache_dir=str(cache))


# ------------------------------------------------------------------------------------------------ 03_merge


def stage_merge(ctx: StageContext) -> Mapping[str, Any]:
    """``combined_votes`` / ``combined_dist`` = human + synthetic votes merged by the configured strategy (the
    adaptive merge is fitted once on all splits' human votes)."""
    import datasets

    from hf_ambiguity.annotate import merge_dataset

    opt = ctx.options
    dsdict = datasets.load_from_disk(str(ctx.input("annotate") / DATASET_DIR))
    adaptive = None
    if opt["strategy"] == "adaptive":
        from hf_ambiguity.annotate.merge import fit_adaptive_merge

        allrows = pool_splits(dsdict)
        adaptive = fit_adaptive_merge(_matrix(allrows, "human_votes"), _matrix(allrows, f"{opt['name']}_votes"))
    out = datasets.DatasetDict({k: merge_dataset(v, synthetic=opt["name"], strategy=opt["strategy"], weight=opt["weight"],
                                         adaptive=adaptive) for k, v in dsdict.items()})
    out.save_to_disk(str(ctx.out_dir / DATASET_DIR))
    syn_w = _matrix(pool_splits(out), f"{opt['name']}_votes").sum(axis=1)
    return {"strategy": opt["strategy"], "mean synthetic votes": round(float(syn_w.mean()), 3)}


# ------------------------------------------------------------------------------------------------ 04_alignment

def _label_counts(ds: Any, classes: list[str]) -> list[np.ndarray]:
    """Per item, the class index of every label in ``human_labels`` (one entry per label named)."""
    index = {c: i for i, c in enumerate(classes)}
    return [np.asarray([index[c] for c in labels], dtype=np.int64) for labels in ds["human_labels"]]


def leave_one_label_out(labels: list[np.ndarray], synthetic_votes: np.ndarray, n_classes: int, *,
                        strategy: str, weight: float, adaptive: Any = None) -> dict[str, np.ndarray]:
    """Per item: how well human-only and human + synthetic predict a held-out human label.

    For every item with at least two human labels, each label in turn is held out; the rest give the human-only
    distribution (A) and, merged with the item's synthetic votes by ``strategy``, the merged distribution (B). The
    score is the JS divergence (base 2) of A and of B to the held-out label (one-hot), averaged over the held-out
    choices. Returns ``{"items", "human_only", "merged"}`` (item indices and the two per-item scores).
    """
    from hf_ambiguity.analysis.divergences import js_divergence
    from hf_ambiguity.annotate.merge import merge_votes

    rows_item, rest, held = [], [], []
    for i, lab in enumerate(labels):
        if lab.size < 2:
            continue
        counts = np.bincount(lab, minlength=n_classes).astype(np.float64)
        for c in lab:
            r = counts.copy()
            r[c] -= 1
            rows_item.append(i)
            rest.append(r)
            held.append(c)
    if not rows_item:
        return {"items": np.zeros(0, dtype=np.int64), "human_only": np.zeros(0), "merged": np.zeros(0)}
    item = np.asarray(rows_item)
    rest_v = np.asarray(rest)
    onehot = np.eye(n_classes)[np.asarray(held)]
    human = rest_v / rest_v.sum(axis=1, keepdims=True)
    merged = merge_votes(rest_v, synthetic_votes[item], strategy=strategy, weight=weight, adaptive=adaptive).dist
    div_h = js_divergence(human, onehot)
    div_m = js_divergence(merged, onehot)
    items, inverse = np.unique(item, return_inverse=True)
    n = np.bincount(inverse)
    return {"items": items, "human_only": np.bincount(inverse, weights=div_h) / n,
            "merged": np.bincount(inverse, weights=div_m) / n}


def _agreement(votes: np.ndarray) -> dict[str, Any]:
    """Krippendorff's α and Fleiss' κ (subsample scheme) of an integer vote-count table; a statistic that is
    undefined on this data (e.g. no item with two votes) is ``None`` with the reason in ``note``."""
    from hf_ambiguity.analysis import agreement

    v = np.rint(votes).astype(np.int64)
    out: dict[str, Any] = {}
    notes = []
    try:
        out["krippendorff_alpha"] = agreement.krippendorff_alpha(v).alpha
    except ValueError as exc:
        out["krippendorff_alpha"] = None
        notes.append(f"α undefined: {exc}")
    try:
        k = agreement.fleiss_kappa(v)
        out["fleiss_kappa"] = k.kappa
        notes.append(f"κ on {k.n_items_used} items, {k.scheme} to {k.n_raters} raters"
                     + (f" ({k.n_items_excluded} excluded)" if k.n_items_excluded else ""))
    except ValueError as exc:
        out["fleiss_kappa"] = None
        notes.append(f"κ undefined: {exc}")
    out["note"] = "; ".join(notes)
    return out


def stage_alignment(ctx: StageContext) -> Mapping[str, Any]:
    """Human vs synthetic (and merged) alignment by ambiguity level, the paired held-out test, and agreement."""
    from hf_ambiguity.analysis.alignment import alignment_statistics, summarise_alignment
    from hf_ambiguity.analysis.significance import paired_comparison

    opt = ctx.options
    ds = pool_splits(load_dataset_dir(ctx.input(opt["base"]) / DATASET_DIR))
    classes = class_names(ds)
    k = len(classes)
    human = _matrix(ds, "human_dist")
    amb = list(ds["ambiguity"])
    out: dict[str, Any] = {"comparisons": {}, "full": {}}
    name = opt["name"]
    labels = _label_counts(ds, classes)
    human_counts = np.stack([np.bincount(x, minlength=k) for x in labels]).astype(np.float64)
    agreement: dict[str, Any] = {"human": _agreement(human_counts)}
    summary: dict[str, Any] = {"items": len(ds)}
    if opt["synthetic"]:
        out["description"] = (
            f"`{name}_dist` (synthetic annotators) and `combined_dist` (human + synthetic, merge "
            f"`{opt['merge']['strategy']}`) against `human_dist`. The combined distribution contains the human "
            "labels, so it is closer to them by construction; the paired test below asks the fair question: does "
            "adding the synthetic labels help predict a *held-out* human label?")
        syn_votes = _matrix(ds, f"{name}_votes")
        has = syn_votes.sum(axis=1) > 0   # sample mode: no parsable answer -> no synthetic distribution
        out["utterances_without_synthetic_label"] = int((~has).sum())
        if not has.all():
            out["description"] += (f" {int((~has).sum())} of {len(ds)} utterances got no parsable synthetic answer "
                                   "and are left out of the synthetic-vs-human rows.")
        syn = _matrix(ds, f"{name}_dist")
        comb = _matrix(ds, "combined_dist")
        amb_arr = np.asarray(amb)
        for key, pred, ref, lv, title in (
                ("synthetic_vs_human", syn[has], human[has], amb_arr[has], "synthetic vs human"),
                ("combined_vs_human", comb, human, amb_arr, "combined vs human")):
            if len(pred) == 0:
                continue
            st = alignment_statistics(pred, ref, lv, n_bootstrap=opt["n_bootstrap"], seed=opt["seed"])
            out["full"][key] = st
            out["comparisons"][key] = {"title": title, **summarise_alignment(st)}
        if "synthetic_vs_human" in out["comparisons"]:
            summary["JS synthetic vs human"] = round(out["comparisons"]["synthetic_vs_human"]["overall"]
                                                    ["js_divergence"]["mean"], 4)
        adaptive = None
        if opt["merge"]["strategy"] == "adaptive":
            from hf_ambiguity.annotate.merge import fit_adaptive_merge

            adaptive = fit_adaptive_merge(human_counts, syn_votes)
        loo = leave_one_label_out(labels, syn_votes, k, strategy=opt["merge"]["strategy"],
                                  weight=opt["merge"]["weight"], adaptive=adaptive)
        if loo["items"].size >= 2:
            amb_loo = [amb[i] for i in loo["items"]]
            res = paired_comparison(loo["merged"], loo["human_only"], amb_loo, n_resamples=opt["n_resamples"],
                                    seed=opt["seed"])
            rows = []
            for level, t in [*((lv, res.per_level[lv]) for lv in AMBIGUITY_LEVELS if lv in res.per_level),
                             ("overall", res.overall)]:
                rows.append({"level": level, "n": t.n_items, "mean_a": t.mean_a, "mean_b": t.mean_b,
                             "effect_size": t.rank_biserial, "p_value": t.wilcoxon_pvalue,
                             "p_corrected": t.wilcoxon_pvalue_corrected if level != "overall" else t.wilcoxon_pvalue,
                             "significant": bool((t.wilcoxon_pvalue_corrected if level != "overall"
                                                  else t.wilcoxon_pvalue) < 0.05)})
            out["paired_test"] = {
                "name_a": "human + synthetic", "name_b": "human only", "correction": res.correction,
                "description": ("leave-one-label-out: each human label in turn is held out; JS divergence (base 2) "
                                "of the remaining human labels (human only) and of those merged with the synthetic "
                                "votes (human + synthetic) to the held-out label, averaged per utterance; Wilcoxon "
                                "signed-rank test per ambiguity level, Holm-corrected across levels; effect size = "
                                "matched-pairs rank-biserial correlation (negative: human + synthetic is closer). "
                                f"{loo['items'].size} utterances with at least two human labels."),
                "rows": rows, "full": res.to_dict()}
        if opt["synthetic_labels"]:
            from hf_ambiguity.analysis.agreement import synthetic_human_agreement

            agreement[f"synthetic annotators (`{name}`)"] = _agreement(syn_votes)
            agreement["human + synthetic"] = _agreement(human_counts + syn_votes)
            sh = synthetic_human_agreement(human_counts.astype(np.int64), np.rint(syn_votes).astype(np.int64))
            agreement["human + synthetic"]["note"] += (
                f"; synthetic plurality = human plurality on {sh.plurality_agreement:.3f} of "
                f"{sh.n_items_plurality} items with a unique plurality on both sides")
        else:
            agreement[f"synthetic annotators (`{name}`)"] = {
                "note": "score mode gives one distribution per utterance, not labels: no agreement statistic"}
    else:
        out["description"] = "No synthetic annotators in this run: human agreement only."
    out["agreement"] = agreement
    write_json(ctx.out_dir / "alignment.json", out)
    alpha = agreement["human"].get("krippendorff_alpha")
    summary["human alpha"] = None if alpha is None else round(alpha, 3)
    return summary


# ------------------------------------------------------------------------------------------------ 05_augment


def _eval_view(test: Any, out_dir: Path, seed: int) -> dict[str, Any]:
    """The balanced evaluation view of the test split (originals only; every dominant human emotion × ambiguity
    cell equally represented): its ids go to ``eval_view_ids.json``, its composition into the record."""
    from hf_ambiguity.augment import balanced_eval_view

    view, composition, weights = balanced_eval_view(test, "human_dist", seed=seed)
    classes = class_names(test)
    table = {c: {lv: 0 for lv in AMBIGUITY_LEVELS} for c in classes}
    for p, lv in zip(view["human_dist"], view["ambiguity"]):
        table[classes[int(np.argmax(p))]][lv] += 1
    write_json(out_dir / "eval_view_ids.json", [str(x) for x in view["id"]])
    (out_dir / "eval_view.md").write_text(composition, encoding="utf-8")
    return {"description": "dominant human emotion × ambiguity level, the same number of test utterances per "
                           "non-empty cell" + (f"; empty cells: {', '.join(weights.empty_cells)}"
                                               if weights.empty_cells else ""),
            "n": len(view), "table": table}


def _null_empty_synthetic(dsdict: Any, column: str) -> tuple[Any, int]:
    """Sample mode leaves an all-zero ``<name>_dist`` where no synthetic answer parsed; such a row has no synthetic
    distribution, so it becomes null (DiME-Aug mixes it to null, training on that target skips it)."""
    if column not in next(iter(dsdict.values())).column_names:
        return dsdict, 0
    n = sum(int(sum(1 for v in ds[column] if v is None or sum(v) == 0)) for ds in dsdict.values())
    if n == 0:
        return dsdict, 0

    def nullify(batch: dict[str, list]) -> dict[str, list]:
        return {column: [None if v is None or sum(v) == 0 else v for v in batch[column]]}

    return type(dsdict)({k: v.map(nullify, batched=True, features=v.features) for k, v in dsdict.items()}), n


def stage_augment(ctx: StageContext) -> Mapping[str, Any]:
    """Train / validation / test split (:func:`hf_ambiguity.splits.train_validation_test`, as the training script), then DiME-Aug of the training
    part once per training target; validation and test stay real. One ``DatasetDict`` per target."""
    import datasets

    from hf_ambiguity.augment import dime_aug
    from hf_ambiguity.splits import train_validation_test

    opt = ctx.options
    sp, au = opt["split"], opt["augment"]
    dsdict = datasets.load_from_disk(str(ctx.input(opt["base"]) / DATASET_DIR))
    syn_col = f"{opt['name']}_dist"
    dsdict, n_unlabelled = _null_empty_synthetic(dsdict, syn_col)
    splits, description = train_validation_test(
        dsdict, kind=sp["kind"], test_fraction=sp["test_fraction"], seed=sp["seed"], test_session=sp["test_session"],
        test_partition=sp["test_partition"], validation_fraction=sp["validation_fraction"])
    record: dict[str, Any] = {
        "split": {"kind": sp["kind"], "description": description,
                  **{k: len(v) for k, v in splits.items()}},
        "targets": {},
    }
    summary: dict[str, Any] = {k: len(v) for k, v in splits.items()}
    if n_unlabelled:
        record["split"]["without_synthetic_label"] = n_unlabelled
    for target in opt["targets"]:
        parts = dict(splits)
        if target == syn_col and n_unlabelled:   # no synthetic distribution: cannot be a row of this target
            parts = {k: v.filter(lambda x: x is not None, input_columns=syn_col) for k, v in parts.items()}
            record["split"][f"rows for {target}"] = {k: len(v) for k, v in parts.items()}
        train = parts["train"]
        if au["enabled"]:
            train, rep = dime_aug(train, target, ratio=au["ratio"], k=au["k"], seed=au["seed"],
                                  balance_by=au["balance_by"])
            record["targets"][target] = {
                "ratio": au["ratio"], "k": au["k"], "balance_by": au["balance_by"], "n_new": rep.n_generated,
                "before": dict(rep.counts_before), "after": dict(rep.counts_after),
                "shortfall": sum(rep.shortfall.values()), "report": rep.to_dict()}
            (ctx.out_dir / f"dime_aug_{target}.md").write_text(rep.to_markdown(), encoding="utf-8")
            summary[f"new for {target}"] = rep.n_generated
        datasets.DatasetDict({"train": train, "validation": parts["validation"], "test": parts["test"]}) \
            .save_to_disk(str(ctx.out_dir / target))
    if opt["eval_view"]:
        record["eval_view"] = _eval_view(splits["test"], ctx.out_dir, au["seed"])
    write_json(ctx.out_dir / "augment.json", record)
    return summary


# ------------------------------------------------------------------------------------------------ 06_train


def train_command(opt: Mapping[str, Any], *, dataset: Path, target: str, model: str, output_dir: Path,
                  resume: bool, checkpointing_steps: int | None = None) -> list[str]:
    """The ``accelerate launch -m hf_ambiguity.training.train ...`` command of one target."""
    import sys

    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    if opt["accelerate_config"]:
        cmd += ["--config_file", opt["accelerate_config"]]
    else:
        # one process; mixed precision comes from the training preset (fp16 for paper) or --mixed_precision
        cmd += ["--num_processes", "1", "--num_machines", "1", "--dynamo_backend", "no"]
    cmd += ["-m", "hf_ambiguity.training.train", "--dataset", str(dataset), "--split", "dataset", "--no_dime_aug",
            "--target", target, "--model", model, "--preset", opt["preset"], "--seed", str(opt["seed"]),
            "--output_dir", str(output_dir), "--report_to", "tensorboard"]
    for key, flag in (("max_steps", "--max_train_steps"), ("batch_size", "--per_device_train_batch_size"),
                      ("gradient_accumulation_steps", "--gradient_accumulation_steps"),
                      ("learning_rate", "--learning_rate")):
        if opt[key] is not None:
            cmd += [flag, str(opt[key])]
    if checkpointing_steps:
        cmd += ["--checkpointing_steps", str(checkpointing_steps)]
    if resume:
        cmd += ["--resume_from_checkpoint", "latest"]
    return cmd + list(opt["extra_args"])


def stage_train(ctx: StageContext) -> Mapping[str, Any]:
    """One ``accelerate launch`` fine-tuning subprocess per target, on that target's DiME-Aug training set.

    Training writes into the stage's cache folder (kept across a kill) and resumes from its latest ``step_N``
    checkpoint; the finished model (adapter + head), metrics and logs are copied into the stage folder.
    """
    import shutil
    import subprocess
    import time

    opt = ctx.options
    model = str(ctx.input("model") / "model") if opt["model"] == "tiny" else opt["model"]
    record: dict[str, Any] = {"model": opt["model"], "preset": opt["preset"], "targets": {}}
    timings: dict[str, Any] = {}
    for target in opt["targets"]:
        work = ctx.cache_dir / target
        resume = work.is_dir() and any(work.glob("step_*/training_state.json"))
        if not resume:
            shutil.rmtree(work, ignore_errors=True)  # a killed attempt without a checkpoint: start clean
        cmd = train_command(opt, dataset=ctx.input("augment") / target, target=target, model=model,
                            output_dir=work, resume=resume,
                            checkpointing_steps=ctx.runtime.get("checkpointing_steps"))
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        (ctx.out_dir / f"train_{target}.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
        if proc.returncode != 0:
            raise RuntimeError(f"training {target} failed (exit {proc.returncode}); command: {' '.join(cmd)}\n"
                               f"last output:\n{(proc.stdout + proc.stderr)[-3000:]}")
        dest = ctx.out_dir / "models" / target
        shutil.copytree(work, dest, ignore=shutil.ignore_patterns("step_*"))
        record["targets"][target] = read_training_log(dest)
        res = json.loads((dest / "eval_results.json").read_text()) if (dest / "eval_results.json").is_file() else {}
        timings[target] = {"seconds": seconds, "resumed": resume,
                           "samples_per_second": res.get("samples_per_second_this_run")}
        record["command"] = " ".join(["accelerate launch", *cmd[3:]]).replace(str(ctx.run_dir), "<run_dir>")
    write_json(ctx.out_dir / "train.json", record)
    write_json(ctx.out_dir / RUN_INFO_FILE, timings)
    return {t: f"{r.get('steps', '?')} steps" for t, r in record["targets"].items()}


def read_training_log(folder: Path) -> dict[str, Any]:
    """Loss per optimizer step (``train_log.jsonl``) and validation loss (``eval_log.jsonl``) of a training run."""
    def rows(name: str) -> list[dict[str, Any]]:
        path = folder / name
        if not path.is_file():
            return []
        return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]

    log: dict[int, dict[str, Any]] = {}
    for r in rows("train_log.jsonl"):
        log.setdefault(r["step"], {"step": r["step"]})["loss"] = r.get("loss")
    for r in rows("eval_log.jsonl"):
        log.setdefault(r["step"], {"step": r["step"]})["val_loss"] = r.get("loss")
    res = json.loads((folder / "eval_results.json").read_text()) if (folder / "eval_results.json").is_file() else {}
    return {"log": [log[k] for k in sorted(log)], "steps": res.get("completed_steps"),
            "best_step": res.get("best_step"), "best_val_loss": res.get("best_val_loss")}


# ------------------------------------------------------------------------------------------------ 07_evaluate


def stage_evaluate(ctx: StageContext) -> Mapping[str, Any]:
    """Each fine-tuned model predicts the test split; its distributions are scored against the test set's own
    target (the reference's scoring) and/or the human distributions, overall and per ambiguity level, with
    bootstrap CIs."""
    import datasets

    from hf_ambiguity.analysis.alignment import alignment_statistics, summarise_alignment
    from hf_ambiguity.training import load_trained, predict_distributions

    opt = ctx.options
    against = opt["evaluate_against"]
    record: dict[str, Any] = {"targets": {}, "predictions": {}}
    record["description"] = (
        "Test split predictions of each fine-tuned model, scored against the test set's distributions of the "
        "model's own label source (`own`, the reference's scoring) and against the human distributions "
        "(`human`, the project's recommendation: the human judgments are what a model should match).")
    summary: dict[str, Any] = {}
    for model_dir in sorted((ctx.input("train") / "models").iterdir()):
        target = model_dir.name
        test = datasets.load_from_disk(str(ctx.input("augment") / target))["test"]
        model = load_trained(str(model_dir))
        pred = np.asarray(predict_distributions(model, test), dtype=np.float64)
        amb = list(test["ambiguity"])
        refs = []
        if against in ("own", "both"):
            own_title = (f"its own label source (`{target}`)" if target != "human_dist" else
                         "its own label source, the human distributions (`human_dist`)")
            refs.append(("own", target, own_title))
        if against == "human" or (against == "both" and target != "human_dist"):
            refs.append(("human", "human_dist", "the human distributions (`human_dist`)"))
        record["targets"][target] = {}
        for key, column, title in refs:
            st = alignment_statistics(pred, _matrix(test, column), amb, n_bootstrap=opt["n_bootstrap"],
                                      seed=opt["seed"])
            record["targets"][target][key] = {"reference": title, "reference_column": column,
                                              **summarise_alignment(st), "full": st}
            summary[f"JS {target} vs {column}"] = round(st["overall"]["js_divergence_base2"], 4)
        view_ids = ctx.input("augment") / "eval_view_ids.json"
        if view_ids.is_file():
            keep = set(json.loads(view_ids.read_text()))
            rows = [i for i, x in enumerate(test["id"]) if str(x) in keep]
            if rows:
                st = alignment_statistics(pred[rows], _matrix(test, "human_dist")[rows], [amb[i] for i in rows],
                                          n_bootstrap=opt["n_bootstrap"], seed=opt["seed"])
                record["targets"][target]["balanced"] = {
                    "reference": "the human distributions on the balanced evaluation view (equal counts per "
                                 "dominant emotion × ambiguity cell)", "reference_column": "human_dist (balanced)",
                    **summarise_alignment(st), "full": st}
        np.save(ctx.out_dir / f"predictions_{target}.npy", pred)
        record["predictions"][target] = f"predictions_{target}.npy"
    write_json(ctx.out_dir / "evaluation.json", record)
    return summary


# ------------------------------------------------------------------------------------------------ 08_export


def stage_export(ctx: StageContext) -> Mapping[str, Any]:
    """The merged dataset in the Hub layout (parquet shards + dataset card with provenance), loadable with
    ``datasets.load_dataset(folder)``; pushed (private by default) when ``export.push_to`` is set."""
    import datasets

    from hf_ambiguity.hub import export_to_hub_layout, push_dataset
    from hf_ambiguity.hub.card import CardInfo, add_provenance_to_card

    opt = ctx.options
    dsdict = datasets.load_from_disk(str(ctx.input(opt["base"]) / DATASET_DIR))
    info = CardInfo.from_yaml_dict(json.loads((ctx.input("build") / "card_info.json").read_text()))
    if opt["annotate"] is not None:
        info = add_provenance_to_card(info, next(iter(dsdict.values())))
    folder = ctx.out_dir / "hub"
    res = export_to_hub_layout(dsdict, folder, card_info=info)
    record: dict[str, Any] = {"folder": "08_export/hub",
                              "splits": dict(res.num_rows), "pushed_to": None, "private": opt["private"]}
    if opt["push_to"]:
        push_dataset(folder, opt["push_to"], private=opt["private"], license_acknowledged=opt["acknowledge_license"],
                     licensed=info.licensed, card_info=info)
        record["pushed_to"] = opt["push_to"]
    write_json(ctx.out_dir / "export.json", record)
    return {"rows": sum(res.num_rows.values()), "pushed": record["pushed_to"] or "no"}
