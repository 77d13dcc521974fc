"""A synthetic ``SMPLX_NEUTRAL.npz`` so tests exercise the real ``smplx`` loader without the licensed data.

The generator lives in :mod:`smplpix_rt.body.smplx_synthetic` (the body benchmark uses it too):
10475 vertices on two closed parts, SMPL-X's kinematic tree, joint regressor and skinning weights
whose rows sum to 1, smooth shape / expression directions and small pose correctives.
"""

from __future__ import annotations

from smplpix_rt.body.smplx_synthetic import NUM_VERTICES, SMPLX_PARENTS, synthetic_smplx_arrays, write_synthetic_smplx

__all__ = ["NUM_VERTICES", "SMPLX_PARENTS", "synthetic_smplx_arrays", "write_synthetic_smplx"]
