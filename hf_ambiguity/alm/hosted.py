"""Hosted backends: any OpenAI-compatible chat endpoint with audio input (OpenAI, a vLLM server), and Gemini.

Both run one call per simulated annotator (the reference protocol), concurrently up to ``max_concurrency`` threads,
paced by ``requests_per_second`` (shared by all threads), each with a ``timeout``. Failures stop the run with one
:class:`~hf_ambiguity.alm.base.AnnotationBackendError` line that says what failed and what to do; the run then
resumes where it stopped. API keys come from the environment and are never logged or recorded (a server that echoes
the key in an error body gets it masked), and the endpoint is recorded without user-info or query string
(:func:`hf_ambiguity.provenance.redact_url`). A well-formed answer without text — a refusal (``content: null``) or a
Gemini safety block — is a final answer that names no class: it is stored as ``""`` and counted in
``<name>_invalid``, not retried (retrying a deterministic block would only stop the run).

OpenAI-compatible endpoint (:class:`OpenAICompatibleAnnotator`), through the official ``openai`` client, which does
the HTTP retries (429, 408/409, 5xx, timeouts and connection errors, with exponential backoff honouring
``Retry-After``), the timeouts and the connection pooling; a malformed 200 body is retried here. Request:
``chat.completions.create`` with a system message and a user message whose content is an ``input_audio`` part
(base64 WAV) and a ``text`` part (in the prompt's layout order), ``temperature`` = the annotator's,
``max_completion_tokens``; the answer is ``choices[0].message.content``.

``score`` and ``expected`` modes against a **vLLM** server (OpenAI's own API returns no prompt log-probabilities
and is refused with that message): for each utterance, prompt variant (the annotator-neutral prompt in ``score``
mode, each distinct focus in ``expected`` mode) and label spelling, one request carries the finished conversation
``[system, user, assistant = the label]`` with vLLM's ``add_generation_prompt: false``, ``prompt_logprobs: k`` and
``return_token_ids: true``; one more request per variant (``add_generation_prompt: true``) gives the prompt's own
tokens, so the answer's tokens (the label, then the template's end-of-turn token) are located exactly, and the
request is refused if the template renders the finished turn's prefix differently from an open one. vLLM computes
prompt log-probabilities from the raw logits, i.e. at temperature 1:

- ``score`` mode (temperature 1) is **exact**: the sum of the answer tokens' log-probabilities.
- ``expected`` mode at an annotator temperature ``T < 1``: ``log softmax(z / T)[y] = lp(y) / T - log sum_v
  exp(lp(v) / T)``, where the sum runs over the returned top-``k`` tokens and the answer token, and the tail of the
  vocabulary (mass ``m = 1 - sum of the returned probabilities``, each token at most as probable as the ``k``-th)
  adds at most ``p_k^(1/T - 1) * m``. Half that bound is added and the remaining uncertainty, at most half the bound
  in log space per token, is recorded as ``max_log_error`` in the backend's provenance (with the server's default
  ``--max-logprobs 20`` and a confident model it is far below 1e-3). Temperatures above 1 are refused.
"""

from __future__ import annotations

import base64
import json
import math
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

from hf_ambiguity.alm.base import AnnotationBackendError, Item, Request
from hf_ambiguity.alm.prompts import AnnotatorSpec, PromptLabels, PromptProtocol
from hf_ambiguity.audio import encode_wav
from hf_ambiguity.provenance import redact_url

__all__ = ["RetryPolicy", "RateLimiter", "OpenAICompatibleAnnotator", "GeminiAnnotator", "TransientError",
           "label_forms"]

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
        raise AnnotationBackendError(f"{what}: giving up after {self.max_retries} retries; last error: {last}; "
                                     "rerun the same command later to resume")


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


def label_forms(label: str) -> list[str]:
    """The spellings of a label whose answers count for it: lower case, capitalised and as written (the same forms
    :func:`hf_ambiguity.alm.scoring.label_token_ids` scores locally).

    >>> label_forms("Neutral state")
    ['neutral state', 'Neutral state']
    """
    return list(dict.fromkeys([label.lower(), label.capitalize(), label]))


class _HostedBase:
    supports_score = False
    supports_expected = False

    def __init__(self, *, max_concurrency: int, requests_per_second: float | None, timeout: float,
                 retry: RetryPolicy | None):
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.max_concurrency = int(max_concurrency)
        self.timeout = float(timeout)
        self.retry = retry or RetryPolicy()
        self.limiter = RateLimiter(requests_per_second)
        self.requests_per_second = requests_per_second

    def _one(self, request: Request, protocol: PromptProtocol) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _parallel(self, tasks: Sequence[Callable[[], Any]], whats: Sequence[str]) -> tuple[dict[int, Any],
                                                                                         AnnotationBackendError | None]:
        """Run ``tasks`` on the thread pool, each paced and retried; ``(results by position, first error)``."""
        def run(i: int) -> Any:
            def attempt() -> Any:
                self.limiter.wait()
                return tasks[i]()

            try:
                return self.retry.call(attempt, whats[i])
            except AnnotationBackendError as err:
                if str(err).startswith(whats[i]):
                    raise
                raise AnnotationBackendError(f"{whats[i]}: {err}") from None

        done: dict[int, Any] = {}
        first_error: AnnotationBackendError | None = None
        with ThreadPoolExecutor(max_workers=max(1, min(self.max_concurrency, len(tasks)))) as pool:
            futures = [pool.submit(run, i) for i in range(len(tasks))]
            for i, fut in enumerate(futures):
                try:
                    done[i] = fut.result()
                except AnnotationBackendError as err:
                    first_error = first_error or err
        return done, first_error

    def annotate_batch(self, requests: Sequence[Request], protocol: PromptProtocol | None = None) -> list[str]:
        protocol = protocol or PromptProtocol.project()
        tasks = [lambda r=r: self._one(r, protocol) for r in requests]
        whats = [f"{self.identity} utterance {r.item.id!r} annotator {r.spec.index}" for r in requests]
        done, error = self._parallel(tasks, whats)
        if error is not None:
            raise AnnotationBackendError(str(error), partial=done)
        return [done[i] for i in range(len(requests))]

    def score_batch(self, items: Sequence[Item], protocol: PromptProtocol | None = None) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} gives no class log-probabilities; use mode 'sample'")

    def expected_batch(self, items: Sequence[Item], specs: Sequence[AnnotatorSpec],
                       protocol: PromptProtocol | None = None) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} gives no class log-probabilities; use mode 'sample'")

    def _limits(self) -> dict[str, Any]:
        return {"max_concurrency": self.max_concurrency, "requests_per_second": self.requests_per_second,
                "timeout_s": self.timeout, "max_retries": self.retry.max_retries}


# ---------------------------------------------------------------------------------------------------- OpenAI / vLLM
class OpenAICompatibleAnnotator(_HostedBase):
    """Simulated annotators through an OpenAI-compatible chat endpoint (see the module docstring).

    ``api_key_env`` names the environment variable holding the key (default ``OPENAI_API_KEY``; when it is unset the
    placeholder ``EMPTY`` is sent, which a local vLLM server accepts). ``top_logprobs``: ``k`` of the prompt
    log-probabilities asked for in ``score`` / ``expected`` mode (at most the server's ``--max-logprobs``).
    """

    supports_score = True
    supports_expected = True

    def __init__(self, model: str, *, base_url: str = "https://api.openai.com/v1", api_key_env: str = "OPENAI_API_KEY",
                 max_completion_tokens: int = 16, max_concurrency: int = 8, requests_per_second: float | None = None,
                 timeout: float = 60.0, retry: RetryPolicy | None = None, top_logprobs: int = 20,
                 max_tokens: int | None = None):
        super().__init__(max_concurrency=max_concurrency, requests_per_second=requests_per_second, timeout=timeout,
                         retry=retry)
        try:
            import openai
        except ImportError:
            raise ImportError("the openai backend needs the official openai client: pip install "
                              "'hf-ambiguity[hosted]' (or pip install openai)") from None
        if max_tokens is not None:  # the older name of the same setting
            max_completion_tokens = max_tokens
        if top_logprobs < 1:
            raise ValueError(f"top_logprobs must be >= 1, got {top_logprobs}")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.max_completion_tokens = int(max_completion_tokens)
        self.top_logprobs = int(top_logprobs)
        self._key = os.environ.get(api_key_env) or None
        self._openai = openai
        self._client = openai.OpenAI(api_key=self._key or "EMPTY", base_url=self.base_url, timeout=self.timeout,
                                     max_retries=self.retry.max_retries)
        self._max_log_error = 0.0
        self._error_lock = threading.Lock()
        self.identity = (f"openai:{redact_url(self.base_url)}:{model};"
                         f"max_completion_tokens={self.max_completion_tokens}")

    def provenance(self) -> dict[str, Any]:
        out = {"backend": "openai-compatible", "endpoint": redact_url(self.base_url), "model": self.model,
               "max_completion_tokens": self.max_completion_tokens, "top_logprobs": self.top_logprobs,
               "class_probabilities": "vLLM prompt log-probabilities of the finished answer turn (temperature 1; "
                                      "other temperatures from the top-k with a bounded tail)", **self._limits()}
        if self._max_log_error:
            out["max_log_error"] = self._max_log_error
        return out

    # ------------------------------------------------------------------------------------------------ requests
    @staticmethod
    def messages(item: Item, focus: str | None, protocol: PromptProtocol) -> list[dict[str, Any]]:
        """The chat messages of one utterance and focus (``None``: the annotator-neutral prompt)."""
        audio_b64 = base64.b64encode(encode_wav(item.audio, item.sampling_rate)).decode("ascii")
        audio = {"type": "input_audio", "input_audio": {"data": audio_b64, "format": "wav"}}
        text = {"type": "text", "text": protocol.user_text(item.transcript, item.speaker, item.class_names, focus,
                                                           item.corpus)}
        return [{"role": "system", "content": protocol.system},
                {"role": "user", "content": [audio, text] if protocol.layout == "audio-first" else [text, audio]}]

    def _create(self, **kwargs: Any) -> dict[str, Any]:
        """One chat completion as a plain dict; errors become one clear line (or :class:`TransientError` for a
        malformed body, which is retried)."""
        oa = self._openai
        where = f"{redact_url(self.base_url)}/chat/completions"
        try:
            raw = self._client.chat.completions.with_raw_response.create(model=self.model, **kwargs)
            text = raw.http_response.text
        except oa.AuthenticationError as err:
            raise AnnotationBackendError(f"{where} rejected the key ({self._detail(err)}); set ${self.api_key_env} "
                                         "to a valid key") from None
        except oa.PermissionDeniedError as err:
            raise AnnotationBackendError(f"{where} refused access ({self._detail(err)}); check the key in "
                                         f"${self.api_key_env} and the model's permissions") from None
        except oa.NotFoundError as err:
            raise AnnotationBackendError(f"{where}: not found ({self._detail(err)}); check the model name "
                                         f"({self.model!r}) and the base URL") from None
        except (oa.RateLimitError, oa.InternalServerError) as err:
            raise AnnotationBackendError(
                f"{where} still answered HTTP {err.status_code} after {self.retry.max_retries} retries "
                f"({self._detail(err)}); rerun later to resume, or lower the concurrency / request rate") from None
        except oa.APITimeoutError:
            raise AnnotationBackendError(
                f"{where} timed out after {self.timeout:g} s ({self.retry.max_retries} retries); rerun to resume, "
                "or raise the timeout") from None
        except oa.APIConnectionError as err:
            raise AnnotationBackendError(
                f"cannot reach {where} ({self._detail(err)}) after {self.retry.max_retries} retries; check that the "
                "server is running and the base URL (annotate.base_url / --base-url)") from None
        except oa.APIStatusError as err:  # another 4xx: a request the server will never accept
            raise AnnotationBackendError(
                f"{where} answered HTTP {err.status_code} ({self._detail(err)}); check the model name, the endpoint "
                f"and the key in ${self.api_key_env}") from None
        except (oa.APIResponseValidationError, ValueError) as err:
            raise TransientError(f"malformed response body: {self._detail(err)}") from None
        malformed = f"malformed response body: {_mask(text[:2000], self._key)[:200]!r}"
        try:
            body = json.loads(text)
        except ValueError:
            raise TransientError(malformed) from None
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list) or not body["choices"]:
            raise TransientError(malformed)
        return body

    def _detail(self, err: Exception) -> str:
        """What the server said (its response body), with the key masked, cut to 200 characters."""
        response = getattr(err, "response", None)
        try:
            text = response.text[:2000] if response is not None else None
        except Exception:  # noqa: BLE001 - a streamed or closed response
            text = None
        if not text:
            body = getattr(err, "body", None)
            text = json.dumps(body, default=str) if body is not None else str(err)
        return _mask(text, self._key)[:200]

    def _one(self, request: Request, protocol: PromptProtocol) -> str:
        body = self._create(messages=self.messages(request.item, request.spec.focus, protocol),
                            temperature=request.spec.temperature, max_completion_tokens=self.max_completion_tokens)
        message = body["choices"][0].get("message") or {}
        content = message.get("content")
        if content is None:  # a refusal / content filter: an answer that names no class
            return ""
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            raise TransientError(f"malformed response body: message content {str(content)[:100]!r}")
        return content.strip()

    # ------------------------------------------------------------------------------------------------ log-probs
    def _prompt_tokens(self, messages: list[dict[str, Any]], *, finished: bool) -> tuple[list[int], list[Any]]:
        extra = {"add_generation_prompt": not finished, "return_token_ids": True}
        if finished:
            extra["prompt_logprobs"] = self.top_logprobs
        body = self._create(messages=messages, temperature=1.0, max_completion_tokens=1, extra_body=extra)
        ids, logprobs = body.get("prompt_token_ids"), body.get("prompt_logprobs")
        if not isinstance(ids, list) or (finished and not isinstance(logprobs, list)):
            raise AnnotationBackendError(
                f"{redact_url(self.base_url)} returned no prompt token ids / prompt log-probabilities; modes 'score' "
                "and 'expected' need a vLLM server (a recent vLLM: it must accept prompt_logprobs and "
                "return_token_ids); use mode 'sample' with other endpoints")
        if finished and len(logprobs) != len(ids):
            raise TransientError(f"malformed response body: {len(logprobs)} prompt log-probabilities for "
                                 f"{len(ids)} prompt tokens")
        return [int(x) for x in ids], logprobs or []

    def _variant_logprobs(self, item: Item, focus: str | None, labels: PromptLabels, temps: Sequence[float],
                          protocol: PromptProtocol) -> np.ndarray:
        """``(len(temps), n_labels)`` log-probabilities of each label's answer (spellings summed), prompt order."""
        messages = self.messages(item, focus, protocol)
        open_ids, _ = self._prompt_tokens(messages, finished=False)
        out = np.full((len(temps), len(labels.spellings)), -np.inf)
        for j, label in enumerate(labels.spellings):
            for form in label_forms(label):
                ids, lps = self._prompt_tokens(messages + [{"role": "assistant", "content": form}], finished=True)
                if ids[:len(open_ids)] != open_ids:
                    raise AnnotationBackendError(
                        f"{redact_url(self.base_url)}: the model's chat template renders a finished answer's prefix "
                        "differently from the open prompt, so the answer's probability cannot be read exactly; use "
                        "mode 'sample' with this model")
                values, err = _answer_logprob(ids, lps, len(open_ids), form, temps, self.top_logprobs)
                with self._error_lock:
                    self._max_log_error = max(self._max_log_error, err)
                out[:, j] = np.logaddexp(out[:, j], values)
        return out

    def _class_logprobs(self, items: Sequence[Item], foci: Sequence[str | None], temps: Sequence[float],
                        protocol: PromptProtocol) -> np.ndarray:
        """``(len(items), len(foci), len(temps), n_classes)`` in dataset class order."""
        if any(t > 1.0 for t in temps):
            raise ValueError(f"temperatures above 1 ({[t for t in temps if t > 1]}) cannot be read from a server's "
                             "top-k log-probabilities with a bounded error; use a local model")
        jobs = [(i, a) for i in range(len(items)) for a in range(len(foci))]
        labels = [protocol.labels_for(it.class_names, it.corpus) for it in items]
        tasks = [lambda i=i, a=a: self._variant_logprobs(items[i], foci[a], labels[i], temps, protocol)
                 for i, a in jobs]
        whats = [f"{self.identity} utterance {items[i].id!r}" for i, _ in jobs]
        done, error = self._parallel(tasks, whats)
        out = np.zeros((len(items), len(foci), len(temps), len(items[0].class_names)))
        for (i, a), value in ((jobs[p], v) for p, v in done.items()):
            out[i, a] = labels[i].to_class_order(value)
        if error is not None:
            complete = {i: out[i] for i in range(len(items))
                        if all(p in done for p, (ii, _) in enumerate(jobs) if ii == i)}
            raise AnnotationBackendError(str(error), partial=complete)
        return out

    def score_batch(self, items: Sequence[Item], protocol: PromptProtocol | None = None) -> np.ndarray:
        """``(len(items), n_classes)`` exact temperature-1 class log-probabilities of the annotator-neutral prompt."""
        if not items:
            return np.zeros((0, 0))
        try:
            return self._class_logprobs(items, [None], [1.0], protocol or PromptProtocol.project())[:, 0, 0]
        except AnnotationBackendError as err:
            raise AnnotationBackendError(str(err), partial={i: v[0, 0] for i, v in err.partial.items()}) from None

    def expected_batch(self, items: Sequence[Item], specs: Sequence[AnnotatorSpec],
                       protocol: PromptProtocol | None = None) -> np.ndarray:
        """``(len(items), len(specs), n_classes)``: each annotator's class-answer log-probabilities."""
        if not items:
            return np.zeros((0, len(specs), 0))
        foci = list(dict.fromkeys(s.focus for s in specs))
        temps = sorted({float(s.temperature) for s in specs})
        pick = [(foci.index(s.focus), temps.index(float(s.temperature))) for s in specs]

        def select(v: np.ndarray) -> np.ndarray:
            return np.stack([v[..., a, t, :] for a, t in pick], axis=-2)

        try:
            return select(self._class_logprobs(items, foci, temps, protocol or PromptProtocol.project()))
        except AnnotationBackendError as err:
            raise AnnotationBackendError(str(err), partial={i: select(v) for i, v in err.partial.items()}) from None


def _entry_logprobs(entry: Any) -> dict[int, tuple[float, int | None]]:
    """A vLLM prompt-log-probability entry ``{token id: {"logprob", "rank", ...}}`` as ``{id: (logprob, rank)}``."""
    if not isinstance(entry, dict):
        raise TransientError(f"malformed prompt log-probability entry {str(entry)[:100]!r}")
    out = {}
    for key, value in entry.items():
        if isinstance(value, dict):
            lp, rank = value.get("logprob"), value.get("rank")
        else:
            lp, rank = value, None
        try:
            out[int(key)] = (float(lp), None if rank is None else int(rank))
        except (TypeError, ValueError):
            raise TransientError(f"malformed prompt log-probability entry {str(entry)[:100]!r}") from None
    return out


def _decoded(entry: Any, token: int) -> str | None:
    value = entry.get(str(token)) if isinstance(entry, dict) else None
    return value.get("decoded_token") if isinstance(value, dict) else None


def _answer_logprob(ids: Sequence[int], entries: Sequence[Any], start: int, answer: str,
                    temps: Sequence[float], k: int) -> tuple[np.ndarray, float]:
    """``(log p_T(answer + end-of-turn) per temperature, max log error)`` from a finished turn's prompt
    log-probabilities with the top ``k`` per position (see the module docstring); the answer's tokens start at
    ``start``."""
    text, end = "", start
    while end < len(ids) and len(text) < len(answer):
        piece = _decoded(entries[end], ids[end])
        if piece is None:
            raise TransientError("malformed prompt log-probabilities: no decoded_token for a prompt token")
        text += piece
        end += 1
    if text != answer or end >= len(ids):
        raise AnnotationBackendError(
            f"the server's tokens of the answer {answer!r} decode to {text!r}; the answer's probability cannot be "
            "located exactly; use mode 'sample' with this model")
    total = np.zeros(len(temps))
    error = 0.0
    for p in range(start, end + 1):  # the answer's tokens and the end-of-turn token after them
        table = _entry_logprobs(entries[p])
        actual = ids[p]
        if actual not in table:
            raise TransientError("malformed prompt log-probabilities: the prompt token itself is missing")
        lp_actual = table[actual][0]
        lps = np.array([v[0] for v in table.values()])
        if all(v[1] is not None for v in table.values()):  # vLLM: 1-based ranks; the top k have rank <= k
            top = [v[0] for v in table.values() if v[1] <= k]
        else:  # no ranks: the prompt token itself is the extra entry when there are more than k
            top = [v[0] for tid, v in table.items() if len(table) <= k or tid != actual]
        p_k = math.exp(min(top)) if top else math.exp(lp_actual)
        tail = 1.0 - float(np.exp(lps).sum())
        tail = tail if tail > 1e-9 else 0.0  # the whole vocabulary came back (up to float error)
        for t_i, t in enumerate(temps):
            if t == 1.0:
                total[t_i] += lp_actual
                continue
            known = float(np.logaddexp.reduce(lps / t))
            bound = (p_k ** (1.0 / t - 1.0)) * tail
            log_norm = float(np.logaddexp(known, math.log(bound / 2))) if bound > 0 else known
            total[t_i] += lp_actual / t - log_norm
            if bound > 0:
                error = max(error, 0.5 * math.log1p(bound / math.exp(known)))
    return total, error


# ---------------------------------------------------------------------------------------------------- Gemini
class GeminiAnnotator(_HostedBase):
    """Simulated annotators played by Gemini (the reference setup: ``gemini-2.5-pro``) via ``google-genai``.

    The key comes from ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``. ``base_url`` overrides the API host (tests, proxies).
    Sample mode only: the API gives no class log-probabilities over audio prompts.
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
        return {"backend": "gemini", "model": self.model, "endpoint": redact_url(self.base_url) or "default",
                **self._limits()}

    def _one(self, request: Request, protocol: PromptProtocol) -> str:
        from google.genai import errors

        it, t = request.item, self._types
        audio = t.Part.from_bytes(data=encode_wav(it.audio, it.sampling_rate), mime_type="audio/wav")
        text = protocol.user_text(it.transcript, it.speaker, it.class_names, request.spec.focus, it.corpus)
        contents = [audio, text] if protocol.layout == "audio-first" else [text, audio]
        config = t.GenerateContentConfig(system_instruction=protocol.system, temperature=request.spec.temperature)
        try:
            resp = self._client.models.generate_content(model=self.model, contents=contents, config=config)
        except errors.APIError as err:
            code = int(getattr(err, "code", 0) or 0)
            detail = _mask(str(err), self._key)[:200]
            if code == 429 or code >= 500:
                raise TransientError(f"Gemini API error {code}: {detail}") from None
            raise AnnotationBackendError(f"Gemini API error {code}: {detail}; check the model name and the key in "
                                         "GEMINI_API_KEY") from None
        except (ValueError, KeyError, TypeError) as err:
            raise TransientError(f"malformed Gemini response: {_mask(str(err), self._key)[:200]}") from None
        except Exception as err:  # httpx transport errors (timeouts, connection refused)
            if type(err).__module__.startswith(("httpx", "httpcore", "httpx2")):
                raise TransientError(f"Gemini connection failed or timed out: {_mask(str(err), self._key)}") \
                    from None
            raise
        text_out = getattr(resp, "text", None)
        if isinstance(text_out, str):
            return text_out.strip()
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
