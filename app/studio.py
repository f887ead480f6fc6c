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
    window.show()
    return app.exec()
