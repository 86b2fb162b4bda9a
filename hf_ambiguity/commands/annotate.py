"""Attach synthetic (ALM) emotion labels and distributions to a dataset, and merge them with the human votes.

    hf-ambiguity annotate DATASET --backend transformers|gemini|openai --model M [--mode sample|expected|score]
                              [-n N] [--out DIR]

DATASET is a Hub dataset id (``namespace/name``), a ``save_to_disk`` folder (Dataset or DatasetDict) or a folder
``datasets.load_dataset`` reads (:mod:`hf_ambiguity.hub.load`). Every split is annotated, ``combined_*`` columns are
added when the dataset has human votes (``--merge none`` skips it), and the result is saved with ``save_to_disk`` to
``--out`` (default: ``<DATASET folder>-annotated`` next to a local folder, ``./<name>-annotated`` for a Hub id).
Finished requests are kept in ``--cache-dir`` (default ``<out>.annotate-cache``), so rerunning the same command after a
kill resumes. Under ``accelerate launch -m
hf_ambiguity.annotate ...`` every process annotates one contiguous shard of each split; the main process then
gathers the shards in dataset order (from the cache, which must therefore be on a file system every process sees)
and writes the output. On a CPU-only machine use ``accelerate launch --multi_gpu --num_processes K`` (a gloo group).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Sequence

from hf_ambiguity.commands import add_common_options, apply_common_options, default_output

__all__ = ["register", "run", "main", "make_annotator"]

logger = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", metavar="DATASET",
                   help="Hub dataset id (namespace/name), save_to_disk folder, or a folder datasets.load_dataset reads")
    p.add_argument("--backend", choices=("transformers", "openai", "gemini"), required=True)
    p.add_argument("--model", required=True, help="Hub id or local folder (transformers) / model name (hosted)")
    p.add_argument("--mode", choices=("sample", "expected", "score"), default="sample",
                   help="sample: N annotators answer in free text; expected: the exact expectation of those N "
                        "annotators (local models, vLLM); score: one annotator-neutral prompt at temperature 1")
    p.add_argument("--prompt-structure", choices=("project", "reference"), default="project",
                   help="reference: corpus label spellings in alphabetical order, per-corpus transcript label, the "
                        "text before the audio")
    p.add_argument("--prompt-file", help="YAML/JSON prompt file (system, template, foci, labels, ...); its hash "
                                         "goes into the provenance")
    p.add_argument("--temperatures", choices=("project", "reference"), default="project",
                   help="annotator temperature scheme (reference: the reference code's values bit for bit)")
    p.add_argument("--parse-rule", choices=("earliest", "reference"), default="earliest",
                   help="sample mode: the label named earliest in the answer, or the first in label-list order")
    p.add_argument("--top-logprobs", type=int, default=20,
                   help="openai backend, expected/score modes: prompt log-probabilities per token (<= the vLLM "
                        "server's --max-logprobs)")
    p.add_argument("-n", "--n-annotators", type=int,
                   help="synthetic annotators (default: the reference N of the dataset's corpus column: 8 IEMOCAP, "
                        "10 MSP-Podcast, 8 otherwise)")
    p.add_argument("--out", help="output folder, written with save_to_disk (default: DATASET-annotated next to a "
                                  "local folder, ./NAME-annotated for a Hub id)")
    p.add_argument("--name", default="synthetic", help="column prefix of the synthetic annotators")
    p.add_argument("--split", action="append", help="only these splits (repeatable); default: all")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int,
                   help="requests (utterance x annotator) per batch in sample mode, utterances in expected and score "
                        "modes (default: 8 local, 4 x --concurrency hosted)")
    p.add_argument("--cache-dir", help="resume store (default: <out>.annotate-cache)")
    p.add_argument("--merge", choices=("concat", "weighted", "adaptive", "none"), default="concat")
    p.add_argument("--merge-weight", type=float, default=1.0, help="λ of --merge weighted")
    p.add_argument("--revision", help="model revision (transformers)")
    p.add_argument("--device", help="transformers device (default: cuda if available, else cpu)")
    p.add_argument("--dtype", help="transformers dtype (default: bf16 on GPU, float32 on CPU)")
    p.add_argument("--trust-remote-code", action="store_true", help="allow model code from the Hub (off by default)")
    p.add_argument("--max-new-tokens", type=int, default=10)
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default https://api.openai.com/v1) / Gemini host")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="env variable holding the OpenAI-compatible key")
    p.add_argument("--concurrency", type=int, default=8, help="hosted: concurrent requests")
    p.add_argument("--requests-per-second", type=float, help="hosted: rate limit")
    p.add_argument("--timeout", type=float, default=120.0, help="hosted: seconds per request")
    p.add_argument("--max-retries", type=int, default=5, help="hosted: retries on 429/5xx/timeouts")


def register(subparsers) -> None:
    p = subparsers.add_parser("annotate", help="attach synthetic (ALM) emotion labels and distributions",
                              description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.set_defaults(func=run)


def make_annotator(args: argparse.Namespace, device: str | None = None):
    """The backend the arguments name."""
    from hf_ambiguity.alm.hosted import GeminiAnnotator, OpenAICompatibleAnnotator, RetryPolicy

    if args.backend == "transformers":
        from hf_ambiguity.alm.local import TransformersAnnotator

        return TransformersAnnotator(args.model, device=args.device or device, dtype=args.dtype,
                                     trust_remote_code=args.trust_remote_code, revision=args.revision,
                                     max_new_tokens=args.max_new_tokens)
    retry = RetryPolicy(max_retries=args.max_retries)
    if args.backend == "openai":
        return OpenAICompatibleAnnotator(args.model, base_url=args.base_url or "https://api.openai.com/v1",
                                         api_key_env=args.api_key_env, max_concurrency=args.concurrency,
                                         requests_per_second=args.requests_per_second, timeout=args.timeout,
                                         retry=retry, max_completion_tokens=args.max_new_tokens,
                                         top_logprobs=args.top_logprobs)
    return GeminiAnnotator(args.model, base_url=args.base_url, max_concurrency=args.concurrency,
                           requests_per_second=args.requests_per_second, timeout=args.timeout, retry=retry)


def run(args: argparse.Namespace) -> int:
    """Annotate (and merge) every selected split; user errors print ``error: ...`` and return 2."""
    from hf_ambiguity.alm.base import AnnotationBackendError

    try:
        return _run(args)
    except AnnotationBackendError as err:
        logger.error(f"error: {err}\nfinished requests are kept in the cache; rerun the same command to resume")
        return 2
    except (ValueError, FileNotFoundError, ImportError, NotImplementedError) as err:
        logger.error(f"error: {err}")
        return 2


def _run(args: argparse.Namespace) -> int:
    from datasets import DatasetDict

    from hf_ambiguity.annotate import annotate, merge_dataset
    from hf_ambiguity.hub.load import load_dataset_dict

    try:
        import torch
        from accelerate import PartialState

        # cpu=True on a machine without CUDA turns a torchrun-style launch (WORLD_SIZE > 1) into a gloo group
        state = PartialState(cpu=not torch.cuda.is_available())
        rank, world, device, is_main = state.process_index, state.num_processes, str(state.device), \
            state.is_main_process
    except ImportError:  # accelerate is an optional extra
        state, rank, world, device, is_main = None, 0, 1, None, True
    from hf_ambiguity.alm.prompts import prompt_protocol
    from hf_ambiguity.distributed import check_launch

    check_launch(state if state is not None else type("Alone", (), {"num_processes": 1})(),
                 what="each annotation process")  # before any model is loaded
    protocol = prompt_protocol(args.prompt_structure, args.prompt_file)
    dsd = load_dataset_dict(args.dataset, what="DATASET")
    out_dir = Path(args.out) if args.out else default_output(args.dataset, "annotated")
    if not args.out and is_main:
        logger.info(f"writing to {out_dir} (pass --out to choose)")
    splits = args.split or list(dsd)
    unknown = [s for s in splits if s not in dsd]
    if unknown:
        raise ValueError(f"split(s) {unknown} not in the dataset (splits: {list(dsd)})")
    _check_ids_across_splits(dsd, splits)
    cache_dir = args.cache_dir or f"{out_dir}.annotate-cache"
    annotator = make_annotator(args, device if args.backend == "transformers" and world > 1 else None)
    batch_size = args.batch_size or (8 if args.backend == "transformers" else 4 * args.concurrency)
    common = dict(name=args.name, mode=args.mode, n_annotators=args.n_annotators, seed=args.seed,
                  batch_size=batch_size, cache_dir=cache_dir, progress=args.progress, protocol=protocol,
                  temperatures=args.temperatures, parse_rule=args.parse_rule)
    if world > 1:
        for split in splits:
            annotate(dsd[split], annotator, shard=(rank, world), assemble=False, **common)
        state.wait_for_everyone()
        if not is_main:
            state.wait_for_everyone()
            return 0
    out = {}
    for split in splits:
        ds, report = annotate(dsd[split], annotator, **{**common, "progress": common["progress"] and world == 1})
        if args.merge != "none" and "human_votes" in ds.column_names:
            ds = merge_dataset(ds, synthetic=args.name, strategy=args.merge, weight=args.merge_weight)
        out[split] = ds
        print(json.dumps({"split": split, "items": report.n_items, "new": report.n_new_results,
                          "cached": report.n_cached_results, "invalid_answers": report.n_invalid_answers,
                          "items_without_valid_label": report.n_items_without_valid_label,
                          "utterances_per_s": round(report.utterances_per_s, 3)}))
    DatasetDict(out).save_to_disk(str(out_dir))
    logger.info(f"saved {sum(len(d) for d in out.values())} rows ({', '.join(out)}) to {out_dir}")
    if world > 1:
        state.wait_for_everyone()
    return 0


def _check_ids_across_splits(dsd, splits: Sequence[str]) -> None:
    """Cached answers are keyed by utterance id, so an id in two splits would get the first split's answers."""
    seen: dict[str, str] = {}
    for split in splits:
        if "id" not in dsd[split].column_names:
            raise ValueError(f"split {split!r} has no 'id' column; build the dataset with `hf-ambiguity build`")
        for i, item_id in enumerate(dsd[split]["id"]):
            other = seen.setdefault(str(item_id), split)
            if other != split:
                raise ValueError(f"split {split!r} row {i}: id {item_id!r} also occurs in split {other!r}; annotation "
                                 "results are keyed by id, so ids must be unique across the annotated splits "
                                 "(annotate the splits one at a time with --split and separate --out/--cache-dir)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hf_ambiguity annotate", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    add_common_options(parser)
    return run(apply_common_options(parser.parse_args(argv)))
