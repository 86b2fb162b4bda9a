"""``dataset_scripts/<name>/``: one folder per Hub dataset with its card template (the package's, byte for byte) and
the recipe that builds and pushes it; no loading scripts, no Python wrappers, no symlinks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from helpers import write_corpora
from hf_ambiguity.hub.card import read_card_info, template_path

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"iemocap_ambig": "iemocap", "msp_podcast_ambig": "msp-podcast"}


def _cli_on_path(tmp_path: Path) -> dict[str, str]:
    """An environment in which ``hf-ambiguity`` runs this checkout with this interpreter."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    shim = bindir / "hf-ambiguity"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hf_ambiguity "$@"\n')
    shim.chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), "TQDM_DISABLE": "1",
            "HF_DATASETS_CACHE": str(tmp_path / "hf-cache")}


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_folder_holds_the_package_template_and_a_recipe(name: str) -> None:
    folder = REPO / "dataset_scripts" / name
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["README.md", "card_template.md", "recipe.sh"]
    assert not any(p.is_symlink() for p in folder.rglob("*"))  # symlinks break on Windows and in archives
    package = template_path(f"{name}.md").read_bytes()
    assert (folder / "card_template.md").read_bytes() == package, (
        f"dataset_scripts/{name}/card_template.md differs from hf_ambiguity/templates/{name}.md; refresh the copy: "
        f"cp hf_ambiguity/templates/{name}.md dataset_scripts/{name}/card_template.md")
    assert f"hf-ambiguity build {FOLDERS[name]}" in (folder / "README.md").read_text()


@pytest.mark.parametrize(("name", "build"), [("iemocap_ambig", True), ("msp_podcast_ambig", False)])
def test_recipe_builds_the_hub_folder_and_refuses_an_unacknowledged_gated_push(name: str, build: bool,
                                                                               tmp_path: Path) -> None:
    """The IEMOCAP recipe builds (the MSP-Podcast one differs only by corpus name and default class set, and its
    build command runs verbatim in tests/test_readme_commands.py); both refuse what they must refuse."""
    iem, msp = write_corpora(tmp_path / "raw")
    env = {**_cli_on_path(tmp_path), "DATA_DIR": str(iem if FOLDERS[name] == "iemocap" else msp),
           "OUT": str(tmp_path / "out")}
    recipe = REPO / "dataset_scripts" / name / "recipe.sh"
    assert f"build {FOLDERS[name]} " in recipe.read_text()
    if build:
        _check_build(recipe, env, tmp_path, FOLDERS[name])
    gated = {**env, "OUT": str(tmp_path / "gated"), "REPO_ID": "me/x", "ACCESS": "gated"}
    res = subprocess.run(["bash", str(recipe)], env=gated, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "refusing a gated push" in res.stderr and not (tmp_path / "gated").exists()
    res = subprocess.run(["bash", str(recipe)], env={**gated, "ACCESS": "public"}, capture_output=True, text=True)
    assert res.returncode == 2 and "ACCESS must be private or gated" in res.stderr
    res = subprocess.run(["bash", str(recipe)], env={k: v for k, v in env.items() if k != "DATA_DIR"},
                         capture_output=True, text=True)
    assert res.returncode != 0 and "set DATA_DIR" in res.stderr


def _check_build(recipe: Path, env: dict[str, str], tmp_path: Path, corpus: str) -> None:
    res = subprocess.run(["bash", str(recipe)], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == \
        ["README.md", "build_report.json", "build_report.md", "data", "provenance.json"]
    loaded = datasets.load_dataset(str(tmp_path / "out"), cache_dir=str(tmp_path / "load"))
    assert sum(len(s) for s in loaded.values()) > 0 and "human_dist" in next(iter(loaded.values())).column_names
    assert read_card_info(tmp_path / "out").corpus == corpus
    assert "## Bias, Risks and Limitations" in (tmp_path / "out" / "README.md").read_text()
