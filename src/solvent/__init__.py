"""Solvent: a trust-minimised clearing engine for crypto derivatives."""

__version__ = "0.1.0"
