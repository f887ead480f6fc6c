"""Face tracking and live reenactment speed on this machine.

    python -m bench.tracking_bench [--json docs/bench-tracking.json] [--seconds 10]
    (the studio part needs Qt: QT_QPA_PLATFORM=offscreen, or a display / xvfb-run -a)

1. Tracking alone: the tracker on a driving sequence of a synthetic head (the engine's,
   with known motion), ms per frame (median, 90th percentile) by stage, at the engine's
   256 px and in a 640x480 webcam-sized frame.
2. One thread, one frame after the other: capture (decode) -> track -> render (preview)
   -> the image the view shows; frames/s and the breakdown (what a naive loop gets).
3. The studio's Live panel (the real window, offscreen or on a display) playing a video
   file of that sequence in real time, looped: tracking on its worker, the render on the
   studio's render worker, the view on the GUI thread. Frames/s of avatar frames shown,
   frames tracked/s, stale source frames skipped, the per-stage times.
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from bench.cpu import thread_cpu_seconds

FPS = 30.0


def driving_frames(frames: int, seed: int = 901_234, resolution: int = 256):
    from training.synth.renderer import HeadRenderer
    from training.tracking_eval import render_sequence

    renderer = HeadRenderer(resolution)
    try:
        images, poses, weights = render_sequence(seed, frames, resolution, renderer, np.random.default_rng([seed, 3]))
    finally:
        renderer.release()
    return images[30:] if frames > 60 else images   # past the still opening


def webcam_sized(image: np.ndarray) -> np.ndarray:
    """The 256 px frame in a 640x480 frame, scaled so the face is webcam-sized (~200 px)."""
    import cv2

    face = cv2.resize(image, (400, 400), interpolation=cv2.INTER_LINEAR)
    out = np.full((480, 640, 3), 90, np.uint8)
    out[40:440, 120:520] = face[:400, :400]
    return out


def stats(values) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {"median": round(float(np.median(v)), 2), "p90": round(float(np.percentile(v, 90)), 2)} if len(v) else {}


def bench_tracking(images) -> dict:
    from core.tracking.tracker import FaceTracker

    tracker = FaceTracker()
    out = {}
    for label, frames in (("256px", images), ("640x480", [webcam_sized(i) for i in images])):
        tracker.reset()
        rows = [tracker.process(img, i / FPS) for i, img in enumerate(frames * 2)]
        tracked = [r for r in rows[1:] if r.face]   # the first frame runs the detector
        out[label] = {"frames": len(rows), "tracked": len(tracked),
                      "total_ms": stats([r.timings_ms["total"] for r in tracked])}
        for stage in ("verify", "landmarks", "pose_expression", "mesh"):
            out[label][f"{stage}_ms"] = stats([r.timings_ms.get(stage, 0.0) for r in tracked])
        t0 = time.perf_counter()
        tracker.reset()
        tracker.process(frames[0], 0.0)
        out[label]["first_frame_with_detection_ms"] = round((time.perf_counter() - t0) * 1e3, 1)
    return out


def bench_serial(images, video: Path) -> dict:
    """capture -> track -> render -> shown image, one after the other, on one thread."""
    import imageio.v2 as imageio

    from core.expression import Expression
    from core.passes import pass_image
    from core.state import OrbitPose
    from core.tracking.tracker import FaceTracker

    engine = _engine()
    tracker = FaceTracker(names=engine.cfg.expression_names)
    base = engine.default_state()
    names = engine.cfg.expression_names
    times = {k: [] for k in ("capture", "track", "render", "image")}
    reader = imageio.get_reader(str(video), format="FFMPEG")
    t_start = time.perf_counter()
    n = 0
    for i, frame in enumerate(_timed(reader, times["capture"])):
        t = time.perf_counter()
        r = tracker.process(frame, i / FPS)
        times["track"].append((time.perf_counter() - t) * 1e3)
        cam = base.camera
        state = base.with_(camera=OrbitPose(r.pose.yaw, float(np.clip(r.pose.pitch, -89, 89)), r.pose.roll, cam.radius,
                                            cam.fov, cam.look_at), expression=Expression(names, r.expression.values))
        t = time.perf_counter()
        result = engine.render(state, "preview")
        times["render"].append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        pass_image(result.frame, "rgb", state.render.background)
        times["image"].append((time.perf_counter() - t) * 1e3)
        n += 1
    reader.close()
    wall = time.perf_counter() - t_start
    return {"frames": n, "frames_per_s": round(n / wall, 2), **{f"{k}_ms": stats(v) for k, v in times.items()}}


def _engine():
    from core.checkpoint import DEFAULT_MODEL
    from core.engine import InferenceEngine

    return InferenceEngine.from_checkpoint(DEFAULT_MODEL, "auto")


def _timed(reader, sink):
    it = iter(reader)
    while True:
        t = time.perf_counter()
        try:
            frame = next(it)
        except StopIteration:
            return
        sink.append((time.perf_counter() - t) * 1e3)
        yield frame


def bench_studio(video: Path, seconds: float) -> dict:
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    w = MainWindow(ask_to_restore=False)
    w.resize(1400, 860)
    w.show()
    w.docks["Live"].raise_()
    t0 = time.time()
    while time.time() - t0 < 60 and not (w.scheduler.is_idle() and getattr(w, "last_frame_info", None)):
        app.processEvents()
        time.sleep(0.01)
    panel = w.live_panel
    panel.set_source("Video file", video)
    panel.loop.setChecked(True)
    shown, render_ms, gaps = [], [], []
    w.scheduler.frame_ready.connect(lambda img, info: (shown.append(time.perf_counter()), render_ms.append(info["ms"])))
    heartbeat = [time.perf_counter()]

    def beat():
        now = time.perf_counter()
        gaps.append((now - heartbeat[0]) * 1e3)
        heartbeat[0] = now

    from PySide6.QtCore import QTimer

    timer = QTimer()
    timer.timeout.connect(beat)
    timer.start(5)
    panel.start()
    warm = 2.0
    t0 = time.perf_counter()
    # the event loop runs as in the studio (exec, not a polling loop that would cost the
    # GUI thread CPU the studio does not spend); CPU per thread is read after the warm-up
    from PySide6.QtCore import QEventLoop

    loop = QEventLoop()
    cpu0 = []
    QTimer.singleShot(int(warm * 1000), lambda: cpu0.append((thread_cpu_seconds(), time.perf_counter())))
    QTimer.singleShot(int((warm + seconds) * 1000), loop.quit)
    panel.job.finished.connect(loop.quit)
    panel.job.failed.connect(loop.quit)
    loop.exec()
    cpu1, t1 = thread_cpu_seconds(), time.perf_counter()
    cpu_share = {}
    if cpu0:
        (before, tb) = cpu0[0]
        for name, used in cpu1.items():
            cpu_share[name] = round((used - before.get(name, 0.0)) / (t1 - tb), 3)
    tracked_at_end = panel.frames_tracked
    track = [v for v in panel.plot.history["track"]]
    capture = [v for v in panel.plot.history["capture"]]
    status = panel.status.text()
    panel.stop()
    while panel.running:
        app.processEvents()
        time.sleep(0.01)
    timer.stop()
    window = [s for s in shown if t0 + warm <= s <= t0 + warm + seconds]
    fps = (len(window) - 1) / (window[-1] - window[0]) if len(window) > 2 else 0.0
    out = {"platform": app.platformName(), "seconds": seconds, "avatar_frames_per_s": round(fps, 2),
           "frames_tracked": tracked_at_end, "tracked_per_s": round(tracked_at_end / (warm + seconds), 2),
           "render_ms": stats(render_ms[-len(window):] if window else render_ms),
           "track_ms": stats(track), "capture_ms": stats(capture),
           "longest_gui_stall_ms": round(max(gaps[50:]) if len(gaps) > 50 else 0.0, 1),
           "cpu_cores_used_by_thread": dict(sorted(cpu_share.items(), key=lambda kv: -kv[1])),
           "last_status": status, "messages": panel.messages}
    w.close()
    return out


def main(argv=None) -> int:
    import argparse
    import tempfile

    import imageio.v2 as imageio
    import torch

    ap = argparse.ArgumentParser(description="face tracking and live reenactment speed")
    ap.add_argument("--json")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--skip-studio", action="store_true")
    ap.add_argument("--studio-only", action="store_true", help="only the Live panel run")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from core.tracking.mesh import mesh_available

    images = driving_frames(args.frames)
    tmp = Path(tempfile.mkdtemp(prefix="tracking_bench."))
    video = tmp / "drive.mp4"
    with imageio.get_writer(str(video), format="FFMPEG", fps=FPS, codec="libx264", pixelformat="yuv420p",
                            quality=8, ffmpeg_log_level="quiet") as wr:
        for img in images:
            wr.append_data(img)
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                         f"{torch.get_num_threads()} threads",
              "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
              "source": f"{len(images)} frames of a synthetic head at 256 px, {FPS:g} fps",
              "expression_source": "mesh" if mesh_available() else "dlib"}
    if not args.studio_only:
        report["tracking"] = bench_tracking(images)
        print(json.dumps(report["tracking"], indent=1), flush=True)
        report["serial_pipeline"] = bench_serial(images, video)
        print(json.dumps(report["serial_pipeline"], indent=1), flush=True)
    if not args.skip_studio:
        report["studio_live_panel"] = bench_studio(video, args.seconds)
        print(json.dumps(report["studio_live_panel"], indent=1), flush=True)
    report["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    if args.json:
        from core.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
