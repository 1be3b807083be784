"""The feature interface (ood_core.features): prompts and CSP's ensembling defined once."""

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


def test_a_recording_source_is_a_feature_source():
    assert isinstance(RecordingSource(), FeatureSource)


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
