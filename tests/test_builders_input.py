"""Builders and ``hf-ambiguity build`` on bad or changed input (issue 15): clear errors naming the file and the flag
or config key to set, the cache keyed by file content, and the out-of-set policy named in the card (issue 13)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import iemocap_corpus, msp_corpus, replace_in_file
from hf_ambiguity import cli
from hf_ambiguity.builders import build_dataset, corpus_fingerprint
from hf_ambiguity.corpora import CorpusFormatError
from hf_ambiguity.corpora import iemocap as iemocap_module

EMO = "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = cli.main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_same_size_same_mtime_edit_rebuilds(tmp_path: Path) -> None:
    iem = iemocap_corpus(tmp_path)
    path = iem / EMO
    ds1, rep1 = build_dataset("iemocap", iem, cache_dir=tmp_path / "cache", progress=False)
    st = path.stat()
    before = corpus_fingerprint("iemocap", iem)
    text = path.read_bytes().decode("latin-1")
    edited = text.replace("C-E2:\tNeutral;", "C-E2:\tSadness;", 1)  # same length
    assert edited != text and len(edited) == len(text)
    path.write_bytes(edited.encode("latin-1"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # a sync tool restoring the old time stamp
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    assert corpus_fingerprint("iemocap", iem) != before
    ds2, rep2 = build_dataset("iemocap", iem, cache_dir=tmp_path / "cache", progress=False)
    assert rep2.prepared_dir != rep1.prepared_dir
    assert ds1["session1"][0]["human_votes"] == [3.0, 0.0, 0.0, 0.0]
    assert ds2["session1"][0]["human_votes"] == [2.0, 0.0, 0.0, 1.0]


def test_fingerprint_ignores_unrelated_files_and_is_the_pipelines(tmp_path: Path) -> None:
    msp = msp_corpus(tmp_path)
    before = corpus_fingerprint("msp-podcast", msp)
    (msp / "notes.txt").write_text("my own notes")
    assert corpus_fingerprint("msp-podcast", msp) == before
    (msp / "Transcripts" / "MSP-PODCAST_0001_0001.txt").write_text("we had so much fum")  # same size
    assert corpus_fingerprint("msp-podcast", msp) != before
    ids = tmp_path / "ids.txt"
    ids.write_text("MSP-PODCAST_0001_0001\n")
    with_ids = corpus_fingerprint("msp-podcast", msp, ids_file=ids)
    ids.write_text("MSP-PODCAST_0001_0002\n")
    assert corpus_fingerprint("msp-podcast", msp, ids_file=ids) != with_ids

    from hf_ambiguity.pipeline.config import config_from_dict
    from hf_ambiguity.pipeline.plan import plan_stages

    cfg = config_from_dict({"corpus": {"kind": "msp-podcast", "data_dir": str(msp)}, "annotate": {"enabled": False},
                        "train": {"enabled": False}, "augment": {"enabled": False}, "export": {"enabled": False}})
    build = next(s for s in plan_stages(cfg)[0] if s.key == "build")
    assert build.extra_hash() == corpus_fingerprint("msp-podcast", msp)


@pytest.mark.parametrize("strict", [True, False])
def test_missing_wav_without_the_audio_check_is_a_clear_error(tmp_path: Path, strict: bool) -> None:
    iem = iemocap_corpus(tmp_path)
    (iem / "Session5/sentences/wav/Ses05M_script01_1b/Ses05M_script01_1b_F012.wav").unlink()
    with pytest.raises(CorpusFormatError, match=r"Ses05M_script01_1b_F012.wav: audio of utterance "
                                                r"'Ses05M_script01_1b_F012' cannot be read \(No such file or "
                                                r"directory\).*do not pass --no-check-audio.*--lenient") as err:
        build_dataset("iemocap", iem, cache_dir=tmp_path / "cache", progress=False, check_audio=False, strict=strict)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_cli_missing_wav_with_no_check_audio_and_unreadable_label_file(tmp_path: Path, monkeypatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    iem = iemocap_corpus(tmp_path / "raw")
    common = ["--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    wav = iem / "Session5/sentences/wav/Ses05M_script01_1b/Ses05M_script01_1b_F012.wav"
    data = wav.read_bytes()
    wav.unlink()
    rc, _, err = _cli(["build", "iemocap", "--data-dir", str(iem), "--out", str(tmp_path / "a"), *common,
                       "--no-check-audio", "--lenient"], capsys)
    assert rc == 1 and "Traceback" not in err and "DatasetGenerationError" not in err
    assert err.startswith("hf-ambiguity build: error: ") and "Ses05M_script01_1b_F012.wav" in err  # no bars either
    wav.write_bytes(data)

    real = iemocap_module.read_bytes
    denied = iem / EMO

    def read_bytes(p):
        if Path(p) == denied:
            raise PermissionError(13, "Permission denied", str(p))
        return real(p)

    monkeypatch.setattr(iemocap_module, "read_bytes", read_bytes)
    rc, _, err = _cli(["build", "iemocap", "--data-dir", str(iem), "--out", str(tmp_path / "b"), *common], capsys)
    assert rc == 1 and f"{EMO}: cannot be read (Permission denied)" in err
    assert "(pass --lenient / set corpus.lenient: true to skip and count it)" in err and "strict=False" not in err
    rc, out, _ = _cli(["build", "iemocap", "--data-dir", str(iem), "--out", str(tmp_path / "b"), *common,
                       "--lenient"], capsys)
    assert rc == 0 and "| EmoEvaluation files that could not be read | 1 |" in out


def test_cli_selection_flags_and_the_card_names_the_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    iem = iemocap_corpus(tmp_path / "raw")
    common = ["--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    ids = tmp_path / "ids.txt"
    ids.write_text("Ses01F_impro01_F000\nSes03M_impro05a_M001\nSes05M_script01_1b_M003\n")
    out = tmp_path / "keep"
    rc, stdout, err = _cli(["build", "iemocap", "--data-dir", str(iem), "--out", str(out), *common,
                            "--class-set", "paper-4class", "--no-consensus-in-set", "--out-of-set", "keep",
                            "--ids-file", str(ids)], capsys)
    assert rc == 0, err
    report = json.loads((out / "build_report.json").read_text())
    assert report["num_rows"] == 3 and report["options"]["out_of_set"] == "keep"
    assert report["read_report"]["notes"]["listed ids kept"] == 3
    card = (out / "README.md").read_text()
    assert "Out-of-set policy: out_of_set=keep: every utterance with at least one vote in the class set" in card
    assert "in_set_share" in card
    rc, stdout, _ = _cli(["build", "iemocap", "--data-dir", str(iem), "--out", str(tmp_path / "share"), *common,
                          "--class-set", "paper-4class", "--no-consensus-in-set", "--ids-file", str(ids)], capsys)
    assert rc == 0 and "| out_of_set=share: in-set share below 0.5 | 1 |" in stdout  # the excited turn
    card = (tmp_path / "share" / "README.md").read_text()
    assert "Out-of-set policy: out_of_set=share: an utterance is kept only when at least 50%" in card
    for bad, message in ((["--min-in-set-share", "0"], "--min-in-set-share must be a number in (0, 1]"),
                         (["--ids-file", str(tmp_path / "none.txt")], "--ids-file"),):
        rc, _, err = _cli(["build", "iemocap", "--data-dir", str(iem), "--out", str(tmp_path / "x"), *common, *bad],
                          capsys)
        assert rc == 2 and message in err


def test_cli_msp_partition_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    msp = msp_corpus(tmp_path / "raw")
    cons = msp / "Labels" / "labels_consensus.csv"
    replace_in_file(cons, ",Test2\r\n", ",NA\r\n")
    common = ["--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    rc, _, err = _cli(["build", "msp-podcast", "--data-dir", str(msp), "--out", str(tmp_path / "a"), *common], capsys)
    assert rc == 1 and "Split_Set 'NA' is not a known partition" in err and "--partition NA=Train" in err
    rc, out, _ = _cli(["build", "msp-podcast", "--data-dir", str(msp), "--out", str(tmp_path / "b"), *common,
                       "--partition", "NA=Test2"], capsys)
    assert rc == 0 and "| test2 | 1 |" in out
    rc, _, err = _cli(["build", "msp-podcast", "--data-dir", str(msp), "--out", str(tmp_path / "c"), *common,
                       "--partition", "NA"], capsys)
    assert rc == 2 and "--partition 'NA': expected VALUE=PARTITION" in err
