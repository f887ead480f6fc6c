"""`avatar-studio export-video`: an orbit / lighting / expression / identity / timeline video."""
from __future__ import annotations

from pathlib import Path

from cli.common import add_model_flags, add_state_flags, number, state_from_args

NAME = "export-video"
OUTPUT_FILES = ("out",)


def add_parser(sub) -> None:
    v = sub.add_parser(NAME, help="orbit / lighting / expression / identity / timeline video")
    add_model_flags(v)
    add_state_flags(v)
    v.add_argument("--path", default="orbit", help="orbit, light, expression, identity, or a TIMELINE.json")
    v.add_argument("--seed-b", type=int, default=1, help="the second identity of the identity path")
    v.add_argument("--frames", type=int, default=60)
    v.add_argument("--fps", type=number(float, 1.0, 120.0), default=24.0)
    v.add_argument("--res", type=int, default=256)
    v.add_argument("--quality", choices=("preview", "refined", "naive"), default="refined")
    v.add_argument("--passes", help="comma-separated passes shown side by side, e.g. rgb,normal,albedo")
    v.add_argument("--out", required=True, help="out.mp4 (H.264, yuv420p) or out.gif")


def run(args) -> int:
    import numpy as np

    from core.engine import InferenceEngine
    from core.export import video
    from core.passes import depth_preview, pass_image, resize_frame
    from core.state import PASSES, RenderSettings

    out = Path(args.out)
    if out.suffix.lower() not in (".mp4", ".gif"):
        raise ValueError(f"{out}: video must be .mp4 or .gif")
    if args.frames < 1 or args.fps <= 0:
        raise ValueError("export-video: --frames must be >= 1 and --fps > 0")
    if args.res % 2:
        raise ValueError(f"export-video: --res {args.res} must be even (yuv420p)")
    passes = [p.strip() for p in (args.passes or "rgb").split(",") if p.strip()]
    bad = [p for p in passes if p not in PASSES]
    if bad:
        raise ValueError(f"export-video: unknown pass {bad[0]!r}; passes are {', '.join(PASSES)}")
    engine = InferenceEngine.from_checkpoint(args.model, args.device)
    base = state_from_args(args, engine)
    base = base.with_(render=RenderSettings(args.res, args.quality, "rgb", base.render.background))
    n = args.frames
    if args.path.lower().endswith(".json"):
        states = video.path_states("timeline", base, n, timeline=video.load_timeline(args.path))
    elif args.path in video.PATHS:
        states = video.path_states(args.path, base, n, engine.sample_identity(args.seed_b, args.truncation))
    else:
        raise ValueError(f"export-video: --path {args.path!r}: use {', '.join(video.PATHS)} or a timeline .json")

    def frames():
        for state in states:
            frame = engine.render(state).frame
            if frame.rgb.shape[0] != args.res:
                frame = resize_frame(frame, args.res)
            tiles = [depth_preview(frame) if p == "depth" else pass_image(frame, p, state.render.background)
                     for p in passes]
            yield np.concatenate(tiles, axis=1)

    count = video.write_video(frames(), out, args.fps, n)
    print(f"wrote {out}: {count} frames at {args.fps:g} fps, {args.res * len(passes)}x{args.res}")
    return 0
