"""Align a face photo to the model's framing: the crop the training data would show.

The synthetic training images are orbit-camera views (`core.camera.orbit`: radius 2.7,
looking at (0, 0, 0.2), the default focal) of heads of one world scale. So a photo is
framed by finding the similarity transform (scale, in-plane rotation, shift) that puts
its landmarks where the tracker's 68-point template (`core.tracking.face_model`, world
frame) projects under the orbit camera of the face's pose; the pose is estimated on that
crop by the tracker's PnP + refiner, and the two are alternated a few times. The roll of
the head goes into the crop's rotation, so the camera has roll 0 like the training views.

    from core.fitting.align import load_photo, align_photo
    face = align_photo(load_photo("me.jpg"))   # AlignedFace
    face.image, face.camera, face.expression, face.lighting, face.warnings

Errors are `FaceAlignmentError` (a ValueError) with one line: no face, a face too small,
a face turned too far; several faces take the largest and add a warning. `load_photo`
checks a file's size from its header before decoding it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.camera import DEFAULT_FOCAL, orbit
from core.expression import DEFAULT_EXPRESSION_NAMES, Expression
from core.lighting import SphericalHarmonicsLighting
from core.state import OrbitPose

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
MAX_PHOTO_PIXELS = 50_000_000     # 50 MP: a larger image is refused before decoding
MAX_PHOTO_BYTES = 200 * 2 ** 20
MIN_FACE_PX = 40                  # the detector's box width in the photo
MAX_YAW_DEG = 50.0                # beyond this the face is a profile: refused
ALIGN_RESOLUTION = 256
ALIGN_ITERATIONS = 3
# landmarks the framing is fitted to: the nose and the eyes (expressions move them least)
FRAMING_POINTS = tuple(range(27, 48))


class FaceAlignmentError(ValueError):
    """A photo that cannot be fitted; the message is one line meant for the user."""


@dataclass
class AlignedFace:
    image: np.ndarray             # (S, S, 3) float32 in [0, 1]: the crop
    mask: np.ndarray              # (S, S) float32: the person (head, hair, shoulders) in the crop
    landmarks: np.ndarray         # (68, 2) in the crop's pixels (pixel i spans [i, i + 1])
    camera: OrbitPose             # the orbit camera that sees the head as the crop does
    expression: Expression        # the tracker's starting expression
    lighting: SphericalHarmonicsLighting  # the starting SH lighting (sh_estimate)
    transform: np.ndarray         # (2, 3): photo pixels -> crop pixels
    box: tuple                    # the detector's box in the photo (left, top, right, bottom)
    faces_found: int = 1
    reprojection_px: float = 0.0
    warnings: list = field(default_factory=list)
    mesh: np.ndarray | None = None  # (478, 3) MediaPipe's face mesh in the crop's pixels (z likewise), if run

    @property
    def size(self) -> int:
        return int(self.image.shape[0])


def load_photo(path) -> np.ndarray:
    """An RGB photo as float32 (H, W, 3) in [0, 1]. Raises FaceAlignmentError naming the
    file: missing, not a file, an unsupported kind, too large (checked from the header,
    before decoding), corrupt."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise FaceAlignmentError(f"{path}: no such file")
    if not path.is_file():
        raise FaceAlignmentError(f"{path}: not a file")
    if path.suffix.lower() not in PHOTO_SUFFIXES:
        raise FaceAlignmentError(f"{path}: unsupported image type {path.suffix or '(none)'!r}; "
                                 f"use one of {', '.join(PHOTO_SUFFIXES)}")
    if path.stat().st_size > MAX_PHOTO_BYTES:
        raise FaceAlignmentError(f"{path}: file too large ({path.stat().st_size / 2 ** 20:.0f} MB; "
                                 f"at most {MAX_PHOTO_BYTES // 2 ** 20} MB)")
    try:
        with Image.open(path) as im:   # reads the header only
            w, h = im.size
            if w * h > MAX_PHOTO_PIXELS:
                raise FaceAlignmentError(f"{path}: image too large ({w}x{h}; at most "
                                         f"{MAX_PHOTO_PIXELS / 1e6:.0f} megapixels)")
            if w < 16 or h < 16:
                raise FaceAlignmentError(f"{path}: image too small ({w}x{h})")
            im.load()
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except FaceAlignmentError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FaceAlignmentError(f"{path}: not a readable image ({text})") from None
    except Image.DecompressionBombError:
        raise FaceAlignmentError(f"{path}: image too large to decode safely") from None
    return rgb


def _as_float_rgb(image) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise FaceAlignmentError(f"a photo must be an (H, W, 3) image, got shape {img.shape}")
    img = img[..., :3]
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    img = img.astype(np.float32)
    if not np.all(np.isfinite(img)):
        raise FaceAlignmentError("the photo has non-finite pixel values")
    return np.clip(img, 0.0, 1.0)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama) mapping src points (N, 2) onto dst: (2, 3)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    cov = b.T @ a / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ d @ vt
    scale = np.trace(np.diag(s) @ d) / (a ** 2).sum(1).mean()
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = md - m[:, :2] @ ms
    return m


def apply_transform(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def warp_photo(photo: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """The crop: photo pixels -> crop pixels by `m` (engine pixel convention), shrinking
    a large photo with area averaging first so the crop is not aliased."""
    import cv2

    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    img, mm = photo, m.copy()
    if scale < 0.5:
        f = 2.0 * scale   # shrink to twice the crop's density, then warp the rest
        h, w = photo.shape[:2]
        nw, nh = max(1, round(w * f)), max(1, round(h * f))
        img = cv2.resize(photo, (nw, nh), interpolation=cv2.INTER_AREA)
        fx, fy = nw / w, nh / h
        mm[:, 0] /= fx
        mm[:, 1] /= fy
    # cv2 maps pixel centres: x_c = x_e - 0.5 on both sides
    shift = mm[:, :2] @ np.array([0.5, 0.5]) - 0.5
    mc = mm.copy()
    mc[:, 2] = mm[:, 2] + shift
    return cv2.warpAffine(img, mc, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


# the band (a share of the crop, each side of GrabCut's outline) where the person
# segmentation decides; wider bands let its unsure necks (probability ~0.4 on some engine
# heads) cut holes: IoU over white 0.965 at 1/64, 0.956 at 1/20
SEGMENT_REACH = 1 / 64
SEGMENT_THRESHOLD = 0.5


def person_mask(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The head and neck in a crop (S, S) float32 in [0, 1]. GrabCut seeded with the
    face (`grabcut_person_mask`) says which parts are head and neck (the model has no
    shoulders: a photo's clothes are not its to draw); where MediaPipe is installed its
    person segmentation, within a few pixels of that outline, draws it. On the engine's
    heads over a wall: IoU with the true alpha 0.996-0.997, GrabCut alone 0.98-0.99 (it
    takes in the wall beside a turned head; docs/own-data.md); over white the two are
    alike (0.965 on the 8 held-out heads)."""
    import cv2

    mask = grabcut_person_mask(image, landmarks)
    segmenter = _segmenter()
    if segmenter is None:
        return mask
    k = 2 * max(1, round(SEGMENT_REACH * image.shape[0])) + 1
    kernel = np.ones((k, k), np.uint8)
    inside = (mask > 0.5).astype(np.uint8)
    near = cv2.dilate(inside, kernel) > 0          # the band around GrabCut's outline and what it holds
    core = cv2.erode(inside, kernel) > 0           # GrabCut's mask away from its outline: kept
    person = segmenter(image) > SEGMENT_THRESHOLD
    return cv2.GaussianBlur((core | (person & near)).astype(np.float32), (3, 3), 0)


def grabcut_person_mask(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The person in a crop (S, S) float32 in [0, 1], by GrabCut seeded with the face:
    the skin hull is foreground, an ellipse around the head probable foreground, the
    border background."""
    import cv2

    from core.fitting.sh_estimate import skin_mask

    s = image.shape[0]
    pts = np.asarray(landmarks, np.float64)
    eye = np.linalg.norm(pts[45] - pts[36])
    centre = pts[27:48].mean(0)
    seed = np.full((s, s), cv2.GC_PR_BGD, np.uint8)
    # the head with its hair: measured on engine heads, a 1.6 x 2.1 eye-distance ellipse cut
    # the top corners of fuller hair off
    cv2.ellipse(seed, (int(centre[0]), int(centre[1] - 0.6 * eye)), (int(1.85 * eye), int(2.45 * eye)), 0, 0, 360,
                int(cv2.GC_PR_FGD), -1)
    # the neck below the jaw: a portrait's person goes on past the crop's bottom edge, so
    # that edge is not background (it was, and the mask stopped at the chin; pivotal
    # tuning then learnt to erase the neck)
    jaw = pts[4:13]
    left, right = np.percentile(jaw[:, 0], 15), np.percentile(jaw[:, 0], 85)
    seed[int(pts[8, 1]):, int(left):int(right) + 1] = cv2.GC_PR_FGD
    seed[skin_mask(pts, s)] = cv2.GC_FGD
    # the crop's border is background, except where the neck runs off its bottom edge,
    # and only probably so where the head's ellipse meets the top edge (hair cut by it,
    # seeded as background, taught GrabCut that the hair is background; seeded as
    # foreground, a real photo's wall got in)
    b = max(2, s // 64)
    neck_edge = seed[-b:] == cv2.GC_PR_FGD
    head_edge = seed[:b] == cv2.GC_PR_FGD
    seed[:b], seed[-b:], seed[:, :b], seed[:, -b:] = (cv2.GC_BGD,) * 4
    seed[-b:][neck_edge] = cv2.GC_PR_FGD
    seed[:b][head_edge] = cv2.GC_PR_BGD
    img8 = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    try:
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.grabCut(img8[..., ::-1].copy(), seed, None, bgd, fgd, 4, cv2.GC_INIT_WITH_MASK)
        mask = np.isin(seed, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    except cv2.error:
        mask = np.isin(seed, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    # the eyes, brows and mouth are the person too, whatever their colour
    hull = cv2.convexHull(np.round(pts).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1.0)
    return cv2.GaussianBlur(mask, (3, 3), 0)


_DETECTOR = None
_FACE_MODEL = None
_MESH = None   # (FaceMesh, MeshExpressionModel) where MediaPipe is installed, else False
_SEGMENTER = None   # PersonSegmenter where MediaPipe is installed, else False


def _tools():
    global _DETECTOR, _FACE_MODEL
    if _DETECTOR is None:
        from core.tracking.landmarks import DlibFaceLandmarks

        _DETECTOR = DlibFaceLandmarks()
    if _FACE_MODEL is None:
        from core.tracking.face_model import FaceModel

        _FACE_MODEL = FaceModel.load()
    return _DETECTOR, _FACE_MODEL


def _mesh_tools():
    """The tracker's face-mesh expression reader, or None where it cannot run."""
    global _MESH
    if _MESH is None:
        from core.tracking.mesh import load_expression_mesh

        mesh, model = load_expression_mesh("auto")
        _MESH = (mesh, model) if mesh is not None else False
    return _MESH or None


def _segmenter():
    global _SEGMENTER
    if _SEGMENTER is None:
        from core.tracking.mesh import load_person_segmenter

        _SEGMENTER = load_person_segmenter() or False
    return _SEGMENTER or None


def align_photo(image, resolution: int = ALIGN_RESOLUTION, expression_names=DEFAULT_EXPRESSION_NAMES,
                estimate_lighting: bool = True, detect_fallback: bool = False) -> AlignedFace:
    """Detect the largest face of an RGB photo (uint8, or float in [0, 1]) and frame it as
    the training data is framed: see the module's docstring. `detect_fallback`: where
    dlib's HOG detector finds no face, try its CNN detector (it finds turned faces HOG
    misses, and profiles too: callers that use it must filter by the estimated yaw)."""
    from core.fitting.sh_estimate import estimate_sh
    from core.tracking.landmarks import to_gray

    photo = _as_float_rgb(image)
    crop_mesh = None
    detector, face_model = _tools()
    gray = to_gray(photo)
    boxes = detector.detect(gray, fallback=detect_fallback)
    boxes = [b for b in boxes if b.score > 0.0] or boxes
    if not boxes:
        raise FaceAlignmentError("no face found in the photo")
    warnings = []
    box = max(boxes, key=lambda b: b.area())
    if len(boxes) > 1:
        warnings.append(f"{len(boxes)} faces found; using the largest ({box.width:.0f} px wide)")
    if box.width < MIN_FACE_PX:
        raise FaceAlignmentError(f"the face is too small ({box.width:.0f} px wide; at least {MIN_FACE_PX} px needed)")
    points = detector.landmarks(gray, box)
    template = face_model.template
    idx = list(FRAMING_POINTS)
    yaw = pitch = 0.0
    estimate = None
    for _ in range(ALIGN_ITERATIONS):
        target = orbit(yaw, pitch).project(template, resolution, resolution)
        m = similarity(points[idx], target[idx])
        crop_points = apply_transform(m, points)
        estimate = face_model.estimate(crop_points, resolution, resolution, DEFAULT_FOCAL)
        yaw, pitch = float(estimate.pose.yaw), float(estimate.pose.pitch)
        if abs(yaw) > MAX_YAW_DEG:
            raise FaceAlignmentError(f"the face is turned too far to the side (yaw {yaw:.0f} deg; "
                                     f"at most {MAX_YAW_DEG:.0f} deg): use a more frontal photo")
        pitch = float(np.clip(pitch, -35.0, 35.0))
    target = orbit(yaw, pitch).project(template, resolution, resolution)
    m = similarity(points[idx], target[idx])
    crop_points = apply_transform(m, points)
    crop = warp_photo(photo, m, resolution)
    if np.sqrt(abs(np.linalg.det(m[:, :2]))) > 8.0:
        warnings.append("the face is small in the photo: the fit will be blurry")
    weights = dict(zip(face_model.names, (float(v) for v in estimate.weights)))
    mesh_tools = _mesh_tools()
    if mesh_tools is not None:   # the face mesh reads lids, brows and lip corners dlib's points miss
        from core.tracking.landmarks import landmark_frame

        mesh = mesh_tools[0].points(photo, *landmark_frame(points))
        if mesh is not None:
            weights = dict(zip(mesh_tools[1].names, (float(v) for v in mesh_tools[1].estimate(mesh))))
            # into the crop: x, y by the framing, depth by its scale
            crop_mesh = np.concatenate([apply_transform(m, mesh[:, :2]),
                                        mesh[:, 2:] * np.sqrt(abs(np.linalg.det(m[:, :2])))], 1)
    expression = Expression.from_dict(weights, expression_names, strict=False)
    camera = OrbitPose(yaw=yaw, pitch=pitch)
    mask = person_mask(crop, crop_points)
    lighting = SphericalHarmonicsLighting.preset("studio")
    if estimate_lighting:
        try:
            # the ellipsoid: on single held-out photos it starts the fit as well as the mesh does
            # (prepare's video labels use the mesh: core/dataprep/prepare.py)
            lighting = SphericalHarmonicsLighting(estimate_sh(crop, camera.to_camera(), crop_points, template,
                                                              mask=mask > 0.5))
        except ValueError as e:
            warnings.append(f"lighting not estimated ({e}); starting from the studio preset")
    reproj = float(np.sqrt(np.mean(np.sum((crop_points[idx] - target[idx]) ** 2, axis=1))))
    return AlignedFace(crop.astype(np.float32), mask.astype(np.float32), crop_points, camera, expression, lighting,
                       m, (box.left, box.top, box.right, box.bottom), len(boxes), reproj, warnings, crop_mesh)
