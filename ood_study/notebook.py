"""The notebooks: their registry and their one-call setup.

:data:`NOTEBOOKS` (declared in :mod:`ood_study.ablations`, one entry per notebook; each ablation
declares its own) is the one list of notebooks: the ``nb_*`` stages of ``dvc.yaml`` are generated
from it (:mod:`ood_study.pipeline`) and the files in ``notebooks/`` and the smoke tests are checked
against it. Each entry says whether the notebook runs per study (benchmark x backbone) or per
benchmark, the ``params.yaml`` keys it reads, and the data it reads.

In a notebook, the first code cell after the parameters is::

    from ood_study.notebook import setup
    nb = setup("02_ablation_tau", benchmark, backbone)

which finds the project root (also when JupyterLab runs the kernel in ``notebooks/``), loads
``params.yaml`` restricted to the notebook's keys, loads the study and prepares the output folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ood_study.ablations import NOTEBOOKS, NotebookSpec, parse_ablation
from ood_study.layout import Layout, find_root, study_name
from ood_study.params import SIMULATED, StudyParams, load_params

__all__ = ["NotebookSpec", "NOTEBOOKS", "Notebook", "setup", "KERNEL_NAME"]

KERNEL_NAME = "ood-core"


def spec(name: str) -> NotebookSpec:
    if name not in NOTEBOOKS:
        raise ValueError(f"notebook={name!r} is unknown; valid: {list(NOTEBOOKS)}")
    return NOTEBOOKS[name]


def owner(name: str, benchmark: str, backbone: str | None) -> str:
    """The results folder a notebook's outputs go under: its study, or its benchmark."""
    return benchmark if spec(name).per == "benchmark" else study_name(benchmark, backbone)


@dataclass
class Notebook:
    """What a notebook works with (returned by :func:`setup`)."""

    name: str
    benchmark: str
    backbone: str | None
    params: StudyParams
    layout: Layout
    output_dir: Path
    dvc_stage: bool = False
    study: object = None
    ablation_override: dict | None = None

    @property
    def tag(self) -> str:
        """Every title of the offline default says SIMULATED: those numbers are not the paper's; every
        title of a random-weight test backbone (ood_core.backbones) says RANDOM WEIGHTS."""
        from ood_core.backbones import is_random_weights

        tag = "SIMULATED benchmark" if self.benchmark == SIMULATED else self.benchmark
        backbones = [self.backbone] if self.backbone else list(self.params.get("backbones"))
        return tag + (" (RANDOM WEIGHTS)" if any(is_random_weights(b) for b in backbones) else "")

    def ablation(self, name: str | None = None):
        """The typed grid of ablation ``name`` (default: this notebook's own), range-checked here
        (:func:`ood_study.ablations.parse_ablation`), the one place an ablation block is validated.
        The notebook parameter ``ablation`` (a mapping of the grid's fields) replaces those fields
        of ``params.yaml``'s block for this run, checked the same way."""
        name = name or spec(self.name).ablation
        if name is None:
            raise ValueError(f"notebook {self.name!r} belongs to no ablation: pass the ablation's name")
        return _ablation_grid(self.name, name, self.params.get(f"ablations.{name}"),
                              self.ablation_override if name == spec(self.name).ablation else None)

    def save_figure(self, fig, name: str) -> Path:
        """Save a finished figure as ``<name>.png`` (300 dpi) and ``<name>.pdf``; returns the PNG path.

        Run by its DVC stage, the PNG goes to the stage's image plots folder
        (``Layout.figures_dir``, so ``dvc plots show`` / ``diff`` compare it across experiments) and
        the PDF to ``figures/`` in the notebook's output folder; run by hand, both go to the latter.
        """
        pdf = self.output_dir / "figures" / f"{name}.pdf"
        png_dir = (self.layout.figures_dir(owner(self.name, self.benchmark, self.backbone), self.name)
                   if self.dvc_stage else pdf.parent)
        png = png_dir / f"{name}.png"
        for folder in (pdf.parent, png_dir):
            folder.mkdir(parents=True, exist_ok=True)
        fig.savefig(png, dpi=300, bbox_inches="tight")
        # No creation date in the PDF, so a re-run gives the same bytes.
        fig.savefig(pdf, bbox_inches="tight", metadata={"CreationDate": None})
        return png

    def save_table(self, table, name: str, markdown: str | None = None) -> Path:
        """Save a DataFrame as ``tables/<name>.csv``, floats at 6 significant digits; with
        ``markdown``, also that text as ``tables/<name>.md`` (the table as the notebook shows it).

        Rounded by :func:`ood_study.study.round_sig` (the table passed in is not changed), so the
        file is identical by hash across machines and thread counts (see there for the limits).
        Returns the CSV's path.
        """
        import pandas as pd

        from ood_study.study import round_sig

        path = self.output_dir / "tables" / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        # Tables indexed by method (main_table, backbone_table, ...) keep their row labels.
        round_sig(table).to_csv(path, index=not isinstance(table.index, pd.RangeIndex))
        if markdown is not None:
            path.with_suffix(".md").write_text(markdown)
        return path

    def save_sweep(self, sweep) -> Path:
        """Save an ablation's sweep table where ``dvc.yaml`` declares it as a plot.

        The table gets the ``series`` and ``panel`` columns of :func:`ood_study.figures.plot_columns`,
        which the DVC plot template draws by (``dvc plots show``: one line per method or OOD set).

        Every float (metrics in %, swept values) is written at 6 significant digits by
        :func:`ood_study.study.round_sig` (the sweep passed in is not changed), so the CSV is
        identical by hash across machines and thread counts (see there for the limits).
        """
        from ood_study.figures import plot_columns
        from ood_study.study import round_sig

        path = (self.layout.sweep_csv(study_name(self.benchmark, self.backbone), self.name) if self.dvc_stage
                else self.output_dir / "sweep.csv")  # an interactive run never writes a DVC output
        path.parent.mkdir(parents=True, exist_ok=True)
        round_sig(plot_columns(sweep, self.tag, self.backbone)).to_csv(path, index=False)
        return path


def _ablation_grid(notebook: str, name: str, block, override: dict | None):
    """``ablations.<name>`` of params.yaml with the fields of ``override`` (the notebook parameter
    ``ablation``) replaced, parsed and range-checked as params.yaml's block is."""
    if override is None:
        return parse_ablation(name, block)
    if not isinstance(override, dict):
        raise ValueError(f"the parameter ablation = {override!r} of notebook {notebook!r} must be a mapping of "
                         f"ablations.{name}'s fields, e.g. ablation = {{'grid': [0.0, 0.1]}}")
    return parse_ablation(name, {**(block or {}), **override},
                          where=f"ablations.{name} (with notebook {notebook!r}'s parameter `ablation`)")


def _run_folder(base: Path) -> Path:
    """A new folder under ``base`` named by the local time (``20261202-153000``; ``-2``, ``-3`` ... when
    one exists already), so runs by hand never overwrite each other."""
    import time

    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1, 1000):
        folder = base / (stamp if i == 1 else f"{stamp}-{i}")
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
    raise RuntimeError(f"no free run folder under {base} for {stamp}")


def _plain(value):
    """``value`` as YAML-safe data: dataclasses as mappings, tuples as lists."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _record_run(folder: Path, name: str, benchmark: str, backbone: str | None, params: StudyParams,
                ablation: dict | None) -> Path:
    """``run.yaml`` in an interactive run's folder: the notebook, its parameters, the params file and
    every ``params.yaml`` key the notebook reads, as used (with the ``ablation`` override)."""
    import yaml

    keys = [k.format(benchmark=benchmark) for k in spec(name).params]
    record = {"notebook": name, "benchmark": benchmark, "backbone": backbone, "params_file": str(params.path),
              "ablation": _plain(ablation), "params": {k: _plain(params.get(k)) for k in keys}}
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(record, sort_keys=False))
    return path


def setup(name: str, benchmark: str, backbone: str | None = None, root=None, params_path=None,
          load: bool = True, dvc_stage: bool = False, ablation: dict | None = None) -> Notebook:
    """Everything a notebook needs, in one call (see the module docstring).

    ``root``: the project root (default: found from the working folder). ``params_path``:
    default ``<root>/params.yaml``. ``load``: load the study's features when the notebook reads them.
    ``ablation``: the notebook parameter of that name, this run's grid fields instead of
    ``params.yaml``'s (interactive runs only). ``dvc_stage``: True only when its DVC stage runs it
    (the stage injects it); an interactive run writes its figures, tables and sweep in a new folder
    ``results/interactive/<owner>/<notebook>/<time>/`` with ``run.yaml`` (the params it used), never into
    DVC-tracked outputs.
    """
    import seaborn as sns

    from ood_study import study as _study

    nb_spec = spec(name)
    root = Path(root) if root is not None else find_root()
    params = load_params(Path(params_path) if params_path else root / "params.yaml")
    params = params.restricted([k.format(benchmark=benchmark) for k in nb_spec.params])
    layout = Layout(root)
    if nb_spec.per == "study" and backbone is None:
        raise ValueError(f"notebook {name!r} runs per study: give a backbone")
    if ablation is not None:
        if nb_spec.ablation is None:
            raise ValueError(f"notebook {name!r} belongs to no ablation: its parameter `ablation` must be None")
        if dvc_stage:
            raise ValueError(f"the DVC stage of {name!r} got the parameter `ablation`: a stage's grid comes from "
                             f"params.yaml (ablations.{nb_spec.ablation}) only")
        _ablation_grid(name, nb_spec.ablation, params.get(f"ablations.{nb_spec.ablation}"), ablation)  # fail early
    if dvc_stage:
        out = layout.notebook_dir(owner(name, benchmark, backbone), name)
        out.mkdir(parents=True, exist_ok=True)
    else:
        out = _run_folder(layout.interactive_dir(owner(name, benchmark, backbone), name))
        _record_run(out, name, benchmark, backbone, params, ablation)
    sns.set_theme(style="whitegrid", context="notebook")
    nb = Notebook(name, benchmark, backbone, params, layout, out, dvc_stage=dvc_stage, ablation_override=ablation)
    if load and "embeddings" in nb_spec.data:
        sets = params.sets(benchmark)
        nb.study = _study.load_study(layout, benchmark, backbone, sets.id, sets.ood)
        s = nb.study
        print(f"{nb.tag}, {backbone}: {len(s.corpus)} wild labels, ID split {s.id_split!r} "
              f"({len(s.images[s.id_split])} images), OOD splits {s.ood_splits}")
    return nb
