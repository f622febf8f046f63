"""
A Hypothesis state machine over the vault: deposits, an operator (honest, or lying about
EXIT and WITHDRAWAL amounts) crediting, withdrawing and committing roots built with
node.merkle, forced requests, the clock, freeze, exits and refunds. P8 is checked after
every step: per token Σ paid ≤ Σ deposited (and the vault's books equal its balance), each
withdrawal id, exit claim and refund is paid at most once, and once frozen every unpaid
EXIT leaf of the last root that the vault can cover pays in full.
"""

import contextlib
import copy
from typing import Any

import boa
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from vault_world import FORCE_WINDOW, Operator, World

from solvent.chain.leaves import asset_id

SYMBOLS = ("USDC", "ETH")
ClaimKey = tuple[str, int, str]

actor_ix = st.integers(0, 2)
subaccounts = st.integers(0, 1)
symbols = st.sampled_from(SYMBOLS)
amounts = st.integers(1, 10**9)


class VaultMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.stack = contextlib.ExitStack()
        self.stack.enter_context(boa.env.anchor())
        self.world = World.create()
        self.eth = self.world.list_token("ETH")
        self.tokens = {"USDC": self.world.usdc, "ETH": self.eth}
        self.actors = [self.world.depositor, self.world.other, self.world.attacker]
        self.op: Operator = self.world.operator
        self.deposits: list[tuple[str, int, str, int]] = []
        self.credited = 0
        self.ledger: dict[ClaimKey, int] = {}  # the honest operator's balances
        self.requests = 0
        self.served = 0
        self.snaps: dict[int, Operator] = {}  # the operator's trees at each committed height
        self.last: int | None = None
        self.frozen = False
        self.deposited = dict.fromkeys(SYMBOLS, 0)
        self.paid = dict.fromkeys(SYMBOLS, 0)
        self.withdrawn: set[int] = set()
        self.exited: set[ClaimKey] = set()
        self.refunded: set[int] = set()

    def teardown(self) -> None:
        self.stack.close()

    def _holdings(self, symbol: str) -> int:
        return self.deposited[symbol] - self.paid[symbol]

    def _paid_to(self, owner: str, symbol: str, call: Any) -> int:
        token = self.tokens[symbol]
        before = token.balanceOf(owner)
        call()
        gained: int = token.balanceOf(owner) - before
        self.paid[symbol] += gained
        return gained

    # The users

    @rule(who=actor_ix, symbol=symbols, amount=amounts, sub=subaccounts)
    def deposit(self, who: int, symbol: str, amount: int, sub: int) -> None:
        owner = self.actors[who]
        if self.frozen:
            with boa.reverts("Frozen"):
                self.world.deposit(owner, amount, symbol, sub)
            return
        assert self.world.deposit(owner, amount, symbol, sub) == len(self.deposits)
        self.deposits.append((owner, sub, symbol, amount))
        self.deposited[symbol] += amount

    @rule(who=actor_ix, symbol=symbols, amount=amounts)
    def request(self, who: int, symbol: str, amount: int) -> None:
        if self.frozen:
            with boa.reverts("Frozen"):
                self.world.vault.request_forced_withdrawal(
                    0, asset_id(symbol), amount, sender=self.actors[who]
                )
            return
        self.world.vault.request_forced_withdrawal(0, asset_id(symbol), amount, sender=self.actors[who])
        self.requests += 1

    @rule(seconds=st.sampled_from([60, 3600, FORCE_WINDOW // 2, FORCE_WINDOW + 12]))
    def wait(self, seconds: int) -> None:
        boa.env.time_travel(seconds=seconds)

    # The operator

    @precondition(lambda self: not self.frozen)
    @rule(count=st.integers(1, 3))
    def credit(self, count: int) -> None:
        for owner, sub, symbol, amount in self.deposits[self.credited : self.credited + count]:
            key = (owner, sub, symbol)
            self.ledger[key] = self.ledger.get(key, 0) + amount
            self.op.set_exit(owner, sub, symbol, self.ledger[key])
            self.credited += 1
        self.op.set_cursors(self.credited, self.served)

    @precondition(lambda self: not self.frozen)
    @rule(data=st.data())
    def operator_withdraws(self, data: st.DataObject) -> None:
        funded = sorted(k for k, v in self.ledger.items() if v > 0)
        if not funded:
            return
        owner, sub, symbol = key = data.draw(st.sampled_from(funded))
        amount = data.draw(st.integers(1, self.ledger[key]))
        self.ledger[key] -= amount
        self.op.set_exit(owner, sub, symbol, self.ledger[key])
        self.op.add_withdrawal(owner, symbol, amount)

    @precondition(lambda self: not self.frozen)
    @rule(
        who=actor_ix,
        sub=subaccounts,
        symbol=symbols,
        amount=st.integers(0, 2 * 10**9) | st.just(10**13),
        leaf=st.booleans(),
    )
    def operator_lies(self, who: int, sub: int, symbol: str, amount: int, leaf: bool) -> None:
        if leaf:
            self.op.set_exit(self.actors[who], sub, symbol, amount)
        else:
            self.op.add_withdrawal(self.actors[who], symbol, amount)

    @precondition(lambda self: not self.frozen)
    @rule()
    def serve(self) -> None:
        self.served = self.requests
        self.op.set_cursors(self.credited, self.served)

    @rule()
    def commit(self) -> None:
        height = 0 if self.last is None else self.last + 10
        if self.frozen:
            with boa.reverts("Frozen"):
                self.world.commit(height)
            return
        self.world.commit(height)
        self.snaps[height] = copy.deepcopy(self.op)
        self.last = height

    # Anyone

    @precondition(lambda self: not self.frozen)
    @rule()
    def operator_round(self) -> None:
        """The honest routine: credit every pending deposit and commit."""
        self.credit(len(self.deposits) - self.credited)
        self.commit()

    @precondition(lambda self: not self.frozen and self.last is not None)
    @rule(who=actor_ix)
    def operator_stops(self, who: int) -> None:
        """A request the operator never serves, the deadline passing, and a freeze attempt."""
        self.request(who, "USDC", 1)
        boa.env.time_travel(seconds=FORCE_WINDOW + 12)
        self.freeze(self.requests - 1)

    @rule(request=st.integers(0, 2))
    def freeze(self, request: int) -> None:
        vault = self.world.vault
        snap = self.snaps[self.last] if self.last is not None else self.op
        args = snap.freeze_args(request)
        served = snap.cursors[1] if self.last is not None else 0
        if self.frozen:
            reason = "Frozen"
        elif request >= self.requests:
            reason = "UnknownRequest"
        elif boa.env.evm.patch.timestamp <= vault.request_deadline(request):
            reason = "DeadlineNotPassed"
        elif served > request:
            reason = "RequestServed"
        else:
            vault.freeze(*args)
            event("frozen")
            self.frozen = True
            assert vault.deposits_credited() == (snap.cursors[0] if self.last is not None else 0)
            return
        with boa.reverts(reason):
            vault.freeze(*args)

    @precondition(lambda self: self.last is not None)
    @rule(data=st.data(), older=st.booleans())
    def withdraw(self, data: st.DataObject, older: bool) -> None:
        heights = sorted(self.snaps)
        height = data.draw(st.sampled_from(heights)) if older else heights[-1]
        snap = self.snaps[height]
        if not snap.withdrawn:
            return
        wid = data.draw(st.integers(0, len(snap.withdrawn) - 1))
        owner, symbol, amount = snap.withdrawn[wid]
        args = (*snap.withdraw_args(wid), height)
        if wid in self.withdrawn:
            reason = "AlreadyWithdrawn"
        elif amount == 0:
            reason = "NothingToPay"
        elif amount > self._holdings(symbol):
            reason = "InsufficientHoldings"
        else:
            assert self._paid_to(owner, symbol, lambda: self.world.vault.withdraw(*args)) == amount
            self.withdrawn.add(wid)
            event("withdrawn")
            return
        with boa.reverts(reason):
            self.world.vault.withdraw(*args)

    @precondition(lambda self: self.last is not None)
    @rule(data=st.data())
    def exit(self, data: st.DataObject) -> None:
        assert self.last is not None
        snap = self.snaps[self.last]
        claims = sorted(k for k, v in snap.exit_amount.items() if v > 0)
        if not claims:
            return
        self._exit(data.draw(st.sampled_from(claims)))

    def _exit(self, key: ClaimKey) -> None:
        assert self.last is not None
        snap = self.snaps[self.last]
        owner, sub, symbol = key
        args = (*snap.exit_args(owner, sub, symbol), self.last)
        if not self.frozen:
            reason = "NotFrozen"
        elif key in self.exited:
            reason = "AlreadyExited"
        else:
            expected = min(snap.exit_amount[key], self._holdings(symbol))
            assert self._paid_to(owner, symbol, lambda: self.world.vault.exit(*args)) == expected
            self.exited.add(key)
            event("exit paid in full" if expected == snap.exit_amount[key] else "exit capped")
            return
        with boa.reverts(reason):
            self.world.vault.exit(*args)

    @precondition(lambda self: self.frozen and self.last is not None)
    @rule()
    def everyone_exits(self) -> None:
        """Every claim of the final root, in order: the early ones paid in full, then the cap."""
        assert self.last is not None
        for key in sorted(k for k, v in self.snaps[self.last].exit_amount.items() if v > 0):
            self._exit(key)

    @precondition(lambda self: bool(self.deposits))
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        deposit_id = data.draw(st.integers(0, len(self.deposits) - 1))
        owner, sub, symbol, amount = self.deposits[deposit_id]
        args = (deposit_id, owner, sub, asset_id(symbol), amount)
        if not self.frozen:
            reason = "NotFrozen"
        elif deposit_id < self.world.vault.deposits_credited():
            reason = "DepositCredited"
        elif deposit_id in self.refunded:
            reason = "AlreadyRefunded"
        else:
            expected = min(amount, self._holdings(symbol))
            assert self._paid_to(owner, symbol, lambda: self.world.vault.refund(*args)) == expected
            self.refunded.add(deposit_id)
            event("refunded")
            return
        with boa.reverts(reason):
            self.world.vault.refund(*args)

    # P8

    @invariant()
    def paid_at_most_what_was_deposited(self) -> None:
        for symbol, token in self.tokens.items():
            assert self.paid[symbol] <= self.deposited[symbol]
            held = self.world.vault.holdings(token.address)
            assert held == self._holdings(symbol) == token.balanceOf(self.world.vault.address)

    @invariant()
    def every_coverable_exit_pays_in_full(self) -> None:
        if not self.frozen or self.last is None:
            return
        snap = self.snaps[self.last]
        for (owner, sub, symbol), amount in sorted(snap.exit_amount.items()):
            if amount == 0 or (owner, sub, symbol) in self.exited or amount > self._holdings(symbol):
                continue
            with boa.env.anchor():
                paid = self.world.vault.exit(*snap.exit_args(owner, sub, symbol), self.last)
            assert paid == amount


TestVault = VaultMachine.TestCase
TestVault.settings = settings(max_examples=20, stateful_step_count=30, deadline=None)
