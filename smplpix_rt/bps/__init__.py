"""Basis point sets (BPS): fixed-size features for point clouds, and what they are used for here.

Owns: basis arrangements and normalization (``basis``), exact batched nearest-neighbour search
(``search``), the encoder (``encoder``) and its benchmark (``bench``); the ModelNet40 BPS-MLP
classifier demo (``modelnet``, with generated test shapes in ``synthetic_shapes``); scan reading
(``scan_io``) and body fitting from scans (``fit_scan``: regressor in ``fit_model``, synthetic
training scans in ``fit_data``, training and held-out evaluation in ``fit_train``); the
``smplpix bps`` and ``smplpix fit-scan`` commands (``cli``).

Does not own: body models (``smplpix_rt.body``) or the avatar state file (``smplpix_rt.state``),
which fitting only uses. Importing this package loads NumPy only; PyTorch, SciPy, h5py and
scikit-learn are imported by the functions that need them.
"""

from smplpix_rt.bps.basis import (
    denormalize,
    grid_basis,
    grid_size_for,
    normalize,
    random_basis,
)
from smplpix_rt.bps.encoder import CELLS, encode
from smplpix_rt.bps.search import NearestPoints, nearest_points

__all__ = [
    "random_basis",
    "grid_basis",
    "grid_size_for",
    "normalize",
    "denormalize",
    "encode",
    "CELLS",
    "nearest_points",
    "NearestPoints",
]
