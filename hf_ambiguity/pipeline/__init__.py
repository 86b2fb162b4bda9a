"""``hf-ambiguity run``: the whole method as resumable, content-hashed stages, from raw corpus to report.

>>> from hf_ambiguity.pipeline import load_config
>>> load_config("demo").protocol
'demo'
"""

from __future__ import annotations

from hf_ambiguity.pipeline.config import (
    BUNDLED_CONFIGS, ConfigError, PipelineConfig, bundled_config_path, config_from_dict, config_to_dict, load_config,
)
from hf_ambiguity.pipeline.plan import RunOutcome, plan_stages, run_pipeline
from hf_ambiguity.pipeline.runner import STAGE_FOLDERS

__all__ = ["BUNDLED_CONFIGS", "ConfigError", "PipelineConfig", "bundled_config_path", "config_from_dict",
           "config_to_dict", "load_config", "STAGE_FOLDERS", "RunOutcome", "plan_stages", "run_pipeline"]
