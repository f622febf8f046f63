"""stress.report: the three files of a run, self-contained HTML, deterministic bytes."""

import csv
import json
import re
from pathlib import Path

import pytest

from conftest import fake_run
from solvent.stress.config import LabConfig
from solvent.stress.report import headline, run_figures, write_run
from solvent.stress.result import RunResult

IMG = '<img alt="'
PNG = 'src="data:image/png;base64,'


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, Path]:
    """One fake run with congestion, written once for the module (plots take a second)."""
    result = fake_run(LabConfig(agents=10, duration_s=7200, congestion=True))
    out = tmp_path_factory.mktemp("run")
    write_run(result, out)
    return result, out


def test_write_run_writes_summary_series_and_report(written: tuple[RunResult, Path]) -> None:
    fake_result, tmp_path = written
    assert (tmp_path / "summary.json").read_text() == fake_result.canonical_summary()
    with (tmp_path / "series.csv").open() as file:
        rows = list(csv.reader(file))
    assert rows[0][0] == "t"
    assert set(rows[0]) == set(fake_result.series)
    assert len(rows) == 1 + len(fake_result.series["t"])
    assert (tmp_path / "report.html").is_file()


def test_report_embeds_every_plot_and_nothing_external(written: tuple[RunResult, Path]) -> None:
    _, tmp_path = written
    page = (tmp_path / "report.html").read_text()
    assets = 2  # BTC and ETH: one price-vs-index plot each
    others = 8  # insurance, OI, bad debt, liquidations, latency, funding, pool NAV, collateralisation
    congestion = 1  # the fake run has congestion on: the base fee
    assert page.count(PNG) >= assets + others + congestion
    assert page.count(PNG) == page.count(IMG)
    assert not re.search(r"https?://", page)
    assert "<script" not in page


def test_report_has_no_base_fee_plot_without_congestion() -> None:
    result = fake_run(LabConfig(agents=10, duration_s=7200))
    titles = [title for title, _ in run_figures(result)]
    assert "base fee (congestion)" not in titles
    assert len(titles) == 10


def test_report_header_shows_headline_numbers_in_quote_units(written: tuple[RunResult, Path]) -> None:
    _, tmp_path = written
    page = (tmp_path / "report.html").read_text()
    assert "bad debt per 1M OI" in page
    assert '<td class="num">1,000</td>' in page  # bad debt: 1,000 USDC (10**9 atoms)
    assert "fake BTC path" in page  # the path sources
    assert "keeper_latency_s" in page  # the config


def test_headline_reads_the_summary() -> None:
    numbers = headline(fake_run(LabConfig(agents=10, duration_s=7200, seed=1)).summary)
    assert numbers["bad_debt"] == 2000.0
    assert numbers["liquidations"] == 14
    assert numbers["latency_p99_s"] == 26.0
    assert numbers["insurance_min"] == 100_000.0
    assert numbers["breaker_activations"] == 3


def test_the_same_run_gives_the_same_bytes(written: tuple[RunResult, Path], tmp_path: Path) -> None:
    fake_result, first = written
    write_run(fake_result, tmp_path)
    for name in ("summary.json", "series.csv", "report.html"):
        assert (tmp_path / name).read_bytes() == (first / name).read_bytes()
    assert json.loads((tmp_path / "summary.json").read_text()) == fake_result.summary
