"""Soak benchmark: the studio driven for minutes by scripted slider, lighting, camera,
undo/redo and session save/open, watching for crashes, warning storms and memory growth.

    xvfb-run -a python -m bench.soak_bench [--minutes 10] [--json OUT.json] [--png OUT.png]

Every ~0.25 s one action (round-robin with random values): an expression slider drag, the
identity truncation slider, a light-ball drag, a camera yaw/pitch drag, undo x3 then redo
x2, and every 20th action a session save then open (a temporary file). Between actions the
event loop runs (previews and refined frames render as they would for a user). Measured: the
process's RSS every second, Qt messages (qWarning and above) and Python warnings, uncaught
exceptions in slots (sys.excepthook), frames shown. Memory growth = median RSS over the
last minute against the median over the minute after the warm-up (the first 2 minutes, or
20% of a shorter run). Passes when nothing crashed, there is no warning storm (fewer than 10
messages in all) and the growth is under 5%.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

from core.memory import rss_mb


def run(minutes: float, seed: int = 0, only: list[str] | None = None, profile: bool = False) -> dict:
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    messages, exceptions = [], []

    def qt_handler(kind, context, text):
        if kind != QtMsgType.QtDebugMsg and kind != QtMsgType.QtInfoMsg:
            messages.append(f"qt: {text}")

    qInstallMessageHandler(qt_handler)
    warnings.showwarning = lambda msg, cat, fn, ln, file=None, line=None: messages.append(
        f"python: {cat.__name__}: {msg} ({Path(fn).name}:{ln})")
    sys.excepthook = lambda t, v, tb: exceptions.append(f"{t.__name__}: {v}")

    app = QApplication.instance() or QApplication([])
    w = MainWindow(ask_to_restore=False)
    w.resize(1400, 860)
    w.show()
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    session = tmp / "soak-session.json"
    names = list(w.expression_panel.sliders)

    def pump(seconds):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.002)

    def drag(slider, values, release=True):
        for v in values:
            slider.setValue(v)
            pump(1 / 60)
        if release:
            w.doc.end_interaction()

    def expression():
        s = w.expression_panel.sliders[rng.choice(names)]
        a, b = rng.random(), rng.random()
        drag(s, [a + (b - a) * i / 8 for i in range(9)])

    def identity():
        s = w.identity_panel.truncation
        a, b = rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.0)
        drag(s, [a + (b - a) * i / 8 for i in range(9)])

    def lighting():
        az0, el0 = rng.uniform(-90, 90), rng.uniform(-30, 60)
        for i in range(9):
            w.lighting_panel.ball.direction_picked.emit(az0 + 4 * i, el0 + 2 * math.sin(i))
            pump(1 / 60)
        w.lighting_panel.ball.released.emit()

    def camera():
        yaw, pitch = w.camera_panel.sliders["yaw"], w.camera_panel.sliders["pitch"]
        a, b = rng.uniform(-40, 40), rng.uniform(-15, 15)
        for i in range(9):
            yaw.setValue(a + 2 * i)
            pitch.setValue(b - i)
            pump(1 / 60)
        w.doc.end_interaction()

    def undo_redo():
        for _ in range(3):
            w.doc.undo_stack.undo()
            pump(0.02)
        for _ in range(2):
            w.doc.undo_stack.redo()
            pump(0.02)

    def save_open():
        assert w.save_session(session), "save_session failed"
        assert w.open_session(session), "open_session failed"

    actions = [expression, lighting, camera, identity, undo_redo]
    with_sessions = True
    if only:
        unknown = set(only) - {f.__name__ for f in actions} - {"save_open"}
        if unknown:
            raise ValueError(f"unknown soak actions {sorted(unknown)}")
        actions = [f for f in actions if f.__name__ in only] or [save_open]
        with_sessions = "save_open" in only
    counts = {f.__name__: 0 for f in actions + [save_open]}
    census = _Census() if profile else None
    pump(3.0)  # first frames
    start = time.perf_counter()
    duration = minutes * 60
    samples, next_sample, i = [], start, 0
    shown0 = w.frames_shown
    while time.perf_counter() - start < duration:
        act = save_open if with_sessions and i % 20 == 19 else actions[i % len(actions)]
        act()
        counts[act.__name__] += 1
        i += 1
        pump(0.25)
        now = time.perf_counter()
        if now >= next_sample:
            samples.append((round(now - start, 2), round(rss_mb(), 1)))
            next_sample = now + 1.0
            if census is not None and census.first is None and now - start >= min(120.0, 0.2 * duration):
                census.take("after warm-up")
    pump(2.0)
    frames = w.frames_shown - shown0
    growth_report = census.report() if census is not None else None
    w.close()
    app.processEvents()

    warm = min(120.0, 0.2 * duration)
    window = min(60.0, 0.2 * duration)
    after_warm = [r for t, r in samples if warm <= t < warm + window]
    last = [r for t, r in samples if t >= samples[-1][0] - window]
    base, final = statistics.median(after_warm), statistics.median(last)
    return {
        "minutes": minutes, "actions": counts, "frames_shown": frames, "samples": samples,
        "rss_start_mb": samples[0][1], "rss_after_warmup_mb": base, "rss_last_minute_mb": final,
        "rss_max_mb": max(r for _, r in samples), "growth_after_warmup": final / base - 1,
        "warmup_s": warm, "messages": messages[:50], "message_count": len(messages),
        "exceptions": exceptions[:20], "exception_count": len(exceptions),
        "pyside6": __import__("PySide6").__version__, "python": sys.version.split()[0],
        "growth_report": growth_report,
        "ok": not exceptions and len(messages) < 10 and final / base - 1 < 0.05,
    }


class _Census:
    """What grew between two moments: live Python objects by type, torch tensor bytes by
    shape, and tracemalloc's allocation sites (numpy buffers included; torch's are not)."""

    def __init__(self):
        import tracemalloc

        tracemalloc.start(8)
        self.first = None

    @staticmethod
    def _snapshot():
        import collections
        import gc
        import tracemalloc

        import torch

        gc.collect()
        types = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
        tensors = collections.Counter()
        for o in gc.get_objects():
            try:
                if isinstance(o, torch.Tensor):
                    tensors[(tuple(o.shape), str(o.dtype))] += o.numel() * o.element_size()
            except Exception:  # noqa: BLE001 - half-built objects in the heap
                pass
        return types, tensors, tracemalloc.take_snapshot(), rss_mb()

    def take(self, label):
        self.first = (label, *self._snapshot())

    def report(self) -> dict:
        if self.first is None:
            return {}
        _, types0, tensors0, snap0, rss0 = self.first
        types1, tensors1, snap1, rss1 = self._snapshot()
        type_growth = sorted(((types1[k] - types0.get(k, 0), k) for k in types1), reverse=True)[:25]
        tensor_growth = sorted(((tensors1[k] - tensors0.get(k, 0), k) for k in tensors1), reverse=True)[:15]
        stats = snap1.compare_to(snap0, "traceback")[:12]
        return {
            "rss_mb": [rss0, rss1],
            "object_types": [f"{n:+d} {k}" for n, k in type_growth if n],
            "tensor_bytes": [f"{n / 1e6:+.1f} MB {k}" for n, k in tensor_growth if n],
            "tensor_total_mb": [sum(tensors0.values()) / 1e6, sum(tensors1.values()) / 1e6],
            "tracemalloc": [f"{st.size_diff / 1e6:+.1f} MB {st.count_diff:+d} blocks "
                            + " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in st.traceback[:6])
                            for st in stats],
        }


def plot(result: dict, out: str) -> None:
    """RSS over time (PIL line chart), warm-up shaded."""
    from PIL import Image, ImageDraw

    W, H, L, B, T, Rm = 900, 360, 70, 40, 30, 20
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    ts = [t for t, _ in result["samples"]]
    rs = [r for _, r in result["samples"]]
    lo, hi = min(rs) * 0.98, max(rs) * 1.02
    x = lambda t: L + (W - L - Rm) * t / max(ts[-1], 1)  # noqa: E731
    y = lambda r: H - B - (H - B - T) * (r - lo) / (hi - lo)  # noqa: E731
    d.rectangle([x(0), T, x(result["warmup_s"]), H - B], fill=(235, 235, 235))
    d.line([(L, T), (L, H - B), (W - Rm, H - B)], fill="black")
    for k in range(5):
        r = lo + (hi - lo) * k / 4
        d.text((5, y(r) - 6), f"{r:.0f} MB", fill="black")
        d.line([(L - 4, y(r)), (L, y(r))], fill="black")
    for k in range(6):
        t = ts[-1] * k / 5
        d.text((x(t) - 12, H - B + 6), f"{t / 60:.1f} min", fill="black")
    d.line([(x(t), y(r)) for t, r in result["samples"]], fill=(30, 90, 200), width=2)
    d.text((L + 10, 8), f"studio RSS under the soak: {result['rss_after_warmup_mb']:.0f} MB after warm-up (grey) -> "
                        f"{result['rss_last_minute_mb']:.0f} MB last minute ({100 * result['growth_after_warmup']:+.1f}%)",
           fill="black")
    img.save(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Studio soak benchmark (run under xvfb-run).")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--json")
    ap.add_argument("--png")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", help="comma-separated subset of actions: expression, lighting, camera, "
                                   "identity, undo_redo, save_open (to find what grows)")
    ap.add_argument("--profile", action="store_true",
                    help="report which objects, tensors and allocation sites grew after the warm-up")
    args = ap.parse_args(argv)
    if not os.environ.get("DISPLAY") and not os.environ.get("QT_QPA_PLATFORM"):
        print("soak_bench: needs a display (run it under xvfb-run -a)", file=sys.stderr)
        return 2
    result = run(args.minutes, args.seed, args.only.split(",") if args.only else None, args.profile)
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    if args.png:
        plot(result, args.png)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
