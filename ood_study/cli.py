"""``ood-study``: the stage commands under one name (``ood-study mine --benchmark ...``).

``ood-study STAGE [ARGS]`` runs ``python -m ood_study.stages.STAGE [ARGS]``; ``ood-study deps``
prints the stages' import closures. ``dvc repro`` calls the stage modules directly, so this is for
people running a stage by hand.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {"corpus": "ood_study.stages.corpus", "embed": "ood_study.stages.embed", "mine": "ood_study.stages.mine",
            "score": "ood_study.stages.score", "notebook": "ood_study.stages.notebook",
            "report": "ood_study.stages.report", "deps": "ood_study.deps", "image-set": "ood_study.stages.image_set",
            "mini-benchmark": "ood_study.mini_benchmark", "final-table": "ood_study.final_table"}


def main(argv=None) -> None:
    """``ood-study COMMAND [ARGS]``: ``--help`` exits 0; no command or an unknown one is a usage error
    (exit 2) that says so; ``ood-study COMMAND --help`` is the command's own help."""
    from ood_study.stages import parser, user_errors

    on_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    cli = parser(__doc__, prog="ood-study")
    cli.add_argument("command", metavar="COMMAND", help="one of: " + ", ".join(COMMANDS))
    cli.add_argument("args", nargs=argparse.REMAINDER, help="the command's arguments (ood-study COMMAND --help)")
    if not argv:
        cli.error("no COMMAND given; commands: " + ", ".join(COMMANDS))
    if argv[0] in ("-h", "--help"):
        cli.parse_args(argv)  # prints the help, exits 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        cli.error(f"unknown command {command!r}; commands: {', '.join(COMMANDS)}")
    sys.argv[0] = f"ood-study {command}"  # the command's usage line names it as typed
    with user_errors(f"ood-study {command}", on=on_command_line):
        importlib.import_module(COMMANDS[command]).main(rest)


if __name__ == "__main__":
    main()
