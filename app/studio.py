"""Start the Qt studio (`avatar-studio` with no command, or `python main.py`)."""
from __future__ import annotations

import argparse
import sys


def no_display_problem() -> str:
    """Why Qt could not open a window here ('' when it can): without this Qt aborts the
    process (SIGABRT, five lines of plugin help) on a Linux machine with no display."""
    import os

    if QApplication_exists() or not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return ""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return ""
    return "no display (DISPLAY and WAYLAND_DISPLAY are unset); run it under xvfb-run or set QT_QPA_PLATFORM=offscreen"


def QApplication_exists() -> bool:
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() is not None


def run_studio(argv=None) -> int:
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from core.checkpoint import DEFAULT_MODEL, CheckpointError

    ap = argparse.ArgumentParser(prog="avatar-studio", description="The Avatar Studio desktop app.")
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--session", help="open this session file")
    args = ap.parse_args(argv or [])
    problem = no_display_problem()
    if problem:
        print(f"avatar-studio: error: {problem}", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Avatar Studio")
    app.setDesktopFileName("avatar-studio")  # packaging/avatar-studio.desktop
    from importlib.resources import files

    from PySide6.QtGui import QIcon

    app.setWindowIcon(QIcon(str(files("resources") / "avatar-studio.png")))
    stopped = _quit_on_signals(app)
    try:
        window = MainWindow(args.model, args.device)
    except (CheckpointError, ValueError) as e:
        print(f"avatar-studio: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    if args.session:
        from PySide6.QtWidgets import QMessageBox

        from app.session import read_session

        # checked before the window takes it: a malformed session is one dialog and the
        # studio runs on (an exception here would end the process before the window shows)
        try:
            read_session(args.session)
        except ValueError as e:
            QMessageBox.critical(window, "Open session", str(e).splitlines()[0])
        else:
            window.open_session(args.session)
    if stopped:  # Ctrl-C / SIGTERM while the window was being built: its render threads may be
        import os  # mid-start, and tearing them down at exit aborts; nothing is unsaved yet

        code = _stopped_code(stopped)
        sys.stderr.flush()
        os._exit(code)
    window.show()
    code = app.exec()
    if stopped:  # not a normal close: the render threads still run; the autosave stays for recovery
        import os

        code = _stopped_code(stopped)
        sys.stderr.flush()
        os._exit(code)
    return code


def _quit_on_signals(app) -> list:
    """Ctrl-C and SIGTERM close the studio (one line, exit 130 / 143) instead of being
    lost inside Qt's event loop (Python handlers run only when Python code does: a timer
    gives them a chance every 200 ms)."""
    import signal
    import threading

    from PySide6.QtCore import QTimer

    stopped = []
    if threading.current_thread() is not threading.main_thread():
        return stopped

    def on_signal(signum, frame):
        stopped.append(signum)
        app.quit()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    timer = QTimer(app)
    timer.timeout.connect(lambda: None)
    timer.start(200)
    return stopped


def _stopped_code(stopped) -> int:
    import signal

    print(f"avatar-studio: {'interrupted' if stopped[0] == signal.SIGINT else 'terminated'}", file=sys.stderr)
    return 128 + stopped[0]
