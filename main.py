"""Avatar Studio launcher: `python main.py` (same as `avatar-studio` with no command)."""
from __future__ import annotations

import sys


def launch_studio(argv=None) -> int:
    """Start the Qt studio on the bundled model (or the one given with --model)."""
    try:
        import PySide6  # noqa: F401
    except ImportError:
        print("avatar-studio: the studio needs the GUI extras: pip install -e '.[gui]'", file=sys.stderr)
        return 2
    from app.studio import run_studio

    return run_studio(argv or [])


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and not args[0].startswith("-"):
        from core.cli import main as cli_main

        sys.exit(cli_main(args))
    sys.exit(launch_studio(args))
