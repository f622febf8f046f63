"""
Protocol errors.

Introduction
------------
A transaction either applies completely or raises a subclass of
``ProtocolError`` and leaves the state exactly as it was, like a reverted
contract call. Each subclass has a stable numeric ``code`` (grouped in ranges)
and a stable ``name``; clients match on either, never on the message. The
message says what went wrong and what to do about it.

Code ranges
-----------
1000-1999  malformed or out-of-range input
2000-2999  oracle and market status
3000-3999  margin and balances
4000-4999  orders and matching
5000-5999  liquidity pool
6000-6999  accounts, collateral and settings
7000-7999  signatures, nonces and agent keys (checked by the node and the core)
9000-9999  invariant violations (a bug in Solvent, never the user's fault)
"""

from typing import ClassVar


class ProtocolError(Exception):
    """A transaction was refused; the state is unchanged."""

    code: ClassVar[int] = 1000
    name: ClassVar[str] = "ProtocolError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict[str, object]:
        """Return the error as the JSON object clients receive."""
        return {"code": self.code, "error": self.name, "message": self.message}


class Malformed(ProtocolError):
    """A field is missing, extra, of the wrong type or unparseable."""

    code = 1001
    name = "Malformed"


class InvalidAmount(ProtocolError):
    """An amount, size or price is zero, negative or otherwise not allowed."""

    code = 1002
    name = "InvalidAmount"


class AmountTooLarge(ProtocolError):
    """A number exceeds the documented bound (2**127 - 1 atoms)."""

    code = 1003
    name = "AmountTooLarge"


class BadAddress(ProtocolError):
    """An owner or reporter is not a 0x-prefixed 20-byte hex address."""

    code = 1004
    name = "BadAddress"


class UnknownMarket(ProtocolError):
    """The market id is not listed."""

    code = 1005
    name = "UnknownMarket"


class UnknownAsset(ProtocolError):
    """The asset is not listed as collateral."""

    code = 1006
    name = "UnknownAsset"


class UnknownAccount(ProtocolError):
    """The subaccount has never received a deposit."""

    code = 1007
    name = "UnknownAccount"


class OffTick(ProtocolError):
    """A price is not a multiple of the market's tick size."""

    code = 1008
    name = "OffTick"


class OffLot(ProtocolError):
    """A size is not a multiple of the market's lot size."""

    code = 1009
    name = "OffLot"


class BelowMinSize(ProtocolError):
    """An order is smaller than the market's minimum order notional."""

    code = 1010
    name = "BelowMinSize"


class Unauthorized(ProtocolError):
    """The sender may not perform this action."""

    code = 1011
    name = "Unauthorized"


class TimeWentBackwards(ProtocolError):
    """A block time earlier than the current state time."""

    code = 1012
    name = "TimeWentBackwards"


class AlreadyExists(ProtocolError):
    """A governance action would list something that is already listed."""

    code = 1013
    name = "AlreadyExists"


class OracleStale(ProtocolError):
    """The market's index has no fresh quorum; only risk-reducing actions are accepted."""

    code = 2001
    name = "OracleStale"


class ReportFromFuture(ProtocolError):
    """A price report is stamped after the current block time."""

    code = 2002
    name = "ReportFromFuture"


class ReportReplayed(ProtocolError):
    """A price report is not newer than the reporter's previous report."""

    code = 2003
    name = "ReportReplayed"


class MarketPaused(ProtocolError):
    """The market is paused by a breaker; only risk-reducing actions are accepted."""

    code = 2004
    name = "MarketPaused"


class NoIndexPrice(ProtocolError):
    """The asset has never had an index price."""

    code = 2005
    name = "NoIndexPrice"


class InsufficientMargin(ProtocolError):
    """The action would leave the account below its initial margin requirement."""

    code = 3001
    name = "InsufficientMargin"


class InsufficientBalance(ProtocolError):
    """The account holds less of the asset than the action moves."""

    code = 3002
    name = "InsufficientBalance"


class LeverageTooHigh(ProtocolError):
    """A leverage cap outside [1, the market's maximum]."""

    code = 3003
    name = "LeverageTooHigh"


class UnknownOrder(ProtocolError):
    """No open order with that id (or client id) belongs to this account."""

    code = 4001
    name = "UnknownOrder"


class PostOnlyWouldCross(ProtocolError):
    """A post-only order would take liquidity."""

    code = 4002
    name = "PostOnlyWouldCross"


class FillOrKillNotFilled(ProtocolError):
    """A fill-or-kill order could not be filled completely."""

    code = 4003
    name = "FillOrKillNotFilled"


class ReduceOnlyWouldIncrease(ProtocolError):
    """A reduce-only order has no position to reduce, or points the wrong way."""

    code = 4004
    name = "ReduceOnlyWouldIncrease"


class DuplicateClientId(ProtocolError):
    """The account already has an open order with this client order id."""

    code = 4005
    name = "DuplicateClientId"


class PriceBand(ProtocolError):
    """A limit price too far from the mark price."""

    code = 4006
    name = "PriceBand"


class TooManyOrders(ProtocolError):
    """The account has reached the limit of open orders in this market."""

    code = 4007
    name = "TooManyOrders"


class InvalidTrigger(ProtocolError):
    """A trigger price on the wrong side of the mark, or a missing position to protect."""

    code = 4008
    name = "InvalidTrigger"


class PoolCooldown(ProtocolError):
    """A pool withdrawal before its cooldown has passed."""

    code = 5001
    name = "PoolCooldown"


class InsufficientShares(ProtocolError):
    """The LP holds fewer free pool shares than requested."""

    code = 5002
    name = "InsufficientShares"


class PoolUndercollateralised(ProtocolError):
    """A pool withdrawal would leave the pool below its positions' maintenance requirement."""

    code = 5003
    name = "PoolUndercollateralised"


class UnknownPool(ProtocolError):
    """The pool id is not listed."""

    code = 5004
    name = "UnknownPool"


class DepositCapExceeded(ProtocolError):
    """The asset's cap on total deposits would be exceeded."""

    code = 6001
    name = "DepositCapExceeded"


class PositionOpen(ProtocolError):
    """A margin-mode switch while a position or order is open in that market."""

    code = 6002
    name = "PositionOpen"


class SameAccount(ProtocolError):
    """A transfer whose source and destination are the same subaccount."""

    code = 6003
    name = "SameAccount"


class DepositAlreadyCredited(ProtocolError):
    """A chain deposit whose id the node has already credited (a replay)."""

    code = 6004
    name = "DepositAlreadyCredited"


class DepositOutOfOrder(ProtocolError):
    """A chain deposit credited before the deposits with lower ids."""

    code = 6005
    name = "DepositOutOfOrder"


class ForcedOutOfOrder(ProtocolError):
    """A forced withdrawal served twice or before the requests with lower ids."""

    code = 6006
    name = "ForcedOutOfOrder"


class DepositOnChainOnly(ProtocolError):
    """A plain ``Deposit`` on a venue settled on chain: only the vault's deposits are credited."""

    code = 6007
    name = "DepositOnChainOnly"


class UnknownDomain(ProtocolError):
    """The named risk domain is not listed."""

    code = 1014
    name = "UnknownDomain"


class MarketReduceOnly(ProtocolError):
    """A breaker (or governance) put the market in reduce-only mode."""

    code = 2006
    name = "MarketReduceOnly"


class NotLiquidatable(ProtocolError):
    """The account is at or above its maintenance requirement (or has nothing to liquidate)."""

    code = 3010
    name = "NotLiquidatable"


class NoLiquidityInBand(ProtocolError):
    """Nothing can be closed inside the liquidation price band now."""

    code = 3011
    name = "NoLiquidityInBand"


class LiquidationCapReached(ProtocolError):
    """The market's liquidation cap for the current window is used up."""

    code = 3012
    name = "LiquidationCapReached"


class WrongLiquidationOrder(ProtocolError):
    """Another position (or the positions before collateral) must be liquidated first."""

    code = 3013
    name = "WrongLiquidationOrder"


class SelfLiquidation(ProtocolError):
    """A keeper may not liquidate its own owner's accounts."""

    code = 3014
    name = "SelfLiquidation"


class OICapExceeded(ProtocolError):
    """The order would take open interest past the market's or the domain's cap."""

    code = 4013
    name = "OICapExceeded"


class NoExpiry(ProtocolError):
    """The market is a perpetual: it never expires or settles."""

    code = 1015
    name = "NoExpiry"


class MarketExpired(ProtocolError):
    """The market has expired (or settled): no more orders; submit Settle."""

    code = 2007
    name = "MarketExpired"


class SettlementPending(ProtocolError):
    """The market has not expired yet, or its settlement average is not complete."""

    code = 2008
    name = "SettlementPending"


class BadSignature(ProtocolError):
    """The signature is malformed or was not made over these fields."""

    code = 7001
    name = "BadSignature"


class WrongDomain(ProtocolError):
    """The transaction was signed for another chain or another venue."""

    code = 7002
    name = "WrongDomain"


class NonceUsed(ProtocolError):
    """The nonce was used before by this signer, or is below its window of recent nonces."""

    code = 7003
    name = "NonceUsed"


class SignatureExpired(ProtocolError):
    """The signed transaction's deadline has passed."""

    code = 7004
    name = "SignatureExpired"


class InvariantViolation(Exception):
    """Invariant: a bug in Solvent. Never raised for bad input; always a defect to report."""

    code = 9001


ALL_ERRORS: tuple[type[ProtocolError], ...] = tuple(
    cls
    for cls in list(globals().values())
    if isinstance(cls, type) and issubclass(cls, ProtocolError) and cls is not ProtocolError
)
ERRORS_BY_NAME: dict[str, type[ProtocolError]] = {cls.name: cls for cls in ALL_ERRORS}


def ensure(condition: bool, error: ProtocolError) -> None:
    """Raise ``error`` unless ``condition`` holds (never stripped by ``-O``)."""
    if not condition:
        raise error
