"""The pipeline's configuration: frozen dataclasses loaded from a YAML file, validated key by key.

A config file has one mapping per stage section (``corpus``, ``annotate``, ``merge``, ``analysis``, ``split``,
``augment``, ``train``, ``export``, ``report``) plus a few top-level keys. Every key has a default, so a config
only names what it changes. Unknown keys, wrong types and invalid choices raise :class:`ConfigError` naming the
file, the dotted key, what was received and the valid keys or choices — a typo never silently falls back to a
default.

>>> cfg = config_from_dict({"name": "x", "annotate": {"mode": "sample", "n_annotators": 4}})
>>> cfg.annotate.mode, cfg.annotate.n_annotators, cfg.merge.strategy
('sample', 4, 'concat')
>>> config_from_dict({"annotate": {"modle": "score"}})
Traceback (most recent call last):
...
hf_ambiguity.errors.ConfigError: <dict>: unknown key 'annotate.modle'; valid keys: ...
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hf_ambiguity.config import build_config, config_to_dict, read_yaml_mapping
from hf_ambiguity.distributions import AMBIGUITY_DEFINITIONS
from hf_ambiguity.errors import ConfigError
from hf_ambiguity.labels import CLASS_SETS, corpus_of_kind

__all__ = [
    "ConfigError", "CorpusConfig", "AnnotateConfig", "MergeConfig", "AnalysisConfig", "SplitConfig",
    "AugmentConfig", "TrainConfig", "ExportConfig", "ReportConfig", "PipelineConfig",
    "load_config", "config_from_dict", "config_to_dict", "bundled_config_path", "BUNDLED_CONFIGS",
]

#: Names that become column prefixes and folder names: no separators, no ``..``.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
#: A Hub repo id.
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
#: MSP-Podcast partitions a speaker-independent split can hold out as test.
MSP_TEST = ("Test1", "Test2", "Test3")

#: Configs shipped inside the package (``hf_ambiguity/configs/<name>.yaml``).
BUNDLED_CONFIGS = ("demo", "paper", "recommended")


@dataclass(frozen=True)
class CorpusConfig:
    """Where the raw corpus is and how it becomes a dataset (stage ``01_build``).

    ``kind: demo`` generates the bundled demo corpus (IEMOCAP layout, synthetic speech) inside the run folder.
    """

    kind: Literal["demo", "iemocap", "msp-podcast"] = "demo"
    #: Root of the raw release (``IEMOCAP_full_release`` or the MSP-Podcast folder); unused for ``demo``.
    data_dir: str | None = None
    #: ``null`` = the corpus' default class set (``iemocap-4`` for IEMOCAP and the demo, ``msp-8`` for MSP-Podcast).
    class_set: str | None = None
    #: Ambiguity definition: ``reference`` (entropy / log(#distinct labels), terciles) or ``fixed`` cut points.
    ambiguity: str = "reference"
    #: Ties at a tercile cut: ``together`` (equal scores share a level), ``rank`` (equal thirds, ceil), ``reference``
    #: (``n // 3`` per bin, remainder to high, ties split by order: the authors' code).
    ambiguity_ties: Literal["together", "rank", "reference"] = "together"
    #: An IEMOCAP evaluator naming several emotions ("Frustration; Anger"): ``fractional`` splits their one vote
    #: among them; ``whole`` counts one vote per emotion named, as the reference counts the label list. (MSP-Podcast
    #: has one primary vote per worker, so both give the same votes there.)
    multi_label: Literal["fractional", "whole"] = "fractional"
    #: Utterances with votes outside the class set: ``share`` keeps one only when at least ``min_in_set_share`` of
    #: its valid votes are in the set (the others are skipped and counted: a 4-class set never turns out-of-set
    #: perception into a confident in-set label); ``keep`` keeps every utterance with an in-set vote (the reference).
    out_of_set: Literal["share", "keep"] = "share"
    min_in_set_share: float = 0.5
    #: A file of utterance ids (one per line) to keep, e.g. to reproduce an exact published subset.
    ids_file: str | None = None
    #: MSP-Podcast ``Split_Set`` values that are not official partitions, mapped to one (``{NA: Train}``) or
    #: ``ignore``.
    partitions: dict[str, str] | None = None
    #: Skip (and count) malformed input instead of stopping at the first error.
    lenient: bool = False
    #: A trial subset: a seeded sample of this many utterances stratified by split (IEMOCAP session, MSP-Podcast
    #: partition) and majority class (:func:`hf_ambiguity.builders.subset.stratified_subset`); ``null`` keeps all.
    max_utterances: int | None = None
    #: Seed of the trial subset.
    seed: int = 0
    #: Size of the generated demo corpus (``kind: demo`` only).
    demo_utterances: int = 48


@dataclass(frozen=True)
class AnnotateConfig:
    """Synthetic annotators (stage ``02_annotate``)."""

    enabled: bool = True
    backend: Literal["transformers", "gemini", "openai"] = "transformers"
    #: Hub id or local folder of the audio-language model; ``tiny`` builds a tiny random-weight Qwen2-Audio.
    model: str = "tiny"
    #: ``sample``: N simulated annotators answer in free text (the reference); ``expected``: the exact expectation
    #: of those N annotators (each one's focus and temperature, no sampling noise; local models and vLLM);
    #: ``score``: one annotator-neutral prompt at temperature 1 (not the protocol's N annotators).
    mode: Literal["sample", "expected", "score"] = "sample"
    #: ``null`` = the reference N of the corpus: 8 for IEMOCAP (and the demo), 10 for MSP-Podcast.
    n_annotators: int | None = None
    #: The prompt: ``project`` (the project's wording, audio first) or ``reference`` (the reference's structure:
    #: corpus label spellings in sorted order, its transcript labels, text before audio); ``prompt_file`` (YAML or
    #: JSON: system text, instruction, focus lines, label spelling) replaces the wording and is hashed into the
    #: provenance.
    prompt_structure: Literal["project", "reference"] = "project"
    prompt_file: str | None = None
    #: Annotator temperatures: ``project`` (the bands, draws seeded by (seed, i)) or ``reference`` (the authors'
    #: values, bit for bit).
    temperatures: Literal["project", "reference"] = "project"
    #: Sample-mode answers: ``earliest`` (exact match, else the class named earliest) or ``reference`` (exact match,
    #: else the first class in class-list order contained in the answer).
    parse_rule: Literal["earliest", "reference"] = "earliest"
    #: Calibrate the synthetic distributions (score / expected modes) on the training split's human distributions:
    #: ``temperature``, ``bias`` (one offset per class) or ``none``; applied to every split.
    calibrate: Literal["none", "temperature", "bias"] = "none"
    #: ``openai`` backend, expected mode: top log-probabilities asked per token (``null``: the backend default).
    top_logprobs: int | None = None
    #: Column prefix of the synthetic annotator set (``<name>_dist`` ...).
    name: str = "synthetic"
    seed: int = 0
    batch_size: int = 4
    #: ``null`` = cuda when available, else cpu.
    device: str | None = None
    #: Precision of a local model (``transformers`` backend): ``null`` = bfloat16 on a GPU, float32 on a CPU.
    #: ``float32`` when the synthetic distributions are the result you publish: on the full-size Qwen2-Audio
    #: architecture (random weights), bf16 rounding moved label log-probabilities by up to 1.2 nats (README, GPU
    #: check). Part of the stage's inputs: a changed dtype re-annotates.
    dtype: Literal["float32", "bfloat16", "float16"] | None = None
    trust_remote_code: bool = False
    #: Endpoint of the ``openai`` backend (an OpenAI-compatible server, e.g. a local vLLM); ``null`` = OpenAI's.
    base_url: str | None = None


@dataclass(frozen=True)
class MergeConfig:
    """Human + synthetic merge (stage ``03_merge``); ``concat`` is the reference method."""

    strategy: Literal["concat", "weighted", "adaptive"] = "concat"
    #: Weight λ of each synthetic vote for ``weighted``.
    weight: float = 1.0


@dataclass(frozen=True)
class AnalysisConfig:
    """What the run reports (stages ``04_alignment`` and ``07_evaluate``): descriptive alignment by ambiguity level
    with bootstrap CIs, the held-out-annotator test of whether synthetic labels help
    (:func:`hf_ambiguity.analysis.synthetic_benefit.synthetic_benefit`), agreement and saturation."""

    n_bootstrap: int = 1000
    #: Resamples of the held-out-annotator test (bootstrap CI and sign-flip permutation p-values).
    n_resamples: int = 2000
    seed: int = 0
    #: Held-out-annotator design: ``leave_one_out`` (each human label in turn) or ``split_half`` (items with >= 4
    #: raters: one half of the raters is the reference, the other half +- synthetic the forecast).
    benefit_design: Literal["leave_one_out", "split_half"] = "leave_one_out"
    #: Strata of the test, from the labels that make the forecast: ``entropy`` (fixed cuts on the normalised
    #: entropy) or ``reference`` (the reference ambiguity score, terciles).
    benefit_strata: Literal["entropy", "reference"] = "entropy"
    #: The proper score that decides the verdicts (both are reported).
    primary_score: Literal["brier", "log_loss"] = "brier"
    #: Significance level of the verdicts (Bonferroni across the ambiguity strata).
    alpha: float = 0.05
    #: Non-inferiority margin in units of the primary score (``null``: no non-inferiority verdict).
    margin: float | None = 0.005
    #: The set the fine-tuned models' ambiguity levels are taken over: ``corpus`` (the build's levels) or ``test``
    #: (recomputed on the test split from the stored scores, as the reference bins its test set).
    levels_over: Literal["corpus", "test"] = "corpus"
    #: Arg-max ties of accuracy / F1 / ECE: ``class_order`` or ``alphabetical`` (the reference's sorted class lists).
    argmax_ties: Literal["class_order", "alphabetical"] = "class_order"
    #: Fleiss' kappa with varying rater counts: ``subsample``, ``modal`` or ``reference`` (the authors' estimator).
    fleiss_scheme: Literal["subsample", "modal", "reference"] = "subsample"
    #: Saturation analysis of sample-mode annotators: ``project`` or ``reference`` (the authors' procedure).
    saturation: Literal["project", "reference"] = "project"


@dataclass(frozen=True)
class SplitConfig:
    """How train / validation / test are drawn (stage ``05_augment``).

    ``random``: utterance-level random split (the reference: 80/20, seed 42). ``speaker``: speaker-independent
    (IEMOCAP: session ``test_session`` held out; MSP-Podcast: the official partitions, ``test_partition`` as test).
    Both come from :func:`hf_ambiguity.splits.train_validation_test`, the same code the training script uses.
    """

    kind: Literal["random", "speaker"] = "speaker"
    test_fraction: float = 0.2
    #: Share of the training part held out for validation (before DiME-Aug).
    validation_fraction: float = 0.1
    #: IEMOCAP session (1-5) held out as test for ``speaker`` splits.
    test_session: int = 5
    #: MSP-Podcast partition used as test for ``speaker`` splits.
    test_partition: str = "Test1"
    seed: int = 42


@dataclass(frozen=True)
class AugmentConfig:
    """DiME-Aug on the training part and the balanced evaluation view (stage ``05_augment``)."""

    enabled: bool = True
    ratio: float = 0.3
    k: int = 3
    balance_by: Literal["class", "class_ambiguity"] = "class"
    seed: int = 0
    #: How many new rows a class gets: ``ceil`` (up to ``ceil(ratio x majority)``) or ``reference``
    #: (``int(ratio x majority) - count``, classes present only).
    top_up: Literal["ceil", "reference"] = "ceil"
    #: ``project`` (k true neighbours) or ``reference`` (the query includes the anchor itself: k - 1 neighbours).
    neighbours: Literal["project", "reference"] = "project"
    #: Transcript of a new row: ``alpha`` (the nearer source's) or ``anchor`` (the reference).
    transcript_from: Literal["alpha", "anchor"] = "alpha"
    #: Feature space: ``project`` or ``reference`` (the authors' ten text statistics).
    features: Literal["project", "reference"] = "project"
    #: Dominant-class ties: ``class_order`` or ``alphabetical`` (the reference).
    dominant_ties: Literal["class_order", "alphabetical"] = "class_order"


@dataclass(frozen=True)
class TrainConfig:
    """Fine-tuning (stage ``06_train``, an ``accelerate launch`` subprocess per target) and its evaluation."""

    enabled: bool = True
    #: One model per target distribution column.
    targets: tuple[str, ...] = ("human_dist", "synthetic_dist", "combined_dist")
    #: Hub id or local folder; ``tiny`` = the tiny random-weight model built for the run.
    model: str = "tiny"
    preset: str = "paper"
    #: Overrides of the preset (``null`` keeps the preset's value).
    max_steps: int | None = None
    #: The training prompt: ``project`` or ``reference`` (names the speaker; text before audio).
    prompt: Literal["project", "reference"] | None = None
    #: Light audio augmentation during training (the reference's pitch / stretch).
    audio_augment: bool | None = None
    batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    learning_rate: float | None = None
    seed: int = 42
    #: ``save_state`` every N optimizer steps, so a killed run resumes from the latest ``step_N`` (``null``: never).
    checkpointing_steps: int | None = None
    #: Accelerate config file passed to ``accelerate launch --config_file``.
    accelerate_config: str | None = None
    #: Extra command-line arguments appended to the training command.
    extra_args: tuple[str, ...] = ()
    #: Score each model against its own label source's test set (the reference), the human one, or both.
    evaluate_against: Literal["own", "human", "both"] = "both"


@dataclass(frozen=True)
class ExportConfig:
    """Hub-layout export of the merged dataset (stage ``08_export``) and optional push."""

    enabled: bool = True
    #: ``user/name`` to push to; ``null`` = no push.
    push_to: str | None = None
    private: bool = True
    #: ``manual`` / ``auto``: push to a gated repository whose access form asks each requester for their own corpus
    #: licence (``manual``: the owner approves each request); the Hub's way to share a licensed corpus with licence
    #: holders. ``null``: no gating.
    gated: Literal["manual", "auto"] | None = None
    #: Required for a public or gated push of a licensed corpus.
    acknowledge_license: bool = False


@dataclass(frozen=True)
class ReportConfig:
    """The report (``report.md`` and ``plots/``)."""

    #: Published figures to print beside the run's: ``auto`` picks by corpus for the paper protocol.
    reference_figures: Literal["auto", "iemocap", "msp-podcast", "none"] = "auto"


@dataclass(frozen=True)
class PipelineConfig:
    """A whole run. ``protocol`` says how the report frames the numbers (``demo`` = smoke test, not results)."""

    name: str = "run"
    protocol: Literal["demo", "paper", "recommended", "custom"] = "custom"
    #: Default run folder (relative paths are relative to the current directory); ``--run-dir`` overrides it.
    run_dir: str = "runs/run"
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    annotate: AnnotateConfig = field(default_factory=AnnotateConfig)
    merge: MergeConfig = field(default_factory=MergeConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


def _check_values(cfg: PipelineConfig, where: str) -> None:
    """Cross-field and range checks that types alone cannot express."""
    def bad(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{where}: {key} {msg}", key=key)

    if cfg.corpus.class_set not in CLASS_SETS:
        raise bad("corpus.class_set", f"must be one of {sorted(CLASS_SETS)}, got {cfg.corpus.class_set!r}")
    spec = corpus_of_kind(cfg.corpus.kind)
    if cfg.corpus.class_set not in spec.class_sets:
        raise bad("corpus.class_set", f"{cfg.corpus.class_set!r} is a class set of another corpus; for "
                                      f"{cfg.corpus.kind!r} use one of {sorted(spec.class_sets)}")
    if cfg.corpus.ambiguity not in AMBIGUITY_DEFINITIONS:
        raise bad("corpus.ambiguity", f"must be one of {list(AMBIGUITY_DEFINITIONS)}, got {cfg.corpus.ambiguity!r}")
    if cfg.corpus.kind != "demo" and not cfg.corpus.data_dir:
        raise bad("corpus.data_dir", f"is required for corpus.kind {cfg.corpus.kind!r}: the root of the raw release")
    if cfg.corpus.max_utterances is not None and cfg.corpus.max_utterances < 1:
        raise bad("corpus.max_utterances", f"must be at least 1 or null, got {cfg.corpus.max_utterances}")
    if cfg.corpus.demo_utterances < 4:
        raise bad("corpus.demo_utterances", f"must be at least 4, got {cfg.corpus.demo_utterances}")
    if cfg.annotate.backend != "transformers" and cfg.annotate.model == "tiny":
        raise bad("annotate.model", f"'tiny' is a local model; backend {cfg.annotate.backend!r} needs a hosted "
                                    "model name (e.g. gemini-2.5-pro)")
    if cfg.annotate.backend == "gemini" and cfg.annotate.mode != "sample":
        raise bad("annotate.mode", f"{cfg.annotate.mode!r} needs class log-probabilities, which the gemini backend "
                                   "does not return; use mode: sample, or a local model / a vLLM server (backend: "
                                   "openai)")
    if cfg.annotate.calibrate != "none" and cfg.annotate.mode == "sample":
        raise bad("annotate.calibrate", "needs class probabilities (annotate.mode: score or expected); sample-mode "
                                        "vote shares have none to rescale")
    if cfg.annotate.prompt_file is not None and not Path(cfg.annotate.prompt_file).is_file():
        raise bad("annotate.prompt_file", f"{cfg.annotate.prompt_file!r} is not a file")
    if cfg.annotate.n_annotators < 1:
        raise bad("annotate.n_annotators", f"must be at least 1, got {cfg.annotate.n_annotators}")
    if cfg.annotate.batch_size < 1:
        raise bad("annotate.batch_size", f"must be at least 1, got {cfg.annotate.batch_size}")
    if not _NAME.fullmatch(cfg.annotate.name):
        raise bad("annotate.name", f"must be letters, digits, '_' or '-' (it names columns and folders), got "
                                   f"{cfg.annotate.name!r}")
    if not (math.isfinite(cfg.merge.weight) and cfg.merge.weight >= 0):
        raise bad("merge.weight", f"must be a finite non-negative number, got {cfg.merge.weight}")
    if not 0.0 < cfg.analysis.alpha < 0.5:
        raise bad("analysis.alpha", f"must be in (0, 0.5), got {cfg.analysis.alpha}")
    if cfg.analysis.margin is not None and not (math.isfinite(cfg.analysis.margin) and cfg.analysis.margin > 0):
        raise bad("analysis.margin", f"must be a positive number or null, got {cfg.analysis.margin}")
    if cfg.analysis.n_resamples < 100:
        raise bad("analysis.n_resamples", f"must be at least 100, got {cfg.analysis.n_resamples}")
    if not 0.0 < cfg.corpus.min_in_set_share <= 1.0:
        raise bad("corpus.min_in_set_share", f"must be in (0, 1], got {cfg.corpus.min_in_set_share}")
    if cfg.corpus.ids_file is not None and not Path(cfg.corpus.ids_file).is_file():
        raise bad("corpus.ids_file", f"{cfg.corpus.ids_file!r} is not a file (one utterance id per line)")
    if cfg.corpus.partitions and cfg.corpus.kind != "msp-podcast":
        raise bad("corpus.partitions", "maps MSP-Podcast Split_Set values; it has no meaning for "
                                       f"corpus.kind {cfg.corpus.kind!r}")
    for key in ("corpus.seed", "annotate.seed", "split.seed", "augment.seed", "train.seed", "analysis.seed"):
        section, name = key.split(".")
        if getattr(getattr(cfg, section), name) < 0:
            raise bad(key, f"must be a non-negative integer, got {getattr(getattr(cfg, section), name)}")
    if cfg.split.kind == "speaker" and cfg.corpus.kind == "iemocap" and cfg.split.test_session not in range(1, 6):
        raise bad("split.test_session", f"must be an IEMOCAP session 1-5, got {cfg.split.test_session}")
    if cfg.split.kind == "speaker" and cfg.corpus.kind == "msp-podcast" and cfg.split.test_partition not in MSP_TEST:
        raise bad("split.test_partition", f"must be one of {list(MSP_TEST)}, got {cfg.split.test_partition!r}")
    if not 0 < cfg.split.test_fraction < 1:
        raise bad("split.test_fraction", f"must be between 0 and 1, got {cfg.split.test_fraction}")
    if not 0 < cfg.split.validation_fraction < 1:
        raise bad("split.validation_fraction", f"must be between 0 and 1, got {cfg.split.validation_fraction}")
    if not 0 < cfg.augment.ratio <= 1:
        raise bad("augment.ratio", f"must be in (0, 1], got {cfg.augment.ratio}")
    if cfg.augment.k < 1:
        raise bad("augment.k", f"must be at least 1, got {cfg.augment.k}")
    if cfg.analysis.n_bootstrap < 0:
        raise bad("analysis.n_bootstrap", f"must be >= 0, got {cfg.analysis.n_bootstrap}")
    valid_targets = ("human_dist", f"{cfg.annotate.name}_dist", "combined_dist")
    for i, target in enumerate(cfg.train.targets):
        if target not in valid_targets:
            raise bad(f"train.targets[{i}]", f"must be one of {list(valid_targets)}, got {target!r}")
        if target != "human_dist" and not cfg.annotate.enabled and (cfg.train.enabled or cfg.augment.enabled):
            raise bad(f"train.targets[{i}]", f"{target!r} needs synthetic labels but annotate.enabled is false")
    if cfg.train.enabled and not cfg.train.targets:
        raise bad("train.targets", "is empty; name at least one target or set train.enabled: false")
    if len(set(cfg.train.targets)) != len(cfg.train.targets):
        twice = sorted({x for x in cfg.train.targets if cfg.train.targets.count(x) > 1})
        raise bad("train.targets", f"names {twice} more than once; each target is trained once")
    if cfg.train.learning_rate is not None and not (math.isfinite(cfg.train.learning_rate)
                                                    and cfg.train.learning_rate > 0):
        raise bad("train.learning_rate", f"must be a positive number or null, got {cfg.train.learning_rate}")
    for key in ("batch_size", "gradient_accumulation_steps"):
        value = getattr(cfg.train, key)
        if value is not None and value < 1:
            raise bad(f"train.{key}", f"must be at least 1 or null, got {value}")
    if cfg.export.enabled and cfg.export.push_to is not None and not _REPO_ID.fullmatch(cfg.export.push_to):
        raise bad("export.push_to", f"must be a Hub repo id 'user/name', got {cfg.export.push_to!r}")
    if cfg.export.enabled and cfg.export.gated and not cfg.export.push_to:
        raise bad("export.gated", "applies to a push: set export.push_to too")
    if (cfg.export.enabled and cfg.export.push_to and cfg.export.gated and spec.licence.licensed
            and not cfg.export.acknowledge_license):
        raise bad("export.gated", f"shares {spec.name} with everyone who fills in the access form: set "
                                  "export.acknowledge_license: true if your licence allows sharing with other licence "
                                  "holders")
    if (cfg.export.enabled and cfg.export.push_to and not cfg.export.private and not cfg.export.gated
            and spec.licence.licensed and not cfg.export.acknowledge_license):
        raise bad("export.private", f"is false but {spec.name} is licensed and may not be redistributed: keep "
                                    "export.private: true (the default), or, if your licence allows a public "
                                    "release, set export.acknowledge_license: true")
    if cfg.train.enabled:
        _check_training_options(cfg, where)
    if cfg.train.checkpointing_steps is not None and cfg.train.checkpointing_steps < 1:
        raise bad("train.checkpointing_steps", f"must be at least 1 or null, got {cfg.train.checkpointing_steps}")
    if cfg.train.max_steps is not None and cfg.train.max_steps < 1:
        raise bad("train.max_steps", f"must be at least 1 or null, got {cfg.train.max_steps}")


#: The training script's flag of each ``train`` key (what :func:`hf_ambiguity.training.launch.train_command` passes).
_TRAIN_FLAGS = {"--preset": "train.preset", "--max_train_steps": "train.max_steps",
                "--per_device_train_batch_size": "train.batch_size",
                "--gradient_accumulation_steps": "train.gradient_accumulation_steps",
                "--learning_rate": "train.learning_rate", "--seed": "train.seed", "--model": "train.model"}


def _check_training_options(cfg: PipelineConfig, where: str) -> None:
    """The training options the train stage will pass, checked by the training script's own parser now (one schema:
    a preset name, a value or an ``extra_args`` flag it would refuse fails here, before any stage runs)."""
    import contextlib
    import io

    from hf_ambiguity.training.config import parse_args
    from hf_ambiguity.training.launch import train_command

    opt = config_to_dict(cfg.train)
    for target in cfg.train.targets:
        cmd = train_command(opt, dataset=Path("<dataset>"), target=target, model="<model>", output_dir=Path("<out>"),
                            resume=False)
        args = cmd[cmd.index("--dataset"):]   # the training options (the launcher's options come before)
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                parse_args(args)
        except SystemExit:
            why = err.getvalue().strip().splitlines()[-1:] or ["invalid option"]
            msg = why[0].split("error: ", 1)[-1]
            key = next((k for flag, k in _TRAIN_FLAGS.items() if flag in msg), "train.extra_args")
            raise ConfigError(f"{where}: {key}: the training script refuses it: {msg}", key=key) from None


def config_from_dict(data: Any, *, where: str = "<dict>") -> PipelineConfig:
    """Validate a parsed mapping into a :class:`PipelineConfig` (``where`` names the source in errors)."""
    cfg = build_config(PipelineConfig, data, where=where)
    if cfg.annotate.n_annotators is None:
        n = corpus_of_kind(cfg.corpus.kind).reference_n_annotators
        cfg = dataclasses.replace(cfg, annotate=dataclasses.replace(cfg.annotate, n_annotators=n))
    if cfg.corpus.class_set is None:
        default = corpus_of_kind(cfg.corpus.kind).default_class_set
        cfg = dataclasses.replace(cfg, corpus=dataclasses.replace(cfg.corpus, class_set=default))
    _check_values(cfg, where)
    return cfg


def bundled_config_path(name: str) -> Path:
    """Path of a config shipped with the package (``demo``, ``paper``, ``recommended``)."""
    path = Path(__file__).resolve().parent.parent / "configs" / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"no bundled config {name!r}; bundled: {', '.join(BUNDLED_CONFIGS)}")
    return path


def load_config(path: str | Path) -> PipelineConfig:
    """Read and validate a YAML config. A bare bundled name (``demo``, ``paper``, ``recommended``) also works."""
    p = Path(path)
    if not p.exists() and str(path) in BUNDLED_CONFIGS:
        p = bundled_config_path(str(path))
    if not p.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist; pass a YAML file or one of "
                          f"{', '.join(BUNDLED_CONFIGS)}")
    data = read_yaml_mapping(p)
    return config_from_dict(data, where=str(p))
