"""Parametric body models: ``BodyParams`` -> posed ``Mesh`` in the shared world frame.

Owns: the :class:`~smplpix_rt.body.base.BodyModel` interface and its two implementations,
:class:`~smplpix_rt.body.anny_body.AnnyBody` (the default; runs from a baked ``.npz``, no ``anny``
import) and :class:`~smplpix_rt.body.smplx_body.SmplxBody` (loads licensed SMPL-X files through
``smplx``); the Anny bake (``anny_bake``); cached skinning (``skinning``); pose limits, presets,
mirroring and random poses (``pose_limits``, ``poses``); pose-sequence files and the demo motion
(``sequence``); body benchmarks (``bench``).

Does not own: rasterization (``smplpix_rt.raster``), the neural encodings derived from
``MeshTopology`` (``smplpix_rt.raster``), cameras (``smplpix_rt.camera``), or any GPU resource.
Everything here runs on the CPU with NumPy and PyTorch.

World frame of every body model: metres, +Y up, the body faces +Z, its left side is +X, and at
zero pose the lowest vertex touches y = 0 (before ``translation``).
"""

from __future__ import annotations

from pathlib import Path

from smplpix_rt.body.base import BodyModel
from smplpix_rt.errors import InputError

BODY_MODELS = ("anny", "smplx")


def load_body_model(name: str = "anny", model_path: str | Path | None = None, **kw) -> BodyModel:
    """Create a body model by name.

    Args:
        name: ``"anny"`` (default) or ``"smplx"``.
        model_path: Anny: the baked file (default ``models/anny_body.npz``); SMPL-X: required,
            the folder with ``SMPLX_NEUTRAL.npz`` (or the file itself).
        **kw: both: ``threads``, ``kernels``; SMPL-X only: ``gender``, ``num_betas``, ``num_expression``,
            ``vertex_colors``, ``pose_correctives``.

    Raises:
        InputError: unknown name, SMPL-X without a model path, or options the model does not take.
        ModelFileError: the model file is missing or invalid.
        BackendUnavailableError: SMPL-X without the ``smplx`` package.
    """
    key = name.strip().lower().replace("-", "")
    if key == "anny":
        unknown = set(kw) - {"threads", "kernels"}
        if unknown:
            raise InputError(f"unknown anny options {', '.join(sorted(unknown))}; allowed: kernels, threads")
        from smplpix_rt.body.anny_body import AnnyBody

        return AnnyBody(model_path, **kw)
    if key == "smplx":
        if model_path is None:
            raise InputError(
                "the SMPL-X body needs model_path: the folder holding SMPLX_NEUTRAL.npz (licensed; register and "
                "download at https://smpl-x.is.tue.mpg.de)"
            )
        allowed = {"gender", "num_betas", "num_expression", "vertex_colors", "threads", "pose_correctives", "kernels"}
        unknown = set(kw) - allowed
        if unknown:
            names = ", ".join(sorted(unknown))
            raise InputError(f"unknown SMPL-X options {names}; allowed: {', '.join(sorted(allowed))}")
        from smplpix_rt.body.smplx_body import SmplxBody

        return SmplxBody(model_path, **kw)
    raise InputError(f"unknown body model {name!r}; available: {', '.join(BODY_MODELS)}")


__all__ = ["BODY_MODELS", "BodyModel", "load_body_model"]
