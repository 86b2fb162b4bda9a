"""Fixtures shared by the tests: the tiny random-weight Qwen2-Audio (built once per session) and its annotator, and
a one-thread torch setting for tiny-model work. Helpers live in ``tests/helpers.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: Set to a folder to reuse one tiny checkpoint across sessions (it is built there when absent).
TINY_MODEL_DIR_ENV = "HF_AMBIGUITY_TINY_ALM_DIR"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny Qwen2-Audio checkpoint of :mod:`hf_ambiguity.tiny_alm`, built once per session."""
    from hf_ambiguity.tiny_alm import build_tiny_qwen2_audio

    default = tmp_path_factory.getbasetemp() / "tiny-qwen2-audio"
    return build_tiny_qwen2_audio(Path(os.environ.get(TINY_MODEL_DIR_ENV, default)))


@pytest.fixture(scope="session")
def tiny_annotator(tiny_model):
    from hf_ambiguity.alm.local import TransformersAnnotator

    return TransformersAnnotator(str(tiny_model))


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tiny-model work on one torch thread (OpenMP spin contention makes 2 threads on a shared,
    loaded 2-core machine several times slower), restoring the previous setting afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
