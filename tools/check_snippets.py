#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fails when a C++ snippet in README.md or docs/*.md is not code that CI compiles.

Every ```cpp block must appear, line for line (indentation and blank lines
aside), contiguously in some file under examples/, which CI builds. So the
docs cannot show code that does not compile (USearch #414).
Usage: tools/check_snippets.py [--root DIR]
"""
import argparse
import pathlib
import re
import sys


def normalized(lines):
    return [line.strip() for line in lines if line.strip()]


def snippets(markdown: pathlib.Path):
    text = markdown.read_text(encoding="utf-8")
    for match in re.finditer(r"^```cpp\n(.*?)^```", text, re.S | re.M):
        line = text.count("\n", 0, match.start()) + 1
        yield line, normalized(match.group(1).splitlines())


def contains(haystack, needle):
    n = len(needle)
    return any(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default=pathlib.Path(__file__).resolve().parent.parent, type=pathlib.Path)
    root = parser.parse_args().root
    sources = [normalized(p.read_text(encoding="utf-8").splitlines())
               for p in sorted((root / "examples").rglob("*")) if p.suffix in (".cpp", ".hpp")]
    docs = [root / "README.md"] + sorted((root / "docs").glob("*.md"))
    missing = 0
    checked = 0
    for doc in docs:
        for line, snippet in snippets(doc):
            checked += 1
            if not any(contains(source, snippet) for source in sources):
                missing += 1
                print(f"{doc.relative_to(root)}:{line}: this cpp snippet is not in any file under examples/; "
                      f"put it in a compiled example (first line: {snippet[0] if snippet else ''!r})")
    print(f"{checked} snippets checked, {missing} not compiled")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
