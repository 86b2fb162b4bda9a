"""Hub Space of this metric: a small Gradio app (``metric_space``, written for Gradio 5 and 6) with one tab per
configuration."""

import os

import evaluate

from hf_ambiguity.metric_inputs import metric_space

folder = os.path.dirname(os.path.abspath(__file__))
votes = [[3, 0, 0], [2, 1, 0], [0, 2, 1], [0, 0, 3], [1, 1, 1]]
demo = metric_space([
    ("default (votes)", evaluate.load(folder), {"votes": votes}),
    ("synthetic_vs_human", evaluate.load(folder, "synthetic_vs_human"),
     {"predictions": [[2, 0], [0, 2], [2, 0]], "references": [[3, 0], [1, 2], [2, 1]],
      "synthetic_labels": [[0, 0], [1, 1], [0, 0]]}),
])

if __name__ == "__main__":
    demo.launch()
