"""Every command and option of `takedown` explains itself: a help text for each, and no type labels
such as `<bool>` or `<str>` where a flag or a named value (FILE, N, NAME) belongs."""

import re
import subprocess
import sys

import pytest
import typer

from app.cli import add_commands
from tests.conftest import ROOT

# Types typer prints when an option has no metavar; choices such as <jsonl|csv> are fine.
TYPE_LABEL = re.compile(r"<(bool|str|int|float|path|file|list\[[^\]]*\]|int range|float range)>")


ROOT_COMMAND = typer.main.get_command(add_commands())


def commands(command=None, path=()):
    command = command or ROOT_COMMAND
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield path, command
        return
    for name, sub in subcommands.items():
        yield from commands(sub, (*path, name))


def test_every_command_and_parameter_has_help():
    missing = [f"{' '.join(path)} {param.name}" for path, command in commands()
               for param in command.params if not (getattr(param, "help", None) or "").strip()]
    undocumented = [" ".join(path) for path, command in commands() if not (command.help or "").strip()]
    assert not missing and not undocumented, (missing, undocumented)
    assert len(list(commands())) >= 17  # the walk reached the subcommands of lists, index and keys


def test_help_pages_show_flags_as_flags_and_values_by_name():
    paths = [path for path, _ in commands()]
    # one interpreter renders every page (as `takedown CMD --help` does), rather than 17 start-ups
    script = (
        "import sys\n"
        "from app.cli import add_commands\n"
        "app = add_commands()\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        app([*path.split(), '--help'], prog_name='takedown')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    print('=====')\n"
    )
    run = subprocess.run([sys.executable, "-c", script, *(" ".join(p) for p in paths)], capture_output=True,
                         text=True, cwd=ROOT, timeout=120, env={"COLUMNS": "200", "PATH": ""})
    assert run.returncode == 0, run.stderr
    pages = run.stdout.split("=====\n")[: len(paths)]
    assert len(pages) == len(paths) and all("Usage: takedown" in page for page in pages)
    shown = {}
    for path, page in zip(paths, pages):
        assert "<bool>" not in page, page
        # options name their values (FILE, N); typer labels arguments with their type, which is harmless
        labels = TYPE_LABEL.findall(page.partition("Options:")[2])
        if labels:
            shown[" ".join(path)] = labels
    assert not shown, shown
    hash_page = pages[paths.index(("hash",))]
    assert re.search(r"--variants\s+For files", hash_page)  # a flag, with nothing between it and its help
    assert "--workers N" in hash_page


@pytest.mark.parametrize("args", [["match", "--help"], ["lists", "show", "--help"]])
def test_help_runs_as_a_command(args):
    run = subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert run.returncode == 0 and "<bool>" not in run.stdout and "Usage:" in run.stdout
