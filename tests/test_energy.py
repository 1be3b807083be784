"""Energy (ood_core.methods.energy): T * logsumexp(cos / T) over the ID labels."""

import math

import numpy as np
import pytest

from ood_core import methods
from ood_core.features import TextFeatures
from ood_core.methods.energy import ScoringParams, energy


def _naive(img, ids, t):
    """Per image: T * log(sum_i exp(cos_i / T)) by hand in float64 (no shift; small inputs only)."""
    out = []
    for x in np.asarray(img, np.float64):
        cos = [x @ y / (np.linalg.norm(x) * np.linalg.norm(y)) for y in np.asarray(ids, np.float64)]
        out.append(t * math.log(sum(math.exp(c / t) for c in cos)))
    return np.array(out)


def test_hand_computed_case():
    ids = np.array([[1.0, 0.0], [0.0, 1.0]])
    img = np.array([[1.0, 0.0]])  # cosines 1 and 0
    np.testing.assert_allclose(energy(img, ids, temperature=1.0), [math.log(math.e + 1.0)], rtol=1e-12)
    np.testing.assert_allclose(energy(img, ids, temperature=0.5), [0.5 * math.log(math.exp(2.0) + 1.0)], rtol=1e-12)


@pytest.mark.parametrize("t", [1.0, 0.1, 0.02])
def test_matches_naive_reference(t):
    rng = np.random.default_rng(0)
    img, ids = rng.normal(size=(23, 10)), rng.normal(size=(7, 10)) * 3
    np.testing.assert_allclose(energy(img, ids, temperature=t), _naive(img, ids, t), rtol=1e-12)
    np.testing.assert_allclose(energy(img.astype(np.float32), ids.astype(np.float32), temperature=t),
                               _naive(img, ids, t), rtol=1e-5)


def test_small_temperature_stays_finite_and_tends_to_the_max_cosine():
    rng = np.random.default_rng(2)
    img, ids = rng.normal(size=(5, 8)), rng.normal(size=(6, 8))
    e = energy(img.astype(np.float32), ids.astype(np.float32), temperature=1e-4)  # exp(1e4) overflows
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    best = (unit(img) @ unit(ids).T).max(axis=1)
    assert np.isfinite(e).all()
    np.testing.assert_allclose(e, best, atol=1e-3)  # T log K bounds the gap: 1e-4 * log 6


def test_registry_entry_defaults_to_the_mcm_papers_temperature():
    m = methods.get("energy")
    assert not m.mines and m.scoring_params_for({}, "ViT-B-16") == ScoringParams(temperature=1.0)
    rng = np.random.default_rng(1)
    texts = TextFeatures(rng.normal(size=(4, 6)), rng.normal(size=(5, 6)), rng.normal(size=(2, 6)),
                         np.array([0, 0, 0, 1, 1], bool))
    img = rng.normal(size=(8, 6))
    np.testing.assert_allclose(m.score(img, texts, np.zeros(0, np.int64), ScoringParams(0.5)),
                               _naive(img, texts.id_labels, 0.5), rtol=1e-12)
    with pytest.raises(ValueError, match=r"method_params\.energy\.scoring\.temperature = 0 is out of range"):
        m.scoring_params_for({"temperature": 0}, "ViT-B-16")


def test_bad_temperature_is_named():
    with pytest.raises(ValueError, match="temperature"):
        energy(np.ones((1, 2)), np.ones((1, 2)), temperature=-1.0)
