"""`avatar-studio` with no command (or `avatar-studio studio`): the Qt studio. The only
command that reaches into app/ (and so into Qt), and only when it runs."""
from __future__ import annotations

import sys

from cli.common import add_model_flags

NAME = "studio"


def add_parser(sub) -> None:
    s = sub.add_parser(NAME, help="the desktop studio (the same as no command)")
    add_model_flags(s)
    s.add_argument("--session", help="open this session file")


def run(args) -> int:
    argv = ["--model", args.model, "--device", args.device]
    if args.session:
        argv += ["--session", args.session]
    return launch_studio(argv)


def launch_studio(argv=None) -> int:
    """Start the Qt studio on the bundled model (or the one given with --model)."""
    try:
        import PySide6  # noqa: F401
    except ImportError:
        print("avatar-studio: the studio needs the GUI extras: pip install -e '.[gui]'", file=sys.stderr)
        return 2
    from app.studio import run_studio

    return run_studio(argv or [])
