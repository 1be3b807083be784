"""Stages ``nb_*``: execute a notebook headless with papermill.

``python -m ood_study.stages.notebook --notebook NAME --benchmark B [--backbone N]``. What runs is
the notebook's code, ``notebooks/<name>.py`` (the jupytext-paired percent script, the stage's DVC
dep), turned into a fresh notebook: the ``.ipynb`` JupyterLab saves (outputs, metadata) is not read,
so opening, saving or running it never makes the stage stale. The notebook's parameters (benchmark, backbone, project root, params file) go to papermill in a
YAML file; the executed notebook lands in its output folder (:mod:`ood_study.layout`), with the
figures and tables it saves.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from ood_study.ablations import check_ablation_names
from ood_study.layout import Layout, check_name
from ood_study.notebook import KERNEL_NAME, NOTEBOOKS, owner, spec
from ood_study.params import PARAMS_FILE, load_params
from ood_study.stages import log, stage_params
from ood_study.stages import parser as cli_parser


def ensure_kernel() -> None:
    """Install the ``ood-core`` kernel into this environment if it is missing (e.g. a conda env made
    from environment.yml, which cannot run ipykernel's install step)."""
    from jupyter_client.kernelspec import find_kernel_specs

    if KERNEL_NAME not in find_kernel_specs():
        log("notebook", f"installing the Jupyter kernel {KERNEL_NAME!r} for {sys.executable}")
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL_NAME,
                        "--display-name", "Python (ood_core)"], check=True, capture_output=True)


def check_parameters(source: Path, nb_params: dict) -> None:
    """Every injected name must be a parameter of the notebook (papermill would only warn)."""
    import papermill

    declared = set(papermill.inspect_notebook(str(source)))
    unknown = sorted(set(nb_params) - declared)
    if unknown:
        raise ValueError(f"{source}: parameter(s) {unknown} are not in its `parameters` cell "
                         f"(declared: {sorted(declared)}); add them there or fix the name")


def code_notebook(script: Path, dest: Path) -> Path:
    """Write the notebook of a paired percent script (cells, markdown, the ``parameters`` tag) to
    ``dest``, with the project kernel named; returns ``dest``."""
    import jupytext

    if not script.is_file():
        raise FileNotFoundError(f"{script} not found: each notebook is paired with its percent script "
                                f"(run `jupytext --sync notebooks/*.ipynb` to write it from the .ipynb)")
    nb = jupytext.read(script)
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "Python (ood_core)", "language": "python"}
    jupytext.write(nb, dest, fmt="ipynb")
    return dest


def run(params_path: Path, layout: Layout, name: str, benchmark: str, backbone: str | None) -> None:
    # Validate params.yaml, the ablation names and the notebook's keys before starting a kernel.
    params = load_params(params_path)
    check_ablation_names(params.get("ablations"))
    stage_params(params, spec(name).params, benchmark=benchmark)
    script = layout.notebook_source(name)
    if not script.parent.is_dir():
        raise FileNotFoundError(f"{script.parent} not found: the project root {layout.root} must hold the notebooks/ "
                                "folder")
    out_dir = layout.notebook_dir(owner(name, benchmark, backbone), name)
    out_dir.mkdir(parents=True, exist_ok=True)
    nb_params = {"benchmark": benchmark, "backbone": backbone, "root": str(Path(layout.root).resolve()),
                 "params_path": str(Path(params_path).resolve()), "dvc_stage": True}
    with tempfile.TemporaryDirectory(prefix="ood-notebook-") as tmp:
        source = code_notebook(script, Path(tmp) / f"{name}.ipynb")
        check_parameters(source, nb_params)
        ensure_kernel()
        params_file = out_dir / "papermill_parameters.yaml"
        params_file.write_text(yaml.safe_dump(nb_params, sort_keys=True))
        cmd = [sys.executable, "-m", "papermill", "--kernel", KERNEL_NAME, "--cwd", str(Path(layout.root).resolve()),
               "-f", str(params_file), "--progress-bar", str(source), str(out_dir / f"{name}.ipynb")]
        log("notebook", f"{script} -> " + " ".join(cmd))
        subprocess.run(cmd, check=True)


def main(argv=None) -> None:
    parser = cli_parser(__doc__)
    parser.add_argument("--params", default=PARAMS_FILE)
    parser.add_argument("--root", default=".")
    parser.add_argument("--notebook", required=True, choices=list(NOTEBOOKS))
    parser.add_argument("--benchmark", required=True)
    parser.add_argument("--backbone")
    args = parser.parse_args(argv)
    check_name("--benchmark", args.benchmark)
    if args.backbone is not None:
        check_name("--backbone", args.backbone)
    run(Path(args.params), Layout(Path(args.root)), args.notebook, args.benchmark, args.backbone)


if __name__ == "__main__":
    main()
