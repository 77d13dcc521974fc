"""Golden images: each encoding of a procedural figure matches its stored reference.

Tolerance (see ``raster_meshes``): mean absolute error < 1/255 and < 0.5 % of the pixels with a
channel off by more than 8/255, in the encoding's own units. On failure the actual image, the
reference and an amplified difference are written to ``tests/failure/``. Regenerate references
with ``PYTHONPATH=. python scripts/gen_references.py`` after an intended change.
"""

from __future__ import annotations

import pytest
from raster_meshes import (
    GOLDEN_ENCODINGS,
    GOLDEN_SIZE,
    MAX_BAD_PIXEL_FRACTION,
    MEAN_TOLERANCE,
    compare_to_reference,
    gbuffer_array,
    golden_scene,
    load_reference,
    reference_path,
    write_failure_images,
)

from smplpix_rt.raster import GBufferRenderer, create_headless_context

pytestmark = pytest.mark.gl


@pytest.fixture(scope="module")
def renderer():
    ctx = create_headless_context()
    with GBufferRenderer(ctx, GOLDEN_SIZE, GOLDEN_SIZE) as r:
        yield r
    ctx.release()


@pytest.mark.parametrize("encoding", GOLDEN_ENCODINGS)
def test_encoding_matches_reference(renderer, encoding):
    path = reference_path(encoding)
    assert path.is_file(), f"missing {path}; run: PYTHONPATH=. python scripts/gen_references.py"
    mesh, camera = golden_scene()
    renderer.set_encoding(encoding)
    actual = gbuffer_array(renderer.render(mesh, camera))
    reference = load_reference(encoding)
    assert actual.shape == reference.shape
    mean_error, bad_fraction = compare_to_reference(actual, reference)
    if mean_error >= MEAN_TOLERANCE or bad_fraction >= MAX_BAD_PIXEL_FRACTION:
        folder = write_failure_images(f"raster_{encoding}", actual, reference, signed=encoding == "neural")
        pytest.fail(
            f"{encoding}: mean abs error {mean_error * 255:.2f}/255 (limit 1/255), "
            f"{bad_fraction:.2%} pixels off by > 8/255 (limit 0.5%); images in {folder}"
        )
