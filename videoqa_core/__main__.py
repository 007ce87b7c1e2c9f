"""The command line: one subcommand per job.

    python -m videoqa_core --help
    python -m videoqa_core <command> --help

Each command lives in its own module, which exposes ``configure(parser)`` (adds its
arguments) and ``main(args) -> int``. Modules are imported only when their command runs,
so ``--help`` and light commands stay fast (no torch import for ``data-stats``).

Errors a user can fix are :class:`videoqa_core.errors.UserError`: printed as one line,
exit status 2. ``--debug`` (anywhere on the line) re-raises them with the traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import UserError

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("videoqa_core.train", "train a model (one process, or many under torchrun)"),
    "evaluate": ("videoqa_core.evaluate", "per-question-type metrics and a predictions file"),
    "data-stats": ("videoqa_core.data.stats", "question/video/answer counts per split"),
    "bench": ("videoqa_core.bench", "speed and FLOP utilisation at the paper's shapes"),
    "extract": ("videoqa_core.video.extract", "video files -> HDF5 feature store"),
    "synth": ("videoqa_core.data.synth", "render the synthetic benchmark with evidence"),
    "probe": ("videoqa_core.data.probe", "do a feature store's frames show the synthetic events? (linear probe)"),
    "oracle": ("videoqa_core.data.oracle", "ground-truth features for a synthetic folder (the model's ceiling)"),
    "demo": ("videoqa_core.demo", "build the embedded demo (synth, extract, train, evaluate)"),
    "figure": ("videoqa_core.figure", "export Figure-1 style panels for question ids"),
    "analyze": ("videoqa_core.explain.store", "precompute the analysis store for a split"),
    "grounding": ("videoqa_core.explain.grounding", "score explanations against evidence"),
    "sensitivity": ("videoqa_core.explain.sensitivity", "answers under reversed / shuffled / blank frames or swapped words"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m videoqa_core", description=__doc__.split("\n")[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", help="show tracebacks")
        if only is None or name == only:
            # Importing every module just for top-level --help would be slow; only the
            # chosen command's module is imported to add its arguments.
            if only is not None:
                importlib.import_module(module).configure(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if a in COMMANDS), None)
    debug = "--debug" in argv
    try:
        try:
            parser = build_parser(chosen)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("videoqa_core"):
                raise UserError(f"command '{chosen}' is not available in this version") from exc
            raise
        args, extra = parser.parse_known_args(argv)
        # Dotted overrides may come anywhere on the line (after --glove X, say); argparse
        # alone would only take them before the first option that follows them.
        if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = list(args.overrides) + extra
        elif extra:
            parser.error("unrecognized arguments: " + " ".join(extra))
        if args.command is None:
            parser.print_help()
            return 1
        module = importlib.import_module(COMMANDS[args.command][0])
        return int(module.main(args) or 0)
    except UserError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
