"""Datasets on the Hugging Face Hub: the dataset card (:mod:`.card`) and the export in the exact Hub layout plus the
(private by default) push (:mod:`.export`)."""

from __future__ import annotations

from hf_ambiguity.hub.export import (
    DEFAULT_MAX_SHARD_BYTES, ExportResult, LicenseNotAcknowledgedError, PushResult, export_to_hub_layout, push_dataset,
)

__all__ = ["ExportResult", "PushResult", "export_to_hub_layout", "push_dataset", "LicenseNotAcknowledgedError",
           "DEFAULT_MAX_SHARD_BYTES"]
