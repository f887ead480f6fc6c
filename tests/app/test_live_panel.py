"""The Live panel driven from a short video file (a synthetic head turning and opening its
jaw), its faults, and its one-slot hand-over that drops stale frames."""
import numpy as np
import pytest

FPS = 10.0


@pytest.fixture(scope="module")
def head_video(tmp_path_factory):
    """2 s at 10 fps: an engine head looking ahead, then turned 15 degrees with its jaw
    open (the tracker's model never saw this head)."""
    import imageio.v2 as imageio

    from core.expression import Expression
    from core.lighting import load_presets
    from core.state import OrbitPose
    from training.synth.head_mesh import HeadBuilder
    from training.synth.identity import HeadIdentity
    from training.synth.renderer import HeadRenderer, expression_transfer

    renderer = HeadRenderer(256)
    try:
        builder = HeadBuilder(HeadIdentity.sample(987_001))
        neutral = builder.build()
        transfer = renderer.visibility_transfer(neutral)
        light = load_presets()["studio"]
        shots = []
        for yaw, expr in ((0.0, None), (15.0, Expression().with_value("jawOpen", 0.8))):
            geo = neutral if expr is None else builder.build(expr)
            frame = renderer.render(geo, OrbitPose(yaw, 0.0).to_camera(), light, None,
                                    expression_transfer(transfer, geo))
            shots.append((np.clip(frame.rgb, 0, 1) * 255 + 0.5).astype(np.uint8))
    finally:
        renderer.release()
    path = tmp_path_factory.mktemp("live") / "head.mp4"
    with imageio.get_writer(str(path), format="FFMPEG", fps=FPS, codec="libx264", pixelformat="yuv420p",
                            quality=9, ffmpeg_log_level="quiet") as w:
        for i in range(20):
            w.append_data(shots[0] if i < 6 else shots[1])
    return path


def frame_count(path) -> int:
    import imageio_ffmpeg

    return imageio_ffmpeg.count_frames_and_secs(str(path))[0]


def test_live_video_drives_the_avatar_and_records(studio, qtbot, head_video, tmp_path):
    panel = studio.live_panel
    steps = studio.doc.undo_stack.count()
    panel.set_source("Video file", head_video)
    record = tmp_path / "live.mp4"
    panel.side_by_side.setChecked(True)
    assert panel.start_recording(record)
    # every source frame tracked (no real-time pacing, which on a loaded machine skips the
    # frames it is late for): the outcome does not depend on the machine's speed
    assert panel.start(realtime=False)
    qtbot.waitUntil(lambda: not panel.running and panel.recorder is None, timeout=60000)
    assert panel.frames_tracked >= 3, panel.messages
    assert not [m for m in panel.messages if "recorded" not in m], panel.messages
    cam = studio.doc.state.camera
    assert cam.yaw > 3.0, cam            # the head turned (orbit convention: +yaw), smoothed
    assert studio.doc.state.expression.with_names(panel.names)["jawOpen"] > 0.1
    assert studio.doc.undo_stack.count() == steps + 1   # the whole session is one undo step
    assert panel.frames_shown > 0, (panel.frames_shown, panel.messages)
    assert record.exists()
    assert frame_count(record) >= 2      # playable, the source beside the avatar
    import imageio.v2 as imageio

    first = imageio.get_reader(str(record)).get_data(0)
    assert first.shape[1] > first.shape[0]


def test_live_faults_are_one_message_each(studio, qtbot, tmp_path):
    panel = studio.live_panel
    panel.set_source("Video file", tmp_path / "missing.mp4")
    assert not panel.start()
    assert "no such file" in panel.messages[-1]

    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    panel.set_source("Video file", corrupt)
    n = len(panel.messages)
    assert panel.start()
    qtbot.waitUntil(lambda: not panel.running, timeout=20000)
    assert len(panel.messages) == n + 1 and "corrupt.mp4" in panel.messages[-1]

    csv = tmp_path / "capture.csv"
    csv.write_text("Timecode,Foo,Bar\n00:00:00:01,1,2\n")
    panel.set_source("ARKit CSV", csv)
    assert panel.start()
    qtbot.waitUntil(lambda: not panel.running, timeout=20000)
    assert "no ARKit blendshape" in panel.messages[-1]

    csv.write_text("Timecode,JawOpen,MouthSmileLeft,Mystery\n" + "".join(
        f"00:00:00:{i:02d},{i / 10:.2f},0.5,7\n" for i in range(6)))
    n = len(panel.messages)
    assert panel.start()
    qtbot.waitUntil(lambda: not panel.running, timeout=20000)
    notes = panel.messages[n:]
    assert any("Mystery" in m for m in notes) and any("no head rotation" in m for m in notes), notes
    assert studio.doc.state.expression.with_names(panel.names)["mouthSmileLeft"] == pytest.approx(0.5)

    import imageio.v2 as imageio

    dark = tmp_path / "dark"
    dark.mkdir()
    for i in range(3):
        imageio.imwrite(dark / f"{i}.png", np.full((120, 160, 3), 3, np.uint8))
    panel.set_source("Image folder", dark)
    n = len(panel.messages)
    assert panel.start()
    qtbot.waitUntil(lambda: not panel.running, timeout=20000)
    assert panel.messages[n:] == [f"{dark}: no face found in any of its frames"]
    assert "Stopped" in panel.status.text() or "ended" in panel.status.text()


def test_webcam_missing_is_one_message(studio, qtbot):
    panel = studio.live_panel
    panel.set_source("Webcam", 9)
    n = len(panel.messages)
    assert panel.start()
    qtbot.waitUntil(lambda: not panel.running, timeout=20000)
    assert len(panel.messages) == n + 1 and "webcam:9" in panel.messages[-1]


def test_the_hand_over_keeps_only_the_newest_frame():
    from app.panels.live import LiveFrame, LiveLink

    link = LiveLink()
    told = [link.put(LiveFrame(i, i / 30, True, "tracking")) for i in range(5)]
    assert told == [True, False, False, False, False]   # the GUI is told once, not five times
    assert link.take().index == 4 and link.take() is None
    assert link.put(LiveFrame(5, 0.2, True, "tracking"))   # taken: the next one is told again


def test_a_source_failing_mid_session_keeps_the_recording(studio, qtbot, head_video, tmp_path):
    """An image folder whose 13th image is corrupt: one message naming it, and the
    recording made until then is finished and plays."""
    import imageio.v2 as imageio

    folder = tmp_path / "frames"
    folder.mkdir()
    with imageio.get_reader(str(head_video)) as reader:
        frames = [reader.get_data(i) for i in range(12)]
    for i, f in enumerate(frames):
        imageio.imwrite(folder / f"{i:02d}.png", f)
    (folder / "12.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    panel = studio.live_panel
    panel.set_source("Image folder", folder)
    record = tmp_path / "kept.mp4"
    assert panel.start_recording(record)
    n = len(panel.messages)
    assert panel.start()
    qtbot.waitUntil(lambda: not panel.running and panel.recorder is None, timeout=60000)
    faults = [m for m in panel.messages[n:] if "recorded" not in m]
    assert len(faults) == 1 and "12.png" in faults[0], panel.messages[n:]
    assert frame_count(record) >= 1
