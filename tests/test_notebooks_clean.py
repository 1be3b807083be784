"""Committed notebooks are stripped (no outputs, no execution counts) and run on the project kernel."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped_and_parameterised(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "ood-core"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c.get("outputs") == [] and c.get("execution_count") is None for c in code), \
        f"{path.name} holds outputs: run nbstripout (pre-commit does it)"
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and "dvc_stage = False" in "".join(tagged[0]["source"])
    assert len({c["id"] for c in nb["cells"]}) == len(nb["cells"])  # stable, unique cell ids


def _cells_of_ipynb(path: Path) -> list[tuple[str, str, list]]:
    """(type, source, tags) of each cell, read from the JSON itself."""
    return [(c["cell_type"], "".join(c["source"]).strip("\n"), c.get("metadata", {}).get("tags", []))
            for c in json.loads(path.read_text())["cells"]]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_and_its_script_hold_the_same_cells(path):
    """The paired percent script (the stage's DVC dep, what the stage runs) says what the .ipynb says."""
    import jupytext

    script = path.with_suffix(".py")
    assert script.is_file(), f"{script.name} missing: run `jupytext --sync notebooks/*.ipynb`"
    from_script = [(c.cell_type, c.source.strip("\n"), c.metadata.get("tags", [])) for c in jupytext.read(script).cells]
    assert from_script == _cells_of_ipynb(path), f"{path.name} and {script.name} differ: run `jupytext --sync {path}`"


def test_what_jupyterlab_saves_leaves_the_script_unchanged(tmp_path):
    """Saving a run notebook (outputs, execution counts, language_info, cell timing) through jupytext's
    pairing writes the same script bytes, so DVC sees no change."""
    import jupytext

    source = NOTEBOOKS[0]
    before = source.with_suffix(".py").read_bytes()
    nb = jupytext.read(source)
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.9"}
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = i + 1
        cell.outputs = [{"output_type": "stream", "name": "stdout", "text": "x\n"}]
        cell.metadata["execution"] = {"iopub.status.busy": "2026-12-02T15:00:00Z"}
        cell.metadata["scrolled"] = True
    (tmp_path / "jupytext.toml").write_bytes((source.parent / "jupytext.toml").read_bytes())
    saved = tmp_path / source.with_suffix(".py").name
    config = jupytext.config.load_jupytext_configuration_file(str(tmp_path / "jupytext.toml"))
    jupytext.write(nb, saved, fmt="py:percent", config=config)
    assert saved.read_bytes() == before
