"""Grouping a body model's joints for the Pose panel: body, left hand, right hand, head.

Works from names and the parent table alone, so it serves every body model: a joint below a wrist
belongs to that side's hand, the neck chain and everything below it to the head, the rest to the
body. Within a group the joints keep their hierarchy (a forest of trees).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smplpix_rt.contracts import BodySpec

GROUPS = ("Body", "Left hand", "Right hand", "Head")

_LEFT = re.compile(r"(^|[._\-])(l|left)([._\-]|$)|\.L$|^left", re.IGNORECASE)
_RIGHT = re.compile(r"(^|[._\-])(r|right)([._\-]|$)|\.R$|^right", re.IGNORECASE)


def joint_side(name: str) -> str | None:
    """``"left"``, ``"right"`` or None for a joint name (``wrist.L``, ``left_wrist``, ``l_wrist``...)."""
    if _LEFT.search(name):
        return "left"
    if _RIGHT.search(name):
        return "right"
    return None


@dataclass(frozen=True)
class JointGroup:
    """Joints of one group as a forest.

    Attributes:
        name: one of :data:`GROUPS`.
        roots: indices of the group's joints whose parent is outside the group.
        children: per joint index of the group, its children inside the group.
    """

    name: str
    roots: tuple[int, ...]
    children: dict[int, tuple[int, ...]]

    @property
    def size(self) -> int:
        return len(self.children)


def _descendants(parents: list[int], start: int) -> set[int]:
    out, frontier = set(), [start]
    while frontier:
        joint = frontier.pop()
        for child, parent in enumerate(parents):
            if parent == joint and child not in out:
                out.add(child)
                frontier.append(child)
    return out


def group_of_each_joint(spec: BodySpec) -> list[str]:
    """The group name of every joint, in joint order."""
    names = [n.lower() for n in spec.joint_names]
    parents = [int(p) for p in spec.joint_parents]
    groups = ["Body"] * len(names)
    necks = [j for j, n in enumerate(names) if "neck" in n and (parents[j] < 0 or "neck" not in names[parents[j]])]
    head_roots = necks or [j for j, n in enumerate(names) if n == "head"]
    for root in head_roots:
        for joint in {root} | _descendants(parents, root):
            groups[joint] = "Head"
    for j, name in enumerate(names):
        side = joint_side(spec.joint_names[j])
        if "wrist" in name and side is not None:
            for joint in _descendants(parents, j):
                groups[joint] = "Left hand" if side == "left" else "Right hand"
    return groups


def joint_groups(spec: BodySpec) -> tuple[JointGroup, ...]:
    """The non-empty groups of :data:`GROUPS`, in that order."""
    membership = group_of_each_joint(spec)
    parents = [int(p) for p in spec.joint_parents]
    out = []
    for group in GROUPS:
        members = [j for j, g in enumerate(membership) if g == group]
        if not members:
            continue
        inside = set(members)
        children = {j: tuple(c for c in members if parents[c] == j) for j in members}
        roots = tuple(j for j in members if parents[j] not in inside)
        out.append(JointGroup(group, roots, children))
    return tuple(out)


__all__ = ["GROUPS", "JointGroup", "group_of_each_joint", "joint_groups", "joint_side"]
