import numpy as np
import pytest
import torch

from core.engine import InferenceEngine, select_device
from core.expression import Expression
from core.lighting import SphericalHarmonicsLighting
from core.state import OrbitPose, RenderSettings


@pytest.fixture
def engine(tiny_model):
    return InferenceEngine(tiny_model, "cpu")


@pytest.fixture
def state(engine):
    return engine.default_state(3).with_(render=RenderSettings(32, "refined"), camera=OrbitPose(yaw=15, pitch=5))


def test_select_device():
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="unknown device"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            select_device("cuda")


@pytest.mark.parametrize("quality", ["preview", "refined", "naive"])
def test_lighting_change_is_deferred_and_equals_full_render(tiny_model, state, quality):
    engine = InferenceEngine(tiny_model, "cpu")
    first = engine.render(state, quality)
    assert not first.relit_only
    relit_state = state.with_(lighting=SphericalHarmonicsLighting.preset("key-right"))
    relit = engine.render(relit_state, quality)
    assert relit.relit_only and "march+superres" not in relit.timings_ms
    fresh = InferenceEngine(tiny_model, "cpu").render(relit_state, quality)
    assert not fresh.relit_only
    for name in ("rgb", "shading", "specular", "albedo", "normal"):
        diff = (getattr(relit.frame, name) - getattr(fresh.frame, name)).abs().max().item()
        assert diff < 1e-4, name
    # lighting never moves geometry: alpha and depth are bit-identical, the image is not
    assert torch.equal(relit.frame.alpha, first.frame.alpha)
    assert torch.equal(relit.frame.depth, first.frame.depth)
    assert torch.equal(relit.frame.albedo, first.frame.albedo)
    assert (relit.frame.rgb - first.frame.rgb).abs().max() > 1e-2


def test_every_other_control_rerenders(engine, state):
    base = engine.render(state).frame.rgb
    changes = {
        "camera": state.with_(camera=OrbitPose(yaw=-30)),
        "identity": state.with_(identity=engine.sample_identity(99)),
        "expression": state.with_(expression=state.expression.with_value("jawOpen", 1.0)),
    }
    for what, s in changes.items():
        r = engine.render(s)
        assert not r.relit_only, what
        assert (r.frame.rgb - base).abs().max() > 1e-3, what


def test_quality_levels_and_sizes(engine, state):
    refined = engine.render(state, "refined")
    preview = engine.render(state, "preview")
    assert refined.frame.rgb.shape == (32, 32, 3)
    assert preview.frame.rgb.shape == (16, 16, 3)  # half the neural resolution while dragging
    assert engine.render(state, "refined", neural_resolution=8).frame.rgb.shape == (16, 16, 3)
    with pytest.raises(ValueError, match="quality"):
        engine.render(state, "ultra")


def test_background_colour_and_expression_names(engine, state, tiny_config):
    from dataclasses import replace

    from core.model.head import NeuralHeadModel

    green, red = (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)
    # every pixel is the head over the background: two backgrounds differ by (1 - alpha) x
    # their difference (the tiny model is nowhere fully opaque, so this bites everywhere)
    a = engine.render(state.with_(render=RenderSettings(32, "refined", "rgb", green))).frame
    b = engine.render(state.with_(render=RenderSettings(32, "refined", "rgb", red))).frame
    assert (1.0 - a.alpha).max() > 0.01
    expected = (1.0 - a.alpha)[..., None] * (torch.tensor(green) - torch.tensor(red))
    torch.testing.assert_close(a.rgb - b.rgb, expected, atol=1e-5, rtol=0)
    # a model with no density anywhere: every pixel is empty and exactly the background
    torch.manual_seed(0)
    empty_model = NeuralHeadModel(replace(tiny_config, density_bias=-40.0)).eval()
    f = InferenceEngine(empty_model, "cpu").render(
        state.with_(render=RenderSettings(32, "refined", "rgb", green))).frame
    assert bool((f.alpha < 1e-4).all())
    np.testing.assert_allclose(f.rgb.reshape(-1, 3).numpy(), np.tile(green, (32 * 32, 1)), atol=1e-6)
    # an expression from another name set is mapped onto the model's names
    other = Expression(("jawOpen", "tongueOut"), [0.5, 1.0])
    engine.render(state.with_(expression=other))


def test_identity_of_wrong_size_is_a_clear_error(engine, state):
    from core.identity import Identity

    with pytest.raises(ValueError, match="latent has 3 values"):
        engine.render(state.with_(identity=Identity(np.zeros(3))))


def test_sample_density_for_mesh_extraction(engine, state):
    pts = np.random.default_rng(0).uniform(-0.5, 0.5, size=(1000, 3))
    sigma = engine.sample_density(pts, state.identity, state.expression)
    assert sigma.shape == (1000,) and torch.isfinite(sigma).all() and (sigma >= 0).all()


def test_identity_cache_is_bounded_by_bytes(tiny_model, monkeypatch):
    """Each cached identity holds tensors (with per-name expression deltas, 28-113 MB on
    real models); the cache drops the oldest when their bytes pass the budget, so
    browsing many heads cannot grow memory without bound."""
    import core.engine as engine_module
    from core.engine import _nbytes

    engine = InferenceEngine(tiny_model, "cpu")
    one = engine.model.identity_features(torch.zeros(1, engine.cfg.latent_dim))
    size = _nbytes(one)
    assert size > 0
    monkeypatch.setattr(engine_module, "CACHE_BYTES", int(2.5 * size))
    engine = InferenceEngine(tiny_model, "cpu")
    state = engine.default_state()
    for seed in range(6):
        engine.render(state.with_(identity=engine.sample_identity(seed)), "preview")
    assert len(engine._identity_cache) == 2
    assert sum(_nbytes(v) for v in engine._identity_cache.values()) <= 2.5 * size
    # the most recent identity is the one kept warm
    assert engine.sample_identity(5).key() in engine._identity_cache


def test_a_one_slider_drag_blends_cached_planes_and_other_changes_render_exactly(tiny_model, state):
    from core.engine import DRAG_STEPS

    engine = InferenceEngine(tiny_model, "cpu")
    names = engine.cfg.expression_names
    engine.render(state)  # the frame on screen when the drag starts
    values = state.expression.values.copy()
    values[0] = 2.4 / DRAG_STEPS   # between two steps
    dragged = state.with_(expression=Expression(names, values))
    preview = engine.render(dragged, "preview")
    assert "blended planes" in preview.timings_ms and "planes" not in preview.timings_ms
    # the two steps' planes are exact and cached: the blend is their mix, 0.6 / 0.4
    low, high = (Expression(names, np.where(np.arange(len(names)) == 0, k / DRAG_STEPS, values))
                 for k in (2, 3))
    expected = torch.lerp(engine.planes_for(dragged.identity, low)[0],
                          engine.planes_for(dragged.identity, high)[0], 0.4)
    exact_planes = InferenceEngine(tiny_model, "cpu").planes_for(dragged.identity, dragged.expression)[0]
    assert (expected - exact_planes).abs().max() < 0.05 * exact_planes.abs().max()
    exact = InferenceEngine(tiny_model, "cpu").render(dragged, "preview")
    assert "planes" in exact.timings_ms
    assert (preview.frame.rgb - exact.frame.rgb).abs().max() < 0.02
    # the refined frame after release is exact, bit for bit
    refined = engine.render(dragged, "refined")
    assert "blended planes" not in refined.timings_ms
    assert torch.equal(refined.frame.rgb, InferenceEngine(tiny_model, "cpu").render(dragged, "refined").frame.rgb)
    # two names at once (a preset, a tracked face), a value on a step, a side render: exact
    two = values.copy()
    two[0], two[1] = 0.41, 0.2
    assert "planes" in engine.render(state.with_(expression=Expression(names, two)), "preview").timings_ms
    on_step = two.copy()
    on_step[1] = 3 / DRAG_STEPS
    assert "planes" in engine.render(state.with_(expression=Expression(names, on_step)), "preview").timings_ms
    aside = on_step.copy()
    aside[1] = 0.33
    assert "planes" in engine.render(state.with_(expression=Expression(names, aside)), "preview",
                                     keep=False).timings_ms
