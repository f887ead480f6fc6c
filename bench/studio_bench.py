"""Scripted studio benchmark: drives the real widgets like a drag would and measures the
frames shown per second while dragging, the time to the refined frame after release, and
the longest stall of the GUI thread (a 5 ms heartbeat timer's largest gap).

    QT_QPA_PLATFORM=offscreen python -m bench.studio_bench [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def run(seconds: float = 3.0, stall_stacks: bool = False) -> dict:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from bench.cpu import thread_cpu_seconds
    from bench.stall import StallWatcher

    _app = QApplication.instance() or QApplication([])   # kept alive for the run
    w = MainWindow(ask_to_restore=False)
    w.show()
    beats = []
    heart = QTimer()
    heart.timeout.connect(lambda: beats.append(time.perf_counter()))
    heart.start(5)
    # the watcher wakes every 5 ms and takes the GIL: it runs only when asked, so the
    # figures of a plain run are the studio's alone
    watcher = StallWatcher(beats) if stall_stacks else None
    if watcher:
        watcher.start()

    # the event loop runs as in the studio (exec): a polling processEvents loop keeps the
    # GUI thread busy and, on two cores, takes CPU from the render (measured on the Live
    # panel: docs/benchmarks.md)
    def run_loop(seconds, tick=None, tick_ms=10, done=lambda: False):
        loop = QEventLoop()
        timer = QTimer()
        timer.timeout.connect(lambda: (tick() if tick else None, loop.quit() if done() else None))
        timer.start(tick_ms)
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()
        timer.stop()

    def settle():
        def ready():
            info = getattr(w, "last_frame_info", None)
            return bool(info and info["state"] == w.doc.state and info["quality"] == "refined"
                        and w.scheduler.is_idle())

        run_loop(30, done=ready, tick_ms=2)

    settle()
    results = {}
    drags = {
        "camera": lambda t: w.camera_panel.sliders["yaw"].setValue(40 * __import__("math").sin(t * 2)),
        "expression": lambda t: w.expression_panel.sliders["jawOpen"].setValue(0.5 + 0.5 * __import__("math").sin(t * 3)),
        "lighting": lambda t: w.lighting_panel.ball.direction_picked.emit(80 * __import__("math").sin(t * 2), 20.0),
    }
    for name, move in drags.items():
        settle()
        beats.clear()
        shown0 = w.frames_shown
        start = time.perf_counter()
        cpu0 = thread_cpu_seconds()
        # a mouse reports ~60 moves a second
        run_loop(seconds, tick=lambda: move(time.perf_counter() - start), tick_ms=16)
        cpu1, elapsed = thread_cpu_seconds(), time.perf_counter() - start
        frames = w.frames_shown - shown0
        fps = frames / (time.perf_counter() - start)
        w.doc.end_interaction()
        released = time.perf_counter()
        settle()
        refined_after = time.perf_counter() - released
        gaps = [b - a for a, b in zip(beats, beats[1:])]
        results[name] = {"frames_per_second": fps, "refined_after_release_s": refined_after,
                         "longest_gui_stall_ms": 1e3 * max(gaps) if gaps else float("nan"),
                         # the GUI thread's stacks in every gap of 50 ms or more
                         "stalls": watcher.report(start, time.perf_counter()) if watcher else [],
                         "cpu_cores_used_by_thread": {k: round((v - cpu0.get(k, 0.0)) / elapsed, 3)
                                                      for k, v in sorted(cpu1.items(), key=lambda kv: -kv[1])
                                                      if v - cpu0.get(k, 0.0) > 0.005 * elapsed}}
    if watcher:
        watcher.stop()
    w.close()
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--stall-stacks", action="store_true",
                    help="name the GUI thread's Python stack in every stall of 50 ms or more (a watcher "
                         "thread that wakes every 5 ms: off for the plain figures)")
    args = ap.parse_args(argv)
    from bench.engine_bench import device_name
    import torch

    res = run(args.seconds, args.stall_stacks)
    print(f"device: {device_name(torch.device('cpu'))}")
    print("drag        frames/s   refined after release   longest GUI stall")
    for name, r in res.items():
        print(f"{name:<10} {r['frames_per_second']:>9.1f}   {r['refined_after_release_s']:>17.2f} s"
              f"   {r['longest_gui_stall_ms']:>14.0f} ms   cores: {r['cpu_cores_used_by_thread']}")
        for stall in r["stalls"]:
            print(f"   stall {stall['ms']:.0f} ms: " + "; ".join(f"{s['samples']}x {s['stack']}" for s in stall["stacks"]))
    if args.json:
        from core.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
