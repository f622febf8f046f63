"""
The vault on titanoboa: ADV-24..26 of ../shared/ADVERSARIAL.md, access control, proofs
tampered and replayed, hostile tokens, the freeze and what follows it.

Amounts are USDC units (6 decimals); ``K`` is 1,000 USDC.
"""

import boa
from vault_world import FEE_TOKEN, FORCE_WINDOW, REENTRANT_TOKEN, World

from solvent.chain.leaves import asset_id
from solvent.node.merkle import EMPTY_ROOT

K = 1_000 * 10**6
USDC = asset_id("USDC")


def _overdue_request(world: World, who: str, amount: int = K) -> int:
    request_id: int = world.vault.request_forced_withdrawal(0, USDC, amount, sender=who)
    boa.env.time_travel(seconds=FORCE_WINDOW + 1)
    return request_id


def _freeze(world: World, request_id: int) -> None:
    world.vault.freeze(*world.operator.freeze_args(request_id), sender=world.attacker)


# ADV-24


def test_withdraw_twice_reverts_already_withdrawn_and_pays_once(world: World) -> None:
    world.deposit(world.depositor, 5 * K)
    world.operator.add_withdrawal(world.depositor, "USDC", K)
    height = world.commit()
    before = world.usdc.balanceOf(world.depositor)
    args = world.operator.withdraw_args(0)
    world.vault.withdraw(*args, height, sender=world.depositor)
    with boa.reverts("AlreadyWithdrawn"):
        world.vault.withdraw(*args, height, sender=world.depositor)
    assert world.usdc.balanceOf(world.depositor) - before == K
    assert world.vault.is_withdrawn(0)
    assert world.vault.holdings(world.usdc.address) == 4 * K


def test_withdrawal_is_paid_to_its_owner_whoever_calls(world: World) -> None:
    world.deposit(world.depositor, 5 * K)
    world.operator.add_withdrawal(world.depositor, "USDC", K)
    height = world.commit()
    before = world.usdc.balanceOf(world.attacker)
    world.vault.withdraw(*world.operator.withdraw_args(0), height, sender=world.attacker)
    assert world.usdc.balanceOf(world.attacker) == before
    assert world.usdc.balanceOf(world.depositor) == 10**12 - 4 * K


def test_withdrawal_claims_against_any_committed_root_once(world: World) -> None:
    world.deposit(world.depositor, 5 * K)
    world.operator.add_withdrawal(world.depositor, "USDC", K)
    first = world.commit()
    world.operator.add_withdrawal(world.other, "USDC", 2 * K)
    second = world.commit()
    with boa.reverts("InvalidProof"):  # id 1 is not in the older root
        world.vault.withdraw(*world.operator.withdraw_args(1), first)
    world.vault.withdraw(*world.operator.withdraw_args(1), second, sender=world.other)
    # Id 0 with its proof in the older root, then again in the newer one.
    world.vault.withdraw(*world.operator.withdraw_args(0, count=1), first)
    with boa.reverts("AlreadyWithdrawn"):
        world.vault.withdraw(*world.operator.withdraw_args(0), second)
    assert world.vault.holdings(world.usdc.address) == 2 * K


def test_withdrawal_beyond_holdings_reverts_without_spending_the_id(world: World) -> None:
    world.deposit(world.depositor, K)
    world.operator.add_withdrawal(world.depositor, "USDC", 2 * K)
    height = world.commit()
    args = world.operator.withdraw_args(0)
    with boa.reverts("InsufficientHoldings"):
        world.vault.withdraw(*args, height)
    world.deposit(world.other, K)
    world.vault.withdraw(*args, height)
    assert world.vault.holdings(world.usdc.address) == 0


# ADV-25


def test_escape_hatch(world: World) -> None:
    vault, op = world.vault, world.operator
    world.deposit(world.depositor, K)
    world.deposit(world.other, 3 * K)
    op.set_exit(world.depositor, 0, "USDC", K)
    op.set_exit(world.other, 0, "USDC", 3 * K)
    op.set_cursors(2, 0)
    height = world.commit()
    # The operator stops; U asks on chain.
    request_id = vault.request_forced_withdrawal(0, USDC, K, sender=world.depositor)
    boa.env.time_travel(seconds=FORCE_WINDOW - 10)
    with boa.reverts("DeadlineNotPassed"):
        vault.freeze(*op.freeze_args(request_id), sender=world.attacker)
    boa.env.time_travel(seconds=11)
    vault.freeze(*op.freeze_args(request_id), sender=world.attacker)  # anyone
    assert vault.frozen()
    with boa.reverts("Frozen"):
        vault.commit(height + 10, b"\x01" * 32, b"\x01" * 32, sender=world.sequencer)
    u_before = world.usdc.balanceOf(world.depositor)
    assert vault.exit(*op.exit_args(world.depositor, 0, "USDC"), height, sender=world.depositor) == K
    assert world.usdc.balanceOf(world.depositor) - u_before == K
    with boa.reverts("AlreadyExited"):
        vault.exit(*op.exit_args(world.depositor, 0, "USDC"), height, sender=world.depositor)
    v_before = world.usdc.balanceOf(world.other)
    vault.exit(*op.exit_args(world.other, 0, "USDC"), height, sender=world.other)  # V made no request
    assert world.usdc.balanceOf(world.other) - v_before == 3 * K
    assert vault.holdings(world.usdc.address) == 0 == world.usdc.balanceOf(vault.address)


def test_freeze_reverts_when_the_operator_served_the_request_in_time(world: World) -> None:
    op = world.operator
    world.deposit(world.depositor, K)
    op.set_exit(world.depositor, 0, "USDC", K)
    op.set_cursors(1, 0)
    world.commit()
    request_id = world.vault.request_forced_withdrawal(0, USDC, K, sender=world.depositor)
    # Served: paid as a Withdraw and counted by the CURSORS leaf, before the deadline.
    op.add_withdrawal(world.depositor, "USDC", K)
    op.set_exit(world.depositor, 0, "USDC", 0)
    op.set_cursors(1, 1)
    world.commit()
    boa.env.time_travel(seconds=FORCE_WINDOW + 1)
    with boa.reverts("RequestServed"):
        world.vault.freeze(*op.freeze_args(request_id))
    assert not world.vault.frozen()


def test_freeze_needs_the_latest_roots_cursors(world: World) -> None:
    op = world.operator
    world.deposit(world.depositor, K)
    world.commit()
    stale = op.freeze_args(0)
    op.set_cursors(1, 0)
    world.commit()
    request_id = _overdue_request(world, world.depositor)
    with boa.reverts("InvalidProof"):
        world.vault.freeze(*stale)
    with boa.reverts("UnknownRequest"):
        world.vault.freeze(request_id + 1, *op.freeze_args(request_id)[1:])
    _freeze(world, request_id)
    with boa.reverts("Frozen"):
        _freeze(world, request_id)


# ADV-26


def test_exit_with_an_older_roots_proof_reverts_stale_root_and_the_last_root_pays(world: World) -> None:
    op = world.operator
    world.deposit(world.depositor, K)
    op.set_exit(world.depositor, 0, "USDC", K)
    older = world.commit()
    old_args = op.exit_args(world.depositor, 0, "USDC")
    op.set_exit(world.depositor, 0, "USDC", 400 * 10**6)
    last = world.commit()
    _freeze(world, _overdue_request(world, world.other))
    with boa.reverts("StaleRoot"):
        world.vault.exit(*old_args, older)
    with boa.reverts("InvalidProof"):
        world.vault.exit(*old_args, last)
    before = world.usdc.balanceOf(world.depositor)
    world.vault.exit(*op.exit_args(world.depositor, 0, "USDC"), last)
    assert world.usdc.balanceOf(world.depositor) - before == 400 * 10**6


# Access control and ordering


def test_only_the_sequencer_commits_and_heights_strictly_increase(world: World) -> None:
    with boa.reverts("Unauthorized"):
        world.vault.commit(10, b"\x01" * 32, b"\x01" * 32, sender=world.attacker)
    world.commit(10)
    for height in (10, 9):
        with boa.reverts("HeightNotIncreasing"):
            world.commit(height)
    world.commit(11)
    assert world.vault.last_height() == 11


def test_height_zero_may_be_committed_first(world: World) -> None:
    with boa.reverts("NoCommitment"):
        world.vault.last_height()
    world.commit(0)
    assert world.vault.last_height() == 0
    with boa.reverts("HeightNotIncreasing"):
        world.commit(0)


def test_only_the_admin_lists_and_once(world: World) -> None:
    token = world.usdc
    with boa.reverts("Unauthorized"):
        world.vault.list_asset("EVIL", token.address, sender=world.attacker)
    with boa.reverts("AssetListed"):
        world.vault.list_asset("USDC", world.attacker, sender=world.admin)
    with boa.reverts("AssetListed"):
        world.vault.list_asset("USDC2", token.address, sender=world.admin)
    with boa.reverts("UnknownAsset"):
        world.vault.deposit(asset_id("EVIL"), K, 0, sender=world.depositor)


# Proofs tampered and replayed


def test_tampered_withdrawals_are_refused(world: World) -> None:
    world.deposit(world.depositor, 5 * K)
    world.operator.add_withdrawal(world.depositor, "USDC", K)
    world.operator.add_withdrawal(world.other, "USDC", K)
    height = world.commit()
    wid, owner, asset, amount, proof = world.operator.withdraw_args(0)
    bad_sibling = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    cases = [
        (wid, owner, asset, amount + 1, proof, height),  # leaf: amount
        (wid, world.attacker, asset, amount, proof, height),  # replayed to another owner
        (wid, owner, asset_id("ETH"), amount, proof, height),  # another asset
        (wid, owner, asset, amount, bad_sibling, height),  # sibling
        (1, owner, asset, amount, proof, height),  # id 0's leaf replayed as id 1
        (wid + 2**32, owner, asset, amount, proof, height),  # an index aliasing id 0's path
    ]
    for case in cases:
        with boa.reverts("InvalidProof"):
            world.vault.withdraw(*case)
    with boa.reverts("UnknownRoot"):
        world.vault.withdraw(wid, owner, asset, amount, proof, height + 1)
    world.vault.withdraw(wid, owner, asset, amount, proof, height)


def test_tampered_exits_are_refused(world: World) -> None:
    op = world.operator
    world.deposit(world.depositor, K)
    op.set_exit(world.depositor, 0, "USDC", K)
    op.set_exit(world.other, 0, "USDC", 1)
    height = world.commit()
    _freeze(world, _overdue_request(world, world.other))
    owner, sub, asset, amount, index, proof = op.exit_args(world.depositor, 0, "USDC")
    cases = [
        (owner, sub, asset, amount + 1, index, proof),
        (world.attacker, sub, asset, amount, index, proof),
        (owner, sub + 1, asset, amount, index, proof),  # replayed for another subaccount
        (owner, sub, asset, amount, index + 1, proof),
        (owner, sub, asset, amount, index, [EMPTY_ROOT, *proof[1:]]),
    ]
    for case in cases:
        with boa.reverts("InvalidProof"):
            world.vault.exit(*case, height)
    with boa.reverts("StaleRoot"):
        world.vault.exit(owner, sub, asset, amount, index, proof, height + 10)
    world.vault.exit(owner, sub, asset, amount, index, proof, height)


# Hostile tokens


def test_a_reentrant_token_cannot_reenter_a_payment(world: World) -> None:
    evil = world.list_token("EVIL", REENTRANT_TOKEN)
    world.deposit(world.depositor, 1000, "EVIL")
    world.operator.add_withdrawal(world.depositor, "EVIL", 100)
    world.operator.add_withdrawal(world.depositor, "EVIL", 200)
    height = world.commit()
    # On paying id 0, the token calls withdraw(id 1): a valid claim, refused only by the lock.
    reentry = world.vault.withdraw.prepare_calldata(*world.operator.withdraw_args(1), height)
    evil.arm(world.vault.address, reentry)
    before = evil.balanceOf(world.depositor)
    world.vault.withdraw(*world.operator.withdraw_args(0), height)
    assert evil.reentry_tried()
    assert not evil.reentry_ok()
    assert evil.balanceOf(world.depositor) - before == 100
    assert not world.vault.is_withdrawn(1)
    world.vault.withdraw(*world.operator.withdraw_args(1), height)  # the payload was a valid claim
    assert evil.balanceOf(world.depositor) - before == 300
    assert world.vault.holdings(evil.address) == 700 == evil.balanceOf(world.vault.address)


def test_a_reentrant_token_cannot_reenter_a_deposit(world: World) -> None:
    evil = world.list_token("EVIL", REENTRANT_TOKEN)
    world.deposit(world.depositor, 1000, "EVIL")
    world.operator.add_withdrawal(world.depositor, "EVIL", 100)
    height = world.commit()
    evil.arm(
        world.vault.address, world.vault.withdraw.prepare_calldata(*world.operator.withdraw_args(0), height)
    )
    world.deposit(world.depositor, 50, "EVIL")
    assert evil.reentry_tried()
    assert not evil.reentry_ok()
    assert world.vault.holdings(evil.address) == 1050


def test_a_fee_on_transfer_token_is_refused(world: World) -> None:
    world.list_token("FEE", FEE_TOKEN)
    with boa.reverts("FeeOnTransfer"):
        world.deposit(world.depositor, 1000, "FEE")
    assert world.vault.deposit_count() == 0


def test_deposits_are_numbered_and_hashed(world: World) -> None:
    assert world.deposit(world.depositor, K, subaccount=3) == 0
    assert world.deposit(world.other, 2 * K) == 1
    assert world.vault.deposit_count() == 2
    with boa.reverts("ZeroAmount"):
        world.deposit(world.other, 0)
    assert world.vault.holdings(world.usdc.address) == 3 * K == world.usdc.balanceOf(world.vault.address)


# The freeze and after


def test_exit_before_freeze_reverts(world: World) -> None:
    world.deposit(world.depositor, K)
    world.operator.set_exit(world.depositor, 0, "USDC", K)
    height = world.commit()
    with boa.reverts("NotFrozen"):
        world.vault.exit(*world.operator.exit_args(world.depositor, 0, "USDC"), height)
    with boa.reverts("NotFrozen"):
        world.vault.refund(0, world.depositor, 0, USDC, K)


def test_frozen_vault_takes_no_deposit_or_request(world: World) -> None:
    world.deposit(world.depositor, K)
    world.commit()
    _freeze(world, _overdue_request(world, world.depositor))
    with boa.reverts("Frozen"):
        world.deposit(world.depositor, K)
    with boa.reverts("Frozen"):
        world.vault.request_forced_withdrawal(0, USDC, K, sender=world.depositor)


def test_a_deposit_pending_at_freeze_is_refunded_once_and_a_credited_one_is_not(world: World) -> None:
    op = world.operator
    world.deposit(world.depositor, K)
    op.set_exit(world.depositor, 0, "USDC", K)
    op.set_cursors(1, 0)
    world.commit()
    pending = world.deposit(world.other, 2 * K, subaccount=7)
    _freeze(world, _overdue_request(world, world.other))
    assert world.vault.deposits_credited() == 1
    with boa.reverts("DepositCredited"):
        world.vault.refund(0, world.depositor, 0, USDC, K)
    with boa.reverts("WrongDeposit"):
        world.vault.refund(pending, world.attacker, 7, USDC, 2 * K)
    with boa.reverts("UnknownDeposit"):
        world.vault.refund(pending + 1, world.other, 7, USDC, 2 * K)
    before = world.usdc.balanceOf(world.other)
    assert world.vault.refund(pending, world.other, 7, USDC, 2 * K, sender=world.attacker) == 2 * K
    with boa.reverts("AlreadyRefunded"):
        world.vault.refund(pending, world.other, 7, USDC, 2 * K)
    assert world.usdc.balanceOf(world.other) - before == 2 * K
    assert world.vault.holdings(world.usdc.address) == K


def test_freeze_before_any_commitment_refunds_every_deposit(world: World) -> None:
    world.deposit(world.depositor, K)
    world.vault.freeze(*world.operator.freeze_args(_overdue_request(world, world.depositor)))
    world.vault.refund(0, world.depositor, 0, USDC, K)
    assert world.usdc.balanceOf(world.depositor) == 10**12


def test_exits_beyond_holdings_are_paid_first_come_first_served(world: World) -> None:
    op = world.operator
    world.deposit(world.depositor, K)
    world.deposit(world.other, K // 2)
    # A root claiming more than the vault holds (a faulty or malicious operator).
    op.set_exit(world.depositor, 0, "USDC", K)
    op.set_exit(world.other, 0, "USDC", K)
    height = world.commit()
    _freeze(world, _overdue_request(world, world.other))
    assert world.vault.exit(*op.exit_args(world.depositor, 0, "USDC"), height) == K
    assert world.vault.exit(*op.exit_args(world.other, 0, "USDC"), height) == K // 2
    with boa.reverts("AlreadyExited"):
        world.vault.exit(*op.exit_args(world.other, 0, "USDC"), height)
    assert world.vault.holdings(world.usdc.address) == 0 == world.usdc.balanceOf(world.vault.address)
