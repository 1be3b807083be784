"""OpenOOD v1.5's ImageNet-1k setting: registry entries, params groups, near/far averages, report tables."""

import copy
import dataclasses
import io
import json
import math
from pathlib import Path

import pytest
import yaml
from PIL import Image

from ood_core.features import image_sets
from ood_core.metrics import group_averages
from ood_core.text.imagenet import imagenet_classnames
from ood_study import report
from ood_study.layout import Layout, study_name
from ood_study.params import StudyParams, load_params, parse_tree

REPO = Path(__file__).resolve().parent.parent
_JPEG = io.BytesIO()
Image.new("RGB", (6, 5), (200, 10, 30)).save(_JPEG, format="JPEG")
JPEG = _JPEG.getvalue()

# OpenOOD v1.5 ImageNet-1k: list file, image folder and size of each set (OpenOOD's
# evaluation_api/datasets.py for the lists and folders; sizes as documented in docs/real_benchmarks.md)
EXPECTED = {
    "openood_imagenet1k": ("benchmark_imglist/imagenet/test_imagenet.txt", "images_largescale", 45_000),
    "ssb_hard": ("benchmark_imglist/imagenet/test_ssb_hard.txt", "images_largescale", 49_000),
    "ninco": ("benchmark_imglist/imagenet/test_ninco.txt", "images_largescale", 5_879),
    "openood_inaturalist": ("benchmark_imglist/imagenet/test_inaturalist.txt", "images_largescale", 10_000),
    "openood_textures": ("benchmark_imglist/imagenet/test_textures.txt", "images_classic", 5_160),
    "openimage_o": ("benchmark_imglist/imagenet/test_openimage_o.txt", "images_largescale", 15_869),
}
NEAR, FAR = ("ssb_hard", "ninco"), ("openood_inaturalist", "openood_textures", "openimage_o")


def _write(path: Path, data: bytes = JPEG) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _make_openood(root: Path, name: str, rel: list[str], label: str = "-1", extra_lines: str = "") -> Path:
    """Write OpenOOD's list for ``name`` naming ``rel`` (with labels) and the images under its folder."""
    list_file, base, _ = EXPECTED[name]
    for r in rel:
        _write(root / "openood" / base / r)
    list_path = root / "openood" / list_file
    list_path.parent.mkdir(parents=True, exist_ok=True)
    list_path.write_text("".join(f"{r} {label}\n" for r in rel) + extra_lines)
    return list_path


def _expect(monkeypatch, name: str, count: int) -> None:
    """Make the registry expect ``count`` images (the real sets hold thousands)."""
    spec = image_sets._SETS[name]
    split = dataclasses.replace(spec.splits[spec.default_split], expected_count=count)
    monkeypatch.setitem(image_sets._SETS, name,
                        dataclasses.replace(spec, splits={**spec.splits, spec.default_split: split}))


# --- registry ------------------------------------------------------------------------------------


def test_registry_has_openood_lists_folders_and_counts():
    for name, (list_file, base, count) in EXPECTED.items():
        d = image_sets.image_set(name, "/data")
        assert d.path == Path("/data/openood") and d.expected_count == count
        assert list_file in d.layout and f"openood/{base}/" in d.layout and f"{count:,}" in d.layout
        assert "download.py" in d.download and "OpenOOD" in d.download
    assert image_sets.image_set("openood_imagenet1k", "/data").role == "id"
    assert all(image_sets.image_set(n, "/data").role == "ood" for n in (*NEAR, *FAR))
    # the OpenOOD versions of iNaturalist and Textures are separate entries from the MOS/DTD ones
    assert image_sets.image_set("textures", "/data").expected_count == 5_640 != EXPECTED["openood_textures"][2]
    assert image_sets.image_set("inaturalist", "/data").path != image_sets.image_set("openood_inaturalist", "/data").path
    assert image_sets.image_set("openimage_o", "/data", split="val").expected_count == 1_763
    assert image_sets.OPENOOD_V15_IMAGENET1K == {"id": "openood_imagenet1k", "near": NEAR, "far": FAR}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_a_generated_openood_layout_passes_check_and_lists_files_in_order(name, tmp_path, monkeypatch):
    folder = {"openood_textures": "texture/images/banded"}.get(name, name)
    rel = [f"{folder}/c.jpg", f"{folder}/a.JPEG", f"{folder}/sub/b.png"]
    _make_openood(tmp_path, name, rel, label="3" if name == "openood_imagenet1k" else "-1", extra_lines="\n")
    _expect(monkeypatch, name, 3)
    dataset = image_sets.image_set(name, tmp_path)
    result = dataset.check()
    assert result.ok, str(result)
    assert result.found_count == 3
    base = EXPECTED[name][1]
    assert [f.relative_to(tmp_path / "openood" / base).as_posix() for f in dataset.files()] == \
        [f"{folder}/a.JPEG", f"{folder}/c.jpg", f"{folder}/sub/b.png"]
    assert dataset.classnames == (imagenet_classnames() if name == "openood_imagenet1k" else None)
    image_sets.require(name, tmp_path)


def test_missing_list_names_the_list_layout_and_download(tmp_path):
    (tmp_path / "openood").mkdir()
    result = image_sets.image_set("ssb_hard", tmp_path).check()
    assert not result.ok
    assert result.problems == [f"split file {tmp_path / 'openood/benchmark_imglist/imagenet/test_ssb_hard.txt'} not found"]
    text = str(result)
    assert "Expected layout: openood/benchmark_imglist/imagenet/test_ssb_hard.txt" in text
    assert "--datasets ssb_hard" in text and "Vaze et al." in text
    with pytest.raises(FileNotFoundError, match=r"(?s)test_ssb_hard\.txt.*download\.py"):
        image_sets.image_set("ssb_hard", tmp_path).files()
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(FileNotFoundError, match=r"(?s)folder \S*elsewhere/openood does not exist.*test_ninco\.txt"):
        image_sets.require("ninco", tmp_path / "elsewhere")


def test_missing_images_and_wrong_image_folder_are_named(tmp_path, monkeypatch):
    _make_openood(tmp_path, "ninco", ["ninco/a.jpg", "ninco/b.jpg"])
    (tmp_path / "openood/images_largescale/ninco/b.jpg").unlink()
    _expect(monkeypatch, "ninco", 2)
    problems = image_sets.image_set("ninco", tmp_path).check().problems
    assert problems[0] == ("1 images named in benchmark_imglist/imagenet/test_ninco.txt are missing: "
                           "images_largescale/ninco/b.jpg")
    assert "1 images found, expected 2 (incomplete download or extraction?)" in problems
    # Textures sits in images_classic/ in OpenOOD; unpacked into images_largescale/ it is not found
    _make_openood(tmp_path, "openood_textures", [])
    for r in ("texture/images/x.jpg", "texture/images/y.jpg"):
        _write(tmp_path / "openood/images_largescale" / r)
    (tmp_path / "openood" / EXPECTED["openood_textures"][0]).write_text("texture/images/x.jpg -1\ntexture/images/y.jpg -1\n")
    _expect(monkeypatch, "openood_textures", 2)
    result = image_sets.image_set("openood_textures", tmp_path).check()
    assert "2 images named in benchmark_imglist/imagenet/test_textures.txt are missing: images_classic/texture/" \
           "images/x.jpg, images_classic/texture/images/y.jpg" in result.problems
    assert "under openood/images_classic/" in str(result) and "--datasets texture" in str(result)


def test_unreadable_images_and_escaping_paths_are_problems(tmp_path, monkeypatch):
    _make_openood(tmp_path, "openimage_o", ["openimage_o/a.jpg", "openimage_o/b.jpg"])
    (tmp_path / "openood/images_largescale/openimage_o/b.jpg").write_bytes(b"")
    _expect(monkeypatch, "openimage_o", 2)
    result = image_sets.image_set("openimage_o", tmp_path).check()
    assert not result.ok and result.unreadable == ["images_largescale/openimage_o/b.jpg (empty file)"]
    list_path = tmp_path / "openood" / EXPECTED["openimage_o"][0]
    list_path.write_text("openimage_o/a.jpg -1\n../../secret.jpg -1\n")
    problems = image_sets.image_set("openimage_o", tmp_path).check().problems
    assert len(problems) == 1 and "line 2: image path '../../secret.jpg' must be relative" in problems[0]


def test_a_list_line_is_split_at_the_first_space_like_openood(tmp_path, monkeypatch):
    list_path = _make_openood(tmp_path, "openood_imagenet1k", ["imagenet_1k/val/n01440764/x.JPEG"], label="0")
    list_path.write_text("imagenet_1k/val/n01440764/x.JPEG 0 extra tokens\n\n")
    _expect(monkeypatch, "openood_imagenet1k", 1)
    files = image_sets.image_set("openood_imagenet1k", tmp_path).files()
    assert files == [tmp_path / "openood/images_largescale/imagenet_1k/val/n01440764/x.JPEG"]


# --- params: groups --------------------------------------------------------------------------------


def _raw() -> dict:
    with open(REPO / "params.yaml") as f:
        return yaml.safe_load(f)


def test_shipped_openood_entry_groups_every_set_near_or_far():
    sets = load_params(REPO / "params.yaml").sets("openood_v15_imagenet1k")
    assert sets.id == "openood_imagenet1k"
    assert sets.groups == {"near": NEAR, "far": FAR}
    assert sorted(sets.ood) == sorted(NEAR + FAR)
    assert load_params(REPO / "params.yaml").sets("imagenet1k").groups is None


@pytest.mark.parametrize("groups, message", [
    ({"near": ["ssb_hard"], "far": ["sun"]},
     r"benchmark_sets\.openood_v15_imagenet1k\.groups\.far lists \['sun'\], which is not in "
     r"benchmark_sets\.openood_v15_imagenet1k\.ood \[.*\]: add it there or remove it from the group"),
    ({"near": ["ssb_hard", "ninco"], "far": ["ninco"]}, r"'ninco' is in both 'near' and 'far'"),
    ({"average": ["ssb_hard"]}, r"group name 'average' is not allowed"),
    ({"ninco": ["ssb_hard"]}, r"group name 'ninco' is not allowed"),
    ({"near": "ssb_hard"}, r"groups\.near = 'ssb_hard' must be a non-empty list of OOD sets"),
    ({"near": []}, r"groups\.near = \[\] must be a non-empty list"),
    ({"near": ["ssb_hard", "ssb_hard"]}, r"lists a set twice"),
    (["ssb_hard"], r"groups = \['ssb_hard'\] must map group names to lists of OOD sets"),
])
def test_bad_groups_fail_at_load_naming_the_key_and_the_fix(groups, message):
    raw = _raw()
    raw["benchmark_sets"]["openood_v15_imagenet1k"]["groups"] = groups
    with pytest.raises(ValueError, match=message):
        parse_tree(copy.deepcopy(raw))


def test_group_averages_by_hand():
    per_set = {"a": {"fpr95": 0.10, "auroc": 0.90}, "b": {"fpr95": 0.30, "auroc": 0.70},
               "c": {"fpr95": 0.50, "auroc": 0.60}, "average": {"fpr95": 0.3, "auroc": 0.7333}}
    got = group_averages(per_set, {"near": ("a", "b"), "far": ("c",)})
    assert list(got) == ["near", "far"]
    assert got["near"] == pytest.approx({"fpr95": 0.20, "auroc": 0.80})
    assert got["far"] == {"fpr95": 0.50, "auroc": 0.60}
    assert group_averages(per_set, None) == {}
    with pytest.raises(KeyError, match=r"group 'far' needs the metrics of \['d'\]"):
        group_averages(per_set, {"far": ("c", "d")})


# --- report ------------------------------------------------------------------------------------------


def _metrics_pct(values: dict[str, tuple[float, float]]) -> dict:
    return {"FPR95": {s: v[0] for s, v in values.items()}, "AUROC": {s: v[1] for s, v in values.items()}}


OURS = {"ssb_hard": (80.0, 70.0), "ninco": (60.0, 80.0), "openood_inaturalist": (10.0, 97.0),
        "openood_textures": (40.0, 90.0), "openimage_o": (31.0, 92.0), "average": (44.2, 85.8)}


def test_group_table_averages_each_group_by_hand_or_takes_the_stored_value():
    stored = _metrics_pct({**OURS, "near": (70.004, 75.0)})  # as a score stage with the hook would write
    table = report.group_table({"neglabel": _metrics_pct(OURS), "csp": stored}, {"near": NEAR, "far": FAR})
    assert list(table.columns.get_level_values(0)) == ["near", "near", "far", "far", "average", "average"]
    assert table.loc["neglabel", ("near", "FPR95")] == pytest.approx(70.0)          # (80 + 60) / 2
    assert table.loc["neglabel", ("near", "AUROC")] == pytest.approx(75.0)          # (70 + 80) / 2
    assert table.loc["neglabel", ("far", "FPR95")] == pytest.approx(27.0)           # (10 + 40 + 31) / 3
    assert table.loc["neglabel", ("far", "AUROC")] == pytest.approx(93.0)           # (97 + 90 + 92) / 3
    assert table.loc["neglabel", ("average", "AUROC")] == 85.8
    assert table.loc["csp", ("near", "FPR95")] == 70.004                            # stored value wins
    with pytest.raises(ValueError, match="needs the benchmark's groups"):
        report.group_table({"csp": stored}, {})


def test_published_openood_numbers_are_all_unconfirmed_and_shown_marked():
    confirmed = report.published_openood_table()
    assert confirmed.isna().all().all()  # nothing read in a primary source
    found = report.published_openood_table(include_unconfirmed=True)
    assert found.loc["neglabel", ("near", "FPR95")] == 68.18
    assert found.loc["neglabel", ("far", "AUROC")] == 93.30
    assert found.loc["adaneg", ("near", "AUROC")] == 76.70
    assert found.loc["adaneg", ("far", "FPR95")] == 17.31
    assert math.isnan(found.loc["mcm", ("near", "FPR95")]) and math.isnan(found.loc["dnm", ("far", "AUROC")])
    assert set(report.PUBLISHED_OPENOOD_SOURCES) == {m for m, _, _ in report.PUBLISHED_OPENOOD_UNCONFIRMED}

    ours = report.group_table({"neglabel": _metrics_pct(OURS)}, {"near": NEAR, "far": FAR})
    text = report.openood_side_by_side(ours, "T")
    lines = text.splitlines()
    assert "| neglabel | ours | 70.00 | 75.00 | 27.00 | 93.00 |" in lines
    assert "| neglabel | published | 68.18† | 76.92† | 27.34† | 93.30† |" in lines
    assert lines.index("| neglabel | ours | 70.00 | 75.00 | 27.00 | 93.00 |") + 1 == \
        lines.index("| neglabel | published | 68.18† | 76.92† | 27.34† | 93.30† |")
    assert "| mcm | published | – | – | – | – |" in lines       # missing cells
    assert "| adaneg | published | 67.51† | 76.70† | 17.31† | 96.43† |" in lines
    assert "OOD positive" in text and "ANTS" in text and "unconfirmed" in text


def test_build_report_adds_group_and_published_sections_only_for_grouped_benchmarks(tmp_path):
    raw = _raw()
    raw["benchmarks"] = ["imagenet1k", "openood_v15_imagenet1k"]
    raw["methods"] = ["neglabel"]
    if "image_sets" in raw:  # DVC-tracked folders of the real sets, when params.yaml has them
        raw["image_sets"] = {n: image_sets.image_set(n, root=".").path.as_posix()
                             for b in raw["benchmarks"] for n in (raw["benchmark_sets"][b]["id"],
                                                                  *raw["benchmark_sets"][b]["ood"])}
    params = StudyParams(parse_tree(raw), tmp_path / "params.yaml")
    layout = Layout(tmp_path)
    mos = {s: (1.0, 99.0) for s in ("inaturalist", "sun", "places", "textures", "average")}
    for benchmark, values in (("imagenet1k", mos), ("openood_v15_imagenet1k", OURS)):
        path = layout.metrics(study_name(benchmark, "ViT-B-16"), "neglabel")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_metrics_pct(values)))
    text = report.build_report(params, layout)
    grouped = text.split("## openood_v15_imagenet1k-ViT-B-16")[1]
    assert "Group averages (near = mean of ssb_hard, ninco; far = mean of openood_inaturalist, " in grouped
    assert "| neglabel | published | 68.18† | 76.92† | 27.34† | 93.30† |" in grouped
    assert "Group averages" not in text.split("## openood_v15_imagenet1k-ViT-B-16")[0]
    assert report.grouped_sections(params, layout, "imagenet1k", "ViT-B-16") == []
    # another backbone: the group table, but no published ViT-B/16 numbers beside it
    assert not report.is_openood_v15({"near": NEAR, "far": FAR}, "ViT-L-14")
    assert not report.is_openood_v15({"near": NEAR}, "ViT-B-16")
