"""Photo fitting on the suite's tiny random model: the loss goes down, cancel keeps the
best so far, pivotal tuning returns a weight change and leaves the model as it was, the
differentiable camera is core.camera.orbit's. Seconds, not minutes."""
import math

import numpy as np
import pytest
import torch

from core.camera import generate_rays, orbit
from core.expression import Expression
from core.fitting.align import AlignedFace
from core.fitting.fit import FitSettings, fit_photo, orbit_rays, project_points
from core.lighting import SphericalHarmonicsLighting
from core.state import OrbitPose


def _face_from_model(model, latent, size=32, yaw=8.0):
    """An 'aligned photo' the tiny model itself renders: a target the fit can reach."""
    from core.engine import InferenceEngine
    from core.identity import Identity
    from core.state import AvatarState, RenderSettings
    from core.tracking.face_model import FaceModel

    engine = InferenceEngine(model, "cpu")
    names = model.cfg.expression_names
    cam = OrbitPose(yaw=yaw)
    state = AvatarState(Identity(latent), Expression.neutral(names), SphericalHarmonicsLighting.preset("key-left"),
                        cam, RenderSettings(size, "naive", "rgb", (1.0, 1.0, 1.0)))
    frame = engine.render(state).frame
    template = FaceModel.load().template
    landmarks = cam.to_camera().project(template, size, size)
    for p in model.parameters():
        p.requires_grad_(True)
    return AlignedFace(frame.rgb.numpy().astype(np.float32), np.ones((size, size), np.float32), landmarks,
                       OrbitPose(yaw=yaw - 3.0), Expression.neutral(names), SphericalHarmonicsLighting.preset("studio"),
                       np.eye(2, 3), (0, 0, size, size))


@pytest.fixture
def target_face(tiny_model):
    torch.manual_seed(1)
    latent = tiny_model.prior_mean.numpy() + np.random.default_rng(3).normal(0, 1.0, tiny_model.cfg.latent_dim)
    return _face_from_model(tiny_model, latent)


def test_fitting_lowers_the_loss(tiny_model, target_face):
    before = {n: p.detach().clone() for n, p in tiny_model.named_parameters()}
    # the tiny model's 2D super-resolution is not worth tuning (its loss rises): the 3D layers only
    settings = FitSettings(steps=20, pti_steps=6, neural_resolution=16, lr_code=0.1, pick_start=False,
                           pti_superres=False)
    seen = []
    result = fit_photo(tiny_model, target_face, settings, progress=seen.append)
    assert len(result.losses) == 26 and result.steps_done == 20 and result.pti_steps_done == 6
    assert np.mean(result.losses[17:20]) < 0.9 * result.losses[0]
    assert result.weight_delta and any(float(d.abs().max()) > 0 for d in result.weight_delta.values())
    assert not any(n.startswith("superres.") for n in result.weight_delta)
    # pti_superres (on by default) adds the super-resolution to what tuning moves
    from core.fitting.fit import pti_parameter_names

    with_sr, without = set(pti_parameter_names(tiny_model, True)), set(pti_parameter_names(tiny_model))
    assert without < with_sr and all(n.startswith("superres.") for n in with_sr - without)
    assert FitSettings().pti_superres
    # the model is left as it was: the tuned change is only in the result
    for n, p in tiny_model.named_parameters():
        assert torch.equal(p, before[n]), n
    assert seen and seen[-1].step == 26 and seen[-1].preview.shape == (32, 32, 3)
    assert not result.cancelled


def test_cancel_keeps_the_best_so_far(tiny_model, target_face):
    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > 4

    result = fit_photo(tiny_model, target_face, FitSettings(steps=50, neural_resolution=16, pick_start=False),
                       cancel=cancel)
    assert result.cancelled and result.steps_done == 4
    assert result.best_loss == min(result.losses)
    assert result.latent.shape == (tiny_model.cfg.latent_dim,)


def test_differentiable_orbit_camera_matches_core_camera():
    cam = orbit(17.0, -6.0, roll=4.0, fov=20.0, look_at=(0.01, -0.02, 0.2))
    t = lambda v: torch.tensor(float(v))
    o, d, rot, origin = orbit_rays(t(math.radians(17)), t(math.radians(-6)), t(math.radians(4)),
                                   t(math.log(cam.focal)), t(0.01), t(-0.02), 12)
    o2, d2 = generate_rays(cam, 12, 12)
    assert torch.allclose(o, o2, atol=1e-5) and torch.allclose(d, d2, atol=1e-5)
    pts = np.array([[0.0, 0.1, 0.2], [0.1, -0.1, 0.1]])
    px = project_points(torch.tensor(pts, dtype=torch.float32), rot, origin, t(math.log(cam.focal)), 64)
    assert np.allclose(px.numpy(), cam.project(pts, 64, 64), atol=1e-3)
