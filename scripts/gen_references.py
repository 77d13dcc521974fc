"""Regenerate the rasterizer's golden images in ``tests/references/``.

Run from the repository root after an intended change to the shaders or the test scene:

    PYTHONPATH=. python scripts/gen_references.py

then look at the written images before committing them (``tests/failure/`` previews are
written by the failing tests with the same layout).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from raster_meshes import GOLDEN_ENCODINGS, GOLDEN_SIZE, golden_scene, save_reference  # noqa: E402

from smplpix_rt.raster import GBufferRenderer, create_headless_context, gl_info  # noqa: E402


def main() -> int:
    ctx = create_headless_context()
    try:
        print(f"rendering with {gl_info(ctx)['renderer']}")
        mesh, camera = golden_scene()
        with GBufferRenderer(ctx, GOLDEN_SIZE, GOLDEN_SIZE) as renderer:
            for encoding in GOLDEN_ENCODINGS:
                renderer.set_encoding(encoding)
                path = save_reference(renderer.render(mesh, camera))
                print(f"wrote {path.relative_to(ROOT)}")
    finally:
        ctx.release()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
