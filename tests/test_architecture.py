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
            "from ood_core import methods\nprint(len(methods.names()))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.strip()) >= 6
