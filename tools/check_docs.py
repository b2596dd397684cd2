#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fails when the docs describe a tree that is not there, or cite files that are not in it.

1. The "Layout" section of README.md is a nested Markdown list. Each item starts
   with one or more paths in backticks, separated by commas; a nested item's path
   is relative to its parent's, which must then be a folder (ending in "/").
   Every path must exist, as a folder when it ends in "/" and as a file otherwise.
   Every file and folder under include/vecstore/ must be covered: listed itself,
   or inside a listed folder below include/vecstore/ (so the top-level headers and
   the folders are named, and a new header inside a listed folder needs no edit).
   Every top-level folder of the repository must be listed, or something in it.
2. No file of the repository outside build/ and single_include/ cites the design
   notes that live outside it (their names are built below from parts, so this
   file does not cite them itself). Say the fact where it is used, or cite a
   file under docs/ that says it.
3. Every "docs/<name>.md" mentioned in those files, and every relative link in
   README.md and docs/*.md, names a file that exists.

"Files of the repository" are those git tracks or would track (not ignored);
without git, every file outside build*/, single_include/ and hidden folders.

Usage: tools/check_docs.py [ROOT]        (ROOT: the repository, default: this script's ../)
Exit status: 0 all good, 1 something to fix (each problem on a line of its own).
"""
import argparse
import pathlib
import re
import subprocess
import sys

INCLUDE_ROOT = "include/vecstore/"
SKIPPED_DIRS = ("build", "single_include")
OUTSIDE_NOTES = tuple(stem + ".md" for stem in ("DESIGN", "RELIABILITY", "STYLE", "CHROMA_" + "FORMAT"))
OUTSIDE_NOTES_RE = re.compile("|".join(re.escape(name) for name in OUTSIDE_NOTES))
DOCS_MENTION_RE = re.compile(r"(?<![\w/.-])docs/[A-Za-z0-9_.-]+\.md\b")
MARKDOWN_LINK_RE = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
ITEM_RE = re.compile(r"^(?P<indent> *)- (?P<text>.*)$")
PATH_RE = re.compile(r"`(?P<path>[^`]+)`")


class Entry:
    def __init__(self, path, line, indent):
        self.path = path
        self.line = line
        self.indent = indent


def layout_entries(readme: pathlib.Path, problems):
    """The paths the Layout list names, each with its README line."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "## Layout")
    except StopIteration:
        problems.append("README.md: no \"## Layout\" section")
        return []
    entries = []
    parents = []  # (indent, [Entry, ...]) of the items that enclose the current one
    for number in range(start + 1, len(lines)):
        line = lines[number]
        if line.startswith("#"):
            break
        item = ITEM_RE.match(line)
        if not item:
            continue  # prose, a blank line, or the continuation of an item's text
        where = f"README.md:{number + 1}"
        indent = len(item.group("indent"))
        while parents and parents[-1][0] >= indent:
            parents.pop()
        text = item.group("text")
        names = []
        position = 0
        while True:
            match = PATH_RE.match(text, position)
            if not match:
                break
            names.append(match.group("path"))
            position = match.end()
            if text.startswith(", ", position):
                position += 2
            else:
                break
        if not names:
            problems.append(f"{where}: Layout item does not start with a path in backticks: {text!r}")
            parents.append((indent, []))
            continue
        base = ""
        if parents:
            enclosing = parents[-1][1]
            if len(enclosing) != 1 or not enclosing[0].path.endswith("/"):
                problems.append(f"{where}: Layout item `{names[0]}` is nested under an item that is not "
                                "exactly one folder, so its path is ambiguous")
                parents.append((indent, []))
                continue
            base = enclosing[0].path
        current = []
        for name in names:
            if name.startswith("/") or ".." in pathlib.PurePosixPath(name).parts:
                problems.append(f"{where}: Layout entry `{name}` must be a relative path inside the repository")
                continue
            entry = Entry(base + name, where, indent)
            entries.append(entry)
            current.append(entry)
        parents.append((indent, current))
    if not entries:
        problems.append("README.md: the Layout section lists no paths")
    return entries


def check_layout(root: pathlib.Path, entries, repo_files, problems):
    listed = set()
    for entry in entries:
        path = root / entry.path
        if entry.path.endswith("/"):
            if not path.is_dir():
                problems.append(f"{entry.line}: Layout entry `{entry.path}` is not a folder of the repository")
        elif not path.is_file():
            kind = "a folder: write it with a trailing /" if path.is_dir() else "not a file of the repository"
            problems.append(f"{entry.line}: Layout entry `{entry.path}` is {kind}")
        listed.add(entry.path)

    def covered(relative: str) -> bool:
        """Listed itself, or inside a listed folder strictly below include/vecstore/."""
        if relative in listed:
            return True
        parts = relative.rstrip("/").split("/")
        for depth in range(len(parts) - 1, 0, -1):
            folder = "/".join(parts[:depth]) + "/"
            if len(folder) <= len(INCLUDE_ROOT):
                break
            if folder in listed:
                return True
        return False

    include = root / INCLUDE_ROOT
    if not include.is_dir():
        problems.append(f"{INCLUDE_ROOT} does not exist")
    else:
        for path in sorted(include.rglob("*")):
            relative = path.relative_to(root).as_posix() + ("/" if path.is_dir() else "")
            if not covered(relative):
                what = "folder" if path.is_dir() else "header" if path.suffix == ".hpp" else "file"
                problems.append(f"README.md: {what} {relative} is not in the Layout list; add an entry "
                                "for it (a folder entry covers the files in it)")

    top_level = sorted({name.split("/", 1)[0] for name in repo_files if "/" in name})
    for folder in top_level:
        if folder.startswith("."):
            continue
        if not any(entry.path.startswith(folder + "/") for entry in entries):
            problems.append(f"README.md: top-level folder {folder}/ is not in the Layout list")


def repository_files(root: pathlib.Path):
    """Relative paths of the files git tracks or would track; without git, every file outside
    build*/ and hidden folders."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], check=True, capture_output=True).stdout
        names = {name for name in out.decode("utf-8", "surrogateescape").split("\0") if name}
    except (OSError, subprocess.CalledProcessError):
        names = set()
        for path in root.rglob("*"):
            relative = path.relative_to(root)
            first = relative.parts[0]
            if first.startswith(".") or first.startswith("build") or not path.is_file():
                continue
            names.add(relative.as_posix())
    return sorted(name for name in names if (root / name).is_file())


def check_citations(root: pathlib.Path, repo_files, problems):
    for name in repo_files:
        if name.split("/", 1)[0] in SKIPPED_DIRS:
            continue
        data = (root / name).read_bytes()
        if b"\0" in data:
            continue  # binary
        text = data.decode("utf-8", "replace")
        is_markdown = name == "README.md" or (name.startswith("docs/") and name.endswith(".md"))
        for number, line in enumerate(text.splitlines(), 1):
            for match in OUTSIDE_NOTES_RE.finditer(line):
                problems.append(f"{name}:{number}: cites {match.group(0)}, which is not in the repository; "
                                "say the fact here, or cite a file under docs/ that says it")
            for match in DOCS_MENTION_RE.finditer(line):
                if not (root / match.group(0)).is_file():
                    problems.append(f"{name}:{number}: cites {match.group(0)}, which does not exist")
            if is_markdown:
                for match in MARKDOWN_LINK_RE.finditer(line):
                    target = match.group(1)
                    if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                        continue  # https:, mailto:, ...
                    if not ((root / name).parent / target).exists():
                        problems.append(f"{name}:{number}: links to {target}, which does not exist")


def check_diagrams(root: pathlib.Path, problems):
    """docs/architecture.md's Mermaid diagrams name parts as "name<br/>path": the path must be a
    header under include/vecstore/ (or a folder there) and the name must occur in it, so the
    diagram keeps the names of the code."""
    doc = root / "docs" / "architecture.md"
    text = doc.read_text(encoding="utf-8")
    labels = 0
    for block in re.findall(r"```mermaid\n(.*?)```", text, flags=re.S):
        for name, paths in re.findall(r'\["([^"<]+)<br/>([^"]+)"\]', block):
            for path in (p.strip() for p in paths.split(",")):
                labels += 1
                target = root / INCLUDE_ROOT / path
                if not target.exists():
                    problems.append(f"docs/architecture.md: the diagram names {path}, which is not in "
                                    f"{INCLUDE_ROOT}/")
                elif target.is_file() and not any(
                        re.search(r"\b" + re.escape(n.strip()) + r"\b", target.read_text(encoding="utf-8"))
                        for n in name.split(",")):
                    problems.append(f"docs/architecture.md: the diagram says {path} holds {name}, "
                                    "but that name does not occur in it")
    if labels == 0:
        problems.append("docs/architecture.md: no Mermaid diagram labels of the form \"name<br/>path\"")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", nargs="?", type=pathlib.Path,
                        default=pathlib.Path(__file__).resolve().parent.parent)
    root = parser.parse_args().root.resolve()
    problems = []
    repo_files = repository_files(root)
    entries = layout_entries(root / "README.md", problems)
    check_layout(root, entries, repo_files, problems)
    check_citations(root, repo_files, problems)
    check_diagrams(root, problems)
    for problem in problems:
        print(problem)
    print(f"{len(entries)} Layout entries and {len(repo_files)} files checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
