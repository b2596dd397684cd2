#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate single_include/vecstore/vecstore.hpp from the headers under include/.

Starts at include/vecstore/vecstore.hpp and expands every ``#include <vecstore/...>`` (and
quoted includes relative to the including file) once each, depth-first, leaving a
``// #include <vecstore/...>`` marker where each one stood (as nlohmann/json's amalgamation
does). A second include of the same file leaves only the marker: the headers use
``#pragma once``, so that is what the compiler would do. External includes (std, SQLiteCpp,
Eigen, Boost, nlohmann) stay in place; inner ``#pragma once`` lines are dropped and the whole
file is wrapped in one include guard.

The output depends only on the contents of the headers it reads: no timestamp, no commit,
no absolute paths, LF line endings, so every machine generates the same bytes and ``--check``
can compare them exactly.

Usage:
    python3 tools/amalgamate.py            # (re)write single_include/vecstore/vecstore.hpp
    python3 tools/amalgamate.py --check    # exit 1 with a diff if the committed file is stale

Exit status: 0 success / up to date, 1 stale (--check), 2 the headers cannot be amalgamated
(computed include, missing vecstore header, missing version).
"""

import argparse
import difflib
import re
import sys
from pathlib import Path, PurePosixPath

ENTRY = PurePosixPath("vecstore/vecstore.hpp")
VERSION_HEADER = PurePosixPath("vecstore/version.hpp")
DEFAULT_OUTPUT = PurePosixPath("single_include/vecstore/vecstore.hpp")
GUARD = "VECSTORE_SINGLE_INCLUDE_VECSTORE_HPP"
REGENERATE = "python3 tools/amalgamate.py"
DIFF_LINE_LIMIT = 200

INCLUDE_RE = re.compile(r"^\s*#\s*include\b\s*(?P<rest>.*)$")
ANGLE_RE = re.compile(r"^<(?P<path>[^>]+)>")
QUOTE_RE = re.compile(r'^"(?P<path>[^"]+)"')
PRAGMA_ONCE_RE = re.compile(r"^\s*#\s*pragma\s+once\b")
CONDITIONAL_OPEN_RE = re.compile(r"^\s*#\s*if(n?def)?\b")
CONDITIONAL_CLOSE_RE = re.compile(r"^\s*#\s*endif\b")
VERSION_RE = re.compile(r"^\s*#\s*define\s+VECSTORE_VERSION_(MAJOR|MINOR|PATCH)\s+(\d+)\b", re.M)


class AmalgamationError(Exception):
    """The headers cannot be amalgamated; the message says where and why."""


def read_text(path):
    """Read a header as UTF-8 with LF line endings, whatever the checkout uses."""
    text = path.read_bytes().decode("utf-8")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def ends_in_block_comment(line, in_comment):
    """Whether a /* */ comment is still open after `line`, given whether one was open before.

    Tracks string and character literals and // comments so that "/*" inside them does not
    count; raw string literals spanning lines are not handled (the headers have none)."""
    i, n = 0, len(line)
    while i < n:
        if in_comment:
            end = line.find("*/", i)
            if end < 0:
                return True
            in_comment, i = False, end + 2
            continue
        c = line[i]
        if line.startswith("//", i):
            return False
        if line.startswith("/*", i):
            in_comment, i = True, i + 2
            continue
        if c in "\"'":
            i += 1
            while i < n and line[i] != c:
                i += 2 if line[i] == "\\" else 1
        i += 1
    return in_comment


class Amalgamator:
    def __init__(self, root):
        self.root = root
        self.include_dir = (root / "include").resolve()
        self.seen = set()
        self.warnings = []

    def display(self, path):
        """Path for messages: relative to the root, so output never holds absolute paths."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def logical_name(self, path):
        """<vecstore/...> spelling of a header under include/, used in markers."""
        return path.relative_to(self.include_dir).as_posix()

    def resolve_angle(self, name, where):
        candidate = (self.include_dir / name).resolve()
        if not self.is_under_include(candidate) or not candidate.is_file():
            raise AmalgamationError(
                f"{where}: #include <{name}> names no file under include/ "
                f"(looked for {self.display(self.include_dir / name)}). "
                "Fix the include or add the header.")
        return candidate

    def resolve_quoted(self, name, current, where):
        for base in (current.parent, self.include_dir):
            candidate = (base / name).resolve()
            if self.is_under_include(candidate) and candidate.is_file():
                return candidate
        raise AmalgamationError(
            f'{where}: #include "{name}" names no file relative to {self.display(current)} '
            "or under include/. Use #include <vecstore/...> for vecstore headers and <...> "
            "for external ones.")

    def is_under_include(self, path):
        try:
            path.relative_to(self.include_dir)
            return True
        except ValueError:
            return False

    def expand(self, path, out, conditional=False):
        """Append the lines of `path`, with its vecstore includes expanded, to `out`.

        `conditional`: whether `path` itself was reached inside an #if/#ifdef."""
        self.seen.add(path)
        in_comment = False
        conditional_depth = 0
        for number, line in enumerate(read_text(path).split("\n"), start=1):
            where = f"{self.display(path)}:{number}"
            starts_in_comment = in_comment
            in_comment = ends_in_block_comment(line, in_comment)
            if starts_in_comment:
                out.append(line)
                continue
            if PRAGMA_ONCE_RE.match(line):
                continue
            if CONDITIONAL_OPEN_RE.match(line):
                conditional_depth += 1
            elif CONDITIONAL_CLOSE_RE.match(line):
                conditional_depth = max(0, conditional_depth - 1)
            m = INCLUDE_RE.match(line)
            if not m:
                out.append(line)
                continue
            rest = m.group("rest")
            angle, quote = ANGLE_RE.match(rest), QUOTE_RE.match(rest)
            if angle and angle.group("path").startswith("vecstore/"):
                target = self.resolve_angle(angle.group("path"), where)
            elif angle:
                out.append(line)  # external or standard header: the user's include path finds it
                continue
            elif quote:
                target = self.resolve_quoted(quote.group("path"), path, where)
            else:
                # amalgamate.py of Catch2/nlohmann calls these "here be dragons": the file they
                # name is only known to the preprocessor, so the single header would be wrong.
                raise AmalgamationError(
                    f"{where}: computed include `{line.strip()}` cannot be amalgamated. "
                    "Include the header by name.")
            under_condition = conditional or conditional_depth > 0
            if under_condition and target not in self.seen:
                # Expanded once, inside the condition: a later unconditional include of the same
                # header leaves only a marker, so the header would vanish when the condition is
                # false. Reported, not fatal; include such headers unconditionally first.
                self.warnings.append(
                    f"{where}: <{self.logical_name(target)}> is first included inside "
                    "#if/#ifdef; the single header contains it only under that condition")
            out.append(f"// #include <{self.logical_name(target)}>")
            if target not in self.seen:
                self.expand(target, out, under_condition)

    def version(self):
        path = self.include_dir / VERSION_HEADER
        if not path.is_file():
            raise AmalgamationError(
                f"{self.display(path)} not found: the version for the header comment comes "
                "from its VECSTORE_VERSION_MAJOR/MINOR/PATCH defines.")
        found = dict(VERSION_RE.findall(read_text(path)))
        missing = [k for k in ("MAJOR", "MINOR", "PATCH") if k not in found]
        if missing:
            raise AmalgamationError(
                f"{self.display(path)}: no numeric #define for "
                + ", ".join(f"VECSTORE_VERSION_{k}" for k in missing))
        return f"{found['MAJOR']}.{found['MINOR']}.{found['PATCH']}"

    def generate(self):
        if not self.include_dir.is_dir():
            raise AmalgamationError(
                f"{self.root} has no include/ directory: pass the repository root as --root.")
        entry = self.include_dir / ENTRY
        if not entry.is_file():
            raise AmalgamationError(
                f"{self.display(entry)} not found: it is the amalgamation entry point.")
        version = self.version()
        body = []
        self.expand(entry.resolve(), body)
        while body and body[-1] == "":
            body.pop()
        header = [
            "// SPDX-License-Identifier: MIT",
            f"// vecstore {version}: the whole library in one header.",
            "//",
            "// GENERATED FILE - DO NOT EDIT. Edit the headers under include/ instead.",
            f"// Generated by tools/amalgamate.py from include/{ENTRY} and every",
            "// <vecstore/...> header it includes, expanded once each in include order; the",
            "// output depends on the contents of those headers only (no date, no commit).",
            f"// Regenerate from the repository root with:  {REGENERATE}",
            f"// Check that it is current with:            {REGENERATE} --check",
            "",
            f"#ifndef {GUARD}",
            f"#define {GUARD}",
            "",
        ]
        footer = ["", f"#endif  // {GUARD}", ""]
        return "\n".join(header + body + footer)


def fix_command(args):
    parts = [REGENERATE]
    if args.root is not None:
        parts.append(f"--root {args.root}")
    if args.output is not None:
        parts.append(f"--output {args.output}")
    return " ".join(parts)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Generate single_include/vecstore/vecstore.hpp from include/.")
    parser.add_argument("--root", type=Path, default=None,
                        help="repository root (default: the parent of tools/)")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"output file (default: ROOT/{DEFAULT_OUTPUT})")
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed file instead of writing it; "
                             "exit 1 with a diff if it is stale")
    args = parser.parse_args(argv)

    root = (args.root if args.root is not None else Path(__file__).resolve().parent.parent).resolve()
    output = args.output if args.output is not None else root / DEFAULT_OUTPUT
    try:
        shown_output = output.resolve().relative_to(root).as_posix()
    except ValueError:
        shown_output = str(output)

    amalgamator = Amalgamator(root)
    try:
        text = amalgamator.generate()
    except (AmalgamationError, UnicodeDecodeError, OSError) as e:
        print(f"amalgamate.py: error: {e}", file=sys.stderr)
        return 2
    for warning in amalgamator.warnings:
        print(f"amalgamate.py: warning: {warning}", file=sys.stderr)
    generated = text.encode("utf-8")

    current = output.read_bytes() if output.is_file() else None
    if args.check:
        if current == generated:
            print(f"{shown_output} is up to date")
            return 0
        if current is None:
            print(f"{shown_output} does not exist.")
            old_text = ""
        else:
            print(f"{shown_output} is out of date:")
            old_text = current.decode("utf-8", errors="replace")
        if "\r" in old_text:
            # Usually a checkout with core.autocrlf; .gitattributes should pin the file to LF.
            print(f"note: {shown_output} has CR line endings; the generated file uses LF only.")
            old_text = old_text.replace("\r\n", "\n").replace("\r", "\n")
        diff = list(difflib.unified_diff(
            old_text.splitlines(keepends=True), text.splitlines(keepends=True),
            fromfile=f"{shown_output} (committed)", tofile=f"{shown_output} (generated)"))
        for line in diff[:DIFF_LINE_LIMIT]:
            sys.stdout.write(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
        if len(diff) > DIFF_LINE_LIMIT:
            print(f"... ({len(diff) - DIFF_LINE_LIMIT} more diff lines)")
        print(f"To fix it, run from the repository root:  {fix_command(args)}")
        return 1

    if current == generated:
        print(f"{shown_output} is up to date")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(generated)
    print(f"wrote {shown_output}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # output piped into `head`: not an error of ours
        sys.stderr.close()
        sys.exit(1)
