"""Hosted backends against fake servers on 127.0.0.1: payloads, retries (429/5xx/malformed), timeouts, limits.

The OpenAI-compatible backend goes through the official ``openai`` client (the ``hosted`` extra): its tests are
skipped where that client is not installed."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from helpers import CLASSES, make_dataset
from hf_ambiguity.alm.base import AnnotationBackendError, Item, Request
from hf_ambiguity.alm.hosted import GeminiAnnotator, OpenAICompatibleAnnotator, RetryPolicy
from hf_ambiguity.alm.prompts import FOCI, SYSTEM_INSTRUCTION, annotator_specs

FAST = RetryPolicy(max_retries=5, backoff=0.01, max_backoff=0.05)
needs_openai = pytest.mark.skipif(importlib.util.find_spec("openai") is None,
                                  reason="the openai client is not installed (pip install 'hf-ambiguity[hosted]')")


def _ok(text):
    return 200, {}, json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()


class FakeServer:
    """Scripted HTTP server: ``script`` responses first, then ``default(payload)``; records every request (header
    names in lower case). Error answers carry ``retry-after-ms: 5`` (unless scripted otherwise), which the openai
    client honours, so retries are fast."""

    def __init__(self, default=None, delay=0.0):
        self.script: list[tuple[int, dict, bytes]] = []
        self.default = default or (lambda payload: _ok("happy"))
        self.delay = delay
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with server.lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    server.requests.append({"path": self.path, "body": body,
                                            "headers": {k.lower(): v for k, v in self.headers.items()}})
                    scripted = server.script.pop(0) if server.script else None
                try:
                    time.sleep(server.delay)
                    status, headers, out = scripted or server.default(json.loads(body))
                    self.send_response(status)
                    if status >= 400 and not any(k.lower().startswith("retry-after") for k in headers):
                        headers = {**headers, "retry-after-ms": "5"}
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _requests(n_items=1, n_annot=1):
    rng = np.random.default_rng(0)
    items = [Item(f"u{i}", (0.1 * rng.standard_normal(4000)).astype(np.float32), 16000, "well ok", "spk1",
                  tuple(CLASSES)) for i in range(n_items)]
    return [Request(it, s) for it in items for s in annotator_specs(n_annot)]


@needs_openai
def test_openai_payload_audio_and_key(monkeypatch):
    import soundfile as sf

    monkeypatch.setenv("FAKE_KEY_VAR", "sekret-123")
    with FakeServer() as srv:
        annot = OpenAICompatibleAnnotator("audio-model", base_url=srv.url + "/v1", api_key_env="FAKE_KEY_VAR",
                                          retry=FAST)
        reqs = _requests(1, 3)
        assert annot.annotate_batch(reqs) == ["happy"] * 3
    assert {r["path"] for r in srv.requests} == {"/v1/chat/completions"}
    assert all(r["headers"]["authorization"] == "Bearer sekret-123" for r in srv.requests)
    bodies = sorted((json.loads(r["body"]) for r in srv.requests), key=lambda b: b["temperature"])
    expected = sorted(reqs, key=lambda r: r.spec.temperature)
    for body, req in zip(bodies, expected):
        assert body["model"] == "audio-model" and body["temperature"] == req.spec.temperature
        assert body["max_completion_tokens"] == 16 and "max_tokens" not in body
        assert body["messages"][0] == {"role": "system", "content": SYSTEM_INSTRUCTION}
        audio_part, text_part = body["messages"][1]["content"]
        assert audio_part["type"] == "input_audio" and audio_part["input_audio"]["format"] == "wav"
        wav, sr = sf.read(io.BytesIO(base64.b64decode(audio_part["input_audio"]["data"])))
        assert sr == 16000 and wav.shape == (4000,)
        assert req.spec.focus in text_part["text"] and "Speaker: spk1" in text_part["text"]
    assert "sekret" not in json.dumps(annot.provenance())


@needs_openai
def test_openai_retries_429_5xx_and_malformed_bodies():
    with FakeServer() as srv:
        srv.script = [
            (429, {"Retry-After": "0"}, b'{"error": "slow down"}'),
            (500, {}, b"internal"),
            (200, {}, b"this is not json"),
            (200, {}, b'{"choices": []}'),
            (502, {}, b"bad gateway"),
        ]
        annot = OpenAICompatibleAnnotator("m", base_url=srv.url, retry=FAST)
        assert annot.annotate_batch(_requests()) == ["happy"]
    assert len(srv.requests) == 6


@needs_openai
def test_openai_gives_up_with_a_clear_error():
    with FakeServer(default=lambda p: (503, {}, b"overloaded")) as srv:
        annot = OpenAICompatibleAnnotator("m", base_url=srv.url, retry=RetryPolicy(2, 0.01, 0.02))
        with pytest.raises(AnnotationBackendError, match=r"utterance 'u0' annotator 0: .* still answered HTTP 503 "
                                                         r"after 2 retries.*rerun later to resume"):
            annot.annotate_batch(_requests())
    assert len(srv.requests) == 3
    with FakeServer() as srv:
        url = srv.url
    annot = OpenAICompatibleAnnotator("m", base_url=url + "/v1?api-key=sekret", retry=RetryPolicy(1, 0.01, 0.02))
    with pytest.raises(AnnotationBackendError, match=r"cannot reach http://127.0.0.1:\d+/v1/chat/completions .*"
                                                     r"check that the server is running") as info:
        annot.annotate_batch(_requests())
    assert "\n" not in str(info.value) and "sekret" not in str(info.value)
    assert "sekret" not in annot.identity and "sekret" not in json.dumps(annot.provenance())


@needs_openai
def test_openai_client_errors_are_not_retried():
    with FakeServer(default=lambda p: (401, {}, b'{"error": "bad key"}')) as srv:
        annot = OpenAICompatibleAnnotator("m", base_url=srv.url, api_key_env="NO_SUCH_VAR_XYZ", retry=FAST)
        with pytest.raises(AnnotationBackendError, match=r"rejected the key.*set \$NO_SUCH_VAR_XYZ"):
            annot.annotate_batch(_requests())
    # no key in the environment: the placeholder a local vLLM server accepts, never another variable's key
    assert len(srv.requests) == 1 and srv.requests[0]["headers"]["authorization"] == "Bearer EMPTY"
    with FakeServer(default=lambda p: (404, {}, b'{"error": "no such model"}')) as srv:
        annot = OpenAICompatibleAnnotator("nope", base_url=srv.url, retry=FAST)
        with pytest.raises(AnnotationBackendError, match=r"not found.*check the model name \('nope'\)"):
            annot.annotate_batch(_requests())
    assert len(srv.requests) == 1


@needs_openai
def test_openai_refusal_is_an_invalid_answer_not_retried():
    refusal = json.dumps({"choices": [{"message": {"role": "assistant", "content": None,
                                                   "refusal": "I cannot judge whether this is angry"}}]}).encode()
    with FakeServer(default=lambda p: (200, {}, refusal)) as srv:
        annot = OpenAICompatibleAnnotator("m", base_url=srv.url, retry=FAST)
        assert annot.annotate_batch(_requests(1, 2)) == ["", ""]
    assert len(srv.requests) == 2  # one call each: a refusal is a final answer that names no class


@needs_openai
def test_a_key_echoed_by_the_server_is_masked_in_errors(monkeypatch):
    monkeypatch.setenv("ECHO_KEY_VAR", "sk-very-secret-77")

    def echo(status):
        return lambda p: (status, {}, json.dumps({"error": "bad request",
                                                  "auth": srv.requests[-1]["headers"]["authorization"]}).encode())

    for status, match in ((401, "rejected the key"), (500, "HTTP 500 after 1 retries"), (200, "malformed")):
        with FakeServer() as srv:
            srv.default = echo(status)
            annot = OpenAICompatibleAnnotator("m", base_url=srv.url, api_key_env="ECHO_KEY_VAR",
                                              retry=RetryPolicy(1, 0.01, 0.01))
            with pytest.raises(AnnotationBackendError, match=match) as info:
                annot.annotate_batch(_requests())
        assert "sk-very-secret-77" in srv.requests[0]["headers"]["authorization"]
        assert "sk-very-secret-77" not in str(info.value) and "Bearer ***" in str(info.value), status


@needs_openai
def test_openai_timeout_is_retried_then_reported():
    with FakeServer(delay=0.6) as srv:
        annot = OpenAICompatibleAnnotator("m", base_url=srv.url, timeout=0.15, retry=RetryPolicy(1, 0.01, 0.01))
        with pytest.raises(AnnotationBackendError, match="timed out after 0.15 s.*raise the timeout"):
            annot.annotate_batch(_requests())
        assert len(srv.requests) == 2


@needs_openai
def test_concurrency_cap_and_rate_limit():
    with FakeServer(delay=0.08) as srv:
        annot = OpenAICompatibleAnnotator("m", base_url=srv.url, max_concurrency=3, retry=FAST)
        assert len(annot.annotate_batch(_requests(4, 3))) == 12
        assert srv.max_in_flight == 3
    with FakeServer() as srv:
        annot = OpenAICompatibleAnnotator("m", base_url=srv.url, max_concurrency=4, requests_per_second=20,
                                          retry=FAST)
        start = time.monotonic()
        annot.annotate_batch(_requests(2, 3))
        assert time.monotonic() - start >= 5 / 20 - 0.01  # 6 starts, 1/20 s apart
    with pytest.raises(ValueError, match="max_concurrency must be >= 1"):
        OpenAICompatibleAnnotator("m", max_concurrency=0)


@needs_openai
def test_hosted_annotation_of_a_dataset_counts_invalid_answers(tmp_path):
    from hf_ambiguity.annotate import annotate
    from hf_ambiguity.provenance import read_provenance

    replies = {FOCI[0]: "Happy.", FOCI[1]: "I would say sad", FOCI[2]: "no idea", FOCI[3]: "ANGRY", FOCI[4]: ""}

    def answer(payload):
        text = payload["messages"][1]["content"][1]["text"]
        return _ok(next(v for k, v in replies.items() if k in text))

    ds = make_dataset(3, seconds=0.3)
    with FakeServer(default=answer) as srv:
        annot = OpenAICompatibleAnnotator("m", base_url=srv.url, retry=FAST)
        out, report = annotate(ds, annot, n_annotators=6, batch_size=5, cache_dir=str(tmp_path), progress=False)
    assert len(srv.requests) == 18
    # annotators 0..5 use foci 0,1,2,3,4,0
    assert out["synthetic_labels"] == [["happy", "sad", "angry", "happy"]] * 3
    assert out["synthetic_raw"][0] == ["Happy.", "I would say sad", "no idea", "ANGRY", "", "Happy."]
    assert out["synthetic_invalid"] == [2, 2, 2] and report.n_invalid_answers == 6
    assert out["synthetic_votes"][0] == [0.0, 2.0, 1.0, 1.0]
    assert out["synthetic_dist"][0] == [0.0, 0.5, 0.25, 0.25]
    prov = read_provenance(out)["synthetic"]
    assert prov["backend"]["endpoint"] == srv.url and prov["mode"] == "sample" and prov["n_annotators"] == 6


# --------------------------------------------------------------------------------------------------- Gemini
def _gemini_ok(text):
    return 200, {}, json.dumps({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}}]}).encode()


def test_gemini_needs_a_key(monkeypatch):
    pytest.importorskip("google.genai")
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(ValueError, match="GEMINI_API_KEY"):
        GeminiAnnotator()


def test_gemini_request_and_retries(monkeypatch):
    pytest.importorskip("google.genai")
    monkeypatch.setenv("GEMINI_API_KEY", "g-key-999")
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with FakeServer(default=lambda p: _gemini_ok("Neutral")) as srv:
        srv.script = [(429, {}, b'{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}'),
                      (500, {}, b'{"error": {"code": 500, "message": "oops", "status": "INTERNAL"}}')]
        annot = GeminiAnnotator("gemini-2.5-pro", base_url=srv.url, retry=FAST)
        reqs = _requests(1, 2)
        assert annot.annotate_batch(reqs) == ["Neutral", "Neutral"]
    assert len(srv.requests) == 4
    last = srv.requests[-1]
    assert "gemini-2.5-pro:generateContent" in last["path"] and last["headers"].get("x-goog-api-key") == "g-key-999"
    body = json.loads(last["body"])
    assert body["systemInstruction"]["parts"][0]["text"] == SYSTEM_INSTRUCTION
    parts = body["contents"][0]["parts"]
    inline = parts[0].get("inlineData") or parts[0]["inline_data"]
    assert (inline.get("mimeType") or inline["mime_type"]) == "audio/wav" and "Possible emotions" in parts[1]["text"]
    assert body["generationConfig"]["temperature"] in {r.spec.temperature for r in reqs}
    assert "g-key" not in json.dumps(annot.provenance())


def test_gemini_safety_block_is_an_invalid_answer_not_retried(monkeypatch):
    pytest.importorskip("google.genai")
    monkeypatch.setenv("GEMINI_API_KEY", "g-key-999")
    blocked = [json.dumps({"promptFeedback": {"blockReason": "SAFETY"}}).encode(),
               json.dumps({"candidates": [{"finishReason": "SAFETY"}]}).encode()]
    with FakeServer(default=lambda p: _gemini_ok("Sad")) as srv:
        srv.script = [(200, {}, b) for b in blocked] + [(200, {}, b'{"candidates": []}')]
        annot = GeminiAnnotator("gemini-2.5-pro", base_url=srv.url, retry=FAST)
        assert [annot.annotate_batch(_requests())[0] for _ in blocked] == ["", ""]
        assert len(srv.requests) == 2  # blocked: one call each
        assert annot.annotate_batch(_requests()) == ["Sad"]  # no candidates at all: malformed, retried
        assert len(srv.requests) == 4


@needs_openai
def test_a_failed_batch_keeps_the_answers_that_arrived(tmp_path):
    from hf_ambiguity.annotate import annotate

    def answer(payload):  # the annotator with the 3rd focus always gets a server error
        text = payload["messages"][1]["content"][1]["text"]
        return (500, {}, b"down") if FOCI[2] in text else _ok("sad")

    ds = make_dataset(2, seconds=0.3)
    with FakeServer(default=answer) as srv:
        annot = OpenAICompatibleAnnotator("m", base_url=srv.url, retry=RetryPolicy(1, 0.01, 0.01))
        with pytest.raises(AnnotationBackendError, match="annotator 2: .*HTTP 500 after 1 retries"):
            annotate(ds, annot, n_annotators=4, batch_size=8, cache_dir=str(tmp_path), progress=False)
        srv.default = lambda payload: _ok("angry")
        out, report = annotate(ds, annot, n_annotators=4, batch_size=8, cache_dir=str(tmp_path), progress=False)
    assert report.n_cached_results == 6 and report.n_new_results == 2  # only the failed requests were asked again
    assert out["synthetic_labels"] == [["sad", "sad", "angry", "sad"]] * 2


@needs_openai
def test_cli_with_an_openai_compatible_endpoint(tmp_path, monkeypatch, capfd):
    from datasets import load_from_disk

    from hf_ambiguity.cli import main

    monkeypatch.setenv("MY_ENDPOINT_KEY", "k-42")
    make_dataset(3, seconds=0.3).save_to_disk(str(tmp_path / "ds"))
    with FakeServer(default=lambda p: _ok("Neutral")) as srv:
        code = main(["annotate", str(tmp_path / "ds"), "--backend", "openai", "--model", "served-alm", "-n", "2",
                     "--base-url", srv.url + "/v1", "--api-key-env", "MY_ENDPOINT_KEY", "--concurrency", "2",
                     "--no-progress", "--out", str(tmp_path / "out"), "--name", "vllm"])
    assert code == 0 and len(srv.requests) == 6
    assert all(r["headers"]["authorization"] == "Bearer k-42" for r in srv.requests)
    out = load_from_disk(str(tmp_path / "out"))["train"]
    assert out["vllm_labels"] == [["neutral", "neutral"]] * 3
    np.testing.assert_array_equal(np.array(out["combined_votes"]),
                                  np.array(out["human_votes"]) + np.array([[2.0, 0, 0, 0]] * 3))
    # the key is never printed, stored in the dataset (provenance) or in the resume cache
    printed = capfd.readouterr()
    assert "k-42" not in printed.out + printed.err and "k-42" not in (out.info.description or "")
    cached = [f.read_text() for f in (tmp_path / "out.annotate-cache").rglob("*") if f.is_file()]
    assert cached and not any("k-42" in text for text in cached)
