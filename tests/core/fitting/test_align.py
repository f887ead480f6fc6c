import numpy as np
import pytest

from core.fitting import align
from core.fitting.align import FaceAlignmentError, align_photo, load_photo


def test_synthetic_heads_align_to_their_own_framing(held_out_photos):
    """An engine render is already framed as the training data: the crop must be close
    to the identity transform and the camera close to the engine's."""
    _, photos = held_out_photos
    for p in photos:
        face = align_photo(p.image)
        scale = float(np.sqrt(np.linalg.det(face.transform[:, :2])))
        assert 0.8 < scale < 1.25, scale
        assert np.abs(face.transform[:, 2] - (1 - scale) * 128).max() < 30
        assert abs(face.camera.yaw - p.camera.yaw) < 6.0
        assert abs(face.camera.pitch - p.camera.pitch) < 8.0
        assert face.image.shape == (256, 256, 3) and face.mask.shape == (256, 256)
        assert face.mask[128, 128] > 0.5 and face.mask[2, 2] < 0.5
        assert face.faces_found == 1 and not face.warnings


def test_sh_estimate_finds_the_light_side(held_out_photos):
    """The starting light's dominant direction is on the side the engine's key light is."""
    _, photos = held_out_photos
    for p in photos:
        face = align_photo(p.image)
        est, truth = face.lighting.coeffs.mean(1), p.lighting.coeffs.mean(1)
        # first band (y, z, x) ~ direction of the light
        d_est, d_true = est[[3, 1, 2]], truth[[3, 1, 2]]
        assert d_est @ d_true / (np.linalg.norm(d_est) * np.linalg.norm(d_true)) > 0.5


def test_blank_image_has_no_face():
    with pytest.raises(FaceAlignmentError, match="no face"):
        align_photo(np.full((200, 200, 3), 0.7, np.float32))


def test_several_faces_take_the_largest(held_out_photos):
    import cv2

    _, photos = held_out_photos
    canvas = np.ones((300, 560, 3), np.float32)
    canvas[22:278, 0:256] = photos[0].image
    small = cv2.resize(photos[1].image, (200, 200), interpolation=cv2.INTER_AREA)
    canvas[50:250, 330:530] = small
    face = align_photo(canvas)
    assert face.faces_found == 2
    assert "2 faces" in face.warnings[0]
    assert face.box[0] < 256  # the big one, on the left


def test_tiny_face_is_refused(held_out_photos):
    import cv2

    _, photos = held_out_photos
    canvas = np.ones((400, 400, 3), np.float32)
    canvas[170:230, 170:230] = cv2.resize(photos[0].image, (60, 60), interpolation=cv2.INTER_AREA)
    with pytest.raises(FaceAlignmentError, match="too small|no face"):
        align_photo(canvas)


def test_profile_is_refused(held_out_photos):
    heads, photos = held_out_photos
    from core.state import OrbitPose

    p = photos[0]
    side = p.render(OrbitPose(yaw=80.0), p.expression, p.lighting)
    with pytest.raises(FaceAlignmentError, match="turned too far|no face"):
        align_photo(side)


def test_load_photo_errors(tmp_path, monkeypatch):
    from PIL import Image

    with pytest.raises(FaceAlignmentError, match="no such file"):
        load_photo(tmp_path / "missing.png")
    bad = tmp_path / "photo.txt"
    bad.write_text("hello")
    with pytest.raises(FaceAlignmentError, match="unsupported image type"):
        load_photo(bad)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    with pytest.raises(FaceAlignmentError, match="not a readable image"):
        load_photo(corrupt)
    ok = tmp_path / "ok.png"
    Image.fromarray(np.zeros((64, 80, 3), np.uint8)).save(ok)
    assert load_photo(ok).shape == (64, 80, 3)
    # the size comes from the header, before decoding
    monkeypatch.setattr(align, "MAX_PHOTO_PIXELS", 1000)
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self, *a: decoded.append(1))
    with pytest.raises(FaceAlignmentError, match="too large"):
        load_photo(ok)
    assert not decoded


def test_the_person_mask_keeps_the_neck(held_out_photos):
    """The fit's target is the photo's person over white: a mask that stopped at the chin
    (the crop's bottom edge was seeded as background) taught pivotal tuning to erase the
    neck. Against the engine's own silhouette the mask must cover the head and neck."""
    import cv2

    from core.fitting.align import align_photo

    _, photos = held_out_photos
    for photo in photos:
        face = align_photo(photo.image, 256)
        truth = (np.abs(photo.image - 1.0).max(-1) > 0.02).astype(np.float32)
        truth = cv2.warpAffine(truth, face.transform, (256, 256), flags=cv2.INTER_NEAREST, borderValue=0) > 0.5
        mask = face.mask > 0.5
        iou = (mask & truth).sum() / (mask | truth).sum()
        rows = np.flatnonzero(truth.any(1))[-8:]   # the photo's lowest rows inside the crop
        neck = truth[rows].sum()
        assert neck > 0 and (mask[rows] & truth[rows]).sum() > 0.8 * neck, "the neck at the bottom is lost"
        assert iou > 0.95, f"person mask IoU {iou:.3f} against the engine's silhouette"


def test_sh_from_the_face_mesh_finds_the_light_side(held_out_photos):
    """MediaPipe's mesh comes back in the crop's pixels, its triangles' normals face the
    camera, and the SH fitted on its skin vertices puts the light on the key light's side."""
    from core.fitting.sh_estimate import estimate_sh_mesh, mesh_triangles, mesh_vertex_normals
    from core.tracking.mesh import mesh_available

    if not mesh_available():
        pytest.skip("MediaPipe is not installed (scripts/setup.sh installs it)")
    tris = mesh_triangles()
    assert tris.shape == (854, 3) and tris.max() == 467
    _, photos = held_out_photos
    for p in photos:
        face = align_photo(p.image)
        assert face.mesh is not None and face.mesh.shape == (478, 3)
        # the mesh lies on the face: its nose tip (vertex 1) near dlib's (point 30)
        assert np.linalg.norm(face.mesh[1, :2] - face.landmarks[30]) < 8
        normals = mesh_vertex_normals(face.mesh, tris)
        assert normals[1, 2] < -0.8   # the nose tip looks back at the camera
        sh = estimate_sh_mesh(face.image, face.camera.to_camera(), face.landmarks, face.mesh, mask=face.mask > 0.5)
        est, truth = sh.mean(1), p.lighting.coeffs.mean(1)
        d_est, d_true = est[[3, 1, 2]], truth[[3, 1, 2]]
        assert d_est @ d_true / (np.linalg.norm(d_est) * np.linalg.norm(d_true)) > 0.5
