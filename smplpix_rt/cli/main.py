"""The ``smplpix`` command: one entry point, one module per subcommand.

Every subcommand module has ``register(subparsers)``, which adds its parser and sets
``func(args) -> int``. Errors the project raises on purpose (:class:`SmplpixError`) become one line
on stderr and exit code 1; anything unexpected becomes one line too (exit code 3), with the full
traceback only when ``SMPLPIX_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from smplpix_rt import __version__
from smplpix_rt.errors import SmplpixError

# (module, attribute) of each registration function, in help order.
_COMMANDS = [
    ("smplpix_rt.cli.render", "register"),
    ("smplpix_rt.cli.bench", "register"),
    ("smplpix_rt.cli.info", "register"),
    ("smplpix_rt.cli.bake", "register"),
    ("smplpix_rt.train.cli", "register"),
    ("smplpix_rt.bps.cli", "register"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smplpix",
        description="Real-time neural avatars: render, benchmark, train and export.",
    )
    parser.add_argument("--version", action="version", version=f"smplpix-rt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module_name, attr in _COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name == module_name:  # that part of the tool is not installed in this build
                continue
            raise
        getattr(module, attr)(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a pipe closed early fails here, inside the handlers below, not at exit
        return code
    except SmplpixError as e:
        print(f"smplpix {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"smplpix {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`smplpix info | head`): stop quietly, like other tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 141
    except Exception as e:  # a bug or an environment problem we did not foresee: still one line
        if os.environ.get("SMPLPIX_DEBUG"):
            raise
        print(
            f"smplpix {args.command}: internal error: {type(e).__name__}: {e} (set SMPLPIX_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
