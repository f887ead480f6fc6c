import numpy as np
import pytest
import torch

from core.avatar import Avatar, AvatarError, avatar_library_dir, library_path, list_avatars, load_avatar
from core.expression import Expression
from core.lighting import SphericalHarmonicsLighting
from core.state import OrbitPose


def _avatar(model, delta=True):
    names = model.cfg.expression_names
    rng = np.random.default_rng(0)
    d = {}
    if delta:
        name, p = next(iter(model.decoder.named_parameters()))
        d = {f"decoder.{name}": torch.randn(p.shape) * 0.01}
    return Avatar(latent=rng.normal(size=model.cfg.latent_dim), expression=Expression(names, rng.uniform(0, 1, len(names))),
                  lighting=SphericalHarmonicsLighting.preset("key-left"), camera=OrbitPose(yaw=12.5, pitch=-3.0),
                  weight_delta=d, name="test person", model={"file": "tiny.safetensors", "latent_dim": model.cfg.latent_dim},
                  provenance={"photo_sha256": "ab" * 32}, warnings=["2 faces found; using the largest"])


def test_round_trip(tiny_model, tmp_path):
    a = _avatar(tiny_model)
    path = a.save(tmp_path / "a.safetensors")
    b = load_avatar(path)
    assert np.allclose(a.latent, b.latent, atol=1e-6)
    assert np.allclose(a.expression.values, b.expression.values, atol=1e-6)
    assert b.expression.names == a.expression.names
    assert np.allclose(a.lighting.coeffs, b.lighting.coeffs, atol=1e-6)
    assert b.camera == a.camera and b.name == "test person" and b.warnings == a.warnings
    assert b.provenance["photo_sha256"] == "ab" * 32
    assert set(b.weight_delta) == set(a.weight_delta)
    for n in a.weight_delta:
        assert torch.allclose(a.weight_delta[n], b.weight_delta[n])
    # the file is safetensors with JSON metadata (no pickle)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        assert f.metadata()["format"] == "avatar-studio/avatar"


def test_apply_adds_the_delta(tiny_model, tmp_path):
    a = _avatar(tiny_model)
    name, d = next(iter(a.weight_delta.items()))
    before = dict(tiny_model.named_parameters())[name].detach().clone()
    a.apply_to(tiny_model)
    assert torch.allclose(dict(tiny_model.named_parameters())[name], before + d)
    state = a.state()
    assert not np.any(state.expression.values) and state.camera == OrbitPose()
    assert a.state(photo_expression=True).camera.yaw == 12.5


def test_mismatched_model_is_refused(tiny_model):
    a = _avatar(tiny_model)
    a.latent = np.zeros(a.latent.size + 1)
    with pytest.raises(AvatarError, match="identity"):
        a.apply_to(tiny_model)
    b = _avatar(tiny_model)
    b.weight_delta = {"decoder.nothing": torch.zeros(3)}
    with pytest.raises(AvatarError, match="does not match"):
        b.apply_to(tiny_model)


@pytest.mark.parametrize("content, message", [
    (None, "no such avatar file"),
    (b"not safetensors at all", "not a readable avatar file"),
    (b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": 1}", "not a readable avatar file"),
])
def test_bad_files_are_one_line(tmp_path, content, message):
    path = tmp_path / "bad.safetensors"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AvatarError, match=message) as e:
        load_avatar(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_foreign_safetensors_is_not_an_avatar(tiny_checkpoint):
    with pytest.raises(AvatarError, match="not an avatar file"):
        load_avatar(tiny_checkpoint)


def test_library_folder_follows_the_environment(tmp_path, monkeypatch, tiny_model):
    monkeypatch.setenv("AVATAR_STUDIO_AVATARS", str(tmp_path / "lib"))
    assert avatar_library_dir() == tmp_path / "lib"
    assert list_avatars() == []
    p = library_path("Jane Doe/1")
    assert p.parent == tmp_path / "lib" and "/" not in p.name[:-12]
    _avatar(tiny_model).save(p)
    assert list_avatars() == [p]
    assert library_path("Jane Doe/1") != p
