"""Exports and the keyframe timeline from the studio (jobs run in the background)."""
import cv2
import imageio_ffmpeg
import trimesh

from core.export.mesh import MeshExportConfig
from core.state import OrbitPose
from studio_helpers import wait_refined


def finish(qtbot, job):
    qtbot.waitUntil(job.done.is_set, timeout=120000)
    assert job.error is None, job.error
    return job.result


def test_export_mesh_image_and_passes(studio, qtbot, tmp_path):
    finish(qtbot, studio.exporter.export_mesh(tmp_path / "head.ply", MeshExportConfig(resolution=96), show_dialog=False))
    assert trimesh.load(tmp_path / "head.ply").is_watertight
    finish(qtbot, studio.exporter.export_image(tmp_path / "head.png", 128, transparent=True, show_dialog=False))
    img = cv2.imread(str(tmp_path / "head.png"), cv2.IMREAD_UNCHANGED)
    assert img.shape == (128, 128, 4) and img[0, 0, 3] == 0 and img[64, 64, 3] == 255
    finish(qtbot, studio.exporter.export_image(tmp_path / "passes", 64, all_passes=True, show_dialog=False))
    assert len(list((tmp_path / "passes").glob("*.png"))) == 6


def test_timeline_scrub_play_and_render(studio, qtbot, tmp_path):
    tl = studio.timeline
    studio.doc.update("yaw", camera=OrbitPose(yaw=-30))
    tl.time.setValue(0.0)
    tl.add_current()
    studio.doc.update("yaw", camera=OrbitPose(yaw=30))
    tl.add_current()  # at 1 s
    assert len(tl.keys) == 2 and tl.duration == 1.0
    tl.scrub.setValue(tl.STEPS // 2)
    assert abs(studio.doc.state.camera.yaw) < 1e-6  # halfway between -30 and 30
    wait_refined(qtbot, studio)
    out = tmp_path / "timeline.mp4"
    result = finish(qtbot, studio.exporter.export_video(out, "timeline", frames=6, fps=6, resolution=64,
                                                         show_dialog=False))
    assert "6 frames" in result
    assert imageio_ffmpeg.count_frames_and_secs(str(out))[0] == 6


def test_export_job_can_be_cancelled(studio, qtbot, tmp_path):
    job = studio.exporter.export_video(tmp_path / "long.mp4", "orbit", frames=400, resolution=64, show_dialog=False)
    job.cancel()
    qtbot.waitUntil(job.done.is_set, timeout=60000)
    assert job.error == "cancelled"
    assert not (tmp_path / "long.mp4").exists() and not list(tmp_path.glob(".long*"))
