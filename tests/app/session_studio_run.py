"""Start the studio as `avatar-studio --session F` for each F given, one after another in
this process, and print one JSON line per F: the dialogs shown, whether the window ran (on
the model's own head), and the exit code. The session tests run it in a child process, so
that a session which ends the process (Qt aborts on an exception it cannot handle) fails
the test instead of ending pytest."""
import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(paths) -> None:
    from PySide6.QtCore import QStandardPaths, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    app = QApplication(sys.argv[:1])
    QStandardPaths.setTestModeEnabled(True)
    from app.main_window import MainWindow, recovery_path
    from app.studio import run_studio

    dialogs = []
    for kind in ("critical", "warning", "information", "question"):
        setattr(QMessageBox, kind, staticmethod(
            lambda *a, kind=kind, **kw: dialogs.append([kind, a[2]]) or QMessageBox.StandardButton.No))
    for path in paths:
        recovery_path().unlink(missing_ok=True)
        dialogs.clear()
        seen = {}

        def look_then_close():
            windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
            if "windows" not in seen:
                seen["windows"] = len(windows)
                seen["on_default_head"] = all(w.doc.state == w.engine.default_state() for w in windows)
            if all(w.scheduler.is_idle() for w in windows):  # closed between renders: no thread left in torch
                poll.stop()
                for w in windows:
                    w.close()
                app.quit()

        poll = QTimer()
        poll.timeout.connect(look_then_close)
        poll.start(200)
        code = run_studio(["--session", path])
        poll.stop()
        print(json.dumps({"path": path, "exit": code, "dialogs": list(dialogs), **seen}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
