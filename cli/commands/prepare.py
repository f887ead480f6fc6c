"""`avatar-studio prepare`: a user's photos and videos -> a labelled training set
(core/dataprep/prepare.py): aligned crops, cameras, SH lighting, expression labels,
masks, quality filters, mirrored copies; resumable; report.json. No --model."""
from __future__ import annotations

NAME = "prepare"
OUTPUT_FOLDERS = ("out",)


def add_parser(sub) -> None:
    from cli.common import number

    p = sub.add_parser(NAME, help="turn photos and videos of one person into a training set (dataset.json + images)")
    p.add_argument("--in", dest="inputs", nargs="+", required=True, metavar="PHOTOS_OR_VIDEOS",
                   help="image or video files, folders of them, or a folder with an EG3D dataset.json")
    p.add_argument("--out", required=True, help="dataset folder (re-run with the same settings to resume)")
    p.add_argument("--res", type=int, choices=(256, 512, 128), default=256, help="crop side in pixels")
    p.add_argument("--every", type=number(int, 1), default=1, help="videos: use every N-th frame")
    p.add_argument("--no-mirror", action="store_true", help="no mirrored copies")
    p.add_argument("--no-masks", action="store_true", help="no foreground masks (passes/*_alpha.png)")
    p.add_argument("--keep-closed-eyes", action="store_true", help="keep frames with both eyes closed")
    p.add_argument("--max-yaw", type=number(float, 0.0, 90.0), default=55.0, help="drop frames turned further (deg)")
    p.add_argument("--min-face", type=number(float, 1.0), default=64.0, help="drop faces narrower than this (px)")


def run(args) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from core.dataprep.prepare import PrepareSettings, prepare, summary_line
    from core.dataprep.quality import QualitySettings

    quality = replace(QualitySettings(), keep_closed_eyes=args.keep_closed_eyes, max_yaw=args.max_yaw,
                      min_face_px=args.min_face)
    settings = PrepareSettings(resolution=args.res, every=args.every, mirror=not args.no_mirror,
                               masks=not args.no_masks, quality=quality)
    bar = tqdm(unit="frame", desc="prepare")

    def progress(done, total, text):
        bar.total = total
        bar.n = done
        bar.set_postfix_str(text[-40:])
        bar.refresh()

    try:
        report = prepare(args.inputs, args.out, settings, progress=progress)
    finally:
        bar.close()
    for warning in report["warnings"]:
        print(f"warning: {warning}")
    print(summary_line(report, args.out))
    return 0
