"""`avatar-studio <command>`: one entry point; no command starts the studio.

Every command takes --model and --device, shows progress for long work and exits
non-zero with a one-line error (naming the file and the problem) on bad input.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.checkpoint import DEFAULT_MODEL, CheckpointError


class CommandError(Exception):
    """Bad input: printed as one line, exit code 2."""


def _common(p: argparse.ArgumentParser):
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="checkpoint (.safetensors); default: the bundled model")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda or mps")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avatar-studio", description="3D-aware neural head avatars: studio and tools.")
    sub = parser.add_subparsers(dest="command")

    r = sub.add_parser("render", help="render one image (and optionally every G-buffer pass)")
    _common(r)
    who = r.add_mutually_exclusive_group()
    who.add_argument("--seed", type=int, help="identity sampled from the model's prior")
    who.add_argument("--avatar", help="identity from an avatar/state JSON file")
    r.add_argument("--truncation", type=float, default=0.7, help="pull a seeded identity towards the mean (0..1)")
    r.add_argument("--yaw", type=float, help="camera yaw, degrees (+ turns to the subject's left)")
    r.add_argument("--pitch", type=float, help="camera pitch, degrees (+ looks from above)")
    r.add_argument("--fov", type=float, help="field of view, degrees (EG3D convention, default 18.837)")
    r.add_argument("--light", help="preset name, lighting JSON ({'sh': 9x3}) or an environment map image")
    r.add_argument("--expr", nargs="*", default=[], metavar="NAME=VALUE", help="expression weights, e.g. jawOpen=0.6")
    r.add_argument("--res", type=int, help="output image side in pixels (default 256)")
    r.add_argument("--quality", choices=("preview", "refined", "naive"), help="sampling quality (default refined)")
    r.add_argument("--state", help="an AvatarState JSON instead of the flags (flags given as well override it)")
    r.add_argument("--passes", help="folder for rgb/albedo/shading/normal/depth(16-bit)/alpha PNGs")
    r.add_argument("--out", help="output PNG (the selected pass, rgb by default)")

    sy = sub.add_parser("synth", help="write a synthetic head dataset (EG3D format + our labels)")
    _common(sy)
    sy.add_argument("--identities", type=int, required=True)
    sy.add_argument("--views-per-identity", type=int, required=True)
    sy.add_argument("--res", type=int, default=128)
    sy.add_argument("--seed", type=int, default=0)
    sy.add_argument("--expressions", choices=("random", "mild", "neutral"), default="random")
    sy.add_argument("--lighting", choices=("random", "presets"), default="random")
    sy.add_argument("--background", choices=("random", "plain", "colour", "texture"), default="random")
    sy.add_argument("--passes", action="store_true", help="also write albedo/shading/normal/depth/alpha images")
    sy.add_argument("--meshes", action="store_true", help="also write each sample's ground-truth mesh (PLY)")
    sy.add_argument("--shard", help="K/N: write only identities i with i %% N == K (run N of these in parallel)")
    sy.add_argument("--out", required=True)

    b = sub.add_parser("bench", help="measure preview/refined/naive/relighting speed on this machine")
    _common(b)
    b.add_argument("--json", help="also write the results as JSON")
    b.add_argument("--repeats", type=int, default=5)
    b.add_argument("--resolutions", default="32,64,128", help="neural resolutions to time")
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0].startswith("--") and argv[0] not in ("--help", "-h"):
        from main import launch_studio  # no command: the studio (its own --model etc.)

        return launch_studio(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "render":
            from core.commands.render import run_render

            return run_render(args)
        if args.command == "synth":
            from training.synth.dataset import run_synth

            return run_synth(args)
        if args.command == "bench":
            from bench.engine_bench import run_bench

            return run_bench(args)
    except (CommandError, CheckpointError, ValueError, FileNotFoundError) as e:
        print(f"avatar-studio {args.command}: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"avatar-studio {args.command}: cancelled", file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
