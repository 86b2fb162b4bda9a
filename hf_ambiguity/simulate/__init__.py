"""Simulation study: when do synthetic (ALM) annotations improve the estimated emotion distribution?

Draws latent true distributions with controlled ambiguity, sparse human votes and an ALM proxy with configurable
bias, sharpness and noise (:mod:`.sampling`, configured by :mod:`.config`), then measures per ambiguity level how far
human-only, fixed merges ``human + λ·synthetic`` and the adaptive merge (:mod:`hf_ambiguity.annotate.merge`) are from the
latent truth, with paired tests (:mod:`.study`), and writes a markdown report with a plot (:mod:`.report`).
Run it with ``hf-ambiguity simulate --config CONFIG.yaml --out DIR``.
"""

from __future__ import annotations

from hf_ambiguity.simulate.config import SimulationConfig, load_config
from hf_ambiguity.simulate.sampling import SimulatedCorpus, simulate_corpus

__all__ = ["SimulationConfig", "load_config", "SimulatedCorpus", "simulate_corpus"]
