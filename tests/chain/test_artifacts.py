"""The compiled contracts' cache (``solvent.chain.artifacts``): one compilation per machine, a
fresh one for an edited source, a broken cache ignored."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from solvent.chain import artifacts
from solvent.chain.artifacts import MOCK_TOKEN, artifact, cache_dir


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SOLVENT_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "Token.vy"
    source.write_text(artifacts.source(MOCK_TOKEN).read_text())
    monkeypatch.setattr(artifacts, "source", lambda name: source)
    artifact.cache_clear()
    yield source
    artifact.cache_clear()


def test_compiled_once_then_read_back(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = artifact(MOCK_TOKEN)
    assert first.bytecode.startswith("0x") and any(f.get("name") == "mint" for f in first.abi)
    assert len(list(cache_dir().glob("*.json"))) == 1

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr(artifacts, "compile_code", refuse)
    artifact.cache_clear()
    assert artifact(MOCK_TOKEN) == first


def test_an_edited_source_or_a_broken_cache_compiles_again(isolated: Path) -> None:
    first = artifact(MOCK_TOKEN)
    (cached,) = cache_dir().glob("*.json")
    cached.write_text("{not json")
    artifact.cache_clear()
    assert artifact(MOCK_TOKEN) == first  # recompiled, and the cache rewritten
    assert cached.read_text().startswith("{")
    isolated.write_text(isolated.read_text() + "\n# an edit\n")
    artifact.cache_clear()
    artifact(MOCK_TOKEN)
    assert len(list(cache_dir().glob("*.json"))) == 2
