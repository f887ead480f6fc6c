"""A parametric human head, built in code: skin (head, face, neck, scalp) on a
(row, column) grid around the vertical axis, plus eyeballs and ears as separate parts.

The skin grid makes features easy to place and expressions easy to write: every vertex
has rest coordinates (s, y) on the face (s = arc length from the midline, metres-like
scene units, + to the subject's left = world +x), which also carry the painted albedo,
so colours stick to the skin when it moves. The mouth is a seam of rows that have no
height at rest and open into a recessed cavity (teeth, tongue) when the jaw drops;
the eyelids are the edge of a recessed almond whose height follows eye openness.
World: y up, the face looks along +z, the head spans roughly y in [-0.5, 0.3].
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.expression import Expression
from training.synth.identity import HeadIdentity

N_COLS = 256
S_SCALE = 0.15  # arc length per radian of column angle near the face
SEAM_ROWS = 10
PART_SKIN, PART_EYE, PART_EAR = 0, 1, 2
# brows: centred this far inwards of their eye (negative: outwards), this long either side of their centre
BROW_OFFSET, BROW_HALF_LENGTH = -0.003, 0.05


def smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def gauss(x, sigma):
    return np.exp(-0.5 * (x / sigma) ** 2)


def smooth_max(a, b, k):
    h = np.clip(0.5 + 0.5 * (a - b) / k, 0.0, 1.0)
    return b + (a - b) * h + k * h * (1 - h)


@dataclass
class HeadMesh:
    vertices: np.ndarray   # (V, 3) float32
    faces: np.ndarray      # (F, 3) int32
    albedo: np.ndarray     # (V, 3) display-referred colour in [0, 1]
    specular: np.ndarray   # (V,) specular strength
    part: np.ndarray       # (V,) PART_*
    layout: "HeadLayout"

    vertex_normals: np.ndarray | None = None  # skin grid normals that override the mesh's own

    def normals(self) -> np.ndarray:
        """Unit vertex normals (area-weighted), computed once per mesh."""
        if getattr(self, "_normals", None) is None:
            n = self._face_normals()
            if self.vertex_normals is not None:
                k = self.vertex_normals.reshape(-1, 3)
                n[: len(k)] = k
            self._normals = n
        return self._normals

    def _face_normals(self) -> np.ndarray:
        v, f = self.vertices.astype(np.float64), self.faces
        fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
        n = np.zeros_like(v)
        for axis in range(3):
            weights = np.repeat(fn[:, axis], 3)
            n[:, axis] = np.bincount(f.reshape(-1), weights=weights, minlength=len(v))
        return (n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def to_trimesh(self):
        import trimesh

        colors = np.concatenate([np.clip(self.albedo, 0, 1) * 255, np.full((len(self.albedo), 1), 255)], 1)
        return trimesh.Trimesh(self.vertices, self.faces, vertex_colors=colors.astype(np.uint8), process=False)


class HeadLayout:
    """Where the features of one identity are (rest pose), in (s, y) face coordinates."""

    def __init__(self, ident: HeadIdentity):
        s = ident.s
        self.ident = ident
        self.y_top = 0.29 + 0.02 * s("head_height")
        self.y_brow = 0.082 + 0.006 * s("eye_height")
        self.y_eye = 0.045 + 0.008 * s("eye_height")
        self.s_eye = 0.062 + 0.005 * s("eye_spacing")
        self.eye_w = 0.025 * (1 + 0.1 * s("eye_size"))
        self.eye_h_up = 0.0105 * (1 + 0.2 * s("eye_size"))
        self.eye_h_lo = 0.0075 * (1 + 0.15 * s("eye_size"))
        self.eye_radius = 0.026 * (1 + 0.05 * s("eye_size"))
        self.eye_tilt = 0.12 * s("eye_tilt")
        self.y_nose_tip = -0.047 - 0.014 * s("nose_length")
        self.y_nose_base = self.y_nose_tip - 0.014
        self.y_seam = -0.094 - 0.01 * s("nose_length") - 0.004 * s("face_length")
        self.mouth_w = 0.05 * (1 + 0.1 * s("mouth_width"))
        self.y_chin = -0.188 - 0.016 * s("chin_height") - 0.01 * s("face_length")
        self.y_bottom = -0.5
        # rows: scalp cap (by polar angle), face to the mouth seam, seam, lower face, neck
        yc, h = 0.05, self.y_top - 0.05
        theta = np.linspace(0.0, math.acos((0.14 - yc) / h), 60)
        cap = yc + h * np.cos(theta)
        face = np.linspace(0.14, self.y_seam, 170)[1:]
        seam = np.full(SEAM_ROWS, self.y_seam)
        lower = np.linspace(self.y_seam, -0.25, 75)  # its first row is the lower lip edge
        neck = np.linspace(-0.25, self.y_bottom, 24)[1:]
        self.row_y = np.concatenate([cap, face, seam, lower, neck])
        self.seam_top = len(cap) + len(face) - 1  # last row above the seam (upper lip edge)
        self.seam_bottom = self.seam_top + SEAM_ROWS + 1  # first row of the lower lip
        self.n_rows = len(self.row_y)
        self.col_u = np.linspace(-math.pi, math.pi, N_COLS, endpoint=False)

    # (s, y) <-> fractional (row, column) grid coordinates, for landmarks
    def grid_coords(self, s, y, below_seam=False):
        u = s / S_SCALE
        col = (u + math.pi) / (2 * math.pi) * N_COLS
        ry = self.row_y
        if below_seam:
            rows = np.arange(self.seam_bottom, self.n_rows)
        else:
            rows = np.arange(0, self.seam_top + 1)
        ys = ry[rows]
        # ys is decreasing: interpolate on the reversed arrays
        r = np.interp(-np.asarray(y), -ys, rows.astype(np.float64))
        return r, col

    def brow_arch(self, side: int, s_rel):
        """Height of the middle of a brow at offsets s_rel from its eye's centre: highest
        a little outside the centre, the tail ending near the height of the head."""
        return (self.y_brow + 0.004 - 5.0 * (np.abs(s_rel) + 0.004) ** 2
                + 0.004 * np.clip(-side * s_rel / 0.03, -1, 1))

    def mouth_taper(self, s):
        """1 in the middle of the mouth falling to 0 at its corners (an ellipse's profile):
        the lips' height, and how far the jaw parts them."""
        return np.clip(1 - (np.abs(s) / self.mouth_w) ** 2, 0, 1) ** 0.5

    def lip_heights(self, s):
        """(upper, lower) heights of the lips' outer (vermilion) border above and below the
        mouth seam at arc position s: a Cupid's bow on top, tapering to the corners."""
        ax = np.abs(s)
        taper = self.mouth_taper(s)
        bow = 0.011 + 0.003 * np.exp(-((ax - 0.3 * self.mouth_w) / (0.25 * self.mouth_w)) ** 2) - 0.002 * gauss(s, 0.004)
        return bow * taper, 0.016 * taper

    def eyelids(self, side: int, openness: float, s_rel):
        """Upper and lower lid heights at offsets s_rel from the eye centre."""
        f = np.clip(1 - (s_rel / self.eye_w) ** 2, 0, 1) ** 0.7
        y_c = self.y_eye - 0.3 * self.eye_h_lo + self.eye_tilt * s_rel * 0.25
        upper = y_c + (self.eye_h_up + 0.3 * self.eye_h_lo) * openness * f
        lower = y_c - 0.7 * self.eye_h_lo * openness * f
        return upper, lower


def _ellipsoid_radius(u, y, centre, semi, power=2.0):
    """Distance from the vertical axis (x = z = 0) to an ellipsoid, along direction u.
    power > 2 makes the vertical profile boxier (a jaw with a flat underside)."""
    cy, cz = centre
    ax, hy, bz = semi
    s2 = 1 - np.abs((y - cy) / hy) ** power
    ok = s2 > 1e-6
    sq = np.clip(s2, 1e-6, None) ** (1.0 / power)
    a, b = ax * sq, bz * sq
    su, cu = np.sin(u), np.cos(u)
    z0 = -cz
    qa = (su / a) ** 2 + (cu / b) ** 2
    qb = 2 * z0 * cu / b ** 2
    qc = z0 ** 2 / b ** 2 - 1
    disc = qb ** 2 - 4 * qa * qc
    t = (-qb + np.sqrt(np.clip(disc, 0, None))) / (2 * qa)
    return np.where(ok & (disc > 0) & (t > 0), t, 0.0)


def _weights(expression: Expression | None) -> dict:
    return expression.to_dict() if expression is not None else {}


def _skin_radius(L: HeadLayout, U, Y, S):
    """Rest distance from the axis for every grid vertex: a soft union of cranium, face,
    jaw and neck ellipsoids, then the features as bumps and dents."""
    i = L.ident
    s = i.s
    w, d = 1 + 0.06 * s("head_width"), 1 + 0.06 * s("head_depth")  # height: layout.y_top
    cranium = _ellipsoid_radius(U, Y, (0.05, -0.025), (0.152 * w, (L.y_top - 0.05), 0.195 * d))
    face_len = 1 + 0.06 * s("face_length")
    face_bottom = L.y_chin + 0.015
    face = _ellipsoid_radius(U, Y, (0.5 * (0.12 + face_bottom), 0.04),
                             (0.128 * (1 + 0.07 * s("jaw_width")), 0.5 * (0.12 - face_bottom) * face_len, 0.15), 2.6)
    jaw = _ellipsoid_radius(U, Y, (L.y_chin + 0.055, 0.065 + 0.006 * s("chin_protrusion")),
                            (0.07 * (1 + 0.12 * s("chin_width")) + 0.03 * (1 + 0.3 * s("jaw_angle")), 0.058, 0.105), 2.3)
    neck_r = 0.1 * (1 + 0.1 * s("neck_width"))
    neck = np.where(Y < -0.1, _ellipsoid_radius(U, np.full_like(Y, 0.0), (0.0, -0.035), (neck_r, 1.0, neck_r * 1.1)), 0.0)
    neck = neck * smoothstep(-0.06, -0.16, Y)
    r = smooth_max(cranium, face, 0.025)
    r = smooth_max(r, jaw, 0.02)
    r = smooth_max(r, neck, 0.03)

    front = np.clip(np.cos(U), 0, 1) ** 2  # features live on the front
    ax = np.abs(S)
    # forehead slope and brow ridge
    r += 0.01 * s("forehead_slope") * smoothstep(L.y_brow, L.y_brow + 0.12, Y) * front
    r += (0.006 + 0.004 * s("brow_ridge")) * gauss(Y - L.y_brow, 0.012) * gauss(ax - 0.06, 0.04) * front
    # temples in, cheekbones out, fuller cheeks
    r -= (0.006 - 0.003 * s("temple_width")) * gauss(Y - (L.y_eye + 0.035), 0.03) * gauss(ax - 0.13, 0.03)
    r += (0.008 + 0.004 * s("cheekbone_width")) * gauss(Y - (L.y_eye - 0.04 + 0.01 * s("cheekbone_height")), 0.02) * gauss(ax - 0.1, 0.028)
    r += 0.006 * (1 + s("cheek_fullness")) * gauss(Y - (L.y_seam + 0.01), 0.03) * gauss(ax - 0.085, 0.028)
    # eye sockets: a dent around each eye, lids bulge over the eyeball
    for side in (-1, 1):
        ds, dy = S - side * L.s_eye, Y - L.y_eye
        r -= 0.014 * gauss(ds, 0.03) * gauss(dy, 0.02)
        r += 0.011 * gauss(ds, L.eye_w * 0.75) * gauss(dy - 0.002, 0.013)
    # nose: a ridge from the bridge to the tip, falling away underneath
    y_t, y_b = L.y_nose_tip, L.y_nose_base
    tip = 0.044 + 0.007 * s("nose_tip")
    prof = np.where(Y > y_t, 0.01 + (tip - 0.01) * smoothstep(L.y_eye + 0.005, y_t, Y) ** 1.4,
                    tip * smoothstep(y_b - 0.002, y_t, Y) ** 0.6)
    prof = prof + 0.006 * s("nose_bridge") * gauss(Y - (L.y_eye - 0.005), 0.02)
    prof *= smoothstep(L.y_eye + 0.03, L.y_eye, Y)
    # the tip is narrower than the nostril wings either side of it
    width = 0.008 + 0.006 * smoothstep(L.y_eye, y_t, Y) * (1 + 0.2 * s("nose_width"))
    r += prof * gauss(S, width)
    # nostril wings
    r += (0.012 + 0.003 * s("nostril_flare")) * gauss(ax - 0.022 * (1 + 0.15 * s("nose_width")), 0.009) * gauss(Y - (y_b + 0.006), 0.008)
    # lips (upper above the seam, lower below), philtrum, chin
    lip_x = gauss(S, L.mouth_w * 0.85)
    r += (0.007 + 0.003 * s("upper_lip")) * gauss(Y - (L.y_seam + 0.007), 0.006) * lip_x
    r += (0.008 + 0.003 * s("lower_lip")) * gauss(Y - (L.y_seam - 0.009), 0.007) * lip_x
    r -= 0.003 * gauss(Y - (L.y_seam + 0.016), 0.006) * gauss(S, 0.004)
    r -= 0.004 * gauss(Y - (L.y_seam - 0.024), 0.007) * gauss(S, 0.03)
    r += (0.016 + 0.006 * s("chin_protrusion")) * gauss(Y - (L.y_chin + 0.028), 0.02) * gauss(S, 0.03 * (1 + 0.3 * s("chin_width")))
    # hair volume over the scalp
    r += (0.004 + 0.012 * i.a("hair_volume")) * _hair_mask(L, S, Y, U)
    return r


def _hair_mask(L: HeadLayout, S, Y, U):
    hairline = L.y_brow + 0.06 + 0.035 * (L.ident.a("hairline") - 0.3)
    side = np.abs(np.sin(U))
    front_line = hairline - 0.02 * np.abs(S) / 0.1
    top = smoothstep(front_line - 0.01, front_line + 0.01, Y)
    sides = smoothstep(0.75, 0.95, side) * smoothstep(L.y_eye - 0.01, L.y_eye + 0.03, Y)
    back = smoothstep(0.0, -0.3, np.cos(U)) * smoothstep(-0.14, -0.06, Y)
    return np.clip(np.maximum(top, np.maximum(sides, back)), 0, 1)


def _openness(w: dict, side: int) -> float:
    name = "Left" if side > 0 else "Right"
    return float(np.clip(1.0 - w.get(f"eyeBlink{name}", 0.0) + 0.35 * w.get(f"eyeWide{name}", 0.0), 0.0, 1.35))


def eye_recess_mask(L: HeadLayout, openness: tuple) -> np.ndarray:
    """(rows, cols) how far each skin vertex is pulled back inside the lids (0..1) at the
    given (right, left) eye openness: the skin that forms a closed lid when the eye shuts."""
    U, Y = np.meshgrid(L.col_u, L.row_y)
    S = U * S_SCALE
    upper_part = (np.arange(L.n_rows)[:, None] <= L.seam_top) * np.ones_like(U)
    m = np.zeros_like(U)
    for side in (-1, 1):
        s_rel = S - side * L.s_eye
        upper, lower = L.eyelids(side, openness[0 if side < 0 else 1], s_rel)
        inside = np.minimum(upper - Y, Y - lower)
        m = m + smoothstep(-0.0008, 0.0012, inside) * (np.abs(s_rel) < L.eye_w) * upper_part
    return m


def _deform(L: HeadLayout, P, U, Y, S, w: dict):
    """Apply expression displacement fields to skin positions P (rows, cols, 3)."""
    rows = np.arange(L.n_rows)[:, None] * np.ones_like(U, dtype=np.int64)
    upper_part = rows <= L.seam_top
    lower_part = rows >= L.seam_bottom
    ax = np.abs(S)
    side_sign = np.sign(S)
    radial = np.stack([np.sin(U), np.zeros_like(U), np.cos(U)], -1)
    mouth_mask = smoothstep(L.mouth_w + 0.006, L.mouth_w - 0.004, ax)
    d = np.zeros_like(P)

    def add(dx=0.0, dy=0.0, dz=0.0, mask=1.0):
        d[..., 0] += dx * mask
        d[..., 1] += dy * mask
        d[..., 2] += dz * mask

    corner = {k: gauss(S - k * L.mouth_w, 0.018) * gauss(Y - L.y_seam, 0.016) for k in (-1, 1)}
    for k, name in ((1, "Left"), (-1, "Right")):
        sm, fr = w.get(f"mouthSmile{name}", 0.0), w.get(f"mouthFrown{name}", 0.0)
        add(dx=k * 0.006 * sm + k * 0.002 * fr, dy=0.011 * sm - 0.009 * fr, dz=-0.006 * sm, mask=corner[k])
        add(dy=0.005 * sm, dz=0.003 * sm, mask=gauss(S - k * 0.07, 0.025) * gauss(Y - (L.y_eye - 0.045), 0.02))
        bo, bd = w.get(f"browOuterUp{name}", 0.0), w.get(f"browDown{name}", 0.0)
        brow_zone = gauss(Y - (L.y_brow + 0.01), 0.022) * smoothstep(L.y_eye - 0.005, L.y_eye + 0.015, Y)
        add(dy=0.009 * bo, mask=gauss(S - k * 0.085, 0.025) * brow_zone)
        add(dx=-k * 0.004 * bd, dy=-0.007 * bd, dz=0.002 * bd, mask=gauss(S - k * 0.055, 0.03) * brow_zone)
    bi = w.get("browInnerUp", 0.0)
    add(dy=0.009 * bi, mask=gauss(ax - 0.025, 0.025) * gauss(Y - (L.y_brow + 0.012), 0.025)
        * smoothstep(L.y_eye - 0.005, L.y_eye + 0.015, Y))
    lips = gauss(S, L.mouth_w * 0.8) * gauss(Y - L.y_seam, 0.014)
    pk, fn = w.get("mouthPucker", 0.0), w.get("mouthFunnel", 0.0)
    add(dz=0.012 * pk + 0.008 * fn, mask=lips)
    add(dx=-side_sign * 0.012 * pk, mask=corner[-1] + corner[1])
    # the funnel parts the lips a little (the seam opens inside the mouth)
    add(dy=0.004 * fn, mask=mouth_mask * gauss(Y - L.y_seam, 0.01) * upper_part)
    add(dy=-0.007 * fn, mask=mouth_mask * gauss(Y - L.y_seam, 0.012) * lower_part)
    puff = w.get("cheekPuff", 0.0)
    d += (0.02 * puff * gauss(ax - 0.08, 0.03) * gauss(Y - (L.y_seam + 0.012), 0.028))[..., None] * radial
    P = P + d
    # jaw: the lower face turns about a hinge below the ears
    jo = w.get("jawOpen", 0.0)
    if jo > 0:
        side_fade = gauss(np.maximum(np.abs(U) - 0.9, 0.0), 0.25)
        w_low = side_fade * smoothstep(L.y_chin - 0.1, L.y_chin - 0.01, Y)
        # the upper lip stays in the middle and goes down with the jaw towards the
        # corners, so the mouth opens as an oval, not a slit with square ends
        w_up = side_fade * (1 - L.mouth_taper(S)) * smoothstep(L.y_seam + 0.04, L.y_seam, Y)
        wj = np.where(lower_part, w_low, np.where(upper_part, w_up, 0.0))
        ang = 0.3 * jo * wj
        py, pz = L.y_eye - 0.03, -0.04
        y0, z0 = P[..., 1] - py, P[..., 2] - pz
        c, s_ = np.cos(ang), np.sin(ang)
        P = P.copy()
        P[..., 1] = py + y0 * c - z0 * s_
        P[..., 2] = pz + y0 * s_ + z0 * c
    # the seam rows span the lips' gap as a recessed cavity
    top, bottom = P[L.seam_top], P[L.seam_bottom]
    gap = np.linalg.norm(bottom - top, axis=-1)
    for k in range(1, SEAM_ROWS + 1):
        t = k / (SEAM_ROWS + 1)
        depth = np.minimum(0.9 * gap, 0.04) * np.sin(math.pi * t) ** 0.5
        P[L.seam_top + k] = (1 - t) * top + t * bottom - depth[:, None] * radial[L.seam_top]
    # eyes: inside the lids the skin falls back behind the eyeball
    for side in (-1, 1):
        s_rel = S - side * L.s_eye
        upper, lower = L.eyelids(side, _openness(w, side), s_rel)
        inside = np.minimum(upper - Y, Y - lower)
        m = smoothstep(-0.0008, 0.0012, inside) * (np.abs(s_rel) < L.eye_w) * upper_part
        P = P - (0.03 * m)[..., None] * radial
    return P


def _skin_albedo(L: HeadLayout, U, Y, S):
    i = L.ident
    rng = np.random.default_rng(i.detail_seed)
    skin = i.skin_color()
    ax = np.abs(S)
    red = np.array([0.75, 0.42, 0.4])
    col = np.broadcast_to(skin, U.shape + (3,)).copy()
    blush = (0.15 + 0.25 * i.a("skin_redness")) * (gauss(ax - 0.085, 0.03) * gauss(Y - (L.y_eye - 0.05), 0.03)
                                                   + 0.7 * gauss(S, 0.02) * gauss(Y - L.y_nose_tip, 0.02))
    col = col * (1 - blush[..., None]) + (skin * red / red.max())[None, None] * blush[..., None]
    # fine skin detail: low-amplitude noise on a few scales (pores, freckles, blotches)
    amp = 0.01 + 0.03 * i.a("skin_detail")
    for scale in (4, 9, 23):
        ph = rng.uniform(0, 2 * math.pi, 3)
        n = np.sin(U * scale + ph[0]) * np.sin(Y * scale * 6 + ph[1]) + 0.5 * np.sin((U + Y * 3) * scale * 1.7 + ph[2])
        col *= 1 + amp * n[..., None] / 1.5
    # eye surroundings: slightly darker sockets, dark lash lines, pink lids inside the almond
    for side in (-1, 1):
        s_rel = S - side * L.s_eye
        upper, lower = L.eyelids(side, 1.0, s_rel)
        in_x = np.abs(s_rel) < L.eye_w * 1.05
        col *= (1 - 0.18 * gauss(s_rel, 0.03) * gauss(Y - L.y_eye, 0.018))[..., None]
        lash_up = gauss(Y - upper - 0.0012, 0.0012) * in_x
        lash_lo = 0.5 * gauss(Y - lower + 0.0008, 0.0009) * in_x
        col *= (1 - 0.8 * np.clip(lash_up + lash_lo, 0, 1))[..., None]
        lid = (Y < upper) & (Y > lower) & in_x
        col[lid] = skin * np.array([0.85, 0.7, 0.7])
        # brows: a darker band above each eye
        thick = 0.007 + 0.005 * i.a("brow_thickness")
        arch = L.brow_arch(side, s_rel)
        brow = smoothstep(thick, thick * 0.4, np.abs(Y - arch)) * smoothstep(
            BROW_HALF_LENGTH + 0.006, BROW_HALF_LENGTH - 0.006, np.abs(s_rel + side * BROW_OFFSET))
        brow_col = i.hair_color() * (0.6 + 0.4 * (1 - i.a("brow_darkness")))
        k = (0.55 + 0.4 * i.a("brow_darkness")) * brow
        col = col * (1 - k[..., None]) + brow_col * k[..., None]
    # nostrils
    for side in (-1, 1):
        nost = gauss(S - side * 0.012, 0.0035) * gauss(Y - (L.y_nose_base + 0.0015), 0.0016)
        col *= (1 - 0.7 * np.clip(nost, 0, 1))[..., None]
    # lips
    lip_col = skin * np.array([0.88, 0.52, 0.52]) * (0.75 + 0.2 * i.a("lip_tint"))
    upper_h, lower_h = L.lip_heights(S)
    lip = np.where(Y >= L.y_seam, smoothstep(upper_h + 0.002, upper_h - 0.002, Y - L.y_seam),
                   smoothstep(lower_h + 0.003, lower_h - 0.003, L.y_seam - Y)) * smoothstep(L.mouth_w * 1.05, L.mouth_w * 0.8, ax)
    lip *= 0.85
    col = col * (1 - lip[..., None]) + lip_col * lip[..., None]
    col *= (1 - 0.5 * gauss(Y - L.y_seam, 0.0012) * smoothstep(L.mouth_w, L.mouth_w * 0.7, ax))[..., None]
    # hair
    hm = _hair_mask(L, S, Y, U)
    strands = 1 + 0.12 * np.sin(U * 90 + 3 * np.sin(Y * 40))
    hair = i.hair_color() * strands[..., None]
    col = col * (1 - hm[..., None]) + hair * hm[..., None]
    return np.clip(col, 0, 1), hm


def _seam_albedo(n_cols, L: HeadLayout):
    """Colours of the mouth cavity rows: upper teeth, dark mouth, tongue, lower teeth."""
    t = (np.arange(1, SEAM_ROWS + 1) / (SEAM_ROWS + 1))[:, None, None]
    dark = np.array([0.12, 0.03, 0.03])
    teeth = np.array([0.88, 0.85, 0.78])
    tongue = np.array([0.62, 0.3, 0.3])
    col = np.where(t < 0.3, teeth, np.where(t < 0.65, dark, np.where(t < 0.85, tongue, teeth * 0.9)))
    return np.broadcast_to(col, (SEAM_ROWS, n_cols, 3)).copy()


def _grid_faces(n_rows, n_cols, offset=0, wrap=True):
    r, c = np.meshgrid(np.arange(n_rows - 1), np.arange(n_cols if wrap else n_cols - 1), indexing="ij")
    c1 = (c + 1) % n_cols
    a, b = r * n_cols + c, r * n_cols + c1
    cc, dd = (r + 1) * n_cols + c, (r + 1) * n_cols + c1
    f = np.concatenate([np.stack([a, cc, b], -1).reshape(-1, 3), np.stack([b, cc, dd], -1).reshape(-1, 3)])
    return (f + offset).astype(np.int32)


def _sphere(n_lat, n_lon):
    """Unit sphere around +z as the pole: (points (n_lat, n_lon, 3), polar angle)."""
    th = np.linspace(0, math.pi, n_lat)[:, None] * np.ones((1, n_lon))
    ph = np.linspace(-math.pi, math.pi, n_lon, endpoint=False)[None, :] * np.ones((n_lat, 1))
    pts = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], -1)
    return pts, th


def _grid_points(R, U, Y):
    """Skin positions from radii about the vertical axis, column angles and heights."""
    return np.stack([R * np.sin(U), Y, R * np.cos(U)], -1)


def _cover_eyeballs(R, U, Y, centres, radius):
    """Skin radii pushed out so the skin around each eye wraps its eyeball: the head
    curves back faster than an eyeball does, so without this the white would poke
    through the skin at the outer corner. Inside the lids the skin falls back anyway."""
    d = np.stack([np.sin(U), np.zeros_like(U), np.cos(U)], -1)
    for c in centres:
        q = np.stack([np.zeros_like(Y), Y, np.zeros_like(Y)], -1) - c
        b = np.einsum("...i,...i->...", d, q)
        disc = b * b - np.einsum("...i,...i->...", q, q) + radius * radius
        # where the radial line through a vertex meets the sphere, its outer crossing
        cover = np.where(disc > 0, -b + np.sqrt(np.clip(disc, 0, None)), 0.0)
        R = smooth_max(R, cover, 0.002)
    return R


def _eyeball(L: HeadLayout, side: int, centre: np.ndarray):
    pts, th = _sphere(28, 32)
    r = L.eye_radius
    v = pts * r + centre
    i = L.ident
    iris_ang, pupil_ang = 0.0128 / r, 0.0048 / r
    sclera = np.array([0.8, 0.76, 0.72])
    col = np.broadcast_to(sclera, th.shape + (3,)).copy()
    iris = th < iris_ang
    col[iris] = i.iris_color() * (0.8 + 0.3 * np.cos(th[iris] * 40))[..., None]
    col[(th > iris_ang * 0.85) & iris] *= 0.55  # limbal ring
    col[th < pupil_ang] = np.array([0.02, 0.02, 0.02])
    v = v.reshape(-1, 3)
    return v, _outward(v, _grid_faces(28, 32), centre), col.reshape(-1, 3)


def _ear(L: HeadLayout, side: int, attach: np.ndarray):
    i = L.ident
    pts, th = _sphere(18, 24)
    size = 1 + 0.12 * i.s("ear_size")
    semi = np.array([0.03 * size, 0.058 * size, 0.011])  # (width along z, height, thickness)
    local = pts * semi[[0, 1, 2]]
    # cup the outer face so the ear reads as a shell, not a pebble
    cup = np.clip(1 - (pts[..., 0] ** 2 + pts[..., 1] ** 2), 0, 1) * (pts[..., 2] > 0)
    local[..., 2] -= 0.012 * cup
    ang = math.radians(12 + 14 * i.s("ear_protrusion"))
    # map local (a, b, c) -> world: a along -z (towards the back), b up, c outwards (x)
    x = side * (local[..., 2] * math.cos(ang) + local[..., 0] * math.sin(ang) * 0.3)
    z = -local[..., 0] + local[..., 2] * math.sin(ang) * 0.5
    v = np.stack([x, local[..., 1], z], -1) + attach
    col = np.broadcast_to(i.skin_color() * np.array([1.0, 0.9, 0.88]), th.shape + (3,)).copy()
    col *= (1 - 0.2 * cup)[..., None]
    v = v.reshape(-1, 3)
    return v, _outward(v, _grid_faces(18, 24), attach), col.reshape(-1, 3)


def _outward(v, faces, centre):
    """Wind the faces of a closed part so their normals point away from its centre (a
    mirrored part would otherwise face inwards and shade black)."""
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    fn = np.cross(b - a, c - a)
    if np.einsum("ij,ij->", fn, (a + b + c) / 3 - centre) < 0:
        faces = faces[:, [0, 2, 1]]
    return faces


@dataclass
class HeadGeometry:
    """Everything the renderer and the landmark code need for one identity + expression."""

    mesh: HeadMesh
    skin_grid: np.ndarray      # (rows, cols, 3) deformed skin vertices
    skin_normals: np.ndarray   # (rows, cols, 3)
    openness: tuple            # (right, left) eye openness


class HeadBuilder:
    """Everything about one identity that expressions do not change (rest skin, colours,
    eyeballs, ears), computed once; `build(expression)` then only deforms the skin."""

    def __init__(self, ident: HeadIdentity):
        L = self.layout = HeadLayout(ident)
        U, Y = np.meshgrid(L.col_u, L.row_y)
        self.U, self.Y, self.S = U, Y, U * S_SCALE
        R = _skin_radius(L, U, Y, self.S)
        albedo, hair = _skin_albedo(L, U, Y, self.S)
        albedo[L.seam_top + 1:L.seam_bottom] = _seam_albedo(N_COLS, L)
        spec = 0.25 * (1 - hair) + 0.05
        spec[L.seam_top + 1:L.seam_bottom] = 0.3
        n_skin = U.size
        faces, cols, specs, parts, extra = [_grid_faces(L.n_rows, N_COLS)], [albedo.reshape(-1, 3)], \
            [spec.reshape(-1)], [np.full(n_skin, PART_SKIN)], []
        offset = n_skin
        # eyeballs sit just behind the closed-lid surface at each eye centre (rest pose)
        centres = []
        for side in (-1, 1):
            r_c, c_c = L.grid_coords(side * L.s_eye, L.y_eye)
            p = _bilinear(_grid_points(R, U, Y), r_c, c_c)
            centres.append(np.array([p[0], L.y_eye, p[2] - 0.002 - L.eye_radius]))
        R = _cover_eyeballs(R, U, Y, centres, L.eye_radius + 0.0015)
        self.rest = _grid_points(R, U, Y)
        for side, centre in zip((-1, 1), centres):
            v, f, c = _eyeball(L, side, centre)
            extra.append(v), faces.append(f + offset), cols.append(c), specs.append(np.full(len(v), 0.9))
            parts.append(np.full(len(v), PART_EYE))
            offset += len(v)
        for side in (-1, 1):
            r_e, c_e = L.grid_coords(side * 1.35 * S_SCALE, L.y_eye - 0.03)
            attach = _bilinear(self.rest, r_e, c_e) + np.array([side * 0.004, 0, -0.012])
            v, f, c = _ear(L, side, attach)
            extra.append(v), faces.append(f + offset), cols.append(c), specs.append(np.full(len(v), 0.15))
            parts.append(np.full(len(v), PART_EAR))
            offset += len(v)
        self.extra_vertices = np.concatenate(extra)
        self.faces = np.concatenate(faces).astype(np.int32)
        self.albedo = np.concatenate(cols).astype(np.float32)
        self.specular = np.concatenate(specs).astype(np.float32)
        self.part = np.concatenate(parts).astype(np.int8)

    def build(self, expression: Expression | None = None) -> HeadGeometry:
        L = self.layout
        w = _weights(expression)
        P = _deform(L, self.rest.copy(), self.U, self.Y, self.S, w)
        mesh = HeadMesh(np.concatenate([P.reshape(-1, 3), self.extra_vertices]).astype(np.float32), self.faces,
                        self.albedo, self.specular, self.part, L)
        normals = mesh._face_normals()[:P.shape[0] * P.shape[1]].reshape(P.shape)
        # where the mouth seam is closed, its two edge rows are one surface: share the normal
        closed = (np.linalg.norm(P[L.seam_bottom] - P[L.seam_top], axis=-1) < 1e-4)[:, None]
        shared = normals[L.seam_top] + normals[L.seam_bottom]
        shared /= np.maximum(np.linalg.norm(shared, axis=-1, keepdims=True), 1e-9)
        for row in range(L.seam_top, L.seam_bottom + 1):
            normals[row] = np.where(closed, shared, normals[row])
        mesh.vertex_normals = normals
        return HeadGeometry(mesh, P, normals, (_openness(w, -1), _openness(w, 1)))


def build_head(ident: HeadIdentity, expression: Expression | None = None) -> HeadGeometry:
    return HeadBuilder(ident).build(expression)


def _bilinear(grid, r, c):
    """Sample a (rows, cols, C) grid at fractional (r, c); columns wrap around."""
    r = np.clip(np.asarray(r, np.float64), 0, grid.shape[0] - 1.000001)
    c = np.asarray(c, np.float64) % grid.shape[1]
    r0, c0 = np.floor(r).astype(int), np.floor(c).astype(int)
    fr, fc = (r - r0)[..., None], (c - c0)[..., None]
    c1 = (c0 + 1) % grid.shape[1]
    return ((1 - fr) * ((1 - fc) * grid[r0, c0] + fc * grid[r0, c1])
            + fr * ((1 - fc) * grid[r0 + 1, c0] + fc * grid[r0 + 1, c1]))


def _landmark_params(L: HeadLayout, openness: tuple):
    """(s, y, block) for landmarks 17..67; block 'up' / 'low' chooses the grid rows
    above / below the mouth seam, 'seam_top' / 'seam_bottom' the lips' inner edges."""
    pts = []
    thick_mid = 0.5 * (0.007 + 0.005 * L.ident.a("brow_thickness"))
    for side, order in ((-1, range(5)), (1, range(5))):
        for k in order:
            t = k / 4.0  # 0 = outer end for the right brow, inner end for the left
            s_rel = -side * BROW_OFFSET + BROW_HALF_LENGTH * (2 * t - 1)
            s = side * L.s_eye + s_rel
            pts.append((s, float(L.brow_arch(side, s_rel)) + thick_mid, "up"))
    for k in range(4):  # nose bridge 27..30
        pts.append((0.0, L.y_eye + 0.004 + (L.y_nose_tip + 0.01 - L.y_eye - 0.004) * k / 3, "up"))
    # 31..35: the nostril wings' lower edge and, at 33, where the nose meets the lip
    for s, dy in ((-0.018, 0.013), (-0.01, 0.0065), (0.0, 0.002), (0.01, 0.0065), (0.018, 0.013)):
        pts.append((s, L.y_nose_base + dy, "up"))
    for side in (-1, 1):  # eyes 36..41 (right), 42..47 (left)
        o = openness[0 if side < 0 else 1]
        w = L.eye_w
        if side < 0:
            seq = [(-w, "c"), (-w / 3, "u"), (w / 3, "u"), (w, "c"), (w / 3, "l"), (-w / 3, "l")]
        else:
            seq = [(-w, "c"), (-w / 3, "u"), (w / 3, "u"), (w, "c"), (w / 3, "l"), (-w / 3, "l")]
        for s_rel, kind in seq:
            up, lo = L.eyelids(side, o, np.array(s_rel * (0.999 if kind == "c" else 1.0)))
            y = float(up) if kind == "u" else float(lo) if kind == "l" else float(0.5 * (up + lo))
            pts.append((side * L.s_eye + s_rel, y, "up"))
    # 48..59 on the painted vermilion border, 60..67 on the lips' inner edges beneath them
    mw = L.mouth_w
    outer = [(-0.88 * mw, -0.003, "low")]
    outer += [(f * mw, float(L.lip_heights(f * mw)[0]), "up") for f in (-0.6, -0.25, 0.0, 0.25, 0.6)]
    outer += [(0.88 * mw, -0.003, "low")]
    outer += [(f * mw, -float(L.lip_heights(f * mw)[1]), "low") for f in (0.6, 0.25, 0.0, -0.25, -0.6)]
    inner = [(-0.75 * mw, "seam_bottom"), (-0.25 * mw, "seam_top"), (0.0, "seam_top"), (0.25 * mw, "seam_top"),
             (0.75 * mw, "seam_bottom"), (0.25 * mw, "seam_bottom"), (0.0, "seam_bottom"), (-0.25 * mw, "seam_bottom")]
    pts += [(s, L.y_seam + dy, blk) for s, dy, blk in outer]
    pts += [(s, L.y_seam, blk) for s, blk in inner]
    return pts


def _lookup(L: HeadLayout, grid, s, y, block):
    if block == "seam_top":
        r = float(L.seam_top)
        c = L.grid_coords(s, y)[1]
    elif block == "seam_bottom":
        r = float(L.seam_bottom)
        c = L.grid_coords(s, y)[1]
    else:
        r, c = L.grid_coords(s, y, below_seam=(block == "low"))
    return _bilinear(grid, r, c)


def _arc_at_height(arc, y, y_cut):
    """Arc length where an outline running down from its top end first reaches y_cut."""
    below = np.nonzero(y <= y_cut)[0]
    if len(below) == 0 or below[0] == 0:
        return float(arc[0])
    k = below[0]
    t = (y[k - 1] - y_cut) / max(y[k - 1] - y[k], 1e-12)
    return float(arc[k - 1] + t * (arc[k] - arc[k - 1]))


def landmarks_3d(geo: HeadGeometry, camera_origin) -> np.ndarray:
    """The 68 iBUG landmarks in world space. Points 17..67 are fixed on the skin; the jaw
    line 0..16 is the face's outline as seen from `camera_origin`, as annotators mark it."""
    L = geo.mesh.layout
    out = np.zeros((68, 3))
    for k, (s, y, blk) in enumerate(_landmark_params(L, geo.openness)):
        out[17 + k] = _lookup(L, geo.skin_grid, s, y, blk)
    centre = np.array([0.0, L.y_seam + 0.012])
    cam = np.asarray(camera_origin, np.float64)
    # trace the outline densely along rays from the mouth, then place the 17 points on it
    phi = np.radians(np.linspace(130, 410, 71))
    dist = np.arange(0.01, 0.32, 0.002)
    s = centre[0] + np.cos(phi)[:, None] * dist[None]
    y = centre[1] + np.sin(phi)[:, None] * dist[None] * 0.9
    below = y < L.y_seam
    r_up, c = L.grid_coords(s, y)
    r_low, _ = L.grid_coords(s, y, below_seam=True)
    r = np.where(below, r_low, r_up)
    p = _bilinear(geo.skin_grid, r, c)      # (paths, steps, 3)
    n = _bilinear(geo.skin_normals, r, c)
    view = cam - p
    view /= np.linalg.norm(view, axis=-1, keepdims=True)
    away = np.einsum("kti,kti->kt", n, view) <= 0.1
    # below the jaw bone (a parabola from the chin to the jaw angles) is neck, not face
    y_angle = L.y_seam - 0.02
    jaw_line = L.y_chin + (y_angle - L.y_chin) * (np.abs(s) / 0.19) ** 2
    under = y < jaw_line
    # on the side turned towards the camera the outline is the face's edge in front of
    # the ear, not the far-away silhouette of the skull
    behind_face = np.abs(s) > 0.2
    stop = away | under | behind_face
    stop[:, 0] = False
    # the outline is the last point before the skin turns away or under the jaw
    first = np.where(stop.any(1), stop.argmax(1), stop.shape[1]) - 1
    idx = np.arange(len(phi))
    outline, y_out = p[idx, first], y[idx, first]
    seg = np.linalg.norm(np.diff(outline, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    # the outline ends at the same height on both sides (just below the eyes, where
    # annotators start the jaw), not where the paths happen to stop: on a turned head
    # the near side's paths reach much higher
    mid = len(phi) // 2
    a_start = _arc_at_height(arc[:mid + 1], y_out[:mid + 1], L.y_eye + 0.005)
    a_end = arc[-1] - _arc_at_height(arc[-1] - arc[::-1][:mid + 1], y_out[::-1][:mid + 1], L.y_eye + 0.005)
    # point 8 is the chin on the midline however the head turns; each side's 8 points
    # are spaced evenly from there (the side facing away shows a shorter outline)
    chin = arc[mid]
    targets = np.concatenate([np.linspace(a_start, chin, 9), np.linspace(chin, a_end, 9)[1:]])
    out[:17] = np.stack([np.interp(targets, arc, outline[:, k]) for k in range(3)], -1)
    return out
