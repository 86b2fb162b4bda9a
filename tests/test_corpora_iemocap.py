"""IEMOCAP reader on corpora written in the exact release layout, every quirk included."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import entropy as scipy_entropy

from helpers import iemocap_corpus, line_of, replace_in_file
from hf_ambiguity.corpora import IEMOCAP_COLUMNS, CorpusFormatError, read_iemocap
from hf_ambiguity.corpora import iemocap as iemocap_module
from hf_ambiguity.demo import Evaluation, IemocapTurn, write_iemocap_layout
from hf_ambiguity.distributions import tercile_levels


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return iemocap_corpus(tmp_path_factory.mktemp("iemocap"))


def by_id(result) -> dict[str, dict]:
    return {r["id"]: r for r in result.rows}


def emo_file(root: Path, dialog: str) -> Path:
    return root / f"Session{int(dialog[3:5])}" / "dialog" / "EmoEvaluation" / f"{dialog}.txt"


def test_layout_has_the_quirks_the_reader_must_survive(corpus):
    f = emo_file(corpus, "Ses01F_impro01")
    raw = f.read_bytes()
    assert b"\r\n" in raw and b";\t()\t\r\n" in raw and b"dom  " in raw  # CRLF, trailing tab, double space
    assert (f.parent / "._Ses01F_impro01.txt").is_file() and (f.parent / "Categorical").is_dir()
    assert b"C-F1:" in raw and b"C-F3:\t;\t()" in emo_file(corpus, "Ses03M_impro05a").read_bytes()
    trn = (corpus / "Session1" / "dialog" / "transcriptions" / "Ses01F_impro01.txt").read_bytes()
    assert b"_MXX0 [" in trn and b"Caf\xe9" in trn  # unrated turn, latin-1


def test_rows_have_exactly_the_schema_columns_and_votes(corpus):
    res = read_iemocap(corpus)
    rows = by_id(res)
    assert all(tuple(r) == IEMOCAP_COLUMNS for r in res.rows)
    assert res.class_names == ("neutral", "happy", "angry", "sad")
    # "Neutral state" is neutral; the self-evaluation C-F1 is excluded by default
    assert rows["Ses01F_impro01_F000"]["human_votes"] == [3.0, 0.0, 0.0, 0.0]
    assert rows["Ses01F_impro01_F000"]["annotators"] == ["E1", "E2", "E3"]
    # "Frustration; Anger;" = half a vote for angry, the frustration halves are dropped and counted
    r = rows["Ses01F_impro01_M000"]
    assert r["human_votes"] == [0.0, 0.0, 1.5, 0.0] and r["human_dist"] == [0.0, 0.0, 1.0, 0.0]
    assert r["raw_answers"] == ["Frustration; Anger;", "Anger;", "Frustration;"]
    assert r["n_dropped_labels"] == 2 and r["human_labels"] == ["angry", "angry"]
    # excited merges into happy in iemocap-4; an empty self-evaluation is excluded anyway
    assert rows["Ses03M_impro05a_M001"]["human_votes"] == [0.0, 3.0, 0.0, 0.0]
    # an empty outside answer stays in annotators but gives no vote; Other's free text is kept
    r = rows["Ses03M_impro05b_F002"]
    assert r["annotators"] == ["E2", "E3", "E4", "E5"] and r["raw_answers"][1] == ";"
    assert r["n_annotators"] == 3 and r["other_text"] == ["", "", "annoyed", ""]
    assert r["human_votes"] == pytest.approx([0.0, 0.0, 2 + 1 / 3, 0.0])
    r = rows["Ses05M_script01_1b_F012"]
    assert r["human_votes"] == [0.5, 0.0, 0.0, 2.5]
    assert r["human_dist"] == pytest.approx([1 / 6, 0, 0, 5 / 6])
    r = rows["Ses05M_script01_1b_M003"]  # 30 evaluators
    assert r["n_annotators"] == 30 and r["human_votes"] == [9.0, 18.0, 3.0, 0.0]
    assert r["majority_label"] == "happy" and r["has_majority"] is True


def test_identity_columns(corpus):
    rows = by_id(read_iemocap(corpus))
    r = rows["Ses05M_script01_1b_F012"]
    assert (r["session"], r["dialog"], r["speaker"], r["gender"], r["method"]) == (
        5, "Ses05M_script01_1b", "Ses05F", "female", "scripted")
    r = rows["Ses03M_impro05a_M001"]
    assert (r["dialog"], r["speaker"], r["gender"], r["method"]) == ("Ses03M_impro05a", "Ses03M", "male",
                                                                     "improvised")
    assert (r["consensus_label"], r["consensus_class"]) == ("exc", "happy")
    assert (r["valence"], r["activation"], r["dominance"]) == (4.0, 4.0, 3.0)
    assert r["transcript"] == "I got in!" and Path(r["audio"]).is_absolute() and Path(r["audio"]).is_file()
    assert r["end"] > r["start"] > 0
    full = by_id(read_iemocap(corpus, class_set="iemocap-full"))
    assert full["Ses01F_impro01_F001"]["transcript"] == "Caf\u00e9? No, the other line."
    assert full["Ses01F_impro01_F001"]["consensus_class"] == ""  # xxx = no agreement


def test_no_in_set_votes_is_skipped_and_counted(corpus):
    res = read_iemocap(corpus)
    assert "Ses01F_impro01_F001" not in by_id(res)  # Other / Surprise / Frustration only
    assert res.report.utterances_read == 7 and res.report.utterances_kept == 6
    assert res.report.skipped == {"no in-set votes": 1}
    assert res.report.dropped_labels == {"Frustration": 4, "Other": 2, "Surprise": 1}
    assert res.report.notes["self-evaluations excluded"] == 4
    assert [res.report.notes[f"kept in Session{s}"] for s in (1, 3, 5)] == [2, 2, 2]
    assert res.report.class_counts == {"neutral": 1, "happy": 2, "angry": 2, "sad": 1}
    assert all(np.isfinite(r["human_dist"]).all() for r in res.rows)


def test_self_evaluations_and_whole_votes_on_request(corpus):
    rows = by_id(read_iemocap(corpus, include_self_evaluations=True, multi_label="whole"))
    r = rows["Ses01F_impro01_M000"]
    assert r["annotators"] == ["E1", "E2", "E3", "M1"] and r["human_votes"] == [0.0, 0.0, 3.0, 0.0]
    r = rows["Ses03M_impro05a_M001"]
    assert r["annotators"][-1] == "F3" and r["n_annotators"] == 3  # the empty self-answer gives no vote
    assert rows["Ses03M_impro05b_F002"]["human_votes"] == [0.0, 0.0, 3.0, 0.0]


def test_paper_4class_selects_on_consensus_and_drops_excited(corpus):
    res = read_iemocap(corpus, class_set="paper-4class")
    rows = by_id(res)
    assert sorted(rows) == ["Ses01F_impro01_F000", "Ses03M_impro05b_F002", "Ses05M_script01_1b_F012",
                            "Ses05M_script01_1b_M003"]
    assert res.report.skipped == {"consensus outside class set": 3}  # fru, xxx, exc
    assert res.report.options["consensus_in_set"] is True
    # without the consensus selection, the excited turn (1 in-set vote of 3) is skipped by the default out-of-set
    # policy and kept with its one in-set vote by out_of_set="keep"
    res = read_iemocap(corpus, class_set="paper-4class", consensus_in_set=False)
    assert "Ses03M_impro05a_M001" not in by_id(res) and res.report.skipped["in-set share below 0.5"] == 1
    rows = by_id(read_iemocap(corpus, class_set="paper-4class", consensus_in_set=False, out_of_set="keep"))
    assert rows["Ses03M_impro05a_M001"]["human_votes"] == [0.0, 1.0, 0.0, 0.0]
    assert rows["Ses03M_impro05a_M001"]["n_dropped_labels"] == 2


def test_reference_ambiguity_is_label_entropy_terciles(corpus):
    res = read_iemocap(corpus, class_set="iemocap-full")
    expected = []
    for r in res.rows:
        _, counts = np.unique(r["human_labels"], return_counts=True)
        expected.append(0.0 if len(counts) == 1 else scipy_entropy(counts) / np.log(len(counts)))
    assert [r["entropy"] for r in res.rows] == pytest.approx(expected)
    assert [r["ambiguity"] for r in res.rows] == tercile_levels(expected)
    assert res.report.ambiguity_counts == {lv: [r["ambiguity"] for r in res.rows].count(lv)
                                           for lv in ("low", "medium", "high")}


def test_fixed_ambiguity_uses_class_count_entropy(corpus):
    res = read_iemocap(corpus, ambiguity="fixed", ambiguity_cuts=(0.2, 0.5))
    r = by_id(res)["Ses05M_script01_1b_F012"]
    h = scipy_entropy([1 / 6, 5 / 6]) / np.log(4)
    assert r["entropy"] == pytest.approx(h) and r["ambiguity"] == "medium"
    assert by_id(res)["Ses01F_impro01_F000"]["ambiguity"] == "low"
    with pytest.raises(ValueError, match="ambiguity must be one of .*'tercile'"):
        read_iemocap(corpus, ambiguity="tercile")


def test_quirks_do_not_change_the_rows(tmp_path, corpus):
    plain = write_iemocap_layout(tmp_path / "plain", quirks=False)
    a, b = read_iemocap(corpus).rows, read_iemocap(plain).rows
    strip = lambda rows: [{k: v for k, v in r.items() if k != "audio"} for r in rows]  # noqa: E731
    assert strip(a) == strip(b)


def test_sessions_option_and_parent_folder(corpus):
    res = read_iemocap(corpus.parent, sessions=[3])
    assert {r["session"] for r in res.rows} == {3} and res.report.utterances_read == 2
    with pytest.raises(CorpusFormatError, match="Session2 not found"):
        read_iemocap(corpus, sessions=[2, 3])
    with pytest.raises(ValueError, match="sessions must be numbers 1..5"):
        read_iemocap(corpus, sessions=[6])


def test_wrong_folder_and_class_set_are_explained(tmp_path, corpus):
    with pytest.raises(CorpusFormatError, match="no Session1..Session5 folders"):
        read_iemocap(tmp_path)
    with pytest.raises(CorpusFormatError, match="does not exist"):
        read_iemocap(tmp_path / "nope")
    with pytest.raises(ValueError, match="is for msp-podcast, not IEMOCAP"):
        read_iemocap(corpus, class_set="msp-8")


def _turn(utt: str, code: str = "neu") -> IemocapTurn:
    return IemocapTurn(utt, code, tuple(Evaluation(f"E{i}", ("Neutral",)) for i in (1, 2, 3)))


def test_known_total_warning_only_on_a_full_corpus(tmp_path, monkeypatch):
    root = write_iemocap_layout(tmp_path / "c", [_turn(f"Ses0{s}F_impro01_F000") for s in range(1, 6)])
    res = read_iemocap(root)
    assert len(res.report.warnings) == 1 and "read 5 rated turns, the full release has 10039" in res.report.warnings[0]
    assert read_iemocap(root, sessions=[1, 2]).report.warnings == []
    monkeypatch.setattr(iemocap_module, "KNOWN_TOTAL", 5)
    assert read_iemocap(root).report.warnings == []


# ---------------------------------------------------------------------------------------------- strict / lenient


@pytest.fixture()
def broken(tmp_path) -> Path:
    return iemocap_corpus(tmp_path)


def test_malformed_evaluation_line_names_file_and_line(broken):
    f = emo_file(broken, "Ses01F_impro01")
    replace_in_file(f, "C-E2:\tNeutral;", "C-E2 Neutral;")
    n = line_of(f, "C-E2 Neutral")
    with pytest.raises(CorpusFormatError, match=rf"Session1/dialog/EmoEvaluation/Ses01F_impro01.txt:{n}: "
                                                 r"malformed categorical line.*\(pass --lenient / set corpus.lenient: "
                                                 r"true to skip and count it\)"):
        read_iemocap(broken)
    res = read_iemocap(broken, strict=False)
    assert res.report.notes["malformed lines skipped"] == 1
    assert res.report.problems[0].startswith(f"Session1/dialog/EmoEvaluation/Ses01F_impro01.txt:{n}:")
    assert by_id(res)["Ses01F_impro01_F000"]["annotators"] == ["E1", "E3"]


def test_unknown_label_names_file_and_line(broken):
    f = emo_file(broken, "Ses05M_script01_1b")
    replace_in_file(f, "Sadness; Neutral;", "Sadness; Neutrall;")
    n = line_of(f, "Neutrall")
    with pytest.raises(CorpusFormatError, match=rf"Ses05M_script01_1b.txt:{n}: unknown emotion label 'Neutrall'"):
        read_iemocap(broken)
    res = read_iemocap(broken, strict=False)
    # lenient: the unreadable label is removed from that answer as if not written (E2 now said only Sadness)
    assert by_id(res)["Ses05M_script01_1b_F012"]["human_votes"] == [0.0, 0.0, 0.0, 3.0]
    assert by_id(res)["Ses05M_script01_1b_F012"]["raw_answers"][1] == "Sadness; Neutrall;"
    assert res.report.notes["unknown labels skipped"] == 1 and len(res.report.problems) == 1


def test_malformed_header_and_stray_line(broken):
    f = emo_file(broken, "Ses03M_impro05b")
    replace_in_file(f, "\tang\t[1.5000", "\tang\t[1.5000,")
    n = line_of(f, "Ses03M_impro05b_F002")
    with pytest.raises(CorpusFormatError, match=rf"Ses03M_impro05b.txt:{n}: malformed turn header"):
        read_iemocap(broken)
    res = read_iemocap(broken, strict=False)
    assert res.report.skipped["malformed turn header"] == 1 and "Ses03M_impro05b_F002" not in by_id(res)
    f2 = emo_file(broken, "Ses01F_impro01")
    replace_in_file(f2, "C-E1:\tNeutral;", "garbage here\r\nC-E1:\tNeutral;")
    with pytest.raises(CorpusFormatError, match=r"Ses01F_impro01.txt:4: unrecognised line 'garbage here'"):
        read_iemocap(broken, sessions=[1])


def test_turns_left_out_by_the_selection_need_no_wav(broken):
    (broken / "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M000.wav").unlink()  # consensus fru
    res = read_iemocap(broken, class_set="paper-4class")  # strict: not an error
    assert res.report.skipped == {"consensus outside class set": 3} and res.report.utterances_kept == 4


def test_missing_and_unreadable_wav(broken):
    wav_dir = broken / "Session1" / "sentences" / "wav" / "Ses01F_impro01"
    (wav_dir / "Ses01F_impro01_F000.wav").unlink()
    (wav_dir / "Ses01F_impro01_M000.wav").write_bytes(b"not a wav file")
    f = emo_file(broken, "Ses01F_impro01")
    n = line_of(f, "\tSes01F_impro01_F000\t")
    with pytest.raises(CorpusFormatError, match=rf"Ses01F_impro01.txt:{n}: audio file "
                                                 r"Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav"
                                                 r" of turn Ses01F_impro01_F000 is missing"):
        read_iemocap(broken)
    res = read_iemocap(broken, strict=False)
    assert res.report.skipped == {"missing audio": 1, "unusable audio": 1, "no in-set votes": 1}
    assert len(res.report.problems) == 2 and res.report.utterances_kept == 4
    assert "missing audio" in res.report.as_markdown()
    assert read_iemocap(broken, check_audio=False).report.utterances_kept == 6


def test_repeated_turns_and_evaluators_and_turns_without_answers(tmp_path):
    turns = [_turn("Ses01F_impro01_F000"), _turn("Ses01F_impro01_F001", "xxx"),
             IemocapTurn("Ses01F_impro01_F002", "neu", (Evaluation("F1", ("Neutral",)),))]  # self-evaluation only
    root = write_iemocap_layout(tmp_path / "c", turns)
    res = read_iemocap(root)
    assert res.report.skipped == {"no evaluator answers": 1}
    f = emo_file(root, "Ses01F_impro01")
    replace_in_file(f, "Ses01F_impro01_F001", "Ses01F_impro01_F000")
    replace_in_file(f, "C-E2:\tNeutral;", "C-E1:\tNeutral;")
    first, second = line_of(f, "\tSes01F_impro01_F000\t"), line_of(f, "C-E1:\tNeutral;")
    with pytest.raises(CorpusFormatError, match=rf"Ses01F_impro01.txt:{second + 1}: evaluator E1 answers twice"):
        read_iemocap(root)
    res = read_iemocap(root, strict=False)
    assert res.report.skipped["repeated turn"] == 1
    assert any(f"appears twice (first at Session1/dialog/EmoEvaluation/Ses01F_impro01.txt:{first})" in p
               for p in res.report.problems)
    assert by_id(res)["Ses01F_impro01_F000"]["annotators"] == ["E1", "E3"]


# ------------------------------------------------------------------------------ encodings, unreadable files (15)


def _without_comment_header(path: Path) -> bytes:
    """The EmoEvaluation file starting directly with its first turn header (as some release files do)."""
    lines = path.read_bytes().split(b"\r\n")
    first = next(i for i, line in enumerate(lines) if line.startswith(b"["))
    return b"\r\n".join(lines[first:])


def test_byte_order_mark_in_evaluation_and_transcription_files(broken, corpus):
    f = emo_file(broken, "Ses01F_impro01")
    f.write_bytes(b"\xef\xbb\xbf" + _without_comment_header(f))
    t = broken / "Session1" / "dialog" / "transcriptions" / "Ses01F_impro01.txt"
    lines = t.read_bytes().split(b"\r\n")
    t.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(line for line in lines if b"_F000 [" in line or b"_M000 [" in line))
    for strict in (True, False):
        res = read_iemocap(broken, strict=strict)
        assert res.report.problems == [] and res.report.utterances_read == 7
        rows = by_id(res)
        assert rows["Ses01F_impro01_F000"]["transcript"] == "Excuse me."  # the first line, after the BOM
        assert rows["Ses01F_impro01_F000"]["human_votes"] == by_id(read_iemocap(corpus))["Ses01F_impro01_F000"][
            "human_votes"]


def test_windows_1252_free_text_is_not_turned_into_control_characters(broken):
    f = emo_file(broken, "Ses03M_impro05b")
    replace_in_file(f, "(annoyed)", "(annoyed \x93again\x94 \x96 it\x92s)")  # Windows-1252 quotes, dash, apostrophe
    t = broken / "Session1" / "dialog" / "transcriptions" / "Ses01F_impro01.txt"
    replace_in_file(t, "Excuse me.", "Excuse me\x85")
    res = read_iemocap(broken)
    assert by_id(res)["Ses03M_impro05b_F002"]["other_text"][2] == "annoyed \u201cagain\u201d \u2013 it\u2019s"
    assert by_id(res)["Ses01F_impro01_F000"]["transcript"] == "Excuse me\u2026"
    assert res.report.notes["files decoded as Windows-1252"] == 2
    # latin-1 text without such bytes still reads as latin-1 (the example transcript has "Café")
    assert by_id(read_iemocap(broken, class_set="iemocap-full"))["Ses01F_impro01_F001"]["transcript"].startswith("Café")


def _deny(monkeypatch, path: Path) -> None:
    """Make reading ``path`` fail as a file without read permission does (chmod, unless running as root)."""
    if os.geteuid() != 0:
        path.chmod(0)
        return
    real = iemocap_module.read_bytes

    def read_bytes(p):
        if Path(p) == path:
            raise PermissionError(13, "Permission denied", str(p))
        return real(p)

    monkeypatch.setattr(iemocap_module, "read_bytes", read_bytes)


def test_unreadable_evaluation_file_named_or_skipped_and_counted(broken, monkeypatch):
    f = emo_file(broken, "Ses03M_impro05b")
    _deny(monkeypatch, f)
    with pytest.raises(CorpusFormatError, match=r"Session3/dialog/EmoEvaluation/Ses03M_impro05b.txt: cannot be read "
                                                r"\(Permission denied\).*--lenient / set corpus.lenient: true"):
        read_iemocap(broken)
    res = read_iemocap(broken, strict=False)
    assert res.report.notes["EmoEvaluation files that could not be read"] == 1
    assert "Ses03M_impro05b_F002" not in by_id(res) and res.report.utterances_kept == 5
    assert res.report.problems == ["Session3/dialog/EmoEvaluation/Ses03M_impro05b.txt: cannot be read (Permission "
                                   "denied); check the file's permissions or restore it from the release"]


def test_unreadable_transcription_file(broken, monkeypatch):
    t = broken / "Session5" / "dialog" / "transcriptions" / "Ses05M_script01_1b.txt"
    _deny(monkeypatch, t)
    with pytest.raises(CorpusFormatError, match=r"transcriptions/Ses05M_script01_1b.txt: cannot be read"):
        read_iemocap(broken)
    res = read_iemocap(broken, strict=False)
    assert res.report.notes["transcription files that could not be read"] == 1
    assert by_id(res)["Ses05M_script01_1b_F012"]["transcript"] == "" and res.report.utterances_kept == 6


@pytest.mark.parametrize("what", ["riff-then-garbage", "header-only"])
def test_wav_that_does_not_decode_is_caught_while_reading(broken, what):
    wav = broken / "Session1" / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F000.wav"
    data = wav.read_bytes()
    wav.write_bytes(data[:12] + bytes(range(256)) * 4 if what == "riff-then-garbage" else data[:44])
    assert wav.read_bytes()[:4] == b"RIFF" and wav.read_bytes()[8:12] == b"WAVE"  # passes a header check
    why = "not decodable audio" if what == "riff-then-garbage" else r"empty \(a header with no audio samples\)"
    with pytest.raises(CorpusFormatError, match=rf"Ses01F_impro01_F000.wav of turn Ses01F_impro01_F000 is {why}.*"
                                                r"--no-check-audio"):
        read_iemocap(broken)
    res = read_iemocap(broken, strict=False)
    assert res.report.skipped["unusable audio"] == 1 and "Ses01F_impro01_F000" not in by_id(res)
