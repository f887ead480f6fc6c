"""Avatar Studio launcher: `python main.py` (same as `avatar-studio` with no command)."""
from __future__ import annotations

import sys


def launch_studio(argv=None) -> int:
    """Start the studio. Until the Qt studio lands, this renders the bundled model's
    default head (all passes) into ./studio-output/ and says where it is."""
    try:
        from app.studio import run_studio  # the Qt studio, when installed
    except ImportError:
        run_studio = None
    if run_studio is not None:
        return run_studio(argv or [])
    from core.cli import main as cli_main

    print("avatar-studio: the Qt studio is not part of this build yet; rendering the default head instead.")
    return cli_main(["render", "--out", "studio-output/head.png", "--passes", "studio-output/passes"])


if __name__ == "__main__":
    if len(sys.argv) > 1:
        from core.cli import main as cli_main

        sys.exit(cli_main(sys.argv[1:]))
    sys.exit(launch_studio())
