"""The command line. ``main`` turns trainspec errors into a message and exit status 2."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    from trainspec.cli._app import app
    from trainspec.cli._console import err
    from trainspec.errors import TrainspecError

    try:
        app(args=argv, prog_name="trainspec")
    except TrainspecError as exc:
        err.print(f"[bold red]error[/]: {exc}", markup=True, highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
