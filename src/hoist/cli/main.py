"""Entry point of the `hoist` command: dispatch to one command module, render errors.

Command modules are imported lazily, by name, from the table below: `hoist --version` imports
nothing else, and `hoist where` does not pay for the HTTP stack.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from hoist import __version__
from hoist.errors import ExitCode, HoistError


class _CommandModule(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...
    def run(self, args: argparse.Namespace) -> int: ...


#: command -> (module under hoist.cli, one-line summary, example). Order is the help order.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "where": ("where", "show where image names route", "hoist where myapp:1.4.0"),
    "load": ("load", "import a docker save tarball or OCI layout", "hoist load app.tar"),
    "pack": ("pack", "build a one-layer image from a directory", "hoist pack ./site -t web:1"),
    "images": ("images", "list images in the local store", "hoist images"),
    "tag": (
        "tag",
        "give an image a second name",
        "hoist tag myapp:1.4.0 reg.example.com/team/myapp:1.4.0",
    ),
    "rmi": ("rmi", "remove image names from the local store", "hoist rmi myapp:1.4.0"),
    "login": ("login", "log in to a registry", "hoist login registry.example.com"),
    "logout": ("logout", "remove stored credentials", "hoist logout registry.example.com"),
    "push": (
        "push",
        "push an image from the local store",
        "hoist push reg.example.com/team/myapp:1.4.0",
    ),
    "pull": (
        "pull",
        "pull an image into the local store",
        "hoist pull reg.example.com/team/myapp:1.4.0",
    ),
    "copy": (
        "copy",
        "copy an image between any two places",
        "hoist copy oci:./out:1 reg.example.com/app:1",
    ),
    "inspect": (
        "inspect",
        "show an image's manifest and config",
        "hoist inspect reg.example.com/app:1",
    ),
    "tags": ("tags", "list a repository's tags", "hoist tags reg.example.com/team/myapp"),
    "serve": ("serve", "run the embedded OCI registry", "hoist serve --addr 127.0.0.1:5000"),
    "registry": (
        "registry_admin",
        "maintain the embedded registry (gc, check)",
        "hoist registry gc --root DIR",
    ),
}


def _build_parser(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, _CommandModule | None]:
    parser = argparse.ArgumentParser(
        prog="hoist",
        description="Push, pull and copy container images to and from any registry, "
        "without a Docker daemon.",
        epilog="Run 'hoist COMMAND --help' for a command's options and an example.\n"
        "Exit codes: 0 ok, 1 failure, 2 usage, 3 auth, 4 not found, 5 network.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hoist {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    selected: _CommandModule | None = None
    for name, (module, summary, example) in COMMANDS.items():
        if name != chosen:
            # The other commands are only listed (top-level help, "invalid choice"); when a
            # known command was chosen, argparse never reaches them, so skip building them.
            if chosen not in COMMANDS:
                sub.add_parser(name, help=summary)
            continue
        mod = cast(_CommandModule, importlib.import_module(f"hoist.cli.{module}"))
        cmd = sub.add_parser(
            name,
            help=summary,
            description=f"{summary[0].upper()}{summary[1:]}.",
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.configure(cmd)
        selected = mod
    return parser, selected


def main(argv: Sequence[str] | None = None) -> int:
    """Run hoist with `argv` (default: the process arguments) and return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser, module = _build_parser(args_list)
    args = parser.parse_args(args_list)
    if module is None:
        parser.print_help()
        return ExitCode.USAGE
    try:
        return module.run(args)
    except HoistError as exc:
        print(exc.render(), file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # `hoist images | head`: the reader went away; that is not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
