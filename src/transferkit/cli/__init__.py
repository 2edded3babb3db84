"""The ``transferkit`` command: parses arguments into the settings objects the Python API
takes (:mod:`~transferkit.cli.options`, from the table in :mod:`~transferkit.cli.parser`),
calls the workflow in :mod:`transferkit.runs`, and formats its answer. Nothing below imports
this package.

User errors print one paragraph and exit with code 2; an interrupted run (Ctrl-C, SIGTERM)
exits with 130, is marked interrupted, and the message says how to resume it where the command
can.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from transferkit.cli.config_file import from_file, merge_config_files, print_config
from transferkit.cli.parser import build_parser, command_of
from transferkit.errors import RunInterrupted, UserError


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = command_of(argv)
    parser = build_parser(command.name if command else None, from_file(argv))
    try:
        args = parser.parse_args(argv)
    except UserError as e:  # a registry could not be read while building the options
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    if getattr(args, "quiet", False):
        os.environ["TRANSFERKIT_QUIET"] = "1"
    if command is None:
        parser.print_help()
        return 2
    module, function = command.run.split(":")
    handler = getattr(importlib.import_module(f"transferkit.cli.{module}"), function)
    try:
        if command.settings:
            merge_config_files(args, command)
            if args.print_config:
                print(print_config(args, command), end="")
                return 0
        with _sigterm_as_interrupt():
            code = handler(args) or 0
        _leave_process_group(wait=code == 0)
        return code
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        _leave_process_group()
        return e.exit_code
    except (RunInterrupted, KeyboardInterrupt) as e:  # Ctrl-C or SIGTERM, in a loop or not
        print(f"interrupted{_resume_hint(command, e)}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _resume_hint(command, error: BaseException) -> str:
    """What to type to continue the interrupted run, for commands that can resume one."""
    detail = f": {error}" if isinstance(error, RunInterrupted) else ""
    run_id = getattr(error, "run_id", None)
    if run_id is None:
        return detail
    if not any(flags == ("--resume",) for flags, _ in command.args):
        return f"{detail}. Run {run_id} is marked interrupted; this command cannot resume it, run it again"
    return (
        f"{detail}. The run is marked interrupted; continue it with "
        f"`transferkit {command.name} --resume {run_id}`."
    )


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a command the way Ctrl-C does wherever it lands: a training loop routes
    both to its stop flag and saves its state; elsewhere (between an adapt's members, while
    writing artifacts) it raises KeyboardInterrupt, so the run is marked interrupted and the
    command exits 130 instead of dying with -15 and leaving a ``running`` record behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _leave_process_group(wait: bool = False) -> None:
    """Under torchrun, leave the process group before exiting: after the other processes
    (``wait``: the command succeeded, so every rank reaches this point) or at once (an error).
    Only when it was imported: ``--help`` and listing never load torch for this."""
    if "transferkit.distributed" in sys.modules:
        module = sys.modules["transferkit.distributed"]
        module.close() if wait else module.abandon()
