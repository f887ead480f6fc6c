"""File > New avatar from video running, saved as screenshots (docs/video-avatar.png is
made this way, under Xvfb): the progress dialog once the fine-tune shows its preview,
and the studio with the finished personal model open.

    xvfb-run -a -s "-screen 0 1600x1000x24" python -m app.video_avatar_screenshot VIDEO OUT_DIALOG.png \\
        OUT_STUDIO.png [--steps 200] [--every 2]

The work folder is a temporary library (AVATAR_STUDIO_AVATARS), so nothing of the
user's is touched.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="screenshots of File > New avatar from video")
    ap.add_argument("video")
    ap.add_argument("dialog_out")
    ap.add_argument("studio_out")
    ap.add_argument("--steps", type=int, default=200, help="fine-tune steps (the recipe's are many more)")
    ap.add_argument("--every", type=int, default=2)
    args = ap.parse_args(argv)
    os.environ.setdefault("AVATAR_STUDIO_AVATARS", os.path.join(tempfile.mkdtemp(prefix="avatar-shot-"), "avatars"))
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.screenshot import pump as wait_events

    app = QApplication.instance() or QApplication([])
    w = MainWindow(ask_to_restore=False)
    w.resize(1500, 940)
    w.show()

    def pump(seconds, until=lambda: False):
        wait_events(app, seconds, until)

    pump(60, lambda: getattr(w, "last_frame_info", None) is not None and w.scheduler.is_idle())
    ctl = w.video_avatar
    ctl.every = args.every
    ctl.overrides = (f"steps={args.steps}", f"code_steps={max(1, args.steps // 7)}", "checkpoint_every=100")
    job = ctl.start(args.video)
    if job is None:
        print("could not start", file=sys.stderr)
        return 1
    # the dialog once training has drawn a preview past its first hundred steps
    pump(3600, lambda: job.done.is_set() or ctl._latest.get("preview_stage") == "train")
    if ctl.dialog is not None:
        pump(0.5)
        ctl._refresh()
        ctl.dialog.grab().save(args.dialog_out)
        print(f"wrote {args.dialog_out}: {ctl._latest.get('text')}")
    pump(3600, lambda: job.done.is_set())
    pump(60, lambda: w.scheduler.is_idle() and getattr(w, "last_frame_info", None) is not None)
    pump(2)
    if job.error:
        print(f"the job failed: {job.error}", file=sys.stderr)
        return 1
    w.grab().save(args.studio_out)
    print(f"wrote {args.studio_out}: {w.model_path}")
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
