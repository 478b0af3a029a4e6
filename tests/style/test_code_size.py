#!/usr/bin/env python3
"""Files a newcomer can read in one sitting: no C file over about 600 lines and no function
over about 80, unless the file says why at its top ("size:" in its first comment)."""
import glob
import os
import re
import sys

SRC = os.environ.get("GHAMINER_SRC") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
MAX_FILE, MAX_FUNC, SLACK = 600, 80, 1.05


def functions(lines):
    """(name, length) of each function: a line at column 0 opening '{' after a signature."""
    start = None
    for i, line in enumerate(lines):
        if line.startswith("{") and start is None:
            start = i
        elif line.startswith("}") and start is not None:
            sig = lines[start - 1] if start else ""
            for back in range(start - 1, max(start - 4, -1), -1):
                if "(" in lines[back]:
                    sig = lines[back]
                    break
            m = re.search(r"(\w+)\s*\(", sig)
            if m and not line.startswith("};"):
                yield m.group(1), i - start + 1
            start = None


def main():
    problems = []
    files = sorted(glob.glob(os.path.join(SRC, "src", "*.c")) +
                   glob.glob(os.path.join(SRC, "src", "*.h")) +
                   glob.glob(os.path.join(SRC, "include", "*.h")))
    if not files:
        sys.exit("no sources found under %s" % SRC)
    for path in files:
        lines = open(path, encoding="utf-8").read().split("\n")
        head = "\n".join(lines[:15])
        excused = "size:" in head
        name = os.path.relpath(path, SRC)
        if len(lines) > MAX_FILE * SLACK and not excused:
            problems.append("%s: %d lines (about %d at most, or say why at its top)"
                            % (name, len(lines), MAX_FILE))
        for fn, n in functions(lines):
            if n > MAX_FUNC * SLACK and not excused:
                problems.append("%s: %s() is %d lines (about %d at most)" % (name, fn, n, MAX_FUNC))
    if problems:
        print("FAIL code size:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("PASS code size: %d files, none over %d lines, no function over %d"
          % (len(files), MAX_FILE, MAX_FUNC))


if __name__ == "__main__":
    main()
