"""MSP-Podcast reader on corpora written in the exact v1.10+ layout, quirks included."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import line_of, msp_corpus, replace_in_file
from hf_ambiguity.corpora import MSP_COLUMNS, CorpusFormatError, read_msp_podcast
from hf_ambiguity.demo import MspUtterance, Worker, write_msp_layout


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return msp_corpus(tmp_path_factory.mktemp("msp"))


def by_id(result) -> dict[str, dict]:
    return {r["id"]: r for r in result.rows}


def test_layout_quirks(corpus):
    detailed = (corpus / "Labels" / "labels_detailed.csv").read_text()
    assert '"WORKER00000001; Happy; Happy,Excited; A:5.000000;' in detailed  # quoted EmoDetail
    assert '"WORKER00000010; Other-Confused, unsure; Confused;' in detailed
    assert detailed.count("MSP-PODCAST_0001_0002.wav,WORKER00000002; Angry;") == 2  # duplicate worker
    assert (corpus / "Audios" / "._MSP-PODCAST_0001_0001.wav").is_file()


def test_rows_columns_votes_and_texts(corpus):
    res = read_msp_podcast(corpus)
    rows = by_id(res)
    assert all(tuple(r) == MSP_COLUMNS for r in res.rows)
    # order: angry, sad, happy, surprise, fear, disgust, contempt, neutral
    r = rows["MSP-PODCAST_0001_0001"]
    assert r["human_votes"] == [0, 0, 3, 0, 0, 0, 0, 1] and r["n_annotators"] == 5
    assert r["raw_answers"][-1] == "Other-playful" and r["other_text"] == ["", "", "", "", "playful"]
    assert r["secondary_answers"] == ["Happy,Excited", "", "Amused", "", "Happy"]
    assert r["annotators"][1] == "WORKER0002"  # worker id width varies
    assert (r["split"], r["speaker"], r["gender"], r["transcript"]) == ("Train", "0001", "female",
                                                                        "we had so much fun")
    assert (r["consensus_label"], r["consensus_class"]) == ("H", "happy")
    assert (r["activation"], r["valence"], r["dominance"]) == (5.2, 5.8, 4.4)
    assert Path(r["audio"]).is_file()
    r = rows["MSP-PODCAST_0002_0001"]  # four-way tie, consensus X
    assert r["human_votes"] == [0, 1, 0, 1, 1, 0, 0, 1] and r["consensus_class"] == ""
    assert r["majority_label"] == "sad" and r["has_majority"] is False and r["transcript"] == ""
    assert r["other_text"][-1] == "Confused, unsure"
    r = rows["MSP-PODCAST_0003_0001"]
    assert (r["speaker"], r["gender"], r["majority_label"], r["has_majority"]) == ("Unknown", "unknown",
                                                                                  "neutral", True)
    assert res.report.dropped_labels == {"Other-<free text>": 2}
    assert res.report.notes["files without a transcript"] == 1


def test_duplicate_workers_count_once_by_default(corpus):
    res = read_msp_podcast(corpus)
    r = by_id(res)["MSP-PODCAST_0001_0002"]
    assert r["human_votes"] == [3, 0, 0, 0, 0, 1, 1, 0] and len(r["annotators"]) == 5
    assert res.report.notes["duplicate worker rows dropped"] == 1
    res = read_msp_podcast(corpus, duplicate_workers="all")
    r = by_id(res)["MSP-PODCAST_0001_0002"]
    assert r["human_votes"] == [4, 0, 0, 0, 0, 1, 1, 0] and r["annotators"].count("WORKER00000002") == 2
    assert res.report.notes["duplicate worker rows kept"] == 1


def test_test3_has_no_labels_and_is_counted(corpus):
    res = read_msp_podcast(corpus)
    assert "MSP-PODCAST_0004_0001" not in by_id(res)
    assert res.report.skipped == {"no labels (Test3)": 1}
    assert res.report.utterances_read == 5 and res.report.utterances_kept == 4


def test_msp4_and_splits(corpus):
    res = read_msp_podcast(corpus, class_set="msp-4", splits=["Train", "Development"])
    rows = by_id(res)
    assert sorted(rows) == ["MSP-PODCAST_0001_0001", "MSP-PODCAST_0001_0002"]
    assert rows["MSP-PODCAST_0001_0001"]["human_votes"] == [1, 3, 0, 0]  # neutral, happy, angry, sad
    assert rows["MSP-PODCAST_0001_0002"]["human_votes"] == [0, 0, 3, 0]
    assert res.report.dropped_labels == {"Other-<free text>": 1, "Contempt": 1, "Disgust": 1}
    with pytest.raises(ValueError, match="splits must be among .*'Test4'"):
        read_msp_podcast(corpus, splits=["Test4"])
    with pytest.raises(ValueError, match="is for iemocap"):
        read_msp_podcast(corpus, class_set="iemocap-4")


def test_concensus_spelling_validation_alias_and_plain_files(tmp_path, corpus):
    old = write_msp_layout(tmp_path / "old", consensus_spelling="concensus", quirks=False)
    assert not (old / "Labels" / "labels_consensus.csv").exists()
    replace_in_file(old / "Labels" / "labels_concensus.csv", ",Development", ",Validation")
    a, b = read_msp_podcast(corpus).rows, read_msp_podcast(old).rows
    strip = lambda rows: [{k: v for k, v in r.items() if k != "audio"} for r in rows]  # noqa: E731
    assert strip(a) == strip(b)


def test_many_workers(tmp_path):
    workers = tuple(Worker(f"WORKER{i:05d}", "Sad" if i < 12 else "Neutral") for i in range(21))
    root = write_msp_layout(tmp_path / "m", [MspUtterance("MSP-PODCAST_0100_0001.wav", "Train", "S", workers)])
    (r,) = read_msp_podcast(root).rows
    assert r["n_annotators"] == 21 and r["human_votes"] == [0, 12, 0, 0, 0, 0, 0, 9]


# ---------------------------------------------------------------------------------------------- strict / lenient


@pytest.fixture()
def broken(tmp_path) -> Path:
    return msp_corpus(tmp_path)


def test_row_with_missing_columns(broken):
    f = broken / "Labels" / "labels_consensus.csv"
    replace_in_file(f, "MSP-PODCAST_0002_0001.wav,X,", "MSP-PODCAST_0002_0001.wav,X\r\nBROKEN,")
    n = line_of(f, "MSP-PODCAST_0002_0001.wav,X")
    with pytest.raises(CorpusFormatError, match=rf"Labels/labels_consensus.csv:{n}: row has 2 column\(s\)"):
        read_msp_podcast(broken)
    res = read_msp_podcast(broken, strict=False)
    assert res.report.notes["rows skipped in labels_consensus.csv"] == 2  # the cut row and its orphan tail
    assert res.report.notes["worker rows for files without a consensus row"] == 5
    assert "MSP-PODCAST_0002_0001" not in by_id(res)


def test_bad_emo_detail_and_unknown_label(broken):
    f = broken / "Labels" / "labels_detailed.csv"
    replace_in_file(f, "WORKER00000004; Neutral;", "WORKER00000004; Neutrl;")
    replace_in_file(f, "WORKER1; Neutral; ;", "WORKER1 Neutral")
    n_label, n_detail = line_of(f, "Neutrl"), line_of(f, "WORKER1 Neutral")
    with pytest.raises(CorpusFormatError, match=rf"labels_detailed.csv:{n_label}: unknown emotion label 'Neutrl'"):
        read_msp_podcast(broken)
    res = read_msp_podcast(broken, strict=False)
    assert [p.split(": ")[0] for p in res.report.problems] == [f"Labels/labels_detailed.csv:{n_label}",
                                                              f"Labels/labels_detailed.csv:{n_detail}"]
    rows = by_id(res)
    assert rows["MSP-PODCAST_0002_0001"]["n_annotators"] == 4  # the unknown answer gives no vote
    assert rows["MSP-PODCAST_0003_0001"]["human_votes"] == [0, 1, 0, 0, 0, 0, 0, 3]


def test_missing_audio_and_label_files(broken):
    (broken / "Audios" / "MSP-PODCAST_0001_0001.wav").unlink()
    with pytest.raises(CorpusFormatError, match=r"labels_consensus.csv:2: audio file Audios/MSP-PODCAST_0001_0001.wav"
                                                r" is missing"):
        read_msp_podcast(broken)
    res = read_msp_podcast(broken, strict=False)
    assert res.report.skipped == {"missing audio": 1, "no labels (Test3)": 1}
    (broken / "Labels" / "labels_detailed.csv").unlink()
    with pytest.raises(CorpusFormatError, match="labels_detailed.csv' is missing"):
        read_msp_podcast(broken)
    with pytest.raises(CorpusFormatError, match="has no Labels/ folder; pass the MSP-Podcast release folder"):
        read_msp_podcast(broken / "Audios")


def test_non_numeric_attribute_is_an_error(broken):
    f = broken / "Labels" / "labels_consensus.csv"
    replace_in_file(f, "MSP-PODCAST_0003_0001.wav,N,4.000000", "MSP-PODCAST_0003_0001.wav,N,high")
    with pytest.raises(CorpusFormatError, match=r"labels_consensus.csv:5: EmoAct is 'high', not a number"):
        read_msp_podcast(broken)
    res = read_msp_podcast(broken, strict=False)
    assert "MSP-PODCAST_0003_0001" not in by_id(res)
    assert res.report.notes["files without consensus attributes (NaN)"] == 1  # Test3


def test_free_text_with_semicolons_and_unquoted_commas(tmp_path):
    workers = (Worker("WORKER00000001", "Other-sad; tired", ("Sad", "Other-bored; really")),
               Worker("WORKER00000002", "Sad", ("Sad", "Concerned")), Worker("WORKER00000003", "Sad"))
    root = write_msp_layout(tmp_path / "m", [MspUtterance("MSP-PODCAST_0100_0001.wav", "Train", "S", workers)])
    f = root / "Labels" / "labels_detailed.csv"
    replace_in_file(f, '"WORKER00000002; Sad; Sad,Concerned; A:4.000000; V:4.000000; D:4.000000;"',
                    "WORKER00000002; Sad; Sad,Concerned; A:4.000000; V:4.000000; D:4.000000;")  # not CSV-quoted
    (r,) = read_msp_podcast(root).rows  # strict: none of this is an error
    assert r["raw_answers"] == ["Other-sad; tired", "Sad", "Sad"]
    assert r["other_text"] == ["sad; tired", "", ""]
    assert r["secondary_answers"] == ["Sad,Other-bored; really", "Sad,Concerned", ""]
    assert r["human_votes"] == [0, 2, 0, 0, 0, 0, 0, 0] and r["n_dropped_labels"] == 1 and r["n_annotators"] == 3


def test_extra_cells_and_non_utf8_are_errors_naming_the_line(broken):
    f = broken / "Labels" / "labels_consensus.csv"
    replace_in_file(f, "MSP-PODCAST_0002_0001.wav,X,", "MSP-PODCAST_0002_0001.wav,X,9,")
    n = line_of(f, "MSP-PODCAST_0002_0001.wav,X")
    with pytest.raises(CorpusFormatError, match=rf"labels_consensus.csv:{n}: row has 9 column\(s\), the header has 8"):
        read_msp_podcast(broken)
    res = read_msp_podcast(broken, strict=False)
    assert "MSP-PODCAST_0002_0001" not in by_id(res) and res.report.notes["rows skipped in labels_consensus.csv"] == 1
    replace_in_file(f, "MSP-PODCAST_0002_0001.wav,X,9,", "MSP-PODCAST_0002_0001.wav,X,")
    replace_in_file(f, ",Test1\r\n", ",Test1,\r\n")  # a trailing comma (empty extra cell) is harmless
    assert len(read_msp_podcast(broken).rows) == 4
    d = broken / "Labels" / "labels_detailed.csv"
    replace_in_file(d, "Other-playful", "Other-caf\xe9")  # latin-1 byte in a UTF-8 file
    n = line_of(d, "Other-caf")
    with pytest.raises(CorpusFormatError, match=rf"labels_detailed.csv:{n}: not UTF-8 text"):
        read_msp_podcast(broken)


# ------------------------------------------------------------------------------------ release layouts (issue 15)


def _strip(rows):
    return [{k: v for k, v in r.items() if k != "audio"} for r in rows]


@pytest.mark.parametrize("layout", ["columns", "json"])
def test_every_release_layout_gives_the_same_rows(tmp_path, corpus, layout):
    root = write_msp_layout(tmp_path / layout, label_layout=layout)
    if layout == "columns":  # release 2.0: one column per field, not "this reader needs the v1.7+ label files"
        header = (root / "Labels" / "labels_detailed.csv").read_text().splitlines()[0]
        assert header == "FileName,WorkerID,EmoClass_Major,EmoClass_Second,EmoAct,EmoVal,EmoDom"
    res = read_msp_podcast(root)
    assert res.report.options["label_files"].endswith(f"({layout} layout)")
    ref = read_msp_podcast(corpus)
    if layout == "json":  # a JSON object cannot hold a worker's repeated row, so there is nothing to drop
        assert "duplicate worker rows dropped" not in res.report.notes
    assert _strip(res.rows) == _strip(ref.rows)


def test_v16_worker_column_and_lowercase_label_folder(tmp_path, corpus):
    root = write_msp_layout(tmp_path / "v16", label_layout="columns")
    replace_in_file(root / "Labels" / "labels_detailed.csv", "FileName,WorkerID,", "FileName,Workers,")
    (root / "Labels").rename(root / "label")
    assert _strip(read_msp_podcast(root).rows) == _strip(read_msp_podcast(corpus).rows)


def test_unknown_layout_lists_the_layouts_known(broken):
    f = broken / "Labels" / "labels_detailed.csv"
    f.write_text("FileName,Annotator,Label\nMSP-PODCAST_0001_0001.wav,W1,Happy\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=r"labels_detailed.csv:1: header \['FileName', 'Annotator', 'Label'\] "
                                                r"matches no known per-worker layout; known MSP-Podcast label layouts:"
                                                r".*EmoDetail.*WorkerID.*labels_detailed.json"):
        read_msp_podcast(broken)


def test_unknown_partition_strict_lenient_mapped_and_ignored(broken):
    f = broken / "Labels" / "labels_consensus.csv"
    replace_in_file(f, ",Test2\r\n", ",NA\r\n")
    n = line_of(f, ",NA")
    with pytest.raises(CorpusFormatError, match=rf"labels_consensus.csv:{n}: Split_Set 'NA' is not a known partition"
                                                r".*--partition NA=Train.*--lenient"):
        read_msp_podcast(broken)
    res = read_msp_podcast(broken, strict=False)  # counted, not "read 0 / skipped 0"
    assert res.report.utterances_read == 5 and res.report.skipped["unknown partition 'NA'"] == 1
    res = read_msp_podcast(broken, partitions={"NA": "Test2"})
    assert by_id(res)["MSP-PODCAST_0003_0001"]["split"] == "Test2"
    res = read_msp_podcast(broken, partitions={"NA": "ignore"})
    assert res.report.skipped["partition 'NA' ignored"] == 1 and "MSP-PODCAST_0003_0001" not in by_id(res)
    with pytest.raises(ValueError, match=r"partitions: 'NA' is mapped to 'Dev'"):
        read_msp_podcast(broken, partitions={"NA": "Dev"})


def test_every_file_in_an_unknown_partition_is_read_and_counted(tmp_path):
    utts = [MspUtterance(f"MSP-PODCAST_0200_000{i}.wav", "NA", "S", (Worker("W1", "Sad"),)) for i in range(3)]
    root = write_msp_layout(tmp_path / "m", utts)
    with pytest.raises(CorpusFormatError, match=r"(?s)no utterance was kept.*utterances read: 3.*unknown partition "
                                                r"'NA' \| 3.*--partition NA=Train"):
        from hf_ambiguity.builders import build_dataset

        build_dataset("msp-podcast", root, cache_dir=tmp_path / "cache", progress=False, strict=False)


def test_file_name_outside_audios_is_refused(broken, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.wav").write_bytes((broken / "Audios" / "MSP-PODCAST_0001_0002.wav").read_bytes())
    for name in ("Labels/labels_consensus.csv", "Labels/labels_detailed.csv"):
        text = (broken / name).read_text().replace("MSP-PODCAST_0001_0002.wav", "../../outside/x.wav")
        (broken / name).write_text(text)
    n = line_of(broken / "Labels/labels_consensus.csv", "outside")
    with pytest.raises(CorpusFormatError, match=rf"labels_consensus.csv:{n}: FileName '../../outside/x.wav' leaves "
                                                r"the Audios/ folder"):
        read_msp_podcast(broken)
    res = read_msp_podcast(broken, strict=False, check_audio=False)
    assert res.report.skipped["file name outside Audios/"] == 1
    assert "x" not in by_id(res) and len(res.rows) == 3


def test_secondary_only_emotion_as_primary_answer_is_flagged(broken):
    f = broken / "Labels" / "labels_detailed.csv"
    replace_in_file(f, "WORKER00000008; Angry;", "WORKER00000008; Frustrated;")
    n = line_of(f, "WORKER00000008; Frustrated")
    with pytest.raises(CorpusFormatError, match=rf"labels_detailed.csv:{n}: primary answer 'Frustrated' is a "
                                                r"secondary emotion of MSP-Podcast"):
        read_msp_podcast(broken)
    res = read_msp_podcast(broken, strict=False)
    r = by_id(res)["MSP-PODCAST_0001_0002"]
    assert r["n_annotators"] == 4 and r["raw_answers"][-1] == "Frustrated"  # kept as written, no vote
    assert res.report.notes["primary answers that are not primary emotions"] == 1


def test_unreadable_label_file_is_an_error_naming_it(broken, monkeypatch):
    from hf_ambiguity.corpora import msp_labels

    real_open = Path.open

    def deny(self, *args, **kwargs):
        if self.name == "labels_consensus.csv":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(msp_labels.Path, "open", deny)
    for strict in (True, False):
        with pytest.raises(CorpusFormatError, match=r"Labels/labels_consensus.csv: cannot be read \(Permission "
                                                    r"denied\)"):
            read_msp_podcast(broken, strict=strict)


def test_transcript_with_bom_and_windows_1252(broken):
    t = broken / "Transcripts" / "MSP-PODCAST_0001_0001.txt"
    t.write_bytes(b"\xef\xbb\xbfwe had so much fun")
    t2 = broken / "Transcripts" / "MSP-PODCAST_0001_0002.txt"
    t2.write_bytes(b"that\x92s not \x93acceptable\x94")
    rows = by_id(read_msp_podcast(broken))
    assert rows["MSP-PODCAST_0001_0001"]["transcript"] == "we had so much fun"
    assert rows["MSP-PODCAST_0001_0002"]["transcript"] == "that\u2019s not \u201cacceptable\u201d"


@pytest.mark.parametrize("content", [b"RIFF\x24\x00\x00\x00WAVE" + bytes(range(200)), "header-only"])
def test_audio_that_does_not_decode_is_caught_while_reading(broken, content):
    wav = broken / "Audios" / "MSP-PODCAST_0001_0001.wav"
    if content == "header-only":
        content = wav.read_bytes()[:44]  # a RIFF/WAVE header with no samples
    wav.write_bytes(content)
    with pytest.raises(CorpusFormatError, match=r"labels_consensus.csv:2: audio file Audios/MSP-PODCAST_0001_0001.wav "
                                                r"is (not decodable audio|empty)"):
        read_msp_podcast(broken)
    res = read_msp_podcast(broken, strict=False)
    assert res.report.skipped["unusable audio"] == 1 and "MSP-PODCAST_0001_0001" not in by_id(res)
