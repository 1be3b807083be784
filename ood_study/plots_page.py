"""The page of ``dvc plots show`` / ``dvc plots diff`` offline: vega, vega-lite and vega-embed inlined.

DVC's own page loads vega from a CDN, so offline (the project's default) its vega plots stay blank
("vegaEmbed is not defined"). ``python -m ood_study.plots_page`` (``scripts/setup.sh`` runs it) fetches
the three packages at the versions pinned in :data:`PACKAGES` with ``npm pack`` (the npm registry,
once), checks each tarball against its pinned sha512 (npm's ``integrity`` string), keeps its browser
bundle ``build/<name>.min.js`` as ``build/plots/<name>-<version>.min.js`` and writes
``build/plots/page.html``: the committed template ``.dvc/plots/page.html`` with the bundles inlined in
place of DVC's ``{scripts}`` placeholder. ``.dvc/config`` names that page (``plots.html_template``),
so every ``dvc plots`` page is self-contained wherever ``-o`` writes it. ``build/`` is git-ignored.

Without npm or the registry the page is written from the template unchanged (DVC's CDN scripts: the
plots then need the network; the page says so) and the command says what to install.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PACKAGES", "Package", "TEMPLATE", "OUT_DIR", "PAGE", "fetch", "inline_page", "write_page", "main"]


@dataclass(frozen=True)
class Package:
    """An npm package whose browser bundle the page inlines; ``integrity`` is npm's sha512 of the tarball."""

    name: str
    version: str
    integrity: str

    @property
    def bundle(self) -> str:
        """The UMD bundle inside the tarball (it sets a global: ``vega``, ``vegaLite``, ``vegaEmbed``)."""
        return f"package/build/{self.name}.min.js"

    @property
    def file_name(self) -> str:
        return f"{self.name}-{self.version}.min.js"


# vega-embed 6 runs vega 5 and vega-lite 5 (DVC's templates are vega-lite v5 specs); in load order.
PACKAGES = (
    Package("vega", "5.33.1",
            "sha512-1fArfVDUqVbb5z8n+/nVQb+VNBzx8svY6CrsyTK4Ujm4yrd9I1auoKxBAPXLCavY1LcrbHUskQbGUP8gXOzyQw=="),
    Package("vega-lite", "5.23.0",
            "sha512-l4J6+AWE3DIjvovEoHl2LdtCUkfm4zs8Xxx7INwZEAv+XVb6kR6vIN1gt3t2gN2gs/y4DYTs/RPoTeYAuEg6mA=="),
    Package("vega-embed", "6.29.0",
            "sha512-PmlshTLtLFLgWtF/b23T1OwX53AugJ9RZ3qPE2c01VFAbgt3/GSNI/etzA/GzdrkceXFma+FDHNXUppKuM0U6Q=="),
)
TEMPLATE = Path(".dvc/plots/page.html")  # committed; relative to the project root
OUT_DIR = Path("build/plots")
PAGE = OUT_DIR / "page.html"  # what .dvc/config's plots.html_template names
SCRIPTS = "{scripts}"  # DVC's placeholder for its <script> tags (dvc_render.html.HTML)


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch(package: Package, folder: Path, npm: str = "npm") -> Path:
    """``folder/<name>-<version>.min.js`` from the npm registry (``npm pack``), unless already there.

    Raises RuntimeError when npm fails (not installed, offline), the tarball's sha512 is not the
    pinned one, or it has no bundle at :attr:`Package.bundle`.
    """
    target = folder / package.file_name
    if target.is_file():
        return target
    if shutil.which(npm) is None:
        raise RuntimeError(f"`{npm}` is not on PATH (Debian: apt-get install npm)")
    spec = f"{package.name}@{package.version}"
    with tempfile.TemporaryDirectory() as tmp:
        # cwd: an empty folder, so no package.json around changes what npm does
        result = subprocess.run([npm, "pack", spec, "--json", "--pack-destination", tmp], cwd=tmp,
                                capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"`npm pack {spec}` failed (exit {result.returncode}): {result.stderr.strip()[-800:]}")
        (packed,) = json.loads(result.stdout)
        tarball = Path(tmp) / packed["filename"]
        got = _integrity(tarball.read_bytes())
        if got != package.integrity:
            raise RuntimeError(f"{tarball.name} has sha512 {got}, not the pinned {package.integrity} "
                               f"(ood_study.plots_page.PACKAGES)")
        with tarfile.open(tarball) as archive:
            try:
                member = archive.extractfile(package.bundle)
            except KeyError:
                member = None
            if member is None:
                raise RuntimeError(f"{tarball.name} holds no {package.bundle}")
            code = member.read()
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(code)
    partial.replace(target)  # never a half-written bundle under the final name
    return target


def inline_page(template: str, bundles: list[str]) -> str:
    """``template`` with DVC's ``{scripts}`` placeholder replaced by one inline <script> per bundle.

    A bundle holding ``</script`` or ``<!--`` would end or confuse the inline element: refused
    (ValueError) rather than rewritten. The result has no ``{scripts}``, so DVC adds no CDN tags.
    """
    if template.count(SCRIPTS) != 1:
        raise ValueError(f"the page template must hold DVC's placeholder {SCRIPTS} exactly once "
                         f"(found {template.count(SCRIPTS)}): see {TEMPLATE}")
    for code in bundles:
        lowered = code.lower()
        if "</script" in lowered or "<!--" in lowered:
            raise ValueError("a bundle holds '</script' or '<!--' and cannot be inlined as it is")
    scripts = "\n".join(f"<script>\n{code}\n</script>" for code in bundles)
    return template.replace(SCRIPTS, scripts)


def write_page(root: Path, npm: str = "npm") -> tuple[Path, bool]:
    """Write ``root/build/plots/page.html``; returns (its path, whether vega is inlined).

    Vega inlined when every package could be fetched; otherwise the template as committed (DVC's
    CDN scripts), with the reason printed to stderr.
    """
    template = (root / TEMPLATE).read_text(encoding="utf-8")
    folder = root / OUT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    try:
        bundles = [fetch(p, folder, npm).read_text(encoding="utf-8") for p in PACKAGES]
        page, inlined = inline_page(template, bundles), True
    except RuntimeError as err:
        print(f"[plots] vega not installed locally: {err}.\n"
              f"        `dvc plots show` pages will load vega from a CDN (blank offline). Install npm and "
              f"re-run scripts/setup.sh.", file=sys.stderr)
        page, inlined = template, False
    out = root / PAGE
    if not out.is_file() or out.read_text(encoding="utf-8") != page:
        out.write_text(page, encoding="utf-8")
    return out, inlined


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ood_study.plots_page", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("."), help="the project root (default: .)")
    parser.add_argument("--npm", default="npm", help="the npm executable (default: npm)")
    args = parser.parse_args(argv)
    if not (args.root / TEMPLATE).is_file():
        parser.error(f"no {TEMPLATE} under {args.root.resolve()}: pass the project root with --root")
    write_page(args.root, args.npm)


if __name__ == "__main__":
    main()
