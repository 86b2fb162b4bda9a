"""The pipeline's stage functions: glue. Each one reads its inputs, calls the library function that does the work
and writes the outputs; the runner (:mod:`hf_ambiguity.pipeline.runner`) owns folder and file names.

Every function takes a :class:`~hf_ambiguity.pipeline.runner.StageContext` whose ``options`` are the config
sections it depends on (so a changed option re-runs exactly the stages that read it) and returns a short summary.
Datasets are written with ``save_to_disk`` (audio bytes embedded, so stage folders are self-contained);
statistics as JSON records that :mod:`hf_ambiguity.pipeline.report` reads.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from hf_ambiguity.pipeline.runner import RUN_INFO_FILE, StageContext
from hf_ambiguity.splits import pool_splits

__all__ = ["stage_model", "stage_build", "stage_annotate", "stage_merge", "stage_alignment", "stage_augment",
           "stage_train", "stage_evaluate", "stage_export"]


# ------------------------------------------------------------------------------------------------ 00_model


def stage_model(ctx: StageContext) -> Mapping[str, Any]:
    """Build the tiny random-weight Qwen2-Audio (demo / tests) into ``model/``."""
    from hf_ambiguity.tiny_alm import build_tiny_qwen2_audio

    path = build_tiny_qwen2_audio(ctx.out_dir / "model", seed=int(ctx.options["seed"]))
    n_bytes = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return {"model": "tiny random-weight Qwen2-Audio", "megabytes": round(n_bytes / 1e6, 1)}


# ------------------------------------------------------------------------------------------------ 01_build


def stage_build(ctx: StageContext) -> Mapping[str, Any]:
    """Raw corpus (or the generated demo corpus) → the corpus' ``DatasetDict`` (IEMOCAP: one split per session,
    MSP-Podcast: its partitions) with every annotator's answer and the human distributions."""
    from hf_ambiguity.builders import build_dataset
    from hf_ambiguity.builders.statistics import corpus_statistics
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
    dsdict, report = build_dataset(corpus, data_dir, class_set=opt["class_set"], cache_dir=ctx.cache_dir / "hf",
                                   **reader_options(opt, corpus))
    subset = None
    if opt["max_utterances"] is not None:
        from hf_ambiguity.builders.subset import stratified_subset

        dsdict, subset = stratified_subset(dsdict, opt["max_utterances"], seed=opt["seed"])
    ctx.save_dataset(dsdict)
    stats = corpus_statistics(pool_splits(dsdict))
    if subset is not None:
        stats["subset"] = subset.to_dict()
    stats["ambiguity_definition"] = AmbiguityDefinition.from_options(report.options).describe()
    rr = report.read_report
    stats["out_of_set_policy"] = rr.policy
    stats["selection"] = dict(rr.selection)
    stats["build_report"] = {"utterances read": rr.utterances_read, "kept": rr.utterances_kept,
                             "skipped": sum(rr.skipped.values()),
                             "labels outside the class set": sum(rr.dropped_labels.values()),
                             "splits": ", ".join(f"{k} {v}" for k, v in dsdict.num_rows.items())}
    ctx.write_record("build", stats)
    build_record = report.to_dict()
    build_record.pop("prepared_dir", None)  # a cache path of this attempt, not a property of the output
    ctx.write_json("build_report.json", build_record)
    ctx.write_json("card_info.json", report.card_info().to_yaml_dict())
    ctx.write_text("build_report.md", report.as_markdown())
    return {"utterances": stats["n_utterances"], "corpus": corpus, "splits": len(dsdict)}


def reader_options(opt: Mapping[str, Any], corpus: str) -> dict[str, Any]:
    """The builder / reader options of a config's ``corpus`` section."""
    out: dict[str, Any] = {"ambiguity": opt["ambiguity"], "ambiguity_ties": opt["ambiguity_ties"],
                           "strict": not opt["lenient"],
                           "out_of_set": opt["out_of_set"], "min_in_set_share": opt["min_in_set_share"]}
    if opt["ids_file"]:
        out["ids_file"] = opt["ids_file"]
    if corpus == "iemocap":
        out["multi_label"] = opt["multi_label"]
    elif opt["partitions"]:
        out["partitions"] = dict(opt["partitions"])
    return out


# ------------------------------------------------------------------------------------------------ 02_annotate


def stage_annotate(ctx: StageContext) -> Mapping[str, Any]:
    """Synthetic annotators on every split. Finished requests are kept in the stage's cache folder, so a run killed
    in the middle redoes only what was missing (same columns as an uninterrupted run)."""
    import datasets

    from hf_ambiguity.alm.factory import make_annotator
    from hf_ambiguity.alm.prompts import prompt_protocol
    from hf_ambiguity.annotate import annotate

    opt = {**ctx.options, **ctx.runtime}   # runtime: batch_size, device (not part of the stage's input hash)
    dsdict = ctx.input_dataset("build")
    model_dir = ctx.input("model") / "model" if opt["model"] == "tiny" else None
    annotator = make_annotator(opt, model_dir)
    protocol = prompt_protocol(opt["prompt_structure"], opt["prompt_file"])
    out, reports = {}, {}
    for split in sorted(dsdict):
        cache = ctx.cache_dir / split
        cache.mkdir(parents=True, exist_ok=True)
        out[split], reports[split] = annotate(
            dsdict[split], annotator, name=opt["name"], mode=opt["mode"], n_annotators=opt["n_annotators"],
            seed=opt["seed"], batch_size=opt["batch_size"], cache_dir=str(cache), protocol=protocol,
            temperatures=opt["temperatures"], parse_rule=opt["parse_rule"])
    annotated = datasets.DatasetDict(out)
    calibration = None
    if opt["calibrate"] != "none":   # fitted on the protocol's training rows only, applied to every split
        from hf_ambiguity.annotate.calibrate import calibrate_splits

        train, fitted_on = training_rows(annotated, opt["split"])
        annotated, calibration = calibrate_splits(annotated, kind=opt["calibrate"], name=opt["name"], fit_on=train,
                                                  fitted_on=fitted_on)
    ctx.save_dataset(annotated)
    n = sum(r.n_items for r in reports.values())
    secs = sum(r.elapsed_s for r in reports.values())
    stats = {
        "model": opt["model"], "backend": opt["backend"], "mode": opt["mode"], "n_annotators": opt["n_annotators"],
        "n_utterances": n, "invalid_answers": sum(r.n_invalid_answers for r in reports.values()),
        "utterances_without_valid_label": sum(r.n_items_without_valid_label for r in reports.values()),
        "provenance": next(iter(reports.values())).provenance,
        "calibration": None if calibration is None else calibration.to_dict(),
    }
    ctx.write_record("annotate", stats)
    ctx.write_json(RUN_INFO_FILE, {
        "annotation_seconds": secs, "utterances_per_second": n / secs if secs > 0 else None,
        "results_from_cache": sum(r.n_cached_results for r in reports.values()),
        "new_results": sum(r.n_new_results for r in reports.values())})
    return {"utterances": n, "mode": opt["mode"], "invalid answers": stats["invalid_answers"],
            "without valid label": stats["utterances_without_valid_label"]}


# ------------------------------------------------------------------------------------------------ 03_merge


def stage_merge(ctx: StageContext) -> Mapping[str, Any]:
    """``combined_votes`` / ``combined_dist`` = human + synthetic votes merged by the configured strategy.

    A merge with fitted parameters (``adaptive``) is fitted on the **training split's** rows only (the protocol's
    own split, :func:`hf_ambiguity.splits.train_validation_test`), never on the test rows it is later scored on,
    and applied to every split; the provenance records which rows were used.
    """
    import datasets

    from hf_ambiguity.annotate import merge_dataset

    opt = ctx.options
    dsdict = ctx.input_dataset("annotate")
    adaptive, fitted_on = None, None
    if opt["strategy"] == "adaptive":
        adaptive, fitted_on = fit_merge_on_training_rows(dsdict, opt["name"], opt["split"])
    out = datasets.DatasetDict({k: merge_dataset(v, synthetic=opt["name"], strategy=opt["strategy"],
                                                 weight=opt["weight"], adaptive=adaptive, fitted_on=fitted_on)
                                for k, v in dsdict.items()})
    ctx.save_dataset(out)
    from hf_ambiguity.analysis.summary import column_matrix

    syn_w = column_matrix(pool_splits(out), f"{opt['name']}_votes").sum(axis=1)
    summary = {"strategy": opt["strategy"], "mean synthetic votes": round(float(syn_w.mean()), 3)}
    if fitted_on:
        summary["fitted on"] = f"{fitted_on['rows']} training rows"
    return summary


def training_rows(dsdict: Any, split: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The protocol's training rows (the same :func:`hf_ambiguity.splits.train_validation_test` the augment stage
    and the training script use), and a provenance block saying which rows they are (split description, row count,
    hash of their ids): what every parameter fitted before training (merge weights, calibration) is fitted on."""
    import hashlib

    from hf_ambiguity.splits import train_validation_test

    splits, description = train_validation_test(
        dsdict, kind=split["kind"], test_fraction=split["test_fraction"], seed=split["seed"],
        test_session=split["test_session"], test_partition=split["test_partition"],
        validation_fraction=split["validation_fraction"])
    train = splits["train"]
    ids = sorted(str(x) for x in train["id"])
    return train, {"split": "train", "split_description": description, "rows": len(ids),
                   "ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest()}


def fit_merge_on_training_rows(dsdict: Any, name: str, split: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The adaptive merge's parameters fitted on the protocol's training rows only (:func:`training_rows`), and
    the provenance block saying which rows were used."""
    from hf_ambiguity.analysis.summary import column_matrix
    from hf_ambiguity.annotate import fit_adaptive_merge

    train, fitted_on = training_rows(dsdict, split)
    params = fit_adaptive_merge(column_matrix(train, "human_votes"), column_matrix(train, f"{name}_votes"))
    return params, fitted_on


# ------------------------------------------------------------------------------------------------ 04_alignment


def stage_alignment(ctx: StageContext) -> Mapping[str, Any]:
    """Human vs synthetic (and merged) alignment by ambiguity level, the paired held-out test, and agreement."""
    from hf_ambiguity.analysis.summary import synthetic_alignment_record

    record, summary = synthetic_alignment_record(pool_splits(ctx.input_dataset(ctx.options["base"])), ctx.options,
                                                 plot_dir=ctx.out_dir)
    ctx.write_record("alignment", record)
    return summary


# ------------------------------------------------------------------------------------------------ 05_augment


def stage_augment(ctx: StageContext) -> Mapping[str, Any]:
    """Train / validation / test split (:func:`hf_ambiguity.splits.train_validation_test`, as the training script),
    then DiME-Aug of the training part once per training target; validation and test stay real. One
    ``DatasetDict`` per target."""
    import datasets

    from hf_ambiguity.annotate.engine import null_rows_without_synthetic_label
    from hf_ambiguity.augment import dime_aug
    from hf_ambiguity.augment.balanced_eval import balanced_view_record
    from hf_ambiguity.augment.dime import DIME_OPTIONS
    from hf_ambiguity.splits import train_validation_test

    opt = ctx.options
    sp, au = opt["split"], opt["augment"]
    syn_col = f"{opt['name']}_dist"
    dsdict, n_unlabelled = null_rows_without_synthetic_label(ctx.input_dataset(opt["base"]), syn_col)
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
                                  balance_by=au["balance_by"], **{o: au[o] for o in DIME_OPTIONS})
            record["targets"][target] = {
                "ratio": au["ratio"], "k": au["k"], "balance_by": au["balance_by"], "options": dict(rep.options),
                "n_new": rep.n_generated,
                "before": dict(rep.counts_before), "after": dict(rep.counts_after),
                "shortfall": sum(rep.shortfall.values()), "report": rep.to_dict()}
            ctx.write_text(f"dime_aug_{target}.md", rep.to_markdown())
            summary[f"new for {target}"] = rep.n_generated
        datasets.DatasetDict({"train": train, "validation": parts["validation"], "test": parts["test"]}) \
            .save_to_disk(str(ctx.out_dir / target))
    if opt["eval_view"]:
        ids, composition, record["eval_view"] = balanced_view_record(splits["test"], seed=au["seed"])
        ctx.write_json("eval_view_ids.json", ids)
        ctx.write_text("eval_view.md", composition)
    ctx.write_record("augment", record)
    return summary


# ------------------------------------------------------------------------------------------------ 06_train


def stage_train(ctx: StageContext) -> Mapping[str, Any]:
    """One ``accelerate launch`` fine-tuning subprocess per target, on that target's DiME-Aug training set.

    Training writes into the stage's cache folder (kept across a kill) and resumes from its latest ``step_N``
    checkpoint; the finished model (adapter + head), metrics and logs are copied into the stage folder.
    """
    from hf_ambiguity.files import read_json, write_text
    from hf_ambiguity.training.launch import read_training_log, train_command
    from hf_ambiguity.training.outputs import finished_run

    opt = ctx.options
    model = str(ctx.input("model") / "model") if opt["model"] == "tiny" else opt["model"]
    record: dict[str, Any] = {"model": opt["model"], "preset": opt["preset"], "targets": {}}
    timings: dict[str, Any] = {}
    for target in opt["targets"]:
        work = ctx.cache_dir / target
        done = finished_run(work) is not None
        resume = not done and work.is_dir() and any(work.glob("step_*/training_state.json"))
        if not done and not resume:
            shutil.rmtree(work, ignore_errors=True)  # a killed attempt without a checkpoint: start clean
        cmd = train_command(opt, dataset=ctx.input("augment") / target, target=target, model=model,
                            output_dir=work, resume=resume,
                            checkpointing_steps=ctx.runtime.get("checkpointing_steps"))
        seconds = 0.0
        if done:   # finished before a kill or a failure of a later target: never relaunched
            log_text = (ctx.cache_dir / f"train_{target}.log").read_text(encoding="utf-8") \
                if (ctx.cache_dir / f"train_{target}.log").is_file() else ""
        else:
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            log_text = proc.stdout + proc.stderr
            write_text(ctx.cache_dir / f"train_{target}.log", log_text)
            if proc.returncode != 0:
                last = next((ln for ln in reversed(log_text.splitlines()) if ln.strip()), "")
                raise RuntimeError(f"training {target} failed (exit {proc.returncode}): {last.strip()} — full log: "
                                   f"{ctx.cache_dir / f'train_{target}.log'}")
        ctx.write_text(f"train_{target}.log", log_text)
        dest = ctx.out_dir / "models" / target
        shutil.copytree(work, dest, ignore=shutil.ignore_patterns("step_*"))
        record["targets"][target] = read_training_log(dest)
        res = read_json(dest / "eval_results.json")
        timings[target] = {"seconds": seconds, "resumed": resume, "reused_finished_run": done,
                           "samples_per_second": res.get("samples_per_second_this_run") if not done else None}
        record["command"] = " ".join(["hf-ambiguity", *cmd[3:]]).replace(str(ctx.run_dir), "<run_dir>")
    ctx.write_record("train", record)
    ctx.write_json(RUN_INFO_FILE, timings)
    return {t: f"{r.get('steps', '?')} steps" for t, r in record["targets"].items()}


# ------------------------------------------------------------------------------------------------ 07_evaluate


def stage_evaluate(ctx: StageContext) -> Mapping[str, Any]:
    """Each fine-tuned model predicts the test split; its distributions are scored against the test set's own
    target (the reference's scoring) and/or the human distributions, overall and per ambiguity level, with
    bootstrap CIs."""
    import datasets

    from hf_ambiguity.analysis.summary import EVALUATION_DESCRIPTION, levels_description, model_alignment_record
    from hf_ambiguity.distributions import AmbiguityDefinition
    from hf_ambiguity.files import read_json
    from hf_ambiguity.training import load_trained, predict_distributions

    opt = ctx.options
    definition = AmbiguityDefinition(opt["ambiguity"]["kind"], tuple(opt["ambiguity"]["cuts"]),
                                     ties=opt["ambiguity"]["ties"])
    record: dict[str, Any] = {"description": EVALUATION_DESCRIPTION, "targets": {}, "predictions": {},
                              "settings": {"levels": levels_description(opt["levels_over"], definition),
                                           "argmax_ties": opt["argmax_ties"]}}
    view_ids = ctx.input("augment") / "eval_view_ids.json"
    balanced = set(read_json(view_ids)) if view_ids.is_file() else None
    summary: dict[str, Any] = {}
    for model_dir in sorted((ctx.input("train") / "models").iterdir()):
        target = model_dir.name
        test = datasets.load_from_disk(str(ctx.input("augment") / target))["test"]
        pred = np.asarray(predict_distributions(load_trained(str(model_dir)), test), dtype=np.float64)
        record["targets"][target], headline = model_alignment_record(
            pred, test, target, against=opt["evaluate_against"], n_bootstrap=opt["n_bootstrap"], seed=opt["seed"],
            balanced_ids=balanced, levels_over=opt["levels_over"], argmax_ties=opt["argmax_ties"],
            definition=definition)
        summary.update(headline)
        np.save(ctx.out_dir / f"predictions_{target}.npy", pred)
        record["predictions"][target] = f"predictions_{target}.npy"
    ctx.write_record("evaluate", record)
    return summary


# ------------------------------------------------------------------------------------------------ 08_export


def stage_export(ctx: StageContext) -> Mapping[str, Any]:
    """The merged dataset in the Hub layout (parquet shards + dataset card with provenance), loadable with
    ``datasets.load_dataset(folder)``; pushed (private by default) when ``export.push_to`` is set."""
    from hf_ambiguity.files import read_json
    from hf_ambiguity.hub import export_to_hub_layout, push_dataset
    from hf_ambiguity.hub.card import CardInfo, add_provenance_to_card

    opt = ctx.options
    dsdict = ctx.input_dataset(opt["base"])
    info = CardInfo.from_yaml_dict(read_json(ctx.input("build") / "card_info.json"))
    if opt["annotate"] is not None:   # local paths (the demo's model folder) are recorded relative to the run
        info = add_provenance_to_card(info, next(iter(dsdict.values())), base=ctx.run_dir)
    folder = ctx.out_dir / "hub"
    res = export_to_hub_layout(dsdict, folder, card_info=info, gated=opt["gated"])
    record: dict[str, Any] = {"folder": f"{ctx.folder}/hub", "splits": dict(res.num_rows), "pushed_to": None,
                              "private": opt["private"] and not opt["gated"], "gated": opt["gated"]}
    if opt["push_to"]:
        push_dataset(folder, opt["push_to"], private=None if opt["gated"] else opt["private"], gated=opt["gated"],
                     license_acknowledged=opt["acknowledge_license"], licensed=info.licensed, card_info=info)
        record["pushed_to"] = opt["push_to"]
    ctx.write_record("export", record)
    return {"rows": sum(res.num_rows.values()), "pushed": record["pushed_to"] or "no"}
