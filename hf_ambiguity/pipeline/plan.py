"""Assemble the stages a config asks for and run them: ``run_pipeline(cfg, run_dir=...)``.

Stage folders (in run order): ``00_model`` (only when a tiny demo model is used), ``01_build``, ``02_annotate``,
``03_merge``, ``04_alignment``, ``05_augment``, ``06_train``, ``07_evaluate``, ``08_export``; then ``report.md``
and ``plots/`` at the top of the run folder. A stage whose project module is not installed is left out (with the
stages that need its output) and named in the report as "not available"; it is never replaced by made-up output.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from hf_ambiguity.pipeline.config import ConfigError, PipelineConfig, config_to_dict
from hf_ambiguity.distributions import DEFAULT_AMBIGUITY_CUTS
from hf_ambiguity.files import write_text
from hf_ambiguity.provenance import redact_url
from hf_ambiguity.pipeline.runner import STAGE_FOLDERS, RunLock, Stage, StageResult, run_stages

__all__ = ["run_pipeline", "RunOutcome", "plan_stages"]


#: What each stage needs from the project: (module, attribute).
REQUIREMENTS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "model": (("hf_ambiguity.tiny_alm", "build_tiny_qwen2_audio"),),
    "build": (("hf_ambiguity.builders", "build_dataset"),),
    "annotate": (("hf_ambiguity.annotate", "annotate"),),
    "merge": (("hf_ambiguity.annotate", "merge_dataset"),),
    "alignment": (("hf_ambiguity.analysis.alignment", "alignment_statistics"),
                  ("hf_ambiguity.analysis.significance", "paired_comparison"),
                  ("hf_ambiguity.analysis.agreement", "krippendorff_alpha")),
    "augment": (("hf_ambiguity.augment", "dime_aug"), ("hf_ambiguity.splits", "train_validation_test")),
    "train": (("hf_ambiguity.training.train", "main"),),
    "evaluate": (("hf_ambiguity.training", "predict_distributions"),),
    "export": (("hf_ambiguity.hub", "export_to_hub_layout"),),
}

#: Bumped when a stage's code changes what it writes, so old run folders re-run that stage.
STAGE_VERSIONS = {k: "1" for k in STAGE_FOLDERS}

#: ``annotate`` options that are runtime settings of the stage, not inputs (see ``plan_stages``). ``base_url`` is
#: passed to the stage as given (it may carry a credential) but hashed and recorded without query or user-info.
_ANNOTATE_RUNTIME = ("batch_size", "device", "base_url")

_EVAL_VIEW = (("hf_ambiguity.augment", "balanced_eval_view"),)


def missing_requirement(stage: str, *, extra: tuple[tuple[str, str], ...] = ()) -> str | None:
    """``"<module>.<attr> missing"`` for the first requirement of ``stage`` that cannot be imported, else None."""
    for module, attr in (*REQUIREMENTS[stage], *extra):
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            return f"{module} missing ({exc})"
        try:
            getattr(mod, attr)
        except (AttributeError, ImportError):
            return f"{module}.{attr} missing"
    return None


@dataclass(frozen=True)
class RunOutcome:
    """A finished run: its folder, report, per-stage results and the stages left out (key -> why)."""

    run_dir: Path
    report: Path
    results: Mapping[str, StageResult]
    unavailable: Mapping[str, str]
    #: True when a stage the config asked for could not run because its module is missing.
    unavailable_requested: bool


def _uses_tiny(cfg: PipelineConfig) -> bool:
    return (cfg.annotate.enabled and cfg.annotate.model == "tiny") or (cfg.train.enabled and cfg.train.model == "tiny")


def plan_stages(cfg: PipelineConfig) -> tuple[list[Stage], dict[str, str]]:
    """The stages ``cfg`` asks for, in order, and those left out because a module is missing (key -> why)."""
    from hf_ambiguity.pipeline import stages as S

    c = config_to_dict(cfg)
    wanted: list[tuple[str, Callable[..., Any], tuple[str, ...], dict[str, Any]]] = []
    tiny = _uses_tiny(cfg)
    if tiny:
        wanted.append(("model", S.stage_model, (), {"seed": 0}))
    corpus_opts = dict(c["corpus"])
    wanted.append(("build", S.stage_build, (), corpus_opts))
    base = "build"
    if cfg.annotate.enabled:
        # batch size and device change how the annotation runs, not its answers (the annotation's own resume key
        # leaves them out too): not hashed, so a run killed by an out-of-memory error resumes with a smaller batch
        ann = {k: v for k, v in c["annotate"].items() if k not in _ANNOTATE_RUNTIME}
        ann["base_url"] = redact_url(cfg.annotate.base_url)
        if cfg.annotate.prompt_file:   # the file's content, not its path, is what the annotation depends on
            import hashlib

            ann["prompt_file_sha256"] = hashlib.sha256(Path(cfg.annotate.prompt_file).read_bytes()).hexdigest()
        if cfg.annotate.calibrate != "none":   # fitted on the training split: the split protocol is an input
            ann["split"] = c["split"]
        deps = ("build", "model") if cfg.annotate.model == "tiny" else ("build",)
        wanted.append(("annotate", S.stage_annotate, deps, ann))
        merge_opts = {**c["merge"], "name": cfg.annotate.name}
        if cfg.merge.strategy == "adaptive":   # fitted on the training split: the split protocol is an input
            merge_opts["split"] = c["split"]
        wanted.append(("merge", S.stage_merge, ("annotate",), merge_opts))
        base = "merge"
    wanted.append(("alignment", S.stage_alignment, (base,),
                   {**c["analysis"], "merge": c["merge"], "name": cfg.annotate.name,
                    "synthetic": cfg.annotate.enabled, "synthetic_labels": cfg.annotate.mode == "sample",
                    "mode": cfg.annotate.mode,
                    "base": base}))
    if cfg.train.enabled or cfg.augment.enabled:
        wanted.append(("augment", S.stage_augment, (base,),
                       {"split": c["split"], "augment": c["augment"], "targets": c["train"]["targets"],
                        "corpus": cfg.corpus.kind, "base": base, "name": cfg.annotate.name,
                        "eval_view": missing_requirement("augment", extra=_EVAL_VIEW) is None}))
    if cfg.train.enabled:
        # checkpointing only changes how a killed run resumes, not what training writes: not part of the hash
        train_opts = {k: v for k, v in c["train"].items() if k not in ("evaluate_against", "checkpointing_steps")}
        deps = ("augment", "model") if cfg.train.model == "tiny" else ("augment",)
        wanted.append(("train", S.stage_train, deps, train_opts))
        ambiguity = {"kind": cfg.corpus.ambiguity, "cuts": list(DEFAULT_AMBIGUITY_CUTS), "ties": cfg.corpus.ambiguity_ties}
        wanted.append(("evaluate", S.stage_evaluate, ("train", "augment"),
                       {"evaluate_against": cfg.train.evaluate_against, "n_bootstrap": cfg.analysis.n_bootstrap,
                        "seed": cfg.analysis.seed, "levels_over": cfg.analysis.levels_over,
                        "argmax_ties": cfg.analysis.argmax_ties, "ambiguity": ambiguity}))
    if cfg.export.enabled:
        wanted.append(("export", S.stage_export, tuple(dict.fromkeys((base, "build"))),
                       {**c["export"], "corpus": cfg.corpus.kind, "class_set": cfg.corpus.class_set,
                        "annotate": ann if cfg.annotate.enabled else None,
                        "merge": c["merge"] if cfg.annotate.enabled else None, "base": base}))

    runtime = {"train": {"checkpointing_steps": cfg.train.checkpointing_steps},
               "annotate": {k: c["annotate"][k] for k in _ANNOTATE_RUNTIME}}
    stages: list[Stage] = []
    unavailable: dict[str, str] = {}
    present: set[str] = set()
    for key, func, deps, options in wanted:
        extra = (("hf_ambiguity.demo", "make_demo_corpus"),) if key == "build" and cfg.corpus.kind == "demo" else ()
        why = missing_requirement(key, extra=extra)
        lost = [d for d in deps if d not in present]
        if why is None and lost:
            why = f"needs the output of stage {', '.join(STAGE_FOLDERS[d] for d in lost)}, which is not available"
        if why is not None:
            unavailable[key] = f"{STAGE_FOLDERS[key]}: {why}"
            continue
        fingerprint = None
        if key == "build" and cfg.corpus.kind != "demo":
            data_dir, kind, ids = cfg.corpus.data_dir, cfg.corpus.kind, cfg.corpus.ids_file

            def fingerprint(data_dir: str = data_dir, kind: str = kind, ids: str | None = ids) -> str:  # type: ignore[misc]
                from hf_ambiguity.builders.fingerprint import corpus_fingerprint  # the one owner (builders)

                return corpus_fingerprint(kind, data_dir, ids_file=ids)
        stages.append(Stage(key=key, folder=STAGE_FOLDERS[key], func=func, depends=deps, options=options,
                            version=STAGE_VERSIONS[key], extra_hash=fingerprint,
                            runtime=runtime.get(key, {})))
        present.add(key)
    return stages, unavailable


def check_protocol(cfg: PipelineConfig, *, where: str = "<config>") -> str | None:
    """Before any stage runs: read the corpus' labels (no audio, seconds), draw the trial subset the build will
    draw, and apply the split protocol, so a protocol that cannot run on this corpus or subset is a
    :class:`ConfigError` naming the key to change now rather than after hours of annotation. Returns the subset
    description (or None). The bundled demo corpus is generated by the build stage and is not checked here.

    Checked: the protocol's splits exist and are non-empty (e.g. the held-out session is in the subset), and every
    class of the (sub)corpus has training rows.
    """
    if cfg.corpus.kind == "demo" or not (cfg.train.enabled or cfg.augment.enabled):
        return None
    from hf_ambiguity.builders import corpus_metadata
    from hf_ambiguity.errors import SplitError
    from hf_ambiguity.pipeline.stages import reader_options
    from hf_ambiguity.splits import pool_splits, train_validation_test

    c = config_to_dict(cfg)
    meta = corpus_metadata(cfg.corpus.kind, cfg.corpus.data_dir, class_set=cfg.corpus.class_set,
                           **reader_options(c["corpus"], cfg.corpus.kind))
    described = None
    if cfg.corpus.max_utterances is not None:
        from hf_ambiguity.builders.subset import stratified_subset

        meta, how = stratified_subset(meta, cfg.corpus.max_utterances, seed=cfg.corpus.seed)
        described = str(how) if how.is_subset else None
    what = f"the trial subset (corpus.max_utterances: {cfg.corpus.max_utterances})" if described else "this corpus"
    fix = "corpus.max_utterances" if described else ("split.test_session" if cfg.corpus.kind == "iemocap"
                                                     else "split.test_partition")
    sp = cfg.split
    try:
        splits, _ = train_validation_test(meta, kind=sp.kind, test_fraction=sp.test_fraction, seed=sp.seed,
                                          test_session=sp.test_session, test_partition=sp.test_partition,
                                          validation_fraction=sp.validation_fraction)
    except SplitError as err:
        key = fix if sp.kind == "speaker" or described else "split.kind"
        raise ConfigError(f"{where}: the split protocol (split.kind: {sp.kind}) cannot run on {what}: {err}; "
                          f"change {key}", key=key) from None
    names = pool_splits(meta).features["majority_label"].names
    present = set(pool_splits(meta)["majority_label"])
    in_train = set(splits["train"]["majority_label"])
    lost = [names[i] for i in sorted(present - in_train)]
    if lost:
        key = "corpus.max_utterances" if described else "split.kind"
        raise ConfigError(f"{where}: the training split of {what} has no utterance of class {lost} (present in the "
                          f"corpus), so no model could learn it; change {key}", key=key)
    return described


def run_pipeline(cfg: PipelineConfig, *, run_dir: str | Path | None = None, config_path: str | None = None,
                 force: tuple[str, ...] = ()) -> RunOutcome:
    """Run every stage ``cfg`` asks for in ``run_dir`` (default ``cfg.run_dir``), then write the report."""
    from hf_ambiguity.pipeline.report import write_report

    unknown = [f for f in force if f not in STAGE_FOLDERS]
    if unknown:
        raise ConfigError(f"--force: unknown stage {unknown[0]!r}; stages: {', '.join(STAGE_FOLDERS)}")
    folder = Path(run_dir if run_dir is not None else cfg.run_dir)
    if cfg.corpus.kind != "demo" and not Path(cfg.corpus.data_dir or "").is_dir():
        raise ConfigError(f"corpus.data_dir {cfg.corpus.data_dir!r} is not a folder; point it at the raw "
                          f"{cfg.corpus.kind} release (e.g. IEMOCAP_full_release)")
    check_protocol(cfg, where=config_path or "<config>")
    stages, unavailable = plan_stages(cfg)
    import datasets

    with RunLock(folder):
        caching = datasets.is_caching_enabled()
        datasets.disable_caching()  # transforms must not write cache files into finished stage folders
        try:
            results = run_stages(stages, folder, force=force)
        finally:
            if caching:
                datasets.enable_caching()
        resolved = config_to_dict(cfg)
        resolved["annotate"]["base_url"] = redact_url(cfg.annotate.base_url)   # never record a credential
        write_text(folder / "config.resolved.yaml", _yaml(resolved))
        report = write_report(folder, cfg, results, unavailable, config_path=config_path)
    return RunOutcome(run_dir=folder, report=report, results=results, unavailable=unavailable,
                      unavailable_requested=bool(unavailable))


def _yaml(d: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(d, sort_keys=False)

