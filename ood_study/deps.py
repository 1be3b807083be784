"""Import closures of the DVC stages: which project files can change what a stage computes.

:func:`import_closure` reads the source of a module (and of everything it imports, at any depth,
including imports inside functions) with :mod:`ast`, without importing it, and returns the
project files it reaches: ``ood_core/...`` and ``ood_study/...``. Importing ``a.b.c`` also runs
``a/__init__.py`` and ``a/b/__init__.py``, so those count; a package that imports its modules by
discovery (``pkgutil.iter_modules``, like the method registry) pulls in all of them.

:func:`stage_closure` does this for a ``dvc.yaml`` command (``python -m <module> ...``) and, for a
notebook stage, for the imports of the notebook's code cells too. ``tests/test_dvc.py`` checks
that each stage's ``deps`` cover its closure. Run ``python -m ood_study.deps`` to print them.
"""

from __future__ import annotations

import ast
import json
import shlex
import sys
from functools import lru_cache
from pathlib import Path

__all__ = ["PROJECT_PACKAGES", "import_closure", "stage_closure", "covered_by", "module_file"]

PROJECT_PACKAGES = ("ood_core", "ood_study")
REPO = Path(__file__).resolve().parent.parent


def module_file(module: str, repo: Path = REPO) -> Path | None:
    """The source file of a project module (``pkg/mod.py`` or ``pkg/__init__.py``), else ``None``."""
    base = repo.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_modules(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Absolute module names imported anywhere in ``tree`` (``from a import b`` may name a module a.b)."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def _discovers_submodules(tree: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "iter_modules" for n in ast.walk(tree))


@lru_cache(maxsize=None)
def _direct(module: str, repo: Path) -> frozenset[str]:
    path = module_file(module, repo)
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    names = _imported_modules(tree, module, is_package)
    if is_package and _discovers_submodules(tree):
        names.update(f"{module}.{p.stem}" for p in path.parent.glob("*.py") if p.name != "__init__.py")
    return frozenset(n for n in names if n.split(".")[0] in PROJECT_PACKAGES and module_file(n, repo))


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def import_closure(modules, repo: Path = REPO) -> set[Path]:
    """Project files (relative to ``repo``) that importing ``modules`` can run."""
    todo = [m for name in modules for m in _with_parents(name) if module_file(m, repo)]
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for name in _direct(module, repo):
            todo.extend(m for m in _with_parents(name) if m not in seen and module_file(m, repo))
    return {module_file(m, repo).relative_to(repo) for m in seen}


def notebook_imports(path: Path) -> set[str]:
    """Modules imported by the code cells of a notebook: a percent script (``.py``, its cells are
    plain Python) or an ``.ipynb``."""
    if Path(path).suffix == ".py":
        return _imported_modules(ast.parse(Path(path).read_text()), "__notebook__", False)
    nb = json.loads(Path(path).read_text())
    names: set[str] = set()
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            names |= _imported_modules(ast.parse(source), "__notebook__", False)
    return names


def stage_closure(cmd: str, repo: Path = REPO) -> set[Path]:
    """Project files a ``dvc.yaml`` command can run: ``python -m <module> ...`` plus, for the
    notebook stage, the notebook's own imports (``--notebook NAME``)."""
    argv = shlex.split(cmd)
    if argv[:2] != ["python", "-m"]:
        raise ValueError(f"stage command {cmd!r} is not `python -m <module> ...`")
    modules = {argv[2]}
    if "--notebook" in argv:
        notebook = repo / "notebooks" / f"{argv[argv.index('--notebook') + 1]}.py"  # the paired script
        modules |= {m for m in notebook_imports(notebook) if m.split(".")[0] in PROJECT_PACKAGES}
    return import_closure(sorted(modules), repo)


def covered_by(path: Path, deps) -> bool:
    """Whether ``path`` equals a dep or lies inside a dep folder."""
    path = Path(path)
    return any(path == Path(d) or Path(d) in path.parents for d in deps)


def main(argv=None) -> None:
    """Print each dvc.yaml stage's import closure (DVC resolves the matrix) and whether its deps cover it.

    ``python -m ood_study.deps [STAGE ...]``: only the stages whose name starts with one of STAGE.
    Exits 1 when a closure file is not covered.
    """
    from dvc.repo import Repo

    from ood_study.stages import parser

    cli = parser(main.__doc__)
    cli.add_argument("stages", nargs="*", metavar="STAGE", help="stage name prefixes (default: every stage)")
    argv = cli.parse_args(sys.argv[1:] if argv is None else argv).stages
    uncovered = 0
    for stage in Repo(str(REPO)).index.stages:
        if argv and not any(stage.name.startswith(prefix) for prefix in argv):
            continue
        closure = sorted(stage_closure(stage.cmd.replace("\n", " ")))
        code_deps = [d.def_path for d in stage.deps if d.def_path.startswith(PROJECT_PACKAGES)]
        print(f"{stage.name}: {len(closure)} project files imported; code deps {code_deps}")
        for path in closure:
            ok = covered_by(path, code_deps)
            uncovered += not ok
            print(f"  {'covered' if ok else 'MISSING'} {path}")
    raise SystemExit(1 if uncovered else 0)


if __name__ == "__main__":
    main()
