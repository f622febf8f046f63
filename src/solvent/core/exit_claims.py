"""
Exit claims: what each account may take out of the vault if the venue freezes.

Introduction
------------
After a freeze (``docs/settlement.md``) the vault pays each account the
amounts of its EXIT leaves in the last committed state root. ``exit_claims``
is the one rule, shared by the node (which writes the leaves) and the tests:

* per asset, the account's balance;
* the quote asset also gets the isolated margins of its positions and the
  value of every position at the mark, with pending funding
  (``margin.position_value``): the account's quote if it closed everything
  at the marks;
* if that quote claim is negative, the deficit is taken from the other
  assets' claims at index price (unweighted), the largest value first, then
  by symbol; an asset that covers part of it loses the atoms that cover it,
  rounded up against the account; a deficit left over is dropped (the quote
  claim is floored at 0).

Assets with claim 0 are left out. Pure: nothing here mutates.
"""

from solvent.core.margin import position_value
from solvent.core.state import Account, State


def quote_claim(state: State, account: Account) -> int:
    """The quote balance, plus isolated margins, plus positions' value (may be negative)."""
    claim = account.balances.get(state.quote, 0)
    for market_id in sorted(account.positions):
        pos = account.positions[market_id]
        claim += pos.isolated_margin + position_value(state, account, market_id, pos)
    return claim


def exit_claims(state: State, account: Account) -> dict[str, int]:
    """Return asset symbol -> atoms the account may claim at exit (positive amounts only)."""
    quote = state.quote
    claims = {s: a for s, a in account.balances.items() if s != quote and a > 0}
    deficit = -quote_claim(state, account)
    if deficit > 0:
        valued = []
        for symbol, amount in claims.items():
            price = state.feeds[symbol].index_price if symbol in state.feeds else 0
            unit = state.assets[symbol].atoms_per_unit if symbol in state.assets else 1
            valued.append(((amount * price) // unit, symbol, price, unit))
        for value, symbol, price, unit in sorted(valued, key=lambda v: (-v[0], v[1])):
            if deficit <= 0 or value <= 0:
                break
            if value <= deficit:
                claims[symbol] = 0
                deficit -= value
            else:
                claims[symbol] -= min(claims[symbol], -((-deficit * unit) // price))
                deficit = 0
    claims[quote] = max(-deficit, 0)
    return {s: a for s, a in sorted(claims.items()) if a > 0}
