"""
Embedded default deployment: Fixture F of the adversarial catalogue.

Quote USDC. BTC-PERP and ETH-PERP in domain MAJ (imf 10%, mmf 5%), ALT-PERP
in domain ALT (imf 20%, mmf 10%). Five reporters per asset, quorum 3, stale
after 60 s, reports more than 2% from the median dropped, a move of more than
10% in one update held until 3 confirming aggregates. Mark = index *
(1 + clamp(premium EMA, ±0.5%)); limit prices within ±5% of the mark.
Collateral weights (initial/maintenance): USDC 1/1, ETH 0.80/0.85,
USDT 0.95/0.97. Funding hourly, |rate| <= 0.5%/h. Minimum order 10 USDC.

Names stand for addresses: ``address_of("maker")`` is a fixed address
derived from the name, so scenarios can say ``"owner": "maker"``.
"""

import hashlib

from solvent.core.fixed import ONE
from solvent.core.state import StpMode
from solvent.core.tx import CreatePool, ListAsset, ListMarket, ListOracle, Tx
from solvent.core.units import QUOTE_ONE, SIZE_ONE

GENESIS_TIME = 1_700_000_000


NAMES: dict[str, str] = {}  # address -> the name it was derived from, for display


def address_of(name: str) -> str:
    """Return the address a scenario name stands for: 0x + sha256(name)[:40]."""
    if name.startswith("0x"):
        return name.lower()
    address = "0x" + hashlib.sha256(name.encode()).hexdigest()[:40]
    NAMES[address] = name
    return address


def name_of(account: str) -> str:
    """Return ``name/sub`` for an ``address/sub`` derived from a name, else the input."""
    address, sep, sub = account.partition("/")
    name = NAMES.get(address)
    return f"{name}{sep}{sub}" if name is not None else account


GOVERNOR = address_of("governor")


def pct(text: str) -> int:
    """Return a percentage string such as ``"0.5"`` as a ratio (0.5% = 5 * 10**15)."""
    whole, _, frac = text.partition(".")
    digits = int(whole + frac)
    return digits * ONE // (100 * int(10 ** len(frac)))


def reporters(asset: str, count: int = 5) -> tuple[str, ...]:
    """Return the default reporter addresses of an asset: names ``<asset>-reporter-<i>``."""
    return tuple(address_of(f"{asset.lower()}-reporter-{i}") for i in range(1, count + 1))


def usd(text: str) -> int:
    """Return a USD amount or price string as quote atoms."""
    whole, _, frac = text.partition(".")
    return int(whole) * QUOTE_ONE + int((frac or "0").ljust(6, "0")[:6])


def fixture_f() -> list[Tx]:
    """Return the governance transactions that set up Fixture F."""
    oracle = {
        "quorum": 3,
        "staleness_s": 60,
        "max_deviation": pct("2"),
        "band": pct("10"),
        "band_confirmations": 3,
        "vol_lambda": pct("94"),
        "vol_interval_s": 60,
    }
    big = 10**15 * QUOTE_ONE
    txs: list[Tx] = [
        ListAsset(GOVERNOR, "USDC", 6, ONE, ONE, big),
        ListAsset(GOVERNOR, "ETH", 18, pct("80"), pct("85"), 10**9 * 10**18, reporters("ETH"), **oracle),
        ListAsset(GOVERNOR, "USDT", 6, pct("95"), pct("97"), big, reporters("USDT"), **oracle),
        ListOracle(GOVERNOR, "BTC", reporters("BTC"), **oracle),
        ListOracle(GOVERNOR, "ALT", reporters("ALT"), **oracle),
        CreatePool(GOVERNOR, "LP", pct("0.1"), pct("1"), pct("20"), pct("50"), 86_400),
        _perp("BTC-PERP", "BTC", "MAJ", usd("0.1"), SIZE_ONE // 10_000, pct("10"), pct("5"), 10),
        _perp("ETH-PERP", "ETH", "MAJ", usd("0.01"), SIZE_ONE // 1000, pct("10"), pct("5"), 10),
        _perp("ALT-PERP", "ALT", "ALT", usd("0.0001"), SIZE_ONE, pct("20"), pct("10"), 5),
    ]
    return txs


def _perp(
    market: str, asset: str, domain: str, tick: int, lot: int, imf: int, mmf: int, leverage: int
) -> ListMarket:
    return ListMarket(
        GOVERNOR,
        market,
        asset,
        domain,
        tick=tick,
        lot=lot,
        min_notional=usd("10"),
        base_imf=imf,
        base_mmf=mmf,
        max_leverage=leverage,
        vol_ref=pct("2"),
        imf_vol_factor=ONE,
        mmf_vol_factor=ONE // 2,
        maker_fee=pct("0.02"),
        taker_fee=pct("0.05"),
        price_band=pct("5"),
        mark_band=pct("0.5"),
        premium_tau_s=300,
        impact_notional=usd("10000"),
        funding_cap=pct("0.5"),
        stp_mode=StpMode.CANCEL_RESTING,
        pool="LP",
    )


GENESIS = {"fixture_f": fixture_f, "default": fixture_f, "empty": list}
