"""The mine stage's memo (ood_study.stages.mine): the same mining of the same inputs by the same code
runs once; anything that could change the result is a new key."""

import dataclasses

import numpy as np

from ood_core.features import TextFeatures
from ood_core.methods import dnm, neglabel
from ood_study.layout import Layout
from ood_study.stages import mine as mine_stage

ITEM = ["--benchmark", "simulated", "--backbone", "ViT-B-16"]


def _texts(seed=0):
    rng = np.random.default_rng(seed)
    is_adj = np.zeros(30, bool)
    is_adj[:5] = True
    return TextFeatures(id_labels=rng.standard_normal((4, 8)).astype(np.float32),
                        candidates=rng.standard_normal((30, 8)).astype(np.float32),
                        csp_adjectives=rng.standard_normal((5, 8)).astype(np.float32), is_adj=is_adj)


def test_the_key_changes_with_function_params_and_every_text_array():
    texts, params = _texts(), dnm.MiningParams()
    key = mine_stage.memo_key(dnm.mine, params, texts)
    assert key == mine_stage.memo_key(dnm.mine, dnm.MiningParams(), _texts())  # equal inputs, equal key
    assert key != mine_stage.memo_key(neglabel.mine, params, texts)
    assert key != mine_stage.memo_key(dnm.mine, dataclasses.replace(params, k=params.k + 1), texts)
    for field in ("id_labels", "candidates", "csp_adjectives"):
        changed = _texts()
        getattr(changed, field)[0, 0] += 1e-3
        assert key != mine_stage.memo_key(dnm.mine, params, changed), field


def test_the_key_covers_the_code_the_stage_imports(monkeypatch, tmp_path):
    """A changed byte in any file of the stage's import closure is a new key."""
    from ood_study import deps

    texts, params = _texts(), dnm.MiningParams()
    key = mine_stage.memo_key(dnm.mine, params, texts)
    closure = sorted(deps.import_closure([mine_stage.__name__, dnm.mine.__module__]))
    assert any(str(p).endswith("ood_core/mining.py") for p in closure)
    copy = tmp_path / "repo"
    for path in closure:
        (copy / path).parent.mkdir(parents=True, exist_ok=True)
        (copy / path).write_bytes((deps.REPO / path).read_bytes())
    monkeypatch.setattr(deps, "REPO", copy)
    monkeypatch.setattr(deps, "import_closure", lambda modules, repo=None: set(closure))
    assert mine_stage.memo_key(dnm.mine, params, texts) == key
    mining = next(p for p in closure if str(p).endswith("ood_core/mining.py"))
    (copy / mining).write_bytes((copy / mining).read_bytes() + b"\n# a comment\n")
    assert mine_stage.memo_key(dnm.mine, params, texts) != key


def test_dnm_auto_takes_dnms_negatives_from_the_memo(tiny_project, capsys):
    """dnm_auto has DNM's mining block in the tiny project: its stage reads the memo dnm's left."""
    layout = Layout(tiny_project)
    argv = ["--params", str(tiny_project / "params.yaml"), "--root", str(tiny_project), *ITEM]
    mine_stage.main([*argv, "--method", "dnm"])
    mine_stage.main([*argv, "--method", "dnm_auto"])
    out = capsys.readouterr().out
    assert "dnm_auto:" in out and "the same mining done before" in out.split("dnm_auto:")[1]
    study = "simulated-ViT-B-16"
    assert np.array_equal(np.load(layout.negatives(study, "dnm")), np.load(layout.negatives(study, "dnm_auto")))
