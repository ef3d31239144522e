"""Regenerate the completion scripts in this folder: python completions/generate.py"""

from pathlib import Path

from dtsctl.cli.completion_cmd import SHELLS, completion_script

FILES = {"bash": "dtsctl.bash", "zsh": "_dtsctl", "fish": "dtsctl.fish", "powershell": "dtsctl.ps1"}

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    for shell in SHELLS:
        (here / FILES[shell]).write_text(completion_script(shell))
        print(f"wrote completions/{FILES[shell]}")
