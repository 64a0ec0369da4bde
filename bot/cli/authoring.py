"""Making and measuring a bot: `bot new NAME` (a definition from the documented template)
and `bot eval intents|injection` (the models, measured by the research code)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import keyword
import re
import string
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.cli.common import LoadSettings

_TEMPLATES = Path(__file__).with_name("templates")


def add_commands(sub: Any, load_settings: LoadSettings) -> None:
    evaluate = sub.add_parser(
        "eval", help="measure a model: `bot eval injection --data PATH`, "
                     "`bot eval intents --train PATH --test PATH` (--help after the name)",
        add_help=False)
    evaluate.add_argument("what", choices=("injection", "intents"))
    evaluate.add_argument("rest", nargs=argparse.REMAINDER)
    evaluate.set_defaults(func=run_eval)
    new = sub.add_parser("new", help="scaffold a new bot definition")
    new.add_argument("name", help="the bot's display name")
    new.add_argument("--dir", default="bots", help="parent folder (default: bots)")
    new.set_defaults(func=new_bot)


def run_eval(args: argparse.Namespace) -> int:
    # Each evaluation owns its options (and its --help); the rest of the line is theirs.
    # They live in research/, beside the package in a source checkout and absent from an
    # installed wheel; imported by name, so that the package never depends on them.
    module = f"research.{args.what}.evaluation"
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "research" / "__init__.py").is_file() and str(checkout) not in sys.path:
        sys.path.append(str(checkout))  # an editable install puts only bot/ on the path
    try:
        evaluate: Callable[[list[str]], int] = importlib.import_module(module).main
    except ModuleNotFoundError as exc:
        if exc.name not in ("research", f"research.{args.what}", module):
            raise
        print(f"`bot eval {args.what}` runs the evaluation code in research/, which is not "
              "installed with the package: run it from a source checkout of the project "
              "(pip install -e . there).", file=sys.stderr)
        return 2
    return evaluate(list(args.rest))


def new_bot(args: argparse.Namespace) -> int:
    try:
        path = scaffold_bot(args.name, Path(args.dir))
    except (ValueError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"created {path}\ncheck it with: bot check {path}\n"
          f"test it with: bot test {path.parent}\n"
          f"run it with: BOT_DEFINITION={path} bot serve\n"
          f"  (in a checkout of the platform: BOT_DEFINITION={path} make run)")
    return 0


def plugin_module_name(slug: str) -> str:
    """A Python package name for a bot's plugin (its folder name may have dashes), one
    that no installed module already has (a plugin's name is process-wide)."""
    module = re.sub(r"\W", "_", slug.replace("-", "_"))
    if module[0].isdigit() or keyword.iskeyword(module):
        module = f"bot_{module}"
    while module in sys.stdlib_module_names or importlib.util.find_spec(module) is not None:
        module = f"{module}_bot"
    return module


def scaffold_bot(name: str, parent: Path) -> Path:
    """Create `parent/<slug>/`: bot.yaml, a knowledge folder with one document, a plugin
    package (a handler, a tool, a start-up step) and conversation tests; return the YAML
    path."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not slug:
        raise ValueError("the bot name needs at least one letter or digit")
    folder = parent / slug
    if folder.exists():
        raise FileExistsError(f"{folder} already exists")
    module = plugin_module_name(slug)
    (folder / "knowledge").mkdir(parents=True)
    (folder / module).mkdir()
    text = (_TEMPLATES / "bot.yaml").read_text(encoding="utf-8").format(
        display_name=name, module=module)
    (folder / "bot.yaml").write_text(text, encoding="utf-8")
    (folder / "knowledge" / "faq.md").write_text(
        (_TEMPLATES / "faq.md").read_text(encoding="utf-8"), encoding="utf-8")
    (folder / module / "__init__.py").write_text(f'"""{name}: the bot\'s own code."""\n',
                                                 encoding="utf-8")
    (folder / "tests").mkdir()
    (folder / "tests" / "conversations.yaml").write_text(
        (_TEMPLATES / "conversations.yaml").read_text(encoding="utf-8").format(
            display_name=name, slug=slug), encoding="utf-8")
    plugin = string.Template((_TEMPLATES / "plugin.py.tmpl").read_text(encoding="utf-8"))
    (folder / module / "plugin.py").write_text(
        plugin.substitute(display_name=name, module=module), encoding="utf-8")
    return folder / "bot.yaml"
