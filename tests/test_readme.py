"""The README's tour of the core API runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text().splitlines()[:6]
    assert any("make demo" in line for line in head)
    assert any("make test" in line for line in head)


def test_readme_tours_run(capsys: object) -> None:
    """Each Python block stands alone (its own imports) and stays short."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert len(blocks) == 2  # the core API, then futures and options
    for code in blocks:
        assert len(code.splitlines()) <= 32
        exec(compile(code, "README.md", "exec"), {})
