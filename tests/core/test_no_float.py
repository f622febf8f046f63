"""
The core is integer-only and deterministic: static checks of ``src/solvent/core``.

- no float literal (``1.5``, ``1e18``) and no use of the name ``float``,
  found with ``tokenize`` so that strings and comments are ignored (the same
  logic as the workspace tool ``find_floats.py``, copied here so that the
  project checks itself when cloned alone);
- no ``assert`` statement: a check that ``python -O`` strips is no check;
- no import of a source of non-determinism: ``time``, ``random``,
  ``datetime``, ``os``.
"""

import ast
import io
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "src" / "solvent" / "core"
FORBIDDEN_MODULES = frozenset({"time", "random", "datetime", "os"})


def core_files() -> list[Path]:
    files = sorted(CORE.rglob("*.py"))
    assert files, f"no Python files under {CORE}"
    return files


def floats_in_source(source: str, name: str = "<source>") -> list[str]:
    """Return ``name:line: text`` for every float literal or ``float`` name in ``source``."""
    found = []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError) as error:
        return [f"{name}: cannot tokenize ({error})"]
    for tok in tokens:
        text = tok.string.lower()
        is_float_literal = (
            tok.type == tokenize.NUMBER and any(c in text for c in ".e") and not text.startswith("0x")
        )
        is_float_name = tok.type == tokenize.NAME and tok.string == "float"
        if is_float_literal or is_float_name:
            found.append(f"{name}:{tok.start[0]}: {tok.line.strip()}")
    return found


def forbidden_imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            modules = [node.module]
        else:
            continue
        found += [f"line {node.lineno}: {m}" for m in modules if m.split(".")[0] in FORBIDDEN_MODULES]
    return found


def asserts(tree: ast.AST) -> list[int]:
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]


# --- the checkers themselves can fail ---------------------------------------------


def test_float_scanner_finds_literals_and_the_float_name() -> None:
    source = "a = 1.5\nb = 1e18\nc = float(a)\nd = 2.\ne = .5\nf = 1E-3\n"
    assert floats_in_source(source, "x.py") == [
        "x.py:1: a = 1.5",
        "x.py:2: b = 1e18",
        "x.py:3: c = float(a)",
        "x.py:4: d = 2.",
        "x.py:5: e = .5",
        "x.py:6: f = 1E-3",
    ]


def test_float_scanner_ignores_strings_comments_hex_and_ints() -> None:
    source = (
        '"""A docstring with 1.5 and float."""\n'
        "a = '2.5e3'  # a comment: 3.0, float\n"
        "b = 0xE5 + 0XEE + 10**18 + 1_000\n"
        "floaty = 0b101 + 0o17\n"
    )
    assert floats_in_source(source) == []


def test_import_and_assert_checkers_find_violations() -> None:
    tree = ast.parse(
        "import os\nimport os.path\nfrom time import time\nimport random as r\n"
        "from datetime import datetime\nimport hashlib\nfrom timeit import timeit\n"
        "assert 1 == 1\n"
    )
    assert forbidden_imports(tree) == [
        "line 1: os",
        "line 2: os.path",
        "line 3: time",
        "line 4: random",
        "line 5: datetime",
    ]
    assert asserts(tree) == [8]


# --- the core -----------------------------------------------------------------------


def test_core_has_no_float() -> None:
    hits = [
        hit
        for path in core_files()
        for hit in floats_in_source(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    ]
    assert hits == []


@pytest.mark.parametrize("path", core_files(), ids=lambda p: p.name)
def test_core_module_has_no_assert_and_no_nondeterministic_import(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    assert asserts(tree) == [], f"{path.name}: use ensure(...) or raise, not assert (stripped by -O)"
    assert forbidden_imports(tree) == [], f"{path.name} imports a source of non-determinism"
