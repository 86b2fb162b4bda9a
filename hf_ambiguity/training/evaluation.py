"""Scoring a run's model on the validation and test splits, on one process or several.

:func:`predict_split` runs the model over a prepared evaluation loader and gathers the predictions of every process
with ``accelerator.gather_for_metrics``, which drops the rows Accelerate repeats to fill the last batch of the last
process; the gathered row indices must then cover every row exactly once (checked: a duplicate or a missing row is
an error, never a silently different score). :class:`Evaluator` turns predictions into the validation loss (what
early stopping watches) and alignment statistics against the run's own target and the human distributions,
overall and per ambiguity level (:func:`hf_ambiguity.analysis.alignment.alignment_statistics`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["predict_split", "Evaluator", "model_inputs"]

def model_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    """The part of a collated batch the model takes (not ``target`` / ``index``)."""
    from hf_ambiguity.training.model import MODEL_INPUT_KEYS

    return {k: batch[k] for k in MODEL_INPUT_KEYS if k in batch}


def predict_split(model: Any, loader: Any, accelerator: Any, n_rows: int) -> np.ndarray:
    """Predicted distributions ``(n_rows, n_classes)`` in row order, gathered over processes, each row once."""
    import torch

    was_training = model.training
    model.eval()
    preds: list[np.ndarray] = []
    idxs: list[np.ndarray] = []
    with torch.no_grad():
        for batch in loader:
            logp = model(**model_inputs(batch))
            idx, logp = accelerator.gather_for_metrics((batch["index"], logp.float()))
            idxs.append(idx.cpu().numpy())
            preds.append(logp.exp().cpu().numpy())
    model.train(was_training)
    idx = np.concatenate(idxs)
    counts = np.bincount(idx, minlength=n_rows)
    if len(counts) != n_rows or (counts != 1).any():
        raise RuntimeError(f"evaluation gathered {len(idx)} predictions for {n_rows} rows (rows seen twice: "
                           f"{np.flatnonzero(counts > 1)[:10].tolist()}, never: "
                           f"{np.flatnonzero(counts == 0)[:10].tolist()}); the distributed evaluation loader is not "
                           "sharded as expected")
    out = np.zeros((n_rows, preds[0].shape[1]))
    out[idx] = np.concatenate(preds).astype(np.float64)
    return out / out.sum(axis=1, keepdims=True)


def _ambiguity(ds: Any) -> list[str] | None:
    from hf_ambiguity.schema import ambiguity_levels

    return ambiguity_levels(ds) if "ambiguity" in ds.column_names else None


def _alignment(pred: np.ndarray, ref: np.ndarray, ambiguity: Any) -> dict[str, Any]:
    from hf_ambiguity.analysis.alignment import alignment_statistics

    return alignment_statistics(pred, ref, ambiguity)


class Evaluator:
    """Validation and test scoring of one run (``splits``: the prepared ``validation`` / ``test`` datasets)."""

    def __init__(self, accelerator: Any, splits: dict[str, Any], *, target: str, human_column: str,
                 loss_fn: Any) -> None:
        self.accelerator, self.splits, self.loss_fn = accelerator, splits, loss_fn
        self.target, self.human_column = target, human_column

    def loss(self, pred: np.ndarray, target: np.ndarray) -> float:
        """The training loss between predicted and target distributions, in float64."""
        import torch

        logp = torch.log(torch.as_tensor(pred, dtype=torch.float64).clamp_min(1e-12))
        return float(self.loss_fn(logp, torch.as_tensor(target, dtype=torch.float64)))

    def _columns(self, split: str) -> tuple[np.ndarray, np.ndarray, Any]:
        ds = self.splits[split]
        return (np.asarray(ds[self.target], dtype=np.float64), np.asarray(ds[self.human_column], dtype=np.float64),
                _ambiguity(ds))

    def validate(self, model: Any, loader: Any) -> dict[str, Any]:
        """``{"loss", "vs_own_target", "vs_human"}`` on the validation split."""
        own, human, amb = self._columns("validation")
        pred = predict_split(model, loader, self.accelerator, len(own))
        return {"loss": self.loss(pred, own), "vs_own_target": _alignment(pred, own, amb),
                "vs_human": _alignment(pred, human, amb)}

    def test(self, model: Any, loader: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """Test predictions and ``{"test_loss_vs_own_target", "test_vs_own_target", "test_vs_human"}``."""
        own, human, amb = self._columns("test")
        pred = predict_split(model, loader, self.accelerator, len(own))
        return pred, {"test_loss_vs_own_target": self.loss(pred, own), "test_vs_own_target": _alignment(pred, own, amb),
                      "test_vs_human": _alignment(pred, human, amb)}

    def test_ids(self) -> list[Any]:
        ds = self.splits["test"]
        return list(ds["id"]) if "id" in ds.column_names else list(range(len(ds)))

    @staticmethod
    def scalars(validation: dict[str, Any]) -> dict[str, float]:
        """The validation record as flat tracker scalars (tensorboard)."""
        out = {"validation/loss": validation["loss"]}
        for ref in ("vs_own_target", "vs_human"):
            rows = [("overall", validation[ref]["overall"]), *validation[ref]["per_level"].items()]
            for level, stats in rows:
                for stat in ("js_divergence_base2", "bhattacharyya_coefficient"):
                    if stats[stat] is not None:
                        out[f"validation_{ref}/{level}/{stat}"] = stats[stat]
        return out
