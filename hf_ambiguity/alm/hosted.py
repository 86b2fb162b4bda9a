"""Hosted backends: any OpenAI-compatible chat endpoint with audio input, and Gemini through ``google-genai``.

Both run one call per simulated annotator (the reference protocol), concurrently up to ``max_concurrency`` threads,
paced by ``requests_per_second`` (shared by all threads), each with a ``timeout``. HTTP 429 and 5xx answers, timeouts,
connection errors and malformed bodies are retried with exponential backoff (``backoff * 2**attempt`` seconds plus
jitter, capped at ``max_backoff``; a ``Retry-After`` header is honoured); after ``max_retries`` retries, or at once on
another 4xx (a wrong key or model name), :class:`~hf_ambiguity.alm.base.AnnotationBackendError` stops the run — which
then resumes where it stopped. API keys come from the environment and are never logged or put in provenance (a
server that echoes the key in an error body gets it masked in the message). A well-formed answer without text — a
refusal (``content: null``) or a Gemini safety block — is a final answer that names no class: it is stored as ``""``
and counted in ``<name>_invalid``, not retried (retrying a deterministic block would only stop the run).

OpenAI-compatible request (also a local vLLM server): ``POST {base_url}/chat/completions`` with a system message and a
user message whose content is ``[{"type": "input_audio", "input_audio": {"data": <base64 wav>, "format": "wav"}},
{"type": "text", "text": <prompt>}]``; the answer is ``choices[0].message.content``.
"""

from __future__ import annotations

import base64
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

from hf_ambiguity.alm.base import AnnotationBackendError, Item, Request
from hf_ambiguity.alm.prompts import SYSTEM_INSTRUCTION, user_prompt
from hf_ambiguity.audio import encode_wav

__all__ = ["RetryPolicy", "RateLimiter", "OpenAICompatibleAnnotator", "GeminiAnnotator", "TransientError"]

T = TypeVar("T")


class TransientError(Exception):
    """A failure worth retrying (429, 5xx, timeout, connection error, malformed body)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """Retries with exponential backoff: wait ``min(max_backoff, backoff * 2**attempt) * U(0.5, 1)``."""

    max_retries: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0

    def call(self, fn: Callable[[], T], what: str, sleep: Callable[[float], None] = time.sleep) -> T:
        last: TransientError | None = None
        for attempt in range(self.max_retries + 1):
            try:
                return fn()
            except TransientError as err:
                last = err
                if attempt == self.max_retries:
                    break
                wait = min(self.max_backoff, self.backoff * 2**attempt) * random.uniform(0.5, 1.0)
                if err.retry_after is not None:
                    wait = max(wait, min(err.retry_after, self.max_backoff))
                sleep(wait)
        raise AnnotationBackendError(f"{what}: giving up after {self.max_retries} retries; last error: {last}")


class RateLimiter:
    """At most ``rate`` call starts per second across threads (``None``: unlimited)."""

    def __init__(self, rate: float | None):
        if rate is not None and rate <= 0:
            raise ValueError(f"requests_per_second must be > 0 or None, got {rate}")
        self.interval = 0.0 if rate is None else 1.0 / rate
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


def _mask(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced by ``***`` (error bodies may echo the key)."""
    return text.replace(secret, "***") if secret else text


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class _HostedBase:
    supports_score = False

    def __init__(self, *, max_concurrency: int, requests_per_second: float | None, timeout: float,
                 retry: RetryPolicy | None):
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.max_concurrency = int(max_concurrency)
        self.timeout = float(timeout)
        self.retry = retry or RetryPolicy()
        self.limiter = RateLimiter(requests_per_second)
        self.requests_per_second = requests_per_second

    def _one(self, request: Request) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def annotate_batch(self, requests: Sequence[Request]) -> list[str]:
        def run(req: Request) -> str:
            what = f"{self.identity} utterance {req.item.id!r} annotator {req.spec.index}"

            def attempt() -> str:
                self.limiter.wait()
                return self._one(req)

            return self.retry.call(attempt, what)

        with ThreadPoolExecutor(max_workers=max(1, min(self.max_concurrency, len(requests)))) as pool:
            futures = [pool.submit(run, r) for r in requests]
            done: dict[int, str] = {}
            first_error: AnnotationBackendError | None = None
            for i, fut in enumerate(futures):
                try:
                    done[i] = fut.result()
                except AnnotationBackendError as err:
                    first_error = first_error or err
        if first_error is not None:
            raise AnnotationBackendError(str(first_error), partial=done)
        return [done[i] for i in range(len(requests))]

    def score_batch(self, items: Sequence[Item]) -> np.ndarray:
        raise NotImplementedError(
            f"{type(self).__name__} cannot score: hosted APIs give no class log-probabilities over audio prompts; "
            "use mode='sample' or a local transformers model"
        )

    def _limits(self) -> dict[str, Any]:
        return {"max_concurrency": self.max_concurrency, "requests_per_second": self.requests_per_second,
                "timeout_s": self.timeout, "max_retries": self.retry.max_retries}


class OpenAICompatibleAnnotator(_HostedBase):
    """Simulated annotators through an OpenAI-compatible ``/chat/completions`` endpoint (see the module docstring).

    ``api_key_env`` names the environment variable holding the key (default ``OPENAI_API_KEY``; no key is sent when
    it is unset, as a local vLLM server needs none).
    """

    def __init__(self, model: str, *, base_url: str = "https://api.openai.com/v1", api_key_env: str = "OPENAI_API_KEY",
                 max_tokens: int = 16, max_concurrency: int = 8, requests_per_second: float | None = None,
                 timeout: float = 60.0, retry: RetryPolicy | None = None):
        super().__init__(max_concurrency=max_concurrency, requests_per_second=requests_per_second, timeout=timeout,
                         retry=retry)
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.max_tokens = int(max_tokens)
        self.identity = f"openai:{self.base_url}:{model};max_tokens={self.max_tokens}"

    def provenance(self) -> dict[str, Any]:
        return {"backend": "openai-compatible", "endpoint": self.base_url, "model": self.model,
                "max_tokens": self.max_tokens, **self._limits()}

    def _payload(self, request: Request) -> dict[str, Any]:
        it = request.item
        audio_b64 = base64.b64encode(encode_wav(it.audio, it.sampling_rate)).decode("ascii")
        return {
            "model": self.model,
            "temperature": request.spec.temperature,
            "max_tokens": self.max_tokens,
            "messages": [
                {"role": "system", "content": SYSTEM_INSTRUCTION},
                {"role": "user", "content": [
                    {"type": "input_audio", "input_audio": {"data": audio_b64, "format": "wav"}},
                    {"type": "text", "text": user_prompt(it.transcript, it.speaker, it.class_names,
                                                         request.spec.focus)},
                ]},
            ],
        }

    def _one(self, request: Request) -> str:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(f"{self.base_url}/chat/completions", method="POST", headers=headers,
                                     data=json.dumps(self._payload(request)).encode())
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as err:
            detail = _mask(err.read()[:2000].decode("utf-8", "replace"), key)[:200]
            if err.code == 429 or err.code >= 500:
                raise TransientError(f"HTTP {err.code}: {detail}", _retry_after(err.headers)) from None
            raise AnnotationBackendError(
                f"{self.base_url}/chat/completions answered HTTP {err.code} ({detail}); check the model name, the "
                f"endpoint and the key in ${self.api_key_env}"
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
            raise TransientError(f"connection failed or timed out: {_mask(str(err), key)}") from None
        malformed = f"malformed response body: {_mask(body[:2000].decode('utf-8', 'replace'), key)[:200]!r}"
        try:
            content = json.loads(body)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise TransientError(malformed) from None
        if content is None:  # a refusal / content filter: an answer that names no class
            return ""
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            raise TransientError(malformed)
        return content.strip()


class GeminiAnnotator(_HostedBase):
    """Simulated annotators played by Gemini (the reference setup: ``gemini-2.5-pro``) via ``google-genai``.

    The key comes from ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``. ``base_url`` overrides the API host (tests, proxies).
    """

    def __init__(self, model: str = "gemini-2.5-pro", *, base_url: str | None = None, max_concurrency: int = 8,
                 requests_per_second: float | None = None, timeout: float = 120.0, retry: RetryPolicy | None = None):
        super().__init__(max_concurrency=max_concurrency, requests_per_second=requests_per_second, timeout=timeout,
                         retry=retry)
        try:
            from google import genai
            from google.genai import types
        except ImportError:
            raise ImportError(
                "the Gemini backend needs the google-genai package: pip install 'hf-ambiguity[hosted]' "
                "(or pip install google-genai)"
            ) from None
        key = os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")
        if not key:
            raise ValueError("the Gemini backend needs an API key in the environment: set GEMINI_API_KEY "
                             "(or GOOGLE_API_KEY)")
        self._types = types
        self._key = key
        http = types.HttpOptions(base_url=base_url, timeout=int(self.timeout * 1000),
                                 retry_options=types.HttpRetryOptions(attempts=1))
        self._client = genai.Client(api_key=key, http_options=http)
        self.model = model
        self.base_url = base_url
        self.identity = f"gemini:{model}"

    def provenance(self) -> dict[str, Any]:
        return {"backend": "gemini", "model": self.model, "endpoint": self.base_url or "default", **self._limits()}

    def _one(self, request: Request) -> str:
        from google.genai import errors

        it, t = request.item, self._types
        contents = [
            t.Part.from_bytes(data=encode_wav(it.audio, it.sampling_rate), mime_type="audio/wav"),
            user_prompt(it.transcript, it.speaker, it.class_names, request.spec.focus),
        ]
        config = t.GenerateContentConfig(system_instruction=SYSTEM_INSTRUCTION, temperature=request.spec.temperature)
        try:
            resp = self._client.models.generate_content(model=self.model, contents=contents, config=config)
        except errors.APIError as err:
            code = int(getattr(err, "code", 0) or 0)
            detail = _mask(str(err), self._key)[:200]
            if code == 429 or code >= 500:
                raise TransientError(f"Gemini API error {code}: {detail}") from None
            raise AnnotationBackendError(f"Gemini API error {code}: {detail}; check the model name and key") \
                from None
        except (ValueError, KeyError, TypeError) as err:
            raise TransientError(f"malformed Gemini response: {_mask(str(err), self._key)[:200]}") from None
        except Exception as err:  # httpx transport errors (timeouts, connection refused)
            if type(err).__module__.startswith(("httpx", "httpcore", "httpx2")):
                raise TransientError(f"Gemini connection failed or timed out: {_mask(str(err), self._key)}") \
                    from None
            raise
        text = getattr(resp, "text", None)
        if isinstance(text, str):
            return text.strip()
        if _gemini_blocked(resp):  # a safety block: an answer that names no class
            return ""
        raise TransientError("malformed Gemini response: no text part")


def _gemini_blocked(resp: Any) -> bool:
    """Whether a Gemini response without text was blocked (prompt feedback, or a candidate that ended for a reason
    other than a normal stop) rather than malformed."""
    feedback = getattr(resp, "prompt_feedback", None)
    if feedback is not None and getattr(feedback, "block_reason", None):
        return True
    reasons = [getattr(c, "finish_reason", None) for c in (getattr(resp, "candidates", None) or [])]
    return any(r is not None and str(getattr(r, "value", r)) not in ("STOP", "FINISH_REASON_UNSPECIFIED")
               for r in reasons)
