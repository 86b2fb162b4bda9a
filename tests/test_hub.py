"""Hub layout export (round trip through datasets.load_dataset), dataset card, push (mocked HfApi) and the
``hf-ambiguity build`` command end to end."""

from __future__ import annotations

import json
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest
import yaml

from hf_ambiguity import cli
from hf_ambiguity.builders import build_dataset
from hf_ambiguity.hub.card import CARD_INFO_FILE, add_provenance, gating_metadata, read_card_info, template_path
from hf_ambiguity.hub import LicenseNotAcknowledgedError, export_to_hub_layout, push_dataset
from helpers import (
    IEMOCAP_BAD_FILE,
    break_iemocap,
    decoded_samples,
    without_audio,
    write_corpora,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("hub")
    iem, msp = write_corpora(root / "raw")
    iem_ds, iem_rep = build_dataset("iemocap", iem, cache_dir=root / "cache", progress=False)
    msp_ds, msp_rep = build_dataset("msp-podcast", msp, class_set="msp-4", cache_dir=root / "cache", progress=False)
    return {"root": root, "iem": (iem_ds, iem_rep), "msp": (msp_ds, msp_rep), "iem_dir": iem, "msp_dir": msp}


def _front_matter(readme: Path) -> dict[str, Any]:
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


@pytest.mark.parametrize("corpus", ["iem", "msp"])
def test_export_round_trip_identical_rows_and_audio(built, corpus: str, tmp_path: Path) -> None:
    dsdict, report = built[corpus]
    out = tmp_path / "export"
    result = export_to_hub_layout(dsdict, out, card_info=report.card_info(), progress=False)
    for split in dsdict:
        assert result.data_files[split] == (f"data/{split}-00000-of-00001.parquet",)
        assert (out / result.data_files[split][0]).is_file()
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "load-cache"))
    assert list(loaded) == list(dsdict)
    for split in dsdict:
        assert loaded[split].features == dsdict[split].features
        assert without_audio(loaded[split]) == without_audio(dsdict[split])
        for i in range(len(dsdict[split])):
            np.testing.assert_array_equal(decoded_samples(loaded[split][i]["audio"]),
                                          decoded_samples(dsdict[split][i]["audio"]))


def test_card_front_matter_and_body(built, tmp_path: Path) -> None:
    dsdict, report = built["iem"]
    info = add_provenance(report.card_info(), "synthetic", {"model": "tiny-qwen2-audio", "samples": 5})
    export_to_hub_layout(dsdict, tmp_path, card_info=info, progress=False)
    meta = _front_matter(tmp_path / "README.md")
    assert meta["license"] == "other" and meta["license_link"] == "https://sail.usc.edu/iemocap/"
    assert meta["pretty_name"].startswith("IEMOCAP") and "iemocap" in meta["tags"]
    (config,) = meta["configs"]
    assert config["config_name"] == "iemocap-4" and config["default"] is True
    assert [f["split"] for f in config["data_files"]] == ["session1", "session3", "session5"]
    assert meta["dataset_info"]["config_name"] == "iemocap-4"
    assert {s["name"]: s["num_examples"] for s in meta["dataset_info"]["splits"]} == \
        {k: len(v) for k, v in dsdict.items()}
    label = next(f for f in meta["dataset_info"]["features"] if f["name"] == "majority_label")
    assert label["dtype"]["class_label"]["names"] == {"0": "neutral", "1": "happy", "2": "angry", "3": "sad"}
    audio = next(f for f in meta["dataset_info"]["features"] if f["name"] == "audio")
    assert audio["dtype"]["audio"]["sampling_rate"] == 16000

    # Hub metadata a dataset page shows, read back through huggingface_hub's own card classes
    from huggingface_hub import DatasetCard, DatasetCardData

    card = DatasetCard.load(tmp_path / "README.md")
    assert isinstance(card.data, DatasetCardData)
    assert card.data.task_categories == ["audio-classification"]
    assert card.data.task_ids == ["audio-emotion-recognition"]
    assert card.data.annotations_creators == ["expert-generated"]  # human-only build: no machine labels yet
    assert card.data.multilinguality == ["monolingual"] and card.data.language == ["en"]
    assert card.data.source_datasets == ["extended|other-iemocap"]
    assert "extra_gated_prompt" not in meta  # not gated unless asked
    # a small header: the machine-readable card information is in provenance.json, not in the YAML
    assert "hf_ambiguity" not in meta and "build_report_markdown" not in card.content.split("---")[1]
    header = (tmp_path / "README.md").read_text(encoding="utf-8").split("---\n")[1]
    assert len(header.encode()) < 4000, len(header.encode())

    body = (tmp_path / "README.md").read_text(encoding="utf-8").split("---\n", 2)[2]
    counts = report.read_report.class_counts
    for cls in ("neutral", "happy", "angry", "sad"):
        row = next(line for line in body.splitlines() if line.startswith(f"| {cls} |"))
        assert f"| {counts[cls]} |" in row  # total column of the class table
    for level, n in report.read_report.ambiguity_counts.items():
        assert any(line.startswith(f"| {level} |") and line.endswith(f"| {n} |") for line in body.splitlines())
    assert "licence agreement that does not allow redistribution" in body
    assert "- `synthetic`: `model` = `tiny-qwen2-audio`, `samples` = `5`" in body
    assert f"[`{CARD_INFO_FILE}`]({CARD_INFO_FILE})" in body  # the full record is linked, not repeated
    assert "IEMOCAP read report" in body and "Ambiguity definition `reference`" in body
    for section in ("## Uses", "**Out-of-scope use.**", "## Bias, Risks and Limitations", "### Example",
                    "## Citation"):
        assert section in body, section
    first = dsdict["session1"][0]
    assert f"| `id` | `\"{first['id']}\"` |" in body and "| `ambiguity` | `" in body  # one example row
    assert "https://arxiv.org/abs/2601.14620" in body and "@inproceedings{zhang2026scaling" in body
    assert "@software{hf_ambiguity" in body and "@article{busso2008iemocap" in body and "${" not in body

    # the machine-readable card info comes back, ready for the next stage to extend and re-export
    back = read_card_info(tmp_path)
    assert back == info
    again = add_provenance(back, "dime-aug", {"ratio": 0.3})
    export_to_hub_layout(dsdict, tmp_path, card_info=again, overwrite=True, progress=False)
    assert [k for k, _ in read_card_info(tmp_path).provenance] == ["synthetic", "dime-aug"]
    saved = json.loads((tmp_path / CARD_INFO_FILE).read_text(encoding="utf-8"))
    assert saved["provenance"][0] == {"key": "synthetic", "data": {"model": "tiny-qwen2-audio", "samples": 5}}


def test_export_shards_refusal_and_embedding(built, tmp_path: Path) -> None:
    dsdict, report = built["iem"]
    out = tmp_path / "sharded"
    result = export_to_hub_layout(dsdict, out, card_info=report.card_info(), max_shard_bytes=1, progress=False)
    n = len(dsdict["session5"])
    assert result.data_files["session5"] == tuple(f"data/session5-{i:05d}-of-{n:05d}.parquet" for i in range(n))
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "c1"))
    assert without_audio(loaded["session5"]) == without_audio(dsdict["session5"])
    with pytest.raises(FileExistsError, match="is not empty; pass overwrite=True"):
        export_to_hub_layout(dsdict, out, card_info=report.card_info(), progress=False)

    # a dataset whose audio refers to files gets the bytes embedded: the folder no longer needs them
    wav_dir = tmp_path / "wavs"
    wav_dir.mkdir()
    ds = dsdict["session1"]
    plain = ds.cast_column("audio", datasets.Audio(decode=False))
    paths = []
    for row in plain:
        p = wav_dir / row["audio"]["path"]
        p.write_bytes(row["audio"]["bytes"])
        paths.append(str(p))
    by_path = ds.remove_columns("audio").add_column("audio", paths).cast_column(
        "audio", datasets.Audio(sampling_rate=16000))
    by_path = by_path.select_columns(ds.column_names).cast(ds.features)
    res = export_to_hub_layout(datasets.DatasetDict({"session1": by_path}), tmp_path / "embedded",
                               card_info=report.card_info(), max_shard_bytes=1, progress=False)
    assert len(res.data_files["session1"]) == len(ds) > 1  # embedded shard by shard
    for p in paths:
        Path(p).unlink()
    loaded = datasets.load_dataset(str(tmp_path / "embedded"), cache_dir=str(tmp_path / "c2"))
    assert without_audio(loaded["session1"]) == without_audio(ds)
    for i in range(len(ds)):
        np.testing.assert_array_equal(decoded_samples(loaded["session1"][i]["audio"]),
                                      decoded_samples(ds[i]["audio"]))


class FakeApi:
    """Records what push_dataset asks of huggingface_hub.HfApi; ``public_repo`` simulates an existing public repo."""

    instances: list["FakeApi"] = []

    def __init__(self, token: str | None = None, public_repo: bool = False, fail_with: str = "") -> None:
        self.token, self.public_repo, self.fail_with = token, public_repo, fail_with
        self.calls: list[tuple[str, dict[str, Any]]] = []
        FakeApi.instances.append(self)

    def create_repo(self, repo_id: str, **kw: Any) -> str:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kw}))
        self.private = False if self.public_repo else kw["private"]
        return f"https://huggingface.co/datasets/{repo_id}"

    def repo_info(self, repo_id: str, **kw: Any) -> Any:
        return type("Info", (), {"private": self.private})()

    def update_repo_settings(self, repo_id: str, **kw: Any) -> None:
        self.calls.append(("update_repo_settings", {"repo_id": repo_id, **kw}))
        if kw.get("private") is not None:
            self.private = kw["private"]

    def upload_folder(self, **kw: Any) -> Any:
        if self.fail_with:
            raise OSError(self.fail_with)
        self.calls.append(("upload_folder", kw))
        files = [p.relative_to(kw["folder_path"]).as_posix() for p in Path(kw["folder_path"]).rglob("*") if p.is_file()]
        self.uploaded = sorted(f for f in files if any(fnmatch(f, pat) for pat in kw.get("allow_patterns") or ["*"]))
        return type("Commit", (), {"commit_url": f"https://huggingface.co/datasets/{kw['repo_id']}/commit/1"})()


def test_push_private_by_default_and_refusals(built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    dsdict, report = built["iem"]
    folder = export_to_hub_layout(dsdict, tmp_path / "f", card_info=report.card_info(), progress=False).folder
    FakeApi.instances.clear()
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    res = push_dataset(folder, "me/iemocap-ambig", token="hf_SECRET123")
    api = FakeApi.instances[-1]
    assert api.token == "hf_SECRET123"
    (name, kw), (name2, kw2) = api.calls
    assert name == "create_repo" and kw["private"] is True and kw["repo_type"] == "dataset"
    assert name2 == "upload_folder" and kw2["repo_type"] == "dataset" and kw2["folder_path"] == str(folder)
    assert kw2["allow_patterns"] == ["README.md", "provenance.json", "data/*.parquet"]
    assert kw2["delete_patterns"] == ["data/*"]  # shards of an earlier push that this export lacks are removed
    assert res.private is True and "hf_SECRET123" not in repr(res)

    n = len(FakeApi.instances)
    with pytest.raises(LicenseNotAcknowledgedError, match="refusing to push 'me/x' publicly.*license_acknowledged"):
        push_dataset(folder, "me/x", private=False, token="hf_SECRET123")
    assert len(FakeApi.instances) == n  # refused before any Hub call
    res = push_dataset(folder, "me/x", private=False, license_acknowledged=True)
    assert FakeApi.instances[-1].calls[0][1]["private"] is False and res.private is False
    push_dataset(folder, "me/open-data", private=False, licensed=False)  # an unlicensed dataset may go public

    # an existing public repo is not silently written to
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: FakeApi(token, public_repo=True))
    with pytest.raises(LicenseNotAcknowledgedError, match="already exists and is public"):
        push_dataset(folder, "me/public-repo")
    # errors never carry the token
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: FakeApi(token, fail_with="401 hf_SECRET123"))
    with pytest.raises(RuntimeError, match="push to 'me/y' failed: 401 <token>") as err:
        push_dataset(folder, "me/y", token="hf_SECRET123")
    assert "hf_SECRET123" not in str(err.value)
    with pytest.raises(ValueError, match="needs card_info"):
        push_dataset(dsdict, "me/z")


def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = cli.main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_cli_build_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    iem, msp = write_corpora(tmp_path / "raw")
    lineno, deleted = break_iemocap(iem)
    common = ["--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    out = tmp_path / "out"

    rc, _, err = _run_cli(["build", "iemocap", "--data-dir", str(iem), "--out", str(out), *common], capsys)
    assert rc == 1 and f"{IEMOCAP_BAD_FILE}:{lineno}: malformed categorical line" in err
    assert not (out / "README.md").exists()

    rc, _, err = _run_cli(["build", "iemocap", "--data-dir", str(iem), "--out", str(out), *common,
                           "--ambiguity", "fixed", "--ambiguity-cuts", "0.7", "0.2"], capsys)
    assert rc == 2 and "--ambiguity-cuts: ambiguity_cuts must be two numbers 0 <= low < high <= 1" in err

    rc, _, err = _run_cli(["build", "iemocap", "--data-dir", str(iem), "--out", str(out), *common,
                           "--push", "me/x", "--public"], capsys)
    assert rc == 2 and "--i-have-a-license" in err and not (out / "README.md").exists()

    FakeApi.instances.clear()
    import huggingface_hub
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    rc, stdout, _ = _run_cli(["build", "iemocap", "--data-dir", str(iem), "--out", str(out), *common,
                              "--lenient", "--self-evaluations", "--push", "me/iemocap-ambig"], capsys)
    assert rc == 0
    report = json.loads((out / "build_report.json").read_text())
    rr = report["read_report"]
    assert rr["skipped"]["missing audio"] == 1 and rr["notes"]["malformed lines skipped"] == 1
    assert report["options"]["include_self_evaluations"] is True and report["options"]["strict"] is False
    assert f"- utterances read: {rr['utterances_read']}" in stdout
    assert "| missing audio | 1 |" in stdout and "| Other |" in stdout
    for cls, n in rr["class_counts"].items():
        assert f"| {cls} | {n} |" in stdout
    for level, n in rr["ambiguity_counts"].items():
        assert f"| {level} | {n} |" in stdout
    assert (out / "build_report.md").read_text() in stdout
    assert "Pushed to https://huggingface.co/datasets/me/iemocap-ambig (private)" in stdout
    api = FakeApi.instances[-1]
    assert api.calls[0][1]["private"] is True
    assert "README.md" in api.uploaded and "build_report.json" not in api.uploaded  # names local paths: not uploaded
    assert all(f in ("README.md", "provenance.json") or f.startswith("data/") for f in api.uploaded)
    assert str(tmp_path) not in (out / "README.md").read_text() + (out / "provenance.json").read_text()
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "load"))
    ids = [i for split in loaded.values() for i in split["id"]]
    assert deleted not in ids and len(ids) == rr["utterances_kept"]

    rc, _, err = _run_cli(["build", "iemocap", "--data-dir", str(iem), "--out", str(out), *common], capsys)
    assert rc == 2 and "--overwrite" in err

    rc, stdout, _ = _run_cli(["build", "msp-podcast", "--data-dir", str(msp), "--out", str(tmp_path / "msp"),
                              *common, "--class-set", "msp-4", "--ambiguity", "fixed"], capsys)
    assert rc == 0 and "MSP-Podcast read report (class set `msp-4`)" in stdout
    meta = _front_matter(tmp_path / "msp" / "README.md")
    assert meta["configs"][0]["config_name"] == "msp-4"
    assert read_card_info(tmp_path / "msp").options["ambiguity"] == "fixed"


def test_gated_push_creates_private_gates_uploads_then_opens(built, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub
    from huggingface_hub import DatasetCard

    dsdict, report = built["iem"]
    info = report.card_info()
    plain = export_to_hub_layout(dsdict, tmp_path / "plain", card_info=info, progress=False).folder
    gated = export_to_hub_layout(dsdict, tmp_path / "gated", card_info=info, progress=False, gated="manual").folder
    meta = DatasetCard.load(gated / "README.md").data.to_dict()
    assert meta == {**DatasetCard.load(plain / "README.md").data.to_dict(), **gating_metadata(info)}
    assert "IEMOCAP" in meta["extra_gated_prompt"] and "https://sail.usc.edu/iemocap/" in meta["extra_gated_prompt"]
    assert any(kind == "checkbox" and "licence" in label for label, kind in meta["extra_gated_fields"].items())
    assert "This repository is **gated**" in (gated / "README.md").read_text()

    FakeApi.instances.clear()
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    with pytest.raises(LicenseNotAcknowledgedError, match="refusing to push 'me/g' gated.*license_acknowledged"):
        push_dataset(gated, "me/g", gated="manual")
    with pytest.raises(ValueError, match="no access form.*gated='manual'"):
        push_dataset(plain, "me/g", gated="manual", license_acknowledged=True)
    with pytest.raises(ValueError, match="private=True and gated='auto' contradict"):
        push_dataset(gated, "me/g", gated="auto", private=True, license_acknowledged=True)
    assert not FakeApi.instances  # every refusal came before any Hub call
    res = push_dataset(gated, "me/g", gated="manual", license_acknowledged=True)
    calls = [(name, {k: v for k, v in kw.items() if k in ("private", "gated")}) for name, kw in
             FakeApi.instances[-1].calls]
    # private first, gated before any file is uploaded, visible only at the end
    assert calls == [("create_repo", {"private": True}), ("update_repo_settings", {"gated": "manual"}),
                     ("upload_folder", {}), ("update_repo_settings", {"private": False})]
    assert res.gated == "manual" and res.private is False


def test_card_never_records_a_machine_path(built, tmp_path: Path) -> None:
    from hf_ambiguity.hub.card import add_provenance_to_card, portable_paths
    from hf_ambiguity.provenance import attach_provenance

    dsdict, report = built["iem"]
    run = tmp_path / "run"
    model = run / "00_model" / "model"
    ds = attach_provenance(dsdict["session1"], "synthetic",
                           {"backend": {"model": str(model)}, "cache": str(tmp_path / "elsewhere" / "cache")})
    info = add_provenance_to_card(report.card_info(), ds, base=run)
    block = dict(info.provenance)["synthetic"]
    assert block == {"backend": {"model": "00_model/model"}, "cache": "local:cache"}
    # a card built without a base still never shows the path (safety net at render time)
    raw = add_provenance(report.card_info(), "other", {"model": str(model)})
    out = export_to_hub_layout(dsdict, tmp_path / "export", card_info=raw, progress=False).folder
    for name in ("README.md", CARD_INFO_FILE):
        assert str(tmp_path) not in (out / name).read_text(encoding="utf-8"), name
    assert dict(read_card_info(out).provenance)["other"] == {"model": "local:model"}
    assert portable_paths({"id": "Qwen/Qwen2-Audio-7B-Instruct", "url": "https://x.org/a/b"}) == \
        {"id": "Qwen/Qwen2-Audio-7B-Instruct", "url": "https://x.org/a/b"}


def test_cards_of_earlier_versions_are_still_read(built, tmp_path: Path) -> None:
    """Folders exported before provenance.json kept the card information in the YAML header."""
    dsdict, report = built["iem"]
    info = add_provenance(report.card_info(), "dime-aug", {"ratio": 0.3})
    out = export_to_hub_layout(dsdict, tmp_path / "old", card_info=info, progress=False).folder
    (out / CARD_INFO_FILE).unlink()
    text = (out / "README.md").read_text(encoding="utf-8")
    legacy = yaml.safe_dump({"hf_ambiguity": info.to_yaml_dict()})
    (out / "README.md").write_text(text.replace("---\n", "---\n" + legacy, 1), encoding="utf-8")
    assert read_card_info(out) == info
    (out / "README.md").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="no provenance.json, so it was not exported by hf-ambiguity"):
        read_card_info(out)


def test_cli_build_gated_push(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    iem, _ = write_corpora(tmp_path / "raw")
    common = ["build", "iemocap", "--data-dir", str(iem), "--cache-dir", str(tmp_path / "cache"), "--no-progress",
              "--push", "me/iemocap-ambig"]
    rc, _, err = _run_cli([*common, "--out", str(tmp_path / "a"), "--gated"], capsys)
    assert rc == 2 and "refusing a gated push" in err and not (tmp_path / "a").exists()
    rc, _, err = _run_cli([*common, "--out", str(tmp_path / "a"), "--gated", "--public", "--i-have-a-license"],
                          capsys)
    assert rc == 2 and "--public and --gated contradict" in err
    FakeApi.instances.clear()
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    rc, out, _ = _run_cli([*common, "--out", str(tmp_path / "a"), "--gated", "--i-have-a-license"], capsys)
    assert rc == 0 and "(gated, manual approval)" in out
    assert ("update_repo_settings", {"repo_id": "me/iemocap-ambig", "gated": "manual", "repo_type": "dataset"}) \
        in FakeApi.instances[-1].calls
    assert "extra_gated_prompt" in _front_matter(tmp_path / "a" / "README.md")
