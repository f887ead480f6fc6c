"""How long the studio's GUI thread stalls while a photo is fitted in the background
(File > New avatar from photo): a 5 ms heartbeat timer's gaps during the fit, and the
fit's own time and steps/s.

    QT_QPA_PLATFORM=offscreen python -m app.fit_stall [--photo P] [--steps N] [--pti-steps N] [--json OUT]
Without --photo the astronaut (skimage.data.astronaut) is used. The avatar goes to a
temporary library folder.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def run(photo=None, steps: int = 40, pti_steps: int = 20) -> dict:
    from dataclasses import replace

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from core.fitting.fit import PRESETS

    tmp = tempfile.mkdtemp(prefix="fit_stall_")
    os.environ["AVATAR_STUDIO_AVATARS"] = os.path.join(tmp, "avatars")
    if photo is None:
        import skimage.data
        from PIL import Image

        photo = os.path.join(tmp, "astronaut.png")
        Image.fromarray(skimage.data.astronaut()).save(photo)
    app = QApplication.instance() or QApplication([])
    w = MainWindow(ask_to_restore=False)
    w.show()
    end = time.perf_counter() + 5
    while time.perf_counter() < end:   # the first frames
        app.processEvents()
        time.sleep(0.005)
    beats = []
    heart = QTimer()
    heart.timeout.connect(lambda: beats.append(time.perf_counter()))
    heart.start(5)
    settings = replace(PRESETS["default"], steps=steps, pti_steps=pti_steps)
    job = w.photo_fitter.start(photo, settings)
    t0 = time.perf_counter()
    while not job.done.is_set():
        app.processEvents()
        time.sleep(0.001)
    fit_s = time.perf_counter() - t0
    heart.stop()
    for _ in range(50):
        app.processEvents()
        time.sleep(0.002)
    gaps = [(b - a) * 1e3 for a, b in zip(beats, beats[1:])]
    result = job.result["result"] if isinstance(job.result, dict) else None
    worst = [(b - a, a - t0) for a, b in zip(beats, beats[1:])]
    worst = sorted(worst, reverse=True)[:5]
    out = {"fit_wall_s": fit_s, "worst_gaps_ms_at_s": [[round(g * 1e3), round(at, 2)] for g, at in worst], "heartbeats": len(beats), "max_stall_ms": max(gaps) if gaps else None,
           "p99_gap_ms": sorted(gaps)[int(0.99 * (len(gaps) - 1))] if gaps else None,
           "steps": steps + pti_steps, "error": job.error,
           "steps_per_s": (result.steps_done + result.pti_steps_done) / result.seconds if result else None}
    w.close()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photo")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--pti-steps", type=int, default=20)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    out = run(args.photo, args.steps, args.pti_steps)
    print(json.dumps(out, indent=1))
    if args.json:
        from core.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
