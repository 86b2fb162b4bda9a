"""``score`` and ``expected`` modes through the OpenAI-compatible backend against a fake vLLM server.

The fake server renders chat messages with a ChatML template, tokenizes characters (plus special tokens), computes
deterministic logits from the audio and every token so far, and answers in vLLM's format: ``prompt_token_ids``
(``return_token_ids``) and ``prompt_logprobs`` (``{token id: {logprob, rank, decoded_token}}`` per prompt token,
the prompt token itself always included, the top ``k`` ranked 1..k), refusing ``k`` above its ``--max-logprobs``. The
tests compare the backend's class probabilities with the fake model's exact ones (full softmax at each temperature).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from helpers import CLASSES, make_dataset
from hf_ambiguity.alm.base import AnnotationBackendError, Item
from hf_ambiguity.alm.prompts import AnnotatorSpec, PromptProtocol, annotator_specs

pytestmark = pytest.mark.skipif(importlib.util.find_spec("openai") is None,
                                reason="the openai client is not installed (pip install 'hf-ambiguity[hosted]')")

SPECIALS = ("<|im_start|>", "<|im_end|>", "<|AUDIO|>")
CHARS = [chr(c) for c in range(32, 127)] + ["\n"]
VOCAB = list(SPECIALS) + CHARS
TOKEN = {t: i for i, t in enumerate(VOCAB)}

#: A short prompt keeps the fake server's answers small (it returns log-probabilities for every prompt token).
SHORT = PromptProtocol(system="Judge.", template="{transcript}|{classes}|{focus}", no_transcript="-")


def tokenize(text: str) -> list[int]:
    out, i = [], 0
    while i < len(text):
        special = next((s for s in SPECIALS if text.startswith(s, i)), None)
        if special:
            out.append(TOKEN[special])
            i += len(special)
        else:
            out.append(TOKEN.get(text[i], TOKEN["?"]))
            i += 1
    return out


def render(messages, *, add_generation_prompt: bool) -> tuple[str, bytes]:
    """ChatML text (the audio part as one ``<|AUDIO|>`` token) and the audio bytes."""
    text, audio = "", b""
    for m in messages:
        content = m["content"]
        if isinstance(content, list):
            parts = []
            for p in content:
                if p["type"] == "input_audio":
                    audio += base64.b64decode(p["input_audio"]["data"])
                    parts.append("<|AUDIO|>\n")
                else:
                    parts.append(p["text"])
            content = "".join(parts)
        text += f"<|im_start|>{m['role']}\n{content}<|im_end|>\n"
    if add_generation_prompt:
        text += "<|im_start|>assistant\n"
    return text, audio


def logits(audio: bytes, ids: list[int]) -> np.ndarray:
    """``(len(ids), V)``: row p = the fake model's logits for the token after ``ids[:p + 1]``; labels' letters and
    the end-of-turn token get a boost so that label answers are likely."""
    boost = np.zeros(len(VOCAB))
    for ch in "AHNSahnsde":
        boost[TOKEN[ch]] = 2.0
    boost[TOKEN["<|im_end|>"]] = 2.5
    h = hashlib.sha256(audio).digest()
    out = np.empty((len(ids), len(VOCAB)))
    for p, t in enumerate(ids):
        h = hashlib.sha256(h + t.to_bytes(4, "little")).digest()
        out[p] = 1.5 * np.random.default_rng(int.from_bytes(h[:8], "little")).standard_normal(len(VOCAB)) + boost
    return out


def log_softmax(z: np.ndarray, t: float = 1.0) -> np.ndarray:
    z = z / t
    return z - np.logaddexp.reduce(z, axis=-1, keepdims=True)


class FakeVLLM:
    """A vLLM-like OpenAI-compatible server (see the module docstring)."""

    def __init__(self, *, max_logprobs: int = 20, prompt_logprobs: bool = True):
        self.max_logprobs = max_logprobs
        self.prompt_logprobs = prompt_logprobs
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.bodies.append(body)
                status, out = server.answer(body)
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, body: dict) -> tuple[int, dict]:
        k = body.get("prompt_logprobs")
        if k is not None and k > self.max_logprobs:
            return 400, {"object": "error", "type": "BadRequestError", "code": 400,
                         "message": f"Requested prompt logprobs of {k}, which is greater than max allowed: "
                                    f"{self.max_logprobs}"}
        text, audio = render(body["messages"], add_generation_prompt=body.get("add_generation_prompt", True))
        ids = tokenize(text)
        out = {"id": "cmpl-1", "object": "chat.completion", "model": body["model"],
               "choices": [{"index": 0, "message": {"role": "assistant", "content": "Neutral"},
                            "finish_reason": "stop"}],
               "usage": {"prompt_tokens": len(ids), "completion_tokens": 1, "total_tokens": len(ids) + 1}}
        if not self.prompt_logprobs:
            return 200, out
        if body.get("return_token_ids"):
            out["prompt_token_ids"] = ids
        if k is not None:
            lp = log_softmax(logits(audio, ids[:-1]))
            entries = [None]
            for p in range(1, len(ids)):
                row = lp[p - 1]
                order = np.argsort(-row, kind="stable")
                ranks = np.empty(len(row), dtype=int)
                ranks[order] = np.arange(1, len(row) + 1)
                keep = list(order[:k]) + ([ids[p]] if ranks[ids[p]] > k else [])
                entries.append({str(int(t)): {"logprob": float(row[t]), "rank": int(ranks[t]),
                                              "decoded_token": VOCAB[t]} for t in keep})
            out["prompt_logprobs"] = entries
        return 200, out

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def exact_logprob(item: Item, focus, label_index: int, t: float, protocol=SHORT) -> float:
    """The fake model's exact log-probability that temperature-``t`` sampling answers the label (forms summed)."""
    from hf_ambiguity.alm.hosted import OpenAICompatibleAnnotator, label_forms

    msgs = OpenAICompatibleAnnotator.messages(item, focus, protocol)
    text, audio = render(msgs, add_generation_prompt=True)
    base = tokenize(text)
    label = protocol.labels_for(item.class_names, item.corpus).spellings[label_index]
    total = -np.inf
    for form in label_forms(label):
        ans = tokenize(form) + [TOKEN["<|im_end|>"]]
        full = base + ans
        lp = log_softmax(logits(audio, full[:-1]), t)
        total = np.logaddexp(total, sum(lp[len(base) - 1 + j, tok] for j, tok in enumerate(ans)))
    return float(total)


def _items(n=2):
    rng = np.random.default_rng(3)
    return [Item(f"u{i}", (0.1 * rng.standard_normal(1600)).astype(np.float32), 16000, "oh well" if i else "",
                 "spk", tuple(CLASSES), "iemocap") for i in range(n)]


def _annotator(url, **kw):
    from hf_ambiguity.alm.hosted import OpenAICompatibleAnnotator, RetryPolicy

    return OpenAICompatibleAnnotator("Qwen/Qwen2-Audio-7B-Instruct", base_url=url,
                                     retry=RetryPolicy(2, 0.01, 0.02), **kw)


def test_score_mode_is_exact_and_uses_vllm_prompt_logprobs():
    items = _items()
    with FakeVLLM() as srv:
        got = _annotator(srv.url, top_logprobs=3).score_batch(items, SHORT)
    want = np.array([[exact_logprob(it, None, c, 1.0) for c in range(4)] for it in items])
    np.testing.assert_allclose(got, want, atol=1e-9)  # temperature 1 is exact even with k = 3
    finished = [b for b in srv.bodies if b.get("add_generation_prompt") is False]
    assert finished and all(b["prompt_logprobs"] == 3 and b["return_token_ids"] and b["max_completion_tokens"] == 1
                            and b["messages"][-1]["role"] == "assistant" for b in finished)
    assert {b["messages"][-1]["content"] for b in finished} == {f(c) for c in CLASSES
                                                                for f in (str.lower, str.capitalize)}


@pytest.mark.parametrize("k, atol", [(len(VOCAB), 1e-9), (8, None)], ids=["full-vocabulary", "top-8"])
def test_expected_mode_matches_the_exact_temperature_probabilities(k, atol):
    items = _items()
    specs = [AnnotatorSpec(0, 0, "Listen closely.", 0.35), AnnotatorSpec(1, 1, "Read closely.", 0.8),
             AnnotatorSpec(2, 0, "Listen closely.", 1.0)]
    with FakeVLLM(max_logprobs=200) as srv:
        annot = _annotator(srv.url, top_logprobs=k)
        got = annot.expected_batch(items, specs, SHORT)
    want = np.array([[[exact_logprob(it, s.focus, c, s.temperature) for c in range(4)] for s in specs]
                     for it in items])
    bound = annot.provenance().get("max_log_error", 0.0)
    if atol is not None:
        assert bound == 0.0
        np.testing.assert_allclose(got, want, atol=atol)
    else:  # the truncated tail: within the recorded bound per token (answers have <= 8 tokens + end of turn);
        # the fake model is far less confident than a real one, so its bound is wide
        assert bound > 0 and np.abs(got - want).max() <= 9 * bound + 1e-12
        np.testing.assert_allclose(got[:, 2], want[:, 2], atol=1e-9)  # temperature 1 stays exact
    # two distinct prompts per utterance (annotators 0 and 2 share a focus): 1 open + 8 finished requests each
    assert len(srv.bodies) == len(items) * 2 * (1 + 8)


def test_expected_mode_of_a_dataset_through_the_engine(tmp_path):
    from scipy.special import softmax

    from hf_ambiguity.annotate import annotate
    from hf_ambiguity.provenance import read_provenance

    ds = make_dataset(2, seconds=0.1)
    with FakeVLLM(max_logprobs=200) as srv:
        out, report = annotate(ds, _annotator(srv.url, top_logprobs=len(VOCAB)), mode="expected", n_annotators=2,
                               cache_dir=str(tmp_path), progress=False, protocol=SHORT)
    specs = annotator_specs(2)
    from hf_ambiguity.annotate.engine import _items as engine_items

    items = engine_items(ds, [0, 1], tuple(CLASSES))
    want = np.array([[[exact_logprob(it, s.focus, c, s.temperature) for c in range(4)] for s in specs]
                     for it in items])
    np.testing.assert_allclose(np.array(out["synthetic_annotator_dists"]), softmax(want, axis=-1), atol=1e-9)
    np.testing.assert_allclose(np.array(out["synthetic_dist"]), softmax(want, axis=-1).mean(axis=1), atol=1e-9)
    prov = read_provenance(out)["synthetic"]
    assert prov["mode"] == "expected" and prov["backend"]["endpoint"] == srv.url
    assert report.n_new_results == 4


def test_servers_without_prompt_logprobs_and_bad_settings_get_one_clear_line():
    items = _items(1)
    with FakeVLLM(prompt_logprobs=False) as srv:
        with pytest.raises(AnnotationBackendError, match="need a vLLM server.*use mode 'sample'"):
            _annotator(srv.url).score_batch(items, SHORT)
    with FakeVLLM(max_logprobs=20) as srv:
        with pytest.raises(AnnotationBackendError, match=r"HTTP 400 .*greater than max allowed: 20"):
            _annotator(srv.url, top_logprobs=50).score_batch(items, SHORT)
        with pytest.raises(ValueError, match="temperatures above 1"):
            _annotator(srv.url).expected_batch(items, [AnnotatorSpec(0, 0, "x", 1.3)])


def test_a_failed_batch_keeps_the_utterances_that_were_scored(tmp_path):
    """The server fails for one utterance: the others' scores are stored, and the rerun asks only for it."""
    from hf_ambiguity.alm.hosted import OpenAICompatibleAnnotator
    from hf_ambiguity.annotate import annotate
    from hf_ambiguity.annotate.engine import _items as engine_items

    ds = make_dataset(3, seconds=0.1)
    audio_of_row_1 = OpenAICompatibleAnnotator.messages(engine_items(ds, [1], tuple(CLASSES))[0], None, SHORT)[1][
        "content"][0]["input_audio"]["data"]
    with FakeVLLM() as srv:
        answer = srv.answer

        def failing(body):
            audio = body["messages"][1]["content"][0]["input_audio"]["data"]
            return (500, {"object": "error", "message": "down"}) if audio == audio_of_row_1 else answer(body)

        srv.answer = failing
        with pytest.raises(AnnotationBackendError, match="utterance 'utt0001'.*HTTP 500"):
            annotate(ds, _annotator(srv.url), mode="score", cache_dir=str(tmp_path), protocol=SHORT, progress=False)
        srv.answer = answer
        out, report = annotate(ds, _annotator(srv.url), mode="score", cache_dir=str(tmp_path), protocol=SHORT,
                               progress=False)
    assert report.n_cached_results == 2 and report.n_new_results == 1 and len(out) == 3
