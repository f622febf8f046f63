"""
Embedded default deployment: Fixture F of the adversarial catalogue.

Quote USDC. BTC-PERP and ETH-PERP in domain MAJ (imf 10%, mmf 5%), ALT-PERP
in domain ALT (imf 20%, mmf 10%). Five reporters per asset, quorum 3, stale
after 60 s, reports more than 2% from the median dropped, a move of more than
10% in one update held until 3 confirming aggregates. Mark = index *
(1 + clamp(premium EMA, ±0.5%)); limit prices within ±5% of the mark.
Collateral weights (initial/maintenance): USDC 1/1, ETH 0.80/0.85,
USDT 0.95/0.97. Funding hourly, |rate| <= 0.5%/h. Minimum order 10 USDC.
Open interest capped at 100 BTC, 2,500 ETH and 2,000,000 ALT per side.
Insurance funds MAJ 1,000,000 and ALT 20,000 USDC (paid in by a treasury
account at genesis, so money is conserved from the first transaction).
Liquidation and breaker rules: see ``_domain``. The pool starts empty; a
scenario funds it with ``PoolDeposit``.

Names stand for addresses: ``address_of("maker")`` is a fixed address
derived from the name, so scenarios can say ``"owner": "maker"``.
"""

import hashlib

from solvent.core.fixed import ONE
from solvent.core.state import StpMode
from solvent.core.tx import (
    CreatePool,
    Deposit,
    FundInsurance,
    ListAsset,
    ListDomain,
    ListMarket,
    ListOracle,
    Tx,
)
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
TREASURY = address_of("treasury")  # funds the insurance funds at genesis


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
        _domain("MAJ", liq_cap=usd("20000000")),
        _domain("ALT", liq_cap=usd("1000000")),
        ListAsset(GOVERNOR, "USDC", 6, ONE, ONE, big),
        ListAsset(
            GOVERNOR,
            "ETH",
            18,
            pct("80"),
            pct("85"),
            10**9 * 10**18,
            reporters("ETH"),
            **oracle,
            domain="MAJ",
        ),
        ListAsset(GOVERNOR, "USDT", 6, pct("95"), pct("97"), big, reporters("USDT"), **oracle, domain="MAJ"),
        ListOracle(GOVERNOR, "BTC", reporters("BTC"), **oracle),
        ListOracle(GOVERNOR, "ALT", reporters("ALT"), **oracle),
        CreatePool(GOVERNOR, "LP", pct("0.1"), pct("1"), pct("20"), pct("50"), 86_400),
        _perp(
            "BTC-PERP", "BTC", "MAJ", usd("0.1"), SIZE_ONE // 10_000, pct("10"), pct("5"), 10, 100 * SIZE_ONE
        ),
        _perp(
            "ETH-PERP", "ETH", "MAJ", usd("0.01"), SIZE_ONE // 1000, pct("10"), pct("5"), 10, 2500 * SIZE_ONE
        ),
        _perp(
            "ALT-PERP", "ALT", "ALT", usd("0.0001"), SIZE_ONE, pct("20"), pct("10"), 5, 2_000_000 * SIZE_ONE
        ),
        Deposit(TREASURY, 0, "USDC", usd("1020000")),
        FundInsurance(TREASURY, 0, "MAJ", usd("1000000")),
        FundInsurance(TREASURY, 0, "ALT", usd("20000")),
    ]
    return txs


def _domain(domain: str, liq_cap: int) -> ListDomain:
    """A risk domain with Fixture F's rules: penalty 1.5% (0.5% keeper, 1% fund), close to
    MM x 1.25, fills within ±2% of mark, collateral sold at index x 0.98; reduce-only when
    the book premium passes 5%, hourly volatility 50% or the index moves 25% in an hour;
    the pool backstops up to 50% of its equity per market; maintenance follows volatility
    by at most 2 points per hour.
    """
    return ListDomain(
        GOVERNOR,
        domain,
        keeper_fee=pct("0.5"),
        insurance_fee=pct("1"),
        close_buffer=pct("125"),
        liq_band=pct("2"),
        collateral_discount=pct("2"),
        liq_cap_notional=liq_cap,
        liq_window_s=60,
        divergence_limit=pct("5"),
        vol_halt=pct("50"),
        move_limit=pct("25"),
        move_window_s=3600,
        backstop_max_skew=pct("50"),
        mmf_vol_step=pct("2"),
    )


def _perp(
    market: str, asset: str, domain: str, tick: int, lot: int, imf: int, mmf: int, leverage: int, oi_cap: int
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
        oi_cap=oi_cap,
    )


GENESIS = {"fixture_f": fixture_f, "default": fixture_f, "empty": list}
