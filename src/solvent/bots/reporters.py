"""
Reporters: the deployment's development reporters replaying a price path through the API.

Introduction
------------
A node's genesis (``/meta``) names its deployment; the deployment lists each
feed's reporters, band and quorum (``node.genesis.node_genesis_txs``), so a
reporter learns the rules it reports under from public configuration, as a
real one would from the venue's documentation. The dev reporters of an asset
are ``<asset>-reporter-1..N`` (``node.genesis.dev_key``); every one of them
reports each round, so the median is the reported price exactly.

Each ``report`` is stamped with the node's block time read from ``/meta``:
the oracle refuses a report stamped after the block time and ignores one
older than its staleness, so a reporter in step with the node's clock is
the only kind whose reports count. All the round's reports go in one
``POST /txs``; the call returns once the block holding them is durable.
"""

from solvent.bots.tally import Tally, post
from solvent.core.tx import ListAsset, ListOracle, PriceReport
from solvent.node.genesis import GenesisConfig, dev_address, dev_key, node_genesis_txs
from solvent.sdk import Client


def feed_rules(genesis: GenesisConfig, asset: str) -> tuple[tuple[str, ...], int, int]:
    """Return the reporters, band and quorum the deployment gives ``asset``'s feed."""
    for tx in node_genesis_txs(genesis):
        if isinstance(tx, ListAsset) and tx.symbol == asset and tx.reporters:
            return tx.reporters, tx.band, tx.quorum
        if isinstance(tx, ListOracle) and tx.asset == asset:
            return tx.reporters, tx.band, tx.quorum
    raise ValueError(f"the deployment {genesis.deployment} has no oracle feed for {asset}")


class Reporters:
    """Every dev reporter of each asset, reporting the same prices each round."""

    def __init__(self, url: str, assets: list[str], tally: Tally) -> None:
        self.reader = Client(url)
        self.tally = tally
        genesis = GenesisConfig.from_json(self.reader.meta["genesis"])
        self.clients: dict[str, list[Client]] = {}
        bands = []
        for asset in assets:
            addresses, band, _ = feed_rules(genesis, asset)
            names = [f"{asset.lower()}-reporter-{i}" for i in range(1, len(addresses) + 1)]
            if {dev_address(n) for n in names} != set(addresses):
                raise ValueError(f"the {asset} reporters of this node are not the development reporters")
            self.clients[asset] = [Client(url, dev_key(n)) for n in names]
            bands.append(band)
        # Steps of at most 90% of the tightest band: every report of a round carries one
        # price, so the index moves by exactly the step; the margin only guards rounding.
        self.max_step = min(bands) * 9 // 10
        self.reports = 0

    def report(self, prices: dict[str, int]) -> int:
        """Report ``prices`` (asset -> quote atoms) from every reporter; return the stamp used."""
        now = int(self.reader.get("/meta")["time"])
        bodies = [
            client.sign(PriceReport(client.address, asset, price, now))
            for asset, price in sorted(prices.items())
            for client in self.clients[asset]
        ]
        post(self.reader, bodies, self.tally)
        self.reports += len(bodies)
        return now

    def close(self) -> None:
        self.reader.close()
        for clients in self.clients.values():
            for client in clients:
                client.close()
