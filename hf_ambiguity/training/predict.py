"""Inference with a trained adapter + head, without the training script.

>>> # model = load_trained("outputs/train")                 # base model read from training_config.json
>>> # probs = predict_distributions(model, test_dataset)    # (n_rows, n_classes), rows sum to 1

:func:`load_trained` refuses an output folder whose base-model architecture or head differs from what is asked
(:class:`~hf_ambiguity.training.checkpoints.CheckpointMismatchError`), before any weight is loaded into the wrong
shapes. A trained-model folder is data, possibly downloaded from someone else: the base model it names is loaded
with ``trust_remote_code`` only when the *caller* passes ``trust_remote_code=True`` (the value recorded in its
``training_config.json`` is never used), so loading a shared folder never runs code from the Hub on its say-so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hf_ambiguity.training.checkpoints import CheckpointMismatchError

__all__ = ["TrainedModel", "load_trained", "predict_distributions"]


@dataclass(frozen=True)
class TrainedModel:
    """A reloaded model: ``model`` (:class:`~hf_ambiguity.training.model.DistributionModel`, eval mode),
    ``processor``, ``class_names`` and the ``info`` of ``training_config.json``."""

    model: Any = field(repr=False)
    processor: Any = field(repr=False)
    class_names: tuple[str, ...]
    base_model: str
    head: str
    info: dict[str, Any] = field(repr=False)

    @property
    def resolved_config(self) -> dict[str, Any]:
        return dict(self.info["config"])


def load_trained(output_dir: str | Path, base_model: str | None = None, *, head: str | None = None,
                 device: str | None = None, dtype: str | None = None, trust_remote_code: bool = False) -> TrainedModel:
    """Load base model + adapter + head saved by a training run in ``output_dir``.

    ``base_model`` defaults to the one recorded in ``training_config.json``; another model (e.g. a local copy of it)
    is accepted only when its architecture fingerprint matches. ``head`` (``"attention"``/``"label_token"``), when
    given, must match the saved head. ``dtype`` defaults to the training ``torch_dtype`` on GPU, float32 on CPU.
    ``trust_remote_code``: allow the base model's own code from the Hub; only this argument decides it (a folder
    trained with it asks for it in the error message instead of enabling it).
    """
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoConfig

    from hf_ambiguity.alm.loading import load_alm, resolve_device
    from hf_ambiguity.alm.scoring import label_token_ids
    from hf_ambiguity.training.head import AttentionPoolingHead
    from hf_ambiguity.training.outputs import ADAPTER_DIR, FORMAT_VERSION, HEAD_FILE, TRAINING_CONFIG_FILE
    from hf_ambiguity.training.model import DistributionModel, model_fingerprint, text_hidden_size

    folder = Path(output_dir)
    info_path = folder / TRAINING_CONFIG_FILE
    if not info_path.is_file():
        raise FileNotFoundError(f"{folder} has no {TRAINING_CONFIG_FILE}: not the output folder of a finished "
                                "training run (pass --output_dir of `examples/train.py`)")
    info = json.loads(info_path.read_text())
    if info.get("format_version") != FORMAT_VERSION:
        raise CheckpointMismatchError(
            f"{info_path} has format_version {info.get('format_version')}, this hf-ambiguity reads {FORMAT_VERSION} "
            "(the head's layers changed); retrain with this version")
    saved_head = info["head"]["kind"]
    if head is not None and head != saved_head:
        raise CheckpointMismatchError(f"{folder} holds the {saved_head!r} head, not {head!r}; load it with "
                                      f"head={saved_head!r} or train a {head!r} head")
    base = base_model or info["base_model"]
    cfg = info.get("config", {})
    if cfg.get("trust_remote_code") and not trust_remote_code:
        raise CheckpointMismatchError(
            f"{folder} was trained with trust_remote_code on base model {base!r}, whose code would run on this machine; "
            "it is not enabled from the folder's training_config.json. If you trust that model's code, pass "
            "trust_remote_code=True to load_trained")
    fp_now = model_fingerprint(AutoConfig.from_pretrained(base, trust_remote_code=trust_remote_code))
    if fp_now["sha256"] != info["model_fingerprint"]["sha256"]:
        raise CheckpointMismatchError(
            f"{folder} was trained on {info['base_model']!r} (architecture {info['model_fingerprint']['architecture']})"
            f" but base_model {base!r} has architecture {fp_now['architecture']}; pass the base model it was "
            "trained on")
    dev = resolve_device(device)
    if dtype is None:
        dtype = cfg.get("torch_dtype", "float32") if dev != "cpu" else "float32"
    alm = load_alm(base, device=dev, dtype=dtype, trust_remote_code=trust_remote_code)
    backbone = PeftModel.from_pretrained(alm.model, str(folder / ADAPTER_DIR)).eval()
    class_names = tuple(info["class_names"])
    if saved_head == "attention":
        state = load_file(str(folder / HEAD_FILE))
        hidden = text_hidden_size(alm.model.config)
        if state["classifier.weight"].shape != (len(class_names), hidden // 2):
            raise CheckpointMismatchError(
                f"{folder / HEAD_FILE} has classifier shape {tuple(state['classifier.weight'].shape)}, expected "
                f"({len(class_names)}, {hidden // 2}) for {len(class_names)} classes on hidden size {hidden}")
        mod = AttentionPoolingHead(hidden, len(class_names), num_heads=info["head"]["num_heads"])
        mod.load_state_dict(state)
        model = DistributionModel(backbone, mod.to(dev).eval(), head_kind="attention")
    else:
        model = DistributionModel(backbone, None, head_kind="label_token",
                                  label_token_ids=label_token_ids(alm.processor.tokenizer, list(class_names)))
    model.eval()
    return TrainedModel(model, alm.processor, class_names, base, saved_head, info)


def predict_distributions(model: TrainedModel, dataset: Any, *, batch_size: int = 8, progress: bool = True,
                          class_names: Sequence[str] | None = None) -> np.ndarray:
    """Predicted emotion distributions ``(len(dataset), n_classes)`` (class order = ``model.class_names``).

    ``dataset``: a ``datasets.Dataset`` with an ``audio`` column (and ``transcript`` when the model was trained with
    it; ``speaker`` when it was trained with the reference prompt). A dataset whose ``majority_label`` class order
    differs from the model's is refused.
    """
    import torch
    from datasets import Audio
    from hf_ambiguity.progress import progress_bar as tqdm

    from hf_ambiguity.schema import class_names as dataset_class_names
    from hf_ambiguity.audio import waveform
    from hf_ambiguity.training.data import DistributionCollator, TrainingDataError
    from hf_ambiguity.training.model import MODEL_INPUT_KEYS

    if not isinstance(model, TrainedModel):
        raise TypeError(f"model must be a TrainedModel from load_trained(), got {type(model).__name__}")
    if "audio" not in dataset.column_names:
        raise TrainingDataError(f"dataset has no 'audio' column (columns: {dataset.column_names})")
    if len(dataset) == 0:
        raise TrainingDataError("dataset is empty: nothing to predict")
    try:
        names = list(class_names) if class_names is not None else dataset_class_names(dataset)
    except ValueError:
        names = list(model.class_names)
    if list(names) != list(model.class_names):
        raise TrainingDataError(f"the dataset's classes {names} differ from the model's {list(model.class_names)}; "
                                "predictions are in the model's order, so check which class set you built")
    cfg = model.info.get("config", {})
    prompt = cfg.get("prompt", "project")
    if prompt == "reference" and model.head == "attention" and "speaker" not in dataset.column_names:
        raise TrainingDataError(f"the model was trained with the reference prompt, which names the speaker, but the "
                                f"dataset has no 'speaker' column (columns: {dataset.column_names})")
    sr = int(cfg.get("sampling_rate", 16000))
    max_samples = int(float(cfg.get("max_audio_seconds", 30.0)) * sr)
    collator = DistributionCollator(model.processor, model.class_names, head=model.head,
                                    include_transcript=bool(cfg.get("include_transcript", True)),
                                    max_text_tokens=int(cfg.get("max_text_tokens", 512)), sampling_rate=sr,
                                    prompt=prompt)
    keep = ["audio"] + [c for c in ("transcript", "speaker") if c in dataset.column_names]
    ds = dataset.select_columns(keep).cast_column("audio", Audio(sampling_rate=sr))
    device = next(model.model.parameters()).device
    out = np.zeros((len(ds), len(model.class_names)))
    with torch.no_grad():
        for start in tqdm(range(0, len(ds), batch_size), disable=not progress, desc="predicting"):
            rows = []
            for i in range(start, min(start + batch_size, len(ds))):
                r = ds[i]
                rows.append({"index": i, "audio": waveform(r["audio"], expected_rate=sr)[0][:max_samples],
                             "transcript": r.get("transcript") or "", "speaker": r.get("speaker"),
                             "target": np.zeros(len(model.class_names), dtype=np.float32)})
            batch = collator(rows)
            logp = model.model(**{k: batch[k].to(device) for k in MODEL_INPUT_KEYS if k in batch})
            out[start:start + len(rows)] = logp.float().exp().cpu().numpy()
    return out / out.sum(axis=1, keepdims=True)
