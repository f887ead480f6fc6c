"""Expression regions: each name's learnable effect confined to where the synthetic engine
moves the head (core/model/regions.py, training/expression_regions.py)."""
import json

import numpy as np
import pytest
import torch

from cli import main
from core.expression import DEFAULT_EXPRESSION_NAMES
from core.model.config import ModelConfig
from core.model.head import NeuralHeadModel

NAMES = list(DEFAULT_EXPRESSION_NAMES)


@pytest.fixture
def tiny(tiny_config):
    return dict(tiny_config.to_json(), superres_layers=2, superres_expression=True, expression_blend=True)


def _trained_looking(model):
    """Every expression path at non-zero weights (they start at zero)."""
    with torch.no_grad():
        for p in list(model.superres.parameters()) + list(model.expression_blend.out.parameters()):
            p.normal_(0.0, 0.3)
    return model


def _one_block(names, g, name, z, y, x):
    volume = np.zeros((names, g, g, g), np.float32)
    volume[name, z, y, x] = 1.0
    return volume


def test_regions_all_ones_change_nothing(tiny):
    """A model whose regions are everywhere renders exactly as the same weights without them."""
    torch.manual_seed(0)
    plain = _trained_looking(NeuralHeadModel(ModelConfig(**tiny)).eval())
    with_regions = NeuralHeadModel(ModelConfig(**dict(tiny, expression_regions=8))).eval()
    with_regions.load_state_dict({**with_regions.state_dict(), **plain.state_dict()})
    latent = torch.randn(1, plain.cfg.latent_dim)
    ex = torch.zeros(1, len(NAMES))
    ex[0, NAMES.index("mouthSmileLeft")] = 0.8
    ex[0, NAMES.index("eyeBlinkRight")] = 0.5
    with torch.no_grad():
        torch.testing.assert_close(with_regions.generate_planes(latent, ex), plain.generate_planes(latent, ex))
        low, depth = torch.rand(1, plain.gbuffer_channels, 6, 6), torch.rand(6, 6)
        low[0, -1] = 1.0
        rays = (torch.zeros(36, 3), torch.full((36, 3), 0.05))  # every surface point inside the box
        torch.testing.assert_close(with_regions.upsample_gbuffer(low, depth, ex, rays).albedo,
                                   plain.upsample_gbuffer(low, depth, ex).albedo)
        with pytest.raises(ValueError, match="pass the rays"):
            with_regions.upsample_gbuffer(low, depth, ex)


def test_a_name_changes_the_planes_only_in_its_regions_shadow(tiny):
    """Through either path: its delta planes and the generator's expression layers."""
    torch.manual_seed(0)
    model = _trained_looking(NeuralHeadModel(ModelConfig(**dict(tiny, expression_regions=8))).eval())
    smile = NAMES.index("mouthSmileLeft")
    # the smile's region: x in [0, 0.2], y in [-0.2, 0], z in [0.1, 0.3] (box 0.4, 8 voxels of 0.1)
    model.regions.set_volume(_one_block(len(NAMES), 8, smile, slice(5, 7), slice(2, 4), slice(4, 6)))
    latent = torch.randn(1, model.cfg.latent_dim)
    ex = torch.zeros(1, len(NAMES))
    ex[0, smile] = 1.0
    with torch.no_grad():
        # both expression paths: the name's delta planes and the generator's expression layers
        change = (model.generate_planes(latent, ex) - model.generate_planes(latent, torch.zeros_like(ex))).abs()
    change = change[0].amax(1)  # (3 planes, R, R), R = 16 texels over [-0.5, 0.5]
    texel = (torch.arange(16) + 0.5) / 16 - 0.5
    # bilinear from the voxel centres: the shadow fades to 0 at the next voxel's centre
    inside_x = (texel > -0.05) & (texel < 0.25)
    inside_y = (texel > -0.25) & (texel < 0.05)
    inside_z = (texel > 0.05) & (texel < 0.35)
    masks = (inside_y[:, None] & inside_x[None], inside_z[:, None] & inside_x[None], inside_y[:, None] & inside_z[None])
    for plane, inside in zip(change, masks):
        assert float(plane[~inside].max()) == 0.0
        assert float(plane[inside].max()) > 1e-3
    # another name, with an empty region, changes nothing at all
    ex = torch.zeros(1, len(NAMES))
    ex[0, NAMES.index("jawOpen")] = 1.0
    with torch.no_grad():
        torch.testing.assert_close(model.generate_planes(latent, ex),
                                   model.generate_planes(latent, torch.zeros_like(ex)), atol=0.0, rtol=0.0)


def test_a_name_modulates_the_superresolution_only_where_its_region_is_seen(tiny):
    torch.manual_seed(0)
    model = _trained_looking(NeuralHeadModel(ModelConfig(**dict(tiny, expression_regions=8))).eval())
    blink = NAMES.index("eyeBlinkLeft")
    model.regions.set_volume(_one_block(len(NAMES), 8, blink, slice(0, 8), slice(0, 8), slice(4, 8)))  # x > 0
    h = w = 8
    # rays straight down -z from z = 1; the surface at z = 0.1, x from -0.35 to 0.35 across the image
    xs = torch.linspace(-0.35, 0.35, w)
    origins = torch.stack([xs.repeat(h), torch.zeros(h * w), torch.ones(h * w)], -1)
    dirs = torch.tensor([0.0, 0.0, -1.0]).expand(h * w, 3)
    low = torch.rand(1, model.gbuffer_channels, h, w)
    low[0, -1] = 1.0
    depth = torch.full((h, w), 0.9)
    ex = torch.zeros(1, len(NAMES))
    with torch.no_grad():
        neutral = model.upsample_gbuffer(low, depth, ex, (origins, dirs)).albedo
        ex[0, blink] = 1.0
        blinked = model.upsample_gbuffer(low, depth, ex, (origins, dirs)).albedo
    change = (blinked - neutral).abs().amax((0, 2))  # per output column (2x super-resolution)
    # the network's 3x3 layers spread a change a few pixels; the far left stays untouched
    assert float(change[:4].max()) == 0.0
    assert float(change[-6:].min()) > 1e-4


def test_engine_regions_hold_each_name_where_the_engine_moves_it():
    from core.model.regions import ExpressionRegions
    from training.expression_regions import RegionConfig, engine_expression_regions
    from training.synth.head_mesh import HeadBuilder
    from training.synth.identity import HeadIdentity

    cfg = RegionConfig()  # what the trainer uses: 40 voxels of 2 cm
    identity = HeadIdentity.sample(5)
    volume = engine_expression_regions(DEFAULT_EXPRESSION_NAMES, [identity], cfg)
    assert volume.shape == (len(NAMES), 40, 40, 40) and volume.min() >= 0 and volume.max() == 1.0
    regions = ExpressionRegions(len(NAMES), 40, 0.4)
    regions.set_volume(volume)
    layout = HeadBuilder(identity).layout
    # the eyes sit at +-s_eye; the left eye (the head's own left) at +x in this engine
    face_z = 0.14
    left_eye = torch.tensor([[0.065, layout.y_eye, face_z]])
    right_eye = torch.tensor([[-0.065, layout.y_eye, face_z]])
    chin = torch.tensor([[0.0, -0.2, 0.12]])
    at = {name: lambda p, i=NAMES.index(name): float(regions.at_points(p)[i, 0]) for name in NAMES}
    assert at["eyeBlinkLeft"](left_eye) > 0.5 and at["eyeBlinkLeft"](right_eye) == 0.0
    assert at["eyeWideRight"](right_eye) > 0.5 and at["eyeWideRight"](left_eye) == 0.0
    assert at["jawOpen"](chin) > 0.5 and at["eyeBlinkLeft"](chin) == 0.0
    # small regions stay small: a blink's is a few percent of a jaw's
    assert volume[NAMES.index("eyeBlinkLeft")].sum() < 0.2 * volume[NAMES.index("jawOpen")].sum()


def test_trainer_fills_a_new_models_regions_from_a_synth_dataset(tmp_path, tiny, monkeypatch):
    from training.trainer import TrainConfig, Trainer

    data = tmp_path / "data"
    assert main(["synth", "--identities", "1", "--views-per-identity", "2", "--res", "32", "--passes",
                 "--background", "plain", "--seed", "3", "--out", str(data)]) == 0
    cfg = TrainConfig(steps=1, batch=1, neural_resolution=4, sampler="band", band_samples=8, checkpoint_every=100,
                      log_every=0, sample_every=0, model=dict(tiny, expression_regions=10))
    t = Trainer(cfg, data, tmp_path / "run")
    volume = t.model.regions.volume
    assert 0.0 < float(volume.mean()) < 0.2 and float(volume.max()) == 1.0
    t.run(progress=False)
    from core.checkpoint import load_checkpoint

    saved, _ = load_checkpoint(tmp_path / "run" / "model.safetensors")
    torch.testing.assert_close(saved.regions.volume, volume)
    # a resumed run takes them from its checkpoint instead of making them again
    monkeypatch.setattr("training.expression_regions.engine_expression_regions",
                        lambda *a, **k: pytest.fail("regions made again on resume"))
    resumed = Trainer(cfg, data, tmp_path / "run", resume=True)
    torch.testing.assert_close(resumed.model.regions.volume, volume)
    monkeypatch.undo()
    # a dataset without the engine's head parameters (a person's own data) cannot make them
    meta = json.loads((data / "dataset.json").read_text())
    del meta["identity_parameters"]
    (data / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="expression_regions needs"):
        Trainer(cfg, data, tmp_path / "run2")


def test_engine_renders_a_model_with_regions_and_a_name_outside_its_region_changes_nothing(tiny):
    """Through the whole renderer (planes, occupancy grid, march, super-resolution,
    shading), exact and drag-blended: a name whose region the head does not reach leaves
    the frame bit for bit as it was; a name whose region holds the head changes it."""
    from core.engine import DRAG_STEPS, InferenceEngine
    from core.expression import Expression
    from core.state import RenderSettings

    torch.manual_seed(0)
    model = _trained_looking(NeuralHeadModel(ModelConfig(**dict(tiny, expression_regions=8))).eval())
    volume = np.zeros((len(NAMES), 8, 8, 8), np.float32)
    volume[NAMES.index("mouthSmileLeft")] = 1.0   # everywhere
    model.regions.set_volume(volume)               # jawOpen: nowhere
    engine = InferenceEngine(model, "cpu")
    for quality in ("refined", "preview"):
        state = engine.default_state(1).with_(render=RenderSettings(32, quality))
        neutral = engine.render(state).frame.rgb
        for name, value, changes in (("jawOpen", 1.0, False), ("jawOpen", 2.5 / DRAG_STEPS, False),
                                     ("mouthSmileLeft", 1.0, True)):
            values = np.zeros(len(NAMES))
            values[NAMES.index(name)] = value
            rgb = engine.render(state.with_(expression=Expression(NAMES, values))).frame.rgb
            if changes:
                assert float((rgb - neutral).abs().max()) > 1e-3
            else:
                torch.testing.assert_close(rgb, neutral, atol=0.0, rtol=0.0)


def test_plane_masks_are_made_again_when_the_regions_change():
    """They are kept between frames; a new volume (set, or loaded into the buffer) remakes them."""
    from core.model.regions import ExpressionRegions

    regions = ExpressionRegions(2, 4, 0.4)
    first = regions.plane_masks(8)
    assert regions.plane_masks(8) is first and float(first.min()) == 1.0
    volume = np.zeros((2, 4, 4, 4), np.float32)
    volume[0, 1:3, 1:3, 1:3] = 1.0
    regions.set_volume(volume)
    assert float(regions.plane_masks(8)[1].max()) == 0.0
    regions.load_state_dict({"volume": torch.ones(2, 4, 4, 4)})
    assert float(regions.plane_masks(8)[1].min()) == 1.0
