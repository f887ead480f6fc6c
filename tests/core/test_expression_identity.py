import numpy as np
import pytest

from core.expression import ARKIT_BLENDSHAPES, DEFAULT_EXPRESSION_NAMES, Expression, load_expression_presets
from core.identity import Identity, IdentityPrior


def test_arkit_names_and_default_set():
    assert len(ARKIT_BLENDSHAPES) == 52 and len(set(ARKIT_BLENDSHAPES)) == 52
    assert set(DEFAULT_EXPRESSION_NAMES) <= set(ARKIT_BLENDSHAPES)
    assert len(DEFAULT_EXPRESSION_NAMES) >= 16


def test_expression_dict_round_trip_and_errors():
    e = Expression.from_dict({"jawOpen": 0.5, "mouthSmileLeft": 0.25})
    assert e["jawOpen"] == 0.5 and e["mouthPucker"] == 0.0
    assert Expression.from_dict(e.to_dict()) == e
    with pytest.raises(ValueError, match="not in this model"):
        Expression.from_dict({"tongueOut": 1.0})
    with pytest.raises(ValueError, match="unknown expression"):
        Expression(("jawOpenWide",), [0.0])
    with pytest.raises(ValueError, match="outside"):
        Expression.from_dict({"jawOpen": 1.5})


def test_expression_rename_and_lerp():
    a = Expression.from_dict({"jawOpen": 1.0})
    other = Expression(("jawOpen", "tongueOut"), [0.0, 1.0])
    mixed = a.lerp(other, 0.25)
    assert mixed.names == a.names and mixed["jawOpen"] == pytest.approx(0.75)


def test_prior_sampling_is_seeded_and_truncation_pulls_to_mean():
    rng = np.random.default_rng(0)
    prior = IdentityPrior.fit(rng.normal(size=(200, 6)) * [3, 2, 1, 1, 1, 1] + 5)
    a, b = prior.sample(7), prior.sample(7)
    assert a == b and prior.sample(8) != a
    half = prior.sample(7, truncation=0.5)
    np.testing.assert_allclose(half.latent - prior.mean, 0.5 * (a.latent - prior.mean))
    samples = np.stack([prior.sample(s).latent for s in range(2000)])
    np.testing.assert_allclose(samples.mean(0), prior.mean, atol=0.2)
    np.testing.assert_allclose(samples.std(0)[:2], [3, 2], rtol=0.15)


def test_identity_json_and_interpolation():
    a, b = Identity(np.zeros(4), seed=1), Identity(np.ones(4))
    np.testing.assert_allclose(a.lerp(b, 0.25).latent, 0.25)
    assert Identity.from_json(a.to_json()) == a
    with pytest.raises(ValueError):
        Identity(np.array([np.nan]))


def test_expression_presets_load_in_any_name_set():
    presets = load_expression_presets()
    assert presets["neutral"] == Expression.neutral()
    assert presets["smile"]["mouthSmileLeft"] > 0.5
    small = load_expression_presets(("jawOpen",))
    assert small["surprise"].names == ("jawOpen",) and small["surprise"]["jawOpen"] == 0.6
