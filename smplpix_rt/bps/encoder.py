"""Basis point set encoding: a fixed-size feature for any point cloud.

For each basis point b and a cloud X, with x* the point of X nearest to b, a cell holds

* ``"dists"``: ``|x* - b|`` — one float per basis point, features (C, M);
* ``"deltas"``: ``x* - b`` — features (C, M, D);
* ``"closest"``: ``x*`` itself — features (C, M, D).

These are the cell types of the original work, in the same units as the clouds (normalize first with
:func:`smplpix_rt.bps.normalize` to match models trained on normalized clouds). Per-point attributes
(colours, normals) of x* can be gathered with the indices from :func:`smplpix_rt.bps.nearest_points`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from smplpix_rt.bps.basis import as_clouds
from smplpix_rt.bps.search import Method, nearest_points, validate_basis
from smplpix_rt.errors import InputError

Cell = Literal["dists", "deltas", "closest"]
CELLS: tuple[str, ...] = ("dists", "deltas", "closest")


def encode(clouds: np.ndarray, basis: np.ndarray, cell: Cell = "dists", method: Method = "auto") -> np.ndarray:
    """Encode clouds against a basis.

    Args:
        clouds: (C, P, D) clouds, or one (P, D) cloud (the result then drops the leading C).
        basis: (M, D) basis points, e.g. from :func:`smplpix_rt.bps.random_basis`.
        cell: ``"dists"``, ``"deltas"`` or ``"closest"`` (see the module docs).
        method: nearest-neighbour method, see :func:`smplpix_rt.bps.nearest_points`.

    Returns:
        float32 features: (C, M) for ``"dists"``, (C, M, D) otherwise.

    Raises:
        InputError: invalid clouds or basis, or an unknown cell type.
    """
    if cell not in CELLS:
        raise InputError(f"unknown BPS cell type {cell!r}; use one of {', '.join(CELLS)}")
    x, single = as_clouds(clouds, "clouds")
    b = validate_basis(basis, x.shape[2])
    nearest = nearest_points(x, b, method)
    if cell == "dists":
        out = nearest.distances
    else:
        closest = np.take_along_axis(x, nearest.indices[..., None], axis=1)
        out = closest if cell == "closest" else closest - b[None]
    return out[0] if single else out


__all__ = ["Cell", "CELLS", "encode"]
