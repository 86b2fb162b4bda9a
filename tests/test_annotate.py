"""The annotation engine on the tiny ALM: both modes, invalid counts, merge, provenance, resume after a real kill,
the CLI and a 2-process ``accelerate launch``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import CLASSES, make_dataset
from hf_ambiguity.annotate import annotate, merge_dataset
from hf_ambiguity.provenance import read_provenance

TESTS = Path(__file__).parent
REPO = TESTS.parent

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_sample_mode_columns_survive_noise_answers(tiny_annotator, tmp_path):
    ds = make_dataset(5)
    out, report = annotate(ds, tiny_annotator, n_annotators=4, batch_size=6, cache_dir=str(tmp_path), progress=False)
    assert out["id"] == ds["id"] and len(out) == 5
    for raw, labels, votes, dist, invalid in zip(out["synthetic_raw"], out["synthetic_labels"],
                                                 out["synthetic_votes"], out["synthetic_dist"],
                                                 out["synthetic_invalid"]):
        assert len(raw) == 4 and invalid + len(labels) == 4 and set(labels) <= set(CLASSES)
        named = out["synthetic_annotator_labels"][out["synthetic_raw"].index(raw)]
        assert len(named) == 4 and [c for c in named if c is not None] == labels
        assert votes == [float(labels.count(c)) for c in CLASSES]
        if labels:
            np.testing.assert_allclose(dist, np.array(votes) / len(labels))
        else:
            assert dist == [0.0] * 4
    assert report.n_invalid_answers == sum(out["synthetic_invalid"]) > 0  # random weights: mostly noise
    assert report.n_items_without_valid_label == sum(1 for v in out["synthetic_votes"] if sum(v) == 0)
    assert report.n_new_results == 20 and report.n_cached_results == 0
    # a rerun with the same cache redoes nothing and gives the same columns
    again, rep2 = annotate(ds, tiny_annotator, n_annotators=4, batch_size=3, cache_dir=str(tmp_path), progress=False)
    assert rep2.n_new_results == 0 and rep2.n_cached_results == 20
    assert again["synthetic_raw"] == out["synthetic_raw"]
    half, rep3 = annotate(ds, tiny_annotator, n_annotators=4, cache_dir=str(tmp_path), progress=False, shard=(1, 2))
    assert half["id"] == ds["id"][2:] and half["synthetic_raw"] == out["synthetic_raw"][2:] and rep3.n_items == 3
    more, rep4 = annotate(ds, tiny_annotator, n_annotators=6, cache_dir=str(tmp_path), progress=False)
    assert rep4.n_cached_results == 20 and rep4.n_new_results == 10  # only annotators 4 and 5 are new
    assert [r[:4] for r in more["synthetic_raw"]] == out["synthetic_raw"]
    other_seed, _ = annotate(ds.select([0, 1]), tiny_annotator, n_annotators=4, seed=1, progress=False)
    assert other_seed["synthetic_raw"] != out["synthetic_raw"][:2]  # the run seed drives the sampling noise
    with pytest.raises(ValueError, match="0 <= index < count"):
        annotate(ds, tiny_annotator, n_annotators=4, cache_dir=str(tmp_path), shard=(2, 2))
    # provenance
    prov = read_provenance(out)["synthetic"]
    assert prov["mode"] == "sample" and prov["n_annotators"] == 4 and prov["seed"] == 0
    assert prov["backend"]["model"] == tiny_annotator.alm.model_id and prov["foci"] == [0, 1, 2, 3]
    assert prov["temperatures"] == [s.temperature for s in __import__("hf_ambiguity.alm", fromlist=["x"])
                                    .annotator_specs(4)]
    assert len(prov["prompt_hash"]) == 16 and "transformers" in prov["libraries"]


def test_score_mode_gives_normalised_distributions(tiny_annotator):
    from scipy.special import softmax

    from hf_ambiguity.annotate.engine import _items
    from hf_ambiguity.schema import mode_columns

    ds = make_dataset(4)
    out, report = annotate(ds, tiny_annotator, mode="score", n_annotators=8, batch_size=3, progress=False,
                           name="qwen")
    assert [c for c in out.column_names if c.startswith("qwen_")] == list(mode_columns("score", "qwen"))
    logp = np.array(out["qwen_logprobs"])
    dist = np.array(out["qwen_dist"])
    np.testing.assert_allclose(dist, softmax(logp, axis=1))
    np.testing.assert_allclose(np.array(out["qwen_votes"]), dist * 8)
    invalid = np.array(out["qwen_invalid"])  # expected number of the 8 answers that are not exactly a label
    np.testing.assert_allclose(invalid, 8 * (1 - np.exp(logp).sum(axis=1)))
    assert (invalid > 0).all() and report.n_invalid_answers == pytest.approx(invalid.sum())
    direct = tiny_annotator.score_batch(_items(ds, [0, 1], tuple(CLASSES)))
    np.testing.assert_allclose(logp[:2], direct, atol=1e-5)
    prov = read_provenance(out)["qwen"]
    assert prov["mode"] == "score" and prov["temperatures"] == [1.0] and prov["foci"] is None
    assert "annotator-neutral" in prov["mode_description"] and prov["columns"] == list(mode_columns("score"))


def test_expected_mode_columns_resume_and_batches(tiny_annotator, tmp_path):
    from hf_ambiguity.alm.prompts import annotator_specs
    from hf_ambiguity.annotate.engine import _items
    from hf_ambiguity.schema import mode_columns

    ds = make_dataset(5)
    out, report = annotate(ds, tiny_annotator, mode="expected", n_annotators=6, batch_size=2,
                           cache_dir=str(tmp_path), progress=False)
    assert [c for c in out.column_names if c.startswith("synthetic_")] == list(mode_columns("expected", "synthetic"))
    per = np.array(out["synthetic_annotator_dists"])
    assert per.shape == (5, 6, 4)
    np.testing.assert_allclose(per.sum(-1), 1.0)
    dist = np.array(out["synthetic_dist"])
    np.testing.assert_allclose(dist, per.mean(axis=1))
    np.testing.assert_allclose(np.array(out["synthetic_votes"]), 6 * dist)
    inv = np.array(out["synthetic_annotator_invalid"])
    assert inv.shape == (5, 6) and ((inv > 0) & (inv < 1)).all()  # random weights: most answers are no label
    np.testing.assert_allclose(np.array(out["synthetic_invalid"]), inv.sum(axis=1))
    assert report.n_new_results == 30 and report.n_invalid_answers == pytest.approx(inv.sum())
    assert report.n_items_without_valid_label == 0
    # the columns are the backend's exact per-annotator probabilities
    direct = tiny_annotator.expected_batch(_items(ds, [3], tuple(CLASSES)), annotator_specs(6))[0]
    np.testing.assert_allclose(per[3], np.exp(direct) / np.exp(direct).sum(-1, keepdims=True), atol=1e-5)
    np.testing.assert_allclose(inv[3], 1 - np.exp(direct).sum(-1), atol=1e-5)
    # a larger N asks only the new annotators; another batch size gives the same columns
    more, rep = annotate(ds, tiny_annotator, mode="expected", n_annotators=8, batch_size=5,
                         cache_dir=str(tmp_path), progress=False)
    assert rep.n_cached_results == 30 and rep.n_new_results == 10
    np.testing.assert_allclose(np.array(more["synthetic_annotator_dists"])[:, :6], per, atol=1e-5)
    fresh, _ = annotate(ds, tiny_annotator, mode="expected", n_annotators=6, batch_size=5, progress=False)
    np.testing.assert_allclose(np.array(fresh["synthetic_dist"]), dist, atol=1e-5)
    prov = read_provenance(out)["synthetic"]
    assert prov["mode"] == "expected" and prov["temperatures"] == [s.temperature for s in annotator_specs(6)]
    assert prov["foci"] == [0, 1, 2, 3, 4, 0] and "expected_mode_passes" in prov["backend"]
    # reference temperatures are another run (another resume key)
    ref, rep = annotate(ds.select([0]), tiny_annotator, mode="expected", n_annotators=6, temperatures="reference",
                        cache_dir=str(tmp_path), progress=False)
    assert rep.n_new_results == 6 and read_provenance(ref)["synthetic"]["temperature_scheme"] == "reference"


def test_sample_mode_reference_prompt_and_parse_rule(tiny_annotator):
    """With the reference structure the model sees corpus spellings; answers are parsed against those spellings and
    stored as dataset class names; the parse rule is applied when the columns are built."""
    from hf_ambiguity.alm.prompts import PromptProtocol

    class Scripted:
        identity, supports_score, supports_expected = "scripted", False, False

        def __init__(self):
            self.texts = []

        def annotate_batch(self, requests, protocol):
            self.texts += [protocol.user_text(r.item.transcript, r.item.speaker, r.item.class_names, r.spec.focus,
                                              r.item.corpus) for r in requests]
            return ["Sadness or Anger", "neutral state.", "happy"][: len(requests)]

        def provenance(self):
            return {"backend": "scripted"}

    ds = make_dataset(1)
    ref = PromptProtocol.reference_structure()
    backend = Scripted()
    out, _ = annotate(ds, backend, n_annotators=3, batch_size=3, protocol=ref, progress=False)
    assert "Possible emotions: Anger, Happiness, Neutral state, Sadness" in backend.texts[0]
    assert out["synthetic_annotator_labels"] == [["sad", "neutral", None]]  # 'happy' is not a label here
    assert out["synthetic_labels"] == [["sad", "neutral"]] and out["synthetic_invalid"] == [1]
    again, _ = annotate(ds, backend, n_annotators=3, batch_size=3, protocol=ref, parse_rule="reference",
                        progress=False)
    assert again["synthetic_annotator_labels"] == [["angry", "neutral", None]]  # first label in list order
    prov = read_provenance(again)["synthetic"]
    assert prov["parse_rule"] == "reference" and prov["prompt"]["layout"] == "text-first"
    assert prov["prompt_hash"] == ref.hash() != PromptProtocol.project().hash()


def test_a_launch_of_several_processes_without_shards_is_refused(tiny_annotator, monkeypatch):
    from hf_ambiguity.distributed import LaunchError

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(LaunchError, match="WORLD_SIZE=2.*annotates every row in each of them.*shard="):
        annotate(make_dataset(2), tiny_annotator, mode="score", progress=False)
    out, _ = annotate(make_dataset(2), tiny_annotator, mode="score", progress=False, shard=(0, 2))
    assert len(out) == 1


def test_merge_is_the_reference_concatenation(tiny_annotator):
    from datasets import Dataset

    ds = make_dataset(4)
    out, _ = annotate(ds, tiny_annotator, n_annotators=3, progress=False)
    merged = merge_dataset(out)
    h, s = np.array(out["human_votes"]), np.array(out["synthetic_votes"])
    np.testing.assert_array_equal(np.array(merged["combined_votes"]), h + s)
    np.testing.assert_allclose(np.array(merged["combined_dist"]), (h + s) / (h + s).sum(axis=1, keepdims=True))
    weighted = merge_dataset(out, strategy="weighted", weight=0.5)
    np.testing.assert_allclose(np.array(weighted["combined_votes"]), h + 0.5 * s)
    prov = read_provenance(weighted)
    assert prov["combined"]["strategy"] == "weighted" and prov["combined"]["weight"] == 0.5
    assert prov["combined"]["synthetic_provenance"] == prov["synthetic"]
    with pytest.raises(ValueError, match="no column 'gemini_votes'.*name='gemini'"):
        merge_dataset(out, synthetic="gemini")
    with pytest.raises(ValueError, match="ClassLabel column 'majority_label'"):
        annotate(Dataset.from_dict({"id": ["a"]}), tiny_annotator)


def test_default_n_is_the_reference_n_of_the_corpus(tiny_annotator):
    """Without ``n_annotators``: 10 synthetic annotators for MSP-Podcast, 8 for IEMOCAP (and unknown corpora)."""
    ds = make_dataset(2).remove_columns("corpus")  # the corpus column is set below; absent = unknown corpus
    msp = ds.add_column("corpus", ["msp-podcast"] * 2)
    out, report = annotate(msp.select([0]), tiny_annotator, progress=False)
    assert report.n_annotators == 10 and len(out["synthetic_raw"][0]) == 10
    assert read_provenance(out)["synthetic"]["n_annotators"] == 10
    scored, _ = annotate(msp, tiny_annotator, mode="score", progress=False)
    np.testing.assert_allclose(np.array(scored["synthetic_votes"]).sum(axis=1), 10.0)
    for data in (ds.add_column("corpus", ["iemocap"] * 2), ds):
        scored, report = annotate(data, tiny_annotator, mode="score", progress=False)
        assert report.n_annotators == 8
        np.testing.assert_allclose(np.array(scored["synthetic_votes"]).sum(axis=1), 8.0)


def test_adaptive_merge_on_a_dataset_fits_on_its_human_votes():
    from hf_ambiguity.annotate.merge import AdaptiveMerge, fit_adaptive_merge

    ds = make_dataset(40, seed=2)
    h = np.array(ds["human_votes"])
    rng = np.random.default_rng(0)
    s = np.stack([rng.multinomial(8, (v + 0.5) / (v + 0.5).sum()) for v in h]).astype(float)
    s[3] = 0.0  # every synthetic answer of row 3 invalid: that row stays human-only (up to the smoothing)
    ds = ds.add_column("synthetic_votes", s.tolist())
    merged = merge_dataset(ds, strategy="adaptive")
    fitted = fit_adaptive_merge(h, s)
    np.testing.assert_allclose(np.array(merged["combined_dist"]), fitted.merge(h, s).dist)
    np.testing.assert_allclose(np.array(merged["combined_votes"]), fitted.merge(h, s).votes)
    k = h.shape[1]
    np.testing.assert_allclose(merged["combined_dist"][3],
                               (h[3] + fitted.smoothing / k) / (h[3].sum() + fitted.smoothing))
    prov = read_provenance(merged)["combined"]
    assert prov["strategy"] == "adaptive" and prov["adaptive"]["concentration"] == fitted.concentration
    given = AdaptiveMerge(concentration=3.0, entropy_reduction=0.5, smoothing=0.0)
    np.testing.assert_allclose(np.array(merge_dataset(ds, strategy="adaptive", adaptive=given)["combined_dist"]),
                               given.merge(h, s).dist)


def test_bad_inputs_are_refused(tiny_annotator):
    from datasets import concatenate_datasets

    ds = make_dataset(2)
    with pytest.raises(ValueError, match="mode must be one of"):
        annotate(ds, tiny_annotator, mode="vote")
    with pytest.raises(ValueError, match="id 'utt0000' occurs twice"):
        annotate(concatenate_datasets([ds, ds]), tiny_annotator, progress=False)


_KILL_SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
from helpers import make_dataset
from hf_ambiguity.alm.local import TransformersAnnotator
from hf_ambiguity.annotate import annotate

class Slow(TransformersAnnotator):
    def annotate_batch(self, requests, protocol=None):
        answers = super().annotate_batch(requests, protocol)
        time.sleep(0.4)
        return answers

annotate(make_dataset(8), Slow({model!r}), n_annotators=3, batch_size=2, cache_dir={cache!r}, progress=False)
print("FINISHED")
"""


def test_resume_after_a_real_kill(tiny_model, tiny_annotator, tmp_path):
    from hf_ambiguity.annotate.store import ResultStore

    cache = tmp_path / "cache"
    script = tmp_path / "run.py"
    script.write_text(_KILL_SCRIPT.format(tests=str(TESTS), model=str(tiny_model), cache=str(cache)))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    parts: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None:
        parts = list(cache.glob("*/part-0.jsonl"))
        if parts and parts[0].read_bytes().count(b"\n") >= 6:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL and b"FINISHED" not in stdout
    part = parts[0]
    done_before = part.read_bytes().count(b"\n")
    assert 6 <= done_before < 24
    with open(part, "ab") as fh:  # what a kill in the middle of a write leaves behind
        fh.write(b'{"id": "utt007", "a": 2, "ra')
    with open(cache / part.parent.name / "part-9.jsonl", "wb") as fh:  # a damaged record from elsewhere: counted
        fh.write(b'{"id": "utt000", "a": 0}\n')

    ds = make_dataset(8)
    resumed, report = annotate(ds, tiny_annotator, n_annotators=3, batch_size=5, cache_dir=str(cache),
                               progress=False)
    assert report.n_cached_results == done_before and report.n_new_results == 24 - done_before
    assert report.n_corrupt_cache_records == 1
    lines = part.read_text().splitlines()
    keys = [(json.loads(x)["id"], json.loads(x)["a"]) for x in lines]
    assert len(lines) == 24 and len(set(keys)) == 24  # nothing lost, nothing duplicated
    fresh, _ = annotate(ds, tiny_annotator, n_annotators=3, batch_size=24, cache_dir=str(tmp_path / "fresh"),
                        progress=False)
    for col in ("synthetic_raw", "synthetic_labels", "synthetic_votes", "synthetic_dist", "synthetic_invalid"):
        assert resumed[col] == fresh[col], col
    assert ResultStore(cache, {"other": "run"}).results == {}  # another run key never sees these answers


def test_cli_and_two_process_accelerate_launch(tiny_model, tmp_path):
    from datasets import load_from_disk

    from hf_ambiguity.cli import main

    make_dataset(6).save_to_disk(str(tmp_path / "ds"))
    common = [str(tmp_path / "ds"), "--backend", "transformers", "--model", str(tiny_model), "-n", "3",
              "--batch-size", "4", "--no-progress"]
    assert main(["annotate", *common, "--out", str(tmp_path / "one")]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
         "-m", "hf_ambiguity", "annotate", *common, "--out", str(tmp_path / "two")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    parts = sorted(p.name for p in (tmp_path / "two.annotate-cache").glob("*/part-*.jsonl"))
    assert parts == ["part-0.jsonl", "part-1.jsonl"]  # each process annotated its own shard
    one, two = load_from_disk(str(tmp_path / "one"))["train"], load_from_disk(str(tmp_path / "two"))["train"]
    assert two["id"] == one["id"]
    for col in ("synthetic_raw", "synthetic_votes", "synthetic_dist", "combined_votes", "combined_dist"):
        assert two[col] == one[col], col
    assert read_provenance(two)["synthetic"]["n_annotators"] == 3 and "combined" in read_provenance(two)


def test_provenance_reaches_the_exported_card(tmp_path):
    from datasets import DatasetDict

    from hf_ambiguity.hub.card import add_provenance_to_card
    from hf_ambiguity.provenance import attach_provenance
    from hf_ambiguity.hub.card import make_card_info, read_card_info
    from hf_ambiguity.hub import export_to_hub_layout

    ds = attach_provenance(make_dataset(2), "synthetic", {"mode": "score", "prompt_hash": "abc", "n_annotators": 8})
    ds.save_to_disk(str(tmp_path / "saved"))
    from datasets import load_from_disk

    reloaded = load_from_disk(str(tmp_path / "saved"))
    assert read_provenance(reloaded)["synthetic"]["prompt_hash"] == "abc"  # survives save_to_disk
    card = add_provenance_to_card(make_card_info("iemocap", "iemocap-4"), reloaded)
    export_to_hub_layout(DatasetDict({"train": reloaded}), tmp_path / "hub", card_info=card, progress=False)
    blocks = dict(read_card_info(tmp_path / "hub").provenance)
    assert blocks["synthetic"]["prompt_hash"] == "abc" and blocks["synthetic"]["n_annotators"] == 8
    assert add_provenance_to_card(card, reloaded).provenance == card.provenance  # no duplicate block


def test_cli_reads_load_dataset_folders_and_reports_errors(tiny_model, tmp_path, capsys):
    from datasets import Audio, load_from_disk

    from hf_ambiguity.cli import main

    ds = make_dataset(3).cast_column("audio", Audio(decode=False))  # raw WAV bytes are read too
    (tmp_path / "pq").mkdir()
    ds.to_parquet(str(tmp_path / "pq" / "train.parquet"))
    args = ["annotate", str(tmp_path / "pq"), "--backend", "transformers", "--model", str(tiny_model),
            "--mode", "score", "-n", "8", "--no-progress", "--out", str(tmp_path / "out")]
    assert main(args) == 0
    out = load_from_disk(str(tmp_path / "out"))["train"]
    assert out["id"] == ds["id"] and len(out["synthetic_dist"][0]) == 4 and "combined_dist" in out.column_names
    np.testing.assert_allclose(np.array(out["combined_votes"]),
                               np.array(out["human_votes"]) + 8 * np.array(out["synthetic_dist"]))
    assert main(args[:2] + ["--split", "test"] + args[2:]) == 2
    assert "split(s) ['test'] not in the dataset" in capsys.readouterr().err
    assert main(["annotate", str(tmp_path / "nope"), *args[2:]]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_refuses_an_id_shared_by_two_splits(tiny_model, tmp_path, capsys):
    """Results are keyed by id: a second split reusing an id would silently get the first split's answers."""
    from datasets import DatasetDict

    from hf_ambiguity.cli import main

    DatasetDict({"train": make_dataset(3), "test": make_dataset(2, seed=1)}).save_to_disk(str(tmp_path / "ds"))
    args = ["annotate", str(tmp_path / "ds"), "--backend", "transformers", "--model", str(tiny_model),
            "--mode", "score", "--no-progress", "--out", str(tmp_path / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "split 'test' row 0: id 'utt0000' also occurs in split 'train'" in err
    assert not (tmp_path / "out.annotate-cache").exists()  # refused before anything was annotated
    assert main(args[:2] + ["--split", "train"] + args[2:]) == 0  # one split at a time is fine


def test_cli_expected_mode_with_the_reference_prompt_options(tiny_model, tmp_path, capsys):
    from datasets import load_from_disk

    from hf_ambiguity.alm.prompts import PromptProtocol, reference_temperature
    from hf_ambiguity.cli import main

    make_dataset(3).save_to_disk(str(tmp_path / "ds"))
    args = ["annotate", str(tmp_path / "ds"), "--backend", "transformers", "--model", str(tiny_model),
            "--mode", "expected", "-n", "3", "--prompt-structure", "reference", "--temperatures", "reference",
            "--no-progress", "--out", str(tmp_path / "out")]
    assert main(args) == 0
    out = load_from_disk(str(tmp_path / "out"))["train"]
    prov = read_provenance(out)["synthetic"]
    assert prov["mode"] == "expected" and prov["prompt_hash"] == PromptProtocol.reference_structure().hash()
    assert prov["temperatures"] == [reference_temperature(i) for i in range(3)]
    assert prov["backend"]["expected_mode_passes"] == [
        "one full pass per distinct annotator prompt (annotator-specific text comes before the audio, so no prefix "
        "containing the audio is shared)"]
    np.testing.assert_allclose(np.array(out["combined_votes"]),
                               np.array(out["human_votes"]) + 3 * np.array(out["synthetic_dist"]))
    bad = tmp_path / "prompt.yaml"
    bad.write_text("template: '{classes}'\n")
    assert main(args[:-2] + ["--prompt-file", str(bad), "--out", str(tmp_path / "out2")]) == 2
    assert "must place the annotator's focus sentence with {focus}" in capsys.readouterr().err


def test_a_cache_of_one_precision_does_not_resume_another(tiny_model, tmp_path):
    """The precision changes the answers, so a float32 run's cached results are not reused by a bfloat16 run with
    the same cache folder (the device is not part of the key: it only rounds differently)."""
    from hf_ambiguity.alm.local import TransformersAnnotator

    ds = make_dataset(3)
    fp32 = TransformersAnnotator(str(tiny_model), dtype="float32")
    bf16 = TransformersAnnotator(str(tiny_model), dtype="bfloat16")
    _, first = annotate(ds, fp32, mode="score", cache_dir=str(tmp_path), progress=False)
    _, other = annotate(ds, bf16, mode="score", cache_dir=str(tmp_path), progress=False)
    _, again = annotate(ds, fp32, mode="score", cache_dir=str(tmp_path), progress=False)
    assert first.n_new_results == other.n_new_results == 3 and other.n_cached_results == 0
    assert again.n_cached_results == 3 and again.n_new_results == 0
