"""Hub Space of this metric: a small Gradio app (``metric_space``, written for Gradio 5 and 6) around the module."""

import os

import evaluate

from hf_ambiguity.metric_inputs import metric_space

module = evaluate.load(os.path.dirname(os.path.abspath(__file__)))
examples = {
    "human_labels": [[0, 0, 1], [2, 2, 2, 1], [1, 1, 3], [3, 3, 0, 3]] * 10,
    "synthetic": [[0.7, 0.2, 0.05, 0.05], [0.0, 0.2, 0.8, 0.0], [0.1, 0.8, 0.0, 0.1], [0.1, 0.0, 0.0, 0.9]] * 10,
    "options": {"n_classes": 4, "strata": "none", "n_resamples": 500},
}
demo = metric_space([("synthetic_benefit", module, examples)])

if __name__ == "__main__":
    demo.launch()
