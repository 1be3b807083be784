"""The feature interface (ood_core.features): prompts and CSP's ensembling defined once."""

import ast
from pathlib import Path

import numpy as np
import pytest

from ood_core.features import FeatureSource, Label, csp_adjective_features, csp_adjective_labels, text_features
from ood_core.text.corpus import Corpus
from ood_core.text.prompts import CSP_SUFFIXES, CSP_TEMPLATES


class RecordingSource:
    """A feature source whose feature of a prompt is a fixed function of its string; records calls."""

    def __init__(self, d=4):
        self.d = d
        self.calls = []

    def id_labels(self):
        return [Label("cat"), Label("dog")]

    def vector(self, text):
        rng = np.random.default_rng(sum(map(ord, text)) * 7919 + len(text))
        return rng.normal(size=self.d) * (1 + len(text))  # raw features with different norms

    def encode_labels(self, labels, template):
        self.calls.append((template, [lb.text for lb in labels]))
        return np.array([self.vector(template.format(lb.text)) for lb in labels], dtype=np.float32)

    def image_features(self, split):
        return np.zeros((1, self.d), np.float32)


CORPUS = Corpus(words=["rock", "red", "tree", "soft"], is_adj=np.array([False, True, False, True]),
                lexnames=["noun.object", "adj.all", "noun.plant", "adj.all"], offsets=np.array([1, 2, 3, 4]))


def test_the_real_feature_sources_implement_the_interface_with_its_signatures():
    """Both feature sources the pipeline uses define every method of ``FeatureSource`` with the
    interface's parameters (a runtime ``isinstance`` only checks that the names exist)."""
    import inspect

    from ood_core.features.clip import ClipFeatures
    from ood_core.simulate import SimulatedWorld

    members = [n for n, v in vars(FeatureSource).items() if inspect.isfunction(v) and not n.startswith("_")]
    assert sorted(members) == ["encode_labels", "id_labels", "image_features"]
    for cls in (ClipFeatures, SimulatedWorld):
        for name in members:
            want = list(inspect.signature(getattr(FeatureSource, name)).parameters)
            got = list(inspect.signature(getattr(cls, name)).parameters)
            assert got == want, f"{cls.__name__}.{name}{got} != FeatureSource.{name}{want}"


def test_csp_features_average_raw_template_features_then_normalise():
    source = RecordingSource()
    feats = csp_adjective_features(source, CORPUS, seed=3)
    labels = csp_adjective_labels(CORPUS, seed=3)
    assert [lb.text.split()[0] for lb in labels] == ["red", "soft"]
    assert all(lb.suffix in CSP_SUFFIXES and lb.text.endswith(" " + lb.suffix) for lb in labels)
    for row, lb in zip(feats, labels):
        raw = [source.vector(t.format(lb.text)).astype(np.float32).astype(np.float64) for t in CSP_TEMPLATES]
        mean = np.mean(raw, axis=0)  # CSP's released code: mean of the raw features, then L2-normalise
        np.testing.assert_allclose(row, mean / np.linalg.norm(mean), rtol=1e-5)
        per_template_normalised = np.mean([r / np.linalg.norm(r) for r in raw], axis=0)
        assert not np.allclose(row, per_template_normalised / np.linalg.norm(per_template_normalised), atol=1e-3)
    assert [c[0] for c in source.calls] == list(CSP_TEMPLATES)


def test_text_features_use_each_template_once_in_corpus_order():
    source = RecordingSource()
    texts = text_features(source, CORPUS, "a {}", "the nice {}", "This is a {} photo", csp_seed=0)
    np.testing.assert_allclose(texts.id_labels[1], source.vector("a dog"), rtol=1e-6)
    np.testing.assert_allclose(texts.candidates[0], source.vector("the nice rock"), rtol=1e-6)
    np.testing.assert_allclose(texts.candidates[1], source.vector("This is a red photo"), rtol=1e-6)
    np.testing.assert_allclose(texts.candidates[2], source.vector("the nice tree"), rtol=1e-6)
    assert texts.csp_adjectives.shape == (2, 4) and texts.is_adj.tolist() == [False, True, False, True]
    with pytest.raises(ValueError, match="exactly one"):
        text_features(source, CORPUS, "a photo", "{}", "{}")


# The layers stated in ood_core/features/__init__.py.
# The package's __init__ (the feature interface) sits below everything: it imports no submodule.
LAYERS = {"__init__": -1, "files": 0, "images": 0, "cache": 1, "distributed": 1, "hub": 1, "image_sets": 1,
          "gpu_decode": 1, "encoders": 2, "clip": 3}


def _package_imports(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports anywhere (module level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ood_core.features"):
            rest = node.module.split(".")[2:]
            if rest:
                found.add(rest[0])
            else:  # from ood_core.features import x: a module, or a name of the package's __init__
                found.update(a.name if a.name in modules else "__init__" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[2] for a in node.names if a.name.startswith("ood_core.features."))
    return found - {path.stem}


def test_features_modules_import_only_lower_layers_so_there_is_no_cycle():
    import ood_core.features as package

    folder = Path(package.__file__).parent
    modules = {p.stem for p in folder.glob("*.py")}
    assert modules == set(LAYERS), "a module was added or removed: give it a layer here and in __init__"
    for name in sorted(modules):
        for target in _package_imports(folder / f"{name}.py", modules):
            assert LAYERS[target] < LAYERS[name], f"{name} (layer {LAYERS[name]}) imports {target} (layer {LAYERS[target]})"
