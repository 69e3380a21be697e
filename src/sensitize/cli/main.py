"""The ``sensitize`` command.

Sub-commands live in sibling modules (``sensitize.cli.screen``, ``...invivo``, ...); each
defines ``register(subparsers)`` which adds its parser and sets ``func`` to a callable
taking the parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from sensitize import __version__
from sensitize.core.errors import InputError


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="sensitize",
        description="Drug-combination screens, in vivo studies and patient cohorts.",
    )
    parser.add_argument("--version", action="version", version=f"sensitize {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import sensitize.cli as cli_pkg

    for mod in sorted(m.name for m in pkgutil.iter_modules(cli_pkg.__path__)):
        if mod in {"main"} or mod.startswith("_"):
            continue
        module = importlib.import_module(f"sensitize.cli.{mod}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sensitize`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except InputError as exc:
        print(f"sensitize: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"sensitize: error: file not found: {exc.filename or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
