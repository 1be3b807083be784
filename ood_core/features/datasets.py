"""Registry of the real benchmarks (docs/methods.md §5): folder layouts, class names, checks, loading.

Every benchmark lives under one **data root**: :func:`data_root` takes the argument, else the
environment variable ``OOD_DATA_ROOT``, else ``data/benchmarks`` (params.yaml passes its value).
``get_dataset(name)`` returns a :class:`BenchmarkDataset` describing the expected layout, image
count and download source; ``check()`` says precisely what is missing or unreadable (it opens
every image's header: empty files and non-images fail there, not at encoding); ``files()`` lists the
images (sorted relative POSIX paths, so the order is the same on every machine);
``torch_dataset(transform)`` reads them lazily.

Layouts (relative to the data root; "<x>" is one folder per class) are listed in
:data:`BENCHMARKS` and in docs/real_benchmarks.md. Image files are those ending in .jpg, .jpeg,
.png (any case). Roles: ``"id"`` (in-distribution sets with class names), ``"ood"`` (no class
names) and ``"id_shift"`` (ImageNet variants scored with all 1,000 ImageNet names, docs/methods.md §5).

OpenOOD v1.5's ImageNet-1k sets (``openood_imagenet1k``, ``ssb_hard``, ``ninco``, ``openood_inaturalist``,
``openood_textures``, ``openimage_o``) are defined, as in OpenOOD, by its image lists: the data root holds
OpenOOD's data folder as ``openood/`` (``benchmark_imglist/``, ``images_largescale/``, ``images_classic/``)
and each line of a list is ``"<image path relative to the list's image folder> <label>"``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

__all__ = [
    "BENCHMARKS",
    "BenchmarkDataset",
    "CheckReport",
    "ImageFiles",
    "OPENOOD_V15_IMAGENET1K",
    "UnreadableImageError",
    "data_root",
    "get_dataset",
    "list_benchmarks",
    "require",
]

log = logging.getLogger(__name__)

DATA_ROOT_ENV = "OOD_DATA_ROOT"
DEFAULT_DATA_ROOT = "data/benchmarks"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_MAX_LISTED = 10  # problems name at most this many missing folders/files, then a count


def data_root(root: str | os.PathLike | None = None, *,
              default: str | os.PathLike = DEFAULT_DATA_ROOT) -> Path:
    """The benchmark data root: ``root`` if given, else ``$OOD_DATA_ROOT``, else ``default``.

    The one place this precedence lives: the pipeline passes params.yaml's ``paths.data_root``
    as ``default``, so the environment variable overrides params.yaml.
    """
    if root is not None:
        return Path(root)
    return Path(os.environ.get(DATA_ROOT_ENV) or default)


# --------------------------------------------------------------------------------------------
# Benchmark specifications
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Split:
    """Where one split's images are and how many there should be.

    kind: ``"flat"`` (images directly in ``folder``), ``"class_folders"`` (``folder/<class>/``),
    ``"list"`` (a split file names the images; see ``_list_split_files``), ``"imglist"`` (an OpenOOD
    image list ``folder/list_file`` names the images relative to ``folder/image_base``).
    """

    folder: str
    expected_count: int
    kind: str
    n_classes: int | None = None
    list_file: str | None = None
    image_base: str | None = None  # "imglist" only: OpenOOD's data_dir (images_largescale, images_classic)


@dataclass(frozen=True)
class _Spec:
    name: str
    title: str
    role: str
    splits: dict[str, _Split]
    default_split: str
    download: str
    classnames_from: str  # "imagenet", "imagenet_folders", "folders", "cub", "food101", "pets", "none"
    class_folder_names: str | None = None  # "imagenet", "imagenet_a", "imagenet_r", "indices"


_MOS = (
    "the 10,000-image subset of Huang & Li, 'MOS: Towards Scaling Out-of-distribution Detection for "
    "Large Semantic Space' (CVPR 2021), released with their code (large_scale_ood repository, "
    "deeplearning-wisc on GitHub); unpack so that the images sit in {folder}/"
)
def _openood_split(count: int, list_name: str, image_folder: str, n_classes: int | None = None) -> _Split:
    """A split defined by OpenOOD's image list ``openood/benchmark_imglist/imagenet/<list_name>.txt``,
    its paths relative to ``openood/<image_folder>`` (``images_largescale`` or ``images_classic``)."""
    return _Split("openood", count, "imglist", n_classes, f"benchmark_imglist/imagenet/{list_name}.txt", image_folder)


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

_SPECS: dict[str, _Spec] = {
    s.name: s
    for s in [
        _Spec(
            "imagenet1k", "ImageNet-1k (ILSVRC 2012) validation", "id",
            {"val": _Split("imagenet/val", 50_000, "class_folders", 1000)}, "val",
            "ILSVRC2012_img_val.tar from image-net.org (login required; Russakovsky et al., IJCV 2015), "
            "sorted into one folder per wnid with the devkit's validation ground truth "
            "(e.g. the widely used valprep.sh), giving imagenet/val/n01440764/ILSVRC2012_val_00000293.JPEG ...",
            "imagenet", "imagenet",
        ),
        _Spec("inaturalist", "iNaturalist (MOS subset)", "ood",
              {"test": _Split("iNaturalist/images", 10_000, "flat")}, "test",
              _MOS.format(folder="iNaturalist/images"), "none"),
        _Spec("sun", "SUN (MOS subset)", "ood",
              {"test": _Split("SUN/images", 10_000, "flat")}, "test",
              _MOS.format(folder="SUN/images"), "none"),
        _Spec("places", "Places (MOS subset)", "ood",
              {"test": _Split("Places/images", 10_000, "flat")}, "test",
              _MOS.format(folder="Places/images"), "none"),
        _Spec("textures", "Textures (DTD)", "ood",
              {"test": _Split("dtd/images", 5_640, "class_folders", 47)}, "test",
              "dtd-r1.0.1.tar.gz from the Describable Textures Dataset page of the Oxford VGG group "
              "(Cimpoi et al., CVPR 2014); it unpacks to dtd/images/<texture>/*.jpg (all 5,640 images are used)",
              "folders"),
        _Spec("imagenet10", "ImageNet-10", "id",
              {"val": _Split("ImageNet10/val", 500, "class_folders", 10)}, "val",
              _IMAGENET_SUBSET.format(n=10, folder="ImageNet10/val"), "imagenet_folders", "imagenet"),
        _Spec("imagenet20", "ImageNet-20", "id",
              {"val": _Split("ImageNet20/val", 1_000, "class_folders", 20)}, "val",
              _IMAGENET_SUBSET.format(n=20, folder="ImageNet20/val"), "imagenet_folders", "imagenet"),
        _Spec("imagenet100", "ImageNet-100", "id",
              {"val": _Split("ImageNet100/val", 5_000, "class_folders", 100)}, "val",
              _IMAGENET_SUBSET.format(n=100, folder="ImageNet100/val"), "imagenet_folders", "imagenet"),
        _Spec("cub200", "CUB-200-2011", "id",
              {"test": _Split("CUB_200_2011", 5_794, "list", 200, "train_test_split.txt"),
               "train": _Split("CUB_200_2011", 5_994, "list", 200, "train_test_split.txt"),
               "all": _Split("CUB_200_2011", 11_788, "list", 200, "images.txt")}, "test",
              "CUB_200_2011.tgz from Caltech's data repository (Wah et al., Caltech-UCSD Birds-200-2011, "
              "2011); it unpacks to CUB_200_2011/ with images/<NNN.Class_Name>/*.jpg, images.txt, "
              "train_test_split.txt and classes.txt",
              "cub"),
        _Spec("stanford_cars", "Stanford Cars", "id",
              {"test": _Split("stanford_cars/test", 8_041, "class_folders", 196),
               "train": _Split("stanford_cars/train", 8_144, "class_folders", 196)}, "test",
              "Stanford Cars (Krause et al., 3dRR 2013; the original Stanford page is offline, use a mirror "
              "such as the Kaggle or Hugging Face copies) arranged as one folder per class named with the "
              "devkit's class name (cars_meta.mat), e.g. stanford_cars/test/AM General Hummer SUV 2000/*.jpg",
              "folders"),
        _Spec("food101", "Food-101", "id",
              {"test": _Split("food-101", 25_250, "list", 101, "meta/test.txt"),
               "train": _Split("food-101", 75_750, "list", 101, "meta/train.txt")}, "test",
              "food-101.tar.gz from ETH Zurich's Food-101 page (Bossard et al., ECCV 2014); it unpacks to "
              "food-101/ with images/<class>/*.jpg and meta/{classes,test,train}.txt",
              "food101"),
        _Spec("oxford_pets", "Oxford-IIIT Pet", "id",
              {"test": _Split("oxford-iiit-pet", 3_669, "list", 37, "annotations/test.txt"),
               "trainval": _Split("oxford-iiit-pet", 3_680, "list", 37, "annotations/trainval.txt")}, "test",
              "images.tar.gz and annotations.tar.gz from the Oxford VGG Pets page (Parkhi et al., CVPR 2012), "
              "both unpacked into oxford-iiit-pet/ (giving images/*.jpg and annotations/{test,trainval}.txt)",
              "pets"),
        _Spec("imagenet_a", "ImageNet-A", "id_shift",
              {"test": _Split("imagenet-a", 7_500, "class_folders", 200)}, "test",
              "imagenet-a.tar from the natural-adv-examples repository (Hendrycks et al., 'Natural "
              "Adversarial Examples', CVPR 2021); it unpacks to imagenet-a/<wnid>/*.jpg (200 classes)",
              "imagenet", "imagenet_a"),
        _Spec("imagenet_r", "ImageNet-R", "id_shift",
              {"test": _Split("imagenet-r", 30_000, "class_folders", 200)}, "test",
              "imagenet-r.tar from the imagenet-r repository (Hendrycks et al., 'The Many Faces of "
              "Robustness', ICCV 2021); it unpacks to imagenet-r/<wnid>/*.jpg (200 classes)",
              "imagenet", "imagenet_r"),
        _Spec("imagenet_sketch", "ImageNet-Sketch", "id_shift",
              {"test": _Split("imagenet-sketch/sketch", 50_889, "class_folders", 1000)}, "test",
              "ImageNet-Sketch.zip from the ImageNet-Sketch repository (Wang et al., NeurIPS 2019; also on "
              "the Hugging Face hub as imagenet_sketch); unpack into imagenet-sketch/ so that the images sit "
              "in imagenet-sketch/sketch/<wnid>/*.JPEG",
              "imagenet", "imagenet"),
        _Spec("imagenet_v2", "ImageNetV2 matched-frequency", "id_shift",
              {"test": _Split("imagenetv2-matched-frequency-format-val", 10_000, "class_folders", 1000)}, "test",
              "imagenetv2-matched-frequency.tar.gz from the ImageNetV2 repository (Recht et al., ICML 2019; "
              "files on the Hugging Face hub, vaishaal/ImageNetV2); it unpacks to "
              "imagenetv2-matched-frequency-format-val/<class index 0..999>/*.jpeg",
              "imagenet", "indices"),
        # OpenOOD v1.5's ImageNet-1k setting (docs/real_benchmarks.md §2): image lists under openood/
        _Spec("openood_imagenet1k", "ImageNet-1k (OpenOOD v1.5 ID test list)", "id",
              {"test": _openood_split(45_000, "test_imagenet", "images_largescale", n_classes=1000),
               "val": _openood_split(5_000, "val_imagenet", "images_largescale", n_classes=1000)}, "test",
              _OPENOOD.format(key="imagenet_1k", base="images_largescale",
                              origin="The images are ILSVRC 2012 validation images (Russakovsky et al., IJCV 2015); "
                                     "the list holds 45,000 of the 50,000, the other 5,000 form OpenOOD's "
                                     "validation list."),
              "imagenet"),
        _Spec("ssb_hard", "SSB-hard (OpenOOD v1.5 near-OOD)", "ood",
              {"test": _openood_split(49_000, "test_ssb_hard", "images_largescale")}, "test",
              _OPENOOD.format(key="ssb_hard", base="images_largescale",
                              origin="SSB-hard is the hard split of the Semantic Shift Benchmark's ImageNet-21k "
                                     "classes (Vaze et al., 'Open-Set Recognition: a Good Closed-Set Classifier "
                                     "is All You Need', ICLR 2022)."),
              "none"),
        _Spec("ninco", "NINCO (OpenOOD v1.5 near-OOD)", "ood",
              {"test": _openood_split(5_879, "test_ninco", "images_largescale")}, "test",
              _OPENOOD.format(key="ninco", base="images_largescale",
                              origin="NINCO: Bitterwolf et al., 'In or Out? Fixing ImageNet Out-of-Distribution "
                                     "Detection Evaluation', ICML 2023."),
              "none"),
        _Spec("openood_inaturalist", "iNaturalist (OpenOOD v1.5 far-OOD)", "ood",
              {"test": _openood_split(10_000, "test_inaturalist", "images_largescale")}, "test",
              _OPENOOD.format(key="inaturalist", base="images_largescale",
                              origin="A 10,000-image iNaturalist subset, as in MOS (Huang & Li, CVPR 2021), but "
                                     "in OpenOOD's layout: registered apart from `inaturalist`."),
              "none"),
        _Spec("openood_textures", "Textures (OpenOOD v1.5 far-OOD)", "ood",
              {"test": _openood_split(5_160, "test_textures", "images_classic")}, "test",
              _OPENOOD.format(key="texture", base="images_classic",
                              origin="The list names 5,160 of DTD's 5,640 images (Cimpoi et al., CVPR 2014), "
                                     "so it differs from `textures`, which uses all 5,640."),
              "none"),
        _Spec("openimage_o", "OpenImage-O (OpenOOD v1.5 far-OOD)", "ood",
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

#: The registered benchmark names.
BENCHMARKS: tuple[str, ...] = tuple(_SPECS)


def list_benchmarks(role: str | None = None) -> list[str]:
    """Benchmark names, optionally only those with ``role`` ("id", "ood", "id_shift")."""
    return [n for n, s in _SPECS.items() if role is None or s.role == role]


# --------------------------------------------------------------------------------------------
# Check reports
# --------------------------------------------------------------------------------------------


@dataclass
class CheckReport:
    """Result of :meth:`BenchmarkDataset.check`: ``ok`` and the list of ``problems`` (strings).

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
# Benchmark dataset
# --------------------------------------------------------------------------------------------


class BenchmarkDataset:
    """One benchmark split under a data root. Cheap to create: nothing is read until asked.

    Attributes: ``name``, ``title``, ``role``, ``split``, ``root`` (the data root), ``path``
    (the split's folder), ``expected_count``, ``layout`` (human-readable), ``download``.
    """

    def __init__(self, spec: _Spec, root: Path, split: str):
        self._spec = spec
        self._split = spec.splits[split]
        self.name = spec.name
        self.title = spec.title
        self.role = spec.role
        self.split = split
        self.root = root
        self.path = root / self._split.folder
        self.expected_count = self._split.expected_count
        self.download = spec.download

    def __repr__(self) -> str:
        return f"BenchmarkDataset(name={self.name!r}, split={self.split!r}, path={str(self.path)!r})"

    # -- layout ------------------------------------------------------------------------------
    @property
    def layout(self) -> str:
        s, f = self._split, self._split.folder
        if s.kind == "flat":
            return f"{f}/*.jpg ({s.expected_count:,} images directly in that folder)"
        if s.kind == "class_folders":
            what = {"imagenet": "<wnid>", "imagenet_a": "<wnid of the 200 ImageNet-A classes>",
                    "imagenet_r": "<wnid of the 200 ImageNet-R classes>",
                    "indices": "<ImageNet class index 0..999>"}.get(self._spec.class_folder_names or "", "<class>")
            return f"{f}/{what}/*.jpg ({s.n_classes} class folders, {s.expected_count:,} images)"
        if s.kind == "imglist":
            return (f"{f}/{s.list_file} (OpenOOD image list, one '<path> <label>' per line) naming "
                    f"{s.expected_count:,} images under {f}/{s.image_base}/")
        extra = {"cub": "images/<NNN.Class_Name>/*.jpg with images.txt and train_test_split.txt",
                 "food101": "images/<class>/*.jpg with meta/classes.txt and meta/<split>.txt",
                 "pets": "images/<Breed_N>.jpg with annotations/<split>.txt"}[self._spec.classnames_from]
        return f"{f}/{extra} ({s.expected_count:,} images in split {self.split!r})"

    def _expected_folder_names(self) -> list[str] | None:
        kind = self._spec.class_folder_names
        if kind in ("imagenet_a", "imagenet_r"):
            from ood_core.text.imagenet import subset_wnids

            return list(subset_wnids(kind))
        if kind == "imagenet" and self._split.n_classes == 1000:
            from ood_core.text.imagenet import imagenet_wnids

            return list(imagenet_wnids())
        if kind == "indices":
            return [str(i) for i in range(1000)]
        return None

    def _class_folders(self) -> list[Path]:
        return sorted((p for p in self.path.iterdir() if p.is_dir() and not p.name.startswith(".")),
                      key=lambda p: p.name)

    # -- files ---------------------------------------------------------------------------------
    def _list_split_files(self) -> list[Path]:
        """Images named by the split file of CUB / Food-101 / Pets or an OpenOOD image list (absolute paths, sorted)."""
        s, base = self._split, self.path
        list_path = base / s.list_file
        if not list_path.is_file():
            raise FileNotFoundError(f"split file {list_path} not found")
        if s.kind == "imglist":
            return self._imglist_files(list_path)
        lines = [ln.split() for ln in list_path.read_text().splitlines() if ln.strip()]
        which = self._spec.classnames_from
        if which == "cub":
            images_txt = base / "images.txt"
            if not images_txt.is_file():
                raise FileNotFoundError(f"{images_txt} not found")
            by_id = dict(ln.split() for ln in images_txt.read_text().splitlines() if ln.strip())
            if self.split == "all":
                rel = list(by_id.values())
            else:
                # train_test_split.txt: "<image id> <1 if training image else 0>"
                want = "1" if self.split == "train" else "0"
                rel = [by_id[i] for i, flag in lines if flag == want]
            paths = [base / "images" / r for r in rel]
        elif which == "food101":
            paths = [base / "images" / f"{ln[0]}.jpg" for ln in lines]
        else:  # pets: "<Breed_N> <class id> <species> <breed id>"
            paths = [base / "images" / f"{ln[0]}.jpg" for ln in lines if not ln[0].startswith("#")]
        return sorted(paths, key=lambda p: p.relative_to(base).as_posix())

    def _imglist_files(self, list_path: Path) -> list[Path]:
        """Images named by an OpenOOD image list, under ``path / image_base`` (absolute paths, sorted).

        OpenOOD reads a line as ``"<path> <label>"`` split at the first space; the label (``-1`` for
        OOD images, the class index for ID ones) is not used here. A path that is absolute or climbs
        out of the image folder (``..``) is an error naming the line.
        """
        image_root = self.path / self._split.image_base
        paths = []
        for number, line in enumerate(list_path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            rel = PurePosixPath(line.strip().split(" ", 1)[0])
            if rel.is_absolute() or ".." in rel.parts:
                raise ValueError(f"{list_path}, line {number}: image path {str(rel)!r} must be relative to "
                                 f"{image_root} and stay inside it")
            paths.append(image_root / rel)
        return sorted(paths, key=lambda p: p.relative_to(self.path).as_posix())

    def files(self) -> list[Path]:
        """All image paths of this split, sorted by path relative to ``path`` (deterministic).

        Raises FileNotFoundError (with :meth:`check`'s report) if the split's folder or split file is missing.
        """
        if not self.path.is_dir() or (self._split.list_file and not (self.path / self._split.list_file).is_file()):
            raise FileNotFoundError(str(self.check()))
        kind = self._split.kind
        if kind == "flat":
            return _images_in(self.path)
        if kind == "class_folders":
            return [f for d in self._class_folders() for f in _images_in(d)]
        return self._list_split_files()

    # -- class names ---------------------------------------------------------------------------
    @property
    def classnames(self) -> tuple[str, ...] | None:
        """Class names to prompt with, in class-index order; ``None`` for OOD sets.

        ImageNet-1k and its shifted variants: the 1,000 open_clip ImageNet names. ImageNet-10/20/100:
        the ImageNet names of the wnid folders present (sorted wnids). CUB: ``classes.txt`` /
        folder names without the number, underscores as spaces. Food-101: ``meta/classes.txt`` with
        spaces. Pets: breed names from the split file in class-id order, underscores as spaces.
        Stanford Cars / DTD: the folder names (sorted). Data-derived names need the data on disk.
        """
        which = self._spec.classnames_from
        if which == "none":
            return None
        if which == "imagenet":
            from ood_core.text.imagenet import imagenet_classnames

            return imagenet_classnames()
        if not self.path.is_dir():
            raise FileNotFoundError(str(self.check()))
        if which == "imagenet_folders":
            from ood_core.text.imagenet import imagenet_classnames, imagenet_wnids

            index = {w: i for i, w in enumerate(imagenet_wnids())}
            names = imagenet_classnames()
            folders = [p.name for p in self._class_folders()]
            unknown = [w for w in folders if w not in index]
            if unknown:
                raise ValueError(f"{self.path}: folders {_limited(unknown)} are not ImageNet-1k wnids")
            return tuple(names[index[w]] for w in folders)
        if which == "folders":
            return tuple(p.name for p in self._class_folders())
        if which == "cub":
            classes_txt = self.path / "classes.txt"
            raw = ([ln.split(maxsplit=1)[1] for ln in classes_txt.read_text().splitlines() if ln.strip()]
                   if classes_txt.is_file() else [p.name for p in sorted((self.path / "images").iterdir())])
            return tuple(r.split(".", 1)[-1].replace("_", " ") for r in raw)
        if which == "food101":
            raw = (self.path / "meta" / "classes.txt").read_text().split()
            return tuple(r.replace("_", " ") for r in raw)
        # pets
        by_id: dict[int, str] = {}
        for ln in (self.path / self._split.list_file).read_text().splitlines():
            parts = ln.split()
            if len(parts) >= 2 and not parts[0].startswith("#"):
                by_id.setdefault(int(parts[1]), parts[0].rsplit("_", 1)[0].replace("_", " "))
        return tuple(by_id[k] for k in sorted(by_id))

    # -- check ---------------------------------------------------------------------------------
    def check(self) -> CheckReport:
        """Compare the data on disk with the expected layout; never raises for missing data."""
        problems: list[str] = []
        found = 0
        s = self._split

        def report() -> CheckReport:
            return CheckReport(self.name, self.path, not problems, problems, found, self.expected_count,
                               self.layout, self.download)

        if not self.root.is_dir():
            problems.append(f"data root {self.root} does not exist (set it in params.yaml or with "
                            f"${DATA_ROOT_ENV})")
            return report()
        if not self.path.is_dir():
            problems.append(f"folder {self.path} does not exist")
            return report()

        if s.kind == "class_folders":
            folders = self._class_folders()
            names = [p.name for p in folders]
            expected = self._expected_folder_names()
            if expected is not None:
                missing = sorted(set(expected) - set(names))
                extra = sorted(set(names) - set(expected))
                if missing:
                    problems.append(f"{len(missing)} of {len(expected)} class folders missing: {_limited(missing)}")
                if extra:
                    problems.append(f"{len(extra)} unexpected folders: {_limited(extra)}")
            elif s.n_classes is not None and len(folders) != s.n_classes:
                problems.append(f"{len(folders)} class folders found, expected {s.n_classes}")
            if self._spec.classnames_from == "imagenet_folders":
                from ood_core.text.imagenet import imagenet_wnids

                valid = set(imagenet_wnids())
                bad = [n for n in names if n not in valid]
                if bad:
                    problems.append(f"folders that are not ImageNet-1k wnids: {_limited(bad)}")
            per_folder = [_images_in(p) for p in folders]
            empty = [p.name for p, images in zip(folders, per_folder) if not images]
            if empty:
                problems.append(f"{len(empty)} class folders hold no images: {_limited(empty)}")
            present = [f for images in per_folder for f in images]
        elif s.kind == "flat":
            present = _images_in(self.path)
        else:
            try:
                listed = self._list_split_files()
            except (FileNotFoundError, ValueError) as err:  # ValueError: a bad OpenOOD list line
                problems.append(str(err))
                return report()
            present = [p for p in listed if p.is_file()]
            if len(present) < len(listed):
                kept = set(present)
                absent = [p.relative_to(self.path).as_posix() for p in listed if p not in kept]
                problems.append(f"{len(absent)} images named in {s.list_file} are missing: {_limited(absent)}")
        found = len(present)

        if found != self.expected_count:
            problems.append(f"{found:,} images found, expected {self.expected_count:,}"
                            + (" (incomplete download or extraction?)" if found < self.expected_count else ""))
        unreadable = self._unreadable(present)
        if unreadable:
            problems.append(f"{len(unreadable)} image files cannot be read (they would fail at encoding; replace "
                            f"or delete them, or encode with skip_unreadable=True): {_limited(unreadable)}")
        result = report()
        result.unreadable = unreadable
        return result

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

    # -- loading -------------------------------------------------------------------------------
    def torch_dataset(self, transform: Callable, skip_unreadable: bool = False) -> "ImageFiles":
        """A torch ``Dataset`` over :meth:`files` that opens images lazily (see :class:`ImageFiles`)."""
        return ImageFiles(self.files(), transform, skip_unreadable=skip_unreadable)


def get_dataset(name: str, root: str | os.PathLike | None = None, split: str | None = None, *,
                expected_count: int | None = None) -> BenchmarkDataset:
    """The benchmark ``name`` (see :data:`BENCHMARKS`) under :func:`data_root` ``(root)``.

    ``split``: ``None`` takes the benchmark's default (the one the papers evaluate on).
    ``expected_count``: the image count :meth:`~BenchmarkDataset.check` expects instead of the
    published one (a subset, or the generated mini benchmark of :mod:`ood_study.mini_benchmark`).
    """
    if name not in _SPECS:
        raise ValueError(f"benchmark {name!r} is unknown; valid names: {list(BENCHMARKS)}")
    spec = _SPECS[name]
    split = spec.default_split if split is None else split
    if split not in spec.splits:
        raise ValueError(f"split {split!r} is unknown for {name!r}; valid splits: {list(spec.splits)}")
    dataset = BenchmarkDataset(spec, data_root(root), split)
    if expected_count is not None:
        dataset.expected_count = int(expected_count)
    return dataset


def require(name: str, root: str | os.PathLike | None = None, split: str | None = None, *,
            expected_count: int | None = None) -> BenchmarkDataset:
    """Like :func:`get_dataset`, but raise FileNotFoundError with the check report unless complete."""
    dataset = get_dataset(name, root, split, expected_count=expected_count)
    report = dataset.check()
    if not report.ok:
        raise FileNotFoundError(str(report))
    return dataset


# --------------------------------------------------------------------------------------------
# Lazy image dataset
# --------------------------------------------------------------------------------------------


class UnreadableImageError(OSError):
    """An image file could not be decoded; the message names the file."""


class ImageFiles:
    """A map-style torch ``Dataset``: item ``i`` = ``(transform(RGB image of files[i]), i)``.

    Images are opened only when an item is requested. An unreadable file raises
    :class:`UnreadableImageError` naming it, unless ``skip_unreadable=True``: then the item is
    ``(None, i)``, a warning is logged, and :meth:`collate_fn` drops it from the batch (the
    batch's ``indices`` tell which items remain).
    """

    def __init__(self, files, transform: Callable, skip_unreadable: bool = False):
        self.files = [Path(f) for f in files]
        self.transform = transform
        self.skip_unreadable = skip_unreadable

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        from PIL import Image

        path = self.files[index]
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")  # also forces the full decode inside the try
        except Exception as err:  # PIL raises several types for truncated/corrupt files
            if not self.skip_unreadable:
                raise UnreadableImageError(
                    f"cannot read image {path}: {err}. Replace or delete the file, or pass "
                    "skip_unreadable=True to skip such files (they are recorded in the cache metadata)"
                ) from err
            log.warning("skipping unreadable image %s: %s", path, err)
            return None, index
        return self.transform(image), index

    @staticmethod
    def collate_fn(items):
        """``[(tensor | None, index), ...]`` -> :class:`ood_core.features.encoders.ImageBatch`."""
        import torch

        from ood_core.features.encoders import ImageBatch

        kept = [(x, i) for x, i in items if x is not None]
        if kept:
            images = torch.stack([x for x, _ in kept])
        else:
            images = torch.empty((0,))
        indices = torch.tensor([i for _, i in kept], dtype=torch.int64)
        return ImageBatch(images, indices, len(items))
