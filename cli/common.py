"""What every command shares: one-line errors, validated number flags, --model/--device and
the flags that describe an AvatarState (render, the exporters and reenact)."""
from __future__ import annotations

import argparse
import math

from core.checkpoint import DEFAULT_MODEL


class CommandError(Exception):
    """Bad input: printed as one line, exit code 2."""


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


def add_model_flags(p: argparse.ArgumentParser) -> None:
    """--model and --device, for the commands that load a head model."""
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="checkpoint (.safetensors); default: the bundled model")
    add_device_flag(p)


def add_device_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda or mps")


def add_state_flags(p: argparse.ArgumentParser) -> None:
    """The flags that describe an AvatarState, shared by render, the exporters and reenact."""
    who = p.add_mutually_exclusive_group()
    who.add_argument("--seed", type=int, help="identity sampled from the model's prior")
    who.add_argument("--avatar", help="an avatar file (.safetensors, from `fit`) or an avatar/state JSON file")
    p.add_argument("--truncation", type=number(float, 0.0, 1.0), default=0.7,
                   help="pull a seeded identity towards the mean (0..1)")
    p.add_argument("--yaw", type=float, help="camera yaw, degrees (+ turns to the subject's left)")
    p.add_argument("--pitch", type=float, help="camera pitch, degrees (+ looks from above)")
    p.add_argument("--fov", type=float, help="field of view, degrees (EG3D convention, default 18.83)")
    p.add_argument("--light", help="preset name, lighting JSON ({'sh': 9x3}) or an environment map image")
    p.add_argument("--expr", nargs="*", default=[], metavar="NAME=VALUE", help="expression weights, e.g. jawOpen=0.6")
    p.add_argument("--state", help="an AvatarState JSON instead of the flags (flags given as well override it)")


def parse_expression_args(items, names):
    from core.expression import Expression

    weights = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--expr {item!r}: expected NAME=VALUE")
        name, value = item.split("=", 1)
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--expr {item!r}: {value!r} is not a number") from None
    unknown = [n for n in weights if n not in names]
    if unknown:
        raise ValueError(f"--expr: this model has no expression {unknown[0]!r} (it has: {', '.join(names)})")
    return Expression.from_dict(weights, names)


def state_from_args(args, engine):
    """The AvatarState the state flags describe (over --state, else the engine's default)."""
    from core.lighting import load_lighting
    from core.state import AvatarState, RenderSettings

    if args.state:
        state = AvatarState.load(args.state)
    else:
        state = engine.default_state()
    if args.seed is not None:
        state = state.with_(identity=engine.sample_identity(args.seed, args.truncation))
    elif args.avatar and args.avatar.lower().endswith(".safetensors"):
        from core.avatar import load_avatar

        avatar = load_avatar(args.avatar)
        avatar.apply_to_engine(engine, getattr(args, "model", None))  # its tuned weights, if any
        state = avatar.state(state)
    elif args.avatar:
        state = state.with_(identity=AvatarState.load(args.avatar).identity)
    source = args.avatar if args.avatar and args.seed is None else (args.state if args.seed is None else None)
    if source and state.identity.latent.size != engine.cfg.latent_dim:  # named here, not deep in the renderer
        raise ValueError(f"{source}: its identity has {state.identity.latent.size} latent values; "
                         f"this model needs {engine.cfg.latent_dim}")
    given = {"yaw": args.yaw, "pitch": args.pitch, "fov": args.fov}
    try:
        state = state.with_(camera=state.camera.with_(**{k: v for k, v in given.items() if v is not None}))
    except ValueError as e:  # name the flags, not only the camera's field
        raise ValueError(f"{'/'.join(f'--{k}' for k, v in given.items() if v is not None)}: {e}") from None
    if args.light:
        state = state.with_(lighting=load_lighting(args.light))
    if args.expr:
        state = state.with_(expression=parse_expression_args(args.expr, engine.cfg.expression_names))
    r = state.render
    res, quality = getattr(args, "res", None), getattr(args, "quality", None)
    state = state.with_(render=RenderSettings(
        res if res is not None else r.resolution, quality or r.quality, r.render_pass, r.background))
    return state
