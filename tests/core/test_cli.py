import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from cli import main
from core.state import AvatarState, RenderSettings

ROOT = Path(__file__).resolve().parents[2]


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_render_image_and_passes(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "head.png"
    passes = tmp_path / "passes"
    code, stdout, err = run(["render", "--model", str(tiny_checkpoint), "--seed", "4", "--yaw", "20", "--res", "48",
                             "--light", "key-left", "--expr", "jawOpen=0.7", "--out", str(out), "--passes", str(passes)],
                            capsys)
    assert code == 0, err
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert img.shape == (48, 48, 3) and img.dtype == np.uint8
    names = sorted(p.name for p in passes.iterdir())
    assert names == ["albedo.png", "alpha.png", "depth.png", "normal.png", "rgb.png", "shading.png"]
    depth = cv2.imread(str(passes / "depth.png"), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16 and depth.shape == (48, 48)
    alpha = cv2.imread(str(passes / "alpha.png"), cv2.IMREAD_GRAYSCALE)
    inside = alpha > 128
    # 16-bit depth is ray distance x 10000: a surface between the near and far planes
    assert inside.any() and 22500 <= depth[inside].min() and depth[inside].max() <= 33000
    np.testing.assert_array_equal(cv2.imread(str(passes / "rgb.png")), img)


def test_render_from_state_file_matches_flags(tiny_checkpoint, tmp_path, capsys):
    from core.engine import InferenceEngine

    engine = InferenceEngine.from_checkpoint(tiny_checkpoint, "cpu")
    from core.state import OrbitPose, RenderSettings
    state = engine.default_state(0).with_(identity=engine.sample_identity(4), camera=OrbitPose(yaw=20),
                                          render=RenderSettings(48))
    state.save(tmp_path / "state.json")
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert run(["render", "--model", str(tiny_checkpoint), "--state", str(tmp_path / "state.json"), "--out", str(a)], capsys)[0] == 0
    assert run(["render", "--model", str(tiny_checkpoint), "--seed", "4", "--yaw", "20", "--res", "48", "--out", str(b)], capsys)[0] == 0
    np.testing.assert_array_equal(cv2.imread(str(a)), cv2.imread(str(b)))


def test_lighting_json_and_environment_map(tiny_checkpoint, tmp_path, capsys):
    light = tmp_path / "light.json"
    light.write_text(json.dumps({"sh": [0.8, 0.1, 0.3, 0.0, 0, 0, 0, 0, 0]}))
    env = tmp_path / "env.png"
    cv2.imwrite(str(env), np.full((16, 32, 3), 200, np.uint8))
    from core.engine import InferenceEngine
    from core.lighting import SphericalHarmonicsLighting
    from core.passes import pass_image

    def cli_render(*light):
        out = tmp_path / "x.png"
        assert run(["render", "--model", str(tiny_checkpoint), "--res", "32", "--seed", "2", *light,
                    "--out", str(out)], capsys)[0] == 0
        return cv2.imread(str(out))[..., ::-1]

    # each light is the one the engine renders with that lighting (not the default, silently)
    engine = InferenceEngine.from_checkpoint(tiny_checkpoint, "cpu")
    state = engine.default_state().with_(identity=engine.sample_identity(2, 0.7), render=RenderSettings(32))
    uniform = np.ones((16, 32, 3), np.float32) * ((200 / 255 + 0.055) / 1.055) ** 2.4  # sRGB 200, linear
    images = {}
    for name, spec, lighting in (
            ("json", light, SphericalHarmonicsLighting.from_json({"sh": [0.8, 0.1, 0.3, 0.0, 0, 0, 0, 0, 0]})),
            ("envmap", env, SphericalHarmonicsLighting.from_environment_map(uniform))):
        images[name] = cli_render("--light", str(spec))
        s = state.with_(lighting=lighting)
        expected = pass_image(engine.render(s).frame, "rgb", s.render.background)
        assert np.abs(images[name].astype(int) - expected.astype(int)).max() <= 1, name
    default = cli_render()
    assert np.abs(images["json"].astype(int) - default.astype(int)).max() > 10
    assert np.abs(images["envmap"].astype(int) - default.astype(int)).max() > 10
    assert np.abs(images["json"].astype(int) - images["envmap"].astype(int)).max() > 10


@pytest.mark.parametrize("args,needle", [
    (["--expr", "smile=1"], "no expression 'smile'"),
    (["--expr", "jawOpen"], "expected NAME=VALUE"),
    (["--light", "disco"], "unknown lighting preset"),
    (["--light", "{missing}.json"], "cannot read"),
    (["--state", "{missing}.json"], "cannot read"),
    (["--pitch", "95"], "pitch"),
    (["--res", "4"], "resolution"),
])
def test_bad_input_is_one_line_and_nonzero(tiny_checkpoint, tmp_path, capsys, args, needle):
    args = [a.replace("{missing}", str(tmp_path / "missing")) for a in args]
    code, _, err = run(["render", "--model", str(tiny_checkpoint), "--out", str(tmp_path / "o.png")] + args, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "o.png").exists()


def test_bad_checkpoint_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"junk")
    code, _, err = run(["render", "--model", str(bad), "--out", str(tmp_path / "o.png")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "bad.safetensors" in err


def test_console_entry_point_runs_as_a_process(tiny_checkpoint, tmp_path):
    """The real process: exit code and a single stderr line, no traceback."""
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"junk")
    p = subprocess.run([sys.executable, "-m", "cli", "render", "--model", str(bad), "--out", str(tmp_path / "o.png")],
                       cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_bench_reports_every_figure(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "bench.json"
    code, stdout, err = run(["bench", "--model", str(tiny_checkpoint), "--resolutions", "16", "--repeats", "1",
                             "--json", str(out)], capsys)
    assert code == 0, err
    result = json.loads(out.read_text())
    row = result["paths"][0]
    for key in ("preview_fps", "refined_fps", "naive_fps", "preview_psnr_vs_reference", "preview_speedup_vs_naive"):
        assert row[key] > 0
    assert result["relight_256_per_s"] > 0 and "device" in result
    assert "lighting-only update" in stdout


def test_transparent_background(tmp_path, capsys):
    out = tmp_path / "t.png"  # the bundled model: a head with empty space around it
    assert run(["render", "--res", "32", "--transparent", "--out", str(out)], capsys)[0] == 0
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    alpha = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[..., 3]
    assert img.shape == (32, 32, 4) and alpha.min() < 10 and alpha.max() > 200
