# pragma version ~=0.4.3
"""
@title Vault
@license Apache-2.0
@notice Holds Solvent's ERC-20 collateral on chain. The sequencer commits the
        node's state and withdrawals roots; anyone claims a withdrawal with a
        Merkle proof against a committed withdrawals root; if the operator
        ignores a forced-withdrawal request past its deadline, anyone may
        freeze the vault, after which every account exits with a proof of its
        EXIT leaf in the last committed state root and deposits the node never
        credited are refunded. The design is docs/settlement.md.
@custom:kill none. The vault has no admin-controlled stop: `freeze` is the only
        one, open to anyone once a forced-withdrawal request is overdue, and it
        is final.
@dev Glossary
     asset            bytes32 keccak256 of the asset's symbol ("USDC")
     leaf             keccak256(abi_encode(...)) of 32-byte words; kinds
                      8 EXIT     (8, owner, subaccount, asset, amount)       state tree
                      9 WITHDRAWAL (9, withdrawal_id, owner, asset, amount)  withdrawals tree
                      10 CURSORS (10, deposits_credited, forced_served)     state tree
     proof            the 32 sibling hashes from the leaf up; bit i of the leaf
                      index = 1: the node is the right child at level i
     holdings         what the vault holds of a token by its own books: deposits
                      in, payments out. Every payment is capped by it, so the
                      vault never pays out more of a token than was deposited
                      (P8), whatever roots the sequencer commits.
     claim            an exit, keyed keccak256(owner, subaccount, asset)
"""

from ethereum.ercs import IERC20

DEPTH: constant(uint256) = 32
LEAF_COUNT: constant(uint256) = 4294967296  # 2**DEPTH: a leaf index is below this
EXIT_KIND: constant(uint256) = 8
WITHDRAWAL_KIND: constant(uint256) = 9
CURSORS_KIND: constant(uint256) = 10


event AssetListed:
    asset: indexed(bytes32)
    token: indexed(address)
    symbol: String[32]

event Deposited:
    deposit_id: indexed(uint256)
    owner: indexed(address)
    subaccount: uint256
    asset: bytes32
    amount: uint256

event Committed:
    height: indexed(uint256)
    state_root: bytes32
    withdrawals_root: bytes32

event Withdrawn:
    withdrawal_id: indexed(uint256)
    owner: indexed(address)
    asset: bytes32
    amount: uint256

event ForcedWithdrawalRequested:
    request_id: indexed(uint256)
    owner: indexed(address)
    subaccount: uint256
    asset: bytes32
    amount: uint256
    deadline: uint256

event VaultFrozen:
    request_id: indexed(uint256)
    height: uint256
    deposits_credited: uint256
    forced_served: uint256

event Exited:
    owner: indexed(address)
    subaccount: uint256
    asset: indexed(bytes32)
    claimed: uint256
    paid: uint256

event Refunded:
    deposit_id: indexed(uint256)
    owner: indexed(address)
    asset: bytes32
    amount: uint256
    paid: uint256


# @notice lists assets; has no power over funds or roots
admin: public(immutable(address))
# @notice the only key that commits roots
sequencer: public(immutable(address))
# @notice seconds the operator has to serve a forced-withdrawal request
force_window: public(immutable(uint256))

token_of: public(HashMap[bytes32, address])
asset_of: public(HashMap[address, bytes32])
holdings: public(HashMap[address, uint256])

deposit_count: public(uint256)
# keccak256(abi_encode(owner, subaccount, asset, amount)); cleared when refunded
deposit_hash: public(HashMap[uint256, bytes32])

# last committed height + 1; 0 before the first commitment
next_height: public(uint256)
# the last committed state root
state_root: public(bytes32)
withdrawals_root: public(HashMap[uint256, bytes32])
# bit (id % 256) of word (id / 256) is set once withdrawal id is paid
withdrawn_bits: HashMap[uint256, uint256]

request_count: public(uint256)
request_deadline: public(HashMap[uint256, uint256])

frozen: public(bool)
# the final root's CURSORS leaf, proven at freeze
deposits_credited: public(uint256)
exited: public(HashMap[bytes32, bool])


@deploy
def __init__(_sequencer: address, _force_window: uint256):
    """
    @notice Deploy a vault; the deployer becomes the admin, who lists assets.
    @param _sequencer The key that commits roots.
    @param _force_window Seconds the operator has to serve a forced withdrawal.
    """
    admin = msg.sender
    sequencer = _sequencer
    force_window = _force_window


@external
def list_asset(symbol: String[32], token: address):
    """
    @notice List an ERC-20 token as the asset keccak256(symbol).
    @dev Admin only; an asset and a token are listed once each, for good.
    @param symbol The asset's symbol in the node's genesis ("USDC").
    @param token The ERC-20 contract.
    """
    assert msg.sender == admin, "Unauthorized"
    asset: bytes32 = keccak256(symbol)
    assert token != empty(address), "ZeroAddress"
    assert self.token_of[asset] == empty(address), "AssetListed"
    assert self.asset_of[token] == empty(bytes32), "AssetListed"
    self.token_of[asset] = token
    self.asset_of[token] = asset
    log AssetListed(asset=asset, token=token, symbol=symbol)


@external
@nonreentrant
def deposit(asset: bytes32, amount: uint256, subaccount: uint256) -> uint256:
    """
    @notice Deposit `amount` of a listed asset into `subaccount` of the caller.
    @dev The vault must gain exactly `amount` (fee-on-transfer tokens refused).
         The node credits deposits in id order, once each.
    @param asset keccak256 of the asset's symbol.
    @param amount Token units; approved to the vault beforehand.
    @param subaccount The caller's subaccount on the venue.
    @return The deposit id (0, 1, 2, ...).
    """
    assert not self.frozen, "Frozen"
    assert amount > 0, "ZeroAmount"
    token: address = self.token_of[asset]
    assert token != empty(address), "UnknownAsset"
    before: uint256 = staticcall IERC20(token).balanceOf(self)
    assert extcall IERC20(token).transferFrom(msg.sender, self, amount, default_return_value=True), "TransferFailed"
    gained: uint256 = staticcall IERC20(token).balanceOf(self) - before
    assert gained == amount, "FeeOnTransfer"
    deposit_id: uint256 = self.deposit_count
    self.deposit_count = deposit_id + 1
    self.deposit_hash[deposit_id] = keccak256(abi_encode(msg.sender, subaccount, asset, amount))
    self.holdings[token] += amount
    log Deposited(deposit_id=deposit_id, owner=msg.sender, subaccount=subaccount, asset=asset, amount=amount)
    return deposit_id


@external
def commit(height: uint256, state_root: bytes32, withdrawals_root: bytes32):
    """
    @notice Commit the node's roots at `height`.
    @dev Sequencer only; heights strictly increase; none once frozen.
    @param height The node's block height.
    @param state_root The state tree's root (EXIT and CURSORS leaves among them).
    @param withdrawals_root The append-only withdrawals tree's root.
    """
    assert msg.sender == sequencer, "Unauthorized"
    assert not self.frozen, "Frozen"
    assert height >= self.next_height, "HeightNotIncreasing"
    self.next_height = height + 1
    self.state_root = state_root
    self.withdrawals_root[height] = withdrawals_root
    log Committed(height=height, state_root=state_root, withdrawals_root=withdrawals_root)


@external
@nonreentrant
def withdraw(
    withdrawal_id: uint256,
    owner: address,
    asset: bytes32,
    amount: uint256,
    proof: bytes32[DEPTH],
    root_height: uint256,
):
    """
    @notice Pay a withdrawal proven against the withdrawals root of any committed height.
    @dev Anyone may call; `owner` is paid, once per `withdrawal_id`. Allowed after freeze.
         Reverts InsufficientHoldings (without spending the id) if the vault holds less.
    @param withdrawal_id The leaf index and the id in the leaf.
    @param owner The account's owner, who receives the tokens.
    @param asset keccak256 of the asset's symbol.
    @param amount Token units.
    @param proof The 32 siblings of the WITHDRAWAL leaf, leaf level first.
    @param root_height A committed height whose withdrawals root holds the leaf.
    """
    root: bytes32 = self.withdrawals_root[root_height]
    assert root != empty(bytes32), "UnknownRoot"
    slot: uint256 = withdrawal_id >> 8
    bit: uint256 = 1 << (withdrawal_id & 255)
    bits: uint256 = self.withdrawn_bits[slot]
    assert bits & bit == 0, "AlreadyWithdrawn"
    leaf: bytes32 = keccak256(abi_encode(WITHDRAWAL_KIND, withdrawal_id, owner, asset, amount))
    assert self._is_proven(root, leaf, withdrawal_id, proof), "InvalidProof"
    assert amount > 0, "NothingToPay"
    token: address = self.token_of[asset]
    assert token != empty(address), "UnknownAsset"
    assert amount <= self.holdings[token], "InsufficientHoldings"
    self.withdrawn_bits[slot] = bits | bit
    self._pay(token, owner, amount)
    log Withdrawn(withdrawal_id=withdrawal_id, owner=owner, asset=asset, amount=amount)


@external
def request_forced_withdrawal(subaccount: uint256, asset: bytes32, amount: uint256) -> uint256:
    """
    @notice Ask the operator, on chain, to withdraw `amount` for the caller's subaccount.
    @dev The node must serve it (a Withdraw, or a refusal with amount 0) and commit a
         root whose CURSORS leaf counts it before the deadline, or anyone may freeze.
    @param subaccount The caller's subaccount.
    @param asset keccak256 of the asset's symbol.
    @param amount Token units asked for.
    @return The request id (0, 1, 2, ...).
    """
    assert not self.frozen, "Frozen"
    assert self.token_of[asset] != empty(address), "UnknownAsset"
    request_id: uint256 = self.request_count
    deadline: uint256 = block.timestamp + force_window
    self.request_count = request_id + 1
    self.request_deadline[request_id] = deadline
    log ForcedWithdrawalRequested(
        request_id=request_id, owner=msg.sender, subaccount=subaccount, asset=asset, amount=amount, deadline=deadline
    )
    return request_id


@external
def freeze(
    request_id: uint256,
    deposits_credited: uint256,
    forced_served: uint256,
    index: uint256,
    proof: bytes32[DEPTH],
):
    """
    @notice Freeze the vault for good because forced-withdrawal request `request_id` is overdue.
    @dev Anyone may call once the deadline has passed and the CURSORS leaf of the latest
         committed state root shows forced_served <= request_id. The last root becomes
         final: exits and refunds are judged against it. Before any commitment there is
         no leaf to prove; the cursors are then (0, 0) and the proof is ignored.
    @param request_id An unserved request.
    @param deposits_credited The CURSORS leaf's first field.
    @param forced_served The CURSORS leaf's second field.
    @param index The CURSORS leaf's index in the state tree.
    @param proof Its 32 siblings, leaf level first.
    """
    assert not self.frozen, "Frozen"
    assert request_id < self.request_count, "UnknownRequest"
    assert block.timestamp > self.request_deadline[request_id], "DeadlineNotPassed"
    credited: uint256 = 0
    served: uint256 = 0
    if self.next_height > 0:
        leaf: bytes32 = keccak256(abi_encode(CURSORS_KIND, deposits_credited, forced_served))
        assert self._is_proven(self.state_root, leaf, index, proof), "InvalidProof"
        credited = deposits_credited
        served = forced_served
    assert served <= request_id, "RequestServed"
    self.frozen = True
    self.deposits_credited = credited
    log VaultFrozen(request_id=request_id, height=self.next_height - 1 if self.next_height > 0 else 0, deposits_credited=credited, forced_served=served)


@external
@nonreentrant
def exit(
    owner: address,
    subaccount: uint256,
    asset: bytes32,
    amount: uint256,
    index: uint256,
    proof: bytes32[DEPTH],
    root_height: uint256,
) -> uint256:
    """
    @notice Pay an account's EXIT leaf in the final (last committed) state root.
    @dev Frozen only. Anyone may call; `owner` is paid, once per (owner, subaccount,
         asset). The payment is min(amount, holdings of the token): first come,
         first paid, and the claim is spent even if paid in part (holdings never
         grow once frozen: deposits are closed).
    @param owner The account's owner, who receives the tokens.
    @param subaccount The account's subaccount.
    @param asset keccak256 of the asset's symbol.
    @param amount The leaf's amount.
    @param index The leaf's index in the state tree.
    @param proof Its 32 siblings, leaf level first.
    @param root_height The height the proof is against: the last committed one.
    @return The amount paid.
    """
    assert self.frozen, "NotFrozen"
    assert self.next_height > 0 and root_height == self.next_height - 1, "StaleRoot"
    claim: bytes32 = keccak256(abi_encode(owner, subaccount, asset))
    assert not self.exited[claim], "AlreadyExited"
    leaf: bytes32 = keccak256(abi_encode(EXIT_KIND, owner, subaccount, asset, amount))
    assert self._is_proven(self.state_root, leaf, index, proof), "InvalidProof"
    token: address = self.token_of[asset]
    assert token != empty(address), "UnknownAsset"
    paid: uint256 = min(amount, self.holdings[token])
    self.exited[claim] = True
    if paid > 0:
        self._pay(token, owner, paid)
    log Exited(owner=owner, subaccount=subaccount, asset=asset, claimed=amount, paid=paid)
    return paid


@external
@nonreentrant
def refund(deposit_id: uint256, owner: address, subaccount: uint256, asset: bytes32, amount: uint256) -> uint256:
    """
    @notice Return a deposit the final root had not credited to its depositor.
    @dev Frozen only; deposit_id >= deposits_credited of the CURSORS leaf proven at
         freeze. The fields are those of its Deposited event. Paid once, capped like
         an exit by the holdings of the token.
    @param deposit_id The deposit's id.
    @param owner The depositor, who receives the tokens.
    @param subaccount The deposit's subaccount.
    @param asset keccak256 of the asset's symbol.
    @param amount The deposit's amount.
    @return The amount paid.
    """
    assert self.frozen, "NotFrozen"
    assert deposit_id < self.deposit_count, "UnknownDeposit"
    assert deposit_id >= self.deposits_credited, "DepositCredited"
    stored: bytes32 = self.deposit_hash[deposit_id]
    assert stored != empty(bytes32), "AlreadyRefunded"
    assert stored == keccak256(abi_encode(owner, subaccount, asset, amount)), "WrongDeposit"
    token: address = self.token_of[asset]
    paid: uint256 = min(amount, self.holdings[token])
    self.deposit_hash[deposit_id] = empty(bytes32)
    if paid > 0:
        self._pay(token, owner, paid)
    log Refunded(deposit_id=deposit_id, owner=owner, asset=asset, amount=amount, paid=paid)
    return paid


@view
@external
def last_height() -> uint256:
    """
    @notice The last committed height; reverts NoCommitment before the first one.
    @return The height.
    """
    assert self.next_height > 0, "NoCommitment"
    return self.next_height - 1


@view
@external
def is_withdrawn(withdrawal_id: uint256) -> bool:
    """
    @notice Whether withdrawal `withdrawal_id` has been paid.
    @param withdrawal_id The id.
    @return True once paid.
    """
    return self.withdrawn_bits[withdrawal_id >> 8] & (1 << (withdrawal_id & 255)) != 0


@pure
@external
def compute_root(leaf: bytes32, index: uint256, proof: bytes32[DEPTH]) -> bytes32:
    """
    @notice The root a proof of `leaf` at `index` leads to (for off-chain checks and tests).
    @param leaf The leaf hash.
    @param index The leaf index; below 2**32.
    @param proof The 32 siblings, leaf level first.
    @return The root.
    """
    assert index < LEAF_COUNT, "InvalidProof"
    return self._root_of(leaf, index, proof)


@pure
@internal
def _root_of(leaf: bytes32, index: uint256, proof: bytes32[DEPTH]) -> bytes32:
    # node/merkle.py's verify_proof: bit i of the index = 1, the node is a right child.
    node: bytes32 = leaf
    bits: uint256 = index
    for sibling: bytes32 in proof:
        if bits & 1 == 1:
            node = keccak256(concat(sibling, node))
        else:
            node = keccak256(concat(node, sibling))
        bits = bits >> 1
    return node


@view
@internal
def _is_proven(root: bytes32, leaf: bytes32, index: uint256, proof: bytes32[DEPTH]) -> bool:
    # An index past the tree would alias a real leaf's path (its high bits are never read).
    return index < LEAF_COUNT and self._root_of(leaf, index, proof) == root


@internal
def _pay(token: address, to: address, amount: uint256):
    # Effects are written by the caller before this; the transfer is the last step.
    self.holdings[token] -= amount
    assert extcall IERC20(token).transfer(to, amount, default_return_value=True), "TransferFailed"
