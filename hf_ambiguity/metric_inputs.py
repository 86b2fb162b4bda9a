"""What the ``evaluate`` modules in ``metrics/`` share: per-item inputs a caller may leave out (``ambiguity``, the
synthetic annotators' label lists) and the small Gradio app of their Hub Spaces (:func:`metric_space`).

Per-item inputs must be module *features*: only features travel through ``add_batch`` / ``add``, are gathered across
processes (``num_process``) and are routed to the right module by ``evaluate.combine`` — a ``compute`` keyword is
neither. But ``evaluate`` requires every feature in every call. :class:`OptionalItemInputs` (mixed in before
``evaluate.Metric``) fills a left-out optional input with a "not given" marker per item (``""`` for a string feature,
whose values evaluate checks are strings; ``None`` otherwise), turns ``ambiguity`` ClassLabel codes (what
``ds["ambiguity"]`` of an hf-ambiguity dataset returns) into level names, and :func:`given_or_none` turns the stored
column back into ``None`` (left out everywhere) or the values, refusing a column given for some items only.

>>> given_or_none(["", ""], "ambiguity") is None
True
>>> given_or_none(["low", ""], "ambiguity")
Traceback (most recent call last):
...
ValueError: ambiguity row 1 is missing: give ambiguity for every item (in every add_batch call) or for none

A Space's ``app.py`` is ``metric_space([("title", module, examples)]).launch()``: one tab per module (configuration),
one JSON text box per input (pre-filled with ``examples``), a JSON box of ``compute`` options, and the result as JSON.
The app is written for Gradio 5 and 6 (``gr.Blocks``, ``gr.Tab``, ``gr.Textbox``, ``gr.JSON``, ``gr.Button``);
evaluate 0.4.6's own ``launch_gradio_widget`` uses an API that Gradio 4 removed. :func:`compute_from_json` is what a
click runs, testable without Gradio.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Mapping, Sequence

from hf_ambiguity.schema import AMBIGUITY_COLUMN, ambiguity_names

__all__ = ["OptionalItemInputs", "given_or_none", "compute_from_json", "metric_space", "input_names"]


def given_or_none(values: Sequence[Any] | None, name: str) -> list[Any] | None:
    """``None`` when no item has a value (``None`` or ``""``), else the values; ``ValueError`` naming the first item
    without one."""
    if values is None:
        return None
    values = list(values)
    missing = [i for i, v in enumerate(values) if v is None or (isinstance(v, str) and v == "")]
    if len(missing) == len(values):
        return None
    if missing:
        raise ValueError(f"{name} row {missing[0]} is missing: give {name} for every item (in every add_batch call) "
                         "or for none")
    return values


class OptionalItemInputs:
    """Mixin for an ``evaluate.Metric`` whose features include per-item inputs a caller may omit.

    ``optional_inputs``: the feature names that may be left out (``None`` per item is stored instead).
    """

    optional_inputs: ClassVar[tuple[str, ...]] = ()

    def _missing(self, name: str) -> Any:
        """The "not given" marker of feature ``name``."""
        features = self.features if isinstance(self.features, dict) else self.features[0]  # type: ignore[attr-defined]
        return "" if getattr(features[name], "dtype", None) == "string" else None

    def _convert(self, name: str, values: Sequence[Any]) -> list[Any]:
        if name != AMBIGUITY_COLUMN:
            return list(values)
        return [self._missing(name) if v is None else v for v in ambiguity_names(values)]

    def _fill(self, batch: dict[str, Any], n: int | None) -> dict[str, Any]:
        names = self._feature_names()  # type: ignore[attr-defined]
        for name in self.optional_inputs:
            if name not in names:
                continue
            if batch.get(name) is None and n is not None:
                batch[name] = [self._missing(name)] * n
            elif batch.get(name) is not None:
                batch[name] = self._convert(name, batch[name])
        return batch

    def _n_items(self, batch: dict[str, Any]) -> int | None:
        for name in self._feature_names():  # type: ignore[attr-defined]
            value = batch.get(name)
            if value is not None and name not in self.optional_inputs:
                return len(value)
        return None

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch of items (optional per-item inputs may be left out)."""
        batch = self._fill({"predictions": predictions, "references": references, **kwargs},
                           self._n_items({"predictions": predictions, "references": references, **kwargs}))
        return super().add_batch(**batch)  # type: ignore[misc]

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one item (optional per-item inputs may be left out)."""
        for name in self.optional_inputs:
            if name in self._feature_names():  # type: ignore[attr-defined]
                value = kwargs.get(name)
                kwargs[name] = self._missing(name) if value is None else self._convert(name, [value])[0]
        return super().add(prediction=prediction, reference=reference, **kwargs)  # type: ignore[misc]

    def compute(self, *, predictions=None, references=None, **kwargs):
        """Compute over the items given here and those added before (optional per-item inputs may be left out)."""
        batch = {"predictions": predictions, "references": references, **kwargs}
        n = self._n_items(batch)
        if n is not None:  # items given here: fill their optional inputs; otherwise evaluate fills None itself
            batch = self._fill(batch, n)
        return super().compute(**batch)  # type: ignore[misc]


def input_names(module: Any) -> list[str]:
    """The per-item inputs (features) of an evaluate module, in order."""
    features = module.features if isinstance(module.features, Mapping) else module.features[0]
    return list(features)


def compute_from_json(module: Any, inputs: Mapping[str, str], options: str = "") -> dict[str, Any]:
    """``module.compute`` on inputs given as JSON texts (one per input name; an empty text leaves an optional input
    out) and ``options``, a JSON object of ``compute`` keywords. Bad JSON raises ``ValueError`` naming the box.

    >>> class Echo:
    ...     features = {"predictions": None, "references": None}
    ...     def compute(self, **kw):
    ...         return kw
    >>> compute_from_json(Echo(), {"predictions": "[[1, 0]]", "references": " "}, '{"seed": 3}')
    {'predictions': [[1, 0]], 'seed': 3}
    """
    kwargs: dict[str, Any] = {}
    for name, text in inputs.items():
        if text and text.strip():
            try:
                kwargs[name] = json.loads(text)
            except json.JSONDecodeError as err:
                raise ValueError(f"{name}: not valid JSON ({err})") from None
    if options and options.strip():
        try:
            extra = json.loads(options)
        except json.JSONDecodeError as err:
            raise ValueError(f"options: not valid JSON ({err})") from None
        if not isinstance(extra, dict):
            raise ValueError(f"options: expected a JSON object of compute keywords, got {type(extra).__name__}")
        kwargs.update(extra)
    return module.compute(**kwargs)


def metric_space(tabs: Sequence[tuple[str, Any, Mapping[str, Any]]], *, intro: str = "") -> Any:
    """A Gradio ``Blocks`` app with one tab per ``(title, evaluate module, examples)``; ``examples`` maps an input
    name (or ``"options"``) to the value its box starts with. Needs ``gradio`` (a Space has it)."""
    import gradio as gr

    with gr.Blocks() as demo:
        if intro:
            gr.Markdown(intro)
        for title, module, examples in tabs:
            with gr.Tab(title):
                gr.Markdown(str(module.info.description))
                names = input_names(module)
                boxes = [gr.Textbox(label=f"{name} (JSON, one entry per item)", lines=3,
                                    value=json.dumps(examples[name]) if name in examples else "") for name in names]
                options = gr.Textbox(label="options (JSON object of compute keywords)",
                                     value=json.dumps(examples.get("options", {})))
                result = gr.JSON(label="result")

                def run(*values: str, _module: Any = module, _names: list[str] = names) -> dict[str, Any]:
                    try:
                        return compute_from_json(_module, dict(zip(_names, values[:-1])), values[-1])
                    except (ValueError, TypeError) as err:
                        raise gr.Error(str(err)) from None

                gr.Button("Compute").click(run, inputs=[*boxes, options], outputs=result)
    return demo
