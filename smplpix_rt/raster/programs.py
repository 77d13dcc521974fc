"""Building GL programs from the single-file GLSL sources in ``shaders/``.

A source file starts with its ``#version`` line and holds the vertex and fragment stages in
``#if defined VERTEX_SHADER`` / ``#elif defined FRAGMENT_SHADER`` sections; variants are selected
with extra defines. The caller owns (and releases) every program built here.
"""

from __future__ import annotations

from collections.abc import Sequence

import moderngl

from smplpix_rt.errors import GLUnavailableError
from smplpix_rt.resources import read_shader


def stage_source(source: str, stage: str, defines: Sequence[str] = ()) -> str:
    """The source of one stage: ``#define <stage>`` and ``defines`` inserted after ``#version``.

    Args:
        source: the whole shader file.
        stage: ``"VERTEX_SHADER"`` or ``"FRAGMENT_SHADER"``.
        defines: extra macro names to define.

    Returns:
        GLSL source for that stage.
    """
    version, newline, body = source.partition("\n")
    if not version.startswith("#version"):
        raise ValueError("a shader file must start with its #version line")
    lines = [f"#define {name}" for name in (stage, *defines)]
    return version + newline + "\n".join(lines) + "\n#line 2\n" + body


def build_program(ctx: moderngl.Context, name: str, defines: Sequence[str] = ()) -> moderngl.Program:
    """Compile and link ``shaders/<name>`` with the given defines.

    Args:
        ctx: the context that will own the program.
        name: file name inside ``shaders/``, e.g. ``"gbuffer.glsl"``.
        defines: macro names selecting a variant, e.g. ``("ENCODING_NEURAL",)``.

    Returns:
        The linked program; the caller releases it.

    Raises:
        GLUnavailableError: the driver rejected the program (too old or broken GL).
    """
    source = read_shader(name)
    try:
        return ctx.program(
            vertex_shader=stage_source(source, "VERTEX_SHADER", defines),
            fragment_shader=stage_source(source, "FRAGMENT_SHADER", defines),
        )
    except moderngl.Error as exc:
        detail = " ".join(str(exc).split())[:300]
        renderer = ctx.info.get("GL_RENDERER", "unknown renderer")
        raise GLUnavailableError(
            f"shader {name} {list(defines)} does not compile on {renderer}: {detail}; "
            "an OpenGL 3.3 core driver is required"
        ) from exc
