"""Entry point of the desktop bundle (packaging/build_bundle.sh): `avatar-studio` with no
command opens the studio on the bundled model; with a command it is the CLI.

AVATAR_STUDIO_SCREENSHOT=OUT.png makes it open the studio, wait for the refined frame and
the geometry viewport's mesh, save a screenshot of the window and exit (the bundle's
check under Xvfb)."""
import os
import sys


def main() -> int:
    shot = os.environ.get("AVATAR_STUDIO_SCREENSHOT")
    if shot:
        from app.screenshot import main as screenshot

        return screenshot([shot])
    try:
        from cli import main as cli_main  # the CLI package (after "CLI on top")
    except ImportError:
        from core.cli import main as cli_main
    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    import multiprocessing

    multiprocessing.freeze_support()
    sys.exit(main())
