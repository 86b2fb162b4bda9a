"""What every ``hf-ambiguity`` sub-command shares: the output options, logging on stderr, plain help texts,
``TQDM_DISABLE``, no empty progress bars; and that ``annotate`` / ``augment`` take a Hub id or any local folder and
write to a default output when ``--out`` is not given (the README's commands as written)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import datasets
import pytest

from helpers import make_dataset, write_corpora
from hf_ambiguity import cli
from hf_ambiguity.progress import progress_bar
from hf_ambiguity.provenance import attach_provenance


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs and path:
        yield path, parser
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaves(child, path + (name,))


def test_every_subcommand_has_the_same_output_options_and_plain_help() -> None:
    leaves = dict(_leaves(cli.build_parser()))
    assert {p[0] for p in leaves} >= {"annotate", "augment", "build", "run", "simulate"}
    for path, parser in leaves.items():
        options = {s for a in parser._actions for s in a.option_strings}
        assert {"--no-progress", "-q", "--quiet", "-v", "--verbose"} <= options, path
        text = parser.format_help()
        for markup in ("``", ":func:", ":mod:", ":class:", ":meth:"):
            assert markup not in text, (path, markup)
    top = cli.build_parser().format_help()
    assert "``" not in top and ":mod:" not in top


def test_progress_bars_honour_tqdm_disable_and_skip_empty_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert not progress_bar(range(3)).disable and progress_bar([], desc="x").disable
    assert progress_bar(total=0).disable and not progress_bar(total=2).disable
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress_bar(range(3), disable=False).disable  # an explicit disable=False does not override the user
    monkeypatch.setenv("TQDM_DISABLE", "0")
    assert not progress_bar(range(3)).disable


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    iem, _ = write_corpora(tmp_path_factory.mktemp("raw"))
    return iem


def test_build_shows_bars_unless_told_and_logs_on_stderr(corpus: Path, tmp_path: Path, capfd,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    base = ["build", "iemocap", "--data-dir", str(corpus), "--cache-dir", str(tmp_path / "cache")]
    assert cli.main([*base, "--out", str(tmp_path / "a")]) == 0
    assert "Writing parquet shards" in capfd.readouterr().err  # bars by default
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert cli.main([*base, "--out", str(tmp_path / "b")]) == 0
    err = capfd.readouterr().err
    assert "Writing parquet shards" not in err and "it/s" not in err and "utt/s" not in err
    monkeypatch.delenv("TQDM_DISABLE")
    assert cli.main([*base, "--out", str(tmp_path / "c"), "--quiet"]) == 0
    out, err = capfd.readouterr()
    assert err == "" and "Wrote" in out  # --quiet: no bars, no messages; results still on stdout
    assert cli.main([*base, "--out", str(tmp_path / "c"), "-q"]) == 2  # errors are shown even when quiet
    assert "is not empty; pass --overwrite" in capfd.readouterr().err
    assert cli.main([*base, "--out", str(tmp_path / "d"), "-v", "--no-progress"]) == 0
    err = capfd.readouterr().err
    assert "debug: hf-ambiguity" in err and "Writing parquet shards" not in err


def _annotated_like(tmp_path: Path) -> Path:
    """A save_to_disk dataset split by session like a build output (no 'train' split), with synthetic provenance
    naming a model by an absolute path inside the working directory."""
    ds = make_dataset(40, seed=5).map(lambda r, i: {"session": 1 + i % 5}, with_indices=True)
    ds = attach_provenance(ds, "synthetic", {"backend": {"model": str(tmp_path / "models" / "tiny")}})
    by_session = datasets.DatasetDict({f"session{s}": ds.filter(lambda r, s=s: r["session"] == s)
                                       for s in range(1, 6)})
    by_session.save_to_disk(str(tmp_path / "annotated"))
    return tmp_path / "annotated"


def test_augment_as_the_readme_writes_it(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """`hf-ambiguity augment DATASET --target-column combined_dist`: no --out, no --protocol, a save_to_disk input."""
    from hf_ambiguity.hub.card import read_card_info

    _annotated_like(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["augment", "annotated", "--target-column", "combined_dist", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "writing to" in err and "annotated-augmented" in err
    assert "making train/test splits with --protocol speaker" in err
    out = tmp_path / "annotated-augmented"
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "c"))
    assert set(loaded) == {"train", "validation", "test"} and set(loaded["test"]["session"]) == {5}
    card = read_card_info(out)
    assert [k for k, _ in card.provenance] == ["synthetic", "dime-aug"]  # the annotation is documented too
    assert dict(card.provenance)["synthetic"]["backend"]["model"] == "models/tiny"  # relative, not a machine path
    assert str(tmp_path) not in (out / "README.md").read_text()


def test_annotate_reads_a_hub_id_and_writes_a_default_output(tiny_model, one_torch_thread, tmp_path: Path, capsys,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_load_dataset(path, *args, **kwargs):  # the Hub, offline: only this id exists
        calls.append(path)
        if path != "someuser/iemocap-ambig":
            raise FileNotFoundError(f"Dataset '{path}' doesn't exist on the Hub or cannot be accessed.")
        return datasets.DatasetDict({"train": make_dataset(3)})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.chdir(tmp_path)
    args = ["--backend", "transformers", "--model", str(tiny_model), "--mode", "score", "-n", "2", "--no-progress"]
    assert cli.main(["annotate", "someuser/iemocap-ambig", *args]) == 0
    assert calls == ["someuser/iemocap-ambig"]
    out = datasets.load_from_disk(str(tmp_path / "iemocap-ambig-annotated"))["train"]
    assert len(out) == 3 and "synthetic_dist" in out.column_names and "combined_dist" in out.column_names
    assert "writing to iemocap-ambig-annotated" in capsys.readouterr().err

    make_dataset(2).save_to_disk(str(tmp_path / "local"))  # a local folder: output next to it
    assert cli.main(["annotate", "local", *args]) == 0
    assert (tmp_path / "local-annotated" / "dataset_dict.json").is_file()

    assert cli.main(["annotate", "someuser/missing", *args]) == 2
    err = capsys.readouterr().err
    assert re.search(r"DATASET 'someuser/missing' is not a local folder, and loading it from the Hugging Face Hub "
                     r"failed .*log in \(hf auth login\)", err)


def test_no_empty_progress_bar_when_there_is_nothing_to_do(tmp_path: Path, capfd,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A balanced training split needs no DiME-Aug sample: no "DiME-Aug features: 0utt" line, other bars shown."""
    from hf_ambiguity.hub import export_to_hub_layout
    from hf_ambiguity.hub.card import make_card_info

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    balanced = datasets.DatasetDict({"train": make_dataset([3, 3, 3, 3], seed=8),
                                     "test": make_dataset([1, 1, 1, 1], seed=9, prefix="t")})
    export_to_hub_layout(balanced, tmp_path / "ds", card_info=make_card_info("iemocap", "iemocap-4"), progress=False)
    capfd.readouterr()
    assert cli.main(["augment", str(tmp_path / "ds"), "--target-column", "human_dist", "--out", str(tmp_path / "o"),
                     "--validation-fraction", "0"]) == 0
    out, err = capfd.readouterr()
    assert "0 new rows" in out or "+ 0 new" in out, out[-500:]
    assert "DiME-Aug features" not in err and "DiME-Aug samples" not in err
    assert "Writing parquet shards" in err
