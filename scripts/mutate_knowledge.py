#!/usr/bin/env python3
"""Knowledge-mutation check: does the test suite notice when a clinical number changes?

For every numeric value in ``src/brainmets/knowledge/data/{prognosis,treatment,response,
diagnosis}/*.toml`` this tool changes that one number in a *scratch copy* of ``src/``
(the working tree is never touched), runs the tests relevant to the file's area against
the copy (``PYTHONPATH=<scratch>/src``, ``-x -n 0``) and records whether they failed.
It prints the share of mutants caught and lists every survivor (file, TOML path, line,
old -> new value).

Usage::

    python scripts/mutate_knowledge.py                      # every number (long)
    python scripts/mutate_knowledge.py --sample 12 --seed 7 # CI: a seeded sample
    python scripts/mutate_knowledge.py --list               # list the mutants only
    python scripts/mutate_knowledge.py --areas response --op down

Exit status: 0 when every mutant was caught, 1 when any survived, 2 on a setup error
(the unmutated copy fails its tests, or the copy is not what Python imports).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_REL = Path("src/brainmets/knowledge/data")
AREAS = ("prognosis", "treatment", "response", "diagnosis")

#: tests run for a mutant in each area (the area's own tests plus the cross-area pins)
AREA_TESTS: dict[str, tuple[str, ...]] = {
    "prognosis": ("tests/knowledge", "tests/prognosis"),
    "treatment": ("tests/knowledge", "tests/treatment"),
    "response": ("tests/knowledge", "tests/response"),
    "diagnosis": ("tests/knowledge", "tests/diagnosis"),
}


def _plugin_args() -> tuple[str, ...]:
    """Switch off the plugins that would slow or reorder a mutant run, where installed."""
    import importlib.util

    extra: list[str] = []
    if importlib.util.find_spec("pytest_randomly"):
        extra += ["-p", "no:randomly"]
    if importlib.util.find_spec("pytest_cov"):
        extra += ["--no-cov"]
    return tuple(extra)


_EXTRA_ARGS = _plugin_args()
#: test paths left out of every run (``--skip-tests``, e.g. to measure without the pins)
_SKIP_TESTS: set[str] = set()
#: where pytest runs (the repository, or the ``--rev`` copy)
_RUN_DIR: list[Path] = [ROOT]

_NUMBER = re.compile(
    r"(?<![\w.:+-])[+-]?(?:\d[\d_]*)(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?(?![\w.:-])"
)


@dataclass
class Mutant:
    area: str
    file: str  # relative to the repository root
    line: int
    start: int  # character offsets of the literal in the file text
    end: int
    old: str
    new: str
    path: str = ""  # dotted TOML path of the value, for the report

    @property
    def label(self) -> str:
        return f"{self.file}:{self.line} {self.path} {self.old} -> {self.new}"


def _code_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of ``text`` outside strings and comments."""
    spans: list[tuple[int, int]] = []
    i, n, start = 0, len(text), 0
    while i < n:
        c = text[i]
        if c == "#":
            spans.append((start, i))
            i = text.find("\n", i)
            i = n if i < 0 else i
            start = i
            continue
        if c in "\"'":
            spans.append((start, i))
            triple = text.startswith(c * 3, i)
            quote = c * 3 if triple else c
            j = i + len(quote)
            while j < n:
                if c == '"' and text[j] == "\\":
                    j += 2
                    continue
                if text.startswith(quote, j):
                    break
                j += 1
            i = j + len(quote)
            start = i
            continue
        i += 1
    spans.append((start, n))
    return [s for s in spans if s[1] > s[0]]


def _mutated(old: str, op: str) -> str:
    """A different literal of the same kind: ints +/-1, floats x1.1 / x0.9 (0 -> +/-0.5)."""
    clean = old.replace("_", "")
    if re.fullmatch(r"[+-]?\d+", clean):
        return str(int(clean) + (1 if op == "up" else -1))
    value = float(clean)
    if value == 0:
        new = 0.5 if op == "up" else -0.5
    else:
        new = round(value * (1.1 if op == "up" else 0.9), 6)
        if new == value:
            new = value + (0.1 if op == "up" else -0.1)
    return repr(float(new))


def _diff_path(a: object, b: object, prefix: str = "") -> str | None:
    """Dotted path of the first place where two parsed TOML documents differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            if key not in b:
                return f"{prefix}.{key}"
            found = _diff_path(a[key], b[key], f"{prefix}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _diff_path(x, y, f"{prefix}[{i}]")
            if found:
                return found
        return None
    return None if a == b else (prefix or "<root>")


def find_mutants(root: Path, areas: tuple[str, ...], op: str) -> list[Mutant]:
    """Every numeric value in the areas' TOML files, each with one mutated literal."""
    mutants: list[Mutant] = []
    for area in areas:
        for path in sorted((root / DATA_REL / area).glob("*.toml")):
            text = path.read_text(encoding="utf-8")
            original = tomllib.loads(text)
            rel = str(path.relative_to(root))
            for lo, hi in _code_spans(text):
                for m in _NUMBER.finditer(text, lo, hi):
                    new = _mutated(m.group(0), op)
                    changed = text[: m.start()] + new + text[m.end():]
                    try:
                        where = _diff_path(original, tomllib.loads(changed))
                    except tomllib.TOMLDecodeError:
                        continue  # not a value (a key, a date part ...)
                    if where is None:
                        continue
                    mutants.append(Mutant(area, rel, text.count("\n", 0, m.start()) + 1,
                                          m.start(), m.end(), m.group(0), new, where.lstrip(".")))
    return mutants


def _pytest(scratch: Path, tests: tuple[str, ...], timeout: float) -> tuple[int, float]:
    env = dict(os.environ, PYTHONPATH=str(scratch / "src"), PYTHONDONTWRITEBYTECODE="1")
    tests = tuple(t for t in tests if (_RUN_DIR[0] / t).exists() and t not in _SKIP_TESTS)
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-n", "0", "-p", "no:cacheprovider",
           *_EXTRA_ARGS, *tests]
    t0 = time.monotonic()
    try:
        rc = subprocess.run(cmd, cwd=_RUN_DIR[0], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        rc = -1
    return rc, time.monotonic() - t0


def _make_scratch(rev: str | None) -> Path:
    """``src/`` of the working tree (tests run from the repository), or with ``rev`` the
    whole repository at that commit (tests run from the copy: a before/after measurement)."""
    scratch = Path(tempfile.mkdtemp(prefix="brainmets-mutate-"))
    if rev:
        archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(scratch)], input=archive, check=True)
        _RUN_DIR[0] = scratch
    else:
        shutil.copytree(ROOT / "src", scratch / "src",
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env = dict(os.environ, PYTHONPATH=str(scratch / "src"))
    where = subprocess.run([sys.executable, "-c", "import brainmets; print(brainmets.__file__)"],
                           env=env, capture_output=True, text=True, cwd=ROOT).stdout.strip()
    if not where.startswith(str(scratch)):
        raise SystemExit(f"setup error: Python imports brainmets from {where!r}, not the copy")
    return scratch


def run(mutants: list[Mutant], scratch: Path, timeout: float,
        baseline: bool) -> list[tuple[Mutant, str]]:
    """Run each mutant; returns (mutant, outcome) with outcome caught/survived/timeout."""
    results: list[tuple[Mutant, str]] = []
    try:
        if baseline:
            for area in sorted({m.area for m in mutants}):
                rc, secs = _pytest(scratch, AREA_TESTS[area], timeout)
                print(f"baseline {area}: rc={rc} ({secs:.0f} s)", flush=True)
                if rc != 0:
                    raise SystemExit(f"setup error: unmutated tests for {area} fail (rc={rc})")
        for i, m in enumerate(mutants, 1):
            target = scratch / m.file
            text = target.read_text(encoding="utf-8")
            target.write_text(text[: m.start] + m.new + text[m.end:], encoding="utf-8")
            try:
                # the pins first (fast); the area's own tests only when the pins pass
                rc, secs = _pytest(scratch, AREA_TESTS[m.area][:1], timeout)
                if rc in (0, 5):
                    rc, more = _pytest(scratch, AREA_TESTS[m.area][1:], timeout)
                    secs += more
            finally:
                target.write_text(text, encoding="utf-8")
            outcome = "survived" if rc == 0 else "timeout" if rc == -1 else "caught"
            if rc in (4, 5):
                outcome = "error"
            results.append((m, outcome))
            print(f"[{i}/{len(mutants)}] {outcome:8s} {secs:5.1f}s {m.label}", flush=True)
    except KeyboardInterrupt:
        print("interrupted: results so far only", flush=True)
    return results


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so the scratch copy is removed on kill


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--areas", nargs="+", choices=AREAS, default=list(AREAS))
    ap.add_argument("--sample", type=int, default=0, help="run only N mutants (seeded)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--op", choices=("up", "down"), default="up",
                    help="up: int+1, float x1.1 (0 -> 0.5); down: int-1, float x0.9")
    ap.add_argument("--file", action="append", default=[],
                    help="only mutants in files whose path contains this text")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per mutant")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--rerun", type=Path,
                    help="only the mutants that survived in this earlier --json file")
    ap.add_argument("--skip-tests", nargs="+", default=[], metavar="PATH",
                    help="leave these test paths out (e.g. tests/knowledge)")
    ap.add_argument("--rev", help="test this commit (src and tests) instead of the working tree")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    args = ap.parse_args(argv)

    _SKIP_TESTS.update(args.skip_tests)
    signal.signal(signal.SIGTERM, _terminate)
    scratch = _make_scratch(args.rev)
    try:
        return _main(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _main(args: argparse.Namespace, scratch: Path) -> int:
    mutants = find_mutants(scratch, tuple(args.areas), args.op)
    if args.file:
        mutants = [m for m in mutants if any(f in m.file for f in args.file)]
    if args.rerun:
        old = json.loads(args.rerun.read_text())["results"]
        keep = {(r["file"], r["path"], r["old"]) for r in old if r["outcome"] == "survived"}
        mutants = [m for m in mutants if (m.file, m.path, m.old) in keep]
    if args.sample and args.sample < len(mutants):
        mutants = sorted(random.Random(args.seed).sample(mutants, args.sample),
                         key=lambda m: (m.file, m.start))
    if args.list:
        for m in mutants:
            print(m.label)
        print(f"{len(mutants)} mutants")
        return 0
    results = run(mutants, scratch, args.timeout, not args.no_baseline)
    caught = sum(1 for _, o in results if o in ("caught", "timeout"))
    survivors = [m for m, o in results if o not in ("caught", "timeout")]
    share = caught / len(results) if results else 1.0
    print(f"\ncaught {caught}/{len(results)} = {share:.1%}")
    for area in AREAS:
        mine = [o for m, o in results if m.area == area]
        if mine:
            n = sum(1 for o in mine if o in ("caught", "timeout"))
            print(f"  {area}: {n}/{len(mine)}")
    for m in survivors:
        print(f"SURVIVOR {m.label}")
    if args.json:
        args.json.write_text(json.dumps(
            {"caught": caught, "total": len(results),
             "results": [dict(asdict(m), outcome=o) for m, o in results]}, indent=1))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
