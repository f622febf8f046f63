"""
The reference keeper: a risk index kept next to the state and a keeper that liquidates.

Outside the core: floats and numpy are allowed here. ``RiskIndex`` screens
every margin bucket conservatively; ``Keeper`` confirms candidates with the
core's exact integer check and submits ``Liquidate`` / ``LiquidateCollateral``
transactions, most underwater first.
"""

from solvent.keeper.keeper import Keeper, Underwater, confirm, exact_risk
from solvent.keeper.risk_index import RiskIndex, Screen

__all__ = ["Keeper", "RiskIndex", "Screen", "Underwater", "confirm", "exact_risk"]
