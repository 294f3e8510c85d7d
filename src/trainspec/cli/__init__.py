"""The command line. ``main`` turns trainspec errors into a message and exit status 2."""

from __future__ import annotations

import sys

__all__ = ["main"]


def _configure_logging() -> None:
    """trainspec's own log lines (per-epoch progress off a terminal, load reports, warnings)
    go to stderr as plain lines; other libraries stay at WARNING."""
    import logging
    import os

    class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
        """Writes to whatever ``sys.stderr`` is when a line is logged, so that ``main``
        called in-process (tests, notebooks) never keeps a stream that was since closed."""

        @property
        def stream(self) -> object:
            return sys.stderr

        @stream.setter
        def stream(self, value: object) -> None:
            del value

    # MLflow's INFO lines ("Creating initial MLflow database tables") and its artifact download
    # bars are not the user's business at a terminal; a run keeps them in its train.log.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logger = logging.getLogger("trainspec")
    if not logger.handlers:
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def main(argv: list[str] | None = None) -> None:
    """Run one command. ``--debug`` (anywhere) prints the traceback of an unexpected error."""
    from rich.markup import escape

    from trainspec.cli._app import app
    from trainspec.cli._console import err
    from trainspec.errors import TrainspecError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    _configure_logging()
    try:
        app(args=args, prog_name="trainspec")
    except TrainspecError as exc:
        # Messages hold brackets (``pip install 'trainspec[tracking]'``, ``layers[2]``): escape
        # them, or rich would read them as markup and drop them.
        err.print(f"[bold red]error[/]: {escape(str(exc))}", markup=True, highlight=False)
        sys.exit(exc.exit_code)
    except OSError as exc:
        from trainspec.files import is_storage_error, storage_error

        if not is_storage_error(exc):
            raise
        # A full disk or a refused write outside a run (predict --out, export): one sentence.
        err.print(f"[bold red]error[/]: {escape(str(storage_error(exc)))}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # every other failure: a short message, the traceback in a file
        from trainspec.cli._failure import describe_failure

        message, status = describe_failure(exc)
        if debug:
            import traceback

            err.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)
        err.print(f"[bold red]error[/]: {escape(message)}", markup=True, highlight=False)
        sys.exit(status)
