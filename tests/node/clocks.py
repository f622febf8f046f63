"""Clocks for nodes under test (``NodeConfig.clock``)."""


class TickingClock:
    """A clock one second later at every reading: each block gets a new whole second."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> float:
        self.now += 1
        return self.now
