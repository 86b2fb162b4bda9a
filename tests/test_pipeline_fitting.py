"""Nothing fitted on the rows it is scored on (issue 12): the pipeline fits the adaptive merge on the training split
only, records which rows, and changing only test-split labels leaves the fitted parameters unchanged."""

from __future__ import annotations

import numpy as np
from datasets import DatasetDict, List, Value

from helpers import make_dataset
from hf_ambiguity.pipeline.stages import fit_merge_on_training_rows

SPLIT = {"kind": "speaker", "test_fraction": 0.2, "seed": 42, "test_session": 2, "test_partition": "Test1",
         "validation_fraction": 0.2}


def _dataset(seed: int = 0) -> DatasetDict:
    ds = make_dataset(40, seed=seed)
    rng = np.random.default_rng(seed)
    syn = rng.multinomial(8, [0.4, 0.3, 0.2, 0.1], size=len(ds)).astype(float).tolist()
    ds = ds.add_column("synthetic_votes", syn, feature=List(Value("float64")))
    return DatasetDict({"session1": ds.filter(lambda s: s == 1, input_columns="session"),
                        "session2": ds.filter(lambda s: s == 2, input_columns="session")})


def _relabel(dsdict: DatasetDict, split: str, seed: int) -> DatasetDict:
    rng = np.random.default_rng(seed)

    def shuffle(batch):
        return {"human_votes": [rng.permutation(v).tolist() for v in batch["human_votes"]]}

    return DatasetDict({k: (v.map(shuffle, batched=True) if k == split else v) for k, v in dsdict.items()})


def test_the_adaptive_merge_is_fitted_on_training_rows_only():
    data = _dataset()
    params, fitted_on = fit_merge_on_training_rows(data, "synthetic", SPLIT)
    assert fitted_on["split"] == "train" and fitted_on["rows"] == 16          # session 1 minus 20 % validation
    assert "session 2 is the test set" in fitted_on["split_description"]
    again, _ = fit_merge_on_training_rows(_relabel(data, "session2", seed=1), "synthetic", SPLIT)
    assert vars(again) == vars(params)                                         # test labels changed: same fit
    other, _ = fit_merge_on_training_rows(_relabel(data, "session1", seed=1), "synthetic", SPLIT)
    assert vars(other) != vars(params)                                         # training labels changed: refit


def test_the_merge_provenance_says_which_rows_were_used():
    from hf_ambiguity.annotate import merge_dataset
    from hf_ambiguity.provenance import read_provenance

    data = _dataset()
    params, fitted_on = fit_merge_on_training_rows(data, "synthetic", SPLIT)
    out = merge_dataset(data["session2"], strategy="adaptive", adaptive=params, fitted_on=fitted_on)
    prov = read_provenance(out)["combined"]
    assert prov["fitted_on"]["rows"] == 16 and len(prov["fitted_on"]["ids_sha256"]) == 64
    unfitted = merge_dataset(data["session2"], strategy="adaptive")
    assert "every row of this dataset" in read_provenance(unfitted)["combined"]["fitted_on"]["rows"]
