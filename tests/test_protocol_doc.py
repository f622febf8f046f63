"""docs/protocol.md lists every error with its stable code, and codes are unique."""

from pathlib import Path

from solvent.core.errors import ALL_ERRORS

DOC = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text()


def test_every_error_is_documented_with_its_code() -> None:
    missing = [f"{e.name} {e.code}" for e in ALL_ERRORS if f"{e.name} {e.code}" not in DOC]
    assert missing == []


def test_error_codes_are_unique_and_in_their_range() -> None:
    codes = [e.code for e in ALL_ERRORS]
    assert len(codes) == len(set(codes))
    assert all(1000 <= code < 8000 for code in codes)
