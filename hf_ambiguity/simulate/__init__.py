"""Simulation study: where do synthetic (ALM) labels help, hurt or make no detectable difference?

Simulates latent true emotion distributions, human raters and ALM proxies of controlled quality (sharpness,
bias toward a class, item-level noise, correlation with the truth) over a sweep of settings, rater counts and seeds
(:mod:`.config`, :mod:`.sampling`), runs the held-out-annotator test
(:mod:`hf_ambiguity.analysis.synthetic_benefit`) on every world as on a real corpus, with the true effects beside it
(:mod:`.study`), and writes a map of the verdicts (:mod:`.report`). :mod:`.calibrate` fits the proxy to the
statistics of a real run, so the simulation can speak about that corpus. Run it with
``hf-ambiguity simulate [--config CONFIG.yaml] [--calibrate-from RUN_DIR] --out DIR``.
"""

from __future__ import annotations

from hf_ambiguity.simulate.config import SimulationConfig, config_from_dict, load_config
from hf_ambiguity.simulate.sampling import SimulatedWorld, simulate_world

__all__ = ["SimulationConfig", "config_from_dict", "load_config", "SimulatedWorld", "simulate_world"]
