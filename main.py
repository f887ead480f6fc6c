"""Avatar Studio launcher: `python main.py` (same as `avatar-studio` with no command);
`python main.py COMMAND ...` runs a command (cli/)."""
from __future__ import annotations

import sys

from cli.commands.studio import launch_studio

if __name__ == "__main__":
    args = sys.argv[1:]
    if args and not args[0].startswith("-"):
        from cli import main

        sys.exit(main(args))
    sys.exit(launch_studio(args))
