"""Column types of built datasets: ``ambiguity`` is a ``ClassLabel`` (low / medium / high) and every vote and
distribution column has one type (a list of float64), from the builder through annotation and merge to the Hub
export; and every reader of ``ambiguity`` gives the same answer for the ClassLabel column as for level names."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

from helpers import make_dataset, write_corpora
from hf_ambiguity.schema import (
    AMBIGUITY_LEVELS, ambiguity_feature, ambiguity_levels, ambiguity_names, distribution_feature,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from hf_ambiguity.builders import build_dataset

    root = tmp_path_factory.mktemp("types")
    iem, _ = write_corpora(root / "raw")
    dsdict, report = build_dataset("iemocap", iem, cache_dir=root / "cache", progress=False)
    return dsdict, report


def test_built_annotated_and_merged_columns_have_one_type(built, tiny_annotator, one_torch_thread, tmp_path):
    from hf_ambiguity.annotate import annotate, merge_dataset
    from hf_ambiguity.hub import export_to_hub_layout

    dsdict, report = built
    ds = dsdict["session1"]
    assert ds.features["ambiguity"] == ambiguity_feature()
    assert isinstance(ds[0]["ambiguity"], int)  # ds["ambiguity"] gives codes ...
    assert ambiguity_levels(ds) == [ds.features["ambiguity"].int2str(i) for i in ds["ambiguity"]]  # ... names here
    annotated, _ = annotate(ds, tiny_annotator, mode="score", n_annotators=2, progress=False,
                            cache_dir=str(tmp_path / "cache"))
    merged = merge_dataset(annotated)
    dist_columns = [c for c in merged.column_names if c.endswith(("_votes", "_dist"))]
    assert set(dist_columns) >= {"human_votes", "human_dist", "synthetic_votes", "synthetic_dist",
                                 "combined_votes", "combined_dist"}
    for col in dist_columns:
        assert merged.features[col] == distribution_feature(), col
    # the types survive the Hub layout (parquet + dataset_info in the card)
    folder = export_to_hub_layout(datasets.DatasetDict({"session1": merged}), tmp_path / "hub",
                                  card_info=report.card_info(), progress=False).folder
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "load"))["session1"]
    assert loaded.features["ambiguity"] == ambiguity_feature()
    assert all(loaded.features[c] == distribution_feature() for c in dist_columns)


def test_readers_give_the_same_answer_for_codes_and_names():
    from hf_ambiguity.augment import dime_aug
    from hf_ambiguity.augment.balanced_eval import balanced_eval_view, balanced_view_record
    from hf_ambiguity.analysis.summary import model_alignment_record
    from hf_ambiguity.builders.statistics import corpus_statistics

    names = make_dataset([8, 3, 4, 2], seed=3).add_column("n_dropped_labels", [0] * 17)
    codes = names.cast_column("ambiguity", ambiguity_feature())
    assert ambiguity_levels(codes) == ambiguity_levels(names) == names["ambiguity"]
    assert corpus_statistics(codes) == corpus_statistics(names)
    view_n = balanced_eval_view(names, "human_dist", seed=1)
    view_c = balanced_eval_view(codes, "human_dist", seed=1)
    assert view_c.composition == view_n.composition and view_c.dataset["id"] == view_n.dataset["id"]
    assert balanced_view_record(codes, seed=1)[2] == balanced_view_record(names, seed=1)[2]
    aug_n, rep_n = dime_aug(names, "human_dist", ratio=0.6, balance_by="class_ambiguity", seed=2, progress=False)
    aug_c, rep_c = dime_aug(codes, "human_dist", ratio=0.6, balance_by="class_ambiguity", seed=2, progress=False)
    assert rep_c.to_dict() == rep_n.to_dict() and aug_c["aug_sources"] == aug_n["aug_sources"]
    assert aug_c.features["ambiguity"] == ambiguity_feature()  # new rows keep the anchor's level, as a code
    pred = np.asarray(names["human_dist"]) * 0.8 + 0.05
    rec_n, _ = model_alignment_record(pred, names, "human_dist", against="own", n_bootstrap=0, seed=0)
    rec_c, _ = model_alignment_record(pred, codes, "human_dist", against="own", n_bootstrap=0, seed=0)
    assert rec_c == rec_n


def test_ambiguity_names_refuses_what_is_not_a_level_or_code():
    assert ambiguity_names([0, 1, 2, "low", None, -1]) == [*AMBIGUITY_LEVELS, "low", None, None]
    with pytest.raises(ValueError, match=r"ambiguity row 1 has the code 7"):
        ambiguity_names([0, 7])
    with pytest.raises(ValueError, match=r"ambiguity row 0 is 0.5"):
        ambiguity_names([0.5])
