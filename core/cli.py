"""`avatar-studio <command>`: one entry point; no command starts the studio.

Every command takes --model and --device, shows progress for long work and exits
non-zero with a one-line error (naming the file and the problem) on bad input.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from core.checkpoint import DEFAULT_MODEL, CheckpointError


class CommandError(Exception):
    """Bad input: printed as one line, exit code 2."""


def _version() -> str:
    """The installed distribution's version (a checkout without an install says so)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("avatar-studio")
    except PackageNotFoundError:
        return "(not installed)"


class OneLineErrorParser(argparse.ArgumentParser):
    """A bad flag is one line naming it and exit code 2, like every other bad input
    (argparse's default prints the usage first)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def number(kind=float, low=-math.inf, high=math.inf, above=False):
    """argparse type: a finite `kind` in [low, high] ((low, high] with above=True); NaN,
    infinities and values out of range are refused instead of silently used."""
    noun = "an integer" if kind is int else "a number"
    if high == math.inf:
        wanted = f"{noun} {'>' if above else '>='} {low:g}"
    else:
        wanted = f"{noun} in {'(' if above else '['}{low:g}, {high:g}]"

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}") from None
        if not (math.isfinite(value) and (value > low if above else value >= low) and value <= high):
            raise argparse.ArgumentTypeError(f"{text} is not {wanted}")
        return value

    return parse


NEURAL_RESOLUTIONS = (8, 512)  # the engine renders at least 8; 512 x superres is the largest output


def neural_resolution_list(text: str) -> str:
    """argparse type for --resolutions: comma-separated neural resolutions, kept as text."""
    parse = number(int, *NEURAL_RESOLUTIONS)
    values = [parse(x.strip()) for x in text.split(",") if x.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r} names no resolution")
    return ",".join(str(v) for v in values)


def _common(p: argparse.ArgumentParser):
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="checkpoint (.safetensors); default: the bundled model")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda or mps")


def _state_flags(p: argparse.ArgumentParser):
    """The flags that describe an AvatarState, shared by render and the exporters."""
    who = p.add_mutually_exclusive_group()
    who.add_argument("--seed", type=int, help="identity sampled from the model's prior")
    who.add_argument("--avatar", help="identity from an avatar/state JSON file")
    p.add_argument("--truncation", type=number(float, 0.0, 1.0), default=0.7,
                   help="pull a seeded identity towards the mean (0..1)")
    p.add_argument("--yaw", type=float, help="camera yaw, degrees (+ turns to the subject's left)")
    p.add_argument("--pitch", type=float, help="camera pitch, degrees (+ looks from above)")
    p.add_argument("--fov", type=float, help="field of view, degrees (EG3D convention, default 18.83)")
    p.add_argument("--light", help="preset name, lighting JSON ({'sh': 9x3}) or an environment map image")
    p.add_argument("--expr", nargs="*", default=[], metavar="NAME=VALUE", help="expression weights, e.g. jawOpen=0.6")
    p.add_argument("--state", help="an AvatarState JSON instead of the flags (flags given as well override it)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="avatar-studio", description="3D-aware neural head avatars: studio and tools.")
    parser.add_argument("--version", action="version", version=f"avatar-studio {_version()}")
    sub = parser.add_subparsers(dest="command")

    r = sub.add_parser("render", help="render one image (and optionally every G-buffer pass)")
    _common(r)
    _state_flags(r)
    r.add_argument("--res", type=int, help="output image side in pixels (default 256)")
    r.add_argument("--quality", choices=("preview", "refined", "naive"), help="sampling quality (default refined)")
    r.add_argument("--passes", help="folder for rgb/albedo/shading/normal/depth(16-bit)/alpha PNGs")
    r.add_argument("--out", help="output PNG (the selected pass, rgb by default)")
    r.add_argument("--transparent", action="store_true", help="--out as RGBA with a transparent background")

    m = sub.add_parser("export-mesh", help="marching-cubes mesh of a head as GLB, OBJ or PLY (metres, y up, +z face)")
    _common(m)
    _state_flags(m)
    m.add_argument("--grid", type=int, default=256, help="marching cubes resolution (128-512)")
    m.add_argument("--level", type=number(float, 0.0, above=True), default=10.0, help="density iso-level")
    m.add_argument("--faces", type=int, help="decimate to about this many faces")
    m.add_argument("--smooth", type=int, default=0, help="Taubin smoothing iterations")
    m.add_argument("--colors", choices=("albedo", "lit", "none"), default="albedo", help="vertex colours")
    m.add_argument("--texture", type=int, default=0, metavar="SIZE",
                   help="bake a UV-unwrapped albedo texture (e.g. 1024); OBJ gets NAME.mtl + NAME_albedo.png")
    m.add_argument("--out", required=True, help="head.glb, head.obj or head.ply")

    v = sub.add_parser("export-video", help="orbit / lighting / expression / identity / timeline video")
    _common(v)
    _state_flags(v)
    v.add_argument("--path", default="orbit", help="orbit, light, expression, identity, or a TIMELINE.json")
    v.add_argument("--seed-b", type=int, default=1, help="the second identity of the identity path")
    v.add_argument("--frames", type=int, default=60)
    v.add_argument("--fps", type=number(float, 1.0, 120.0), default=24.0)
    v.add_argument("--res", type=int, default=256)
    v.add_argument("--quality", choices=("preview", "refined", "naive"), default="refined")
    v.add_argument("--passes", help="comma-separated passes shown side by side, e.g. rgb,normal,albedo")
    v.add_argument("--out", required=True, help="out.mp4 (H.264, yuv420p) or out.gif")

    sy = sub.add_parser("synth", help="write a synthetic head dataset (EG3D format + our labels)")
    _common(sy)
    sy.add_argument("--identities", type=int, required=True)
    sy.add_argument("--views-per-identity", type=int, required=True)
    sy.add_argument("--res", type=int, default=128)
    sy.add_argument("--seed", type=int, default=0)
    sy.add_argument("--view-seed", type=int, help="same identities as --seed, other views (held-out sets)")
    sy.add_argument("--expressions", choices=("random", "mild", "neutral"), default="random")
    sy.add_argument("--lighting", choices=("random", "presets"), default="random")
    sy.add_argument("--background", choices=("random", "plain", "colour", "texture"), default="random")
    sy.add_argument("--passes", action="store_true", help="also write albedo/shading/normal/depth/alpha images")
    sy.add_argument("--meshes", action="store_true", help="also write each sample's ground-truth mesh (PLY)")
    sy.add_argument("--expression-variants", type=int, default=1,
                    help="V > 1: render each view V times, neutral and V-1 strong expressions (paired training data)")
    sy.add_argument("--shard", help="K/N: write only identities i with i %% N == K (run N of these in parallel)")
    sy.add_argument("--out", required=True)

    t = sub.add_parser("train", help="train a head model on a labelled multi-view dataset")
    _common(t)
    t.add_argument("--config", help="training settings (JSON); see training/trainer.py TrainConfig")
    t.add_argument("--data", required=True, help="dataset folder (images + dataset.json)")
    t.add_argument("--out", required=True, help="run folder: checkpoint.safetensors, model.safetensors")
    t.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    t.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="override settings, e.g. steps=500")

    ev = sub.add_parser("eval", help="PSNR/SSIM, albedo, normals, relighting, geometry on held-out data")
    _common(ev)
    ev.add_argument("--data", required=True)
    ev.add_argument("--json", help="also write every figure as JSON")
    ev.add_argument("--max-samples", type=number(int, 1))
    ev.add_argument("--neural-resolution", type=number(int, *NEURAL_RESOLUTIONS), default=64,
                    help="rendered at this size, then x superres")
    ev.add_argument("--quality", choices=("preview", "refined", "naive"), default="refined")
    ev.add_argument("--fit-steps", type=int, default=0,
                    help="identities the model has no code for: fit one on half their views with N steps")
    ev.add_argument("--expression-samples", type=int, default=12,
                    help="samples on which every expression name is measured alone against the engine (0: none)")

    ra = sub.add_parser("reenact", help="a video, image folder, webcam or ARKit capture drives an avatar")
    _common(ra)
    _state_flags(ra)
    ra.add_argument("--source", required=True,
                    help="a video file, a folder of images, an ARKit / Live Link Face .csv, webcam or webcam:N")
    ra.add_argument("--fps", type=number(float, 0.0, above=True),
                    help="frame rate of an image folder (default 30) or of a capture's timecode frames (default 60)")
    ra.add_argument("--res", type=number(int, 16, 2048), default=256, help="avatar image side in pixels")
    ra.add_argument("--quality", choices=("preview", "refined", "naive"), default="preview")
    ra.add_argument("--calibrate", action="store_true",
                    help="take the first face found as the neutral face looking straight at the camera")
    ra.add_argument("--side-by-side", action="store_true", help="the source (landmarks drawn) left of the avatar")
    ra.add_argument("--track-json", help="also write per frame: face, yaw, pitch, roll (degrees), expression")
    ra.add_argument("--out", required=True, help="out.mp4 (H.264, yuv420p) or out.gif")

    b = sub.add_parser("bench", help="measure preview/refined/naive/relighting speed on this machine")
    _common(b)
    b.add_argument("--json", help="also write the results as JSON")
    b.add_argument("--repeats", type=int, default=5)
    b.add_argument("--resolutions", type=neural_resolution_list, default="32,64,128", help="neural resolutions to time")
    return parser


COMMANDS = {
    "render": "core.commands.render:run_render",
    "export-mesh": "core.commands.export:run_export_mesh",
    "export-video": "core.commands.export:run_export_video",
    "train": "training.trainer:run_train",   # its DatasetError is a ValueError: one line
    "eval": "training.evaluate:run_eval",
    "synth": "training.synth.dataset:run_synth",
    "bench": "bench.engine_bench:run_bench",
    "reenact": "core.commands.reenact:run_reenact",
}


# What each command writes, checked before any work: a folder where a file goes (or the
# reverse) would otherwise fail with a traceback after the rendering, or not at all.
OUTPUT_FILES = {"render": ("out",), "export-mesh": ("out",), "export-video": ("out",), "eval": ("json",),
                "bench": ("json",), "reenact": ("out", "track_json")}
OUTPUT_FOLDERS = {"render": ("passes",), "synth": ("out",), "train": ("out",)}


def check_output_paths(args) -> None:
    outputs = [(attr, False) for attr in OUTPUT_FILES.get(args.command, ())]
    outputs += [(attr, True) for attr in OUTPUT_FOLDERS.get(args.command, ())]
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
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0].startswith("--") and argv[0] not in ("--help", "-h", "--version"):
        from main import launch_studio  # no command: the studio (its own --model etc.)

        return launch_studio(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # a bad flag (one line already printed) or --help
        return e.code
    module, function = COMMANDS[args.command].split(":")
    try:
        import importlib

        check_output_paths(args)

        # imported on demand: `render` should not pay for Qt, dlib or the synthetic engine
        return getattr(importlib.import_module(module), function)(args)
    except (CommandError, CheckpointError, ValueError, FileNotFoundError) as e:
        print(f"avatar-studio {args.command}: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"avatar-studio {args.command}: cancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
