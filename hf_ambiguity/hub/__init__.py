"""Datasets on the Hugging Face Hub: the dataset card (:mod:`.card`), the export in the exact Hub layout plus the
(private by default, or gated) push (:mod:`.export`), and opening a dataset by Hub id or local folder (:mod:`.load`)."""

from __future__ import annotations

from hf_ambiguity.hub.export import (
    DEFAULT_MAX_SHARD_BYTES, ExportResult, LicenseNotAcknowledgedError, PushResult, export_to_hub_layout, push_dataset,
)
from hf_ambiguity.hub.load import load_dataset_dict

__all__ = ["ExportResult", "PushResult", "export_to_hub_layout", "push_dataset", "LicenseNotAcknowledgedError",
           "DEFAULT_MAX_SHARD_BYTES", "load_dataset_dict"]
