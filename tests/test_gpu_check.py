"""bench/gpu_check.py in its dry mode (tiny config, CPU): every measurement runs and lands in the JSON, with
datasets, evaluate and torchcodec made unimportable as on the GPU machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_BLOCKED_RUN = """
import runpy, sys
class Absent:  # the GPU machine has none of these packages
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("datasets", "evaluate", "torchcodec"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Absent())
sys.argv = ["bench/gpu_check.py", "--dry", "--out", sys.argv[1]]
runpy.run_path("bench/gpu_check.py", run_name="__main__")
"""


def test_gpu_check_dry_run_without_datasets(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-c", _BLOCKED_RUN, str(out)], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["run"]["dry"] is True and data["model"]["parameters"] > 0
    modes = {row["mode"]: row for row in data["annotation"]}
    assert set(modes) == {"score", "expected", "sample"}
    assert all(row["utterances_per_s"] > 0 and row["model_tflops_per_batch"] >= 0 for row in modes.values())
    assert data["ratio_expected_over_sample"] == round(data["best_utterances_per_s"]["expected"]
                                                       / data["best_utterances_per_s"]["sample"], 2)
    assert data["lora_training"]["preset"] == "paper" and data["lora_training"]["samples_per_s"] > 0
    for layout in ("audio_first", "text_first"):  # fp32 on the CPU: expected mode equals brute force
        check = data["expected_vs_brute_force"]["float32"][layout]
        assert check["max_abs_logprob_difference"] < 1e-4, check
        assert check["max_abs_class_probability_difference"] < 1e-5, check
    assert data["imported_modules_of_absent_packages"] == [] and "skipped" not in data
    assert "[gpu_check" in res.stdout  # progress is printed as it goes
