"""ood_core.features.image_sets: the layout table and its readers, check() reports, class names, lazy
loading, on generated folders."""

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ood_core.features import image_sets
from ood_core.features.images import ImageFiles, UnreadableImageError
from ood_core.text.imagenet import imagenet_classnames, imagenet_wnids, subset_wnids

_JPEG = io.BytesIO()
Image.new("RGB", (8, 6), (10, 200, 30)).save(_JPEG, format="JPEG")
JPEG_BYTES = _JPEG.getvalue()  # one tiny valid image, written many times (fast)


def _put(path: Path, data: bytes = JPEG_BYTES) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def make_layout(name: str, root: Path) -> dict:
    """Write a small copy of benchmark ``name``'s layout; return what the test should expect."""
    if name in ("inaturalist", "sun", "places"):
        folder = {"inaturalist": "iNaturalist", "sun": "SUN", "places": "Places"}[name]
        for i in range(3):
            _put(root / folder / "images" / f"{i}.jpg")
        return {"count": 3, "classnames": None, "first": f"{folder}/images/0.jpg"}
    if name == "textures":
        for cls in ("banded", "zigzagged"):
            for i in range(2):
                _put(root / "dtd" / "images" / cls / f"{cls}_{i:04d}.jpg")
        return {"count": 4, "classnames": ("banded", "zigzagged"), "n_classes": 2,
                "first": "dtd/images/banded/banded_0000.jpg"}
    if name in ("imagenet1k", "imagenet_sketch", "imagenet_a", "imagenet_r", "imagenet_v2"):
        folder, names, ext = {
            "imagenet1k": ("imagenet/val", imagenet_wnids(), "JPEG"),
            "imagenet_sketch": ("imagenet-sketch/sketch", imagenet_wnids(), "JPEG"),
            "imagenet_a": ("imagenet-a", subset_wnids("imagenet_a"), "jpg"),
            "imagenet_r": ("imagenet-r", subset_wnids("imagenet_r"), "jpg"),
            "imagenet_v2": ("imagenetv2-matched-frequency-format-val", [str(i) for i in range(1000)], "jpeg"),
        }[name]
        for cls in names:
            _put(root / folder / cls / f"x.{ext}")
        return {"count": len(names), "classnames": imagenet_classnames(), "first": f"{folder}/{sorted(names)[0]}/x.{ext}"}
    if name in ("imagenet10", "imagenet20", "imagenet100"):
        n = int(name[len("imagenet"):])
        wnids = imagenet_wnids()[:n]
        folder = f"ImageNet{n}/val"
        for w in wnids:
            _put(root / folder / w / "a.JPEG")
        return {"count": n, "classnames": imagenet_classnames()[:n], "n_classes": n, "first": f"{folder}/{wnids[0]}/a.JPEG"}
    if name == "stanford_cars":
        for cls in ("AM General Hummer SUV 2000", "Acura RL Sedan 2012"):
            _put(root / "stanford_cars" / "test" / cls / "00001.jpg")
        return {"count": 2, "classnames": ("AM General Hummer SUV 2000", "Acura RL Sedan 2012"), "n_classes": 2,
                "first": "stanford_cars/test/AM General Hummer SUV 2000/00001.jpg"}
    if name == "cub200":
        base = root / "CUB_200_2011"
        rel = ["001.Black_footed_Albatross/A_1.jpg", "001.Black_footed_Albatross/A_2.jpg",
               "002.Laysan_Albatross/L_1.jpg"]
        for r in rel:
            _put(base / "images" / r)
        (base / "images.txt").write_text("".join(f"{i + 1} {r}\n" for i, r in enumerate(rel)))
        (base / "train_test_split.txt").write_text("1 0\n2 1\n3 0\n")  # 1 = training image
        (base / "classes.txt").write_text("1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n")
        return {"count": 2, "classnames": ("Black footed Albatross", "Laysan Albatross"), "n_classes": 2,
                "first": f"CUB_200_2011/images/{rel[0]}"}
    if name == "food101":
        base = root / "food-101"
        for r in ("apple_pie/11", "apple_pie/12", "baby_back_ribs/21"):
            _put(base / "images" / f"{r}.jpg")
        (base / "meta").mkdir(parents=True)
        (base / "meta" / "classes.txt").write_text("apple_pie\nbaby_back_ribs\n")
        (base / "meta" / "test.txt").write_text("apple_pie/12\nbaby_back_ribs/21\n")
        return {"count": 2, "classnames": ("apple pie", "baby back ribs"), "n_classes": 2,
                "first": "food-101/images/apple_pie/12.jpg"}
    if name == "oxford_pets":
        base = root / "oxford-iiit-pet"
        for stem in ("Abyssinian_1", "american_bulldog_3", "Abyssinian_2"):
            _put(base / "images" / f"{stem}.jpg")
        (base / "annotations").mkdir(parents=True)
        (base / "annotations" / "test.txt").write_text(
            "american_bulldog_3 2 2 1\nAbyssinian_1 1 1 1\nAbyssinian_2 1 1 1\n")
        return {"count": 3, "classnames": ("Abyssinian", "american bulldog"), "n_classes": 2,
                "first": "oxford-iiit-pet/images/Abyssinian_1.jpg"}
    if image_sets._SETS[name].splits[image_sets._SETS[name].default_split].layout == "openood":
        # OpenOOD v1.5 sets: an image list under openood/benchmark_imglist naming files under its image folder
        split = image_sets._SETS[name].splits[image_sets._SETS[name].default_split]
        rel = [f"{name}/b/2.jpg", f"{name}/a/1.jpg"]  # listed out of order: files() sorts
        for r in rel:
            _put(root / "openood" / split.image_base / r)
        (root / "openood" / split.list_file).parent.mkdir(parents=True, exist_ok=True)
        (root / "openood" / split.list_file).write_text("".join(f"{r} -1\n" for r in rel))
        ident = name == "openood_imagenet1k"
        return {"count": 2, "classnames": imagenet_classnames() if ident else None,
                "n_classes": 1000 if ident else None, "first": f"openood/{split.image_base}/{rel[1]}"}
    raise AssertionError(f"no fixture for {name}")


def _shrink(monkeypatch, name: str, count: int, n_classes=None):
    """Make the registry expect the fixture's size (the real counts are tens of thousands)."""
    spec = image_sets._SETS[name]
    split = spec.splits[spec.default_split]
    small = dataclasses.replace(split, expected_count=count, n_classes=n_classes or split.n_classes)
    monkeypatch.setitem(image_sets._SETS, name,
                        dataclasses.replace(spec, splits={**spec.splits, spec.default_split: small}))


def test_registry_holds_the_spec_benchmarks_with_their_sizes():
    assert set(image_sets.IMAGE_SETS) == {
        "imagenet1k", "inaturalist", "sun", "places", "textures", "imagenet10", "imagenet20", "imagenet100",
        "cub200", "stanford_cars", "food101", "oxford_pets", "imagenet_a", "imagenet_r", "imagenet_sketch",
        "imagenet_v2", "openood_imagenet1k", "ssb_hard", "ninco", "openood_inaturalist", "openood_textures",
        "openimage_o"}
    sizes = {n: image_sets.image_set(n, "/nonexistent").expected_count for n in image_sets.IMAGE_SETS}
    assert sizes["imagenet1k"] == 50_000 and sizes["textures"] == 5_640
    assert sizes["inaturalist"] == sizes["sun"] == sizes["places"] == 10_000
    assert image_sets.list_image_sets("ood") == ["inaturalist", "sun", "places", "textures", "ssb_hard", "ninco",
                                              "openood_inaturalist", "openood_textures", "openimage_o"]
    for name in image_sets.IMAGE_SETS:
        d = image_sets.image_set(name, "/nonexistent")
        assert d.download and d.layout and str(d.path).startswith("/nonexistent")


def test_the_data_root_is_an_explicit_argument_and_no_environment_variable_moves_it(monkeypatch, tmp_path):
    monkeypatch.setenv("OOD_DATA_ROOT", str(tmp_path / "elsewhere"))  # the variable of earlier versions
    assert image_sets.image_set("sun", tmp_path).path == tmp_path / "SUN" / "images"
    assert image_sets.image_set("sun", "data/benchmarks").path == Path("data/benchmarks/SUN/images")
    with pytest.raises(TypeError, match="root"):
        image_sets.image_set("sun")


def test_unknown_names_and_splits_list_valid_ones():
    with pytest.raises(ValueError, match=r"'imagenet-1k' is unknown; valid names: \[.*'imagenet1k'.*'imagenet_v2'"):
        image_sets.image_set("imagenet-1k", "/data")
    with pytest.raises(ValueError, match=r"split 'val' is unknown for 'cub200'; valid splits: \['test', 'train', 'all'\]"):
        image_sets.image_set("cub200", "/data", split="val")


@pytest.mark.parametrize("name", image_sets.IMAGE_SETS)
def test_each_layout_is_found_complete_and_listed_in_order(name, tmp_path, monkeypatch):
    expected = make_layout(name, tmp_path)
    _shrink(monkeypatch, name, expected["count"], expected.get("n_classes"))
    dataset = image_sets.image_set(name, tmp_path)
    report = dataset.check()
    assert report.ok, str(report)
    assert report.found_count == expected["count"] and "OK" in str(report)
    files = dataset.files()
    assert len(files) == expected["count"]
    assert files[0].relative_to(tmp_path).as_posix() == expected["first"]
    rel = [f.relative_to(dataset.path).as_posix() for f in files]
    assert rel == sorted(rel)
    assert dataset.classnames == expected["classnames"]
    image_sets.require(name, tmp_path)  # complete -> no error


@pytest.mark.parametrize("name", image_sets.IMAGE_SETS)
def test_real_sizes_report_the_fixture_as_incomplete(name, tmp_path):
    expected = make_layout(name, tmp_path)
    report = image_sets.image_set(name, tmp_path).check()
    full = image_sets.image_set(name, tmp_path).expected_count
    assert not report.ok
    assert f"{expected['count']:,} images found, expected {full:,}" in str(report)


def test_missing_root_and_folder_name_layout_and_download(tmp_path):
    report = image_sets.image_set("inaturalist", tmp_path / "nope").check()
    assert report.problems == [f"data root {tmp_path / 'nope'} does not exist (set paths.data_root in params.yaml, "
                               "or pass the data root as root=)"]
    text = str(image_sets.image_set("textures", tmp_path).check())
    assert f"folder {tmp_path / 'dtd' / 'images'} does not exist" in text
    assert "dtd/images/<class>/*.jpg" in text and "Describable Textures" in text
    with pytest.raises(FileNotFoundError, match=r"(?s)iNaturalist/images.*MOS"):
        image_sets.require("inaturalist", tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        image_sets.image_set("sun", tmp_path).files()


def test_imagenet_check_names_missing_and_foreign_folders(tmp_path):
    make_layout("imagenet1k", tmp_path)
    val = tmp_path / "imagenet" / "val"
    for f in (val / "n01440764").iterdir():
        f.unlink()
    (val / "n01440764").rmdir()
    _put(val / "n99999999" / "x.JPEG")
    (val / "n01443537" / "x.JPEG").unlink()  # an empty class folder
    problems = image_sets.image_set("imagenet1k", tmp_path).check().problems
    assert "1 of 1000 class folders missing: n01440764" in problems
    assert "1 unexpected folders: n99999999" in problems
    assert "1 class folders hold no images: n01443537" in problems
    assert "999 images found, expected 50,000 (incomplete download or extraction?)" in problems


def test_list_based_split_reports_missing_files(tmp_path):
    make_layout("food101", tmp_path)
    (tmp_path / "food-101" / "images" / "apple_pie" / "12.jpg").unlink()
    problems = image_sets.image_set("food101", tmp_path).check().problems
    assert problems[0] == "1 images named in meta/test.txt are missing: images/apple_pie/12.jpg"
    (tmp_path / "food-101" / "meta" / "test.txt").unlink()
    assert "split file" in image_sets.image_set("food101", tmp_path).check().problems[0]


def test_cub_splits_follow_train_test_split(tmp_path):
    make_layout("cub200", tmp_path)
    names = lambda split: [p.name for p in image_sets.image_set("cub200", tmp_path, split).files()]  # noqa: E731
    assert names("test") == ["A_1.jpg", "L_1.jpg"]
    assert names("train") == ["A_2.jpg"]
    assert names("all") == ["A_1.jpg", "A_2.jpg", "L_1.jpg"]


def test_imagenet_subset_rejects_foreign_wnid_folder(tmp_path):
    make_layout("imagenet10", tmp_path)
    _put(tmp_path / "ImageNet10" / "val" / "cats" / "a.jpg")
    d = image_sets.image_set("imagenet10", tmp_path)
    assert "folders that are not ImageNet-1k wnids: cats" in d.check().problems
    with pytest.raises(ValueError, match="cats"):
        d.classnames


def test_torch_dataset_reads_lazily_converts_to_rgb_and_names_corrupt_files(tmp_path):
    folder = tmp_path / "Places" / "images"
    folder.mkdir(parents=True)
    Image.new("L", (10, 10), 7).save(folder / "a_grey.png")
    Image.new("RGBA", (10, 10), (1, 2, 3, 4)).save(folder / "b_rgba.png")
    (folder / "c_corrupt.jpg").write_bytes(JPEG_BYTES[:40])  # truncated JPEG
    to_array = lambda im: np.asarray(im)  # noqa: E731
    data = image_sets.image_set("places", tmp_path).torch_dataset(to_array)
    assert len(data) == 3
    image, index = data[0]
    assert image.shape == (10, 10, 3) and index == 0 and image[0, 0].tolist() == [7, 7, 7]
    assert data[1][0][0, 0].tolist() == [1, 2, 3]
    with pytest.raises(UnreadableImageError, match=r"c_corrupt\.jpg"):
        data[2]
    (folder / "c_corrupt.jpg").unlink()  # nothing was opened at construction time
    assert len(data) == 3

    skipping = ImageFiles([folder / "a_grey.png", folder / "missing.jpg"], to_array, skip_unreadable=True)
    assert skipping[1] == (None, 1)


def test_collate_drops_skipped_items():
    import torch

    batch = ImageFiles.collate_fn([(torch.ones(3, 2, 2), 4), (None, 5), (torch.zeros(3, 2, 2), 6)])
    assert batch.images.shape == (2, 3, 2, 2) and batch.indices.tolist() == [4, 6] and batch.n_items == 3
    empty = ImageFiles.collate_fn([(None, 0)])
    assert len(empty.images) == 0 and empty.n_items == 1


def test_check_opens_image_headers_and_names_unreadable_files(tmp_path, monkeypatch):
    make_layout("sun", tmp_path)  # 0.jpg 1.jpg 2.jpg, valid
    folder = tmp_path / "SUN" / "images"
    _put(folder / "3_empty.jpg", b"")
    _put(folder / "4_text.jpg", b"<html>403 Forbidden</html>\n")  # a failed download saved as .jpg
    png = io.BytesIO()
    Image.new("RGB", (5, 5)).save(png, format="PNG")
    _put(folder / "5_png_named_jpg.jpg", png.getvalue())  # decodes fine: not a problem
    noisy = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(noisy, "JPEG")
    start_of_scan = noisy.getvalue().index(b"\xff\xda")  # the header ends here, pixel data follows
    assert len(noisy.getvalue()) > start_of_scan + 1000
    # header intact, pixel data cut: passes (only the header is read; encoding will report it)
    _put(folder / "6_cut_pixels.jpg", noisy.getvalue()[:start_of_scan + 200])
    _shrink(monkeypatch, "sun", 7)
    report = image_sets.image_set("sun", tmp_path).check()
    assert not report.ok and report.found_count == 7
    assert report.unreadable == ["3_empty.jpg (empty file)", "4_text.jpg (not an image)"]
    assert report.problems == ["2 image files cannot be read (they would fail at encoding; replace or delete them, "
                               "or encode with skip_unreadable=True): 3_empty.jpg (empty file), "
                               "4_text.jpg (not an image)"]
    with pytest.raises(FileNotFoundError, match=r"3_empty\.jpg"):
        image_sets.require("sun", tmp_path)


def test_unreadable_lists_are_limited_and_relative_to_the_split_folder(tmp_path, monkeypatch):
    make_layout("textures", tmp_path)
    for i in range(12):
        _put(tmp_path / "dtd" / "images" / "banded" / f"z_{i:02d}.jpg", b"")
    _shrink(monkeypatch, "textures", 16, 2)
    report = image_sets.image_set("textures", tmp_path).check()
    assert len(report.unreadable) == 12 and report.unreadable[0] == "banded/z_00.jpg (empty file)"
    (line,) = report.problems
    assert line.startswith("12 image files cannot be read") and line.endswith("banded/z_09.jpg (empty file) "
                                                                              "... and 2 more")

    make_layout("food101", tmp_path)
    _put(tmp_path / "food-101" / "images" / "apple_pie" / "12.jpg", b"\x00" * 100)
    report = image_sets.image_set("food101", tmp_path).check()
    assert report.unreadable == ["images/apple_pie/12.jpg (not an image)"]
