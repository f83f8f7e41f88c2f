"""Rules as data (issue #15 item 6): no clinical number is written in a rules module."""

from __future__ import annotations

import ast
from pathlib import Path

import brainmets.treatment.rules as rules_pkg

RULES_DIR = Path(rules_pkg.__file__).parent


def _numbers(path: Path) -> list[tuple[int, object]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, (int, float, complex))
                and not isinstance(node.value, bool) and node.value not in (0, 1)):
            out.append((node.lineno, node.value))
    return out


def test_rule_modules_hold_no_numeric_literal_other_than_0_1():
    modules = sorted(RULES_DIR.glob("*.py"))
    assert {m.stem for m in modules} >= {"asco22", "astro22", "eano21", "supportive", "timing"}
    found = {m.name: _numbers(m) for m in modules}
    assert not any(found.values()), {k: v for k, v in found.items() if v}


def test_the_check_catches_a_literal(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(c):\n    return c.kps >= 70\n", encoding="utf-8")
    assert _numbers(bad) == [(2, 70)]


def test_functions_stay_small():
    for m in RULES_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(m.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 100, f"{m.name}:{node.name}"
