"""ImageBlitter: textures drawn into framebuffers (offscreen and a GLFW window's) read back correctly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import moderngl
import numpy as np
import pytest
from raster_meshes import front_camera, snowman_mesh

from smplpix_rt.errors import InputError, SmplpixError
from smplpix_rt.raster import (
    ChannelMode,
    GBufferRenderer,
    ImageBlitter,
    ImageMode,
    OverlayMode,
    create_headless_context,
)

pytestmark = pytest.mark.gl

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ctx():
    context = create_headless_context()
    yield context
    context.release()


@pytest.fixture()
def blitter(ctx):
    with ImageBlitter(ctx) as b:
        yield b


@pytest.fixture(scope="module")
def framebuffer(ctx):
    """A 40x30 RGBA8 offscreen framebuffer shared by the module's tests."""
    texture = ctx.texture((40, 30), 4)
    framebuffer = ctx.framebuffer(color_attachments=[texture])
    yield framebuffer
    framebuffer.release()
    texture.release()


@pytest.fixture()
def target(framebuffer):
    """The offscreen framebuffer, bound and cleared to blue."""
    framebuffer.use()
    framebuffer.clear(0.0, 0.0, 1.0, 1.0)
    return framebuffer


def read_rgb(framebuffer: moderngl.Framebuffer) -> np.ndarray:
    """(H, W, 3) uint8 in GL order: row 0 is the framebuffer's bottom row."""
    width, height = framebuffer.size
    return np.frombuffer(framebuffer.read(components=3), np.uint8).reshape(height, width, 3)


def test_image_round_trip_puts_row_zero_at_the_top(blitter, target):
    image = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    texture = blitter.upload_image(image)
    blitter.draw(texture, (0, 0, 40, 30), smooth=False)
    np.testing.assert_array_equal(np.flipud(read_rgb(target)), image)
    blitter.draw(texture, (0, 0, 40, 30), ImageMode(), flip_y=False, smooth=False)
    np.testing.assert_array_equal(read_rgb(target), image)


def test_float_image_and_viewport_rectangle(blitter, target):
    image = np.linspace(0.0, 1.0, 10 * 16 * 3, dtype=np.float32).reshape(10, 16, 3)
    texture = blitter.upload_image(image)
    assert texture.dtype == "f4"
    blitter.draw(texture, (20, 5, 16, 10), smooth=False)
    out = read_rgb(target)
    np.testing.assert_allclose(np.flipud(out[5:15, 20:36]), image * 255, atol=1.0)
    outside = np.ones(out.shape[:2], bool)
    outside[5:15, 20:36] = False
    assert np.all(out[outside] == [0, 0, 255])  # nothing drawn outside the viewport
    assert target.viewport == (0, 0, 40, 30)  # viewport restored


def test_channel_view_picks_scales_and_shifts_channels(ctx, blitter, target):
    texel = np.array([-1.0, 0.5, 0.25, 2.0], np.float32)
    texture = ctx.texture((4, 4), 4, np.tile(texel, 16).astype(np.float16).tobytes(), dtype="f2")
    try:
        mode = ChannelMode(channels=(0, 3, 2), scale=(0.5, 0.25, 2.0), offset=0.5)
        blitter.draw(texture, (0, 0, 40, 30), mode)
        expected = np.clip([-1.0 * 0.5 + 0.5, 2.0 * 0.25 + 0.5, 0.25 * 2.0 + 0.5], 0, 1) * 255
        np.testing.assert_allclose(read_rgb(target)[15, 20], expected, atol=1.0)
    finally:
        texture.release()


def test_overlay_blends_by_overlay_alpha_times_opacity(ctx, blitter, target):
    base = blitter.upload_image(np.full((8, 8, 3), (255, 0, 0), np.uint8), slot="base")
    over_data = np.zeros((8, 8, 4), np.uint8)
    over_data[:, :4] = (0, 255, 0, 255)  # left half opaque green, right half transparent
    overlay = ctx.texture((8, 8), 4, over_data.tobytes())
    try:
        blitter.draw(base, (0, 0, 40, 30), OverlayMode(overlay, opacity=0.25), smooth=False)
        out = read_rgb(target)
        np.testing.assert_allclose(out[15, 5], [191, 64, 0], atol=1.0)
        np.testing.assert_array_equal(out[15, 35], [255, 0, 0])
    finally:
        overlay.release()


def test_renderer_targets_display_as_rendered(ctx, blitter, target):
    mesh, camera = snowman_mesh(detail=8), front_camera(40)
    with GBufferRenderer(ctx, 40, 40, encoding="smplpix") as renderer:
        gbuffer = renderer.render(mesh, camera)
        renderer.draw(mesh, camera)
        target.use()
        blitter.draw(renderer.textures[0], (0, 0, 40, 30), flip_y=True, smooth=False)
    shown = np.flipud(read_rgb(target)).astype(np.float32) / 255
    rows = (np.arange(30) + 0.5) * 40 / 30 - 0.5  # nearest sampling of 40 rows into 30
    expected = gbuffer.planes[0][np.round(rows).astype(int), :, :3]
    assert np.mean(np.abs(shown - expected) > 2 / 255) < 0.02


def test_upload_reuses_the_texture_of_a_slot_while_the_size_stays(blitter):
    a = blitter.upload_image(np.zeros((4, 6, 3), np.uint8))
    assert blitter.upload_image(np.ones((4, 6, 3), np.uint8)) is a
    other_slot = blitter.upload_image(np.zeros((4, 6, 3), np.uint8), slot="reference")
    assert other_slot is not a
    bigger = blitter.upload_image(np.zeros((5, 6, 3), np.uint8))
    assert bigger is not a and bigger.size == (6, 5)
    assert isinstance(a.mglo, moderngl.InvalidObject)


def test_invalid_blit_inputs(ctx, blitter):
    texture = blitter.upload_image(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(InputError, match=r"shape \(H, W, 3\)"):
        blitter.upload_image(np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(InputError, match="uint8 or floating"):
        blitter.upload_image(np.zeros((2, 2, 3), np.int64))
    with pytest.raises(InputError, match="positive size"):
        blitter.draw(texture, (0, 0, 0, 10))
    with pytest.raises(InputError, match="3 channel indices"):
        blitter.draw(texture, (0, 0, 2, 2), ChannelMode(channels=(0, 4, 1)))
    with pytest.raises(InputError, match="scale"):
        blitter.draw(texture, (0, 0, 2, 2), ChannelMode(scale=(1.0, 2.0)))
    with pytest.raises(InputError, match="opacity"):
        blitter.draw(texture, (0, 0, 2, 2), OverlayMode(texture, opacity=1.5))


def test_release_frees_programs_and_textures(ctx):
    blitter = ImageBlitter(ctx)
    texture = blitter.upload_image(np.zeros((2, 2, 3), np.uint8))
    programs = list(blitter._programs.values())
    blitter.release()
    blitter.release()
    assert isinstance(texture.mglo, moderngl.InvalidObject)
    assert all(isinstance(p.mglo, moderngl.InvalidObject) for p in programs)
    with pytest.raises(SmplpixError, match="released"):
        blitter.upload_image(np.zeros((2, 2, 3), np.uint8))


_WINDOW_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import imgui_bundle  # noqa: F401  (before glfw: selects its GLFW 3.5 with the null platform)
    import glfw, moderngl
    from smplpix_rt.raster import ImageBlitter

    glfw.init_hint(glfw.PLATFORM, glfw.PLATFORM_NULL)
    if not glfw.init():
        print(json.dumps({"skip": "GLFW null platform unavailable"})); sys.exit(0)
    for hint, value in ((glfw.CONTEXT_CREATION_API, glfw.EGL_CONTEXT_API), (glfw.CONTEXT_VERSION_MAJOR, 3),
                        (glfw.CONTEXT_VERSION_MINOR, 3), (glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE),
                        (glfw.OPENGL_FORWARD_COMPAT, True), (glfw.VISIBLE, False)):
        glfw.window_hint(hint, value)
    window = glfw.create_window(32, 24, "blit", None, None)
    if not window:
        print(json.dumps({"skip": "no GLFW window"})); sys.exit(0)
    glfw.make_context_current(window)
    ctx = moderngl.create_context()
    image = np.random.default_rng(1).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    with ImageBlitter(ctx) as blitter:
        ctx.screen.use()
        blitter.draw(blitter.upload_image(image), (0, 0, 32, 24), smooth=False)
        shown = np.frombuffer(ctx.screen.read(components=3), np.uint8).reshape(24, 32, 3)
        ctx.error  # reading the default framebuffer leaves a harmless GL error behind
    glfw.destroy_window(window)
    glfw.terminate()
    print(json.dumps({"equal": bool(np.array_equal(np.flipud(shown), image))}))
    """
)


def test_blit_into_a_glfw_window(tmp_path):
    pytest.importorskip("imgui_bundle")
    pytest.importorskip("glfw")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("DISPLAY", None)
    run = subprocess.run(
        [sys.executable, "-c", _WINDOW_SCRIPT], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    if "skip" in result:
        pytest.skip(result["skip"])
    assert result["equal"]
