"""
The stress lab: the real core, in process, against crash price paths and agent populations.

Outside the core: floats, numpy and seeded randomness are allowed here; every
price, amount and time handed to the core is an integer in its units, and every
random draw comes from an explicit seed, so the same seed gives the same run.

============================  ==================================================
``paths``                     price paths: the shipped real episodes refined to
                              a common step, and seeded synthetic paths (GBM,
                              jumps, GARCH, a stablecoin depeg)
``reporters``                 oracle reporters deriving ``PriceReport``s from a
                              path: noise, delay, skipped rounds, liars, silence
``congestion``                the settlement chain: blocks, an EIP-1559 base fee
                              driven by volatility, fee-too-low delays and drops
============================  ==================================================

The lab loop, the agents, the reports and the sweeps build on these modules.
"""
