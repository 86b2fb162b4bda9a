"""Export a built dataset in the exact Hugging Face Hub layout, and push it (privately by default).

Layout written by :func:`export_to_hub_layout`::

    <folder>/README.md                                   dataset card with YAML configs / dataset_info
    <folder>/provenance.json                             options, reader report, every stage's provenance
    <folder>/data/<split>-00000-of-0000M.parquet         audio bytes embedded: the folder is self-contained

``datasets.load_dataset(folder)`` loads it offline, and :func:`push_dataset` uploads it as is with
``huggingface_hub.HfApi``. IEMOCAP and MSP-Podcast are licensed corpora: a push is private unless the caller asks for a
public repository *and* acknowledges the licence, and an existing public repository is never written to silently.
A **gated** push (``gated="manual"`` or ``"auto"``) is the Hub's way to share with other licence holders: the
repository is created private, gated, filled, and only then made visible behind the access form that the card's
``extra_gated_*`` metadata defines (:func:`hf_ambiguity.hub.card.gating_metadata`); it also needs the licence
acknowledgement. The token is passed to ``HfApi`` only; it is never printed, logged or put in an error message.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from hf_ambiguity.progress import progress_bar as tqdm

from hf_ambiguity.files import write_json
from hf_ambiguity.hub.card import CARD_INFO_FILE, GATED_MODES, CardInfo, portable_card_info, render_card

__all__ = ["ExportResult", "PushResult", "export_to_hub_layout", "push_dataset", "LicenseNotAcknowledgedError",
           "DEFAULT_MAX_SHARD_BYTES"]

#: Parquet shards are cut so that each holds about this many bytes of Arrow data (the Hub's usual 500 MB).
DEFAULT_MAX_SHARD_BYTES = 500 * 1024 * 1024


#: What a push uploads from an exported folder: the card, its provenance file and the shards (not the local build
#: report, which names local paths).
UPLOAD_PATTERNS = ("README.md", CARD_INFO_FILE, "data/*.parquet")
#: Remote files a push replaces: shards of an earlier push that this export no longer has are deleted in the same
#: commit, so the repository holds exactly the exported data (no stale rows left behind, e.g. after a rebuild that
#: dropped utterances or changed the shard count).
REPLACE_PATTERNS = ("data/*",)


class LicenseNotAcknowledgedError(PermissionError):
    """A licensed corpus was about to become public without the licence holder's explicit acknowledgement."""


@dataclass(frozen=True)
class ExportResult:
    """Where an export went: the folder, the README path and the shard paths (relative to the folder) per split."""

    folder: Path
    readme: Path
    data_files: Mapping[str, tuple[str, ...]]
    num_rows: Mapping[str, int]


@dataclass(frozen=True)
class PushResult:
    """What a push did: the repository, whether it is private, its gated-access mode, and the commit URL the Hub
    returned."""

    repo_id: str
    private: bool
    commit_url: str
    gated: str | None = None


@contextmanager
def _quiet_datasets_bars() -> Iterator[None]:
    """Silence datasets' per-shard bars while our own bar reports progress; restore the user's setting after."""
    from datasets.utils import logging as ds_logging

    was_disabled = ds_logging.is_progress_bar_enabled() is False
    ds_logging.disable_progress_bar()
    try:
        yield
    finally:
        if not was_disabled:
            ds_logging.enable_progress_bar()


def _needs_embedding(ds: Any) -> bool:
    """Whether some audio cell refers to a file instead of holding its bytes."""
    import pyarrow.compute as pc
    from datasets import Audio

    audio_cols = [k for k, v in ds.features.items() if isinstance(v, Audio)]
    if not audio_cols or len(ds) == 0:
        return False
    table = ds.select_columns(audio_cols).with_format("arrow")[:]
    # chunk by chunk: ``combine_chunks`` would copy the whole (memory-mapped) audio column into RAM
    return any(pc.any(pc.is_null(chunk.field("bytes"))).as_py()
               for c in audio_cols for chunk in table[c].chunks)


def _embed(ds: Any) -> Any:
    """Copy every referenced audio file's bytes into the table (what ``push_to_hub`` does to each shard before
    uploading); the result is held in memory, so call it on one shard at a time."""
    from datasets.table import embed_table_storage

    fmt = ds.format
    out = ds.with_format("arrow").map(embed_table_storage, batched=True, keep_in_memory=True,
                                      desc="Embedding audio bytes")
    return out.with_format(**fmt)


def export_to_hub_layout(dsdict: Any, folder: str | Path, *, card_info: CardInfo, overwrite: bool = False,
                         max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES, progress: bool = True,
                         gated: str | None = None) -> ExportResult:
    """Write ``dsdict`` (a ``DatasetDict``) under ``folder`` in the Hub layout with a dataset card.

    Every split becomes ``data/<split>-0000i-of-0000n.parquet`` shards of at most about ``max_shard_bytes`` of
    Arrow data, with audio bytes embedded. ``README.md`` is rendered by :func:`hf_ambiguity.hub.card.render_card`
    (with the access form of a gated repository when ``gated`` is ``"manual"`` / ``"auto"``); ``provenance.json``
    holds ``card_info`` (no absolute local path: :func:`hf_ambiguity.hub.card.portable_paths`).
    A non-empty ``folder`` is refused unless ``overwrite=True`` (which replaces ``data/``, ``README.md`` and
    ``provenance.json`` only).
    Files are written to a hidden sibling folder first and moved into place when complete, so an interrupted export
    leaves ``folder`` as it was; running it again starts over.
    """
    import datasets

    if not isinstance(dsdict, datasets.DatasetDict) or not dsdict:
        raise TypeError(f"export_to_hub_layout needs a non-empty datasets.DatasetDict, got {type(dsdict).__name__}")
    if max_shard_bytes <= 0:
        raise ValueError(f"max_shard_bytes must be positive, got {max_shard_bytes}")
    if gated is not None and gated not in GATED_MODES:
        raise ValueError(f"gated must be one of {list(GATED_MODES)} or None, got {gated!r}")
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise FileExistsError(f"{folder} is not empty; pass overwrite=True (--overwrite) to replace its data/ "
                              "and README.md, or choose an empty folder")
    # write next to the target and move into place at the end: a killed export never leaves a half folder
    staging = folder.parent / f".{folder.name}.incomplete"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "data").mkdir(parents=True)

    data_files: dict[str, tuple[str, ...]] = {}
    split_bytes: dict[str, int] = {}
    parquet_bytes: dict[str, int] = {}
    with _quiet_datasets_bars(), tqdm(total=sum(len(ds) for ds in dsdict.values()), unit="utt",
                                      desc="Writing parquet shards", disable=not progress) as bar:
        for split, ds in dsdict.items():
            embed = _needs_embedding(ds)
            nbytes = ds._estimate_nbytes() if len(ds) else 0  # counts the referenced audio files' sizes too
            n_shards = max(1, min(len(ds), math.ceil(nbytes / max_shard_bytes)))
            paths = []
            written = 0
            for i in range(n_shards):
                rel = f"data/{split}-{i:05d}-of-{n_shards:05d}.parquet"
                shard = ds.shard(num_shards=n_shards, index=i, contiguous=True)
                if embed:  # per shard, as push_to_hub does: at most one shard's audio is held in memory
                    shard = _embed(shard)
                shard.to_parquet(str(staging / rel))
                written += (staging / rel).stat().st_size
                paths.append(rel)
                bar.update(len(shard))
            data_files[split] = tuple(paths)
            split_bytes[split] = int(nbytes)
            parquet_bytes[split] = written

    (staging / "README.md").write_text(
        render_card(dsdict, card_info, data_files={k: list(v) for k, v in data_files.items()},
                    split_bytes=split_bytes, download_bytes=sum(parquet_bytes.values()), gated=gated),
        encoding="utf-8")
    write_json(staging / CARD_INFO_FILE, portable_card_info(card_info).to_yaml_dict())
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder / "data", ignore_errors=True)
    os.replace(staging / "data", folder / "data")
    os.replace(staging / CARD_INFO_FILE, folder / CARD_INFO_FILE)
    os.replace(staging / "README.md", folder / "README.md")
    staging.rmdir()
    readme = folder / "README.md"
    return ExportResult(folder=folder, readme=readme, data_files=data_files,
                        num_rows={k: len(v) for k, v in dsdict.items()})


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "<token>") if token else text


def push_dataset(folder_or_dsdict: Any, repo_id: str, *, private: bool | None = None, gated: str | None = None,
                 token: str | None = None, license_acknowledged: bool = False, licensed: bool = True,
                 card_info: CardInfo | None = None, commit_message: str = "Upload dataset built with hf-ambiguity",
                 api: Any = None) -> PushResult:
    """Upload an exported folder (or export ``folder_or_dsdict`` with ``card_info`` first) to a Hub dataset repo.

    Private by default (``private=None``: private unless ``gated``). A public push of a licensed corpus (IEMOCAP,
    MSP-Podcast) raises :class:`LicenseNotAcknowledgedError` unless ``license_acknowledged=True``; so does pushing
    to a repository that already exists and is public while a private push was asked for (``create_repo`` does not
    change the visibility of an existing repository). ``gated="manual"`` (the owner approves each request) or
    ``"auto"`` shares the dataset with licence holders: it needs ``license_acknowledged=True`` and a card exported
    with the same ``gated`` (its access form); the repository is created private, gated, filled and only then made
    visible, so a failure at any step leaves nothing readable without the form. Remote ``data/`` files the export
    does not have are deleted in the same commit. ``token`` goes to ``HfApi`` only and is scrubbed from any error
    text.
    """
    if gated is not None and gated not in GATED_MODES:
        raise ValueError(f"gated must be one of {list(GATED_MODES)} or None, got {gated!r}")
    if gated is not None and private:
        raise ValueError(f"a gated repository is visible behind its access form, so private=True and gated={gated!r} "
                         "contradict each other: drop one (CLI: --gated without --private; config: export.private "
                         "unset or false with export.gated)")
    private = gated is None if private is None else bool(private)
    if gated is not None and licensed and not license_acknowledged:
        raise LicenseNotAcknowledgedError(
            f"refusing to push {repo_id!r} gated: everyone whose access request is approved can download the data. "
            "If your licence allows sharing it with other licence holders, pass license_acknowledged=True "
            "(CLI: --gated --i-have-a-license); otherwise push privately (the default)")
    if not private and gated is None and licensed and not license_acknowledged:
        raise LicenseNotAcknowledgedError(
            f"refusing to push {repo_id!r} publicly: the corpus is licensed and its licence forbids redistribution. "
            "Push privately (the default), or, if your licence allows a public release, pass "
            "license_acknowledged=True (CLI: --public --i-have-a-license)")
    with tempfile.TemporaryDirectory(prefix="hf-ambiguity-push-") as tmp:
        if isinstance(folder_or_dsdict, (str, Path)):
            folder = Path(folder_or_dsdict)
            if not (folder / "README.md").is_file() or not (folder / "data").is_dir():
                raise FileNotFoundError(f"{folder} is not an exported dataset (README.md and data/ expected); "
                                        "run export_to_hub_layout or `hf-ambiguity build --out` first")
        else:
            if card_info is None:
                raise ValueError("pushing a DatasetDict needs card_info (the dataset card); pass card_info=... or "
                                 "export the dataset first and push the folder")
            folder = export_to_hub_layout(folder_or_dsdict, Path(tmp) / "export", card_info=card_info,
                                          gated=gated).folder
        if gated is not None and not _card_has_access_form(folder):
            raise ValueError(f"{folder / 'README.md'} has no access form (extra_gated_prompt): export the dataset with "
                             f"gated={gated!r} (CLI: --gated) before a gated push")
        if api is None:  # only now: every refusal above comes before any contact with the Hub
            from huggingface_hub import HfApi

            api = HfApi(token=token)
        try:
            # a gated push starts private: the data is never readable without the access form, even if a step fails
            api.create_repo(repo_id, repo_type="dataset", private=private or gated is not None, exist_ok=True)
            info = api.repo_info(repo_id, repo_type="dataset")
            is_private = bool(getattr(info, "private", private))
            if private and not is_private and licensed and not license_acknowledged:
                raise LicenseNotAcknowledgedError(
                    f"the Hub repository {repo_id!r} already exists and is public; refusing to upload a licensed "
                    "corpus to it. Make the repository private on the Hub or choose another repo id")
            if gated is not None:
                api.update_repo_settings(repo_id, gated=gated, repo_type="dataset")
            commit = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="dataset",
                                       commit_message=commit_message, allow_patterns=list(UPLOAD_PATTERNS),
                                       delete_patterns=list(REPLACE_PATTERNS))
            if gated is not None and is_private:
                api.update_repo_settings(repo_id, private=False, repo_type="dataset")
                is_private = False
        except LicenseNotAcknowledgedError:
            raise
        except Exception as err:  # noqa: BLE001 - re-raised with the token scrubbed from the message
            raise RuntimeError(f"push to {repo_id!r} failed: {_scrub(str(err), token)}") from None
    url = getattr(commit, "commit_url", None) or str(commit)
    return PushResult(repo_id=repo_id, private=is_private, commit_url=_scrub(str(url), token), gated=gated)


def _card_has_access_form(folder: Path) -> bool:
    from huggingface_hub import DatasetCard

    return "extra_gated_prompt" in DatasetCard.load(folder / "README.md").data.to_dict()
