import json
import math
from pathlib import Path

import numpy as np
import pytest

from core.lighting import (
    C1, C2, C3, C4, C5, SphericalHarmonicsLighting, load_presets, rotation_matrix, sh_basis,
)


def unit_vectors(n, seed=0):
    v = np.random.default_rng(seed).normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def rh_irradiance(L, n):
    """Ramamoorthi & Hanrahan's closed-form polynomial (their equation 13)."""
    x, y, z = n[:, 0:1], n[:, 1:2], n[:, 2:3]
    return (C1 * L[8] * (x * x - y * y) + C3 * L[6] * z * z + C4 * L[0] - C5 * L[6]
            + 2 * C1 * (L[4] * x * y + L[7] * x * z + L[5] * y * z)
            + 2 * C2 * (L[3] * x + L[1] * y + L[2] * z))


def test_irradiance_equals_ramamoorthi_hanrahan_polynomial():
    coeffs = np.random.default_rng(1).normal(size=(9, 3))
    n = unit_vectors(500)
    np.testing.assert_allclose(SphericalHarmonicsLighting(coeffs).irradiance(n), rh_irradiance(coeffs, n), atol=1e-5)


def test_basis_is_orthonormal_on_the_sphere():
    n = unit_vectors(400000, seed=2)
    y = sh_basis(n)
    gram = y.T @ y * (4 * math.pi / len(n))
    np.testing.assert_allclose(gram, np.eye(9), atol=0.02)


def test_directional_light_matches_clamped_cosine_within_order2_error():
    d = np.array([0.3, 0.5, 0.8])
    d /= np.linalg.norm(d)
    light = SphericalHarmonicsLighting.from_directional(d, intensity=2.0)
    n = unit_vectors(5000, seed=3)
    c = n @ d
    e = light.irradiance(n)[:, 0]
    # exact order-2 projection of the clamped cosine: 1/4 + c/2 + 5/32 (3c^2 - 1)
    np.testing.assert_allclose(e, 2.0 * (0.25 + c / 2 + 5 / 32 * (3 * c * c - 1)), atol=1e-5)
    err = np.abs(e - 2.0 * np.maximum(c, 0))
    assert err.max() <= 2.0 * 0.09375 + 1e-6  # the known worst case, at the terminator (c = 0)
    assert err.max() > 2.0 * 0.09  # and it is reached: the test can tell a better or worse fit


def test_ambient_is_uniform_irradiance():
    light = SphericalHarmonicsLighting.from_directional((0, 1, 0), intensity=0.0, ambient=(0.2, 0.4, 0.6))
    np.testing.assert_allclose(light.irradiance(unit_vectors(50)), np.tile([0.2, 0.4, 0.6], (50, 1)), atol=1e-6)


def test_constant_environment_map_gives_only_l00():
    env = np.full((64, 128, 3), 0.5)
    light = SphericalHarmonicsLighting.from_environment_map(env)
    assert light.coeffs[0] == pytest.approx([0.5 * math.sqrt(4 * math.pi)] * 3, rel=1e-3)
    assert np.abs(light.coeffs[1:]).max() < 1e-3
    # a uniform sky of radiance L gives irradiance pi * L everywhere
    np.testing.assert_allclose(light.irradiance(unit_vectors(20)), math.pi * 0.5, rtol=2e-3)


def test_environment_map_bright_side_faces_plus_x():
    env = np.zeros((32, 64, 3))
    env[:, 40:56] = 1.0  # u in (0.625, 0.875): phi in (45, 135) deg, around +x
    light = SphericalHarmonicsLighting.from_environment_map(env)
    assert light.dominant_direction()[0] > 0.9


def test_rotation_preserves_band_energy_and_moves_the_light():
    light = SphericalHarmonicsLighting(np.random.default_rng(4).normal(size=(9, 3)))
    r = rotation_matrix(40, 25)
    rotated = light.rotated(r)
    np.testing.assert_allclose(rotated.band_energy(), light.band_energy(), rtol=1e-9)
    key = SphericalHarmonicsLighting.from_directional((0, 0, 1), intensity=1.0, ambient=0.1)
    moved = key.rotated(r)
    expected = SphericalHarmonicsLighting.from_directional(r @ np.array([0, 0, 1.0]), intensity=1.0, ambient=0.1)
    np.testing.assert_allclose(moved.coeffs, expected.coeffs, atol=1e-9)


def test_grayscale_labels_broadcast_and_bad_shapes_fail():
    light = SphericalHarmonicsLighting(np.arange(9.0))
    assert light.coeffs.shape == (9, 3)
    np.testing.assert_array_equal(light.coeffs[:, 0], light.coeffs[:, 2])
    assert SphericalHarmonicsLighting.from_json({"sh": list(range(27))}).coeffs.shape == (9, 3)
    with pytest.raises(ValueError, match="9x3"):
        SphericalHarmonicsLighting(np.zeros(8))
    with pytest.raises(ValueError, match="sh"):
        SphericalHarmonicsLighting.from_json({"light": []})


def test_presets_include_grace_cathedral_with_published_range():
    presets = load_presets()
    for name in ("studio", "key-left", "key-right", "top", "rim", "flat"):
        assert name in presets
    grace = presets["grace-cathedral"]
    e = grace.irradiance(unit_vectors(20000))
    # figures measured on the reference probe (tests/data/sh_probes.json)
    np.testing.assert_allclose(e.min(0), [0.205, 0.075, -0.010], atol=0.01)
    np.testing.assert_allclose(e.max(0), [1.586, 0.924, 1.445], atol=0.01)
    # key-left lights the viewer's left (world -x) more than the right
    left = presets["key-left"].irradiance(np.array([[-1.0, 0, 0], [1.0, 0, 0]]))
    assert left[0, 0] > 3 * left[1, 0]


def test_reference_probe_file_matches_bundled_preset():
    # the published probe (tests/data/README.md says where the numbers come from)
    ref = Path(__file__).resolve().parents[1] / "data" / "sh_probes.json"
    data = json.loads(ref.read_text())
    np.testing.assert_allclose(load_presets()["grace-cathedral"].coeffs, data["probes"]["grace-cathedral"])


def test_slerp_moves_a_key_light_along_the_great_circle():
    a = SphericalHarmonicsLighting.from_directional((1, 0, 0), intensity=1.0, ambient=0.2)
    b = SphericalHarmonicsLighting.from_directional((0, 0, 1), intensity=1.0, ambient=0.2)
    np.testing.assert_allclose(a.slerp(b, 0.0).coeffs, a.coeffs, atol=1e-9)
    np.testing.assert_allclose(a.slerp(b, 1.0).coeffs, b.coeffs, atol=1e-9)
    mid = a.slerp(b, 0.5)
    expected = SphericalHarmonicsLighting.from_directional((1, 0, 1), intensity=1.0, ambient=0.2)
    np.testing.assert_allclose(mid.coeffs, expected.coeffs, atol=1e-9)
