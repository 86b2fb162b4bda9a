"""Hub Space entry point: a Gradio widget for this metric folder (needs `gradio`; not used by the library)."""

import os

import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load(os.path.dirname(os.path.abspath(__file__)))
launch_gradio_widget(module)
