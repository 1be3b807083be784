"""`dvc plots show` offline and `dvc plots diff` across revisions.

* The page template (``ood_study.plots_page``): DVC's ``{scripts}`` placeholder becomes inline bundles;
  a tarball whose sha512 is not the pinned one is refused (a fake ``npm`` serves the tarballs).
* In headless Chromium with every request off loopback sent to a dead proxy: the ``dvc plots show``
  page of the tiny project (its five sweep notebooks run) loads nothing from the network, draws each
  sweep with one point per valid row of its CSV and one line per (panel, series), and no figure is
  wider than the window although the 300-dpi PNGs are. The screenshot goes to /tmp/plots_offline.png.
* On a clone: ``dvc repro`` of the tau notebook, commit, an experiment with another grid;
  ``dvc plots diff main <experiment>`` names both revisions with their own grids, and ``dvc checkout``
  after switching branches restores each branch's sweep from the local cache.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import stat
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import project_env, run_ok, shrink_params_text

from ood_study import plots_page
from ood_study.ablations import NOTEBOOKS
from ood_study.layout import Layout

REPO = Path(__file__).resolve().parent.parent
DVC = REPO / ".venv" / "bin" / "dvc"
STUDY = "simulated-ViT-B-16"
SWEEPS = [name for name, spec in NOTEBOOKS.items() if spec.sweep]
SCREENSHOT_COPY = Path("/tmp/plots_offline.png")  # a fixed place for people to look at it


# ---------------------------------------------------------------- the page template, no browser

def test_the_placeholder_becomes_inline_scripts_and_a_bad_bundle_or_template_is_refused():
    page = plots_page.inline_page("<head>{scripts}</head><body>{plot_divs}</body>", ["var a = 1;", "var b = 2;"])
    assert page == ("<head><script>\nvar a = 1;\n</script>\n<script>\nvar b = 2;\n</script></head>"
                    "<body>{plot_divs}</body>")
    with pytest.raises(ValueError, match="</script"):
        plots_page.inline_page("{scripts}{plot_divs}", ['x = "</SCRIPT>";'])
    with pytest.raises(ValueError, match="exactly once"):
        plots_page.inline_page("{plot_divs}", ["var a;"])


def _fake_npm(folder: Path, tarballs: dict[str, bytes]) -> Path:
    """An ``npm`` that answers ``npm pack NAME@VERSION --json --pack-destination DIR`` from ``tarballs``."""
    store = folder / "store"
    store.mkdir(parents=True)
    for spec, data in tarballs.items():
        (store / spec.replace("@", "-")).write_bytes(data)
    script = folder / "npm"
    script.write_text(f"""#!/usr/bin/env python3
import json, shutil, sys
spec, dest = sys.argv[2], sys.argv[sys.argv.index("--pack-destination") + 1]
name = spec.replace("@", "-") + ".tgz"
shutil.copy("{store}/" + spec.replace("@", "-"), dest + "/" + name)
print(json.dumps([{{"filename": name}}]))
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def _tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_a_fetched_bundle_must_match_its_pinned_sha512(tmp_path):
    good = _tarball({"package/build/vega.min.js": b"var vega = {};", "package/README.md": b"readme"})
    npm = _fake_npm(tmp_path / "npm", {"vega@1.0.0": good, "vega@2.0.0": good})
    # npm's integrity string: "sha512-" and the base64 of the tarball's SHA-512 digest
    pinned = "sha512-" + base64.b64encode(hashlib.sha512(good).digest()).decode()
    bundle = plots_page.fetch(plots_page.Package("vega", "1.0.0", pinned), tmp_path / "out", str(npm))
    assert bundle == tmp_path / "out" / "vega-1.0.0.min.js" and bundle.read_bytes() == b"var vega = {};"
    wrong = plots_page.Package("vega", "2.0.0", "sha512-" + base64.b64encode(hashlib.sha512(b"").digest()).decode())
    with pytest.raises(RuntimeError, match="not the pinned"):
        plots_page.fetch(wrong, tmp_path / "out", str(npm))
    assert not (tmp_path / "out" / "vega-2.0.0.min.js").exists()
    with pytest.raises(RuntimeError, match="not on PATH"):
        plots_page.fetch(wrong, tmp_path / "out", str(tmp_path / "no-npm"))


def test_the_page_inlines_fetched_bundles_and_without_npm_keeps_the_template(tmp_path, capsys):
    root = tmp_path / "project"
    (root / ".dvc" / "plots").mkdir(parents=True)
    shutil.copy2(REPO / plots_page.TEMPLATE, root / plots_page.TEMPLATE)
    template = (root / plots_page.TEMPLATE).read_text()
    page, inlined = plots_page.write_page(root, npm=str(tmp_path / "no-npm"))
    assert page == root / "build" / "plots" / "page.html" and not inlined
    assert page.read_text() == template  # DVC's CDN scripts stay; the page says vega did not load
    assert "vega not installed locally" in capsys.readouterr().err
    for package in plots_page.PACKAGES:  # bundles already fetched are used as they are: npm is not asked
        (root / plots_page.OUT_DIR / package.file_name).write_text(f"window.{package.name.replace('-', '_')} = 1;")
    page, inlined = plots_page.write_page(root, npm=str(tmp_path / "no-npm"))
    text = page.read_text()
    assert inlined and plots_page.SCRIPTS not in text and "{plot_divs}" in text
    positions = [text.index(f"window.{name} = 1;") for name in ("vega", "vega_lite", "vega_embed")]
    assert positions == sorted(positions)  # vega-embed needs vega and vega-lite loaded before it


# ---------------------------------------------------------------- the offline page in a browser

PAGE_JS = """
const out = {vegaEmbed: typeof vegaEmbed, width: window.innerWidth,
             scrollWidth: document.documentElement.scrollWidth, errors: window.__errors || [],
             resources: performance.getEntriesByType('resource').map(e => e.name), plots: [], images: []};
for (const id of arguments[0]) {  // vegaEmbed replaces each div's content (its script too) by the chart
  const div = document.getElementById(id);
  const svg = div ? div.querySelector('svg.marks') : null;
  const q = sel => svg ? [...svg.querySelectorAll(sel)] : [];
  out.plots.push({id: div.id, title: q('.role-title-text').map(t => t.textContent).join(' '),
                  points: q('.mark-symbol.role-mark path').length,
                  lines: q('.mark-line.role-mark path').filter(p => (p.getAttribute('d') || '').length > 2).length,
                  right: svg ? svg.getBoundingClientRect().right : null});
}
for (const img of document.images) {
  const r = img.getBoundingClientRect();
  out.images.push({src: img.getAttribute('src'), complete: img.complete, natural: img.naturalWidth,
                   width: r.width, right: r.right});
}
return out;
"""
# Installed before the page's own scripts run: its errors are kept for the failure message.
ERROR_HOOK = ("window.__errors = []; addEventListener('error', e => window.__errors.push(String(e.message)));"
              "addEventListener('unhandledrejection', e => window.__errors.push(String(e.reason)));")
WINDOW = (1280, 1600)


def _expected_marks(csv: Path) -> tuple[int, int]:
    """(points, lines) the sweep template draws for ``csv``: one point per valid row with a series and
    numeric x and y, one line per (panel, series) among them (.dvc/plots/sweep.json's filter)."""
    table = pd.read_csv(csv)
    valid = table["valid"].astype(str).isin(["True", "true"])
    named = table["series"].notna() & (table["series"].astype(str) != "")
    numeric = (pd.to_numeric(table["value"], errors="coerce").notna()
               & pd.to_numeric(table["auroc"], errors="coerce").notna())
    drawn = table[valid & named & numeric]
    return len(drawn), drawn.groupby(["panel", "series"]).ngroups


def _offline_site(tiny_project: Path, dest: Path) -> tuple[Path, list[str]]:
    """A DVC project holding the tiny project's five sweeps and their notebooks' figures, the repo's
    dvc.yaml and .dvc/config and the installed page template. Returns (root, the plot targets)."""
    from ood_study.stages import notebook as nb_stage

    layout = Layout(tiny_project)
    for name in SWEEPS:
        if not layout.sweep_csv(STUDY, name).exists():  # tests/test_pipeline.py may have run it already
            nb_stage.run(tiny_project / "params.yaml", layout, name, "simulated", "ViT-B-16")
    dest.mkdir()
    run_ok([str(DVC), "init", "--no-scm", "-q"], dest, project_env())
    shutil.copy2(REPO / ".dvc" / "config", dest / ".dvc" / "config")
    shutil.copytree(REPO / ".dvc" / "plots", dest / ".dvc" / "plots", dirs_exist_ok=True)
    shutil.copytree(REPO / plots_page.OUT_DIR, dest / plots_page.OUT_DIR)
    shutil.copy2(REPO / "dvc.yaml", dest / "dvc.yaml")
    shutil.copy2(tiny_project / "params.yaml", dest / "params.yaml")
    targets = []
    for name in SWEEPS:
        for path in (layout.sweep_csv(STUDY, name), layout.figures_dir(STUDY, name)):
            relative = path.relative_to(tiny_project)
            (dest / relative).parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if path.is_dir() else shutil.copy2)(path, dest / relative)
            targets.append(str(relative))
    return dest, targets


def test_dvc_plots_show_draws_every_sweep_offline_and_fits_the_window(tiny_project, tmp_path):
    from test_jupyterlab import Deadline, _browser, _chrome, _unavailable

    chromium, chromedriver = _browser()
    try:
        import selenium  # noqa: F401
    except ImportError:
        _unavailable("the selenium package is not installed (pip install -e '.[test]')")
    page_template = REPO / plots_page.PAGE
    if not page_template.is_file() or plots_page.SCRIPTS in page_template.read_text(encoding="utf-8"):
        _unavailable(f"{plots_page.PAGE} is missing or has no vega inlined: run scripts/setup.sh (it needs npm)")

    site, targets = _offline_site(tiny_project, tmp_path / "site")
    printed = run_ok([str(DVC), "plots", "show", *targets], site, project_env(), timeout=300)
    index = site / "dvc_plots" / "index.html"
    assert index.as_uri() in printed, printed
    html = index.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc\s*=", html), "the page loads a script from somewhere"
    vega_divs = re.findall(r"vegaEmbed\('#([^']+)'", html)  # DVC's div per vega plot, drawn by its inline script
    assert len(vega_divs) == len(SWEEPS), vega_divs
    expected = {f"{NOTEBOOKS[name].plot.title} ({STUDY})": _expected_marks(Layout(site).sweep_csv(STUDY, name))
                for name in SWEEPS}
    figures = sorted(p.name for name in SWEEPS for p in Layout(site).figures_dir(STUDY, name).glob("*.png"))
    assert figures, "the sweep notebooks saved no figure"

    from PIL import Image
    widest = max(Image.open(p).width for name in SWEEPS for p in Layout(site).figures_dir(STUDY, name).glob("*.png"))
    assert widest > WINDOW[0], f"no figure is wider than the window ({widest} px): the scaling is not exercised"

    driver, state = None, {}
    deadline = Deadline(120)
    try:
        driver = _chrome(chromium, chromedriver, tmp_path)  # every request off loopback goes to a dead proxy
        driver.set_window_size(*WINDOW)
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": ERROR_HOOK})
        driver.get(index.as_uri())

        def drawn():
            state.clear()
            state.update(driver.execute_script(PAGE_JS, vega_divs))
            return (all(p["points"] for p in state["plots"])
                    and all(i["complete"] for i in state["images"]))

        deadline.wait(drawn, f"the {len(SWEEPS)} sweep plots to draw", diagnose=lambda: json.dumps(state, indent=1))
        driver.execute_script("window.scrollTo(0, 0);")
        driver.save_screenshot(str(tmp_path / "plots_offline.png"))
        shutil.copyfile(tmp_path / "plots_offline.png", SCREENSHOT_COPY)
    finally:
        if driver is not None:
            driver.quit()

    assert state["vegaEmbed"] == "function" and not state["errors"], state["errors"]
    assert all(url.startswith("file:") for url in state["resources"]), state["resources"]
    # the title texts hold the plot's title (dvc.yaml) and its panels' headers
    titles = {next((title for title in expected if title in plot["title"]), None): plot for plot in state["plots"]}
    assert sorted(titles, key=str) == sorted(expected), [p["title"] for p in state["plots"]]
    for title, plot in titles.items():
        assert (plot["points"], plot["lines"]) == expected[title], plot
        assert plot["right"] <= state["width"], f"{plot['title']} is wider than the window"
    assert sorted(Path(i["src"]).name.split("_", 1)[0] for i in state["images"]) == ["workspace"] * len(figures)
    for image in state["images"]:
        assert image["natural"] > 0 and image["right"] <= state["width"], image
    assert state["scrollWidth"] <= state["width"], "the page scrolls sideways"
    print(f"\nscreenshot: {SCREENSHOT_COPY}; {len(state['plots'])} sweeps, {len(state['images'])} figures "
          f"(widest {widest} px) in a {state['width']} px window")


# ---------------------------------------------------------------- dvc plots diff and checkout on a clone

def _grid(csv_text: str) -> list[float]:
    return sorted(pd.read_csv(io.StringIO(csv_text))["value"].unique().tolist())


@pytest.mark.e2e  # dvc repro and an experiment on a clone: ~8 min on a busy 2-core machine
@pytest.mark.skipif(not DVC.exists(), reason="needs the project's .venv (scripts/setup.sh)")
def test_plots_diff_names_both_revisions_and_checkout_restores_each_branch(tmp_path):
    if not (REPO / ".git").exists():
        pytest.skip("needs the project's git repository")
    repo, env, dvc = tmp_path / "repo", project_env(), str(DVC)
    run_ok(["git", "clone", "-q", str(REPO), str(repo)], tmp_path, env)
    run_ok(["git", "checkout", "-q", "-B", "main"], repo, env)
    # the small study, DNM alone (the tau notebook reads only its negatives), a two-point tau grid
    text = shrink_params_text((repo / "params.yaml").read_text(), [
        (r"(?m)^methods:\n(?:- .*\n)+", "methods:\n- dnm\n"),
        (r"(?m)^  tau: \{grid: \[[^\]]*\]\}", "  tau: {grid: [0.0, 0.3]}")])
    (repo / "params.yaml").write_text(text)
    if (REPO / plots_page.OUT_DIR).is_dir():  # the bundles scripts/setup.sh fetched; else npm fetches them
        shutil.copytree(REPO / plots_page.OUT_DIR, repo / plots_page.OUT_DIR)
    plots_page.write_page(repo)  # what scripts/setup.sh does on a fresh clone
    target = f"nb_ablation_tau@{STUDY}"
    sweep = Layout(Path(".")).sweep_csv(STUDY, "02_ablation_tau").as_posix()
    run_ok([dvc, "repro", target], repo, env)
    run_ok(["git", "add", "-A"], repo, env)
    run_ok(["git", "commit", "-qm", "small study: the tau sweep"], repo, env)
    assert _grid((repo / sweep).read_text()) == [0.0, 0.3]

    # --temp: run beside the workspace, which stays main's (so `git checkout` below finds no local change)
    run_ok([dvc, "exp", "run", "--temp", "-n", "taugrid", "-S", "ablations.tau.grid=[0.0,0.6]", target], repo, env)

    # plots diff reads main's outputs from the local cache (repro put them there) and names both revisions
    figures = Layout(Path(".")).figures_dir(STUDY, "02_ablation_tau").as_posix()
    diff = [dvc, "plots", "diff", "main", "taugrid", "--targets", sweep, figures]
    shown = json.loads(run_ok([*diff, "--json"], repo, env))["data"]
    (plot,) = shown[sweep]
    assert sorted(plot["revisions"]) == ["main", "taugrid"]
    values = plot["content"]["data"]["values"]
    by_rev = {rev: sorted({float(row["value"]) for row in values if row["rev"] == rev}) for rev in ("main", "taugrid")}
    assert by_rev == {"main": [0.0, 0.3], "taugrid": [0.0, 0.6]}
    printed = run_ok([*diff, "-o", "diff_page"], repo, env)
    page = (repo / "diff_page" / "index.html").read_text(encoding="utf-8")
    assert (repo / "diff_page" / "index.html").as_uri() in printed
    assert page.count("<p>main</p>") == page.count("<p>taugrid</p>") >= 1  # each figure, once per revision
    assert "vegaEmbed(" in page and not re.search(r"<script[^>]*\bsrc\s*=", page)  # vega inlined, as for show

    # a branch from the experiment; dvc checkout after each git checkout restores that branch's sweep
    run_ok([dvc, "exp", "branch", "taugrid", "taugrid-branch"], repo, env)
    for branch, grid in (("taugrid-branch", [0.0, 0.6]), ("main", [0.0, 0.3]), ("taugrid-branch", [0.0, 0.6])):
        run_ok(["git", "checkout", "-q", branch], repo, env)
        run_ok([dvc, "checkout", "--with-deps", target], repo, env)  # the lock's other stages: the full study's
        assert _grid((repo / sweep).read_text()) == grid, branch
        status = run_ok([dvc, "status", target], repo, env)
        assert "up to date" in status, f"on {branch}: {status}"

    # sharing through a DVC remote (README): main's outputs pushed; another clone pulls them, running nothing
    run_ok(["git", "checkout", "-q", "main"], repo, env)
    run_ok([dvc, "checkout", "--with-deps", target], repo, env)
    run_ok([dvc, "remote", "add", "-d", "shared", str(tmp_path / "remote")], repo, env)
    run_ok(["git", "commit", "-qam", "a shared DVC remote"], repo, env)
    run_ok([dvc, "push", "--with-deps", target], repo, env)
    other = tmp_path / "other"
    run_ok(["git", "clone", "-q", "-b", "main", str(repo), str(other)], tmp_path, env)
    run_ok([dvc, "pull", "--with-deps", target], other, env)
    assert (other / sweep).read_bytes() == (repo / sweep).read_bytes()
    assert "up to date" in run_ok([dvc, "status", target], other, env)
