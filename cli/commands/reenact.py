"""`avatar-studio reenact`: a video, an image folder, a webcam or an ARKit capture drives
an avatar; one output frame per source frame, optionally beside the source, and the
tracked pose and expression per frame as JSON (per frame: face, yaw, pitch, roll, expression).

A webcam runs until Ctrl-C, which ends the recording (the video is finished and kept,
as it is when the camera stops sending frames); on a file source Ctrl-C cancels.
"""
from __future__ import annotations

import signal
import sys
from pathlib import Path

import numpy as np

from cli.common import CommandError, add_model_flags, add_state_flags, number, state_from_args

NAME = "reenact"
OUTPUT_FILES = ("out", "track_json")


def add_parser(sub) -> None:
    ra = sub.add_parser(NAME, help="a video, image folder, webcam or ARKit capture drives an avatar")
    add_model_flags(ra)
    add_state_flags(ra)
    ra.add_argument("--source", required=True,
                    help="a video file, a folder of images, an ARKit / Live Link Face .csv, webcam or webcam:N")
    ra.add_argument("--fps", type=number(float, 0.0, above=True),
                    help="frame rate of an image folder (default 30) or of a capture's timecode frames (default 60)")
    ra.add_argument("--res", type=number(int, 16, 2048), default=256, help="avatar image side in pixels")
    ra.add_argument("--quality", choices=("preview", "refined", "naive"), default="preview")
    ra.add_argument("--calibrate", action="store_true",
                    help="take the first face found as the neutral face looking straight at the camera")
    ra.add_argument("--expression-source", choices=("auto", "mesh", "dlib"), default="auto",
                    help="landmarks the expression is read from: MediaPipe's face mesh (478 points), dlib's 68 "
                         "(jawOpen only), or auto: the mesh where MediaPipe is installed")
    ra.add_argument("--side-by-side", action="store_true", help="the source (landmarks drawn) left of the avatar")
    ra.add_argument("--track-json", help="also write per frame: face, yaw, pitch, roll (degrees), expression")
    ra.add_argument("--out", required=True, help="out.mp4 (H.264, yuv420p) or out.gif")


def _even(n: float) -> int:
    return max(2, int(round(n / 2.0)) * 2)


def source_panel(image: np.ndarray, height: int, width: int, landmarks: np.ndarray | None) -> np.ndarray:
    """The source frame scaled to the output's height, with the tracked landmarks drawn."""
    import cv2

    scale_x, scale_y = width / image.shape[1], height / image.shape[0]
    panel = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if scale_y < 1 else cv2.INTER_LINEAR)
    if landmarks is not None:
        r = max(1, round(height / 160))
        for x, y in landmarks:
            cv2.circle(panel, (int(x * scale_x), int(y * scale_y)), r, (40, 230, 90), -1, lineType=cv2.LINE_AA)
    return panel


class _StopOnInterrupt:
    """Ctrl-C asks a live recording to stop after the current frame instead of killing it."""

    def __init__(self, active: bool):
        self.active, self.requested, self._previous = active, False, None

    def __enter__(self):
        if self.active:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, *_):
        if self.requested:  # a second Ctrl-C: the user means it
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping: finishing the recording (Ctrl-C again to abandon it)", file=sys.stderr)

    def __exit__(self, *exc):
        if self.active:
            signal.signal(signal.SIGINT, self._previous)


def run(args) -> int:
    import json

    from core.engine import InferenceEngine
    from core.expression import Expression
    from core.export.video import write_video
    from core.passes import pass_image, resize_frame
    from core.state import RenderSettings
    from core.tracking.sources import open_source

    out = Path(args.out)
    if out.suffix.lower() not in (".mp4", ".gif"):
        raise ValueError(f"{out}: video must be .mp4 or .gif")
    if args.res % 2:
        raise ValueError(f"reenact: --res {args.res} must be even (yuv420p)")
    source = open_source(args.source, args.fps)
    with source:
        if args.side_by_side and not source.has_images:
            raise ValueError(f"{source.name}: --side-by-side needs a source with images (a capture has none)")
        engine = InferenceEngine.from_checkpoint(args.model, args.device)
        base = state_from_args(args, engine)
        base = base.with_(render=RenderSettings(args.res, args.quality, "rgb", base.render.background))
        names = engine.cfg.expression_names
        tracker = None
        if source.has_images:
            from core.tracking.tracker import FaceTracker

            tracker = FaceTracker(names=names, expression_source=args.expression_source)
            if tracker.expression_source != "mesh":
                print("note: expressions are read from dlib's 68 points (jawOpen only; MediaPipe's face mesh "
                      "is not installed or not chosen)", file=sys.stderr)
        else:
            capture = source.capture
            if capture.ignored_columns:
                shown = ", ".join(capture.ignored_columns[:5]) + (" ..." if len(capture.ignored_columns) > 5 else "")
                print(f"warning: {source.name}: ignored {len(capture.ignored_columns)} unknown column(s): {shown}",
                      file=sys.stderr)
            unused = sorted(set(capture.weights) - set(names))
            if unused:
                print(f"note: {len(unused)} ARKit blendshape(s) in the capture have no counterpart in this model",
                      file=sys.stderr)
            if capture.head is None:
                print(f"note: {source.name}: no head rotation columns; the camera stays where it is", file=sys.stderr)

        records, track_ms = [], []
        faces = 0
        calibrated = not args.calibrate
        live = source.frame_count is None
        stop = _StopOnInterrupt(live)

        def frames():
            nonlocal faces, calibrated
            panel_w = None
            for sf in source:
                if stop.requested:
                    break
                landmarks = None
                if tracker is not None:
                    tracked = tracker.process(sf.image, sf.time)
                    track_ms.append(tracked.timings_ms.get("total", 0.0))
                    if not calibrated and tracked.face:
                        calibrated = tracker.calibrate()
                        print(f"calibrated on frame {sf.index}: a neutral face looking straight at the camera",
                              file=sys.stderr)
                    face, pose, expression = tracked.face, tracked.pose, tracked.expression
                    landmarks = tracked.landmarks
                    record = tracked.to_json(sf.index)
                else:
                    face, pose = True, sf.pose
                    expression = Expression.from_dict(sf.weights, names, strict=False)
                    cam = pose or base.camera
                    record = {"frame": sf.index, "face": True, "yaw": round(cam.yaw, 4), "pitch": round(cam.pitch, 4),
                              "roll": round(cam.roll, 4), "expression": {k: round(v, 4) for k, v in expression.to_dict().items()}}
                faces += face
                records.append(record)
                cam = base.camera
                if pose is not None:
                    cam = cam.with_(yaw=pose.yaw, pitch=float(np.clip(pose.pitch, -89.0, 89.0)), roll=pose.roll)
                state = base.with_(camera=cam, expression=expression.with_names(names))
                frame = engine.render(state).frame
                if frame.rgb.shape[0] != args.res:
                    frame = resize_frame(frame, args.res)
                image = pass_image(frame, "rgb", state.render.background)
                if args.side_by_side:
                    if panel_w is None:
                        panel_w = _even(args.res * sf.image.shape[1] / sf.image.shape[0])
                    image = np.concatenate([source_panel(sf.image, args.res, panel_w, landmarks), image], axis=1)
                yield image
            if not faces and records:
                raise CommandError(f"{source.name}: no face found in any of its {len(records)} frames")
            if not records:
                raise CommandError(f"{source.name}: no frames could be read")

        with stop:
            count = write_video(frames(), out, source.fps, source.frame_count)
        if source.stopped_early:
            print(f"warning: {source.stopped_early}; the video holds the {count} frames before that", file=sys.stderr)
        if args.track_json:
            from core.fileio import atomic_write_text

            atomic_write_text(args.track_json, json.dumps({"source": source.name, "fps": source.fps, "frames": records},
                                                          indent=1))
        summary = f"wrote {out}: {count} frames at {source.fps:g} fps"
        if tracker is not None:
            summary += f", a face in {faces}, tracking {np.median(track_ms):.1f} ms a frame (median)"
        print(summary)
    return 0
