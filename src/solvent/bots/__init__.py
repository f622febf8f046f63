"""
Bots that use a node only through its HTTP API (``solvent.sdk``), each with its own key.

============================  ==================================================
``reporters.Reporters``       the deployment's dev reporters replaying prices
``maker.MarketMaker``         layered quotes around the index, inventory-skewed
``traders.Trader``            one leveraged position, re-opened after close-out
``traders.Flow``              small random market orders: background trading
``keeper.KeeperBot``          finds accounts below maintenance, liquidates them
``episodes``                  the shipped crash episodes and their report rounds
``tally.Tally``               what their transactions did, from the receipts
============================  ==================================================

``solvent.demo_node`` runs them together against a node on a real crash.
"""
