//! What the node is told (events) and what it says back (effects). Events are the persisted
//! record: the node's whole state is a function of its event log.

use ale_format::market::{CollateralFile, UnderlyingFile};
use ale_format::portfolio::{CollateralBalanceFile, PortfolioFile};
use serde::{Deserialize, Serialize};

/// One input to the node. Every event carries its own time (RFC 3339): the node never reads a
/// clock, so replaying the log gives the same state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// New market data for one underlying (spot, forwards, surface, …, as in the market file).
    Market {
        time: String,
        underlying: UnderlyingFile,
    },
    /// Spot quotes of one underlying from several sources: aggregated by the oracle (median,
    /// staleness and deviation guards, circuit breaker), then the underlying's whole market moves
    /// with the aggregated spot (forwards, perp mark; vols sticky-moneyness).
    Quotes {
        time: String,
        underlying: String,
        quotes: Vec<QuoteFile>,
    },
    /// A collateral asset's price and haircuts.
    CollateralPrice {
        time: String,
        collateral: CollateralFile,
    },
    /// An account loaded or replaced whole (as in a portfolio file).
    Account {
        time: String,
        portfolio: PortfolioFile,
    },
    /// Collateral paid in.
    Deposit {
        time: String,
        account: String,
        asset: String,
        /// Decimal string, exact.
        amount: String,
    },
    /// Collateral taken out (refused while frozen, or when it would leave the account below its
    /// initial margin).
    Withdraw {
        time: String,
        account: String,
        asset: String,
        amount: String,
    },
    /// A trade: `size` of `instrument` at `price` (options: the premium per unit is paid from or
    /// to the cash asset; futures and perpetuals: the entry price).
    Trade {
        time: String,
        account: String,
        instrument: String,
        size: f64,
        price: f64,
    },
    /// Time passes with no other news: auctions whose time is up end and the next tier runs.
    Tick { time: String },
    /// Capital paid into the insurance fund (the tier-1 backstop and first payer of losses).
    InsuranceFund {
        time: String,
        asset: String,
        /// Decimal string, exact.
        amount: String,
    },
    /// A liquidator registered with its capital: it may bid in tier-2 auctions.
    Liquidator {
        time: String,
        /// Its name (bids name it).
        name: String,
        /// Who owns it: it never takes an account of the same owner (default: its name).
        #[serde(default)]
        owner: Option<String>,
        /// The most it pays in a solvent auction, a fraction of the value it takes, [0, 1].
        max_price_fraction: f64,
        /// In the insolvent auction it takes an account once paid at least this fraction of the
        /// maintenance margin beyond the negative equity, [0, 1].
        insolvent_premium_fraction: f64,
        /// The largest share of one account it takes in one fill, (0, 1].
        max_share: f64,
        /// Its capital.
        collateral: Vec<CollateralBalanceFile>,
    },
    /// A registered liquidator's bid in the Dutch auction of `account`: it takes its share at
    /// the auction's current price (refused, with the reason, when the price is above its limit
    /// or its capital does not carry the share).
    Bid {
        time: String,
        account: String,
        bidder: String,
    },
}

impl Event {
    /// The event's time as written.
    pub fn time(&self) -> &str {
        match self {
            Event::Market { time, .. }
            | Event::Quotes { time, .. }
            | Event::CollateralPrice { time, .. }
            | Event::Account { time, .. }
            | Event::Deposit { time, .. }
            | Event::Withdraw { time, .. }
            | Event::Trade { time, .. }
            | Event::Tick { time }
            | Event::InsuranceFund { time, .. }
            | Event::Liquidator { time, .. }
            | Event::Bid { time, .. } => time,
        }
    }

    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Market { .. } => "market",
            Event::Quotes { .. } => "quotes",
            Event::CollateralPrice { .. } => "collateral_price",
            Event::Account { .. } => "account",
            Event::Deposit { .. } => "deposit",
            Event::Withdraw { .. } => "withdraw",
            Event::Trade { .. } => "trade",
            Event::Tick { .. } => "tick",
            Event::InsuranceFund { .. } => "insurance_fund",
            Event::Liquidator { .. } => "liquidator",
            Event::Bid { .. } => "bid",
        }
    }

    /// The liquidator a bid is made for (a liquidator's own API key may send its bids).
    pub fn bidder(&self) -> Option<&str> {
        match self {
            Event::Bid { bidder, .. } => Some(bidder),
            _ => None,
        }
    }

    /// Writes that change an account (need an authenticated caller over the API).
    pub fn account(&self) -> Option<&str> {
        match self {
            Event::Deposit { account, .. }
            | Event::Withdraw { account, .. }
            | Event::Trade { account, .. } => Some(account),
            Event::Account { portfolio, .. } => Some(&portfolio.account),
            _ => None,
        }
    }
}

/// One source's quote.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QuoteFile {
    /// The source's name.
    pub source: String,
    /// The value (JSON cannot carry NaN; a bad value is any number ≤ 0, or stale).
    pub value: f64,
    /// When the source observed it (RFC 3339).
    pub time: String,
}

/// What applying an event changed, for subscribers (WebSocket, logs, the liquidation queue).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// An account's margin after the event.
    Margin {
        account: String,
        equity: f64,
        maintenance_margin: f64,
        initial_margin: f64,
        status: String,
    },
    /// An account fell below its initial margin: it must top up.
    MarginCall { account: String, top_up: f64 },
    /// An account fell below its maintenance margin: handed to liquidation.
    Liquidatable {
        account: String,
        equity: f64,
        maintenance_margin: f64,
    },
    /// An account is healthy again.
    Restored { account: String },
    /// A source's quote was not used (and why).
    FeedRejected {
        underlying: String,
        source: String,
        reason: String,
    },
    /// The oracle published a new spot.
    Spot {
        underlying: String,
        spot: f64,
        sources: usize,
    },
    /// An account could not be margined (the reason names what is wrong).
    MarginError { account: String, error: String },
    /// One step of a liquidation, as `ale-liquidation` recorded it (its audit record): `step`
    /// is the record kind (`opened`, `flagged`, `frozen`, `backstop_take`, `auction_opened`,
    /// `auction_fill`, `bid_refused`, `auction_ended`, `market_sale`, `fund_take`, `waterfall`,
    /// `socialised_charge`, `premium`, `restored`, `closed`, `refused`, `deposit`, ...).
    Liquidation {
        /// The keeper account concerned (none for the fund's or a liquidator's own records).
        account: Option<String>,
        /// The record's sequence number in the liquidation log.
        record: u64,
        step: String,
        reason: String,
        /// Named figures (amounts as exact decimals).
        details: serde_json::Map<String, serde_json::Value>,
        /// The sequence number and root (hex) of the signed market snapshot the engine
        /// valued at.
        snapshot_seq: Option<u64>,
        snapshot_root: Option<String>,
    },
    /// A liquidation certificate was built and checked by the verifier before the liquidation
    /// was handed to `ale-liquidation`.
    Certificate {
        account: String,
        /// SHA-256 of the certificate's bytes (hex).
        sha256: String,
        bytes: usize,
        snapshot_seq: u64,
    },
    /// A liquidatable account could not be handed to the liquidation engine yet (the reason
    /// says why: no certificate could be built, the gate refused it, ...); it stays frozen and
    /// is tried again.
    LiquidationDeferred { account: String, reason: String },
    /// The liquidation engine failed on a step (the error names what is wrong); the event was
    /// still applied.
    LiquidationError {
        account: Option<String>,
        error: String,
    },
    /// The market snapshot was committed (Merkle root) and signed after a market update.
    Snapshot {
        seq: u64,
        root: String,
        time: String,
        signatures: usize,
    },
}
