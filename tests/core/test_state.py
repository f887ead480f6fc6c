import json

import numpy as np
import pytest

from core.expression import Expression
from core.identity import Identity
from core.lighting import SphericalHarmonicsLighting
from core.state import AvatarState, OrbitPose, RenderSettings


def make_state(**kw):
    base = dict(
        identity=Identity(np.linspace(-1, 1, 8), seed=3, truncation=0.7),
        expression=Expression.from_dict({"jawOpen": 0.4, "eyeBlinkLeft": 1.0}),
        lighting=SphericalHarmonicsLighting.preset("key-left"),
        camera=OrbitPose(yaw=30, pitch=-10, fov=20),
        render=RenderSettings(128, "preview", "normal", (0.1, 0.2, 0.3)),
    )
    base.update(kw)
    return AvatarState(**base)


def test_json_round_trip_is_exact(tmp_path):
    s = make_state()
    assert AvatarState.from_json(json.loads(json.dumps(s.to_json()))) == s
    path = tmp_path / "a.json"
    s.save(path)
    assert AvatarState.load(path) == s
    assert not list(tmp_path.glob("*.tmp"))  # atomic write leaves no temp files


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.pop("identity"), "identity: missing"),
    (lambda d: d["camera"].update(pitch=120), "camera: camera pitch"),
    (lambda d: d["lighting"].update(sh=[1, 2]), "lighting:"),
    (lambda d: d["expression"]["values"].update(jawOpen=3), "expression:"),
    (lambda d: d["render"].update({"pass": "bogus"}), "render:"),
    (lambda d: d.update(format="something-else"), "not an avatar state"),
])
def test_invalid_states_name_the_problem(mutate, message):
    d = make_state().to_json()
    mutate(d)
    with pytest.raises(ValueError, match=message):
        AvatarState.from_json(d)


def test_load_reports_file_and_problem(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON"):
        AvatarState.load(bad)
    with pytest.raises(ValueError, match="cannot read"):
        AvatarState.load(tmp_path / "missing.json")


def test_interpolation_endpoints_and_middle():
    a = make_state()
    b = make_state(identity=Identity(np.zeros(8)), expression=Expression.from_dict({"jawOpen": 0.0}),
                   lighting=SphericalHarmonicsLighting.preset("key-right"), camera=OrbitPose(yaw=-170, pitch=10),
                   render=RenderSettings(256))
    assert a.interpolate(b, 0.0) == a and a.interpolate(b, 1.0) == b
    mid = a.interpolate(b, 0.5)
    assert mid.expression["jawOpen"] == pytest.approx(0.2)
    # yaw goes the short way round: 30 -> -170 (= 190) passes through 110, not -70
    assert mid.camera.yaw == pytest.approx(110.0)
    # the key light swings through the front at full strength instead of fading out
    assert mid.lighting.dominant_direction()[2] > 0.9
    assert mid.lighting.band_energy()[1].sum() > 0.9 * a.lighting.band_energy()[1].sum()
    assert mid.render == b.render
    with pytest.raises(ValueError):
        a.interpolate(b, 1.5)
