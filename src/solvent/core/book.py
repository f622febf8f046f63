"""
The order book of one market: price levels in price-time priority.

Introduction
------------
Bids are keyed by ``-price`` and asks by ``price`` in a ``SortedDict``, so
the best level of either side is the first. A level is a plain ``dict`` of
order id -> ``Order``; dicts keep insertion order, which is time priority,
and remove in O(1). These functions only change the book's structure;
margin and matching rules live in ``matching``.
"""

from sortedcontainers import SortedDict

from solvent.core.state import Book, Order
from solvent.core.units import AccountKey


def side_levels(book: Book, is_buy: bool) -> SortedDict:
    """Return the levels an order of this side rests on."""
    return book.bids if is_buy else book.asks


def opposite_levels(book: Book, is_buy: bool) -> SortedDict:
    """Return the levels an order of this side trades against."""
    return book.asks if is_buy else book.bids


def level_key(is_buy: bool, price: int) -> int:
    """Return the sort key of a price on its side (best first)."""
    return -price if is_buy else price


def best_price(book: Book, is_bid: bool) -> int | None:
    """Return the best bid (``is_bid``) or ask price, or None for an empty side."""
    levels = book.bids if is_bid else book.asks
    if not levels:
        return None
    key: int = levels.peekitem(0)[0]
    return -key if is_bid else key


def insert_order(book: Book, order: Order) -> None:
    """Rest an order at the back of its price level."""
    levels = book.bids if order.is_buy else book.asks
    key = -order.price if order.is_buy else order.price
    level = levels.get(key)
    if level is None:
        level = {}
        levels[key] = level
    level[order.id] = order
    book.orders[order.id] = order
    ids = book.by_account.get(order.account)
    if ids is None:
        book.by_account[order.account] = {order.id}
    else:
        ids.add(order.id)
    if order.client_id is not None:
        book.by_client_id[(order.account, order.client_id)] = order.id


def remove_order(book: Book, order: Order) -> None:
    """Take an order out of the book (filled or cancelled)."""
    levels = book.bids if order.is_buy else book.asks
    key = -order.price if order.is_buy else order.price
    level = levels[key]
    del level[order.id]
    if not level:
        del levels[key]
    del book.orders[order.id]
    ids = book.by_account[order.account]
    ids.discard(order.id)
    if not ids:
        del book.by_account[order.account]
    if order.client_id is not None:
        book.by_client_id.pop((order.account, order.client_id), None)


def open_order_count(book: Book, account: AccountKey) -> int:
    """Return how many orders the account has resting in this book."""
    ids = book.by_account.get(account)
    return len(ids) if ids is not None else 0
