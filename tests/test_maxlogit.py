"""MaxLogit (ood_core.methods.maxlogit): max cosine over the ID labels."""

import numpy as np
import pytest

from ood_core import methods
from ood_core.features import TextFeatures
from ood_core.methods.maxlogit import ScoringParams, max_logit


def _naive(img, ids):
    """Per image, per label: cosine by hand in float64, then the max."""
    out = []
    for x in np.asarray(img, np.float64):
        cos = [x @ y / (np.linalg.norm(x) * np.linalg.norm(y)) for y in np.asarray(ids, np.float64)]
        out.append(max(cos))
    return np.array(out)


def test_hand_computed_case():
    ids = np.array([[1.0, 0.0], [0.0, 2.0]])
    img = np.array([[3.0, 4.0], [-1.0, 0.0]])
    # image 0: cos = 0.6 and 0.8; image 1: cos = -1 and 0
    np.testing.assert_allclose(max_logit(img, ids), [0.8, 0.0], atol=1e-12)


def test_matches_naive_reference_in_float64_and_float32():
    rng = np.random.default_rng(0)
    img, ids = rng.normal(size=(37, 12)), rng.normal(size=(9, 12)) * 5
    np.testing.assert_allclose(max_logit(img, ids), _naive(img, ids), rtol=1e-12)
    np.testing.assert_allclose(max_logit(img.astype(np.float32), ids.astype(np.float32)), _naive(img, ids), atol=1e-6)


def test_registry_entry_scores_with_the_id_labels_only():
    m = methods.get("maxlogit")
    assert not m.mines and m.scoring_param_names() == ()
    rng = np.random.default_rng(1)
    texts = TextFeatures(rng.normal(size=(4, 6)), rng.normal(size=(5, 6)), rng.normal(size=(2, 6)),
                         np.array([0, 0, 0, 1, 1], bool))
    img = rng.normal(size=(8, 6))
    np.testing.assert_allclose(m.score(img, texts, m.select_negatives(texts, None), ScoringParams()),
                               _naive(img, texts.id_labels), rtol=1e-12)
    assert m.scoring_params_for({}, "ViT-B-16") == ScoringParams()
    with pytest.raises(ValueError, match="unknown parameter 'method_params.maxlogit.scoring.temperature'"):
        m.scoring_params_for({"temperature": 1.0}, "ViT-B-16")


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="img"):
        max_logit(np.zeros((2, 3)), np.ones((2, 3)))  # a zero-norm image cannot be normalised
    with pytest.raises(ValueError, match="dim"):
        max_logit(np.ones((2, 3)), np.ones((2, 4)))
