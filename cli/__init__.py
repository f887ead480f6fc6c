"""`avatar-studio <command>`: the entry point, above every other layer (see
docs/architecture.md). No command (or only flags) starts the studio.

Every command module in COMMANDS has NAME, add_parser(subparsers) and run(args) -> int.
Bad input (CommandError, CheckpointError, ValueError, FileNotFoundError) is one line
naming the file or flag and exit code 2; Ctrl-C is exit code 130.
"""
from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from cli.commands import bench, evaluate, export_mesh, export_video, fit, prepare, reenact, render, studio, synth, train
from cli.common import CommandError, OneLineErrorParser

# The command table: the order is the order of `avatar-studio --help`. To add a command,
# write cli/commands/NAME.py (NAME, add_parser, run) and import it here.
COMMANDS = [render, fit, export_mesh, export_video, prepare, synth, train, evaluate, reenact, bench, studio]


def _version() -> str:
    """The installed distribution's version (a checkout without an install says so)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("avatar-studio")
    except PackageNotFoundError:
        return "(not installed)"


def build_parser() -> OneLineErrorParser:
    parser = OneLineErrorParser(prog="avatar-studio", description="3D-aware neural head avatars: studio and tools.")
    parser.add_argument("--version", action="version", version=f"avatar-studio {_version()}")
    sub = parser.add_subparsers(dest="command")
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def _command(name: str):
    return next(m for m in COMMANDS if m.NAME == name)


def check_output_paths(args) -> None:
    """What a command writes, checked before any work: a folder where a file goes (or the
    reverse) would otherwise fail with a traceback after the rendering, or not at all."""
    module = _command(args.command)
    outputs = [(attr, False) for attr in getattr(module, "OUTPUT_FILES", ())]
    outputs += [(attr, True) for attr in getattr(module, "OUTPUT_FOLDERS", ())]
    for attr, want_folder in outputs:
        value = getattr(args, attr, None)
        if not value:
            continue
        flag, path = f"--{attr.replace('_', '-')}", Path(value)
        if path.is_dir() and not want_folder:
            raise CommandError(f"{flag} {value}: is a folder; give a file name")
        if path.exists() and not path.is_dir() and want_folder:
            raise CommandError(f"{flag} {value}: is a file; give a folder")
        blocking = next((p for p in path.parents if p.exists()), None)
        if blocking is not None and not blocking.is_dir():
            raise CommandError(f"{flag} {value}: {blocking} is a file, not a folder")


def main(argv=None) -> int:
    from core.checkpoint import CheckpointError

    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0].startswith("--") and argv[0] not in ("--help", "-h", "--version"):
        return studio.launch_studio(argv)  # no command: the studio (its own --model etc.)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # a bad flag (one line already printed) or --help
        return e.code
    terminated = []

    def on_sigterm(signum, frame):  # SIGTERM cleans up like Ctrl-C (no partial files left)
        terminated.append(signum)
        raise KeyboardInterrupt

    previous = None
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL \
            and args.command != "studio":  # the studio handles its own (inside Qt's event loop)
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        check_output_paths(args)
        return _command(args.command).run(args)
    except (CommandError, CheckpointError, ValueError, FileNotFoundError) as e:
        print(f"avatar-studio {args.command}: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return 2
    except OSError as e:  # disk full, file too large, permissions: one line naming the file
        name = e.filename or next((f"{getattr(args, a)}" for a in ("out", "json") if getattr(args, a, None)), "")
        where = f"{name}: " if name and not str(e.strerror or e).startswith(name) else ""
        print(f"avatar-studio {args.command}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"avatar-studio {args.command}: {'terminated' if terminated else 'cancelled'}", file=sys.stderr)
        return 128 + signal.SIGTERM if terminated else 130
    finally:
        if previous is not None:  # called in-process (tests): leave the caller's handler as it was
            signal.signal(signal.SIGTERM, previous)
