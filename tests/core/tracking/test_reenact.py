"""`avatar-studio reenact` end to end on a tiny random model: one output frame per source
frame, the track JSON, and one-line errors for bad sources."""
import json

import imageio.v2 as imageio
import numpy as np
import pytest

from cli import main


def count_frames(path):
    with imageio.get_reader(str(path), format="FFMPEG") as reader:
        return reader.count_frames()


def probe_frames(path) -> int:
    """Decoded video frames as ffprobe counts them (-count_frames); where ffprobe is not
    installed, as ffmpeg's own decoder counts them (imageio-ffmpeg's binary)."""
    import shutil
    import subprocess

    ffprobe = shutil.which("ffprobe")
    if ffprobe:
        out = subprocess.run([ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                              "stream=nb_read_frames", "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                             check=True).stdout
        return int(out.strip().split(",")[0])
    import imageio_ffmpeg

    return imageio_ffmpeg.count_frames_and_secs(str(path))[0]


def write_video(path, frames, fps=10):
    with imageio.get_writer(str(path), format="FFMPEG", fps=fps, codec="libx264", macro_block_size=16,
                            ffmpeg_log_level="quiet") as w:
        for f in frames:
            w.append_data(f)


def reenact(capsys, *args):
    code = main(["reenact", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def error_line(err: str) -> str:
    """The one error line (progress bars may precede it on stderr)."""
    lines = [line for line in err.replace("\r", "\n").splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def face_frames(render_head):
    return [render_head(yaw, 0.0, 0.0) for yaw in (-10.0, -5.0, 0.0, 5.0, 10.0)]


def test_a_video_gives_one_frame_per_source_frame(tiny_checkpoint, tmp_path, capsys, face_frames):
    frames = face_frames + [np.zeros_like(face_frames[0])] * 2   # the face leaves at the end
    src = tmp_path / "drive.mp4"
    write_video(src, frames)
    out, track = tmp_path / "avatar.mp4", tmp_path / "track.json"
    code, stdout, err = reenact(capsys, "--model", str(tiny_checkpoint), "--source", str(src), "--res", "32",
                                "--out", str(out), "--track-json", str(track))
    assert code == 0, err
    assert probe_frames(out) == probe_frames(src) == len(frames)
    records = json.loads(track.read_text())["frames"]
    assert [r["frame"] for r in records] == list(range(len(frames)))
    assert all(r["face"] for r in records[:5]) and not any(r["face"] for r in records[5:])
    # the track format of docs/tracking.md: per frame face, yaw, pitch, roll (degrees), expression
    for r in records:
        assert isinstance(r["face"], bool) and all(isinstance(r[k], float) for k in ("yaw", "pitch", "roll"))
        assert set(r["expression"]) == set(records[0]["expression"]) and records[0]["expression"]
        assert all(0.0 <= v <= 1.0 for v in r["expression"].values())
    assert records[0]["yaw"] < records[4]["yaw"]   # the head turns the way the source does
    assert "a face in 5" in stdout


def test_image_folder_side_by_side(tiny_checkpoint, tmp_path, capsys, face_frames):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(face_frames[:3]):
        imageio.imwrite(folder / f"{i:03d}.png", f)
    out = tmp_path / "sbs.mp4"
    code, _, err = reenact(capsys, "--model", str(tiny_checkpoint), "--source", str(folder), "--res", "32",
                           "--side-by-side", "--calibrate", "--out", str(out))
    assert code == 0, err
    with imageio.get_reader(str(out), format="FFMPEG") as reader:
        first = reader.get_data(0)
        assert reader.count_frames() == 3
    assert first.shape[1] == 2 * first.shape[0]   # the square source beside the square avatar


def test_an_arkit_capture_drives_without_tracking(tiny_checkpoint, tmp_path, capsys):
    csv_path = tmp_path / "take.csv"
    rows = ["Timecode,BlendShapeCount,JawOpen,MouthSmileLeft,MouthRollLower,Mystery,HeadYaw,HeadPitch,HeadRoll"]
    rows += [f"00:00:00:{i:02d}.000,61,{i / 10:.2f},0.3,0.2,7,{0.05 * i:.3f},0,0" for i in range(8)]
    csv_path.write_text("\n".join(rows) + "\n")
    out, track = tmp_path / "csv.mp4", tmp_path / "csv.json"
    code, stdout, err = reenact(capsys, "--model", str(tiny_checkpoint), "--source", str(csv_path), "--res", "32",
                                "--out", str(out), "--track-json", str(track))
    assert code == 0, err
    assert count_frames(out) == 8
    assert "ignored 1 unknown column(s): Mystery" in err
    records = json.loads(track.read_text())["frames"]
    assert records[7]["expression"]["jawOpen"] == pytest.approx(0.7)
    assert records[7]["yaw"] < records[0]["yaw"]


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.mp4", "no such file or folder"),
    (lambda d: (d / "bad.mp4").write_bytes(b"\x00garbage" * 100) and d / "bad.mp4", "not a readable video"),
    (lambda d: (d / "x.csv").write_text("a,b\n1,2\n") and d / "x.csv", "no ARKit blendshape or head rotation column"),
])
def test_bad_sources_are_one_line_errors(tiny_checkpoint, tmp_path, capsys, make, message):
    out = tmp_path / "never.mp4"
    code, _, err = reenact(capsys, "--model", str(tiny_checkpoint), "--source", str(make(tmp_path)), "--res", "32",
                           "--out", str(out))
    assert code == 2 and message in error_line(err)
    assert not out.exists()


def test_no_face_in_any_frame_is_an_error_and_writes_nothing(tiny_checkpoint, tmp_path, capsys):
    folder = tmp_path / "empty_room"
    folder.mkdir()
    for i in range(3):
        imageio.imwrite(folder / f"{i}.png", np.full((96, 128, 3), 90 + 40 * i, np.uint8))
    out = tmp_path / "never.mp4"
    code, _, err = reenact(capsys, "--model", str(tiny_checkpoint), "--source", str(folder), "--res", "32",
                           "--out", str(out))
    assert code == 2 and "no face found in any of its 3 frames" in error_line(err)
    assert not out.exists() and not list(tmp_path.glob(".never*"))
