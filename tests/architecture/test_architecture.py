"""The shape of the house (DESIGN.md layering; issue: one case, one answer).

These read the source as text/AST, so a regression fails here before it confuses a reader:
no function over 100 lines, no catch-all ``except Exception`` without a stated reason, engines
never import the package root (``__version__`` comes from ``brainmets._version``), every
deliberate error derives from :class:`brainmets.errors.BrainmetsError`, and the layer contracts
in pyproject.toml hold (import-linter).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import brainmets
from brainmets.errors import BrainmetsError

SRC = Path(brainmets.__file__).parent
ENGINES = ("model", "knowledge", "prognosis", "treatment", "imaging", "response", "cohort",
           "diagnosis")
MAX_FUNCTION_LINES = 100


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_no_function_over_100_lines() -> None:
    long = []
    for path in _modules():
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, "functions over 100 lines:\n" + "\n".join(long)


def test_every_catch_all_says_why() -> None:
    """``except Exception`` only with a comment on the same line saying why (clean-up handlers
    that re-raise are fine)."""
    bare = []
    for path in _modules():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.ExceptHandler):
                continue
            names = []
            if isinstance(node.type, ast.Name):
                names = [node.type.id]
            elif isinstance(node.type, ast.Tuple):
                names = [e.id for e in node.type.elts if isinstance(e, ast.Name)]
            reraises = bool(node.body) and isinstance(node.body[-1], ast.Raise) and (
                node.body[-1].exc is None)
            if reraises:
                continue
            if node.type is None or "Exception" in names or "BaseException" in names:
                line = lines[node.lineno - 1]
                if "#" not in line.split("except", 1)[1]:
                    bare.append(f"{path.relative_to(SRC)}:{node.lineno}: {line.strip()}")
    assert not bare, "catch-all excepts without a reason:\n" + "\n".join(bare)


def test_engines_never_import_the_package_root() -> None:
    offenders = []
    for area in ENGINES:
        base = SRC / area
        paths = [SRC / f"{area}.py"] if not base.is_dir() else sorted(base.rglob("*.py"))
        for path in paths:
            for node in ast.walk(_tree(path)):
                if isinstance(node, ast.ImportFrom) and node.module == "brainmets":
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not offenders, "engines importing the package root: " + ", ".join(offenders)


def test_deliberate_errors_share_one_base() -> None:
    """Every exception class defined in brainmets derives from BrainmetsError (HTTP ones aside)."""
    from fastapi import HTTPException

    stray = []
    for info in pkgutil.walk_packages([str(SRC)], prefix="brainmets."):
        if ".migrations" in info.name:
            continue
        mod = importlib.import_module(info.name)
        for name, obj in vars(mod).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == mod.__name__
                    and not issubclass(obj, (BrainmetsError, HTTPException))):
                stray.append(f"{info.name}.{name}")
    assert not stray, "exceptions outside BrainmetsError: " + ", ".join(stray)


def test_layer_contracts_hold() -> None:
    """import-linter's contracts (pyproject.toml): engines never import interfaces etc."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("lint-imports is not installed: it is part of the dev extra")
    root = SRC.parent.parent
    res = subprocess.run([exe, "--no-cache"], cwd=root, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
