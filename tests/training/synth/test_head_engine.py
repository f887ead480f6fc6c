"""The synthetic head engine: geometry, expressions, landmarks, rendering, lighting."""
import numpy as np
import pytest

from core.camera import orbit
from core.expression import Expression
from core.lighting import SphericalHarmonicsLighting
from training.synth.head_mesh import HeadBuilder, build_head, landmarks_3d
from training.synth.identity import APPEARANCE_PARAMETERS, SHAPE_PARAMETERS, HeadIdentity


@pytest.fixture(scope="module")
def renderer():
    from training.synth.renderer import HeadRenderer

    r = HeadRenderer(96)
    yield r
    r.release()


@pytest.fixture(scope="module")
def builder():
    return HeadBuilder(HeadIdentity.sample(3))


def test_identity_space_is_rich_and_seeded():
    assert len(SHAPE_PARAMETERS) >= 24 and len(APPEARANCE_PARAMETERS) >= 8
    a, b = HeadIdentity.sample(1), HeadIdentity.sample(1)
    assert a == b and HeadIdentity.sample(2) != a
    assert HeadIdentity.from_json(a.to_json()) == a
    tones = [HeadIdentity.sample(s).skin_color().mean() for s in range(60)]
    assert max(tones) - min(tones) > 0.4  # light to dark skin


def test_mesh_is_a_sane_head(builder):
    geo = builder.build()
    mesh = geo.mesh
    v = mesh.vertices
    assert np.isfinite(v).all() and mesh.faces.max() < len(v)
    assert (np.abs(v) <= 0.5 + 1e-6).all()  # inside EG3D's scene box
    height = v[:, 1].max() - geo.mesh.layout.y_chin
    assert 0.4 < height < 0.6
    # the nose is the frontmost point of the face
    lm = landmarks_3d(geo, np.array([0, 0, 2.7]))
    assert lm[30, 2] > lm[36, 2] and lm[30, 2] > lm[48, 2]


def test_different_identities_have_different_shapes():
    a = build_head(HeadIdentity.sample(10)).mesh.vertices
    b = build_head(HeadIdentity.sample(11)).mesh.vertices
    assert a.shape == b.shape and np.abs(a - b).max() > 0.005


def test_jaw_open_lowers_the_chin_and_opens_the_lips(builder):
    cam = np.array([0, 0, 2.7])
    neutral = landmarks_3d(builder.build(), cam)
    open_ = landmarks_3d(builder.build(Expression.from_dict({"jawOpen": 1.0})), cam)
    assert open_[8, 1] < neutral[8, 1] - 0.02  # chin down by more than ~1 cm
    gap_n = neutral[62, 1] - neutral[66, 1]
    gap_o = open_[62, 1] - open_[66, 1]
    assert gap_n < 0.002 and gap_o > 0.02
    assert np.abs(open_[17:27] - neutral[17:27]).max() < 1e-6  # brows stay


def test_jaw_open_makes_an_oval_mouth(builder):
    """The lips part most in the middle and stay together at the corners."""
    from training.synth.head_mesh import S_SCALE

    geo = builder.build(Expression.from_dict({"jawOpen": 1.0}))
    L = geo.mesh.layout
    gap = np.linalg.norm(geo.skin_grid[L.seam_bottom] - geo.skin_grid[L.seam_top], axis=-1)
    s = L.col_u * S_SCALE  # arc position of every column

    def gap_at(x):
        return float(np.interp(x, s, gap))

    middle, corner = gap_at(0.0), gap_at(0.9 * L.mouth_w)
    assert middle > 0.02 and corner < 0.5 * middle
    assert gap_at(0.5 * L.mouth_w) > corner


def test_skin_covers_the_eyeballs_outside_the_lids(builder):
    """No white shows through the skin: every eyeball point outside the (widest open)
    lid opening lies under the skin (scene units: 0.002 is about 1 mm)."""
    from training.synth.head_mesh import PART_EYE, S_SCALE, _bilinear

    geo = builder.build()
    L = geo.mesh.layout
    eye = geo.mesh.vertices[geo.mesh.part == PART_EYE].astype(np.float64)
    u = np.arctan2(eye[:, 0], eye[:, 2])
    r, c = L.grid_coords(u * S_SCALE, eye[:, 1])
    skin = _bilinear(geo.skin_grid, r, c)
    outside = np.hypot(eye[:, 0], eye[:, 2]) > np.hypot(skin[:, 0], skin[:, 2])
    in_opening = np.zeros(len(eye), bool)
    for side in (-1, 1):
        s_rel = u * S_SCALE - side * L.s_eye
        upper, lower = L.eyelids(side, 1.35, s_rel)
        # (1.5 mm of slack round the opening, which closes to a point at the corners)
        in_opening |= (np.abs(s_rel) < L.eye_w + 0.003) & (eye[:, 1] < upper + 0.003) & (eye[:, 1] > lower - 0.003)
    assert outside[in_opening].any()  # the eyes do show through the lid opening
    assert not (outside & ~in_opening).any()


def test_jaw_outline_on_a_turned_head(builder):
    """Annotators' convention: the chin point stays on the midline and both sides of the
    outline start at the same height, however the head turns."""
    geo = builder.build()
    for yaw in (-20, 0, 20):
        lm = landmarks_3d(geo, orbit(yaw, 0).origin)
        assert abs(lm[8, 0]) < 0.003
        assert abs(lm[0, 1] - lm[16, 1]) < 0.005
        assert lm[0, 1] < geo.mesh.layout.y_eye + 0.01 and lm[8, 1] < lm[57, 1] - 0.05


def test_blink_left_closes_only_the_left_eye(builder):
    cam = np.array([0, 0, 2.7])
    n = landmarks_3d(builder.build(), cam)
    b = landmarks_3d(builder.build(Expression.from_dict({"eyeBlinkLeft": 1.0})), cam)

    def opening(lm, up, lo):
        return np.mean([lm[u, 1] - lm[l, 1] for u, l in zip(up, lo)])

    right, left = ((37, 38), (41, 40)), ((43, 44), (47, 46))
    assert opening(n, *left) > 0.01 and opening(b, *left) < 0.001
    assert opening(b, *right) == pytest.approx(opening(n, *right), abs=1e-6)
    # the left eye is the subject's left: world +x
    assert n[42:48, 0].mean() > 0


def test_smile_raises_mouth_corners_and_brows_move(builder):
    cam = np.array([0, 0, 2.7])
    n = landmarks_3d(builder.build(), cam)
    s = landmarks_3d(builder.build(Expression.from_dict({"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0})), cam)
    assert s[48, 1] > n[48, 1] + 0.004 and s[54, 1] > n[54, 1] + 0.004
    u = landmarks_3d(builder.build(Expression.from_dict({"browInnerUp": 1.0})), cam)
    assert u[21, 1] > n[21, 1] + 0.004 and u[22, 1] > n[22, 1] + 0.004


def test_render_passes_and_landmarks(renderer, builder):
    geo = builder.build()
    f = renderer.render(geo, orbit(10, 5), SphericalHarmonicsLighting.preset("studio"))
    assert f.rgb.shape == (96, 96, 3) and f.alpha.shape == (96, 96)
    covered = f.alpha > 0.99
    assert 0.15 < covered.mean() < 0.8
    np.testing.assert_allclose(np.linalg.norm(f.normal[covered], axis=-1), 1.0, atol=1e-3)
    assert ((f.depth[covered] > 2.2) & (f.depth[covered] < 3.2)).all()
    assert (f.alpha[0] == 0).all()  # background in the top row
    # landmarks project inside the silhouette (the jaw line lies on its edge)
    xy = np.round(f.landmarks).astype(int)
    assert (f.alpha[xy[:, 1].clip(0, 95), xy[:, 0].clip(0, 95)] > 0.3).mean() > 0.95


def test_relighting_changes_colour_not_geometry(renderer, builder):
    geo = builder.build()
    t = renderer.visibility_transfer(geo)
    a = renderer.render(geo, orbit(0, 0), SphericalHarmonicsLighting.preset("key-left"), transfer=t)
    b = renderer.render(geo, orbit(0, 0), SphericalHarmonicsLighting.preset("key-right"), transfer=t)
    assert np.abs(a.rgb - b.rgb).max() > 0.2
    np.testing.assert_array_equal(a.alpha, b.alpha)
    np.testing.assert_array_equal(a.depth, b.depth)
    np.testing.assert_array_equal(a.normal, b.normal)
    np.testing.assert_array_equal(a.albedo, b.albedo)


def test_directional_light_brightens_the_lit_side(renderer, builder):
    geo = builder.build()
    light = SphericalHarmonicsLighting.from_directional((-1, 0.2, 0.4), intensity=1.0, ambient=0.1)
    f = renderer.render(geo, orbit(0, 0), light)
    face = f.alpha > 0.99
    half = f.alpha.shape[1] // 2
    left = f.shading[:, :half][face[:, :half]].mean()  # image left = world -x, towards the light
    right = f.shading[:, half:][face[:, half:]].mean()
    assert left > 1.5 * right


def test_shadows_darken_occluded_skin(renderer, builder):
    """Under light from above, the skin under the nose and chin is darker than the
    unoccluded irradiance: the visibility term is at work."""
    geo = builder.build()
    light = SphericalHarmonicsLighting.from_directional((0, 1, 0.3), intensity=1.0, ambient=0.05)
    t = renderer.visibility_transfer(geo)
    n = geo.mesh.normals()
    unshadowed = light.irradiance(n.astype(np.float64))[:, 0]
    shadowed = (t.astype(np.float64) @ light.coeffs)[:, 0]
    skin = geo.mesh.part == 0
    ratio = shadowed[skin] / np.maximum(unshadowed[skin], 1e-3)
    assert np.percentile(ratio, 50) > 0.9  # most skin sees the light
    assert np.percentile(ratio, 5) < 0.6   # some of it is in shadow


def test_ground_truth_mesh_exports(builder, tmp_path):
    import trimesh

    mesh = builder.build().mesh.to_trimesh()
    path = tmp_path / "head.ply"
    mesh.export(path)
    back = trimesh.load(path, process=False)
    assert len(back.vertices) == len(mesh.vertices) and len(back.faces) == len(mesh.faces)


def test_a_closed_eye_is_a_lit_lid_not_a_hole():
    """The skin a blink brings out from behind the lids was recessed at rest, so the
    neutral pose's visibility had it fully shadowed and a closed eye rendered black;
    expression_transfer gives it a closed lid's visibility. The closed eye's shading is
    then about that of the skin around it."""
    from training.synth.renderer import HeadRenderer, expression_transfer

    r = HeadRenderer(256)
    try:
        builder = HeadBuilder(HeadIdentity.sample(987_654))
        neutral = builder.build()
        transfer = r.visibility_transfer(neutral)
        closed = builder.build(Expression.from_dict({"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}))
        light = SphericalHarmonicsLighting.preset("studio")
        f = r.render(closed, orbit(0, 0), light, None, expression_transfer(transfer, closed))
        stale = r.render(closed, orbit(0, 0), light, None, transfer)
    finally:
        r.release()
    xy = f.landmarks
    for eye in (slice(36, 42), slice(42, 48)):
        (x0, y0), (x1, y1) = xy[eye].min(0), xy[eye].max(0)
        cx, cy = int(round((x0 + x1) / 2)), int(round((y0 + y1) / 2))
        lid = f.shading[cy - 1:cy + 2, int(x0) + 3:int(x1) - 2].mean()
        cheek = f.shading[cy + 8:cy + 12, int(x0) + 3:int(x1) - 2].mean()
        assert lid > 0.7 * cheek, (lid, cheek)
        assert stale.shading[cy - 1:cy + 2, int(x0) + 3:int(x1) - 2].mean() < 0.3 * cheek   # what it was
