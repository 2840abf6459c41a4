//! What the node is told (events) and what it says back (effects). Events are the persisted
//! record: the node's whole state is a function of its event log.

use ale_format::market::{CollateralFile, UnderlyingFile};
use ale_format::portfolio::PortfolioFile;
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
            | Event::Trade { time, .. } => time,
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
}
