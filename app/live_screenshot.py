"""The studio with the Live panel running from a video file, saved as a screenshot
(docs/live-panel.png is made this way, under Xvfb):

    xvfb-run -a -s "-screen 0 1600x1000x24" python -m app.live_screenshot VIDEO OUT.png [--seconds 4]
"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="screenshot of the studio with the Live panel running")
    ap.add_argument("video")
    ap.add_argument("out")
    ap.add_argument("--seconds", type=float, default=4.0, help="how long it runs before the picture")
    args = ap.parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.screenshot import pump as wait_events

    app = QApplication.instance() or QApplication([])
    w = MainWindow(ask_to_restore=False)
    w.resize(1500, 940)
    w.show()
    for name in ("Lighting", "SH coefficients", "Performance"):
        w.docks[name].hide()   # the Live panel gets the right-hand column
    w.docks["Live"].raise_()

    def pump(seconds, until=lambda: False):
        wait_events(app, seconds, until, tick=0.01)

    pump(60, lambda: getattr(w, "last_frame_info", None) is not None and w.scheduler.is_idle())
    panel = w.live_panel
    panel.set_source("Video file", args.video)
    panel.loop.setChecked(True)
    if not panel.start():
        print(panel.messages[-1], file=sys.stderr)
        return 1
    pump(args.seconds + 30, lambda: panel.frames_shown > 0 and panel.frames_tracked > args.seconds * 10)
    pump(0.5)
    if not panel.running or panel.frames_tracked == 0:
        print(f"the live session did not run: {panel.messages}", file=sys.stderr)
        return 1
    panel.plot.redraw(force=True)
    pump(0.2)
    w.grab().save(args.out)
    print(f"wrote {args.out} ({app.platformName()}): {panel.frames_tracked} frames tracked, "
          f"{panel.frames_shown} avatar frames shown; {panel.status.text()}")
    panel.stop()
    pump(10, lambda: not panel.running)
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
