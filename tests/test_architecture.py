"""The layout promise: ood_core is a library that imports with numpy, torch and scikit-learn alone
and never imports the application (ood_study)."""

import subprocess
import sys
from pathlib import Path

from ood_study import deps

REPO = Path(__file__).resolve().parent.parent
LIBRARY_MODULES = sorted(".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
                         for p in (REPO / "ood_core").rglob("*.py"))
APPLICATION_ONLY = ["ood_study", "pandas", "yaml", "dvc", "papermill", "seaborn", "matplotlib", "tabulate",
                    "open_clip", "timm", "torchvision", "PIL", "huggingface_hub"]


def test_the_library_never_imports_the_application():
    closure = deps.import_closure(LIBRARY_MODULES, REPO)
    assert closure and not [p for p in closure if p.parts[0] == "ood_study"]


def test_every_library_module_imports_without_application_packages():
    # Blocking a module in sys.modules makes `import it` fail, as if it were not installed.
    code = ("import sys\n"
            f"for name in {APPLICATION_ONLY!r}:\n    sys.modules[name] = None\n"
            "import importlib\n"
            f"for module in {LIBRARY_MODULES!r}:\n    importlib.import_module(module)\n"
            "from ood_core import methods\nprint(' '.join(sorted(methods.names())))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    # the registry finds every method module (all but the shared base)
    modules = sorted(p.stem for p in (REPO / "ood_core" / "methods").glob("*.py") if p.stem not in ("__init__", "base"))
    assert result.stdout.split() == modules


def test_the_repository_holds_what_it_cites_and_declares():
    import tomllib

    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert meta["license"]["text"] == "MIT" and "MIT License" in (REPO / "LICENSE").read_text()
    cited = []
    for path in [*(REPO / "ood_core").rglob("*.py"), *(REPO / "ood_study").rglob("*.py"), *(REPO / "tests").rglob("*.py")]:
        text = path.read_text()
        if "SPEC " + "section" in text or "SPEC " + "§" in text:
            cited.append(str(path.relative_to(REPO)))
    assert not cited, f"these cite a file outside the repository: {cited}"
    methods_doc = (REPO / "docs" / "methods.md").read_text()
    assert all(f"## §{n}" in methods_doc for n in range(1, 7))


def test_the_notebook_stage_installs_its_kernel_when_missing(monkeypatch):
    import jupyter_client.kernelspec

    from ood_study.stages import notebook

    calls = []
    monkeypatch.setattr(jupyter_client.kernelspec, "find_kernel_specs", lambda: {})
    monkeypatch.setattr(notebook.subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    notebook.ensure_kernel()
    assert calls and calls[0][1:5] == ["-m", "ipykernel", "install", "--sys-prefix"] and "ood-core" in calls[0]
    calls.clear()
    monkeypatch.setattr(jupyter_client.kernelspec, "find_kernel_specs", lambda: {"ood-core": "/x"})
    notebook.ensure_kernel()
    assert not calls


def test_make_lab_allows_root_only_as_root():
    import os

    result = subprocess.run(["make", "-n", "lab"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    lab = [line for line in result.stdout.splitlines() if "jupyter lab" in line]
    assert lab and ("--allow-root" in lab[0]) == (os.geteuid() == 0)
