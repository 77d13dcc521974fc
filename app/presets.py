"""Per-body-model extras the panels show: joint groups, pose and expression presets, pose helpers.

Built once per body model from :mod:`smplpix_rt.body.poses` and :mod:`.joints`, and kept in the
app state as read-only data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from smplpix_rt.body.base import BodyModel

from .joints import JointGroup, joint_groups


@dataclass(frozen=True)
class BodyExtras:
    """What the Pose and Expression panels offer for one body model.

    Attributes:
        groups: the joints grouped as body / left hand / right hand / head.
        pose_presets: name → (J, 3) float32 axis-angle pose in radians.
        expression_presets: name → (E,) float32 expression parameters.
        mirror: (J, 3) pose → its left/right mirror image, or None if the model cannot mirror.
    """

    groups: tuple[JointGroup, ...]
    pose_presets: Mapping[str, np.ndarray] = field(default_factory=dict)
    expression_presets: Mapping[str, np.ndarray] = field(default_factory=dict)
    mirror: Callable[[np.ndarray], np.ndarray] | None = None


def body_extras(body: BodyModel) -> BodyExtras:
    """Joint groups, presets and the mirror function for ``body``."""
    from smplpix_rt.body import poses

    pose_presets = {name: np.asarray(p, np.float32) for name, p in poses.pose_presets(body).items()}
    expression_presets = {name: np.asarray(e, np.float32) for name, e in poses.expression_presets(body).items()}
    return BodyExtras(
        groups=joint_groups(body.spec),
        pose_presets=MappingProxyType(pose_presets),
        expression_presets=MappingProxyType(expression_presets),
        mirror=lambda pose: np.asarray(poses.mirror_pose(body, pose), np.float32),
    )


__all__ = ["BodyExtras", "body_extras"]
