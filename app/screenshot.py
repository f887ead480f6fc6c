"""Open the studio, wait for the refined render and the geometry viewport's mesh, and
save a screenshot of the whole window (used by the Xvfb test and for docs/).

    python -m app.screenshot OUT.png   (needs a display, e.g. under Xvfb)
"""
from __future__ import annotations

import sys
import time


def pump(app, seconds: float, until=lambda: False, tick: float = 0.02) -> None:
    """Run the Qt event loop for up to `seconds`, or until `until()` is true (the
    screenshot scripts wait on the studio this way)."""
    end = time.time() + seconds
    while time.time() < end and not until():
        app.processEvents()
        time.sleep(tick)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = argv[0]
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    w = MainWindow(ask_to_restore=False)
    w.resize(1400, 860)
    w.show()
    deadline = time.time() + 120
    while time.time() < deadline:
        app.processEvents()
        info = getattr(w, "last_frame_info", None)
        refined = info is not None and info["quality"] == "refined" and w.scheduler.is_idle()
        mesh = w.viewport is not None and w.viewport.meshes_shown > 0
        if refined and mesh:
            break
        time.sleep(0.02)
    else:
        print("timed out waiting for the render and the mesh", file=sys.stderr)
        return 1
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    w.grab().save(out)
    print(f"wrote {out} ({app.platformName()})")
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
