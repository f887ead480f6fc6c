"""`avatar-studio render`: one image of a state, and optionally every pass."""
from __future__ import annotations

from pathlib import Path

from cli.common import add_model_flags, add_state_flags, state_from_args

NAME = "render"
OUTPUT_FILES = ("out",)
OUTPUT_FOLDERS = ("passes",)


def add_parser(sub) -> None:
    r = sub.add_parser(NAME, help="render one image (and optionally every G-buffer pass)")
    add_model_flags(r)
    add_state_flags(r)
    r.add_argument("--res", type=int, help="output image side in pixels (default 256)")
    r.add_argument("--quality", choices=("preview", "refined", "naive"), help="sampling quality (default refined)")
    r.add_argument("--passes", help="folder for rgb/albedo/shading/normal/depth(16-bit)/alpha PNGs")
    r.add_argument("--out", help="output PNG (the selected pass, rgb by default)")
    r.add_argument("--transparent", action="store_true", help="--out as RGBA with a transparent background")


def run(args) -> int:
    from core.engine import InferenceEngine
    from core.fileio import save_png
    from core.passes import pass_image, resize_frame, rgba_image, save_passes

    if not args.out and not args.passes:
        raise ValueError("render: give --out OUT.png and/or --passes DIR")
    if args.out and Path(args.out).suffix.lower() != ".png":
        raise ValueError(f"{args.out}: output must be a .png file")
    engine = InferenceEngine.from_checkpoint(args.model, args.device)
    state = state_from_args(args, engine)
    result = engine.render(state)
    frame = result.frame
    side = state.render.resolution
    if frame.rgb.shape[0] != side:
        frame = resize_frame(frame, side)
    if args.out:
        if getattr(args, "transparent", False):
            image = rgba_image(frame, state.render.render_pass)
        else:
            image = pass_image(frame, state.render.render_pass, state.render.background)
        save_png(args.out, image)
        print(f"wrote {args.out} ({side}x{side}, {state.render.render_pass}, {engine.device})")
    if args.passes:
        paths = save_passes(frame, args.passes, state.render.background)
        print(f"wrote {len(paths)} passes to {args.passes}")
    return 0
