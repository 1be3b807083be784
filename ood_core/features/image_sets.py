"""The real image sets (docs/methods.md §5): a table of layouts, one small reader per layout, checks.

An **image set** is one folder (or image list) of images, e.g. ImageNet-1k's validation images or
SUN; a *benchmark* (params.yaml ``benchmark_sets``) groups an ID set with OOD sets. Every set lives
under one **data root**, always an explicit argument (the pipeline passes params.yaml's
``paths.data_root``, so DVC hashes exactly the folders a stage reads).

:data:`_SETS` is the table: per set, its title, role, splits (folder, image count, layout, split
file) and download instructions, plus how its class names are read and which class folders it must
hold. Each layout is a :class:`Reader` in :data:`READERS` (the OpenOOD image-list style: the data
says which reader, the reader lists the files):

- ``flat``: images directly in the folder;  ``class_folders``: ``folder/<class>/`` images;
- ``cub``, ``food101``, ``pets``: the dataset's own split file names the images;
- ``openood``: an OpenOOD v1.5 image list (``"<path relative to the list's image folder> <label>"``
  per line); the data root holds OpenOOD's data folder as ``openood/`` (``benchmark_imglist/``,
  ``images_largescale/``, ``images_classic/``).

``image_set(name, root)`` returns an :class:`ImageSet`: ``check()`` says precisely what is missing
or unreadable (it opens every image's header: empty files and non-images fail there, not at
encoding) and names the layout and the download; ``files()`` lists the images (sorted relative
POSIX paths, so the order is the same on every machine); ``torch_dataset(transform)`` reads them
lazily. Image files are those ending in .jpg, .jpeg, .png (any case). Roles: ``"id"`` (ID sets
with class names), ``"ood"`` (no class names) and ``"id_shift"`` (ImageNet variants scored with
all 1,000 ImageNet names, docs/methods.md §5).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, NamedTuple

from ood_core.features.images import ImageFiles

__all__ = [
    "IMAGE_SETS",
    "OPENOOD_V15_IMAGENET1K",
    "READERS",
    "CheckReport",
    "ImageSet",
    "Reader",
    "image_set",
    "list_image_sets",
    "require",
]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_MAX_LISTED = 10  # problems name at most this many missing folders/files, then a count


# --------------------------------------------------------------------------------------------
# The table of image sets (data)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """Where one split's images are: ``folder`` under the data root, the image count, the
    ``layout`` (a :data:`READERS` key), the number of classes, the split file (relative to
    ``folder``) and, for OpenOOD lists, the image folder the list's paths start from."""

    folder: str
    expected_count: int
    layout: str
    n_classes: int | None = None
    list_file: str | None = None
    image_base: str | None = None  # "openood" only: OpenOOD's data_dir (images_largescale, images_classic)


@dataclass(frozen=True)
class SetSpec:
    """One image set: ``class_names`` is a :data:`CLASS_NAMES` key, ``folder_names`` a
    :data:`FOLDER_NAMES` key (which class folders a ``class_folders`` split must hold)."""

    name: str
    title: str
    role: str
    splits: dict[str, Split]
    default_split: str
    download: str
    class_names: str
    folder_names: str | None = None


_MOS = (
    "the 10,000-image subset of Huang & Li, 'MOS: Towards Scaling Out-of-distribution Detection for "
    "Large Semantic Space' (CVPR 2021), released with their code (large_scale_ood repository, "
    "deeplearning-wisc on GitHub); unpack so that the images sit in {folder}/"
)
def _openood_split(count: int, list_name: str, image_folder: str, n_classes: int | None = None) -> Split:
    """A split defined by OpenOOD's image list ``openood/benchmark_imglist/imagenet/<list_name>.txt``,
    its paths relative to ``openood/<image_folder>`` (``images_largescale`` or ``images_classic``)."""
    return Split("openood", count, "openood", n_classes, f"benchmark_imglist/imagenet/{list_name}.txt", image_folder)


_OPENOOD = (
    "OpenOOD v1.5 (Zhang et al., 'OpenOOD v1.5: Enhanced Benchmark for Out-of-Distribution Detection', "
    "arXiv 2306.09301; OpenOOD repository, Jingkang50 on GitHub). Its download script fetches the image "
    "lists and the images from Google Drive: in a clone of that repository run `python "
    "scripts/download/download.py --contents datasets --dataset_mode dataset --datasets {key} "
    "--save_dir <data root>/openood`; it unpacks benchmark_imglist.zip into openood/benchmark_imglist/ and "
    "{key}.zip into openood/{base}/{key}/. {origin}"
)
_IMAGENET_SUBSET = (
    "built from the ImageNet-1k validation set with the class lists released with MCM (Ming et al., "
    "'Delving into Out-of-Distribution Detection with Vision-Language Representations', NeurIPS 2022; "
    "MCM repository, deeplearning-wisc on GitHub): copy the {n} listed wnid folders of imagenet/val into "
    "{folder}/"
)

_SETS: dict[str, SetSpec] = {
    s.name: s
    for s in [
        SetSpec(
            "imagenet1k", "ImageNet-1k (ILSVRC 2012) validation", "id",
            {"val": Split("imagenet/val", 50_000, "class_folders", 1000)}, "val",
            "ILSVRC2012_img_val.tar from image-net.org (login required; Russakovsky et al., IJCV 2015), "
            "sorted into one folder per wnid with the devkit's validation ground truth "
            "(e.g. the widely used valprep.sh), giving imagenet/val/n01440764/ILSVRC2012_val_00000293.JPEG ...",
            "imagenet", "imagenet",
        ),
        SetSpec("inaturalist", "iNaturalist (MOS subset)", "ood",
              {"test": Split("iNaturalist/images", 10_000, "flat")}, "test",
              _MOS.format(folder="iNaturalist/images"), "none"),
        SetSpec("sun", "SUN (MOS subset)", "ood",
              {"test": Split("SUN/images", 10_000, "flat")}, "test",
              _MOS.format(folder="SUN/images"), "none"),
        SetSpec("places", "Places (MOS subset)", "ood",
              {"test": Split("Places/images", 10_000, "flat")}, "test",
              _MOS.format(folder="Places/images"), "none"),
        SetSpec("textures", "Textures (DTD)", "ood",
              {"test": Split("dtd/images", 5_640, "class_folders", 47)}, "test",
              "dtd-r1.0.1.tar.gz from the Describable Textures Dataset page of the Oxford VGG group "
              "(Cimpoi et al., CVPR 2014); it unpacks to dtd/images/<texture>/*.jpg (all 5,640 images are used)",
              "folders"),
        SetSpec("imagenet10", "ImageNet-10", "id",
              {"val": Split("ImageNet10/val", 500, "class_folders", 10)}, "val",
              _IMAGENET_SUBSET.format(n=10, folder="ImageNet10/val"), "imagenet_folders", "imagenet_subset"),
        SetSpec("imagenet20", "ImageNet-20", "id",
              {"val": Split("ImageNet20/val", 1_000, "class_folders", 20)}, "val",
              _IMAGENET_SUBSET.format(n=20, folder="ImageNet20/val"), "imagenet_folders", "imagenet_subset"),
        SetSpec("imagenet100", "ImageNet-100", "id",
              {"val": Split("ImageNet100/val", 5_000, "class_folders", 100)}, "val",
              _IMAGENET_SUBSET.format(n=100, folder="ImageNet100/val"), "imagenet_folders", "imagenet_subset"),
        SetSpec("cub200", "CUB-200-2011", "id",
              {"test": Split("CUB_200_2011", 5_794, "cub", 200, "train_test_split.txt"),
               "train": Split("CUB_200_2011", 5_994, "cub", 200, "train_test_split.txt"),
               "all": Split("CUB_200_2011", 11_788, "cub", 200, "images.txt")}, "test",
              "CUB_200_2011.tgz from Caltech's data repository (Wah et al., Caltech-UCSD Birds-200-2011, "
              "2011); it unpacks to CUB_200_2011/ with images/<NNN.Class_Name>/*.jpg, images.txt, "
              "train_test_split.txt and classes.txt",
              "cub"),
        SetSpec("stanford_cars", "Stanford Cars", "id",
              {"test": Split("stanford_cars/test", 8_041, "class_folders", 196),
               "train": Split("stanford_cars/train", 8_144, "class_folders", 196)}, "test",
              "Stanford Cars (Krause et al., 3dRR 2013; the original Stanford page is offline, use a mirror "
              "such as the Kaggle or Hugging Face copies) arranged as one folder per class named with the "
              "devkit's class name (cars_meta.mat), e.g. stanford_cars/test/AM General Hummer SUV 2000/*.jpg",
              "folders"),
        SetSpec("food101", "Food-101", "id",
              {"test": Split("food-101", 25_250, "food101", 101, "meta/test.txt"),
               "train": Split("food-101", 75_750, "food101", 101, "meta/train.txt")}, "test",
              "food-101.tar.gz from ETH Zurich's Food-101 page (Bossard et al., ECCV 2014); it unpacks to "
              "food-101/ with images/<class>/*.jpg and meta/{classes,test,train}.txt",
              "food101"),
        SetSpec("oxford_pets", "Oxford-IIIT Pet", "id",
              {"test": Split("oxford-iiit-pet", 3_669, "pets", 37, "annotations/test.txt"),
               "trainval": Split("oxford-iiit-pet", 3_680, "pets", 37, "annotations/trainval.txt")}, "test",
              "images.tar.gz and annotations.tar.gz from the Oxford VGG Pets page (Parkhi et al., CVPR 2012), "
              "both unpacked into oxford-iiit-pet/ (giving images/*.jpg and annotations/{test,trainval}.txt)",
              "pets"),
        SetSpec("imagenet_a", "ImageNet-A", "id_shift",
              {"test": Split("imagenet-a", 7_500, "class_folders", 200)}, "test",
              "imagenet-a.tar from the natural-adv-examples repository (Hendrycks et al., 'Natural "
              "Adversarial Examples', CVPR 2021); it unpacks to imagenet-a/<wnid>/*.jpg (200 classes)",
              "imagenet", "imagenet_a"),
        SetSpec("imagenet_r", "ImageNet-R", "id_shift",
              {"test": Split("imagenet-r", 30_000, "class_folders", 200)}, "test",
              "imagenet-r.tar from the imagenet-r repository (Hendrycks et al., 'The Many Faces of "
              "Robustness', ICCV 2021); it unpacks to imagenet-r/<wnid>/*.jpg (200 classes)",
              "imagenet", "imagenet_r"),
        SetSpec("imagenet_sketch", "ImageNet-Sketch", "id_shift",
              {"test": Split("imagenet-sketch/sketch", 50_889, "class_folders", 1000)}, "test",
              "ImageNet-Sketch.zip from the ImageNet-Sketch repository (Wang et al., NeurIPS 2019; also on "
              "the Hugging Face hub as imagenet_sketch); unpack into imagenet-sketch/ so that the images sit "
              "in imagenet-sketch/sketch/<wnid>/*.JPEG",
              "imagenet", "imagenet"),
        SetSpec("imagenet_v2", "ImageNetV2 matched-frequency", "id_shift",
              {"test": Split("imagenetv2-matched-frequency-format-val", 10_000, "class_folders", 1000)}, "test",
              "imagenetv2-matched-frequency.tar.gz from the ImageNetV2 repository (Recht et al., ICML 2019; "
              "files on the Hugging Face hub, vaishaal/ImageNetV2); it unpacks to "
              "imagenetv2-matched-frequency-format-val/<class index 0..999>/*.jpeg",
              "imagenet", "indices"),
        # OpenOOD v1.5's ImageNet-1k setting (docs/real_benchmarks.md §2): image lists under openood/
        SetSpec("openood_imagenet1k", "ImageNet-1k (OpenOOD v1.5 ID test list)", "id",
              {"test": _openood_split(45_000, "test_imagenet", "images_largescale", n_classes=1000),
               "val": _openood_split(5_000, "val_imagenet", "images_largescale", n_classes=1000)}, "test",
              _OPENOOD.format(key="imagenet_1k", base="images_largescale",
                              origin="The images are ILSVRC 2012 validation images (Russakovsky et al., IJCV 2015); "
                                     "the list holds 45,000 of the 50,000, the other 5,000 form OpenOOD's "
                                     "validation list."),
              "imagenet"),
        SetSpec("ssb_hard", "SSB-hard (OpenOOD v1.5 near-OOD)", "ood",
              {"test": _openood_split(49_000, "test_ssb_hard", "images_largescale")}, "test",
              _OPENOOD.format(key="ssb_hard", base="images_largescale",
                              origin="SSB-hard is the hard split of the Semantic Shift Benchmark's ImageNet-21k "
                                     "classes (Vaze et al., 'Open-Set Recognition: a Good Closed-Set Classifier "
                                     "is All You Need', ICLR 2022)."),
              "none"),
        SetSpec("ninco", "NINCO (OpenOOD v1.5 near-OOD)", "ood",
              {"test": _openood_split(5_879, "test_ninco", "images_largescale")}, "test",
              _OPENOOD.format(key="ninco", base="images_largescale",
                              origin="NINCO: Bitterwolf et al., 'In or Out? Fixing ImageNet Out-of-Distribution "
                                     "Detection Evaluation', ICML 2023."),
              "none"),
        SetSpec("openood_inaturalist", "iNaturalist (OpenOOD v1.5 far-OOD)", "ood",
              {"test": _openood_split(10_000, "test_inaturalist", "images_largescale")}, "test",
              _OPENOOD.format(key="inaturalist", base="images_largescale",
                              origin="A 10,000-image iNaturalist subset, as in MOS (Huang & Li, CVPR 2021), but "
                                     "in OpenOOD's layout: registered apart from `inaturalist`."),
              "none"),
        SetSpec("openood_textures", "Textures (OpenOOD v1.5 far-OOD)", "ood",
              {"test": _openood_split(5_160, "test_textures", "images_classic")}, "test",
              _OPENOOD.format(key="texture", base="images_classic",
                              origin="The list names 5,160 of DTD's 5,640 images (Cimpoi et al., CVPR 2014), "
                                     "so it differs from `textures`, which uses all 5,640."),
              "none"),
        SetSpec("openimage_o", "OpenImage-O (OpenOOD v1.5 far-OOD)", "ood",
              {"test": _openood_split(15_869, "test_openimage_o", "images_largescale"),
               "val": _openood_split(1_763, "val_openimage_o", "images_largescale")}, "test",
              _OPENOOD.format(key="openimage_o", base="images_largescale",
                              origin="OpenImage-O: Wang et al., 'ViM: Out-Of-Distribution with Virtual-logit "
                                     "Matching', CVPR 2022; OpenOOD keeps 1,763 of its images as a validation list."),
              "none"),
    ]
}

#: OpenOOD v1.5's ImageNet-1k benchmark: near- and far-OOD sets as that benchmark groups them.
OPENOOD_V15_IMAGENET1K = {"id": "openood_imagenet1k", "near": ("ssb_hard", "ninco"),
                          "far": ("openood_inaturalist", "openood_textures", "openimage_o")}

#: The registered image-set names.
IMAGE_SETS: tuple[str, ...] = tuple(_SETS)


def list_image_sets(role: str | None = None) -> list[str]:
    """Image-set names, optionally only those with ``role`` ("id", "ood", "id_shift")."""
    return [n for n, s in _SETS.items() if role is None or s.role == role]


# --------------------------------------------------------------------------------------------
# Check reports
# --------------------------------------------------------------------------------------------


@dataclass
class CheckReport:
    """Result of :meth:`ImageSet.check`: ``ok`` and the list of ``problems`` (strings).

    ``found_count`` is the number of images found, ``expected_count`` the number expected;
    ``unreadable`` lists the found images (relative to ``path``, with the reason) whose header
    cannot be read - they count as found and make one of the ``problems``;
    ``str(report)`` is a message fit for an error, naming the layout and the download source.
    """

    name: str
    path: Path
    ok: bool
    problems: list[str]
    found_count: int
    expected_count: int
    layout: str = ""
    download: str = ""
    unreadable: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.ok:
            return f"{self.name}: OK, {self.found_count} images in {self.path}"
        lines = [f"{self.name}: {len(self.problems)} problem(s) under {self.path}:"]
        lines += [f"  - {p}" for p in self.problems]
        lines += [f"Expected layout: {self.layout}", f"Download: {self.download}"]
        return "\n".join(lines)


def _limited(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f" ... and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _images_in(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and _is_image(p)), key=lambda p: p.name)


def _class_folders(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def _header_problem(path: Path, image_module) -> str | None:
    """Why ``path``'s image header cannot be read (``None`` if it can): open it, read its size.

    ``PIL.Image.open`` reads only the header (format, size, mode), not the pixels, so truncated
    pixel data still passes; empty files, non-images and unopenable files do not.
    """
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return "empty file"
            with image_module.open(handle) as image:
                image.size
    except image_module.UnidentifiedImageError:
        return "not an image"
    except OSError as err:
        return f"cannot be opened: {err.strerror or err}"
    except Exception as err:  # PIL raises several types for damaged headers (SyntaxError, ValueError, ...)
        return f"damaged header: {type(err).__name__}: {err}"
    return None


# --------------------------------------------------------------------------------------------
# Class-folder names and class names (small functions, chosen by the table)
# --------------------------------------------------------------------------------------------


def _imagenet_wnids() -> list[str]:
    from ood_core.text.imagenet import imagenet_wnids

    return list(imagenet_wnids())


def _subset_wnids(which: str) -> Callable[[], list[str]]:
    def wnids() -> list[str]:
        from ood_core.text.imagenet import subset_wnids

        return list(subset_wnids(which))

    return wnids


class FolderNames(NamedTuple):
    """The class folders of a ``class_folders`` split: ``label`` (for the layout text), ``expected``
    (the exact folder names, or None: then only the number of classes is checked) and ``allowed``
    (names any present folder must be among, or None)."""

    label: str
    expected: Callable[[], list[str]] | None = None
    allowed: Callable[[], list[str]] | None = None


FOLDER_NAMES: dict[str | None, FolderNames] = {
    None: FolderNames("<class>"),
    "imagenet": FolderNames("<wnid>", _imagenet_wnids),
    "imagenet_subset": FolderNames("<wnid>", allowed=_imagenet_wnids),
    "imagenet_a": FolderNames("<wnid of the 200 ImageNet-A classes>", _subset_wnids("imagenet_a")),
    "imagenet_r": FolderNames("<wnid of the 200 ImageNet-R classes>", _subset_wnids("imagenet_r")),
    "indices": FolderNames("<ImageNet class index 0..999>", lambda: [str(i) for i in range(1000)]),
}


def _imagenet_names(s: ImageSet) -> tuple[str, ...]:
    from ood_core.text.imagenet import imagenet_classnames

    return imagenet_classnames()


def _imagenet_folder_names(s: ImageSet) -> tuple[str, ...]:
    from ood_core.text.imagenet import imagenet_classnames, imagenet_wnids

    index = {w: i for i, w in enumerate(imagenet_wnids())}
    names = imagenet_classnames()
    folders = [p.name for p in _class_folders(s.path)]
    unknown = [w for w in folders if w not in index]
    if unknown:
        raise ValueError(f"{s.path}: folders {_limited(unknown)} are not ImageNet-1k wnids")
    return tuple(names[index[w]] for w in folders)


def _cub_names(s: ImageSet) -> tuple[str, ...]:
    classes_txt = s.path / "classes.txt"
    raw = ([ln.split(maxsplit=1)[1] for ln in classes_txt.read_text().splitlines() if ln.strip()]
           if classes_txt.is_file() else [p.name for p in sorted((s.path / "images").iterdir())])
    return tuple(r.split(".", 1)[-1].replace("_", " ") for r in raw)


def _food101_names(s: ImageSet) -> tuple[str, ...]:
    return tuple(r.replace("_", " ") for r in (s.path / "meta" / "classes.txt").read_text().split())


def _pets_names(s: ImageSet) -> tuple[str, ...]:
    by_id: dict[int, str] = {}
    for number, parts in _split_lines(s):
        if len(parts) >= 2 and not parts[0].startswith("#"):
            if not parts[1].isdigit():
                raise _malformed(s.path / s.list_file, number, parts, "'<Breed_N> <class id> <species> <breed id>'")
            by_id.setdefault(int(parts[1]), parts[0].rsplit("_", 1)[0].replace("_", " "))
    return tuple(by_id[k] for k in sorted(by_id))


#: How a set's class names are read (``None``: an OOD set). All but ``imagenet`` need the data on disk.
CLASS_NAMES: dict[str, Callable[[ImageSet], tuple[str, ...]] | None] = {
    "none": None,
    "imagenet": _imagenet_names,
    "imagenet_folders": _imagenet_folder_names,
    "folders": lambda s: tuple(p.name for p in _class_folders(s.path)),
    "cub": _cub_names,
    "food101": _food101_names,
    "pets": _pets_names,
}


# --------------------------------------------------------------------------------------------
# Readers: one per layout
# --------------------------------------------------------------------------------------------


class Reader(NamedTuple):
    """How one layout is read. ``files(s)``: the image paths (absolute), sorted by path relative to
    ``s.path``; ``present(s, problems)``: the images on disk, appending layout problems (``None``
    stops the check: the listing itself failed); ``describe(s)``: the layout in words."""

    files: Callable[[ImageSet], list[Path]]
    present: Callable[[ImageSet, list[str]], list[Path] | None]
    describe: Callable[[ImageSet], str]


def _flat_files(s: ImageSet) -> list[Path]:
    return _images_in(s.path)


def _class_folder_files(s: ImageSet) -> list[Path]:
    return [f for d in _class_folders(s.path) for f in _images_in(d)]


def _class_folders_present(s: ImageSet, problems: list[str]) -> list[Path]:
    folders = _class_folders(s.path)
    names = [p.name for p in folders]
    spec = FOLDER_NAMES[s.folder_names]
    if spec.expected is not None:
        expected = spec.expected()
        missing = sorted(set(expected) - set(names))
        extra = sorted(set(names) - set(expected))
        if missing:
            problems.append(f"{len(missing)} of {len(expected)} class folders missing: {_limited(missing)}")
        if extra:
            problems.append(f"{len(extra)} unexpected folders: {_limited(extra)}")
    elif s.n_classes is not None and len(folders) != s.n_classes:
        problems.append(f"{len(folders)} class folders found, expected {s.n_classes}")
    if spec.allowed is not None:
        valid = set(spec.allowed())
        bad = [n for n in names if n not in valid]
        if bad:
            problems.append(f"folders that are not ImageNet-1k wnids: {_limited(bad)}")
    per_folder = [_images_in(p) for p in folders]
    empty = [p.name for p, images in zip(folders, per_folder) if not images]
    if empty:
        problems.append(f"{len(empty)} class folders hold no images: {_limited(empty)}")
    return [f for images in per_folder for f in images]


def _read_lines(path: Path, what: str = "split file") -> list[tuple[int, str]]:
    """The non-blank lines of a list file with their 1-based numbers; a line that is not UTF-8 is an
    error naming the file and the line."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} not found")
    lines = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"{path}, line {number}: not UTF-8 text ({err.reason} at byte {err.start} of the line); "
                             "save the list as UTF-8") from None
        if line.strip():
            lines.append((number, line))
    return lines


def _split_lines(s: ImageSet) -> list[tuple[int, list[str]]]:
    """``(line number, fields)`` of the split file's non-blank lines."""
    return [(number, line.split()) for number, line in _read_lines(s.path / s.list_file)]


def _unique(list_path: Path, numbered: list[tuple[int, PurePosixPath]]) -> list[PurePosixPath]:
    """The listed relative paths; one listed twice (after normalisation: ``a/./b.jpg`` is ``a/b.jpg``)
    is an error naming both lines, since its image would be scored twice."""
    first: dict[PurePosixPath, int] = {}
    repeats = []
    for number, rel in numbered:
        if rel in first:
            repeats.append(f"line {number} repeats line {first[rel]} ({rel.as_posix()})")
        else:
            first[rel] = number
    if repeats:
        raise ValueError(f"{list_path}: {len(repeats)} image(s) listed twice, which would be scored twice: "
                         f"{_limited(repeats)}; delete the repeated lines")
    return [rel for _, rel in numbered]


def _sorted_under(s: ImageSet, paths: list[Path]) -> list[Path]:
    return sorted(paths, key=lambda p: p.relative_to(s.path).as_posix())


def _malformed(path: Path, number: int, line, expected: str) -> ValueError:
    text = " ".join(line) if isinstance(line, list) else line
    return ValueError(f"{path}, line {number}: {text!r} is not {expected}; fix or delete the line "
                      "(is the download complete and unmodified?)")


def _cub_files(s: ImageSet) -> list[Path]:
    """``images.txt``: ``"<image id> <path>"``; ``train_test_split.txt``: ``"<image id> <1 if training image>"``."""
    images_txt = s.path / "images.txt"
    by_id: dict[str, tuple[int, PurePosixPath]] = {}
    for number, line in _read_lines(images_txt, "CUB image list"):
        fields = line.split()
        if len(fields) != 2:
            raise _malformed(images_txt, number, line, "'<image id> <path>'")
        by_id[fields[0]] = (number, PurePosixPath(fields[1]))
    if s.split == "all":
        return _sorted_under(s, [s.path / "images" / r for r in _unique(images_txt, list(by_id.values()))])
    want = "1" if s.split == "train" else "0"
    split_path = s.path / s.list_file
    numbered = []
    for number, fields in _split_lines(s):
        if len(fields) != 2 or fields[1] not in ("0", "1"):
            raise _malformed(split_path, number, fields, "'<image id> <1 if training image, else 0>'")
        if fields[0] not in by_id:
            raise ValueError(f"{split_path}, line {number}: image id {fields[0]!r} is not in {images_txt}; "
                             "the two files must come from the same download")
        if fields[1] == want:
            numbered.append((number, by_id[fields[0]][1]))
    return _sorted_under(s, [s.path / "images" / r for r in _unique(split_path, numbered)])


def _food101_files(s: ImageSet) -> list[Path]:
    numbered = [(number, PurePosixPath(f"{fields[0]}.jpg")) for number, fields in _split_lines(s)]
    return _sorted_under(s, [s.path / "images" / r for r in _unique(s.path / s.list_file, numbered)])


def _pets_files(s: ImageSet) -> list[Path]:
    # "<Breed_N> <class id> <species> <breed id>"; "#" lines are comments
    numbered = [(number, PurePosixPath(f"{fields[0]}.jpg")) for number, fields in _split_lines(s)
                if not fields[0].startswith("#")]
    return _sorted_under(s, [s.path / "images" / r for r in _unique(s.path / s.list_file, numbered)])


def _openood_files(s: ImageSet) -> list[Path]:
    """Images named by an OpenOOD image list, under ``path / image_base``.

    OpenOOD reads a line as ``"<path> <label>"`` split at the first space; the label (``-1`` for
    OOD images, the class index for ID ones) is not used here. A path that is absolute or climbs
    out of the image folder (``..``), a path listed twice (after normalisation) and a line that is
    not UTF-8 are errors naming the line.
    """
    list_path = s.path / s.list_file
    image_root = s.path / s.image_base
    numbered = []
    for number, line in _read_lines(list_path):
        rel = PurePosixPath(line.strip().split(" ", 1)[0])
        if rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"{list_path}, line {number}: image path {str(rel)!r} must be relative to "
                             f"{image_root} and stay inside it")
        numbered.append((number, rel))
    return _sorted_under(s, [image_root / rel for rel in _unique(list_path, numbered)])


def _listed_present(files: Callable[[ImageSet], list[Path]]):
    def present(s: ImageSet, problems: list[str]) -> list[Path] | None:
        try:
            listed = files(s)
        except (FileNotFoundError, ValueError) as err:  # ValueError: a bad OpenOOD list line
            problems.append(str(err))
            return None
        found = [p for p in listed if p.is_file()]
        if len(found) < len(listed):
            kept = set(found)
            absent = [p.relative_to(s.path).as_posix() for p in listed if p not in kept]
            problems.append(f"{len(absent)} images named in {s.list_file} are missing: {_limited(absent)}")
        return found

    return present


def _list_reader(files: Callable[[ImageSet], list[Path]], what: str) -> Reader:
    return Reader(files, _listed_present(files),
                  lambda s: f"{s.folder}/{what} ({s.expected_count:,} images in split {s.split!r})")


#: layout name -> its reader (the ``layout`` of a :class:`Split`).
READERS: dict[str, Reader] = {
    "flat": Reader(_flat_files, lambda s, problems: _images_in(s.path),
                   lambda s: f"{s.folder}/*.jpg ({s.expected_count:,} images directly in that folder)"),
    "class_folders": Reader(_class_folder_files, _class_folders_present,
                            lambda s: (f"{s.folder}/{FOLDER_NAMES[s.folder_names].label}/*.jpg "
                                       f"({s.n_classes} class folders, {s.expected_count:,} images)")),
    "cub": _list_reader(_cub_files, "images/<NNN.Class_Name>/*.jpg with images.txt and train_test_split.txt"),
    "food101": _list_reader(_food101_files, "images/<class>/*.jpg with meta/classes.txt and meta/<split>.txt"),
    "pets": _list_reader(_pets_files, "images/<Breed_N>.jpg with annotations/<split>.txt"),
    "openood": Reader(_openood_files, _listed_present(_openood_files),
                      lambda s: (f"{s.folder}/{s.list_file} (OpenOOD image list, one '<path> <label>' per line) "
                                 f"naming {s.expected_count:,} images under {s.folder}/{s.image_base}/")),
}


# --------------------------------------------------------------------------------------------
# One split of one image set under a data root
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageSet:
    """One split of an image set under a data root. Cheap to create: nothing is read until asked.

    Fields: ``name``, ``title``, ``role``, ``split``, ``root`` (the data root), ``folder`` (under
    ``root``), ``expected_count``, ``layout_name`` (a :data:`READERS` key), ``n_classes``,
    ``list_file``, ``image_base``, ``download``, ``class_names`` / ``folder_names`` (table keys).
    ``path`` is the split's folder, ``layout`` the layout in words.
    """

    name: str
    title: str
    role: str
    split: str
    root: Path
    folder: str
    expected_count: int
    layout_name: str
    download: str
    class_names: str
    folder_names: str | None = None
    n_classes: int | None = None
    list_file: str | None = None
    image_base: str | None = None

    def __repr__(self) -> str:
        return f"ImageSet(name={self.name!r}, split={self.split!r}, path={str(self.path)!r})"

    @property
    def path(self) -> Path:
        return self.root / self.folder

    @property
    def reader(self) -> Reader:
        return READERS[self.layout_name]

    @property
    def layout(self) -> str:
        """The expected layout in words (relative to the data root)."""
        return self.reader.describe(self)

    def files(self) -> list[Path]:
        """All image paths of this split, sorted by path relative to ``path`` (deterministic).

        Raises FileNotFoundError (with :meth:`check`'s report) if the split's folder or split file is missing.
        """
        if not self.path.is_dir() or (self.list_file and not (self.path / self.list_file).is_file()):
            raise FileNotFoundError(str(self.check()))
        return self.reader.files(self)

    @property
    def classnames(self) -> tuple[str, ...] | None:
        """Class names to prompt with, in class-index order; ``None`` for OOD sets.

        ImageNet-1k and its shifted variants: the 1,000 open_clip ImageNet names. ImageNet-10/20/100:
        the ImageNet names of the wnid folders present (sorted wnids). CUB: ``classes.txt`` /
        folder names without the number, underscores as spaces. Food-101: ``meta/classes.txt`` with
        spaces. Pets: breed names from the split file in class-id order, underscores as spaces.
        Stanford Cars / DTD: the folder names (sorted). Data-derived names need the data on disk.
        """
        read = CLASS_NAMES[self.class_names]
        if read is None:
            return None
        if self.class_names != "imagenet" and not self.path.is_dir():
            raise FileNotFoundError(str(self.check()))
        return read(self)

    def check(self) -> CheckReport:
        """Compare the data on disk with the expected layout; never raises for missing data."""
        problems: list[str] = []
        present, unreadable = self._present(problems), []
        if present is not None:
            if len(present) != self.expected_count:
                problems.append(f"{len(present):,} images found, expected {self.expected_count:,}"
                                + (" (incomplete download or extraction?)" if len(present) < self.expected_count
                                   else ""))
            unreadable = self._unreadable(present)
            if unreadable:
                problems.append(f"{len(unreadable)} image files cannot be read (they would fail at encoding; "
                                f"replace or delete them, or encode with skip_unreadable=True): {_limited(unreadable)}")
        return CheckReport(self.name, self.path, not problems, problems, len(present or []), self.expected_count,
                           self.layout, self.download, unreadable)

    def _present(self, problems: list[str]) -> list[Path] | None:
        """The images on disk (``None`` when the root, the folder or the listing is missing)."""
        if not self.root.is_dir():
            problems.append(f"data root {self.root} does not exist (set paths.data_root in params.yaml, or pass "
                            "the data root as root=)")
            return None
        if not self.path.is_dir():
            problems.append(f"folder {self.path} does not exist")
            return None
        return self.reader.present(self, problems)

    def _unreadable(self, images: list[Path]) -> list[str]:
        """``"<path relative to the split folder> (<reason>)"`` for each image whose header cannot be read."""
        try:
            from PIL import Image
        except ImportError:  # pillow comes with the [clip] extra; without it nothing can be encoded either
            log.warning("pillow is not installed: check() does not open the images of %s", self.name)
            return []
        bad = []
        for path in images:
            reason = _header_problem(path, Image)
            if reason is not None:
                bad.append(f"{path.relative_to(self.path).as_posix()} ({reason})")
        return bad

    def torch_dataset(self, transform: Callable, skip_unreadable: bool = False) -> ImageFiles:
        """A torch ``Dataset`` over :meth:`files` that opens images lazily (see :class:`~ood_core.features.images.ImageFiles`)."""
        return ImageFiles(self.files(), transform, skip_unreadable=skip_unreadable)


def image_set(name: str, root: str | os.PathLike, split: str | None = None, *,
              expected_count: int | None = None) -> ImageSet:
    """The image set ``name`` (see :data:`IMAGE_SETS`) under the data root ``root``.

    ``split``: ``None`` takes the set's default (the one the papers evaluate on).
    ``expected_count``: the image count :meth:`~ImageSet.check` expects instead of the
    published one (a subset, or the generated mini benchmark of :mod:`ood_study.mini_benchmark`).
    """
    if name not in _SETS:
        raise ValueError(f"image set {name!r} is unknown; valid names: {list(IMAGE_SETS)}")
    spec = _SETS[name]
    split = spec.default_split if split is None else split
    if split not in spec.splits:
        raise ValueError(f"split {split!r} is unknown for {name!r}; valid splits: {list(spec.splits)}")
    s = spec.splits[split]
    return ImageSet(name=spec.name, title=spec.title, role=spec.role, split=split, root=Path(root), folder=s.folder,
                    expected_count=s.expected_count if expected_count is None else int(expected_count),
                    layout_name=s.layout, download=spec.download, class_names=spec.class_names,
                    folder_names=spec.folder_names, n_classes=s.n_classes, list_file=s.list_file,
                    image_base=s.image_base)


def require(name: str, root: str | os.PathLike, split: str | None = None, *,
            expected_count: int | None = None) -> ImageSet:
    """Like :func:`image_set`, but raise FileNotFoundError with the check report unless complete."""
    dataset = image_set(name, root, split, expected_count=expected_count)
    report = dataset.check()
    if not report.ok:
        raise FileNotFoundError(str(report))
    return dataset
