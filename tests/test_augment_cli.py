"""``hf-ambiguity augment`` and the round trip of an augmented dataset through the Hub layout and load_dataset."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest

from helpers import make_dataset
from hf_ambiguity.augment import dime_aug
from hf_ambiguity.splits import split_train_validation
from hf_ambiguity.hub.card import make_card_info, read_card_info
from hf_ambiguity.cli import main
from hf_ambiguity.hub import export_to_hub_layout


def _rows(ds):
    return ds.cast_column("audio", datasets.Audio(decode=False)).to_list()


@pytest.fixture(scope="module")
def corpus_folder(tmp_path_factory):
    # no session column: a speaker-independent protocol cannot be derived from this corpus
    train = make_dataset([16, 3, 5, 2], seed=21).remove_columns("session")
    test = make_dataset([6, 3, 3, 3], seed=22, prefix="test").remove_columns("session")
    folder = tmp_path_factory.mktemp("corpus")
    export_to_hub_layout(datasets.DatasetDict({"train": train, "test": test}), folder,
                         card_info=make_card_info("iemocap", "iemocap-4"), progress=False)
    return folder


def test_export_and_load_round_trip(tmp_path):
    ds, _ = make_dataset([10, 2, 3, 0], seed=9, return_waves=True)
    out, report = dime_aug(ds, "human_dist", ratio=0.5, seed=1, progress=False)
    assert report.n_generated == 5
    export_to_hub_layout(datasets.DatasetDict({"train": out}), tmp_path / "aug",
                         card_info=make_card_info("iemocap", "iemocap-4"), progress=False)
    loaded = datasets.load_dataset(str(tmp_path / "aug"))["train"]
    assert loaded.features == out.features
    assert _rows(loaded) == _rows(out)
    new = loaded[len(ds)]
    assert new["augmented"] and new["audio"].get_all_samples().data.shape[1] > 0


def test_cli_takes_validation_out_augments_and_exports(corpus_folder, tmp_path, capsys):
    out = tmp_path / "aug"
    code = main(["augment", str(corpus_folder), "--target-column", "human_dist", "--ratio", "0.5", "--out",
                 str(out), "--seed", "3", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr()
    assert "Took 3 rows of 'train' out as 'validation'" in printed.err  # messages: logging on stderr
    assert "| group | before | generated |" in printed.out           # the report: stdout
    loaded = datasets.load_dataset(str(out))
    assert set(loaded) == {"train", "validation", "test"}
    # same rows as the Python API on the same training portion
    source = datasets.load_dataset(str(corpus_folder))
    parts = split_train_validation(source["train"], 0.1, seed=42)
    expected, report = dime_aug(parts["train"], "human_dist", ratio=0.5, seed=3, progress=False)
    assert _rows(loaded["train"]) == _rows(expected)
    assert loaded["validation"]["id"] == parts["validation"]["id"]
    used = {s for srcs in loaded["train"]["aug_sources"] for s in srcs}
    assert used and not used & set(loaded["validation"]["id"])
    provenance = ["augmented", "aug_sources", "aug_alpha", "aug_k", "aug_seed"]
    assert not any(loaded["test"]["augmented"]) and not any(loaded["validation"]["augmented"])
    assert _rows(loaded["test"].remove_columns(provenance)) == _rows(source["test"])
    saved = json.loads((out / "augment_report.json").read_text())
    assert saved["report"]["generated"] == dict(report.generated) and saved["report"]["n_generated"] > 0
    assert "Balanced evaluation view" in (out / "augment_report.md").read_text()
    card = read_card_info(out)
    assert [k for k, _ in card.provenance] == ["dime-aug"] and card.class_set == "iemocap-4"


def test_cli_errors_name_the_problem(corpus_folder, tmp_path, capsys):
    assert main(["augment", str(corpus_folder), "--target-column", "human_dist", "--out", str(tmp_path / "x"),
                 "--split", "dev", "--no-progress"]) == 2
    assert "split 'dev' is not in" in capsys.readouterr().err
    assert main(["augment", str(corpus_folder), "--target-column", "nope", "--out", str(tmp_path / "y"),
                 "--no-progress"]) == 1
    assert "target distribution column 'nope' is not in the dataset" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    assert main(["augment", str(corpus_folder), "--target-column", "human_dist", "--out", str(tmp_path / "full"),
                 "--no-progress"]) == 2
    assert "is not empty; pass --overwrite" in capsys.readouterr().err


def test_cli_protocol_random_pools_and_splits_like_training(corpus_folder, tmp_path, capsys):
    out = tmp_path / "aug"
    assert main(["augment", str(corpus_folder), "--target-column", "human_dist", "--out", str(out),
                 "--protocol", "random", "--no-progress"]) == 0
    assert "random 80/20 split by utterance (seed 42)" in capsys.readouterr().err
    loaded = datasets.load_dataset(str(out))
    originals = {s: [i for i, a in zip(loaded[s]["id"], loaded[s]["augmented"]) if not a] for s in loaded}
    all_ids = set(datasets.load_dataset(str(corpus_folder))["train"]["id"]) | \
        set(datasets.load_dataset(str(corpus_folder))["test"]["id"])
    assert sorted(sum(originals.values(), [])) == sorted(all_ids) and len(originals["test"]) == 9
    assert main(["augment", str(corpus_folder), "--target-column", "human_dist", "--out", str(tmp_path / "b"),
                 "--protocol", "speaker", "--no-progress"]) == 2
    assert "needs a 'session' column (IEMOCAP)" in capsys.readouterr().err


def test_cli_reference_dime_flags_match_the_python_options(corpus_folder, tmp_path):
    from hf_ambiguity.augment.dime import REFERENCE_OPTIONS

    out = tmp_path / "aug_ref"
    code = main(["augment", str(corpus_folder), "--target-column", "human_dist", "--ratio", "0.5", "--out",
                 str(out), "--seed", "3", "--no-progress", "--top-up", "reference", "--neighbours", "reference",
                 "--transcript-from", "anchor", "--features", "reference", "--dominant-ties", "alphabetical"])
    assert code == 0
    parts = split_train_validation(datasets.load_dataset(str(corpus_folder))["train"], 0.1, seed=42)
    expected, report = dime_aug(parts["train"], "human_dist", ratio=0.5, seed=3, progress=False, **REFERENCE_OPTIONS)
    assert _rows(datasets.load_dataset(str(out))["train"]) == _rows(expected)
    saved = json.loads((out / "augment_report.json").read_text())
    assert saved["report"]["options"] == REFERENCE_OPTIONS
    assert all(saved["options"][k] == v for k, v in REFERENCE_OPTIONS.items())
