"""The issue's gas goals, held by a test: gas is deterministic, unlike speed (bench/gas.py
prints every call's figure and the worst cases)."""

from vault_world import World

from solvent.chain.contracts import tx_gas

WITHDRAW_GOAL = 100_000
COMMIT_GOAL = 60_000


def test_withdraw_and_commit_meet_their_goals(world: World) -> None:
    op = world.operator
    world.deposit(world.depositor, 10**9)
    for i in range(300):  # siblings at every level are hashes, as in a large tree
        op.add_withdrawal(world.depositor if i % 2 else world.other, "USDC", 1_000 + i)
    world.commit()
    state_root, withdrawals_root = op.roots()
    commit = tx_gas(world.vault.commit, 20, state_root, withdrawals_root, sender=world.sequencer)
    assert commit <= COMMIT_GOAL
    world.height = 20
    world.vault.withdraw(*op.withdraw_args(297), 20)  # the bitmap word is written, as for most ids
    withdraw = tx_gas(world.vault.withdraw, *op.withdraw_args(299), 20, sender=world.attacker)
    assert withdraw <= WITHDRAW_GOAL
