"""``ood-study``: the stage commands under one name (``ood-study mine --benchmark ...``).

``ood-study STAGE [ARGS]`` runs ``python -m ood_study.stages.STAGE [ARGS]``; ``ood-study deps``
prints the stages' import closures. ``dvc repro`` calls the stage modules directly, so this is for
people running a stage by hand.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {"corpus": "ood_study.stages.corpus", "embed": "ood_study.stages.embed", "mine": "ood_study.stages.mine",
            "score": "ood_study.stages.score", "notebook": "ood_study.stages.notebook",
            "report": "ood_study.stages.report", "deps": "ood_study.deps", "image-set": "ood_study.stages.image_set",
            "mini-benchmark": "ood_study.mini_benchmark"}


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__.strip() + "\n\ncommands: " + ", ".join(COMMANDS), file=sys.stderr)
        raise SystemExit(0 if argv and argv[0] in ("-h", "--help") else 2)
    importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    main()
