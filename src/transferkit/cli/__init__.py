"""The ``transferkit`` command: parses arguments into the settings objects the Python API
takes (:mod:`~transferkit.cli.options`, from the table in :mod:`~transferkit.cli.parser`),
calls the workflow in :mod:`transferkit.runs`, and formats its answer. Nothing below imports
this package.

User errors print one paragraph and exit with code 2; an interrupted training run exits with
130 and says how to resume it.
"""

from __future__ import annotations

import importlib
import os
import sys

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
        code = handler(args) or 0
        _leave_process_group(wait=code == 0)
        return code
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        _leave_process_group()
        return e.exit_code
    except RunInterrupted as e:
        print(
            f"interrupted: {e}. The run is marked interrupted; continue it with "
            f"`transferkit {command.name} --resume {getattr(e, 'run_id', 'RUN')}`.",
            file=sys.stderr,
        )
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _leave_process_group(wait: bool = False) -> None:
    """Under torchrun, leave the process group before exiting: after the other processes
    (``wait``: the command succeeded, so every rank reaches this point) or at once (an error).
    Only when it was imported: ``--help`` and listing never load torch for this."""
    if "transferkit.distributed" in sys.modules:
        module = sys.modules["transferkit.distributed"]
        module.close() if wait else module.abandon()
