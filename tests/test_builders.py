"""Builders: IemocapAmbig / MspPodcastAmbig on fixture corpora, build_dataset, options, cache and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hf_ambiguity.builders import (
    IemocapAmbig,
    MspPodcastAmbig,
    build_dataset,
    corpus_fingerprint,
    get_builder,
    utterance_features,
)
from hf_ambiguity.corpora import CorpusFormatError, read_iemocap
from hf_ambiguity.corpora.iemocap import IEMOCAP_COLUMNS
from hf_ambiguity.corpora.msp_podcast import MSP_COLUMNS, read_msp_podcast
from hf_ambiguity.schema import class_names
from helpers import (
    IEMOCAP_BAD_FILE,
    break_iemocap,
    decoded_samples,
    wav_samples,
    write_corpora,
)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("corpora")
    iem, msp = write_corpora(root)
    return iem, msp, tmp_path_factory.mktemp("cache")


def _same_rows(built_split, reader_rows) -> None:
    names = class_names(built_split)
    built = built_split.remove_columns("audio").to_list()
    assert [r["id"] for r in built] == [r["id"] for r in reader_rows]
    for b, r in zip(built, reader_rows):
        for col in ("annotators", "raw_answers", "other_text", "human_labels", "n_annotators", "n_dropped_labels",
                    "has_majority", "consensus_label", "consensus_class", "speaker", "gender"):
            assert b[col] == r[col], (b["id"], col)
        assert built_split.features["ambiguity"].int2str(b["ambiguity"]) == r["ambiguity"]  # a ClassLabel
        assert names[b["majority_label"]] == r["majority_label"]
        np.testing.assert_allclose(b["human_votes"], r["human_votes"], rtol=1e-6)
        np.testing.assert_allclose(b["human_dist"], r["human_dist"], rtol=1e-6)
        np.testing.assert_allclose(b["entropy"], r["entropy"], rtol=1e-6)


def test_iemocap_builder_sessions_features_rows_and_audio(corpora) -> None:
    iem, _, cache = corpora
    builder = IemocapAmbig(config_name="iemocap-4", data_dir=str(iem), cache_dir=str(cache), progress=False)
    builder.download_and_prepare()
    dsdict = builder.as_dataset()
    assert list(dsdict) == ["session1", "session3", "session5"]  # the example corpus has sessions 1, 3 and 5
    ds = dsdict["session1"]
    assert ds.features == utterance_features("iemocap", "iemocap-4")
    assert ds.column_names == list(IEMOCAP_COLUMNS)
    assert class_names(ds) == ["neutral", "happy", "angry", "sad"]

    ref = read_iemocap(iem, class_set="iemocap-4")
    for split, d in dsdict.items():
        _same_rows(d, [r for r in ref.rows if f"session{r['session']}" == split])
    # audio: embedded bytes decode to the wav's samples; only the file name is stored, no local path
    raw = ds.cast_column("audio", ds.features["audio"].__class__(decode=False))[0]["audio"]
    assert raw["path"] == "Ses01F_impro01_F000.wav" and raw["bytes"]
    wav = iem / "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav"
    np.testing.assert_allclose(decoded_samples(ds[0]["audio"]), wav_samples(wav), atol=1e-4)
    assert ds[0]["audio"].metadata.sample_rate == 16000
    # the reader's report is stored with the prepared data and comes back with a cached build
    again = IemocapAmbig(config_name="iemocap-4", data_dir=str(iem), cache_dir=str(cache), progress=False)
    again.download_and_prepare()
    assert again._output_dir == builder._output_dir
    assert again.read_report() == builder.read_report() == ref.report


def test_msp_builder_official_splits(corpora) -> None:
    _, msp, cache = corpora
    builder = MspPodcastAmbig(config_name="msp-8", data_dir=str(msp), cache_dir=str(cache), progress=False)
    builder.download_and_prepare()
    dsdict = builder.as_dataset()
    ref = read_msp_podcast(msp, class_set="msp-8")
    present = {r["split"].lower() for r in ref.rows}
    assert list(dsdict) == [s for s in ("train", "development", "test1", "test2", "test3") if s in present]
    assert "test3" not in dsdict  # the example release hides Test3's labels, as the real one does
    assert builder.read_report().skipped.get("no labels (Test3)", 0) >= 1
    for split, d in dsdict.items():
        assert d.column_names == list(MSP_COLUMNS)
        _same_rows(d, [r for r in ref.rows if r["split"].lower() == split])
    train = dsdict["train"][0]
    assert train["secondary_answers"] == ref.rows[0]["secondary_answers"]
    assert class_names(dsdict["train"]) == list(ref.class_names)


def test_options_change_rows_and_cache(corpora) -> None:
    iem, _, cache = corpora
    base, rep = build_dataset("iemocap", iem, class_set="iemocap-full", cache_dir=cache, progress=False)
    selfev, rep_self = build_dataset("iemocap", iem, class_set="iemocap-full", cache_dir=cache, progress=False,
                                     include_self_evaluations=True, multi_label="whole")
    a = base["session1"].to_list()[0]
    b = selfev["session1"].to_list()[0]
    assert a["id"] == b["id"] == "Ses01F_impro01_F000"
    assert a["annotators"] == ["E1", "E2", "E3"] and b["annotators"] == ["E1", "E2", "E3", "F1"]
    assert rep.prepared_dir != rep_self.prepared_dir
    assert rep_self.options["include_self_evaluations"] is True and rep_self.options["multi_label"] == "whole"
    assert rep.options["consensus_in_set"] is False  # the reader's effective default, not None
    assert rep.split_sizes == {k: len(v) for k, v in base.items()}
    assert "| session1 |" in rep.as_markdown() and "IEMOCAP read report" in rep.as_markdown()
    # a cached build reports exactly what the fresh build did (the card and build_report.md are the same)
    fixed = dict(class_set="iemocap-full", cache_dir=cache, progress=False, ambiguity="fixed",
                 ambiguity_cuts=(0.2, 0.5))
    _, fresh = build_dataset("iemocap", iem, **fixed)
    _, cached = build_dataset("iemocap", iem, **fixed)
    assert cached.prepared_dir == fresh.prepared_dir and cached.read_report == fresh.read_report
    assert cached.options == fresh.options and cached.as_markdown() == fresh.as_markdown()
    assert fresh.options["ambiguity_cuts"] == [0.2, 0.5]


def test_edited_annotation_file_rebuilds(tmp_path: Path) -> None:
    iem, _ = write_corpora(tmp_path)
    first = corpus_fingerprint("iemocap", iem)
    ds1, _ = build_dataset("iemocap", iem, cache_dir=tmp_path / "cache", progress=False)
    path = iem / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    text = path.read_bytes().decode("latin-1")
    path.write_bytes(text.replace("C-E3:\tNeutral state;", "C-E3:\tSadness;", 1).encode("latin-1"))
    assert corpus_fingerprint("iemocap", iem) != first
    ds2, _ = build_dataset("iemocap", iem, cache_dir=tmp_path / "cache", progress=False)
    assert ds1["session1"][0]["human_labels"] == ["neutral", "neutral", "neutral"]
    assert ds2["session1"][0]["human_labels"] == ["neutral", "neutral", "sad"]


def test_restored_wav_rebuilds_instead_of_reusing_a_lenient_cache(tmp_path: Path) -> None:
    iem, _ = write_corpora(tmp_path)
    wav = iem / "Session5/sentences/wav/Ses05M_script01_1b/Ses05M_script01_1b_F012.wav"
    data = wav.read_bytes()
    wav.unlink()
    ds1, rep1 = build_dataset("iemocap", iem, cache_dir=tmp_path / "cache", progress=False, strict=False)
    assert "Ses05M_script01_1b_F012" not in ds1["session5"]["id"] and rep1.read_report.skipped["missing audio"] == 1
    wav.write_bytes(data)
    ds2, rep2 = build_dataset("iemocap", iem, cache_dir=tmp_path / "cache", progress=False, strict=False)
    assert rep2.prepared_dir != rep1.prepared_dir and "missing audio" not in rep2.read_report.skipped
    assert "Ses05M_script01_1b_F012" in ds2["session5"]["id"]


def test_strict_error_names_file_and_line_lenient_counts(tmp_path: Path) -> None:
    iem, _ = write_corpora(tmp_path)
    lineno, deleted = break_iemocap(iem)
    with pytest.raises(CorpusFormatError, match=rf"{IEMOCAP_BAD_FILE}:{lineno}: malformed categorical line"):
        build_dataset("iemocap", iem, cache_dir=tmp_path / "cache", progress=False)
    dsdict, report = build_dataset("iemocap", iem, cache_dir=tmp_path / "cache", progress=False, strict=False)
    ids = [r for d in dsdict.values() for r in d["id"]]
    assert deleted not in ids and len(ids) == report.read_report.utterances_kept
    assert report.read_report.skipped == {"missing audio": 1, "no in-set votes": 1}  # + the xxx turn (no in-set label)
    assert report.read_report.notes["malformed lines skipped"] == 1


def test_builder_errors() -> None:
    with pytest.raises(ValueError, match="class set for iemocap must be one of"):
        get_builder("iemocap", "/nowhere", class_set="msp-8")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['duplicate_workers'\] for iemocap"):
        get_builder("iemocap", "/nowhere", duplicate_workers="all")
    with pytest.raises(ValueError, match="class set 'msp-4' belongs to msp-podcast, not iemocap"):
        utterance_features("iemocap", "msp-4")
    with pytest.raises(ValueError, match="IemocapAmbig needs data_dir"):
        IemocapAmbig(config_name="iemocap-4", cache_dir="/tmp/hf-ambiguity-none").download_and_prepare()
    with pytest.raises(CorpusFormatError, match="does not exist"):
        build_dataset("iemocap", "/nowhere/IEMOCAP", cache_dir="/tmp/hf-ambiguity-none", progress=False)
