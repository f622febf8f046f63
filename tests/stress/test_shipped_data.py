"""
The shipped price files: every one documented in solvent/data/README.md with its SHA-256, bytes unchanged.
"""

import hashlib
import re
from importlib import resources
from pathlib import Path

import pytest

from solvent.stress.paths import EPISODES

DATA = resources.files("solvent").joinpath("data")
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"  # the workplace's copy, absent in a clone


def documented() -> dict[str, str]:
    readme = DATA.joinpath("README.md").read_text(encoding="utf-8")
    return {name: digest for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+\.csv)$", readme, re.M)}


def test_every_shipped_file_is_documented_with_its_hash() -> None:
    shipped = {p.name for p in DATA.iterdir() if p.name.endswith(".csv")}
    assert shipped == set(documented())
    for name, digest in documented().items():
        assert hashlib.sha256(DATA.joinpath(name).read_bytes()).hexdigest() == digest, name


def test_every_episode_file_is_shipped() -> None:
    used = {f.file for spec in EPISODES.values() for f in spec.files.values()}
    assert used <= set(documented())


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared data set is only in the workplace")
def test_the_files_are_the_shared_data_set_unchanged() -> None:
    shared = {p.name for p in SHARED.glob("*.csv")}
    assert shared == set(documented())
    for name in shared:
        assert DATA.joinpath(name).read_bytes() == (SHARED / name).read_bytes(), name
