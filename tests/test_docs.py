"""The documentation stays true: the site builds with `mkdocs build --strict` (a broken link or anchor
fails it), every link from README.md into docs/ leads to a file and heading that exist, and every
`takedown ...` command shown in a code block of README.md or docs/ still exists with each `--option`
shown beside it (checked against `python -m app.cli <command path> --help`).

Never edits the docs or the checkout: builds go to temporary folders."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import markdown
import pytest
import typer

from app.cli import add_commands
from tests.conftest import ROOT

DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
OPTION = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")
# `takedown`, `.venv/bin/takedown` or any other path ending in /takedown, at the start of a line.
COMMAND = re.compile(r"^(?:\S*/)?takedown\s+(.*)$")


# ---------------------------------------------------------------- parsing the docs


def code_blocks(text: str) -> list[list[str]]:
    """The lines of each fenced code block, in order."""
    blocks, current = [], None
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def commands_in_block(lines: list[str]) -> list[str]:
    """The argument strings of the `takedown` commands in one code block: comments cut off, a line
    ending in a backslash or followed by indented lines (a long synopsis) joined with what follows."""
    found: list[str] = []
    joining = in_command = False
    for raw in lines:
        line = re.sub(r"\s+#\s.*$", "", raw).rstrip()
        if joining or (in_command and raw[:1].isspace() and line.strip()):
            if in_command:
                found[-1] += " " + line.strip().rstrip("\\").strip()
            joining = line.endswith("\\")
            continue
        match = None if raw[:1].isspace() else COMMAND.match(line)
        in_command = match is not None
        if match:
            found.append(match.group(1).rstrip("\\").strip())
        joining = line.endswith("\\")
    return found


def tokens(args: str) -> list[str]:
    try:
        return shlex.split(args)
    except ValueError:  # an unbalanced quote in a synopsis: plain words are enough to find the path
        return args.split()


ROOT_COMMAND = typer.main.get_command(add_commands())


def command_path(words: list[str]) -> tuple[str, ...]:
    """The command path (`lists`, `import`) the words name: while the command reached is a group, the
    next word is its subcommand, known or not (an unknown one then fails its --help)."""
    path: list[str] = []
    command = ROOT_COMMAND
    for word in words:
        subcommands = getattr(command, "commands", None)
        if subcommands is None or word.startswith("-"):
            break
        path.append(word)
        command = subcommands.get(word)
        if command is None:
            break
    return tuple(path)


def shown_commands(files: list[Path]) -> dict[tuple[str, ...], dict[str, set[str]]]:
    """{command path: {option: {where it is shown}}} over every code block of the files."""
    shown: dict[tuple[str, ...], dict[str, set[str]]] = {}
    for file in files:
        for block in code_blocks(file.read_text(encoding="utf-8")):
            for args in commands_in_block(block):
                words = tokens(args)
                path = command_path(words)
                options = shown.setdefault(path, {})
                for option in OPTION.findall(args):
                    options.setdefault(option, set()).add(file.relative_to(ROOT).as_posix())
                options.setdefault("", set()).add(file.relative_to(ROOT).as_posix())
    return shown


def heading_ids(page: Path) -> set[str]:
    """The anchors mkdocs gives the page's headings (Python-Markdown's toc, as mkdocs configures it)."""
    md = markdown.Markdown(extensions=["toc", "tables"])
    html = md.convert(page.read_text(encoding="utf-8"))
    return set(re.findall(r'<h[1-6] id="([^"]+)"', html))


# ---------------------------------------------------------------- the parser itself


def test_parser_finds_commands_options_and_continuations() -> None:
    text = """
```sh
takedown hash PATH... [--recursive] [--format jsonl|csv]    # a comment with --not-an-option
                      [--progress/--no-progress]
.venv/bin/takedown lists import ofcom-ncii hashes.jsonl
/opt/x/bin/takedown keys create --role admin \\
    --owner me
make run                                   # or: takedown serve --port 8000
curl -s localhost:8000/v1/match \\
     -d '{"x": 1}'
takedown lists list
     --json
curl -s localhost:8000/v1/lists -H 'a: b'
    -F file=@x
```
takedown outside a block --ignored
"""
    blocks = code_blocks(text)
    assert len(blocks) == 1
    found = commands_in_block(blocks[0])
    assert found == ["hash PATH... [--recursive] [--format jsonl|csv] [--progress/--no-progress]",
                     "lists import ofcom-ncii hashes.jsonl",
                     "keys create --role admin --owner me", "lists list --json"]
    assert [command_path(tokens(f)) for f in found] == [("hash",), ("lists", "import"), ("keys", "create"),
                                                        ("lists", "list")]
    assert OPTION.findall(found[0]) == ["--recursive", "--format", "--progress", "--no-progress"]
    assert command_path(["lists", "nonesuch", "--x"]) == ("lists", "nonesuch")


# ---------------------------------------------------------------- the README


def test_readme_starts_with_the_two_commands_and_stays_short() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = code_blocks(readme)[0]
    assert [line.split()[:2] for line in first] == [["make", "run"], ["make", "test"]]
    assert len(readme.encode()) <= 8 * 1024, "the README is the newcomer's path: move the rest to docs/"


def test_readme_links_into_docs_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = [target for target in LINK.findall(readme) if not re.match(r"^[a-z]+:", target)]
    assert any(target.startswith("docs/") for target in links)
    broken = []
    for target in links:
        path, _, anchor = target.partition("#")
        page = ROOT / path if path else ROOT / "README.md"
        if not page.is_file():
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in heading_ids(page):
            broken.append(f"{target}: no heading with that anchor")
    assert broken == []


# ---------------------------------------------------------------- the site


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], cwd=config.parent, capture_output=True, text=True,
                          timeout=120)


def test_site_builds_strict(tmp_path: Path) -> None:
    result = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "matching" / "benchmarks.html").is_file()


@pytest.mark.parametrize("bad_link", ["[x](operators/store.md#no-such-heading)", "[x](operators/no-such-page.md)"])
def test_site_build_fails_on_a_broken_link_or_anchor(tmp_path: Path, bad_link: str) -> None:
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    index = tmp_path / "docs" / "index.md"
    index.write_text(index.read_text(encoding="utf-8") + f"\n{bad_link}\n", encoding="utf-8")
    result = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "index.md" in result.stderr


# ---------------------------------------------------------------- the commands shown


def _help(path: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run([sys.executable, "-m", "app.cli", *path, "--help"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_every_command_shown_in_the_docs_exists_with_its_options() -> None:
    shown = shown_commands(DOC_FILES)
    assert len(shown) >= 10, sorted(shown)  # the parser reached the docs' commands
    assert ("lists", "import") in shown and ("audit", "verify") in shown
    paths = sorted(shown)
    with ThreadPoolExecutor(max_workers=4) as pool:
        helps = dict(zip(paths, pool.map(_help, paths)))
    problems = []
    for path, result in helps.items():
        where = ", ".join(sorted(shown[path][""]))
        if not path or result.returncode != 0:
            problems.append(f"takedown {' '.join(path)} (in {where}): --help exits {result.returncode}")
            continue
        for option, files in sorted(shown[path].items()):
            if option and not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", result.stdout):
                problems.append(f"takedown {' '.join(path)} {option} (in {', '.join(sorted(files))}): "
                                "not in its --help")
    assert problems == []
