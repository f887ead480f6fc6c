"""Rasterise a mesh with moderngl: the geometry viewport's drawing and offscreen renders
of exported meshes. Shading modes: `lit` (vertex colour x SH irradiance of the normal,
the same lighting the neural view uses), `normals`, `wireframe` (lit, with edges).

Works with any moderngl context: a headless EGL one (`MeshRenderer.offscreen()`) or the
one a QOpenGLWidget makes current (the viewport passes its own framebuffer).
"""
from __future__ import annotations

import numpy as np

from core.camera import Camera
from core.lighting import SphericalHarmonicsLighting, irradiance_weights

_VS = """
#version 330
uniform mat4 mvp;
in vec3 in_pos; in vec3 in_normal; in vec3 in_color;
out vec3 v_normal; out vec3 v_color;
void main() { v_normal = in_normal; v_color = in_color; gl_Position = mvp * vec4(in_pos, 1.0); }
"""
_FS = """
#version 330
uniform vec3 sh_w[9];
uniform int mode;  // 0 lit, 1 normals, 2 flat edges colour
uniform vec3 edge_color;
in vec3 v_normal; in vec3 v_color;
out vec4 o;
void main() {
    vec3 n = normalize(v_normal);
    if (mode == 1) { o = vec4(n * 0.5 + 0.5, 1.0); return; }
    if (mode == 2) { o = vec4(edge_color, 1.0); return; }
    float Y[9] = float[9](0.282095, 0.488603 * n.y, 0.488603 * n.z, 0.488603 * n.x, 1.092548 * n.x * n.y,
                          1.092548 * n.y * n.z, 0.315392 * (3.0 * n.z * n.z - 1.0), 1.092548 * n.x * n.z,
                          0.546274 * (n.x * n.x - n.y * n.y));
    vec3 e = vec3(0.0);
    for (int k = 0; k < 9; k++) e += Y[k] * sh_w[k];
    vec3 c = v_color * max(e, vec3(0.0));
    o = vec4(pow(clamp(c, 0.0, 1.0), vec3(1.0)), 1.0);
}
"""


def gl_projection(camera: Camera, near: float = 0.1, far: float = 20.0) -> np.ndarray:
    """OpenGL clip matrix for an OpenCV camera with normalised intrinsics."""
    k = camera.intrinsics
    proj = np.array([
        [2 * k[0, 0], 0, 1 - 2 * k[0, 2], 0],
        [0, 2 * k[1, 1], 2 * k[1, 2] - 1, 0],
        [0, 0, -(far + near) / (far - near), -2 * far * near / (far - near)],
        [0, 0, -1, 0],
    ])
    return proj @ np.diag([1.0, -1.0, -1.0, 1.0]) @ np.linalg.inv(camera.cam2world)


class MeshRenderer:
    MODES = ("lit", "normals", "wireframe")

    def __init__(self, ctx):
        self.ctx = ctx
        self.prog = ctx.program(vertex_shader=_VS, fragment_shader=_FS)
        self.vao = None
        self._buffers = []
        self._fbo = None
        self._size = None

    @classmethod
    def offscreen(cls) -> "MeshRenderer":
        import moderngl

        return cls(moderngl.create_standalone_context(backend="egl"))

    def set_mesh(self, vertices, faces, colors=None, normals=None):
        """Mesh in scene units (or any units: the camera decides what is seen)."""
        import trimesh

        v = np.asarray(vertices, np.float32)
        f = np.asarray(faces, np.int32)
        if normals is None:
            normals = trimesh.Trimesh(v, f, process=False).vertex_normals
        c = np.full((len(v), 3), 0.8, np.float32) if colors is None else np.asarray(colors, np.float32)[:, :3]
        if c.max() > 1.0:
            c = c / 255.0
        data = np.concatenate([v, np.asarray(normals, np.float32), c], 1).astype(np.float32)
        self.release_mesh()
        vbo = self.ctx.buffer(data.tobytes())
        ibo = self.ctx.buffer(f.tobytes())
        self._buffers = [vbo, ibo]
        self.vao = self.ctx.vertex_array(self.prog, [(vbo, "3f 3f 3f", "in_pos", "in_normal", "in_color")], ibo)

    def release_mesh(self):
        if self.vao is not None:
            self.vao.release()
        for b in self._buffers:
            b.release()
        self.vao, self._buffers = None, []

    def draw(self, camera: Camera, lighting: SphericalHarmonicsLighting, mode: str = "lit", background=(0.16, 0.16, 0.18)):
        """Draw into the framebuffer that is bound now."""
        import moderngl

        if mode not in self.MODES:
            raise ValueError(f"unknown shading mode {mode!r}; use {', '.join(self.MODES)}")
        self.ctx.clear(*background, 1.0, depth=1.0)
        if self.vao is None:
            return
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.prog["mvp"].write(np.ascontiguousarray(gl_projection(camera).T, dtype=np.float32).tobytes())
        self.prog["sh_w"].write(irradiance_weights(lighting.coeffs).astype(np.float32).tobytes())
        self.prog["mode"].value = 1 if mode == "normals" else 0
        self.vao.render()
        if mode == "wireframe":
            self.ctx.wireframe = True
            self.prog["mode"].value = 2
            self.prog["edge_color"].value = (0.1, 0.1, 0.1)
            self.ctx.polygon_offset = (-1.0, -1.0)
            self.vao.render()
            self.ctx.wireframe = False
            self.ctx.polygon_offset = (0.0, 0.0)

    def render_image(self, camera: Camera, lighting: SphericalHarmonicsLighting, size: int = 512, mode: str = "lit",
                     background=(1.0, 1.0, 1.0)) -> np.ndarray:
        """Offscreen: (size, size, 3) uint8 with 4x supersampling."""
        ss = 2
        if self._size != size:
            if self._fbo is not None:
                self._fbo.release()
            self._fbo = self.ctx.simple_framebuffer((size * ss, size * ss), components=4)
            self._size = size
        self._fbo.use()
        self.draw(camera, lighting, mode, background)
        img = np.frombuffer(self._fbo.read(components=3), np.uint8).reshape(size * ss, size * ss, 3)[::-1]
        return img.reshape(size, ss, size, ss, 3).mean(axis=(1, 3)).astype(np.uint8)
