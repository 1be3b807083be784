"""Shared fixtures: a tiny simulated project run through the pipeline's own stage commands."""

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


def tiny_params() -> dict:
    """params.yaml with small sizes, so the whole pipeline runs in seconds (smoke tests only)."""
    with open(REPO / "params.yaml") as f:
        params = yaml.safe_load(f)
    params["corpus"]["noun_lexnames"] = ["noun.Tops", "noun.motive", "noun.shape", "noun.object"]
    params["corpus"]["adj_lexnames"] = ["adj.ppl"]
    params["simulation"] = {**(params.get("simulation") or {}), **TINY_SIMULATION}
    params["mining"]["dnm"]["per_backbone"]["ViT-B-16"]["k"] = 10
    for method in ("neglabel", "csp", "dnm"):
        params["scoring"][method]["n_groups"] = 10
    params["ablations"]["tau"]["grid"] = [0.0, 0.3]
    params["ablations"]["temperature"]["grid"] = [0.01, 1.0]
    params["ablations"]["groups"]["grid"] = [1, 10]
    params["ablations"]["selection"] = {"density_k": [5, 10], "density_ratio_noun": [0.23],
                                        "neglabel_percentile": [0.95], "neglabel_ratio": [0.15]}
    params["ablations"]["corpus_size"]["fractions"] = [0.5, 1.0]
    params["ablations"]["false_negatives"]["tau_grid"] = [0.0, 0.3, 0.6]
    return params


TINY_SIMULATION = {"images_per_id_class": 1, "images_per_ood_class": 3}


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory):
    """A project root with params.yaml, corpus, embeddings, negatives and metrics of one study."""
    from ood_core import pipeline

    root = tmp_path_factory.mktemp("project")
    params_path = root / "params.yaml"
    params_path.write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    common = ["--params", str(params_path), "--root", str(root)]
    study = ["--benchmark", "simulated", "--backbone", "ViT-B-16"]
    pipeline.main(["corpus", *common])
    pipeline.main(["embed-text", *common, *study])
    pipeline.main(["embed-images", *common, *study])
    for method in ("neglabel", "csp", "dnm"):
        pipeline.main(["mine", *common, *study, "--method", method])
    for method in ("mcm", "neglabel", "csp", "dnm"):
        pipeline.main(["score", *common, *study, "--method", method])
    return root
