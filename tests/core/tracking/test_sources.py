import math

import numpy as np
import pytest

from core.tracking.pose import HeadPose, head_rotation_to_orbit
from core.tracking.sources import (
    ArkitCsvSource, ImageFolderSource, SourceError, VideoFileSource, open_source, parse_arkit_csv,
)

LLF_HEADER = ("Timecode,BlendShapeCount,EyeBlinkLeft,EyeBlinkRight,JawOpen,MouthSmileLeft,MouthRollLower,"
              "HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll")


def write(tmp_path, text, name="take.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_live_link_face_csv_maps_names_angles_and_times(tmp_path):
    rows = [LLF_HEADER,
            "00:00:01:00.000,61,0.1,0.2,0.5,0.7,0.3,0.0,0.0,0.0,0,0,0,0,0,0",
            "00:00:01:30.000,61,0.0,0.0,1.2,0.0,0.0,0.3490658,0.0,0.0,0,0,0,0,0,0",
            "00:00:02:00.500,61,0.0,0.0,0.0,0.0,0.0,0.0,-0.2,0.1,0,0,0,0,0,0"]
    cap = parse_arkit_csv(write(tmp_path, "\n".join(rows) + "\n"))
    assert set(cap.weights) == {"eyeBlinkLeft", "eyeBlinkRight", "jawOpen", "mouthSmileLeft", "mouthRollLower"}
    np.testing.assert_allclose(cap.weights["eyeBlinkRight"], [0.2, 0.0, 0.0])
    assert cap.weights["jawOpen"][1] == 1.0            # clipped to ARKit's [0, 1]
    np.testing.assert_allclose(cap.times, [0.0, 0.5, 1.0 + 0.5 / 60])  # frames counted at 60 a second
    assert cap.ignored_columns == ()                   # eye angles are known columns, just unused
    frames = list(ArkitCsvSource(tmp_path / "take.csv"))
    assert len(frames) == 3 and all(f.image is None for f in frames)
    # a head turned 20 degrees to its own left is seen as from an orbit camera to its right
    assert frames[1].pose.yaw < -15 and abs(frames[1].pose.pitch) < 1e-6
    assert frames[1].pose == head_rotation_to_orbit(math.degrees(0.3490658), 0, 0)
    assert frames[2].pose.pitch < 0  # the head tipped back (chin up): seen from below
    assert frames[0].weights["mouthSmileLeft"] == pytest.approx(0.7)


def test_unknown_columns_are_listed_and_lower_case_names_accepted(tmp_path):
    cap = parse_arkit_csv(write(tmp_path, "frame,jawOpen,mystery,headYaw\n0,0.4,9,0\n1,0.6,9,0.1\n"))
    assert cap.ignored_columns == ("frame", "mystery")
    np.testing.assert_allclose(cap.weights["jawOpen"], [0.4, 0.6])
    np.testing.assert_allclose(cap.times, [0.0, 1 / 60])  # no timecode: evenly spaced
    assert cap.head.shape == (2, 3) and cap.head[1, 0] == pytest.approx(0.1)


@pytest.mark.parametrize("text, message", [
    ("time,foo,bar\n0,1,2\n", "no ARKit blendshape or head rotation column"),
    ("jawOpen,eyeBlinkLeft\n", "header but no frames"),
    ("jawOpen,eyeBlinkLeft\n0.1\n", "line 2 has 1 of the header's 2 columns"),
    ("jawOpen,eyeBlinkLeft\n0.1,abc\n", "line 2, column eyeBlinkLeft: 'abc' is not a number"),
    ("", "empty CSV file"),
])
def test_bad_csv_files_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(SourceError) as e:
        parse_arkit_csv(write(tmp_path, text))
    assert message in str(e.value) and "\n" not in str(e.value) and "take.csv" in str(e.value)


def test_open_source_picks_the_kind_and_names_missing_inputs(tmp_path):
    with pytest.raises(SourceError, match="no such file or folder"):
        open_source(str(tmp_path / "missing.mp4"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no images"):
        open_source(str(empty))
    bad = write(tmp_path, "not a video at all", "clip.mp4")
    with pytest.raises(SourceError, match="not a readable video"):
        open_source(str(bad))
    csv_path = write(tmp_path, "jawOpen\n0.5\n")
    assert isinstance(open_source(str(csv_path)), ArkitCsvSource)


def test_image_folder_and_video_give_every_frame(tmp_path):
    import imageio.v2 as imageio

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in (1, 2, 10):  # natural order: 1, 2, 10 (not 1, 10, 2)
        imageio.imwrite(folder / f"f{i}.png", np.full((32, 48, 3), i * 20, np.uint8))
    frames = list(ImageFolderSource(folder, fps=10))
    assert [int(f.image[0, 0, 0]) for f in frames] == [20, 40, 200]
    assert [f.time for f in frames] == pytest.approx([0.0, 0.1, 0.2])
    video = tmp_path / "clip.mp4"
    with imageio.get_writer(video, format="FFMPEG", fps=12, codec="libx264", macro_block_size=16,
                            ffmpeg_log_level="quiet") as w:
        for i in range(7):
            w.append_data(np.full((48, 64, 3), 30 * i, np.uint8))
    with VideoFileSource(video) as src:
        got = list(src)
        assert src.frame_count == 7 and len(got) == 7 and src.fps == pytest.approx(12)
        assert got[3].image.shape == (48, 64, 3) and src.stopped_early is None
