"""Live recording: constant frame rate from irregular frames, and a file that plays even
when the recording process is killed; dlib's CNN detector in its helper process gives
what it gives inline."""
import subprocess
import sys
import textwrap

import numpy as np


def decoded_frames(path) -> int:
    import imageio_ffmpeg

    return imageio_ffmpeg.count_frames_and_secs(str(path))[0]


def test_gaps_are_filled_at_a_constant_rate(tmp_path):
    from core.tracking.recording import VideoRecorder

    rec = VideoRecorder(tmp_path / "rec.mp4", fps=10, queue_size=64)
    times = [0.0, 0.1, 0.2, 0.6, 0.7, 0.7]   # a 0.3 s pause, then a frame for a slot already written
    for i, t in enumerate(times):
        rec.add(np.full((48, 64, 3), 40 * i, np.uint8), t)
    assert rec.close() == 8 and rec.error is None   # slots 0..7
    assert decoded_frames(tmp_path / "rec.mp4") == 8


def test_a_killed_recording_still_plays(tmp_path):
    out = tmp_path / "killed.mp4"
    script = textwrap.dedent(f"""
        import os, signal, time, numpy as np
        from core.tracking.recording import VideoRecorder
        rec = VideoRecorder({str(out)!r}, fps=10, queue_size=64)
        for i in range(35):
            rec.add(np.full((48, 64, 3), 7 * i, np.uint8), i / 10)
        while rec._queue.qsize():
            time.sleep(0.05)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert p.returncode == -9
    for _ in range(50):   # ffmpeg finishes on its own once its input closes
        if out.exists() and out.stat().st_size > 1000:
            break
        import time

        time.sleep(0.1)
    assert decoded_frames(out) >= 30   # the fragments written before the kill play


def test_side_by_side_keeps_the_avatar_height():
    from core.tracking.recording import side_by_side

    out = side_by_side(np.zeros((480, 640, 3), np.uint8), np.ones((256, 256, 3), np.uint8))
    assert out.shape == (256, 342 + 256, 3)   # the source scaled to 256 high, an even width
    assert np.all(out[:, -256:] == 1) and np.all(out[:, :342] == 0)


def test_cnn_helper_process_matches_inline(render_head):
    from core.tracking.landmarks import DlibFaceLandmarks, to_gray

    gray = to_gray(render_head(20.0, 0.0, 0.0))
    inline, helper = DlibFaceLandmarks(cnn_process=False), DlibFaceLandmarks(cnn_process=True)
    try:
        a, b = inline.detect_cnn(gray), helper.detect_cnn(gray)
        assert a and len(a) == len(b)
        assert helper.cnn._proc is not None and helper.cnn._proc.poll() is None   # it ran in the helper
        for x, y in zip(a, b):
            assert x.iou(y) > 0.99
    finally:
        proc = helper.cnn._proc
        helper.close()
        assert proc is None or proc.poll() is not None
