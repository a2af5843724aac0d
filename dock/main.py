"""`dock`: the window when no subcommand is given, else the command line (which never imports Qt)."""

from __future__ import annotations

from collections.abc import Sequence

from dock import cli


def main(argv: Sequence[str] | None = None) -> int:
    args = cli.build_parser().parse_args(argv)
    if args.command is None:
        from dock.app import run  # the only path that imports Qt

        return run(args.data_dir)
    return cli.run(args)
