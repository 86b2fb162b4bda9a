"""Hub Space of this metric: a small Gradio app (``metric_space``, written for Gradio 5 and 6) around the module."""

import os

import evaluate

from hf_ambiguity.metric_inputs import metric_space

module = evaluate.load(os.path.dirname(os.path.abspath(__file__)))
examples = {
    "predictions": [[0.9, 0.1], [0.1, 0.9], [0.5, 0.5], [0.8, 0.2], [0.2, 0.8], [0.6, 0.4]],
    "baseline_predictions": [[0.5, 0.5], [0.5, 0.5], [0.9, 0.1], [0.5, 0.5], [0.6, 0.4], [0.1, 0.9]],
    "references": [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [1.0, 0.0], [0.0, 1.0], [0.6, 0.4]],
    "ambiguity": ["low", "low", "high", "low", "low", "high"],
    "options": {"n_resamples": 2000},
}
demo = metric_space([("alignment_test", module, examples)])

if __name__ == "__main__":
    demo.launch()
