"""dlib, trained on real photos, on our renders: it must find the faces and put its 68
landmarks where the engine says they are. Frontal-ish views (|yaw| <= 20 deg), mild
expressions, the dataset's random lighting; 40 images at 256 px."""
import pytest

from training.synth.realism import measure_realism


@pytest.fixture(scope="module")
def realism():
    return measure_realism(identities=20, views=2, resolution=256)


def test_dlib_detects_the_synthetic_faces(realism):
    assert realism["images"] == 40
    assert realism["detection_rate"] >= 0.9


def test_dlib_landmarks_agree_with_the_engine(realism):
    # Measured 0.078 of the inter-ocular distance (eyes 0.045, nose 0.06, brows 0.064,
    # mouth 0.07, jaw 0.13). The target is 0.05: not reached yet, so this bound
    # guards what exists rather than claiming the target.
    assert realism["mean_landmark_error_iod"] <= 0.09
    assert realism["error_by_group_iod"]["eyes"] <= 0.06
