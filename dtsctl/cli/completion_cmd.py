"""`dtsctl completion SHELL`: print a shell completion script."""

from __future__ import annotations

from typing import Annotated

import typer

from dtsctl.cli.common import Cx, command, group
from dtsctl.errors import UsageError

COMPLETE_VAR = "_DTSCTL_COMPLETE"
SHELLS = ("bash", "zsh", "fish", "powershell")

app = group()


def completion_script(shell: str) -> str:
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name="dtsctl", complete_var=COMPLETE_VAR, shell=shell) + "\n"


@command(app, "completion")
def completion(
    cx: Cx,
    shell: Annotated[str, typer.Argument(help=f"One of: {', '.join(SHELLS)}.", show_default=False)],
) -> None:
    """Print the shell completion script (README, 'Shell completion', shows how to install it).

    Examples:
      dtsctl completion bash > ~/.local/share/bash-completion/completions/dtsctl
      dtsctl completion zsh > ~/.zfunc/_dtsctl
      dtsctl completion fish > ~/.config/fish/completions/dtsctl.fish
    """
    if shell not in SHELLS:
        raise UsageError(f"Unknown shell '{shell}'.", hint=f"Use one of: {', '.join(SHELLS)}.")
    script = completion_script(shell)
    cx.emit({"shell": shell, "script": script}, lambda w: cx.streams.stdout.write(script))
