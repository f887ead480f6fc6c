"""Photos and videos -> a labelled training set in the project's dataset format.

Per frame (every image; every N-th frame of a video):
  detection (dlib's HOG, its CNN where HOG finds none) + 68 landmarks + alignment (the
  crop framed like the training data, the orbit camera of the head's pose, the
  tracker's expression, a head-and-neck mask: `core.fitting.align.align_photo`), the SH
  lighting fitted to the face's shading on its MediaPipe mesh
  -> quality filters (`core.dataprep.quality`) -> images/KEY.png, passes/KEY_alpha.png,
  and the mirrored copy images/KEY_mirror.png (`core.dataprep.mirror`)
  -> parts/KEY.json (the frame's labels, or why it was dropped), written last.
At the end (and after a cancel) the parts are merged into dataset.json: EG3D's
{"labels": [[file, 25 floats]]} plus our keys "sh", "expression", "landmarks",
"identity" (one person: 0), "mirror_of", "source"; report.json says what was kept and
dropped and why.

A re-run with the same settings skips every frame whose part exists (resume after a
cancel, a crash or a full disk). A folder holding an EG3D dataset.json is read as is:
its images are taken as already aligned and its camera labels are kept; prepare adds
the SH, expression, landmark and mask labels (and no mirrors: EG3D sets carry theirs).
"""
from __future__ import annotations

import errno
import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.dataprep.mirror import mirror_sample
from core.dataprep.quality import (
    EXTREME_POSE, NO_FACE, REASONS, SEVERAL_FACES, TOO_SMALL, UNREADABLE, QualitySettings, check_aligned,
)
from core.expression import DEFAULT_EXPRESSION_NAMES

DATASET_FORMAT = "avatar-studio/prepared"
SETTINGS_FILE = "prepare.json"
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".gif"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
ALIGN_FAILED = "alignment failed"
DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


class PrepareError(ValueError):
    """Bad input or a failure that stops prepare: one line naming the file and the problem."""


@dataclass(frozen=True)
class PrepareSettings:
    resolution: int = 256
    every: int = 1                   # video: every N-th frame
    mirror: bool = True
    masks: bool = True
    quality: QualitySettings = field(default_factory=QualitySettings)

    def to_json(self) -> dict:
        d = asdict(self)
        d["format"] = DATASET_FORMAT
        return d


@dataclass(frozen=True)
class InputItem:
    kind: str        # image | video | eg3d
    path: Path
    key: str         # stable name prefix of its samples
    label: list | None = None   # eg3d: the dataset's camera label


def _key(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", path.stem).strip("-")[:40] or "input"
    return f"{stem}-{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:6]}"


def list_inputs(paths) -> tuple[list[InputItem], list[tuple[str, str]]]:
    """The images and videos under `paths` (files or folders, not recursive), and the
    files skipped with why. A folder with a dataset.json is an EG3D dataset."""
    items, skipped = [], []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise PrepareError(f"{path}: no such file or folder")
        if path.is_dir():
            if (path / "dataset.json").exists():
                items += _eg3d_items(path)
                continue
            files = sorted((p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")),
                           key=lambda p: [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)])
        else:
            files = [path]
        for p in files:
            suffix = p.suffix.lower()
            if suffix in IMAGE_SUFFIXES:
                items.append(InputItem("image", p, _key(p)))
            elif suffix in VIDEO_SUFFIXES:
                items.append(InputItem("video", p, _key(p)))
            elif path.is_dir():
                skipped.append((str(p), "not an image or video"))
            else:  # a file named on its own: try it as a video (ffmpeg knows many more kinds)
                items.append(InputItem("video", p, _key(p)))
    return items, skipped


def _eg3d_items(folder: Path) -> list[InputItem]:
    from core.camera import Camera

    meta_path = folder / "dataset.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise PrepareError(f"{meta_path}: not readable JSON ({str(e).splitlines()[0]})") from None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    if not labels:
        raise PrepareError(f"{meta_path}: no labels (expected EG3D's {{\"labels\": [[file, 25 floats], ...]}})")
    items = []
    for entry in labels:
        if not (isinstance(entry, list) and len(entry) == 2):
            raise PrepareError(f"{meta_path}: a label must be [file, 25 floats], got {str(entry)[:60]}")
        name, label = entry
        try:
            Camera.from_label(label)
        except (ValueError, TypeError) as e:
            raise PrepareError(f"{meta_path}: label of {name}: {e}") from None
        p = folder / name
        items.append(InputItem("eg3d", p, _key(p), [float(v) for v in label]))
    return items


def check_output_folder(out: Path, settings: PrepareSettings) -> None:
    """Refuse a folder that holds something else, or a prepared set made with other settings."""
    mine = settings.to_json()
    path = out / SETTINGS_FILE
    if path.exists():
        try:
            theirs = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            raise PrepareError(f"{path}: unreadable; use another --out") from None
        if theirs != json.loads(json.dumps(mine)):
            differing = sorted(k for k in set(theirs) | set(mine) if theirs.get(k) != json.loads(json.dumps(mine)).get(k))
            raise PrepareError(f"{out}: holds a prepared set made with other settings ({', '.join(differing)}); "
                               "use another --out or the same settings")
    elif (out / "dataset.json").exists():
        raise PrepareError(f"{out / 'dataset.json'}: not written by prepare; use another --out")


# -- the frames ------------------------------------------------------------------------------
def _frames(item: InputItem, every: int, warnings: list):
    """(index, image uint8 RGB or None, why unreadable) of the frames to look at."""
    if item.kind in ("image", "eg3d"):
        from core.fitting.align import FaceAlignmentError, load_photo

        try:
            yield 0, load_photo(item.path), None
        except FaceAlignmentError as e:
            yield 0, None, str(e)
        return
    from core.tracking.sources import SourceError, VideoFileSource

    try:
        source = VideoFileSource(item.path)
    except SourceError as e:
        warnings.append(str(e))
        yield -1, None, str(e)
        return
    try:
        for frame in source:
            if frame.index % every == 0:
                yield frame.index, frame.image, None
    finally:
        source.close()
    if source.stopped_early:
        warnings.append(f"{source.stopped_early}; the frames before it were used")


def count_frames(item: InputItem, every: int) -> int:
    if item.kind != "video":
        return 1
    from core.tracking.sources import SourceError, VideoFileSource

    try:
        source = VideoFileSource(item.path)
    except SourceError:
        return 1
    n = source.frame_count
    source.close()
    return max(1, -(-n // every))


def frame_key(item: InputItem, index: int) -> str:
    return item.key if item.kind != "video" else f"{item.key}_f{index:06d}"


def process_frame(image, settings: PrepareSettings, given_label=None) -> tuple[dict | None, str | None, dict]:
    """Align and check one frame: (sample or None, drop reason or None, measured values).
    A sample holds "image" (S, S, 3) uint8, "mask" (S, S) float or None, and the labels
    "camera", "sh", "expression", "landmarks"."""
    from core.camera import Camera
    from core.fitting.align import FaceAlignmentError, align_photo
    from core.tracking.landmarks import to_gray

    from core.state import OrbitPose
    from core.tracking.pose import orbit_angles_from_rotation

    try:
        # the CNN fallback finds the turned frames HOG misses (yaw -33 to -12 deg on the test
        # video); profiles it also finds are dropped by the extreme-pose check below
        face = align_photo(image, settings.resolution, detect_fallback=True)
    except FaceAlignmentError as e:
        text = str(e)
        reason = NO_FACE if "no face" in text else TOO_SMALL if "too small" in text else \
            EXTREME_POSE if "turned too far" in text else ALIGN_FAILED
        return None, reason, {"message": text}
    if face.faces_found > 1:
        return None, SEVERAL_FACES, {"faces": face.faces_found}
    box_width = float(face.box[2] - face.box[0])
    if box_width < settings.quality.min_face_px:
        return None, TOO_SMALL, {"face_px": round(box_width, 1)}
    crop = (np.clip(face.image, 0, 1) * 255 + 0.5).astype(np.uint8)
    pose = face.camera
    if given_label is not None:  # an EG3D set: its camera is kept as is
        camera = Camera.from_label(given_label)
        angles = orbit_angles_from_rotation(camera.cam2world[:3, :3])
        pose = OrbitPose(angles.yaw, float(np.clip(angles.pitch, -89, 89)))
    upscale = float(np.sqrt(abs(np.linalg.det(face.transform[:, :2]))))
    reason, values = check_aligned(pose, to_gray(crop), face.landmarks, _outside(image, face.transform, crop.shape[0]),
                                   settings.quality, upscale)
    values.update(yaw=round(float(pose.yaw), 2), pitch=round(float(pose.pitch), 2))
    if reason:
        return None, reason, values
    # the SH label: fitted on MediaPipe's mesh of the face where it ran (its own surface, solved
    # robustly: 13.3 -> 9.5 % irradiance error on the test video, 12.4 -> 9.0 % on a second head;
    # docs/own-data.md), else on the tracker template's ellipsoid (what the alignment estimated)
    from core.fitting.align import _tools
    from core.fitting.sh_estimate import estimate_sh, estimate_sh_mesh

    sh = face.lighting.coeffs
    camera = Camera.from_label(given_label) if given_label is not None else face.camera.to_camera()
    try:
        if face.mesh is not None:
            sh = estimate_sh_mesh(face.image, camera, face.landmarks, face.mesh, mask=face.mask > 0.5)
        elif given_label is not None:
            sh = estimate_sh(face.image, camera, face.landmarks, _tools()[1].template, mask=face.mask > 0.5)
    except ValueError:
        pass
    label = given_label if given_label is not None else camera.to_label()
    sample = {"image": crop, "mask": face.mask if settings.masks else None,
              "camera": [float(v) for v in label], "sh": [float(v) for v in np.asarray(sh).reshape(-1)],
              "expression": {k: round(float(v), 5) for k, v in face.expression.to_dict().items()},
              "landmarks": [[float(x), float(y)] for x, y in face.landmarks]}
    return sample, None, values


def _outside(image, transform: np.ndarray, size: int) -> float:
    """Share of the crop whose source pixels lie outside the image (filled by the border)."""
    h, w = np.asarray(image).shape[:2]
    inv = np.linalg.inv(np.vstack([transform, [0, 0, 1]]))
    n = 32
    g = (np.arange(n) + 0.5) * size / n
    xs, ys = np.meshgrid(g, g)
    pts = np.stack([xs.ravel(), ys.ravel(), np.ones(n * n)])
    src = inv[:2] @ pts
    inside = (src[0] >= 0) & (src[0] <= w) & (src[1] >= 0) & (src[1] <= h)
    return float(1.0 - inside.mean())


def _write_sample(out: Path, name: str, sample: dict) -> None:
    from core.fileio import save_png, to_uint8

    save_png(out / "images" / f"{name}.png", sample["image"])
    if sample.get("mask") is not None:
        save_png(out / "passes" / f"{name}_alpha.png", to_uint8(sample["mask"]))


def _labels_of(sample: dict) -> dict:
    return {k: sample[k] for k in ("camera", "sh", "expression", "landmarks")}


# -- the run -----------------------------------------------------------------------------
def prepare(paths, out, settings: PrepareSettings = PrepareSettings(), progress=None, cancel=None,
            preview=None) -> dict:
    """Prepare (or resume) a dataset in `out` from `paths`; returns the report.
    progress(done, total, text), cancel() -> bool and preview(crop uint8) are optional
    callbacks (a progress bar, a studio job). Raises PrepareError with one line on bad
    input, a full disk, or no usable frame at all."""
    if settings.resolution not in (128, 256, 512):
        raise PrepareError(f"--res {settings.resolution}: use 128, 256 or 512")
    if settings.every < 1:
        raise PrepareError(f"--every {settings.every}: must be at least 1")
    out = Path(out)
    items, skipped = list_inputs(paths)
    if not items:
        where = ", ".join(str(p) for p in paths)
        raise PrepareError(f"{where}: no images or videos found" + (f" ({len(skipped)} other files)" if skipped else ""))
    if out.exists() and not out.is_dir():
        raise PrepareError(f"{out}: exists and is not a folder")
    check_output_folder(out, settings)
    start = time.time()
    warnings: list[str] = []
    try:
        (out / "parts").mkdir(parents=True, exist_ok=True)
        from core.fileio import atomic_write_text

        atomic_write_text(out / SETTINGS_FILE, json.dumps(settings.to_json(), indent=1))
    except OSError as e:
        raise PrepareError(f"{out}: cannot write there ({e.strerror or e})") from None
    total = sum(count_frames(it, settings.every) for it in items)
    done = processed = 0
    cancelled = False
    try:
        for item in items:
            for index, image, unreadable in _frames(item, settings.every, warnings):
                if cancel is not None and cancel():
                    cancelled = True
                    break
                key = frame_key(item, max(index, 0))
                part = out / "parts" / f"{key}.json"
                if part.exists():
                    done += 1
                    if progress:
                        progress(done, total, f"{key}: done before")
                    continue
                record = {"source": str(item.path), "frame": index, "kind": item.kind}
                if image is None:
                    record.update(kept=False, reason=UNREADABLE, values={"message": unreadable})
                else:
                    sample, reason, values = process_frame(image, settings, item.label)
                    record["values"] = values
                    if sample is None:
                        record.update(kept=False, reason=reason)
                    else:
                        samples = {key: _labels_of(sample)}
                        _write_sample(out, key, sample)
                        if settings.mirror and item.kind != "eg3d":
                            labels, img, mask = mirror_sample(_labels_of(sample), sample["image"], sample["mask"])
                            _write_sample(out, f"{key}_mirror", {**labels, "image": img, "mask": mask})
                            samples[f"{key}_mirror"] = labels
                        record.update(kept=True, samples=samples)
                        if preview is not None:
                            preview(sample["image"])
                atomic_write_text(part, json.dumps(record))
                processed += 1
                done += 1
                if progress:
                    progress(done, total, f"{key}: {'kept' if record['kept'] else record['reason']}")
            if cancelled:
                break
    except OSError as e:
        if e.errno in DISK_FULL_ERRNOS:
            raise PrepareError(f"{out}: disk full after {processed} new frames ({e.strerror}); free some space "
                               "and run the same command again to resume") from None
        raise PrepareError(f"{out}: cannot write ({e.strerror or e})") from None
    report = merge(out, items, skipped, warnings, time.time() - start, cancelled)
    if not report["kept_frames"] and not cancelled:
        reasons = ", ".join(f"{n} {r}" for r, n in report["dropped"].items()) or "nothing readable"
        raise PrepareError(f"{', '.join(str(p) for p in paths)}: no usable face in any of "
                           f"{report['frames']} frames ({reasons})")
    return report


def merge(out: Path, items, skipped, warnings, seconds: float, cancelled: bool = False) -> dict:
    """dataset.json and report.json from the part files of `items` (in input order)."""
    from core.fileio import atomic_write_text

    meta = {"labels": [], "sh": {}, "expression": {}, "landmarks": {}, "identity": {}, "mirror_of": {}, "source": {}}
    dropped: dict[str, int] = {}
    per_source: dict[str, dict] = {}
    frames = kept = 0
    keys = set()
    for part in sorted((out / "parts").glob("*.json")):
        keys.add(part.stem)
    item_prefixes = {it.key for it in items}
    for part in sorted((out / "parts").glob("*.json")):
        if not any(part.stem == p or part.stem.startswith(p + "_f") for p in item_prefixes):
            continue  # a frame of an input not given this time
        try:
            record = json.loads(part.read_text())
        except (OSError, json.JSONDecodeError):
            part.unlink(missing_ok=True)  # a damaged part: the frame is redone next time
            continue
        frames += 1
        src = per_source.setdefault(record["source"], {"frames": 0, "kept": 0})
        src["frames"] += 1
        if not record.get("kept"):
            dropped[record["reason"]] = dropped.get(record["reason"], 0) + 1
            continue
        kept += 1
        src["kept"] += 1
        first = None
        for name, labels in record["samples"].items():
            rel = f"images/{name}.png"
            meta["labels"].append([rel, labels["camera"]])
            meta["sh"][rel] = labels["sh"]
            meta["expression"][rel] = labels["expression"]
            meta["landmarks"][rel] = labels["landmarks"]
            meta["identity"][rel] = 0
            meta["source"][rel] = [record["source"], record["frame"]]
            if first is None:
                first = rel
            else:
                meta["mirror_of"][rel] = first
    meta["format"] = DATASET_FORMAT
    meta["expression_names"] = list(DEFAULT_EXPRESSION_NAMES)
    meta["prepare"] = json.loads((out / SETTINGS_FILE).read_text())
    if meta["labels"]:
        atomic_write_text(out / "dataset.json", json.dumps(meta))
    dropped = {r: dropped[r] for r in list(REASONS) + [ALIGN_FAILED] if r in dropped}
    report = {"frames": frames, "kept_frames": kept, "samples": len(meta["labels"]), "dropped": dropped,
              "skipped_files": [{"file": f, "reason": r} for f, r in skipped], "warnings": warnings,
              "per_source": per_source, "seconds": round(seconds, 1), "cancelled": cancelled,
              "dataset": str(out / "dataset.json") if meta["labels"] else None}
    atomic_write_text(out / "report.json", json.dumps(report, indent=1))
    return report


def summary_line(report: dict, out) -> str:
    drops = ", ".join(f"{n} {r}" for r, n in report["dropped"].items()) or "none"
    text = (f"prepare: kept {report['kept_frames']} of {report['frames']} frames ({report['samples']} samples"
            f"{' with mirrors' if report['samples'] > report['kept_frames'] else ''}); dropped: {drops}")
    if report["skipped_files"]:
        text += f"; {len(report['skipped_files'])} files skipped (not images or videos)"
    if report["warnings"]:
        text += f"; {len(report['warnings'])} warnings"
    if report["cancelled"]:
        text += "; cancelled (run again to resume)"
    return text + f"; {Path(out) / 'report.json'}"
