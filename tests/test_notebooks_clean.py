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
