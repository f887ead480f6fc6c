"""MediaPipe's face mesh as the tracker's expression source: the geometry helpers, the
model file, and what it reads off engine heads and the astronaut photo."""
import numpy as np
import pytest

from core.expression import DEFAULT_EXPRESSION_NAMES, Expression
from core.tracking.mesh_model import MESH_MODEL_FILE, MeshExpressionModel, rotation_vector, similarity_to

FPS = 30.0


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(30, 3))
    axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    angle = 0.6
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
    dst = 2.5 * src @ rot.T + np.array([1.0, -2.0, 0.5])
    s, r, t = similarity_to(src, dst)
    assert s == pytest.approx(2.5, rel=1e-9)
    np.testing.assert_allclose(r, rot, atol=1e-9)
    np.testing.assert_allclose(rotation_vector(r), axis * angle, atol=1e-9)


def test_the_bundled_mesh_model_loads_and_a_broken_one_is_refused(tmp_path):
    model = MeshExpressionModel.load()
    assert model.names == DEFAULT_EXPRESSION_NAMES
    assert model.canonical.shape == (478, 3)
    # the canonical mesh's own features are (up to the rotation) zero, and it is neutral
    weights = model.estimate(model.canonical)
    assert weights.shape == (len(DEFAULT_EXPRESSION_NAMES),)
    assert weights.max() < 0.2
    copy = tmp_path / "m.safetensors"
    model.save(copy)
    again = MeshExpressionModel.load(copy)
    np.testing.assert_allclose(again.estimate(model.canonical), weights, atol=1e-5)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(MESH_MODEL_FILE.read_bytes()[:200])
    with pytest.raises(ValueError, match="bad.safetensors"):
        MeshExpressionModel.load(bad)


from core.tracking import mesh  # noqa: E402

if not mesh.mesh_available():
    pytest.skip("MediaPipe 0.10.14 is not installed (scripts/setup.sh installs it; the tracker then reads "
                "expressions from dlib's points, tested elsewhere)", allow_module_level=True)


@pytest.fixture(scope="module")
def mesh_tracker():
    from core.tracking.tracker import FaceTracker

    tracker = FaceTracker(expression_source="mesh")
    yield tracker
    tracker.close()


def settle(tracker, image, frames=12):
    tracker.reset()
    result = None
    for i in range(frames):
        result = tracker.process(image, i / FPS)
    return result


def test_mesh_points_land_on_the_face(render_head):
    from core.tracking.landmarks import DlibFaceLandmarks, to_gray

    image = render_head(0, 0, 0)
    faces = DlibFaceLandmarks(cnn=False)
    gray = to_gray(image)
    box = faces.detect(gray)[0]
    points = faces.landmarks(gray, box)
    fm = mesh.FaceMesh()
    from core.tracking.landmarks import landmark_frame

    pts = fm.points(image, *landmark_frame(points))
    fm.close()
    assert pts is not None and pts.shape == (478, 3)
    # MediaPipe's outer eye corners sit on dlib's, its mouth corners near them (the two
    # place a stylised mouth's corners ~0.1 eye distances apart): the crop maps back
    iod = np.linalg.norm(points[36] - points[45])
    for mp_index, dlib_index, bound in ((33, 36, 0.05), (263, 45, 0.05), (61, 48, 0.15), (291, 54, 0.15)):
        assert np.linalg.norm(pts[mp_index, :2] - points[dlib_index]) < bound * iod
    assert fm._mesh is None   # closed


@pytest.mark.parametrize("name,group", [("jawOpen", ("jawOpen",)),
                                        ("mouthSmileLeft", ("mouthSmileLeft",)),
                                        ("mouthFrownRight", ("mouthFrownRight",)),
                                        ("mouthPucker", ("mouthPucker", "mouthFunnel")),
                                        ("mouthFunnel", ("mouthPucker", "mouthFunnel"))])
def test_an_expression_raises_its_own_weight(mesh_tracker, render_head, name, group):
    """On a held-out engine head, each mouth name at full strength reads clearly above the
    neutral face's reading of it (dlib's 68 points read only jawOpen). The brows, blinks,
    eyeWide and cheekPuff are read weakly or not at all on some heads (docs/tracking.md),
    so they are measured in the eval, not asserted here."""
    names = DEFAULT_EXPRESSION_NAMES
    neutral = settle(mesh_tracker, render_head(0, 0, 0)).raw_expression.to_dict()
    values = np.zeros(len(names))
    values[names.index(name)] = 1.0
    posed = settle(mesh_tracker, render_head(0, 0, 0, Expression(names, values))).raw_expression.to_dict()
    assert max(posed[n] for n in group) > max(neutral[n] for n in group) + 0.25, (neutral, posed)


def test_astronaut_reads_as_a_smile_with_open_eyes(mesh_tracker):
    from skimage import data

    result = settle(mesh_tracker, data.astronaut(), frames=3)
    assert result.face
    expr = result.raw_expression.to_dict()
    assert expr["mouthSmileLeft"] > 0.3 and expr["mouthSmileRight"] > 0.3, expr
    assert expr["eyeBlinkLeft"] < 0.3 and expr["eyeBlinkRight"] < 0.3, expr


def test_auto_falls_back_to_dlib_when_the_mesh_cannot_start(monkeypatch):
    """A MediaPipe without its models (a later release, a bundle that left them out) must
    not stop the tracker: auto uses dlib's points, an explicit mesh request is one error."""
    def broken(*_a, **_k):
        raise RuntimeError("face_landmark_with_attention.tflite: not found")

    monkeypatch.setattr(mesh, "FaceMesh", broken)
    assert mesh.load_expression_mesh("auto") == (None, None)
    with pytest.raises(ValueError, match="cannot start"):
        mesh.load_expression_mesh("mesh")
