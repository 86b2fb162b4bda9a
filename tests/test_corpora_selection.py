"""Which utterances a build keeps (issue 13): the out-of-set policy never turns out-of-set perception into a confident
in-set label, the report counts what each selection removed, and an id list reproduces an exact subset."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import iemocap_corpus, msp_corpus
from hf_ambiguity.corpora import CorpusFormatError, read_iemocap, read_msp_podcast
from hf_ambiguity.corpora.selection import OutOfSetPolicy
from hf_ambiguity.demo import Evaluation, IemocapTurn, write_iemocap_layout

E = Evaluation


@pytest.fixture(scope="module")
def frustration_corpus(tmp_path_factory) -> Path:
    """The turn of the issue (consensus Frustration; Frustration / Neutral / Frustration) among clear turns."""
    turns = [
        IemocapTurn("Ses01F_impro01_F000", "fru", (E("E1", ("Frustration",)), E("E2", ("Neutral",)),
                                                   E("E3", ("Frustration",)))),
        IemocapTurn("Ses01F_impro01_M000", "neu", (E("E1", ("Neutral",)), E("E2", ("Neutral",)),
                                                   E("E3", ("Frustration",)))),
        IemocapTurn("Ses01F_impro01_F001", "ang", (E("E1", ("Anger",)), E("E2", ("Anger",)), E("E3", ("Anger",)))),
        IemocapTurn("Ses01F_impro01_M001", "sad", (E("E1", ("Sadness", "Frustration")), E("E2", ("Sadness",)),
                                                   E("E3", ("Frustration",)))),
    ]
    return write_iemocap_layout(tmp_path_factory.mktemp("fru") / "IEMOCAP_full_release", turns)


def by_id(result) -> dict[str, dict]:
    return {r["id"]: r for r in result.rows}


def test_out_of_set_perception_is_not_turned_into_certainty_by_default(frustration_corpus):
    res = read_iemocap(frustration_corpus)  # iemocap-4, default out_of_set="share", min_in_set_share=0.5
    rows = by_id(res)
    assert "Ses01F_impro01_F000" not in rows  # 1 of 3 votes in the set: skipped, not neutral = 1.0
    assert res.report.skipped == {"in-set share below 0.5": 1}
    assert res.report.selection == {"out_of_set=share: in-set share below 0.5": 1,
                                    "no in-set vote at all (every policy)": 0}
    assert rows["Ses01F_impro01_M000"]["in_set_share"] == pytest.approx(2 / 3)
    assert rows["Ses01F_impro01_F001"]["in_set_share"] == 1.0
    # fractional: E1 splits one vote between Sadness and Frustration, so 1.5 of 3 votes are in the set
    assert rows["Ses01F_impro01_M001"]["in_set_share"] == pytest.approx(0.5)
    assert res.report.notes["kept utterances with some votes outside the class set"] == 2
    text = res.report.as_markdown()
    assert "Out-of-set policy: out_of_set=share: an utterance is kept only when at least 50%" in text
    assert "| out_of_set=share: in-set share below 0.5 | 1 |" in text


def test_keep_policy_is_the_reference_behaviour_and_says_so(frustration_corpus):
    res = read_iemocap(frustration_corpus, out_of_set="keep")
    r = by_id(res)["Ses01F_impro01_F000"]
    # what the issue reported: the out-of-set majority disappears; in_set_share shows how little is represented
    assert r["human_dist"] == [1.0, 0.0, 0.0, 0.0] and r["has_majority"] is True
    assert r["in_set_share"] == pytest.approx(1 / 3)
    assert res.report.skipped == {} and res.report.options["out_of_set"] == "keep"
    assert res.report.policy.startswith("out_of_set=keep: every utterance with at least one vote in the class set")
    assert "Ses01F_impro01_F000" in by_id(read_iemocap(frustration_corpus, min_in_set_share=0.3))


def test_whole_votes_share_and_the_full_class_set(frustration_corpus):
    rows = by_id(read_iemocap(frustration_corpus, multi_label="whole"))
    assert rows["Ses01F_impro01_M001"]["in_set_share"] == pytest.approx(2 / 4)  # 4 labels named, 2 in the set
    full = read_iemocap(frustration_corpus, class_set="iemocap-full")
    assert all(r["in_set_share"] == 1.0 for r in full.rows) and full.report.utterances_kept == 4


def test_selections_apply_in_order_and_are_each_counted(tmp_path):
    root = iemocap_corpus(tmp_path)
    ids = tmp_path / "ids.txt"
    ids.write_text("# the reference subset\nSes01F_impro01_F000\nSes01F_impro01_M000\n\nSes03M_impro05a_M001\n"
                   "Ses05M_script01_1b_F012\n")
    res = read_iemocap(root, class_set="paper-4class", ids_file=ids)
    assert sorted(by_id(res)) == ["Ses01F_impro01_F000", "Ses05M_script01_1b_F012"]
    assert res.report.selection == {"ids_file: not listed": 3,
                                    "consensus_in_set: consensus outside the class set": 2,  # fru, exc
                                    "out_of_set=share: in-set share below 0.5": 0,
                                    "no in-set vote at all (every policy)": 0}
    assert res.report.notes["ids listed in the ids file"] == 4 and res.report.notes["listed ids kept"] == 2
    assert res.report.warnings == [f"2 of the 4 ids listed in {ids} were read but not kept (consensus outside class "
                                   "set: 2): Ses01F_impro01_M000, Ses03M_impro05a_M001"]
    assert res.report.options["ids_file"] == str(ids)


def test_ids_not_in_the_corpus_are_an_error_naming_them(tmp_path):
    root = iemocap_corpus(tmp_path)
    ids = tmp_path / "ids.txt"
    ids.write_text("Ses01F_impro01_F000\nSes01F_impro01_F999\nSes02F_impro01_F000\n")
    with pytest.raises(CorpusFormatError, match=r"ids.txt: 2 of the 3 listed utterance id\(s\) are not in the "
                                                r"sessions read \(\[1, 3, 5\]\): Ses01F_impro01_F999 \(line 2\), "
                                                r"Ses02F_impro01_F000 \(line 3\).*--ids-file / corpus.ids_file"):
        read_iemocap(root, ids_file=ids)
    with pytest.raises(CorpusFormatError, match="ids file .*nowhere.txt' does not exist"):
        read_iemocap(root, ids_file=tmp_path / "nowhere.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(CorpusFormatError, match="no utterance id in the file"):
        read_iemocap(root, ids_file=tmp_path / "empty.txt")


def test_msp_ids_with_or_without_the_wav_suffix(tmp_path):
    root = msp_corpus(tmp_path)
    ids = tmp_path / "ids.txt"
    ids.write_bytes(b"\xef\xbb\xbfMSP-PODCAST_0001_0001.wav\r\nMSP-PODCAST_0003_0001\r\n")  # BOM, CRLF
    res = read_msp_podcast(root, ids_file=ids)
    assert sorted(by_id(res)) == ["MSP-PODCAST_0001_0001", "MSP-PODCAST_0003_0001"]
    assert res.report.skipped["not in the ids file"] == 3


def test_bad_policy_options_are_refused_before_reading():
    with pytest.raises(ValueError, match=r"out_of_set must be one of \['share', 'keep'\], got 'other'"):
        OutOfSetPolicy("other")
    for bad in (0, 1.5, "half", True):
        with pytest.raises(ValueError, match="min_in_set_share must be a number in"):
            OutOfSetPolicy("share", bad)
    with pytest.raises(ValueError, match="out_of_set must be one of"):
        read_iemocap("/nowhere", out_of_set="drop")
