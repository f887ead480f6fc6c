"""dlib, trained on real photos, on our renders: it must find the faces and put its 68
landmarks where the engine says they are. Frontal-ish views (|yaw| <= 20 deg), mild
expressions, the dataset's random lighting; 40 images at 512 px (inter-ocular distance
about 145 px, so dlib's whole-pixel output costs under 0.01 of it)."""
import pytest

from training.synth.realism import measure_realism


@pytest.fixture(scope="module")
def realism():
    return measure_realism(identities=20, views=2, resolution=512)


def test_dlib_detects_the_synthetic_faces(realism):
    assert realism["images"] == 40
    assert realism["detection_rate"] >= 0.9


def test_dlib_landmarks_agree_with_the_engine(realism):
    # Measured on these 40 renders: 0.047 of the inter-ocular distance (eyes 0.031, nose
    # 0.044, brows 0.041, mouth 0.040, jaw 0.073); 0.0496 on 80 renders of 40 heads that
    # were not used while the landmark definitions were adjusted (seed 777). The issue's
    # bound is 0.05.
    assert realism["mean_landmark_error_iod"] <= 0.05
    assert realism["error_by_group_iod"]["eyes"] <= 0.04
    assert realism["error_by_group_iod"]["jaw"] <= 0.09
