"""Command line: ``litebert <command> [<subcommand>] --flag value ...``, built by jsonargparse from typed functions.

Each command is a plain function whose signature and docstring are its flags and ``--help``. Add commands to
:data:`COMMANDS` (nested dicts give subcommands) and the error classes users can cause to :data:`USER_ERRORS`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import sys
import typing
from collections.abc import Callable, Sequence
from typing import Any

from jsonargparse import CLI

from litebert.checkpoint import CheckpointError
from litebert.config import ConfigError
from litebert.convert import convert
from litebert.data.create import data_create, data_stats
from litebert.data.shards import DataError
from litebert.distributed import DeviceError
from litebert.pipelines import PipelineError, answer, choose, classify, embed, fill_mask
from litebert.finetune.custom import FinetuneDataError, finetune
from litebert.finetune.glue import GlueDataError, glue
from litebert.finetune.race import RaceDataError, race
from litebert.finetune.squad import squad, squad_check, squad_evaluate
from litebert.finetune.squad_eval import SquadDataError
from litebert.finetune.trainer import FinetuneError
from litebert.plot import PlotError, plot
from litebert.pretrain import TrainingError, pretrain
from litebert.quickstart import QuickstartError, quickstart
from litebert.textio import TextFileError, TextFileNotFoundError, iter_lines
from litebert.tf_checkpoint import TFCheckpointError
from litebert.tokenizer import TokenizerFileError, TokenizerNotFoundError, TokenizerTrainingError, train_tokenizer

COMMANDS: dict[str, Any] = {
    "tokenizer": {"train": train_tokenizer},
    "data": {"create": data_create, "stats": data_stats},
    "pretrain": pretrain,
    "plot": plot,
    "fill-mask": fill_mask,
    "embed": embed,
    "classify": classify,
    "choose": choose,
    "answer": answer,
    "glue": glue,
    "finetune": finetune,
    "squad": {"run": squad, "evaluate": squad_evaluate, "check": squad_check},
    "race": race,
    "convert": convert,
    "quickstart": quickstart,
}

# Mistakes a user can make (missing or bad files, impossible settings): one line on stderr, exit status 1.
USER_ERRORS: tuple[type[Exception], ...] = (
    TextFileError,
    TextFileNotFoundError,
    TokenizerFileError,
    TokenizerNotFoundError,
    TokenizerTrainingError,
    DataError,
    CheckpointError,
    ConfigError,
    TrainingError,
    PlotError,
    PipelineError,
    GlueDataError,
    FinetuneDataError,
    FinetuneError,
    SquadDataError,
    RaceDataError,
    TFCheckpointError,
    DeviceError,
    QuickstartError,
)
# The file system refusing (a path that is a file where a directory is expected, permissions, a full disk): one line
# naming the path, exit 1, like USER_ERRORS. LITEBERT_TRACEBACK=1 shows the traceback of either instead.
SYSTEM_ERRORS: tuple[type[Exception], ...] = (OSError,)

# `litebert squad --flags` is `litebert squad run --flags` (the group also has `evaluate`)
DEFAULT_SUBCOMMANDS = {"squad": "run"}

# Flags whose natural spelling is a Python keyword or taken by jsonargparse: `--from tf` is the parameter `from_`;
# `convert --config F` (the original's albert_config.json) is `--albert_config F`, since jsonargparse reads `--config`
# as a file of the command's own arguments and drops it.
_ALIASES = {"--from": "--from_"}
_COMMAND_ALIASES = {"convert": {"--config": "--albert_config"}}


def normalize_argv(argv: Sequence[str], commands: dict[str, Any] | None = None) -> list[str]:
    """Accept the usual CLI spellings on top of jsonargparse's: ``--vocab-size`` for ``--vocab_size``; for flags that
    take a list of texts or files, ``--input a b c`` (several values, e.g. from a shell glob) and ``--text a --text b``
    (the flag repeated) for ``--input '["a","b","c"]'``.

    A list flag's values always reach jsonargparse as a JSON list of strings (a single value too, unless it already is
    one), so texts are never read as YAML (``--text "[MASK] is"`` stays that text, ``--text null`` the word). Any other
    flag takes one value: ``embed --pooling mean MODEL`` leaves MODEL positional."""
    list_flags = _list_flags(commands if commands is not None else COMMANDS, argv)
    # the command's own aliases apply after its name (options may come before it: `--print_config convert ...`)
    at = next((k for k, a in enumerate(argv) if a in (commands if commands is not None else COMMANDS)), len(argv))
    command_aliases = {**_ALIASES, **_COMMAND_ALIASES.get(argv[at] if at < len(argv) else "", {})}
    out: list[str] = []
    lists: dict[str, tuple[int, list[str]]] = {}  # list flag -> (where its value goes in out, its values so far)
    i = 0
    while i < len(argv):
        token = argv[i]
        if not token.startswith("--") or token == "--":
            out.append(token)
            i += 1
            continue
        name, eq, value = token.partition("=")
        name = "--" + name[2:].replace("-", "_")
        name = (command_aliases if i > at else _ALIASES).get(name, name)
        j = i + 1
        if eq:
            values = [value]
        else:
            while j < len(argv) and not argv[j].startswith("--") and (name in list_flags or j == i + 1):
                j += 1
            values = list(argv[i + 1: j])
        if name in list_flags and values:
            if len(values) == 1 and _is_json_list(values[0]):
                values = json.loads(values[0])
            if name not in lists:
                out += [name, ""]  # the value, written below once every occurrence is collected
                lists[name] = (len(out) - 1, [])
            lists[name][1].extend(values)
        elif eq:
            out.append(f"{name}={value}")
        else:
            out += [name, *values]
        i = j
    for at, values in lists.values():
        out[at] = json.dumps(values)
    return out


def _is_json_list(value: str) -> bool:
    try:
        parsed = json.loads(value)
    except ValueError:
        return False
    return isinstance(parsed, list) and all(isinstance(v, str) for v in parsed)


def _list_flags(commands: dict[str, Any], argv: Sequence[str]) -> frozenset[str]:
    """The flags of the command argv names whose type is a list of strings (`text: str | list[str]`)."""
    node: Any = commands
    tokens = list(argv)
    if tokens and tokens[0] in DEFAULT_SUBCOMMANDS and (len(tokens) == 1 or tokens[1].startswith("--")):
        tokens.insert(1, DEFAULT_SUBCOMMANDS[tokens[0]])
    for token in tokens:
        if not (isinstance(node, dict) and token in node):
            break
        node = node[token]
    if isinstance(node, dict) or not callable(node):
        return frozenset()
    try:
        hints = typing.get_type_hints(node)
    except Exception:  # unresolvable annotations: no list flags, every flag takes one value
        return frozenset()
    return frozenset("--" + n for n, t in hints.items() if list[str] in typing.get_args(t) or t == list[str])


def command_example(commands: dict[str, Any], argv: Sequence[str]) -> str | None:
    """The "Example:" block of the docstring of the command that argv names (jsonargparse shows only the first line of
    a docstring, so main() prints this after --help)."""
    node: Any = commands
    for token in argv:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif not isinstance(node, dict):
            break
    if isinstance(node, dict) or not getattr(node, "__doc__", None):
        return None
    lines = node.__doc__.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "Example:":
            block = []
            for more in lines[i + 1:]:
                if not more.strip():
                    break
                block.append("  " + more.strip())
            return "\n".join(block)
    return None


def main(
    argv: Sequence[str] | None = None, commands: dict[str, Callable[..., Any] | dict[str, Any]] | None = None
) -> None:
    """Entry point of the ``litebert`` console script."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = normalize_argv(sys.argv[1:] if argv is None else argv, commands)
    if args and args[0] in DEFAULT_SUBCOMMANDS and (len(args) == 1 or args[1].startswith("--")):
        args.insert(1, DEFAULT_SUBCOMMANDS[args[0]])
    help_asked = any(a in ("-h", "--help") for a in args)
    shown = io.StringIO()
    try:
        _check_config_files(args)
        with contextlib.redirect_stdout(shown) if help_asked else contextlib.nullcontext():
            CLI(COMMANDS if commands is None else commands, args=args, prog="litebert")
    except USER_ERRORS + SYSTEM_ERRORS as e:
        if os.environ.get("LITEBERT_TRACEBACK") == "1":
            raise
        print(f"litebert: error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    except SystemExit as e:
        if help_asked:
            print(_fix_help(shown.getvalue(), args), end="")
        if e.code in (0, None) and help_asked:
            example = command_example(COMMANDS if commands is None else commands, args)
            if example:
                print(f"\nexample:\n{example}")
        raise
    if help_asked:  # jsonargparse exits after help; in case it returns
        print(_fix_help(shown.getvalue(), args), end="")


def _check_config_files(args: Sequence[str]) -> None:
    """A `--config FILE` (jsonargparse's file of arguments) that is not UTF-8 text is a TextFileError naming the file
    and line; jsonargparse would end in a UnicodeDecodeError traceback. Missing files are left to jsonargparse."""
    for i, a in enumerate(args):
        path = a.partition("=")[2] if a.startswith("--config=") else args[i + 1] if a == "--config" and \
            i + 1 < len(args) else None
        if path and os.path.isfile(path):
            for _ in iter_lines(path, decoding="strict"):
                pass


def _fix_help(text: str, args: Sequence[str]) -> str:
    """jsonargparse's help in the spellings the CLI takes: `--from` (the parameter is `from_`), and for convert a
    `--config` that is the original's albert_config.json (an alias, see _COMMAND_ALIASES), not a file of arguments."""
    text = re.sub(r"--from_ FROM_( {2,})", r"--from FROM\1  ", text)  # the options list: keep the help column
    text = text.replace("--from_ FROM_", "--from FROM")
    if "convert" in args:
        text = re.sub(r"(--config CONFIG\s+)Path to a configuration file\.",
                      r"\1The original's albert_config.json (the same as --albert_config).", text)
    return text


if __name__ == "__main__":
    main()
