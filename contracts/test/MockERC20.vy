# pragma version ~=0.4.3
"""
@title MockERC20
@notice A plain ERC-20 for tests: anyone may mint.
@custom:kill none (test only).
"""

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

name: public(String[32])
symbol: public(String[32])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])


@deploy
def __init__(_symbol: String[32], _decimals: uint8):
    """
    @notice Deploy a token with this symbol and decimals.
    @param _symbol The symbol (also its name).
    @param _decimals The decimals.
    """
    self.name = _symbol
    self.symbol = _symbol
    self.decimals = _decimals


@external
def mint(to: address, amount: uint256):
    """
    @notice Create `amount` tokens for `to`.
    @param to The receiver.
    @param amount Token units.
    """
    self.totalSupply += amount
    self.balanceOf[to] += amount
    log Transfer(sender=empty(address), receiver=to, value=amount)


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Let `spender` move `amount` of the caller's tokens.
    @param spender The spender.
    @param amount Token units.
    @return True.
    """
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def transfer(to: address, amount: uint256) -> bool:
    """
    @notice Move `amount` of the caller's tokens to `to`.
    @param to The receiver.
    @param amount Token units.
    @return True.
    """
    self.balanceOf[msg.sender] -= amount
    self.balanceOf[to] += amount
    log Transfer(sender=msg.sender, receiver=to, value=amount)
    return True


@external
def transferFrom(sender: address, to: address, amount: uint256) -> bool:
    """
    @notice Move `amount` of `sender`'s tokens to `to` within the caller's allowance.
    @param sender The holder.
    @param to The receiver.
    @param amount Token units.
    @return True.
    """
    self.allowance[sender][msg.sender] -= amount
    self.balanceOf[sender] -= amount
    self.balanceOf[to] += amount
    log Transfer(sender=sender, receiver=to, value=amount)
    return True
