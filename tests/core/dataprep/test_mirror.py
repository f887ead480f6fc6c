import numpy as np
import pytest

from core.camera import Camera, orbit
from core.dataprep.mirror import LANDMARK_MIRROR, mirror_name, mirror_sample
from core.expression import DEFAULT_EXPRESSION_NAMES
from core.lighting import SphericalHarmonicsLighting, sh_irradiance


def _sample(rng):
    names = DEFAULT_EXPRESSION_NAMES
    return {"camera": orbit(23.0, 7.0, roll=4.0).to_label(),
            "sh": list(rng.normal(size=27)),
            "expression": {n: float(v) for n, v in zip(names, rng.uniform(size=len(names)))},
            "landmarks": rng.uniform(0, 64, size=(68, 2)).tolist(), "other": "kept"}


def test_mirror_twice_is_the_identity():
    rng = np.random.default_rng(0)
    labels = _sample(rng)
    image = rng.uniform(size=(64, 64, 3)).astype(np.float32)
    mask = rng.uniform(size=(64, 64)).astype(np.float32)
    once = mirror_sample(labels, image, mask)
    twice_labels, twice_image, twice_mask = mirror_sample(*once)
    assert np.array_equal(twice_image, image) and np.array_equal(twice_mask, mask)
    assert twice_labels["other"] == "kept"
    np.testing.assert_allclose(twice_labels["camera"], labels["camera"], atol=1e-12)
    np.testing.assert_allclose(twice_labels["sh"], labels["sh"], atol=1e-12)
    np.testing.assert_allclose(twice_labels["landmarks"], labels["landmarks"], atol=1e-12)
    assert twice_labels["expression"] == pytest.approx(labels["expression"])
    # and once is not the identity
    assert not np.allclose(once[0]["camera"], labels["camera"])
    assert not np.array_equal(once[1], image)


def test_mirrored_camera_is_the_mirrored_orbit():
    labels = {"camera": orbit(23.0, 7.0, roll=4.0).to_label()}
    mirrored = Camera.from_label(mirror_sample(labels)[0]["camera"])
    expected = orbit(-23.0, 7.0, roll=-4.0)
    np.testing.assert_allclose(mirrored.cam2world, expected.cam2world, atol=1e-9)
    np.testing.assert_allclose(mirrored.intrinsics, expected.intrinsics, atol=1e-12)


def test_mirrored_lighting_lights_the_mirrored_normal_alike():
    rng = np.random.default_rng(1)
    sh = SphericalHarmonicsLighting.from_directional((0.7, 0.4, 0.6), intensity=0.9, ambient=0.2).coeffs
    mirrored = np.asarray(mirror_sample({"sh": sh.reshape(-1).tolist()})[0]["sh"]).reshape(9, 3)
    n = rng.normal(size=(50, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    flipped = n * np.array([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(sh_irradiance(flipped, mirrored), sh_irradiance(n, sh), atol=1e-12)


def test_left_and_right_trade_places():
    assert mirror_name("eyeBlinkLeft") == "eyeBlinkRight" and mirror_name("jawRight") == "jawLeft"
    assert mirror_name("jawOpen") == "jawOpen"
    out = mirror_sample({"expression": {"eyeBlinkLeft": 0.9, "eyeBlinkRight": 0.1, "jawOpen": 0.5}})[0]
    assert out["expression"] == {"eyeBlinkRight": 0.9, "eyeBlinkLeft": 0.1, "jawOpen": 0.5}


def test_landmarks_mirror_to_their_twins():
    assert sorted(LANDMARK_MIRROR) == list(range(68))
    assert np.array_equal(LANDMARK_MIRROR[LANDMARK_MIRROR], np.arange(68))
    pts = np.zeros((68, 2))
    pts[36] = (10.0, 20.0)  # the outer corner of the image-left eye
    out = np.asarray(mirror_sample({"landmarks": pts.tolist()}, width=100)[0]["landmarks"])
    assert tuple(out[45]) == (90.0, 20.0)
