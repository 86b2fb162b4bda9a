"""The model card of a trained adapter + head (``README.md`` of the output folder), and pushing to the Hub.

The card (``huggingface_hub.ModelCard``) says what a reader needs to judge the model: the base model, the dataset
and split, the target distribution column, the preset and the options that differ from it, the test alignment per
ambiguity level against the run's own target *and* the human distributions, how to load it, and its limits.
:func:`push_to_hub` uploads the adapter, the head, the card and the run's configuration and results to a
**private** model repository unless the user asked for a public one; the token is never printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hf_ambiguity.training.outputs import ADAPTER_DIR, HEAD_FILE, RESULTS_FILE, TRAINING_CONFIG_FILE, alignment_tables

__all__ = ["model_card", "push_to_hub", "PUSHED_FILES"]

#: What ``--push_to_hub`` uploads from the output folder (never checkpoints, logs or test predictions).
PUSHED_FILES = (f"{ADAPTER_DIR}/*", HEAD_FILE, TRAINING_CONFIG_FILE, RESULTS_FILE, "summary.md", "README.md")


def _dataset_name(dataset: str) -> tuple[str, str | None]:
    """(how the card names the dataset, its Hub id or None for a local folder: local paths stay out of metadata)."""
    if Path(dataset).exists():
        return f"a local dataset folder (`{Path(dataset).name}`)", None
    return f"[`{dataset}`](https://huggingface.co/datasets/{dataset})", dataset


def model_card(results: dict[str, Any], config: dict[str, Any], *, preset_values: dict[str, Any]) -> str:
    """The card's text (YAML front matter + markdown) for a finished run.

    ``config``: the resolved training options; ``preset_values``: the values of the run's preset, so that the card
    lists the options the user changed.
    """
    from huggingface_hub import ModelCard, ModelCardData

    dataset_text, dataset_id = _dataset_name(config["dataset"])
    base = config["model"]
    base_id = None if Path(base).exists() else base
    data = ModelCardData(
        base_model=base_id, datasets=[dataset_id] if dataset_id else None, library_name="peft",
        tags=["hf-ambiguity", "speech-emotion-recognition", "emotion-distribution", "lora"],
    )
    changed = {k: v for k, v in config.items() if k in preset_values and preset_values[k] != v}
    changed_text = ", ".join(f"`--{k} {v}`" for k, v in sorted(changed.items())) or "none"
    split = results["split"]
    lines = [
        "# Emotion-distribution model (hf-ambiguity)", "",
        f"A LoRA adapter and a distribution head on `{base}` that predict a probability distribution over the "
        f"emotion classes {', '.join(f'`{c}`' for c in split['class_names'])} for a speech clip, trained with "
        "hf-ambiguity to match the distribution of annotators' labels rather than one "
        "majority label.", "",
        "## Training", "",
        f"- base model: `{base}`; head: {results['head']}",
        f"- dataset: {dataset_text}; target column: `{results['target']}`",
        f"- split: {split['description']}; sizes {split['sizes']}",
        f"- preset: `{config['preset']}`; options changed from it: {changed_text}",
        f"- optimizer steps: {results['completed_steps']} of {results['max_train_steps']} (best validation loss at "
        f"step {results['best_step']}; stopped early: {results['stopped_early']}); "
        f"{results['num_processes']} process(es), mixed precision {results['mixed_precision']}", "",
        "## Test alignment by ambiguity level", "",
        "Jensen-Shannon divergence (base 2), Bhattacharyya coefficient and the accuracy of the most probable class, "
        f"on the {split['sizes'].get('test', '?')} test utterances, overall and per ambiguity level of the "
        "human labels.", "",
        *alignment_tables(results),
        "## Use", "",
        "```python",
        "from hf_ambiguity.training import load_trained, predict_distributions",
        "model = load_trained(\"<this folder or a snapshot_download of this repository>\")",
        "probs = predict_distributions(model, dataset)  # dataset: audio (+ transcript) columns",
        "```", "",
        "## Limits", "",
        "- The scores above come from one test split of one dataset; they say nothing about other corpora, languages "
        "or recording conditions, and small ambiguity levels have wide uncertainty.",
        "- The model predicts how annotators of this dataset spread their labels, not what a speaker felt.",
        "- A random utterance split (the reference protocol) puts the same speakers in training and test; a "
        "speaker-independent split is the harder, more honest test.",
        "- The base model's licence and terms apply; a corpus whose licence forbids redistribution (e.g. IEMOCAP) "
        "restricts sharing derived models: check it before making this repository public.",
        "",
    ]
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines)))


def push_to_hub(output_dir: str | Path, repo_id: str, *, private: bool = True) -> str:
    """Upload :data:`PUSHED_FILES` of ``output_dir`` to model repository ``repo_id`` (created private unless
    ``private=False``); returns the repository URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=str(output_dir),
                      allow_patterns=list(PUSHED_FILES), commit_message="hf-ambiguity: adapter, head and model card")
    return f"https://huggingface.co/{repo_id}"
