"""The root `dtsctl` command: noun groups, --version, shell completion, and the process entry point."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from typer.core import TyperGroup

from dtsctl import __version__

# Each noun lives in its own module, imported only when that noun is used (or for --help), so
# start-up stays the cost of Typer itself however many commands dtsctl grows.
COMMAND_MODULES = {
    "connection": "dtsctl.cli.connection_cmd",
    "config": "dtsctl.cli.config_cmd",
    "emulator": "dtsctl.cli.emulator_cmd",
    "instance": "dtsctl.cli.instance",
    "doctor": "dtsctl.cli.doctor_cmd",
    "completion": "dtsctl.cli.completion_cmd",
    "samples": "dtsctl.cli.samples_cmd",
    "entity": "dtsctl.cli.entity_cmd",
    "demo": "dtsctl.cli.demo_cmd",
    "scheduler": "dtsctl.cli.scheduler_cmd",
    "taskhub": "dtsctl.cli.taskhub_cmd",
    "retention": "dtsctl.cli.retention_cmd",
    "access": "dtsctl.cli.access_cmd",
    "azure": "dtsctl.cli.azure_cmd",
    "dashboard": "dtsctl.cli.dashboard_cmd",
}


class LazyGroup(TyperGroup):
    def list_commands(self, ctx):  # type: ignore[no-untyped-def]
        return sorted({*super().list_commands(ctx), *COMMAND_MODULES})

    def get_command(self, ctx, cmd_name):  # type: ignore[no-untyped-def]
        module_name = COMMAND_MODULES.get(cmd_name)
        if module_name is None:
            return super().get_command(ctx, cmd_name)
        import importlib

        from typer.main import get_command

        command = get_command(importlib.import_module(module_name).app)
        command.name = cmd_name
        return command


app = typer.Typer(
    cls=LazyGroup,
    name="dtsctl",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from dtsctl.output.streams import Streams

        Streams.system().stdout.write(f"dtsctl {__version__}\n")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True),
    ] = False,
) -> None:
    """The command line for Azure Durable Task Scheduler (DTS): run the emulator, check and build
    connection strings, find what stops an app reaching its scheduler (doctor), start and
    inspect orchestration instances and entities, and set up schedulers in Azure.

    Start here:
      dtsctl demo            # emulator, worker and three samples, end to end
      dtsctl emulator up     # an emulator at http://localhost:8080
      dtsctl doctor          # check the way from here to the scheduler
      dtsctl instance list   # the newest instances first

    Every command takes -o/--output text|json|jsonl, --debug and --no-color after its name.
    """


def main(argv: list[str] | None = None) -> None:
    from dtsctl.cli import stdio

    guard = stdio.prepare()
    if "_DTSCTL_COMPLETE" in os.environ:  # the shell asks for completions (see 'dtsctl completion')
        from typer._completion_classes import completion_init

        completion_init()
    try:
        app(args=argv, prog_name="dtsctl", standalone_mode=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BrokenPipeError:
        code = 0
    except stdio.OutputError as exc:  # while Click itself printed (help, usage errors)
        from dtsctl.errors import ExitCode

        stdio.say_error(exc.message)
        code = int(ExitCode.FAILED)
    if guard.pipe_closed:
        # `dtsctl ... | head` closed the pipe: stop quietly with 0, as other Unix tools do (Click
        # would say 1, which breaks `set -o pipefail` scripts).
        stdio.silence_stdout()
        code = 0
    _exit_now(code)


def _exit_now(code: int) -> None:
    """Exit without tearing down every imported module: grpc and the Docker SDK make a normal
    interpreter shutdown cost ~40 ms, which `emulator up` and `status` would pay on every run.
    All output is flushed first, and nothing dtsctl runs relies on atexit handlers."""
    from dtsctl.cli import stdio

    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    if not stdio.flush_all():
        code = code or 1  # output was lost (a full disk): never report success
    os._exit(code)
