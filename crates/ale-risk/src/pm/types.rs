//! Market and account inputs of the `pm` policy (pm.md §1).

use ale_core::OptionKind;

/// Market data of one expiry of one underlying.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiryMarket {
    /// Whole seconds to expiry (0 once expired). Identifies the expiry.
    pub sec_to_expiry: u64,
    /// Forward price F_e (USD).
    pub forward: f64,
    /// Confidence of F_e, in [0, 1].
    pub forward_confidence: f64,
    /// Continuously compounded rate r_e as fed (may be negative; clamped to ≥ 0 before use).
    pub rate: f64,
    /// Confidence of r_e, in [0, 1].
    pub rate_confidence: f64,
    /// Confidence of the vol surface at this expiry, in [0, 1].
    pub vol_confidence: f64,
}

/// Market snapshot of one underlying (pm.md §1, "Market"), without the stable price.
#[derive(Debug, Clone, PartialEq)]
pub struct UnderlyingMarket {
    /// Index price S (USD).
    pub spot: f64,
    /// Oracle confidence of S, in [0, 1].
    pub spot_confidence: f64,
    /// Mark price of the perpetual (USD); only used when a perp is held.
    pub perp_price: f64,
    /// Oracle confidence of the perp mark, in [0, 1]; only used when a perp is held.
    pub perp_confidence: f64,
    /// Per-expiry data; an expiry nobody holds options in is ignored.
    pub expiries: Vec<ExpiryMarket>,
}

/// Market snapshot for a one-underlying account: the underlying plus the stable-coin price.
#[derive(Debug, Clone, PartialEq)]
pub struct PmMarket {
    /// Price P of the stable coin that cash is held in (USD).
    pub stable_price: f64,
    /// The underlying.
    pub underlying: UnderlyingMarket,
}

/// One option position.
#[derive(Debug, Clone, PartialEq)]
pub struct PmOption {
    /// Links the option to the market expiry with the same `sec_to_expiry`.
    pub sec_to_expiry: u64,
    /// Strike K (USD).
    pub strike: f64,
    /// Call or put.
    pub kind: OptionKind,
    /// Signed amount a (negative = short), in units of the underlying.
    pub amount: f64,
    /// The surface's vol σ at this strike and expiry (decimal). Ignored once expired.
    pub mark_vol: f64,
}

/// One collateral holding (other than cash).
#[derive(Debug, Clone, PartialEq)]
pub struct Collateral {
    /// Asset name (informational).
    pub name: String,
    /// Amount n ≥ 0.
    pub amount: f64,
    /// Price p (USD).
    pub price: f64,
    /// Oracle confidence of p, in [0, 1].
    pub confidence: f64,
    /// Moves with the underlying in scenarios (e.g. BTC or WBTC against BTC options).
    pub is_risk_cancelling: bool,
    /// MM haircut h_MM, in [0, 1].
    pub mm_haircut: f64,
    /// IM haircut h_IM ≥ 0, with h_MM + h_IM ≤ 1.
    pub im_haircut: f64,
}

/// A one-underlying account (pm.md §1, "Account").
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PmAccount {
    /// Balance of the cash asset in USD stable units (signed; never divided by P).
    pub cash: f64,
    /// Signed perp position q in units of the underlying.
    pub perp_position: f64,
    /// Unrealised P&L of the perp (USD).
    pub perp_unrealised_pnl: f64,
    /// Unrealised funding of the perp (USD).
    pub perp_unrealised_funding: f64,
    /// Option positions.
    pub options: Vec<PmOption>,
    /// Collateral other than cash.
    pub collaterals: Vec<Collateral>,
}

/// The positions of a multi-underlying account in one underlying, with that underlying's market.
#[derive(Debug, Clone, PartialEq)]
pub struct UnderlyingBook {
    /// Underlying name (e.g. `BTC`), used in error messages.
    pub name: String,
    /// The underlying's market.
    pub market: UnderlyingMarket,
    /// Signed perp position q.
    pub perp_position: f64,
    /// Unrealised P&L of the perp (USD).
    pub perp_unrealised_pnl: f64,
    /// Unrealised funding of the perp (USD).
    pub perp_unrealised_funding: f64,
    /// Option positions on this underlying.
    pub options: Vec<PmOption>,
}

/// A collateral holding of a multi-underlying account, with the underlying it offsets.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldCollateral {
    /// The holding. `collateral.is_risk_cancelling` must be true exactly when `offsets` is set.
    pub collateral: Collateral,
    /// Index into [`MultiAccount::books`] of the underlying this collateral moves with.
    pub offsets: Option<usize>,
}

/// An account with positions in several underlyings (pm.md §9, last paragraph).
#[derive(Debug, Clone, PartialEq)]
pub struct MultiAccount {
    /// Price P of the stable coin (USD).
    pub stable_price: f64,
    /// Cash balance (USD stable units).
    pub cash: f64,
    /// One book per underlying (a book may be empty and exist only for its collateral).
    pub books: Vec<UnderlyingBook>,
    /// Collateral other than cash, counted once per account.
    pub collaterals: Vec<HeldCollateral>,
}

impl MultiAccount {
    /// The one-underlying account `account` on `market`, as a [`MultiAccount`] with one book
    /// (named `underlying`) that every risk-cancelling collateral offsets.
    pub fn single(market: &PmMarket, account: &PmAccount) -> MultiAccount {
        MultiAccount {
            stable_price: market.stable_price,
            cash: account.cash,
            books: vec![UnderlyingBook {
                name: "underlying".to_string(),
                market: market.underlying.clone(),
                perp_position: account.perp_position,
                perp_unrealised_pnl: account.perp_unrealised_pnl,
                perp_unrealised_funding: account.perp_unrealised_funding,
                options: account.options.clone(),
            }],
            collaterals: account
                .collaterals
                .iter()
                .map(|c| HeldCollateral {
                    collateral: c.clone(),
                    offsets: c.is_risk_cancelling.then_some(0),
                })
                .collect(),
        }
    }
}
