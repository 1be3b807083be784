"""The pipeline, drawn once: ``python -m ood_study.pipeline`` writes ``dvc.yaml`` from its declarations.

Each stage is declared once, in :data:`STAGES`: its command module and arguments, the
``params.yaml`` lists it loops over, its data deps and outputs (from :mod:`ood_study.layout`).
Its ``params:`` are the ``PARAMS`` its module declares (the keys the stage may read; the stage
runs on a view restricted to them), and its code deps are its import closure
(:func:`ood_study.deps.stage_closure`), never written by hand. The ``nb_*`` stages come from the
notebook registry (:data:`ood_study.ablations.NOTEBOOKS`), one per notebook.

``dvc.yaml`` is generated and committed; ``tests/test_pipeline_declaration.py`` fails when it is
out of date (``python -m ood_study.pipeline --check`` says the same). After adding a stage,
notebook, ablation or method module, or changing what a stage imports, run
``python -m ood_study.pipeline``.

Code deps are files, or a whole package folder (e.g. ``ood_core/methods``) when the closure holds
every module of it (the method registry imports all of them): a new module in such a folder is a
dep without regenerating. No stage imports this module.
"""

from __future__ import annotations

import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from ood_study import deps
from ood_study.ablations import NOTEBOOKS, stage_name
from ood_study.layout import Layout, study_name
from ood_study.stages import parser as cli_parser

__all__ = ["Stage", "STAGES", "stages", "render", "main"]

REPO = Path(__file__).resolve().parent.parent
DVC_YAML = "dvc.yaml"
L = Layout(Path("."))

#: matrix axis -> the params.yaml list it runs over
AXES = {"benchmark": "benchmarks", "backbone": "backbones", "method": "methods"}
#: placeholder -> its DVC interpolation (image_set runs over the image_sets mapping: key -> folder)
ITEM = {"benchmark": "${item.benchmark}", "backbone": "${item.backbone}", "method": "${item.method}",
        "set": "${key}", "folder": "${item}"}
STUDY = study_name("{benchmark}", "{backbone}")


@dataclass(frozen=True)
class Stage:
    """One stage template. ``module``: ``python -m <module> <args>``; ``over``: the matrix axes
    (from :data:`AXES`), or ``("set",)`` for one stage per ``image_sets`` entry; ``params``: the
    keys the stage reads (default: the module's ``PARAMS``, or ``PARAMS[params_of]``); ``deps``,
    ``outs``, ``metrics``, ``plots``: data paths with ``{benchmark}``-style placeholders."""

    name: str
    module: str
    args: str = ""
    over: tuple[str, ...] = ()
    deps: tuple[str, ...] = ()
    outs: tuple = ()
    metrics: tuple = ()
    plots: tuple = ()
    params: tuple[str, ...] | None = None
    params_of: str | None = None
    comment: str = ""

    def cmd(self) -> str:
        return " ".join(p for p in ("python -m", self.module, self.args) if p)

    def param_keys(self) -> tuple[str, ...]:
        if self.params is not None:
            return self.params
        declared = importlib.import_module(self.module).PARAMS
        return tuple(declared[self.params_of] if self.params_of else declared)


def _item_args(axes) -> str:
    return " ".join(f"--{a} {{{a}}}" for a in axes)


def _notebook_stage(name: str) -> Stage:
    spec = NOTEBOOKS[name]
    per_study = spec.per == "study"
    owner = STUDY if per_study else "{benchmark}"
    data = {"embeddings": str(L.embeddings_dir(STUDY)), "negatives": str(L.negatives_dir(STUDY)),
            "metrics": str(L.metrics_dir(STUDY)), "all_metrics": str(L.metrics_root)}
    plots: list = [str(L.figures_dir(owner, name))]
    if spec.plot is not None:
        plots.append({str(L.sweep_csv(STUDY, name)): {
            "template": "sweep", "x": "value", "y": "auroc", "title": f"{spec.plot.title} ({STUDY})",
            "x_label": spec.plot.x_label, "y_label": "AUROC (%)"}})
    axes = ("benchmark", "backbone") if per_study else ("benchmark",)
    return Stage(stage_name(name), "ood_study.stages.notebook", f"--notebook {name} {_item_args(axes)}", over=axes,
                 deps=(str(L.notebook_source(name)), *(data[d] for d in spec.data)),
                 outs=(str(L.notebook_dir(owner, name)),), plots=tuple(plots), params=spec.params)


def stages() -> list[Stage]:
    """Every stage, in ``dvc.yaml`` order."""
    study, method = ("benchmark", "backbone"), ("benchmark", "backbone", "method")
    return [
        Stage("corpus", "ood_study.stages.corpus", outs=(str(L.corpus),)),
        Stage("image_set", "ood_study.stages.image_set", "--set {set}", over=("set",),
              deps=("${paths.data_root}/{folder}",), outs=(str(L.image_set_manifest("{set}")),),
              comment="One stage per real image set (params.yaml `image_sets`: empty for the simulated default): "
                      "DVC hashes the set's folder under paths.data_root (the folder the stage reads: "
                      "ood_study.layout resolves paths from params only)."),
        Stage("embed_text", "ood_study.stages.embed", "text " + _item_args(study), over=study, params_of="text",
              deps=(str(L.corpus),), outs=(str(L.text_dir(STUDY)),)),
        Stage("embed_images", "ood_study.stages.embed", "images " + _item_args(study), over=study,
              params_of="images", deps=(str(L.image_sets_dir),), outs=(str(L.images_dir(STUDY)),)),
        Stage("mine", "ood_study.stages.mine", _item_args(method), over=method,
              deps=(str(L.corpus), str(L.text_dir(STUDY))), outs=(str(L.negatives(STUDY, "{method}")),)),
        Stage("score", "ood_study.stages.score", _item_args(method), over=method,
              deps=(str(L.corpus), str(L.embeddings_dir(STUDY)), str(L.negatives(STUDY, "{method}"))),
              outs=(str(L.scores(STUDY, "{method}")), str(L.score_details(STUDY, "{method}")),
                    {str(L.metrics(STUDY, "{method}")): {"cache": False}}),
              metrics=({str(L.summary_metrics(STUDY, "{method}")): {"cache": False}},),
              comment="DVC metrics: a handful of summary numbers per method (ood_study.study.summary_metrics); "
                      "the per-set metrics file is a committed output the report and notebooks read."),
        *(_notebook_stage(name) for name in NOTEBOOKS),
        # cached (not `cache: false`): DVC removes an output before re-running its stage, and results/ is not
        # in git, so only its cache can bring back the last good report after a failing run (`dvc checkout`).
        Stage("report", "ood_study.stages.report", deps=(str(L.metrics_root),), outs=(str(L.report),)),
    ]


STAGES = {s.name: s for s in stages()}


_PLACEHOLDER = re.compile(r"(?<!\$)\{(\w+)\}")


def _fill(value, stage: Stage):
    """``{benchmark}``-style placeholders -> DVC interpolations, in strings, lists and mappings
    (DVC's own ``${...}`` are kept)."""
    if isinstance(value, str):
        item = dict(ITEM)
        if stage.over == ("benchmark",):
            item["benchmark"] = "${item}"  # a one-axis loop: foreach over the benchmarks
        return _PLACEHOLDER.sub(lambda m: item[m.group(1)], value)
    if isinstance(value, dict):
        return {_fill(k, stage): _fill(v, stage) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_fill(v, stage) for v in value]
    return value


def code_deps(stage: Stage, repo: Path = REPO) -> list[str]:
    """The stage's import closure as dvc.yaml deps: files, or a package folder whose every module is in it."""
    closure = {p.as_posix() for p in deps.stage_closure(stage.cmd(), repo)}
    folders = sorted({str(Path(p).parent) for p in closure if Path(p).parent.parent.name in deps.PROJECT_PACKAGES
                      or Path(p).parent.parent.parent.name in deps.PROJECT_PACKAGES}, key=len)
    out: set[str] = set(closure)
    for folder in folders:
        if Path(folder).name in deps.PROJECT_PACKAGES:
            continue
        modules = {p.relative_to(repo).as_posix() for p in (repo / folder).rglob("*.py")}
        if modules and modules <= closure:
            out = {p for p in out if not p.startswith(folder + "/")} | {folder}
    return sorted(out, key=lambda p: (p.count("/") > 1 and not p.endswith(".py"), p))


def _entry(stage: Stage) -> dict:
    body: dict = {"cmd": _fill(stage.cmd(), stage),
                  "deps": _fill(stage.deps, stage) + code_deps(stage),
                  "params": _fill(stage.param_keys(), stage),
                  "outs": _fill(stage.outs, stage)}
    if stage.metrics:
        body["metrics"] = _fill(stage.metrics, stage)
    if stage.plots:
        body["plots"] = _fill(stage.plots, stage)
    if stage.over == ("set",):
        return {"foreach": "${image_sets}", "do": body}
    if stage.over == ("benchmark",):
        return {"foreach": "${benchmarks}", "do": body}
    if stage.over:
        return {"matrix": {a: f"${{{AXES[a]}}}" for a in stage.over}, **body}
    return body


HEADER = """\
# GENERATED by `python -m ood_study.pipeline` from ood_study/pipeline.py (stages) and
# ood_study/ablations.py (notebooks, ablations): do not edit by hand; tests/test_pipeline_declaration.py
# fails when this file is out of date. Paths follow ood_study/layout.py; each stage's `params:` are
# the keys its module declares (PARAMS) and its code deps are its import closure (ood_study/deps.py).
# A study is one benchmark x one backbone; `methods` in params.yaml is the method list.
"""


def render(repo: Path = REPO) -> str:
    """The text of ``dvc.yaml``."""
    doc = {"stages": {}}
    for stage in stages():
        doc["stages"][stage.name] = _entry(stage)
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)
    return HEADER + body


def main(argv=None) -> None:
    parser = cli_parser(__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml is not what the declarations give")
    args = parser.parse_args(argv)
    text = render()
    path = REPO / DVC_YAML
    if args.check:
        if path.read_text() != text:
            print(f"{path} is out of date: run `python -m ood_study.pipeline`", file=sys.stderr)
            raise SystemExit(1)
        print(f"{path} is up to date")
        return
    path.write_text(text)
    print(f"wrote {path} ({text.count(chr(10))} lines, {len(stages())} stage templates)")


if __name__ == "__main__":
    main()
