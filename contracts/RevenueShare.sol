// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title RevenueShare
/// @notice Sells model-access licences and splits every payment among contributors
///         pro rata to their shares, in O(1) per purchase (no loop over contributors).
/// @dev "Magnified revenue per share" accounting. With P the cumulative revenue per share
///      scaled by 2^64, an account holding S shares, whose shares changed by d_k while P was
///      P_k, is owed sum_k d_k * (P - P_k) / 2^64 = (S*P + correction) / 2^64, where
///      correction = -sum_k d_k * P_k is updated whenever its shares change.
///      The division remainder of each purchase is carried into the next one (`_carry`),
///      so the only rounding is the final floor per account (< 1 wei each); that residue
///      stays counted in `revenueReceived - revenueWithdrawn` and is never paid out twice.
///      Revenue that arrives while no shares exist cannot be attributed and is handed to
///      `_unattributedRevenue` (the task adds it to its reward pool).
///
///      On a public chain the model's storage is readable by anyone: a licence here is an
///      on-chain record (`hasAccess`) that gateways and licensors can check, not secrecy.
abstract contract RevenueShare {
    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event AccessPurchased(address indexed buyer, uint256 price, uint256 revenuePerShare);
    event AccessPriceChanged(uint256 oldPrice, uint256 newPrice);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error WrongPayment(uint256 sent, uint256 price);
    error AlreadyLicensed(address buyer);

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    uint256 internal constant MAGNITUDE = 2 ** 64;

    /// @notice Price of one access licence, in wei.
    uint256 public accessPrice;
    /// @notice Whether an address holds an access licence.
    mapping(address => bool) public hasAccess;

    /// @dev Account -> shares (low 128 bits) | wei the inheriting contract owes it (high
    ///      128): a reward and its shares are credited with one storage write.
    mapping(address => uint256) internal _accounts;
    /// @notice Sum of all shares.
    uint256 internal totalShares;
    /// @notice Cumulative revenue per share, scaled by 2^64.
    uint256 internal magnifiedRevenuePerShare;
    /// @notice Wei received from licence sales and distributed to shareholders.
    uint256 public revenueReceived;
    /// @notice Wei of revenue already withdrawn by contributors.
    uint256 public revenueWithdrawn;

    mapping(address => int256) internal _correction;
    mapping(address => uint256) internal _revenuePaid;
    uint256 internal _carry;

    constructor(uint256 price) {
        accessPrice = price;
    }

    /*//////////////////////////////////////////////////////////////
                                 LICENCES
    //////////////////////////////////////////////////////////////*/

    /// @notice Buys an access licence for the caller; `msg.value` must equal `accessPrice`.
    /// @dev The payment is split among current shareholders; with no shareholders yet it
    ///      goes to the reward pool instead (see `_unattributedRevenue`).
    function buyAccess() external payable {
        if (msg.value != accessPrice) revert WrongPayment(msg.value, accessPrice);
        if (hasAccess[msg.sender]) revert AlreadyLicensed(msg.sender);
        hasAccess[msg.sender] = true;
        uint256 supply = totalShares;
        if (supply == 0) {
            _unattributedRevenue(msg.value);
        } else if (msg.value != 0) {
            uint256 magnified = msg.value * MAGNITUDE + _carry;
            magnifiedRevenuePerShare += magnified / supply;
            _carry = magnified % supply;
            revenueReceived += msg.value;
        }
        emit AccessPurchased(msg.sender, msg.value, magnifiedRevenuePerShare);
    }

    /// @notice Shares of a contributor (the task credits one share per wei of reward earned).
    function sharesOf(address account) public view returns (uint256) {
        return uint128(_accounts[account]);
    }

    /// @notice Revenue the account can withdraw now, in wei.
    function revenueOf(address account) public view returns (uint256) {
        int256 accrued = int256(sharesOf(account) * magnifiedRevenuePerShare) + _correction[account];
        return uint256(accrued) / MAGNITUDE - _revenuePaid[account];
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev Credits `shares` and `owedAdd` wei of the inheriting contract's debt to `account`
    ///      (both far below 2^128: they are wei the contract holds).
    function _creditAccount(address account, uint256 shares, uint256 owedAdd) internal {
        _accounts[account] += (owedAdd << 128) | shares;
        if (shares != 0) {
            totalShares += shares;
            // 0 until the first licence sale: then the correction slot is not touched
            uint256 magnified = magnifiedRevenuePerShare;
            if (magnified != 0) _correction[account] -= int256(shares * magnified);
        }
    }

    /// @dev Wei the inheriting contract owes `account` (the high half of its account word).
    function _owedOf(address account) internal view returns (uint256) {
        return _accounts[account] >> 128;
    }

    /// @dev Clears what the inheriting contract owes `account` (its shares stay).
    function _clearOwed(address account) internal {
        _accounts[account] = uint128(_accounts[account]);
    }

    /// @dev Marks the account's whole revenue as paid and returns it; the caller transfers.
    function _takeRevenue(address account) internal returns (uint256 amount) {
        amount = revenueOf(account);
        if (amount != 0) {
            _revenuePaid[account] += amount;
            revenueWithdrawn += amount;
        }
    }

    function _setAccessPrice(uint256 price) internal {
        emit AccessPriceChanged(accessPrice, price);
        accessPrice = price;
    }

    /// @dev Called with revenue that no shareholder can receive yet.
    function _unattributedRevenue(uint256 amount) internal virtual;
}
