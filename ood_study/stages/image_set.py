"""Stage ``image_set``: one real image set under DVC -> ``data/image_sets/<set>.tsv``.

``python -m ood_study.stages.image_set --set NAME``. DVC lists the set's folder under
``paths.data_root`` as this stage's dependency (``image_sets`` in params.yaml names the folders), so
it hashes the images once and afterwards trusts its mtime record; a changed, added or removed image
re-runs this stage, whose manifest (relative path, bytes, sha256 of each image, sorted) then
changes, and with it every ``embed_images`` stage (they depend on ``data/image_sets``). The
embedding cache keys on the same content hashes (memoised in the cache folder), so an unchanged set
is a cache hit there.
"""

from __future__ import annotations

from ood_core._params import unknown_key_error
from ood_core.features import image_sets
from ood_core.features.cache import EmbeddingCache, file_sha256s
from ood_study.layout import Layout
from ood_study.params import StudyParams
from ood_study.stages import log, stage_main

PARAMS = ("image_sets.{set}", "paths.data_root", "paths.cache_dir")


def run(params: StudyParams, layout: Layout, set: str) -> None:  # noqa: A002 - the matrix item's name
    folder = params.get(f"image_sets.{set}")  # the folder DVC tracks
    if set not in image_sets.IMAGE_SETS:
        raise unknown_key_error("image_sets", set, image_sets.IMAGE_SETS)
    dataset = image_sets.image_set(set, root=layout.data_root(params))
    expected = image_sets.image_set(set, root=".").path.as_posix()
    if folder != expected:
        raise ValueError(f"image_sets.{set} = {folder!r}: the registry's folder of {set!r} is {expected!r}")
    files = dataset.files()
    memo = EmbeddingCache(layout.cache_dir(params)).memo_dir
    digests = file_sha256s(files, dataset.path, memo)
    rows = sorted((f.relative_to(dataset.path).as_posix(), size, sha) for f, (size, sha) in zip(files, digests))
    path = layout.image_set_manifest(set)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {set}: {len(rows)} images under <data_root>/{params.get(f'image_sets.{set}')}; "
             "path\tbytes\tsha256"]
    lines += [f"{rel}\t{size}\t{sha}" for rel, size, sha in rows]
    path.write_text("\n".join(lines) + "\n")
    log("image_set", f"{set}: {len(rows)} images, {sum(r[1] for r in rows):,} bytes -> {path}")


def main(argv=None) -> None:
    stage_main(__doc__, PARAMS, run, ("set",), argv)


if __name__ == "__main__":
    main()
