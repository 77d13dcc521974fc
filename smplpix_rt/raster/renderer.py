"""The G-buffer renderer: draws a posed :class:`Mesh` seen by a :class:`Camera` into float targets."""

from __future__ import annotations

import moderngl
import numpy as np

from smplpix_rt.camera import Camera
from smplpix_rt.contracts import GBuffer, Mesh, MeshTopology
from smplpix_rt.errors import InputError, SmplpixError
from smplpix_rt.raster.context import finish_releasing_gil, render_releasing_gil
from smplpix_rt.raster.encodings import DEFAULT_ENCODING, Encoding, get_encoding
from smplpix_rt.raster.mesh_buffers import TopologyCache, validate_mesh_arrays
from smplpix_rt.raster.programs import build_program

_SHADER = "gbuffer.glsl"


def widen_half(half: np.ndarray) -> np.ndarray:
    """A float32 copy of a float16 array (exact), converted on the calling thread.

    PyTorch's vectorized conversion is ~10x faster than NumPy's here; it runs with one intra-op
    thread, as the caller may share the cores with a generator (see ``smplpix_rt.body.skinning.torch_threads``).
    """
    import torch

    out = np.empty(half.shape, np.float32)
    previous = torch.get_num_threads()
    if previous != 1:
        torch.set_num_threads(1)
    try:
        torch.from_numpy(out).copy_(torch.from_numpy(np.ascontiguousarray(half)))
    finally:
        if previous != 1:
            torch.set_num_threads(previous)
    return out


def skips_back_faces(topology: MeshTopology, vertices: np.ndarray, camera: Camera) -> bool:
    """Whether drawing only the front faces of a mesh gives the same image as drawing all of them.

    True when the topology is closed (:attr:`MeshTopology.closed`) and every vertex lies between
    the camera's near and far planes. The camera then sees the surface from outside, nothing is
    clipped open, and along every pixel's ray the nearest surface is entered from outside: a
    front face. Two things can still tell the images apart, in single pixels: along the
    silhouette a back face and a front face meet at nearly the same depth and the depth test may
    pick either; and where posing folds the surface through itself, an inside-out patch facing
    the camera is dropped (both images then show a skinning artefact).

    Args:
        topology: the mesh's topology.
        vertices: (V, 3) float32 world positions.
        camera: the view.
    """
    if not topology.closed:
        return False
    depth = vertices @ np.asarray(camera.rotation, np.float32)[2] + np.float32(camera.translation[2])
    return bool(depth.min() > camera.near and depth.max() < camera.far)


class GBufferRenderer:
    """Rasterizes meshes into the RGBA16F render targets of one encoding.

    The renderer is the single owner of its GL objects: one program per encoding used, the
    framebuffer with its colour textures and depth renderbuffer, and the vertex/index buffers of
    every topology it has drawn (cached by topology identity, least recently used dropped first).
    Per frame only vertex positions and normals are uploaded. The framebuffer's row 0 is the
    image's top row (see :meth:`Camera.projection`), so ``textures`` hold image rows top-first and
    read-backs need no flip.

    Faces are drawn from both sides, except that back faces are skipped when that cannot change
    the image (see :func:`skips_back_faces`): under a software OpenGL driver that cuts the raster
    time of a body mesh, whose triangles are about as many as the pixels it covers, by 20-35 %.

    Args:
        ctx: the moderngl context that owns every object created here.
        width, height: render target size in pixels.
        encoding: name of the encoding (see :mod:`smplpix_rt.raster.encodings`).

    Raises:
        InputError: unknown encoding or a size the driver cannot allocate.
    """

    def __init__(self, ctx: moderngl.Context, width: int, height: int, encoding: str = DEFAULT_ENCODING) -> None:
        self._ctx = ctx
        self._released = False
        self._programs: dict[str, moderngl.Program] = {}
        self._topologies = TopologyCache(ctx)
        self._textures: tuple[moderngl.Texture, ...] = ()
        self._depth: moderngl.Renderbuffer | None = None
        self._framebuffer: moderngl.Framebuffer | None = None
        self._clear_framebuffers: dict[int, moderngl.Framebuffer] = {}
        self._size = self._checked_size(width, height)
        self._encoding = get_encoding(encoding)
        try:
            self._program_for(self._encoding)
            self._create_targets()
        except BaseException:
            self.release()
            raise

    # ----------------------------------------------------------------------------------- state

    @property
    def ctx(self) -> moderngl.Context:
        """The context the renderer draws with."""
        return self._ctx

    @property
    def width(self) -> int:
        """Render target width in pixels."""
        return self._size[0]

    @property
    def height(self) -> int:
        """Render target height in pixels."""
        return self._size[1]

    @property
    def encoding(self) -> Encoding:
        """The current encoding."""
        return self._encoding

    @property
    def textures(self) -> tuple[moderngl.Texture, ...]:
        """The RGBA16F colour targets, one per encoding target, rows top-first.

        They hold the result of the last :meth:`draw`. They are replaced by :meth:`resize` and by
        :meth:`set_encoding` when the targets change: fetch them again after those calls.
        """
        self._check_alive()
        return self._textures

    def set_encoding(self, name: str) -> None:
        """Switch to another encoding (compiles its program on first use).

        Raises:
            InputError: unknown encoding name.
        """
        self._check_alive()
        encoding = get_encoding(name)
        self._program_for(encoding)
        previous, self._encoding = self._encoding, encoding
        if previous.num_targets != encoding.num_targets or previous.clear_values != encoding.clear_values:
            self._release_targets()
            self._create_targets()

    def resize(self, width: int, height: int) -> None:
        """Reallocate the render targets for a new size (no-op when unchanged).

        Raises:
            InputError: non-positive size or larger than the driver's maximum texture size.
        """
        self._check_alive()
        size = self._checked_size(width, height)
        if size != self._size:
            self._release_targets()
            self._size = size
            self._create_targets()

    # --------------------------------------------------------------------------------- drawing

    def draw(self, mesh: Mesh, camera: Camera) -> None:
        """Rasterize ``mesh`` into :attr:`textures` without reading anything back.

        Args:
            mesh: posed mesh; vertices and normals (V, 3) float32 in the world frame.
            camera: the view; its size must equal the renderer's.

        Raises:
            InputError: camera size differs from the renderer's, or invalid mesh arrays.
        """
        self._check_alive()
        if (camera.width, camera.height) != self._size:
            raise InputError(
                f"camera is {camera.width}x{camera.height} but the renderer is {self.width}x{self.height}; "
                f"pass camera.resized({self.width}, {self.height}) or call renderer.resize() first"
            )
        vertices, normals = validate_mesh_arrays(mesh)
        buffers = self._topologies.get(mesh.topology)
        buffers.upload(vertices, normals)
        program = self._program_for(self._encoding)
        self._set_uniforms(program, camera, vertices)
        vertex_array = buffers.vertex_array(self._encoding.name, program)
        ctx = self._ctx
        self._clear()
        cull = skips_back_faces(mesh.topology, vertices, camera)
        # The scope binds our framebuffer with depth testing (and culling) only, no blending, and
        # restores the caller's framebuffer and enable flags; the depth function stays GL's default "<".
        # Each ctx.scope() is a GL-side object: release it at once, or it lives as long as the context.
        flags = moderngl.DEPTH_TEST | (moderngl.CULL_FACE if cull else 0)
        scope = ctx.scope(self._framebuffer, enable_only=flags)
        front_face, cull_face = ctx.front_face, ctx.cull_face
        try:
            with scope:
                ctx.depth_func = "<"
                if cull:
                    # Faces are counter-clockwise seen from outside with y up; rows run top-first
                    # here (y down), which mirrors the winding in window space.
                    ctx.front_face, ctx.cull_face = "cw", "back"
                render_releasing_gil(vertex_array, moderngl.TRIANGLES)
        finally:
            ctx.front_face, ctx.cull_face = front_face, cull_face
            scope.release()

    def render(self, mesh: Mesh, camera: Camera) -> GBuffer:
        """Rasterize ``mesh`` and read every target back.

        Args:
            mesh: posed mesh; vertices and normals (V, 3) float32 in the world frame.
            camera: the view; its size must equal the renderer's.

        Returns:
            The G-buffer: one (H, W, 4) float32 plane per target, row 0 at the top, and the
            (H, W) bool mask.

        Raises:
            InputError: camera size differs from the renderer's, or invalid mesh arrays.
        """
        self.draw(mesh, camera)
        finish_releasing_gil(self.ctx)  # rasterize with the GIL released; the reads below only copy
        planes = tuple(self._read_target(index) for index in range(self._encoding.num_targets))
        target, component = self._encoding.channel_index(self._encoding.mask_channel)
        mask = planes[target][:, :, component] > 0.5
        return GBuffer(encoding=self._encoding.name, planes=planes, mask=mask)

    # ------------------------------------------------------------------------------- lifecycle

    def release(self) -> None:
        """Free every GL object of this renderer. Idempotent; the renderer is unusable afterwards."""
        if self._released:
            return
        self._released = True
        self._release_targets()
        self._topologies.release()
        for program in self._programs.values():
            program.release()
        self._programs.clear()

    def __enter__(self) -> GBufferRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -------------------------------------------------------------------------------- internal

    def _check_alive(self) -> None:
        if self._released:
            raise SmplpixError("this GBufferRenderer has been released; create a new one")

    def _checked_size(self, width: int, height: int) -> tuple[int, int]:
        limit = int(self._ctx.info.get("GL_MAX_TEXTURE_SIZE", 16384))
        if not all(isinstance(v, (int, np.integer)) for v in (width, height)):
            raise InputError(f"render size must be integers, got {width!r}x{height!r}")
        if not (1 <= width <= limit and 1 <= height <= limit):
            raise InputError(f"render size must be within 1..{limit} pixels per side, got {width}x{height}")
        return int(width), int(height)

    def _program_for(self, encoding: Encoding) -> moderngl.Program:
        program = self._programs.get(encoding.name)
        if program is None:
            program = build_program(self._ctx, _SHADER, (encoding.shader_define,))
            self._programs[encoding.name] = program
        return program

    def _create_targets(self) -> None:
        ctx, size = self._ctx, self._size
        textures = []
        for _ in range(self._encoding.num_targets):
            texture = ctx.texture(size, 4, dtype="f2")
            texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
            textures.append(texture)
        self._textures = tuple(textures)
        self._depth = ctx.depth_renderbuffer(size)
        self._framebuffer = ctx.framebuffer(color_attachments=self._textures, depth_attachment=self._depth)
        # glClear writes one colour to every attachment: targets with another background value
        # are cleared again through a framebuffer of their own.
        first = self._encoding.clear_values[0]
        for index, value in enumerate(self._encoding.clear_values):
            if value != first:
                self._clear_framebuffers[index] = ctx.framebuffer(color_attachments=[self._textures[index]])

    def _release_targets(self) -> None:
        for framebuffer in self._clear_framebuffers.values():
            framebuffer.release()
        self._clear_framebuffers.clear()
        for obj in (self._framebuffer, self._depth, *self._textures):
            if obj is not None:
                obj.release()
        self._framebuffer, self._depth, self._textures = None, None, ()

    def _clear(self) -> None:
        """Reset colours to the encoding's background and depth to far (the bound framebuffer stays bound)."""
        values = self._encoding.clear_values
        self._framebuffer.clear(color=values[0], depth=1.0)
        for index, framebuffer in self._clear_framebuffers.items():
            framebuffer.clear(color=values[index])

    def _set_uniforms(self, program: moderngl.Program, camera: Camera, vertices: np.ndarray) -> None:
        view = camera.view()
        uniforms: dict[str, object] = {
            "u_mvp": camera.gl_mvp(),
            "u_view": view,
        }
        encoding = self._encoding
        if encoding.depth_scale_m is not None:
            centroid = vertices.mean(axis=0, dtype=np.float64)
            uniforms["u_depth_ref"] = float(view[2, :3] @ centroid + view[2, 3])
            uniforms["u_depth_scale"] = float(encoding.depth_scale_m)
        if encoding.lighting is not None:
            light = encoding.lighting
            direction = np.asarray(light.direction, np.float64)
            uniforms["u_light_dir"] = tuple(direction / np.linalg.norm(direction))
            uniforms["u_ambient"] = float(light.ambient)
            uniforms["u_diffuse"] = float(light.diffuse)
            uniforms["u_albedo"] = tuple(light.albedo)
        for name, value in uniforms.items():
            if name not in program:
                continue
            if isinstance(value, np.ndarray):  # matrices: GLSL expects column-major storage
                program[name].write(np.ascontiguousarray(value.T, dtype=np.float32).tobytes())
            else:
                program[name].value = value

    def _read_target(self, index: int) -> np.ndarray:
        # The targets hold half floats. Asked for float32, Mesa's llvmpipe converts them in a slow
        # generic path; read as they are and widened by widen_half, the same values came back in
        # 0.17 instead of 0.40 ms for the two 256² targets here, 1.0 instead of 1.6 ms at 512².
        half = np.empty((self.height, self.width, 4), np.float16)
        self._framebuffer.read_into(half, components=4, attachment=index, dtype="f2")
        return widen_half(half)
