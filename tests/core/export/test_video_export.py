import json
import re
import subprocess

import imageio.v2 as imageio
import imageio_ffmpeg
import pytest

from cli import main
from core.engine import InferenceEngine
from core.export.video import load_timeline, timeline_state
from core.state import OrbitPose


def probe(path):
    """Codec, pixel format, size, fps and frame count, as ffmpeg reports them."""
    p = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    stream = next(line for line in p.stderr.splitlines() if "Video:" in line)
    m = re.search(r"Video: (\w+).*?, (\w+)(?:\(.*?\))?, (\d+)x(\d+).*?, ([\d.]+) fps", stream)
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    return {"codec": m.group(1), "pix_fmt": m.group(2), "size": (int(m.group(3)), int(m.group(4))),
            "fps": float(m.group(5)), "frames": frames}


@pytest.mark.parametrize("path", ["orbit", "light", "expression", "identity"])
def test_mp4_paths_are_h264_yuv420p_with_the_asked_frames(tmp_path, path):
    out = tmp_path / f"{path}.mp4"
    assert main(["export-video", "--path", path, "--frames", "12", "--fps", "12", "--res", "64",
                 "--quality", "preview", "--out", str(out)]) == 0
    info = probe(out)
    assert info == {"codec": "h264", "pix_fmt": "yuv420p", "size": (64, 64), "fps": 12.0, "frames": 12}


def test_side_by_side_passes_and_gif(tmp_path):
    out = tmp_path / "passes.mp4"
    assert main(["export-video", "--frames", "6", "--fps", "6", "--res", "64", "--quality", "preview",
                 "--passes", "rgb,normal,albedo", "--out", str(out)]) == 0
    assert probe(out)["size"] == (192, 64)
    gif = tmp_path / "orbit.gif"
    assert main(["export-video", "--frames", "5", "--res", "64", "--quality", "preview", "--out", str(gif)]) == 0
    assert len(imageio.mimread(gif)) == 5


def test_timeline_passes_through_keyframes_and_renders(tmp_path):
    engine = InferenceEngine.from_checkpoint(__import__("core.checkpoint", fromlist=["x"]).DEFAULT_MODEL, "cpu")
    a = engine.default_state()
    keys = [(0.0, a.with_(camera=OrbitPose(yaw=-30))), (1.0, a.with_(camera=OrbitPose(yaw=10, pitch=10))),
            (2.5, a.with_(camera=OrbitPose(yaw=30)))]
    path = tmp_path / "timeline.json"
    path.write_text(json.dumps({"keyframes": [{"time": t, "state": s.to_json()} for t, s in keys]}))
    loaded = load_timeline(path)
    for t, s in keys:
        assert timeline_state(loaded, t).camera.yaw == pytest.approx(s.camera.yaw)
    mid = timeline_state(loaded, 0.5).camera.yaw
    assert -30 < mid < 10
    out = tmp_path / "timeline.mp4"
    assert main(["export-video", "--path", str(path), "--frames", "8", "--res", "64", "--quality", "preview",
                 "--out", str(out)]) == 0
    assert probe(out)["frames"] == 8


def test_bad_inputs(tmp_path, capsys):
    bad = tmp_path / "t.json"
    bad.write_text(json.dumps({"keyframes": [{"time": 0, "state": {}}]}))
    assert main(["export-video", "--path", str(bad), "--out", str(tmp_path / "x.mp4")]) == 2
    assert main(["export-video", "--path", "spin", "--out", str(tmp_path / "x.mp4")]) == 2
    assert main(["export-video", "--out", str(tmp_path / "x.avi")]) == 2
    assert main(["export-video", "--res", "63", "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*"))
