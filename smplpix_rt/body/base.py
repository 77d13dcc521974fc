"""The interface every body model implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from smplpix_rt.contracts import BodyParams, BodySpec, Mesh, MeshTopology
from smplpix_rt.errors import InputError


class BodyModel(ABC):
    """A parametric body: ``forward(BodyParams) -> Mesh``.

    Implementations cache the shaped rest state (shape + expression blendshapes, rest joints) and
    recompute it only when ``shape`` or ``expression`` change, so a pose-only edit costs skinning.
    """

    spec: BodySpec
    topology: MeshTopology

    @abstractmethod
    def forward(self, params: BodyParams) -> Mesh:
        """Pose and shape the body. Raises :class:`InputError` on invalid parameters."""

    def joints(self, params: BodyParams) -> np.ndarray:
        """(J, 3) float32 posed joint positions (the rotation pivots) in the world frame.

        Used by pose tools that need the skeleton (e.g. presets adapting to A- or T-pose rigs).
        """
        raise NotImplementedError(f"{type(self).__name__} does not expose its joint positions")

    def default_params(self) -> BodyParams:
        """Rest pose, neutral shape, neutral expression, standing on the origin."""
        s = self.spec
        return BodyParams(
            pose=np.zeros((s.num_joints, 3), np.float32),
            shape=s.shape_defaults.astype(np.float32).copy(),
            expression=np.zeros(s.num_expression, np.float32),
            translation=np.zeros(3, np.float32),
        )

    def validate(self, params: BodyParams) -> BodyParams:
        """Check shapes and finiteness; clip shape and expression into their ranges.

        Raises:
            InputError: wrong array shapes or NaN / inf values.
        """
        s = self.spec
        expected = {
            "pose": (s.num_joints, 3),
            "shape": (s.num_shape,),
            "expression": (s.num_expression,),
            "translation": (3,),
        }
        arrays = {}
        for name, shape in expected.items():
            a = np.asarray(getattr(params, name), np.float32)
            if a.shape != shape:
                raise InputError(f"{s.name} body: {name} must have shape {shape}, got {a.shape}")
            if not np.isfinite(a).all():
                raise InputError(f"{s.name} body: {name} contains NaN or infinite values")
            arrays[name] = a
        arrays["shape"] = np.clip(arrays["shape"], s.shape_ranges[:, 0], s.shape_ranges[:, 1])
        arrays["expression"] = np.clip(arrays["expression"], s.expression_ranges[:, 0], s.expression_ranges[:, 1])
        return BodyParams(**arrays)

    def joint_index(self, name: str) -> int:
        """Index of a joint by name. Raises :class:`InputError` naming close matches."""
        try:
            return self.spec.joint_names.index(name)
        except ValueError:
            import difflib

            close = difflib.get_close_matches(name, self.spec.joint_names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise InputError(f"unknown joint {name!r} for the {self.spec.name} body{hint}") from None
