"""Every folder a stage reads comes from params.yaml through the layout, never from the
environment: what a stage reads is what DVC hashes (``${paths.data_root}/<folder>``)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from ood_study.layout import Layout
from ood_study.params import load_params
from ood_study.stages import image_set

REPO = Path(__file__).resolve().parent.parent
RAW = yaml.safe_load((REPO / "params.yaml").read_text())


def _project(tmp_path, data_root: str, weights_dir=None):
    raw = copy.deepcopy(RAW)
    raw["paths"].update(data_root=data_root, weights_dir=weights_dir)
    raw["image_sets"] = {"sun": "SUN/images"}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_params(path)


def _images(root: Path, names) -> None:
    folder = root / "SUN" / "images"
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(name.encode())  # the manifest hashes bytes; nothing decodes them


def test_the_layout_resolves_the_three_folders_from_params_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("OOD_DATA_ROOT", "/somewhere/else")
    params = _project(tmp_path, "images_here", weights_dir="/abs/weights")
    layout = Layout(tmp_path)
    assert layout.data_root(params) == tmp_path / "images_here"
    assert layout.cache_dir(params) == tmp_path / "data" / "cache"
    assert layout.weights_dir(params) == Path("/abs/weights")
    assert layout.weights_dir(_project(tmp_path, "x")) is None  # empty: open_clip's default


def test_ood_data_root_in_the_environment_changes_nothing_a_stage_reads(tmp_path, monkeypatch):
    """With OOD_DATA_ROOT pointing at other images, the image_set stage still hashes the folder
    under paths.data_root (the one DVC hashes), so a changed image there re-runs it; changing
    paths.data_root is a params change DVC sees (the stage lists it)."""
    _images(tmp_path / "tracked", ["a.jpg", "b.jpg"])
    _images(tmp_path / "elsewhere", ["zzz.jpg"])
    monkeypatch.setenv("OOD_DATA_ROOT", str(tmp_path / "elsewhere"))
    params = _project(tmp_path, "tracked")
    layout = Layout(tmp_path)
    image_set.run(params.restricted([k.format(set="sun") for k in image_set.PARAMS]), layout, "sun")
    rows = layout.image_set_manifest("sun").read_text().splitlines()[1:]
    assert [r.split("\t")[0] for r in rows] == ["a.jpg", "b.jpg"]
    assert rows[0].split("\t")[1] == str(len(b"a.jpg"))

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    entry = stages["image_set"]["do"]
    assert entry["deps"][0] == "${paths.data_root}/${item}" and "paths.data_root" in entry["params"]
    sources = [p for p in (REPO / "ood_core").rglob("*.py")] + [p for p in (REPO / "ood_study").rglob("*.py")]
    readers = [p.relative_to(REPO).as_posix() for p in sources if "OOD_DATA_ROOT" in p.read_text()
               and "features" not in p.parts]
    assert not readers, f"these read the data root from the environment: {readers}"
