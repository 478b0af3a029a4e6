#!/usr/bin/env python3
"""The workflows users copy (scripts/actions/*.yml): valid against the GitHub Actions
schema (npm @action-validator/cli, pinned by tests/actions/package-lock.json and installed
by scripts/test), and every `uses:` pinned to a release (vX.Y.Z) or a commit, never a
branch or a moving major tag. The pin check is first tried on lines that must fail, so it
cannot pass by matching nothing."""
import glob
import os
import re
import subprocess
import sys

SRC = os.environ.get("GHAMINER_SRC") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.join(SRC, "tests", "actions")
VALIDATOR = os.path.join(HERE, "node_modules", ".bin", "action-validator")
USES = re.compile(r"^\s*(?:-\s*)?uses:\s*['\"]?([^'\"\s#]+)", re.M)
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+\.\d+\.\d+|[0-9a-f]{40})$")


def unpinned(text):
    """The `uses:` values of text that are not pinned; local actions (./) need no pin."""
    found = USES.findall(text)
    bad = [u for u in found if not u.startswith("./") and not PINNED.match(u)]
    return found, bad


def self_test():
    sample = ("steps:\n  - uses: actions/checkout@v4\n  - uses: actions/cache@main\n"
              "  - uses: 'o/a@v1.2.3'\n  - name: x\n    uses: o/b/sub@" + "a" * 40 + "\n"
              "  - uses: o/c\n  - uses: ./local\n")
    found, bad = unpinned(sample)
    expected = ["actions/checkout@v4", "actions/cache@main", "o/c"]
    if len(found) != 6 or bad != expected:
        sys.exit("FAIL the pin check itself: found %r, flagged %r (expected %r)"
                 % (found, bad, expected))


def main():
    self_test()
    files = sorted(glob.glob(os.path.join(SRC, "scripts", "actions", "*.yml")))
    if not files:
        sys.exit("FAIL no workflow under scripts/actions")
    if not os.access(VALIDATOR, os.X_OK):
        sys.exit("FAIL %s is missing: run scripts/test (or `npm ci` in tests/actions), "
                 "which installs @action-validator/cli" % VALIDATOR)
    problems = []
    for path in files:
        name = os.path.relpath(path, SRC)
        found, bad = unpinned(open(path, encoding="utf-8").read())
        if not found:
            problems.append("%s: no `uses:` found" % name)
        problems += ["%s: `uses: %s` is not pinned to a release vX.Y.Z or a commit"
                     % (name, u) for u in bad]
        p = subprocess.run([VALIDATOR, path], capture_output=True, text=True)
        if p.returncode != 0:
            problems.append("%s: action-validator says:\n%s%s" % (name, p.stdout[-3000:],
                                                                  p.stderr[-1000:]))
    if problems:
        print("FAIL workflows:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("PASS workflows: %d valid, every uses: pinned" % len(files))


if __name__ == "__main__":
    main()
