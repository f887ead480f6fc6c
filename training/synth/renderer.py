"""Rasterise a synthetic head with moderngl (headless EGL; Mesa llvmpipe on a CPU).

Per image: RGB under RGB SH lighting, albedo, shading, normal, depth (ray distance),
alpha and the projected 68 landmarks. Shading is physical enough to learn from:
Lambertian SH irradiance with soft shadows and ambient occlusion from precomputed
visibility (the irradiance of the unoccluded normal scaled by the occluded/unoccluded
ratio of a Monte Carlo transfer over 48 directions, see `visibility_transfer`), plus a
Blinn-Phong highlight from the lighting's dominant direction. Anti-aliased by rendering
at twice the size and averaging.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.camera import Camera
from core.lighting import SphericalHarmonicsLighting, irradiance_weights, sh_basis
from render.mesh_renderer import gl_projection
from training.synth.head_mesh import HeadGeometry, landmarks_3d

_VS = """
#version 330
uniform mat4 mvp;
in vec3 in_pos; in vec3 in_normal; in vec3 in_albedo; in float in_spec; in vec3 in_t0; in vec3 in_t1; in vec3 in_t2;
in float in_ratio_norm;
out vec3 v_pos; out vec3 v_normal; out vec3 v_albedo; out float v_spec; out vec3 v_t0; out vec3 v_t1; out vec3 v_t2;
void main() {
    v_pos = in_pos; v_normal = in_normal; v_albedo = in_albedo; v_spec = in_spec;
    v_t0 = in_t0; v_t1 = in_t1; v_t2 = in_t2;
    gl_Position = mvp * vec4(in_pos, 1.0);
}
"""
_FS = """
#version 330
uniform vec3 sh_w[9];      // irradiance weights: E(n) = sum_k Y_k(n) * sh_w[k]
uniform vec3 sh_l[9];      // radiance coefficients, for the shadowed transfer
uniform vec3 cam_pos; uniform vec3 key_dir; uniform vec3 key_col;
in vec3 v_pos; in vec3 v_normal; in vec3 v_albedo; in float v_spec; in vec3 v_t0; in vec3 v_t1; in vec3 v_t2;
layout(location=0) out vec4 o_rgb;
layout(location=1) out vec4 o_albedo;
layout(location=2) out vec4 o_shading;
layout(location=3) out vec4 o_normal;
layout(location=4) out vec4 o_depth;
float Y[9];
void basis(vec3 n) {
    Y[0] = 0.282095; Y[1] = 0.488603 * n.y; Y[2] = 0.488603 * n.z; Y[3] = 0.488603 * n.x;
    Y[4] = 1.092548 * n.x * n.y; Y[5] = 1.092548 * n.y * n.z; Y[6] = 0.315392 * (3.0 * n.z * n.z - 1.0);
    Y[7] = 1.092548 * n.x * n.z; Y[8] = 0.546274 * (n.x * n.x - n.y * n.y);
}
void main() {
    vec3 n = normalize(v_normal);
    vec3 v = normalize(cam_pos - v_pos);
    if (dot(n, v) < 0.0) n = -n;  // the inside of the mouth seen through the lips
    basis(n);
    vec3 e = vec3(0.0);
    for (int k = 0; k < 9; k++) e += Y[k] * sh_w[k];
    e = max(e, vec3(0.0));
    // visibility: transfer coefficients (occluded, 9) dotted with the light, over the same
    // for an unoccluded point with this normal (computed the same way) -> ratio in [0, 1]
    float t[9] = float[9](v_t0.x, v_t0.y, v_t0.z, v_t1.x, v_t1.y, v_t1.z, v_t2.x, v_t2.y, v_t2.z);
    vec3 occ = vec3(0.0);
    for (int k = 0; k < 9; k++) occ += t[k] * sh_l[k];
    vec3 vis = clamp(occ / max(e, vec3(1e-4)), 0.0, 1.0);
    vec3 shading = e * vis;
    vec3 h = normalize(key_dir + v);
    float spec = v_spec * pow(max(dot(n, h), 0.0), 40.0) * max(dot(n, key_dir), 0.0);
    float key_vis = (vis.r + vis.g + vis.b) / 3.0;
    vec3 rgb = v_albedo * shading + spec * key_col * key_vis * 0.35;
    o_rgb = vec4(rgb, 1.0);
    o_albedo = vec4(v_albedo, 1.0);
    o_shading = vec4(shading, 1.0);
    o_normal = vec4(n, 1.0);
    o_depth = vec4(length(v_pos - cam_pos), 0.0, 0.0, 1.0);
}
"""
_DEPTH_VS = """
#version 330
uniform mat4 mvp;
in vec3 in_pos;
void main() { gl_Position = mvp * vec4(in_pos, 1.0); }
"""
_DEPTH_FS = """
#version 330
out vec4 o;
void main() { o = vec4(gl_FragCoord.z); }
"""


def _fibonacci_sphere(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = math.pi * (1 + 5 ** 0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.cos(phi), np.sin(theta) * np.sin(phi)], -1)


def _ortho_view(direction, box=0.55):
    """Orthographic clip matrix looking along -direction (from the light towards the head)."""
    d = np.asarray(direction, np.float64)
    up = np.array([0.0, 1.0, 0.0]) if abs(d[1]) < 0.95 else np.array([1.0, 0.0, 0.0])
    x = np.cross(up, d)
    x /= np.linalg.norm(x)
    y = np.cross(d, x)
    view = np.eye(4)
    view[0, :3], view[1, :3], view[2, :3] = x, y, d
    proj = np.diag([1 / box, 1 / box, -1 / box, 1.0])  # z in [-box, box] -> NDC; nearer the light = larger
    return proj @ view


@dataclass
class SynthFrame:
    rgb: np.ndarray       # (H, W, 3) float, composited over the background
    albedo: np.ndarray
    shading: np.ndarray
    normal: np.ndarray    # world-space unit normals, 0 where empty
    depth: np.ndarray     # ray distance, 0 where empty
    alpha: np.ndarray     # (H, W)
    landmarks: np.ndarray  # (68, 2) pixel coordinates (x right, y down)
    foreground: np.ndarray  # rgb before compositing


class HeadRenderer:
    """One EGL context for many renders. Not thread-safe; one per process."""

    def __init__(self, resolution: int = 128, supersample: int = 2, visibility_directions: int = 48,
                 visibility_resolution: int = 160):
        import moderngl

        self.ctx = moderngl.create_standalone_context(backend="egl")
        self.res, self.ss = resolution, supersample
        self.prog = self.ctx.program(vertex_shader=_VS, fragment_shader=_FS)
        self.depth_prog = self.ctx.program(vertex_shader=_DEPTH_VS, fragment_shader=_DEPTH_FS)
        size = (resolution * supersample,) * 2
        self.targets = [self.ctx.texture(size, 4, dtype="f4") for _ in range(5)]
        self.fbo = self.ctx.framebuffer(self.targets, self.ctx.depth_renderbuffer(size))
        vr = visibility_resolution
        self.vis_res = vr
        self.vis_tex = self.ctx.texture((vr, vr), 4, dtype="f4")
        self.vis_fbo = self.ctx.framebuffer([self.vis_tex], self.ctx.depth_renderbuffer((vr, vr)))
        self.directions = _fibonacci_sphere(visibility_directions)

    def release(self):
        self.ctx.release()

    # -- visibility -------------------------------------------------------------------
    def visibility_transfer(self, geo: HeadGeometry) -> np.ndarray:
        """Per-vertex (V, 9) transfer: sum_j V_j max(n.w_j, 0) Y(w_j) 4pi/J, where V_j is
        whether the vertex sees direction w_j (from a depth map rendered along it)."""
        import moderngl

        mesh = geo.mesh
        v = mesh.vertices.astype(np.float32)
        n = mesh.normals()
        vbo = self.ctx.buffer(v.tobytes())
        ibo = self.ctx.buffer(mesh.faces.astype(np.int32).tobytes())
        vao = self.ctx.vertex_array(self.depth_prog, [(vbo, "3f", "in_pos")], ibo)
        self.vis_fbo.use()
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.ctx.disable(moderngl.CULL_FACE)
        transfer = np.zeros((len(v), 9))
        basis = sh_basis(self.directions)
        vr = self.vis_res
        hom = np.concatenate([v, np.ones((len(v), 1), np.float32)], 1)
        for j, d in enumerate(self.directions):
            m = _ortho_view(d)
            self.prog_mvp(self.depth_prog, m)
            self.vis_fbo.clear(1.0, 1.0, 1.0, 1.0, depth=1.0)
            vao.render()
            depth_map = np.frombuffer(self.vis_tex.read(), np.float32).reshape(vr, vr, 4)[..., 0]
            clip = hom @ m[:3].T.astype(np.float32)
            px = np.clip(((clip[:, 0] * 0.5 + 0.5) * vr).astype(int), 0, vr - 1)
            py = np.clip(((clip[:, 1] * 0.5 + 0.5) * vr).astype(int), 0, vr - 1)
            zv = clip[:, 2] * 0.5 + 0.5
            # a small neighbourhood minimum + bias keeps surfaces from shadowing themselves
            visible = zv <= depth_map[py, px] + 0.012
            cosine = np.clip(n @ d, 0.0, None)
            transfer += (visible * cosine)[:, None] * basis[j][None, :]
        vao.release(), vbo.release(), ibo.release()
        transfer *= 4 * math.pi / len(self.directions)
        # divide by the same Monte Carlo estimate for an unoccluded point, so that the
        # discretisation of directions cancels: unoccluded points get exactly E(n)
        unoccluded = np.clip(n @ self.directions.T, 0, None).sum(1) * (4 / len(self.directions))
        return (transfer / np.maximum(unoccluded, 1e-6)[:, None]).astype(np.float32)

    @staticmethod
    def prog_mvp(prog, m):
        prog["mvp"].write(np.ascontiguousarray(m.T, dtype=np.float32).tobytes())

    # -- images -------------------------------------------------------------------------
    def render(self, geo: HeadGeometry, camera: Camera, lighting: SphericalHarmonicsLighting,
               background: np.ndarray | None = None, transfer: np.ndarray | None = None) -> SynthFrame:
        import moderngl

        mesh = geo.mesh
        if transfer is None:
            transfer = self.visibility_transfer(geo)
        n = mesh.normals()
        attrs = np.concatenate([mesh.vertices, n, mesh.albedo, mesh.specular[:, None], transfer], 1).astype(np.float32)
        vbo = self.ctx.buffer(attrs.tobytes())
        ibo = self.ctx.buffer(mesh.faces.astype(np.int32).tobytes())
        vao = self.ctx.vertex_array(
            self.prog, [(vbo, "3f 3f 3f 1f 3f 3f 3f", "in_pos", "in_normal", "in_albedo", "in_spec", "in_t0", "in_t1", "in_t2")], ibo)
        self.prog_mvp(self.prog, gl_projection(camera))
        coeffs = lighting.coeffs
        self.prog["sh_w"].write(irradiance_weights(coeffs).astype(np.float32).tobytes())
        self.prog["sh_l"].write(coeffs.astype(np.float32).tobytes())
        self.prog["cam_pos"].value = tuple(float(x) for x in camera.origin)
        key = lighting.dominant_direction()
        lum = coeffs[1:4]
        strength = np.linalg.norm(lum, axis=0) / 0.4886  # directional light colour from the linear band
        self.prog["key_dir"].value = tuple(float(x) for x in key)
        self.prog["key_col"].value = tuple(float(x) for x in strength)
        self.fbo.use()
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.ctx.disable(moderngl.CULL_FACE)
        self.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        vao.render()
        size = self.res * self.ss
        bufs = [np.frombuffer(tex.read(), np.float32).reshape(size, size, 4)[::-1] for tex in self.targets]
        vao.release(), vbo.release(), ibo.release()
        cov = bufs[0][..., 3]
        rgb, albedo, shading, normal = (b[..., :3] for b in bufs[:4])
        depth = bufs[4][..., 0]
        ss = self.ss

        def down(x):
            return x.reshape(self.res, ss, self.res, ss, *x.shape[2:]).mean(axis=(1, 3))

        alpha = down(cov)
        safe = np.maximum(alpha, 1e-6)
        fg = down(rgb * cov[..., None])
        out = {k: down(b * cov[..., None]) / safe[..., None] for k, b in (("albedo", albedo), ("shading", shading))}
        nrm = down(normal * cov[..., None])
        nrm = nrm / np.maximum(np.linalg.norm(nrm, axis=-1, keepdims=True), 1e-6) * (alpha > 0)[..., None]
        dep = down(depth * cov) / safe * (alpha > 0)
        bg = np.ones((self.res, self.res, 3)) if background is None else background
        composite = fg + (1 - alpha[..., None]) * bg
        lms = landmarks_3d(geo, camera.origin)
        uv = camera.project(lms, self.res, self.res)
        return SynthFrame(np.clip(composite, 0, 1), out["albedo"], out["shading"], nrm, dep, alpha, uv,
                          fg / safe[..., None])


# unoccluded irradiance transfer of a normal: the SH basis times the clamped-cosine
# convolution constants (pi, 2pi/3, pi/4)
_COSINE_LOBE = np.asarray([math.pi] + [2 * math.pi / 3] * 3 + [math.pi / 4] * 5)
# the share of the sky a closed lid sees (measured: the transfer recomputed on closed-eye
# geometry over the lid's unoccluded transfer, median 0.97-0.98 over three heads)
CLOSED_LID_VISIBILITY = 0.97


def expression_transfer(transfer: np.ndarray, geo: HeadGeometry, occlusion: float = 0.2) -> np.ndarray:
    """The neutral pose's visibility made right for an expression, where reusing it would
    be wrong: the mouth's inside (the cavity rows get a fixed fraction of the unoccluded
    light), and the skin a blink brings out from behind the lids (recessed at rest, so it
    was computed as fully shadowed, and a closed eye rendered black; it gets a closed
    lid's visibility, in proportion to how far it has come out)."""
    from training.synth.head_mesh import N_COLS, eye_recess_mask

    L = geo.mesh.layout
    out = transfer.copy()
    idx = np.arange((L.seam_top + 1) * N_COLS, L.seam_bottom * N_COLS)
    normals = geo.mesh.normals()
    out[idx] = occlusion * sh_basis(normals[idx]) * _COSINE_LOBE
    if min(geo.openness) < 1.0:
        exposed = np.clip(eye_recess_mask(L, (1.0, 1.0)) - eye_recess_mask(L, geo.openness), 0.0, 1.0).reshape(-1)
        lid = np.nonzero(exposed > 0)[0]
        e = exposed[lid, None]
        out[lid] = (1 - e) * out[lid] + e * CLOSED_LID_VISIBILITY * sh_basis(normals[lid]) * _COSINE_LOBE
    return out
