"""What an artist sees on first opening the bundled model: a lit head whose lighting and
expression controls do what they say (the issue's visible checks, measured)."""
import os

import numpy as np
import pytest

from core.checkpoint import DEFAULT_MODEL
from core.engine import InferenceEngine
from core.expression import Expression
from core.lighting import SphericalHarmonicsLighting
from core.state import OrbitPose, RenderSettings

MODEL = os.environ.get("AVATAR_STUDIO_TEST_MODEL", str(DEFAULT_MODEL))


@pytest.fixture(scope="module")
def engine():
    return InferenceEngine.from_checkpoint(MODEL, "cpu")


@pytest.fixture(scope="module")
def front(engine):
    return engine.default_state().with_(camera=OrbitPose(), render=RenderSettings(128, "refined"))


def _luma(rgb):
    return rgb @ np.array([0.299, 0.587, 0.114])


def test_a_side_light_darkens_the_far_side_and_leaves_geometry_alone(engine, front):
    frames = {}
    for side in ("key-left", "key-right"):
        frames[side] = engine.render(front.with_(lighting=SphericalHarmonicsLighting.preset(side))).frame
    a, b = frames["key-left"], frames["key-right"]
    assert np.array_equal(a.alpha.numpy(), b.alpha.numpy()) and np.array_equal(a.depth.numpy(), b.depth.numpy())
    mask = a.alpha.numpy() > 0.9
    cols = np.nonzero(mask.any(0))[0]
    mid = (cols.min() + cols.max()) // 2
    image_left = np.zeros_like(mask)
    image_left[:, :mid] = True

    def left_minus_right(frame):
        y = _luma(frame.rgb.numpy())
        return y[mask & image_left].mean() - y[mask & ~image_left].mean()

    # each key light makes its own side of the picture the brighter one, clearly
    asym = {k: left_minus_right(f) for k, f in frames.items()}
    assert abs(asym["key-left"]) > 0.08 and abs(asym["key-right"]) > 0.08
    assert np.sign(asym["key-left"]) != np.sign(asym["key-right"])


def test_jaw_open_opens_the_mouth(engine, front):
    names = engine.cfg.expression_names
    closed = engine.render(front).frame
    opened = engine.render(front.with_(expression=Expression.neutral(names).with_value("jawOpen", 1.0))).frame
    mask = closed.alpha.numpy() > 0.9
    rows = np.nonzero(mask.any(1))[0]
    cols = np.nonzero(mask.any(0))[0]
    top, height = rows.min(), rows.max() - rows.min()
    centre = slice(cols.min() + (cols.max() - cols.min()) // 3, cols.max() - (cols.max() - cols.min()) // 3)
    change = np.abs(opened.rgb.numpy() - closed.rgb.numpy()).mean(-1)
    upper = change[top:top + int(0.35 * height), centre].mean()   # forehead and eyes
    # the head's box includes the neck: the mouth lies in the middle of the silhouette's height
    lower = change[top + int(0.4 * height):top + int(0.7 * height), centre]
    assert lower.mean() > 3 * upper
    # an open mouth is a dark hole: the darkest spot of the lower face gets darker
    y_closed = _luma(closed.rgb.numpy())[top + int(0.4 * height):top + int(0.7 * height), centre]
    y_open = _luma(opened.rgb.numpy())[top + int(0.4 * height):top + int(0.7 * height), centre]
    # (head model v2.2: 0.073 against 0.122; its closed lips are a darker line than v2.1's)
    assert np.percentile(y_open, 2) < np.percentile(y_closed, 2) - 0.04


def test_sampled_identities_are_heads_like_the_trained_ones(engine, front):
    """The identity prior (fitted to the learned codes) gives new heads, not blobs: their
    silhouettes cover about as much of the picture as the default head's, and they differ."""
    def coverage(frame):
        return float((frame.alpha.numpy() > 0.5).mean())

    reference = coverage(engine.render(front).frame)
    images = []
    for seed in range(3):
        frame = engine.render(front.with_(identity=engine.sample_identity(seed, truncation=0.7))).frame
        assert 0.7 * reference < coverage(frame) < 1.3 * reference
        images.append(frame.rgb.numpy())
    assert np.abs(images[0] - images[1]).mean() > 0.01 and np.abs(images[1] - images[2]).mean() > 0.01


# Head model v2's promise: every expression slider does what its name says. The default
# head is training head 0 of the synthetic set it was trained on (synth --seed 1), so the
# engine can render the truth for it: each name alone at full strength, same view and
# light, model's image change vs the engine's.
KEY_NAMES = ("mouthSmileLeft", "mouthSmileRight", "browInnerUp", "mouthPucker", "jawOpen", "eyeBlinkLeft",
             "eyeBlinkRight")


@pytest.fixture(scope="module")
def expression_changes(engine):
    from training.data import identity_key
    from training.evaluate import MOVED, change_correlation, engine_view
    from training.synth.dataset import SynthConfig, identity_for
    from training.synth.head_mesh import HeadBuilder
    from training.synth.renderer import HeadRenderer

    head = identity_for(SynthConfig(seed=1), 0)
    if engine.provenance.get("identity_ids", [None])[0] != identity_key(0, head.to_json()):
        pytest.skip("the model under test was not trained on synth --seed 1 (AVATAR_STUDIO_TEST_MODEL)")
    state = engine.default_state().with_(camera=OrbitPose(yaw=10.0, pitch=3.0),
                                         lighting=SphericalHarmonicsLighting.preset("studio"),
                                         render=RenderSettings(256, "refined", "rgb", (1.0, 1.0, 1.0)))
    renderer = HeadRenderer(256)
    try:
        truth = engine_view(renderer, HeadBuilder(head), state.camera.to_camera())
        names = engine.cfg.expression_names
        neutral = Expression.neutral(names)
        t0 = truth(neutral, state.lighting)
        p0 = engine.render(state.with_(expression=neutral), keep=False).frame.rgb.numpy()
        out = {}
        for name in names:
            ex = neutral.with_value(name, 1.0)
            d_true = truth(ex, state.lighting) - t0
            d_pred = engine.render(state.with_(expression=ex), keep=False).frame.rgb.numpy() - p0
            out[name] = (change_correlation(d_true, d_pred),
                         (np.abs(d_pred).max(-1) > MOVED).sum() / max((np.abs(d_true).max(-1) > MOVED).sum(), 1))
    finally:
        renderer.release()
    return out


# What the bundled model reaches on this view, kept as a floor below it (head model v2.6:
# these nine names 0.77-0.94, mean over all 17 0.77; v2.5: 0.73-0.93, 0.72; v2.4: 0.72-0.93, 0.70; v2.3:
# 0.73-0.92, mean 0.59): the first model failed all of these (a smile moved 0.05% of the pixels).
ACTIVE_NAMES = ("jawOpen", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight", "mouthPucker",
                "browInnerUp", "mouthFunnel", "cheekPuff")


def test_expressions_change_the_image_where_the_engine_does(expression_changes):
    weak = {n: round(expression_changes[n][0], 2) for n in ACTIVE_NAMES if expression_changes[n][0] < 0.6}
    assert not weak, f"expressions whose change correlates < 0.6 with the engine's: {weak}"
    assert np.mean([c for c, _ in expression_changes.values()]) >= 0.65


def test_blinks_close_the_eyes_as_the_engine_does(expression_changes):
    # Since the engine renders a closed eye as a lid, models up to v2.3 did not follow it
    # (0.03-0.24); v2.4's super-resolution reads the expression: 0.69 / 0.71 on this view
    # (v2.5: 0.71 / 0.72; v2.6, its modulation confined to each name's region: 0.78 / 0.79).
    weak = {n: round(expression_changes[n][0], 2) for n in ("eyeBlinkLeft", "eyeBlinkRight")
            if expression_changes[n][0] < 0.5}
    assert not weak, f"blinks whose change correlates < 0.5 with the engine's: {weak}"


def test_every_expression_changes_the_image_as_the_engine_does(expression_changes):
    """The issue's bar (every name >= 0.5, mean >= 0.7) is on the held-out means (the
    eval; v2.6: min 0.53, mean 0.74, assets/MODEL_CARD.md). On this one view v2.6 gives
    eyeWide 0.67 / 0.74 (v2.5: 0.38 / 0.48, which fails here), every name 0.44 or more
    (browDownLeft; 0.62 held-out), mean 0.77: floors just below."""
    weak = {n: round(c, 2) for n, (c, _) in expression_changes.items() if c < 0.4}
    assert not weak, f"expressions whose change correlates < 0.4 with the engine's: {weak}"
    wide = {n: round(expression_changes[n][0], 2) for n in ("eyeWideLeft", "eyeWideRight")
            if expression_changes[n][0] < 0.6}
    assert not wide, f"eyeWide whose change correlates < 0.6 with the engine's: {wide}"
    assert np.mean([c for c, _ in expression_changes.values()]) >= 0.74


def test_key_expressions_move_as_many_pixels_as_the_engine(expression_changes):
    # The bar (>= 0.5) is met on the held-out mean for these (head model v2.4, 12
    # views: smiles 1.00/1.00, browInnerUp 0.98, pucker 0.80, jawOpen 1.03, blinks 0.55/0.98;
    # v2.3's blinks: 0.11/0.19). On this one view pucker moves 0.72 of the engine's pixels,
    # the blinks 0.54/1.02. The floor here catches a slider going dead (the first model:
    # 0.12-0.25), not that margin.
    small = {n: round(r, 2) for n, (_, r) in expression_changes.items() if n in KEY_NAMES and r < 0.35}
    assert not small, f"expressions moving under 35% of the engine's pixels: {small}"


def test_the_drag_preview_looks_like_the_frame_it_is_refined_into(engine):
    """While a slider or the camera moves, the studio shows the preview (half the neural
    resolution, 128 px); 0.4 s after release the refined 256 px frame replaces it. The two
    should be the same picture at two sharpnesses, not a jump. v2.3 and v2.4 (one
    super-resolution trained at 64) gave 21.0 / 20.8 dB here: v2.4 drew streaks beside
    the eyes; v2.5's own preview super-resolution gives 31.6."""
    state = engine.default_state().with_(render=RenderSettings(256, "refined"))
    names = engine.cfg.expression_names
    for expression in (None, "eyeBlinkLeft", "jawOpen"):
        s = state if expression is None else state.with_(
            expression=Expression.neutral(names).with_value(expression, 1.0))
        refined = engine.render(s, keep=False).frame.rgb.numpy()
        preview = engine.render(s, "preview", keep=False).frame.rgb.numpy()
        side = preview.shape[0]
        assert refined.shape[0] == 2 * side
        refined_small = refined.reshape(side, 2, side, 2, 3).mean((1, 3))
        psnr = -10 * np.log10(((preview - refined_small) ** 2).mean())
        assert psnr > 27.0, f"{expression or 'neutral'}: preview against refined {psnr:.2f} dB"


def test_a_dragged_slider_previews_the_same_face_as_an_exact_render(engine):
    """A one-slider drag's preview blends the planes of the slider's two nearest steps
    of 1/8 (core/engine.py). On the bundled model that blend is the exact preview to the
    eye: v2.5 gives 65.7 dB or more here (mouthSmileLeft and eyeBlinkRight bit-identical;
    58 on jawOpen at the worst of three random values). The lower step alone gives 45.4 dB on
    jawOpen, the weight flipped 50.8: both fail."""
    state = engine.default_state().with_(render=RenderSettings(256, "refined"))
    names = engine.cfg.expression_names
    exact_engine = InferenceEngine(engine.model, "cpu")
    worst = {}
    for name in ("jawOpen", "mouthSmileLeft", "eyeBlinkRight", "mouthFunnel"):
        for value in (0.3, 0.71):
            engine.render(state)   # the frame the drag starts from
            s = state.with_(expression=Expression.neutral(names).with_value(name, value))
            blended = engine.render(s, "preview")
            assert "blended planes" in blended.timings_ms
            exact = exact_engine.render(s, "preview", keep=False).frame.rgb.numpy()
            psnr = -10 * np.log10(max(((blended.frame.rgb.numpy() - exact) ** 2).mean(), 1e-12))
            worst[name] = min(worst.get(name, np.inf), psnr)
    low = {n: round(p, 1) for n, p in worst.items() if p < 55.0}
    assert not low, f"dragged previews unlike exact ones (dB): {low}"
