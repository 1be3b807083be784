"""JupyterLab exploration in a real browser: an ablation notebook of a tiny project, Run All, every
cell executed without an error and its figure rendered on the page; and JupyterLab cannot make the
pipeline stale: after opening and saving, and after Run All and saving, ``dvc status`` of the
notebook's stage dep (its paired percent script, ``notebooks/jupytext.toml``) is clean although the
``.ipynb`` on disk now holds outputs.

Headless Chromium driven by Selenium through chromedriver (Debian: ``chromium`` and
``chromium-driver``; ``scripts/install_browser.sh`` installs them, ``.ci/run`` calls it). Without
them the test is skipped, except under CI=true where it fails. JupyterLab serves the tiny
project's ``notebooks/`` folder, as ``make lab`` does, so the kernel runs there and ``setup()``
finds the project root by walking up. Everything listens on and talks to 127.0.0.1 only; every wait
shares one deadline; the server and its kernels are stopped at the end, also on failure.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ood_study.layout import find_root
from ood_study.notebook import KERNEL_NAME

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = "02_ablation_tau.ipynb"
TIMEOUT_S = 180  # every wait of the test together, from starting the server to the last check
SCREENSHOT_COPY = Path("/tmp/jupyterlab_test.png")  # a fixed place for people to look at it
ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|^\s*\w*(Error|Exception)\b.*:", re.MULTILINE)
LOOPBACK = "127.0.0.1"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str):
    """Skip on a developer's machine; under CI=true the browser test must run, so fail instead."""
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: the JupyterLab browser test must run; .ci/run calls "
                    "scripts/install_browser.sh as root)", pytrace=False)
    pytest.skip(f"{reason}; run `sudo bash scripts/install_browser.sh` to enable this test")


def _browser() -> tuple[str, str]:
    chromium = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        missing = [name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path]
        _unavailable(f"{' and '.join(missing)} not on PATH (Debian packages chromium, chromium-driver)")
    return chromium, driver


def _jupyter() -> str:
    for folder in (REPO / ".venv" / "bin", Path(sys.executable).parent):
        if (folder / "jupyter").is_file():
            return str(folder / "jupyter")
    pytest.fail("no `jupyter` in .venv/bin or beside the test's Python: run scripts/setup.sh", pytrace=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


class Deadline:
    """One time budget for every wait; ``wait`` polls ``check`` until it returns a truthy value."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def used(self) -> float:
        return TIMEOUT_S - self.left()

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def wait(self, check, what: str, every: float = 0.5, diagnose=None):
        while True:
            value = check()
            if value:
                return value
            if self.left() <= 0:
                detail = f"\n{diagnose()}" if diagnose else ""
                raise AssertionError(f"timed out ({TIMEOUT_S} s for the whole test) waiting for {what}{detail}")
            time.sleep(min(every, self.left()))


def _lab_project(tiny_project: Path, dest: Path) -> Path:
    """The tiny project with a real ``notebooks/`` folder and the repo's ``dvc.yaml``.

    The shared fixture links ``notebooks`` to the repo's folder; a kernel started there would see
    the resolved path (``os.getcwd()`` is physical) and find the *repo's* root, and JupyterLab's
    autosave would write outputs into the repo's notebooks. A copy avoids both.
    """
    dest.mkdir()
    for entry in tiny_project.iterdir():
        if entry.name in ("notebooks", "results"):
            continue
        if entry.is_dir():
            shutil.copytree(entry, dest / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, dest / entry.name)
    shutil.copytree(REPO / "notebooks", dest / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if not (dest / "dvc.yaml").is_file():
        shutil.copy2(REPO / "dvc.yaml", dest / "dvc.yaml")  # find_root needs dvc.yaml and params.yaml
    assert find_root(dest / "notebooks") == dest.resolve()
    return dest


def _lab_settings(folder: Path) -> Path:
    """User settings: every cell attached to the page; no news or update checks (no network)."""
    settings = {
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }
    for plugin, values in settings.items():
        package, name = plugin.rsplit("/", 1)
        path = folder / package / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return folder


def _api(port: int, token: str, path: str, method: str = "GET"):
    """A request to the server's REST API on loopback, ignoring any proxy settings."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"http://{LOOPBACK}:{port}{path}", method=method,
                                     headers={"Authorization": f"token {token}"})
    with opener.open(request, timeout=5) as response:
        body = response.read()
        return json.loads(body) if body else None


def _kernel_pids(runtime_dir: Path) -> list[int]:
    """Kernels of this server: their connection files live in its private runtime folder (Linux /proc)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"ipykernel" in arg for arg in cmdline) and any(str(runtime_dir).encode() in a for a in cmdline):
            pids.append(int(proc.name))
    return pids


def _stop(server: subprocess.Popen, port: int, token: str, runtime_dir: Path) -> None:
    """Shut the kernels down through the API, then the server (its process group); kill leftovers."""
    kernels = _kernel_pids(runtime_dir)
    try:
        for session in _api(port, token, "/api/sessions"):
            _api(port, token, f"/api/sessions/{session['id']}", method="DELETE")
    except (OSError, ValueError):
        pass
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
    for pid in kernels:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _chrome(chromium: str, chromedriver: str, folder: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1700", "--hide-scrollbars", f"--user-data-dir={folder / 'chrome-profile'}",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
                # anything not on loopback goes to a dead proxy: the page may only talk to the server
                f"--proxy-server=http://{LOOPBACK}:9"):
        options.add_argument(arg)
    service = Service(executable_path=chromedriver, log_output=str(folder / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)  # explicit paths: Selenium Manager stays idle
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    return driver


# In the page: the notebook's state in one round trip.
STATE_JS = """
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
if (!panel) return null;
const cells = [...panel.querySelectorAll('.jp-Notebook .jp-Cell.jp-CodeCell')];
const stderr = [...panel.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')];
const imgs = [...panel.querySelectorAll('.jp-OutputArea .jp-RenderedImage img')];
const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
const kernel = panel.querySelector('.jp-KernelName, .jp-Toolbar-kernelName');
const dialog = document.querySelector('.jp-Dialog');
return {
  prompts: cells.map(c => (c.querySelector('.jp-InputArea-prompt') || {}).textContent || ''),
  status: indicator ? indicator.getAttribute('data-status') : null,
  kernel: kernel ? kernel.textContent.trim() : null,
  stderr: stderr.map(e => e.textContent),
  images: imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight]),
  dialog: dialog ? dialog.textContent.trim() : null,
};
"""


def _menu(driver, deadline: Deadline, menu: str, label: str) -> None:
    """Menu ``menu`` > ``label``, as a person would."""
    from selenium.webdriver.common.by import By

    def menu_item(xpath):
        items = [e for e in driver.find_elements(By.XPATH, xpath) if e.is_displayed()]
        return items[0] if items else None

    deadline.wait(lambda: menu_item(f"//li[contains(@class,'lm-MenuBar-item')][.//div[text()='{menu}']]"),
                  f"the {menu} menu").click()
    xpath = f"//li[contains(@class,'lm-Menu-item')][.//div[contains(@class,'lm-Menu-itemLabel')][text()='{label}']]"
    item = deadline.wait(lambda: menu_item(xpath), f"{menu} > {label}")
    assert "lm-mod-disabled" not in (item.get_attribute("class") or ""), f"{label} is disabled"
    item.click()


def _run_all_cells(driver, deadline: Deadline) -> None:
    _menu(driver, deadline, "Run", "Run All Cells")


def _save(driver, deadline: Deadline, notebook: Path) -> None:
    """File > Save Notebook; waits until the server has written the file."""
    before = notebook.stat().st_mtime_ns
    _menu(driver, deadline, "File", "Save Notebook")
    deadline.wait(lambda: notebook.stat().st_mtime_ns != before, f"{notebook.name} to be saved")
    time.sleep(1.0)  # the paired script is written in the same request, just after


def _stage_check(root: Path, notebook: str) -> Path:
    """A DVC project at ``root`` whose one stage has the code dep the generated ``dvc.yaml`` gives
    the notebook's stage (its paired script), recorded by ``dvc repro``: ``dvc status`` of it then
    says whether JupyterLab changed what DVC tracks. Returns the DVC file."""
    from ood_study import pipeline
    from ood_study.ablations import stage_name

    stem = Path(notebook).stem
    deps = pipeline.STAGES[stage_name(stem)].deps
    code = [d for d in deps if d.startswith("notebooks/")]
    assert code == [f"notebooks/{stem}.py"], f"the stage's notebook dep is {code}, not the paired script"
    folder = root / "dvc_check"
    folder.mkdir()
    (folder / "dvc.yaml").write_text(json.dumps({"stages": {"notebook_code": {
        "cmd": "true", "deps": [f"../{d}" for d in code]}}}))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}"}
    for cmd in (["dvc", "init", "--no-scm", "-q"], ["dvc", "repro", "-q", "dvc_check/dvc.yaml"]):
        subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True, text=True, timeout=120)
    return folder / "dvc.yaml"


def _dvc_status(dvc_file: Path) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}"}
    result = subprocess.run(["dvc", "status", "dvc_check/dvc.yaml"], cwd=dvc_file.parent.parent, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_jupyterlab_runs_an_ablation_notebook_in_a_real_browser(tiny_project, tmp_path):
    chromium, chromedriver = _browser()
    try:
        import selenium  # noqa: F401
    except ImportError:
        _unavailable("the selenium package is not installed (pip install -e '.[test]')")
    jupyter = _jupyter()
    kernels = json.loads(subprocess.run([jupyter, "kernelspec", "list", "--json"], capture_output=True,
                                        text=True, check=True).stdout)["kernelspecs"]
    assert KERNEL_NAME in kernels, (f"kernel {KERNEL_NAME!r} not installed: run `.venv/bin/python -m ipykernel "
                                    f"install --sys-prefix --name {KERNEL_NAME}` (scripts/setup.sh does)")
    code_cells = sum(c["cell_type"] == "code" for c in json.loads((REPO / "notebooks" / NOTEBOOK).read_text())["cells"])

    root = _lab_project(tiny_project, tmp_path / "project")
    notebooks = root / "notebooks"
    ipynb, script = notebooks / NOTEBOOK, (notebooks / NOTEBOOK).with_suffix(".py")
    dvc_check = _stage_check(root, NOTEBOOK)
    script_bytes = script.read_bytes()
    statuses = {}
    runtime = tmp_path / "jupyter-runtime"
    port, token = _free_port(), secrets.token_hex(24)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # inline figures in the kernel
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"), JUPYTER_RUNTIME_DIR=str(runtime),
               IPYTHONDIR=str(tmp_path / "ipython"), HF_HUB_OFFLINE="1",
               PATH=os.pathsep.join([str(Path(jupyter).parent), env.get("PATH", "")]),
               NO_PROXY=LOOPBACK, no_proxy=LOOPBACK)
    cmd = [jupyter, "lab", "--no-browser", f"--ServerApp.ip={LOOPBACK}", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={notebooks}",
           f"--LabApp.user_settings_dir={_lab_settings(tmp_path / 'lab-settings')}",
           f"--LabApp.workspaces_dir={tmp_path / 'lab-workspaces'}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log_path = tmp_path / "jupyterlab.log"
    screenshot = tmp_path / "jupyterlab.png"
    deadline = Deadline(TIMEOUT_S)
    with open(log_path, "wb") as log:
        server = subprocess.Popen(cmd, cwd=notebooks, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    driver = None
    state, marks = {}, {}

    def server_log():
        return "jupyter lab log (tail):\n" + log_path.read_text(errors="replace")[-3000:]

    def diagnose():
        return f"page state: {state}\n{server_log()}"

    try:
        def server_up():
            assert server.poll() is None, f"jupyter lab exited with {server.returncode}\n{server_log()}"
            try:
                return _api(port, token, "/api/status") is not None
            except (OSError, ValueError):
                return False

        deadline.wait(server_up, "jupyter lab to answer /api/status", diagnose=server_log)
        marks["server up"] = deadline.used()

        driver = _chrome(chromium, chromedriver, tmp_path)
        driver.get(f"http://{LOOPBACK}:{port}/lab/tree/{NOTEBOOK}?reset&token={token}")

        def poll():
            state.clear()
            state.update(driver.execute_script(STATE_JS) or {})
            assert not state.get("dialog"), f"a dialog is open in JupyterLab: {state['dialog'][:500]}"
            errors = [text for text in state.get("stderr", []) if ERROR_TEXT.search(text)]
            assert not errors, "a cell raised an error:\n" + "\n---\n".join(e[-3000:] for e in errors)
            return state

        # The notebook's metadata names the kernel: JupyterLab starts it without asking.
        display_name = kernels[KERNEL_NAME]["spec"]["display_name"]
        deadline.wait(lambda: (len(poll().get("prompts", [])) == code_cells and state["kernel"] == display_name
                               and state["status"] == "idle"),
                      f"{NOTEBOOK} to open with its {code_cells} code cells and kernel {display_name!r} idle",
                      diagnose=diagnose)
        marks["notebook open, kernel idle"] = deadline.used()

        _save(driver, deadline, ipynb)
        statuses["opened and saved"] = _dvc_status(dvc_check)
        marks["opened, saved, dvc status"] = deadline.used()

        _run_all_cells(driver, deadline)
        executed = re.compile(r"^\[\d+\]:$")
        deadline.wait(lambda: all(executed.match(p.strip()) for p in poll()["prompts"]) and state["status"] == "idle",
                      "every code cell to have an execution count and the kernel to be idle", diagnose=diagnose)
        deadline.wait(lambda: any(ok and w > 0 and h > 0 for ok, w, h in poll()["images"]),
                      "the figure (an <img> in .jp-RenderedImage) to render", diagnose=diagnose)
        marks["all cells run, figure shown"] = deadline.used()

        script_mtime = script.stat().st_mtime_ns
        _save(driver, deadline, ipynb)
        saved = json.loads(ipynb.read_text())
        assert any(c.get("outputs") for c in saved["cells"] if c["cell_type"] == "code"), "the save held no outputs"
        assert script.stat().st_mtime_ns != script_mtime, "saving did not rewrite the paired script (jupytext off?)"
        assert script.read_bytes() == script_bytes, "saving from JupyterLab changed the paired script's bytes"
        statuses["run all and saved"] = _dvc_status(dvc_check)
        marks["run, saved, dvc status"] = deadline.used()

        # The kernel ran in the notebooks folder, as under `make lab`, so setup() found the tiny project.
        if Path("/proc").is_dir():
            pids = _kernel_pids(runtime)
            assert len(pids) == 1, f"expected one kernel of this server, found {pids}"
            cwd = Path(os.readlink(f"/proc/{pids[0]}/cwd"))
            assert cwd == notebooks.resolve() and find_root(cwd) == root.resolve(), cwd

        from selenium.webdriver.common.by import By

        figure = driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-RenderedImage img")[0]
        driver.execute_script("arguments[0].scrollIntoView({block: 'nearest'});", figure)  # only if needed
        time.sleep(0.5)
        driver.save_screenshot(str(screenshot))
    except BaseException:
        if driver is not None:
            try:
                driver.save_screenshot(str(tmp_path / "jupyterlab-failure.png"))
                shutil.copyfile(tmp_path / "jupyterlab-failure.png", SCREENSHOT_COPY)
                print(f"\nscreenshot of the failure: {tmp_path / 'jupyterlab-failure.png'} (copy: {SCREENSHOT_COPY})")
            except Exception:
                pass
        raise
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:
                pass
        _stop(server, port, token, runtime)

    for when, status in statuses.items():
        print(f"dvc status after {when}: {status!r}")
        assert status == "Data and pipelines are up to date.", f"after {when}, dvc status says: {status}"
    shutil.copyfile(screenshot, SCREENSHOT_COPY)
    print(f"\nscreenshot: {screenshot} (copy: {SCREENSHOT_COPY}); seconds since starting the server: "
          + ", ".join(f"{what} {t:.0f}" for what, t in marks.items()))
    assert server.returncode is not None
