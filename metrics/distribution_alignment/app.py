"""Hub Space of this metric: a small Gradio app (``metric_space``, written for Gradio 5 and 6) around the module."""

import os

import evaluate

from hf_ambiguity.metric_inputs import metric_space

module = evaluate.load(os.path.dirname(os.path.abspath(__file__)))
examples = {
    "predictions": [[0.7, 0.2, 0.1, 0.0], [0.1, 0.1, 0.8, 0.0]],
    "references": [[1.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0]],
    "ambiguity": ["low", "high"],
    "options": {"n_bootstrap": 200},
}
demo = metric_space([("distribution_alignment", module, examples)])

if __name__ == "__main__":
    demo.launch()
