"""
Units of the protocol.

Introduction
------------
Every number in the state is a Python ``int`` in a named unit:

=============  ==========================================================
unit           meaning
=============  ==========================================================
quote atoms    the smallest unit of the quote asset (10**-6 USDC)
asset atoms    the smallest unit of a collateral asset: 10**-decimals
size atoms     10**-8 of one base unit of a market (``SIZE_ONE``)
price          quote atoms per one whole base unit (BTC at 100,000 USDC
               is ``100_000 * 10**6``)
ratio          scaled by ``fixed.ONE`` = 10**18 (weights, fractions, rates)
seconds        unix seconds, entered only by ``SetTime`` and reports
=============  ==========================================================

So notional in quote atoms = size atoms * price // SIZE_ONE.
"""

from typing import Final

SIZE_ONE: Final = 10**8  # expo -8: size atoms per one base unit
QUOTE_DECIMALS: Final = 6
QUOTE_ONE: Final = 10**QUOTE_DECIMALS  # quote atoms per one quote unit
SECONDS_PER_HOUR: Final = 3600
SECONDS_PER_YEAR: Final = 365 * 24 * 3600  # options: time to expiry in years of 365 days
# Documented bound on every amount, size and price: fits a signed 128-bit
# field of the on-chain encoding with room for sums.
MAX_AMOUNT: Final = 2**127 - 1

AccountKey = tuple[str, int]  # (owner address, subaccount number)


def format_account(key: AccountKey) -> str:
    """Return the account as ``owner/subaccount`` for events and errors."""
    return f"{key[0]}/{key[1]}"


def parse_account(text: str) -> AccountKey | None:
    """Return the key of an ``owner/subaccount`` string (``format_account``'s), or None."""
    owner, sep, sub = text.rpartition("/")
    if not sep or not owner or not sub.isdigit():
        return None
    return (owner, int(sub))


def to_atoms(text: str, decimals: int) -> int:
    """Convert a decimal string (``"1.25"``) to atoms, refusing any rounding.

    Raises ``ValueError`` when the text is not a plain decimal or carries
    more digits than ``decimals``: a silent rounding would move money.
    """
    s = text.strip()
    negative = s.startswith("-")
    if negative or s.startswith("+"):
        s = s[1:]
    whole, _, frac = s.partition(".")
    if not (whole or frac) or not (whole.isdigit() or whole == "") or not (frac.isdigit() or frac == ""):
        raise ValueError(f"not a decimal number: {text!r}")
    frac = frac.rstrip("0")
    if len(frac) > decimals:
        raise ValueError(f"{text!r} has more than {decimals} decimals; it would be rounded")
    atoms = int(whole or "0") * int(10**decimals) + int((frac or "0").ljust(decimals, "0"))
    return -atoms if negative else atoms


def from_atoms(atoms: int, decimals: int) -> str:
    """Format atoms as an exact decimal string without trailing zeros."""
    sign = "-" if atoms < 0 else ""
    whole, frac = divmod(abs(atoms), 10**decimals)
    if decimals == 0 or frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{str(frac).rjust(decimals, '0').rstrip('0')}"
