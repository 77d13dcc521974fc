"""Headless context creation, driver info and shader-program building."""

from __future__ import annotations

import os
import subprocess
import sys

import moderngl
import pytest

from smplpix_rt.errors import BackendUnavailableError, GLUnavailableError
from smplpix_rt.raster import programs
from smplpix_rt.raster.context import create_headless_context, gl_info, is_software_renderer, software_gl_threads


def test_context_failure_names_the_cause_and_what_to_install(monkeypatch):
    def fail(*args, **kwargs):
        raise Exception("eglGetDisplay failed:\n  no EGL display available")

    monkeypatch.setattr(moderngl, "create_standalone_context", fail)
    with pytest.raises(GLUnavailableError) as info:
        create_headless_context()
    message = str(info.value)
    assert "\n" not in message
    assert "apt-get install libegl1 libgl1" in message
    assert "eglGetDisplay failed: no EGL display available" in message
    assert "3.3" in message
    assert isinstance(info.value, BackendUnavailableError)


def test_stage_source_puts_defines_after_version_and_keeps_line_numbers():
    source = "#version 330 core\nvoid main() {}\n"
    text = programs.stage_source(source, "VERTEX_SHADER", ("ENCODING_NEURAL",))
    lines = text.splitlines()
    assert lines[0] == "#version 330 core"
    assert lines[1:4] == ["#define VERTEX_SHADER", "#define ENCODING_NEURAL", "#line 2"]
    assert lines[4] == "void main() {}"


@pytest.mark.gl
def test_headless_context_and_info():
    ctx = create_headless_context()
    try:
        info = gl_info(ctx)
        assert set(info) == {"renderer", "version", "vendor", "max_texture_size"}
        assert all(isinstance(v, str) and v for v in info.values())
        assert ctx.version_code >= 330
        assert isinstance(is_software_renderer(ctx), bool)
    finally:
        ctx.release()


@pytest.mark.gl
def test_broken_shader_is_reported_with_its_name(monkeypatch):
    monkeypatch.setattr(programs, "read_shader", lambda name: "#version 330 core\nthis is not glsl\n")
    ctx = create_headless_context()
    try:
        with pytest.raises(GLUnavailableError, match=r"shader broken\.glsl"):
            programs.build_program(ctx, "broken.glsl")
    finally:
        ctx.release()


@pytest.mark.gl
def test_finish_releasing_gil_waits_for_the_queued_work(monkeypatch):
    import numpy as np

    from smplpix_rt.raster import context as context_module

    ctx = create_headless_context()
    try:
        assert context_module._ctypes_gl() is not None  # GLVND's libOpenGL is on every supported box
        texture = ctx.texture((64, 64), 4)
        framebuffer = ctx.framebuffer([texture])
        framebuffer.use()
        ctx.clear(0.0, 1.0, 0.0, 1.0)
        context_module.finish_releasing_gil(ctx)
        pixels = np.frombuffer(framebuffer.read(components=4), np.uint8).reshape(64, 64, 4)
        assert (pixels == [0, 255, 0, 255]).all()

        calls = []
        monkeypatch.setattr(context_module, "_ctypes_gl", lambda: None)
        monkeypatch.setattr(type(ctx), "finish", lambda self: calls.append(self))
        context_module.finish_releasing_gil(ctx)  # no GL library: moderngl's own finish
        assert calls == [ctx]
    finally:
        ctx.release()


@pytest.mark.gl
def test_gil_free_draw_matches_moderngl(monkeypatch):
    import numpy as np
    from raster_meshes import golden_scene

    from smplpix_rt.raster import context as context_module
    from smplpix_rt.raster.renderer import GBufferRenderer

    mesh, camera = golden_scene()
    ctx = create_headless_context()
    try:
        renderer = GBufferRenderer(ctx, camera.width, camera.height, encoding="neural")
        through_ctypes = renderer.render(mesh, camera)
        monkeypatch.setattr(context_module, "_ctypes_gl", lambda: None)
        through_moderngl = renderer.render(mesh, camera)
        assert through_ctypes.mask.any()
        for a, b in zip(through_ctypes.planes, through_moderngl.planes, strict=True):
            np.testing.assert_array_equal(a, b)
        renderer.release()
    finally:
        ctx.release()


_COUNT_HEADLESS_GL_THREADS = """
import os
from smplpix_rt.raster.context import create_headless_context
ctx = create_headless_context(software_threads={threads})
names = [open(f"/proc/self/task/{{t}}/comm").read().strip() for t in os.listdir("/proc/self/task")]
print(ctx.info["GL_RENDERER"].split()[0], sum(name.startswith("llvmpipe") for name in names))
print(os.environ.get("LP_NUM_THREADS"))
"""


@pytest.mark.parametrize("threads", [0, 1])
def test_headless_context_with_software_rasterizer_threads(threads):
    env = {k: v for k, v in os.environ.items() if k != "LP_NUM_THREADS"}
    code = _COUNT_HEADLESS_GL_THREADS.format(threads=threads)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    renderer, count, leftover = result.stdout.split()
    assert leftover == "None"  # set for the context's creation only
    if renderer != "llvmpipe":
        pytest.skip(f"the headless OpenGL is {renderer}, not Mesa llvmpipe")
    assert int(count) == threads


def test_software_gl_threads_sets_lp_num_threads_only_inside_the_block(monkeypatch):
    monkeypatch.delenv("LP_NUM_THREADS", raising=False)
    with software_gl_threads(0):
        assert os.environ["LP_NUM_THREADS"] == "0"
    assert "LP_NUM_THREADS" not in os.environ
    with software_gl_threads(None):
        assert "LP_NUM_THREADS" not in os.environ
    monkeypatch.setenv("LP_NUM_THREADS", "3")  # the user's own setting wins, and stays
    with software_gl_threads(0):
        assert os.environ["LP_NUM_THREADS"] == "3"
    assert os.environ["LP_NUM_THREADS"] == "3"
