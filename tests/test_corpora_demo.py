"""The bundled demo corpus: readable by the IEMOCAP reader, speech-like, disagreeing evaluators, deterministic."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from hf_ambiguity.corpora import read_iemocap
from hf_ambiguity.demo import corpus as demo_corpus
from hf_ambiguity.demo import make_demo_corpus
from hf_ambiguity.demo.audio import espeak_available


def digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return make_demo_corpus(tmp_path_factory.mktemp("demo") / "IEMOCAP_full_release")


def test_demo_reads_strictly_with_realistic_disagreement(demo):
    res = read_iemocap(demo, class_set="iemocap-full")
    assert res.report.utterances_read == 48 and res.report.problems == []
    rows = res.rows
    assert {r["session"] for r in rows} == {1, 2, 3, 4, 5}
    assert all(3 <= r["n_annotators"] <= 6 for r in rows)
    assert any(r["n_annotators"] > 3 for r in rows)
    unanimous = sum(r["entropy"] == 0 for r in rows)
    assert 0.2 * len(rows) < unanimous < 0.8 * len(rows)  # some agree, some do not
    assert any(len(a.split(";")) > 2 for r in rows for a in r["raw_answers"])  # multi-emotion answers
    assert any(t for r in rows for t in r["other_text"])  # 'Other' with free text
    assert res.report.notes["self-evaluations excluded"] > 0
    assert len({r["majority_label"] for r in rows}) >= 4
    assert {r["consensus_label"] for r in rows} >= {"neu", "ang", "sad"}
    assert all(r["transcript"] for r in rows)


def test_demo_audio_is_16k_speech_like(demo):
    rows = read_iemocap(demo).rows
    info = json.loads((demo / "demo_corpus.json").read_text())
    assert info["audio"] == ("espeak-ng" if espeak_available() else "generated voiced signal")
    for r in rows[:5]:
        x, sr = soundfile.read(r["audio"])
        assert sr == 16000 and x.ndim == 1 and len(x) > 0.5 * sr
        assert 0.01 < float(np.sqrt(np.mean(x**2))) < 0.9
        assert r["end"] - r["start"] == pytest.approx(len(x) / sr, abs=1e-3)


def test_demo_is_deterministic_reused_and_rewritten(tmp_path):
    a = make_demo_corpus(tmp_path / "a", n_utterances=8, seed=3)
    b = make_demo_corpus(tmp_path / "b", n_utterances=8, seed=3)
    assert digest(a) == digest(b)
    before = (a / "demo_corpus.json").stat().st_mtime_ns
    assert make_demo_corpus(a, n_utterances=8, seed=3) == a
    assert (a / "demo_corpus.json").stat().st_mtime_ns == before
    make_demo_corpus(a, n_utterances=5, seed=4)  # other options: rewritten, nothing stale left
    assert read_iemocap(a, strict=True).report.utterances_read == 5
    assert digest(a) != digest(b)


def test_fallback_without_espeak_warns(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_corpus, "espeak_available", lambda: False)
    with pytest.warns(UserWarning, match="espeak-ng is not installed"):
        root = make_demo_corpus(tmp_path / "d", n_utterances=6)
    assert json.loads((root / "demo_corpus.json").read_text())["audio"] == "generated voiced signal"
    assert read_iemocap(root).report.utterances_read == 6


def test_a_killed_write_does_not_block_the_next_call(tmp_path, monkeypatch):
    def killed_mid_write(root, *args, **kwargs):
        Path(root, "Session1").mkdir(parents=True)
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(demo_corpus, "write_iemocap_layout", killed_mid_write)
        with pytest.raises(KeyboardInterrupt):
            make_demo_corpus(tmp_path / "d", n_utterances=5, use_espeak=False)
    assert not (tmp_path / "d" / "Session1").exists()
    root = make_demo_corpus(tmp_path / "d", n_utterances=5, use_espeak=False)
    assert read_iemocap(root).report.utterances_read == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no staging folder left


def test_refuses_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "Session1").mkdir()
    with pytest.raises(ValueError, match="make_demo_corpus did not write"):
        make_demo_corpus(tmp_path)
