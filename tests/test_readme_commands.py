"""Every command the docs show, run as written on the demo data, so that the docs cannot drift from the code.

The docs read: ``README.md``, ``examples/README.md``, ``metrics/*/README.md`` and ``dataset_scripts/*/README.md``.
A *command* is a line of a ```` ```bash ```` block (``\\`` continuations joined, ``&&`` chains split, comments
dropped), an inline code span that starts with a program and has arguments (``hf-ambiguity ...``,
``accelerate launch ...``, ``pip ...``; the README's tables), or a ```` ```python ```` block of ``README.md`` /
``examples/README.md`` (the metric cards' Python examples are doctests in ``tests/test_metric_modules.py``).

Every command must be listed below, in :data:`RUN` (run here) or :data:`NOT_RUN` (with the reason), so a command
added to the docs fails :func:`test_every_documented_command_is_classified` until someone decides how it is checked;
an entry whose command left the docs fails too. A command runs in a sandbox folder (the demo data, copies of
``examples/`` and ``metrics/``, ``hf-ambiguity`` and ``python`` of this interpreter on ``PATH``) with its text changed
only as follows, in this order:

1. the command's own ``vars`` (its entry in :data:`RUN`), e.g. ``DATASET`` → the dataset that command needs;
2. :data:`PLACEHOLDERS`: a doc placeholder → the demo stand-in (``<user>/iemocap-ambig`` → the annotated demo dataset
   exported in the Hub layout, since the Hub is unreachable here — loading a Hub id is tested against a fake Hub in
   ``tests/test_cli.py``; ``Qwen/Qwen2-Audio-7B-Instruct`` → the tiny random-weight Qwen2-Audio; the GPU Accelerate
   config → ``examples/configs/cpu.yaml``; ...);
3. the command's ``append``: arguments that only make a long job short on the demo (e.g. training steps), never
   arguments that change what the command does.

Commands are run in the order the docs show them (a later one may use what an earlier one wrote, e.g. the training
output the inference example loads). ``{name}`` in a replacement is a path of the sandbox (see ``sandbox``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "examples/README.md", "metrics/*/README.md", "dataset_scripts/*/README.md")
SHELL_LANGUAGES = ("bash", "sh", "shell", "console")
PROGRAMS = ("hf-ambiguity ", "accelerate ", "python ", "bash ", ".venv/", "torchrun ", "ACCELERATE_USE_CPU=", "pip ",
            "hf ", "cp ")

#: Training on the demo: one optimizer step, float32 on the CPU (the presets ask for fp16 on a GPU and ~60 epochs), and
#: a text budget for the stand-in's toy tokenizer, which splits the reference prompt of the paper preset into more
#: than its 512 tokens (a real tokenizer needs far fewer).
SHORT_TRAINING = ("--max_train_steps 1 --per_device_train_batch_size 2 --gradient_accumulation_steps 1 "
                  "--per_device_eval_batch_size 8 --torch_dtype float32 --mixed_precision no --max_text_tokens 2048")

#: Doc placeholder -> demo stand-in, applied to every command that runs (after the command's own ``vars``).
PLACEHOLDERS: tuple[tuple[str, str, str], ...] = (
    ("<user>/iemocap-ambig", "{annotated_export}", "Hub id: the demo dataset with synthetic and combined columns, "
                                                   "exported in the Hub layout as the pipeline does (no Hub here)"),
    ("Qwen/Qwen2-Audio-7B-Instruct", "{tiny_model}", "no 7B download here: the tiny random-weight Qwen2-Audio"),
    ("examples/configs/single_gpu.yaml", "examples/configs/cpu.yaml", "no GPU here: the one-CPU Accelerate config"),
    (".venv/bin/", "", "the environment that runs the tests"),
    ("--data-dir ...", "--data-dir {raw}", "the demo corpus in the IEMOCAP layout"),
    ("--out ...", "--out built-demo", "a fresh output folder"),
    ("--dataset ...", "--dataset {annotated_export}", "the demo dataset with its combined_dist column"),
    ("--target ...", "--target combined_dist", "a target column the demo dataset has"),
    ("--model ...", "--model {tiny_model}", "the tiny random-weight Qwen2-Audio"),
    ("/data/IEMOCAP_full_release", "{raw}", "the demo corpus in the IEMOCAP layout"),
    ("/data/MSP-Podcast", "{raw_msp}", "a small corpus in the MSP-Podcast layout"),
    ("CONFIG.yaml", "{demo_config}", "the bundled demo config"),
)


@dataclass(frozen=True)
class Run:
    """How a documented command runs here."""

    vars: dict[str, str] = field(default_factory=dict)
    append: str = ""
    python_prelude: str = ""          # Python blocks: definitions of the names the block leaves to the reader
    xfail: str = ""                   # a known mismatch between the docs and the code, to be fixed (strict)
    after: str = ""                   # the documented command whose output this one reads (run earlier)


#: Documented commands that run here (the key is the command as the docs write it, whitespace normalised; a Python
#: block is keyed by its first line).
RUN: dict[str, Run] = {
    ".venv/bin/hf-ambiguity run": Run(),  # the bundled demo: every stage, tiny model
    "hf-ambiguity run": Run(),  # the same run folder: a rerun reuses the finished stages
    "hf-ambiguity run --config CONFIG.yaml": Run(),
    "import datasets, evaluate": Run(python_prelude=(
        "import datasets as _datasets\n"
        "_ds = _datasets.load_dataset('{annotated_export}')['session1']\n"
        "row_refs = _ds['human_dist']\n"
        "row_preds = [[0.5 * p + 0.5 / len(r) for p in r] for r in row_refs]\n"
        "levels = _ds['ambiguity']\n")),
    "hf-ambiguity train --config_file examples/configs/single_gpu.yaml --dataset <user>/iemocap-ambig --target "
    "combined_dist --model Qwen/Qwen2-Audio-7B-Instruct --output_dir outputs/iemocap-combined":
        Run(append=SHORT_TRAINING),
    "hf-ambiguity train --dataset ... --target combined_dist --model ...":
        Run(append=SHORT_TRAINING + " --output_dir outputs/table-example"),
    "hf-ambiguity build iemocap --data-dir ... --out ...": Run(),
    "hf-ambiguity annotate DATASET --backend transformers --model Qwen/Qwen2-Audio-7B-Instruct":
        Run(vars={"DATASET": "{export}"}),
    "hf-ambiguity augment DATASET --target-column combined_dist": Run(vars={"DATASET": "{annotated}"}),
    "accelerate launch examples/train.py --dataset ... --target ... --model ...":
        Run(append=SHORT_TRAINING + " --output_dir outputs/script-example"),
    "hf-ambiguity train --cpu --num_processes 2 --dataset runs/demo/05_augment/human_dist --split dataset --target "
    "human_dist --model runs/demo/00_model/model --preset project --no_dime_aug --mixed_precision no --torch_dtype "
    "float32 --per_device_train_batch_size 2 --gradient_accumulation_steps 2 --max_train_steps 4 --output_dir "
    "outputs/cpu-ddp": Run(after=".venv/bin/hf-ambiguity run"),  # two CPU processes, as written
    "hf-ambiguity simulate --config ...": Run(vars={"--config ...": "--config {simulate_config}"}),
    "from hf_ambiguity.training import load_trained, predict_distributions": Run(python_prelude=(
        "import datasets as _datasets\n"
        "test_dataset = _datasets.load_dataset('{annotated_export}')['session5']\n"), after=(
        "hf-ambiguity train --config_file examples/configs/single_gpu.yaml --dataset <user>/iemocap-ambig --target "
        "combined_dist --model Qwen/Qwen2-Audio-7B-Instruct --output_dir outputs/iemocap-combined")),
    "hf-ambiguity build iemocap --data-dir /data/IEMOCAP_full_release --out iemocap_ambig --class-set iemocap-4":
        Run(),
    "hf-ambiguity build msp-podcast --data-dir /data/MSP-Podcast --out msp_podcast_ambig --class-set msp-8": Run(),
}

#: Documented commands that are not run here, and why.
NOT_RUN: dict[str, str] = {
    "bash scripts/install.sh": "installs system packages (apt) and a virtual environment: CI runs it before the suite",
    ".venv/bin/python -m pytest -q": "the test suite itself",
    "hf-ambiguity run --config my_paper.yaml --run-dir runs/iemocap-paper":
        "step 3 of the walkthrough with a licensed corpus and a GPU; the same command on the demo config is "
        "`hf-ambiguity run --config CONFIG.yaml`",
    "python -m hf_ambiguity COMMAND": "the pattern of every sub-command (COMMAND is a placeholder for all of them)",
    "accelerate launch -m hf_ambiguity annotate ...": "multi-process annotation; run with 2 CPU processes in "
                                                      "tests/test_annotate.py",
    "hf-ambiguity build": "a command name, not a command",
    "pip install deepspeed": "installs a package from the network (DeepSpeed is not a dependency)",
    "accelerate config": "interactive questionnaire",
    "pip install -e .": "installs this checkout (CI's install script does)",
    "pip wheel --no-deps -w dist .": "builds a wheel with an isolated build environment from the package index",
    "hf upload --repo-type space <user>/alignment_test metrics/alignment_test .": "uploads to the Hub (network, "
                                                                                   "token)",
    "hf upload --repo-type space <user>/annotator_agreement metrics/annotator_agreement .": "uploads to the Hub",
    "hf upload --repo-type space <user>/distribution_alignment metrics/distribution_alignment .": "uploads to the "
                                                                                                 "Hub",
    "hf-ambiguity build iemocap --data-dir /data/IEMOCAP_full_release --out iemocap_ambig --push me/iemocap-ambig":
        "pushes to the Hub; the push is tested against a fake HfApi in tests/test_hub.py",
    "hf-ambiguity build iemocap --data-dir /data/IEMOCAP_full_release --out iemocap_ambig --push me/iemocap-ambig "
    "--gated manual --i-have-a-license": "pushes to the Hub; the gated push is tested against a fake HfApi in "
                                         "tests/test_hub.py",
    "hf-ambiguity build msp-podcast --data-dir /data/MSP-Podcast --out msp_podcast_ambig --push "
    "me/msp-podcast-ambig": "pushes to the Hub (tests/test_hub.py: fake HfApi)",
    "hf-ambiguity build msp-podcast --data-dir /data/MSP-Podcast --out msp_podcast_ambig --push "
    "me/msp-podcast-ambig --gated manual --i-have-a-license": "pushes to the Hub (tests/test_hub.py: fake HfApi)",
    "cp hf_ambiguity/templates/iemocap_ambig.md dataset_scripts/iemocap_ambig/card_template.md":
        "maintenance step; tests/test_dataset_scripts.py checks the copy is current",
    "cp hf_ambiguity/templates/msp_podcast_ambig.md dataset_scripts/msp_podcast_ambig/card_template.md":
        "maintenance step; tests/test_dataset_scripts.py checks the copy is current",
    "hf-ambiguity run --config my.yaml": "a pipeline run with a licensed corpus and a push; on the demo config it "
                                         "is `hf-ambiguity run --config CONFIG.yaml`",
    "hf-ambiguity annotate DATASET --backend openai --base-url http://HOST:8000/v1 --model "
    "Qwen/Qwen2-Audio-7B-Instruct --concurrency 64": "needs a vLLM server on a GPU machine; the openai backend is "
                                                     "tested against a fake vLLM server in tests/test_alm_vllm.py",
    "hf-ambiguity simulate": "a command name in prose",
    "hf-ambiguity train": "a command name in prose",
    "hf-ambiguity train ...": "a command with its arguments elided",
    "hf-ambiguity train --config_file": "a fragment naming an option",
    "hf-ambiguity train --config_file examples/configs/single_gpu.yaml ...": "the README's training command with its "
                                                                            "arguments elided (the full one runs)",
    "hf-ambiguity train --config_file examples/configs/single_gpu.yaml --dataset ... --target ...":
        "the README's training command with its arguments elided (the full one runs)",
    "hf-ambiguity train --split dataset --no_dime_aug ...": "what the 06_train stage runs (built by "
                                                             "hf_ambiguity.training.launch, run by `hf-ambiguity run`)",
    "hf-ambiguity train --dataset <user>/iemocap-ambig --target combined_dist --model Qwen/Qwen2-Audio-7B-Instruct "
    "--output_dir outputs/iemocap-combined": "the README's training command without --config_file (the launcher's "
                                             "default path runs as `hf-ambiguity train --dataset ... --target "
                                             "combined_dist --model ...`)",
    "hf-ambiguity train --cpu --num_processes 2 --mixed_precision no --torch_dtype float32 ...":
        "arguments elided; the full two-CPU-process command below runs",
    "ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 examples/train.py ...":
        "arguments elided; two CPU processes of the same loop run as `hf-ambiguity train --cpu --num_processes 2 ...` "
        "and in tests/test_training_distributed.py",
    "hf-ambiguity train --num_processes 4 ...": "needs 4 GPUs",
    "hf-ambiguity train --num_machines 2 --num_processes 16 --machine_rank <0 or 1> --main_process_ip <machine 0's "
    "address> --main_process_port 29500 --dataset ... --output_dir /shared/outputs/run1":
        "needs two machines with 16 GPUs; two launches on one machine standing in for two were tried by hand on the "
        "CPU (examples/README.md says so)",
    "accelerate launch": "a command name in prose",
    "accelerate launch --cpu": "a fragment naming an option (it starts one process)",
    "accelerate launch -m hf_ambiguity.training.train": "names the module the launcher runs",
    "pip install \"vllm[audio]\"": "installs vLLM from the network (GPU only; not a dependency)",
    "vllm serve Qwen/Qwen2-Audio-7B-Instruct --data-parallel-size 8 --tensor-parallel-size 1 --max-model-len 4096 "
    "--limit-mm-per-prompt '{\"audio\": 1}' --max-logprobs 20 --port 8000": "starts a vLLM server on 8 GPUs",
    "python bench/gpu_check.py --out gpu_check.json": "needs a GPU; its --dry mode runs in tests/test_gpu_check.py",
    "hf upload --repo-type space <user>/synthetic_benefit metrics/synthetic_benefit .": "uploads to the Hub",
}


# ---------------------------------------------------------------------------------------------- reading the docs

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _normalise(command: str) -> str:
    return " ".join(command.split())


def _shell_lines(block: str) -> list[str]:
    commands, current = [], ""
    for raw in block.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        line = line.split(" # ")[0].rstrip()
        if line.endswith("\\"):
            current += line[:-1].strip() + " "
            continue
        commands.append(current + line)
        current = ""
    return [_normalise(part) for c in commands for part in c.split(" && ") if part.strip()]


def documented_commands() -> list[tuple[str, str, str]]:
    """``(doc, kind, command)`` in document order; kind is ``shell`` or ``python`` (the block's text)."""
    found: list[tuple[str, str, str]] = []
    docs = [p for pattern in DOCS for p in sorted(REPO.glob(pattern))]
    for path in docs:
        doc = path.relative_to(REPO).as_posix()
        text = path.read_text(encoding="utf-8")
        events: list[tuple[int, str, str]] = []
        for m in _FENCE.finditer(text):
            lang, body = m.group(1), m.group(2)
            if lang in SHELL_LANGUAGES:
                events += [(m.start(), "shell", c) for c in _shell_lines(body)]
            elif lang == "python" and not doc.startswith("metrics/"):
                events.append((m.start(), "python", body))
        prose = _FENCE.sub(lambda m: " " * len(m.group(0)), text)  # keep offsets for the order
        for m in re.finditer(r"`([^`]+)`", prose):  # an inline span may wrap onto the next line
            span = _normalise(m.group(1))
            if span.startswith(PROGRAMS) and len(span.split()) > 1 and " @ " not in span:
                events.append((m.start(), "shell", _normalise(span)))
        found += [(doc, kind, command) for _, kind, command in sorted(events, key=lambda e: e[0])]
    return found


def _key(kind: str, command: str) -> str:
    return _normalise(command.strip().splitlines()[0]) if kind == "python" else command


def _unique_commands() -> list[tuple[str, str, str]]:
    seen, out = set(), []
    for doc, kind, command in documented_commands():
        key = _key(kind, command)
        if key not in seen:
            seen.add(key)
            out.append((doc, kind, command))
    return out


def test_every_documented_command_is_classified() -> None:
    keys = {_key(kind, command): doc for doc, kind, command in documented_commands()}
    unclassified = sorted(f"{doc}: {key}" for key, doc in keys.items() if key not in RUN and key not in NOT_RUN)
    assert not unclassified, ("documented commands with no entry in tests/test_readme_commands.py (add each to RUN, "
                              "with the placeholders it uses, or to NOT_RUN with the reason):\n"
                              + "\n".join(unclassified))
    stale = sorted(k for k in list(RUN) + list(NOT_RUN) if k not in keys)
    assert not stale, "entries whose command is no longer in the docs (remove them):\n" + "\n".join(stale)
    assert not set(RUN) & set(NOT_RUN)


# ------------------------------------------------------------------------------------------------ the sandbox

@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, tiny_model) -> dict[str, str]:
    """The demo data and a working folder: ``raw`` (demo corpus, IEMOCAP layout), ``raw_msp``, ``export`` (the demo
    built and exported in the Hub layout), ``annotated`` (``export`` with synthetic and combined columns, saved with
    ``save_to_disk``, as ``hf-ambiguity annotate`` writes it), ``annotated_export`` (the same in the Hub layout with
    its provenance, as the pipeline's export stage writes it), ``demo_config``, ``simulate_config``, ``tiny_model``;
    ``cwd`` holds copies of ``examples/`` and ``metrics/``; ``env`` puts this interpreter first on ``PATH``."""
    import datasets

    from hf_ambiguity.annotate import annotate, merge_dataset
    from hf_ambiguity.alm.local import TransformersAnnotator
    from hf_ambiguity.builders import build_dataset
    from hf_ambiguity.demo import make_demo_corpus, write_msp_layout
    from hf_ambiguity.demo.layouts import example_msp_utterances
    from hf_ambiguity.hub import export_to_hub_layout
    from hf_ambiguity.hub.card import add_provenance_to_card

    root = tmp_path_factory.mktemp("docs")
    cwd = root / "work"
    cwd.mkdir()
    for folder in ("examples", "metrics"):
        shutil.copytree(REPO / folder, cwd / folder)
    data = root / "data"
    raw = make_demo_corpus(data / "raw", n_utterances=10)
    raw_msp = data / "raw_msp"
    write_msp_layout(raw_msp, example_msp_utterances())
    dsdict, report = build_dataset("iemocap", raw, cache_dir=data / "cache", progress=False)
    export = export_to_hub_layout(dsdict, data / "demo-iemocap-ambig", card_info=report.card_info(),
                                  progress=False).folder
    annotator = TransformersAnnotator(str(tiny_model))
    annotated = datasets.DatasetDict({
        split: merge_dataset(annotate(ds, annotator, mode="score", n_annotators=2, progress=False,
                                      cache_dir=str(data / "annotate-cache"))[0])
        for split, ds in datasets.load_dataset(str(export)).items()})
    annotated.save_to_disk(str(data / "demo-annotated"))
    info = add_provenance_to_card(report.card_info(), annotated["session1"], base=data)
    export_to_hub_layout(annotated, data / "demo-annotated-hub", card_info=info, progress=False)
    demo_config = data / "demo.yaml"
    shutil.copy(REPO / "hf_ambiguity" / "configs" / "demo.yaml", demo_config)
    simulate_config = data / "simulate.yaml"
    simulate_config.write_text(   # a small sweep: one seed, one rater panel, the base proxy and one unrelated one
        "n_items: 300\nseeds: [0]\nhumans:\n  panels: [[5]]\nsweep:\n  sharpness: []\n  bias_strength: []\n"
        "  noise: []\n  correlation: [0.0]\nevaluation:\n  merges: [concat, weighted]\n  n_resamples: 200\n")
    bindir = root / "bin"
    bindir.mkdir()
    for name, target in (("hf-ambiguity", f'"{sys.executable}" -m hf_ambiguity'), ("python", f'"{sys.executable}"')):
        (bindir / name).write_text(f'#!/bin/sh\nexec {target} "$@"\n')
        (bindir / name).chmod(0o755)
    env = {**os.environ, "PATH": os.pathsep.join([str(bindir), str(Path(sys.executable).parent), os.environ["PATH"]]),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), "TQDM_DISABLE": "1",
           "HF_DATASETS_CACHE": str(root / "hf-datasets-cache"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "ACCELERATE_USE_CPU": "1"}
    return {"cwd": str(cwd), "raw": str(raw), "raw_msp": str(raw_msp), "export": str(export),
            "annotated": str(data / "demo-annotated"), "annotated_export": str(data / "demo-annotated-hub"),
            "demo_config": str(demo_config),
            "simulate_config": str(simulate_config), "tiny_model": str(tiny_model), "env": env}


def _paths(text: str, places: dict[str, str]) -> str:
    """``{name}`` -> the sandbox path ``name`` (other braces, e.g. of a Python dict, are left alone)."""
    for name, value in places.items():
        if isinstance(value, str):
            text = text.replace("{" + name + "}", value)
    return text


def concrete(key: str, text: str, places: dict[str, str]) -> str:
    """The text that runs for a documented command: its vars, the placeholders, its append (module docstring);
    a Python block gets its prelude first."""
    run = RUN[key]
    for old, new in run.vars.items():
        text = text.replace(old, new)
    for old, new, _ in PLACEHOLDERS:
        text = text.replace(old, new)
    if run.append:
        text = f"{text} {run.append}"
    return _paths(run.python_prelude + text, places)


def _runnable() -> list:
    params = []
    for doc, kind, command in _unique_commands():
        key = _key(kind, command)
        if key not in RUN:
            continue
        marks = [pytest.mark.xfail(reason=RUN[key].xfail, strict=True)] if RUN[key].xfail else []
        params.append(pytest.param(doc, kind, command, id=f"{doc}:{key[:60]}", marks=marks))
    return params


_SUCCEEDED: set[str] = set()


@pytest.mark.parametrize(("doc", "kind", "command"), _runnable())
def test_documented_command_runs_as_written(doc: str, kind: str, command: str, sandbox: dict[str, str]) -> None:
    key = _key(kind, command)
    if RUN[key].after and RUN[key].after not in _SUCCEEDED:
        pytest.skip(f"reads the output of `{RUN[key].after}`, which did not run in this session")
    text = concrete(key, command, sandbox)
    argv: list[str] | str = [sys.executable, "-c", text] if kind == "python" else text
    res = subprocess.run(argv, shell=kind != "python", cwd=sandbox["cwd"], env=sandbox["env"], capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, (f"{doc}: `{command}` exited {res.returncode}\n--- stdout\n{res.stdout[-2000:]}\n"
                                 f"--- stderr\n{res.stderr[-4000:]}")
    assert "Traceback (most recent call last)" not in res.stderr, res.stderr[-4000:]
    _SUCCEEDED.add(key)


def test_exported_demo_card_is_hub_grade(sandbox: dict[str, str]) -> None:
    """The card `hf-ambiguity run` exports for the demo (08_export/hub): valid for huggingface_hub's DatasetCard and
    DatasetCardData, with the metadata and sections a Hub user expects, and no machine path."""
    from huggingface_hub import DatasetCard, DatasetCardData

    if ".venv/bin/hf-ambiguity run" not in _SUCCEEDED:
        pytest.skip("reads the output of `hf-ambiguity run`, which did not run in this session")
    folder = Path(sandbox["cwd"]) / "runs" / "demo" / "08_export" / "hub"
    card = DatasetCard.load(folder / "README.md")
    assert isinstance(card.data, DatasetCardData)
    data = card.data
    assert data.task_categories == ["audio-classification"] and data.task_ids == ["audio-emotion-recognition"]
    assert data.annotations_creators == ["expert-generated", "machine-generated"]  # human + synthetic annotators
    assert data.source_datasets == ["extended|other-iemocap"] and data.multilinguality == ["monolingual"]
    assert data.license == "other" and data.license_name and data.license_link
    assert "hf_ambiguity" not in data.to_dict()  # the header stays small: provenance is in provenance.json
    for section in ("## Uses", "## Bias, Risks and Limitations", "### Example", "## Citation",
                    "https://arxiv.org/abs/2601.14620", "@software{hf_ambiguity", "(provenance.json)"):
        assert section in card.content, section
    root = str(Path(sandbox["cwd"]).parent)
    for name in ("README.md", "provenance.json"):
        assert root not in (folder / name).read_text(encoding="utf-8"), f"{name} records a machine path"
