"""``python -m reference {train,finetune} ...``: dispatch to the sub-command's ``main(argv)``.

Sub-commands are imported lazily so that ``train`` does not pay for (or depend on) the
fine-tuning module's imports, and vice versa.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "train": ("reference.train", "train a colourisation net (PoolUpsampleNet, UNet, ...)"),
    "finetune": ("reference.finetune", "fine-tune the segmentation model"),
}


def _usage() -> str:
    lines = ["usage: python -m reference COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines.append("\n`python -m reference COMMAND --help` shows a command's options.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
