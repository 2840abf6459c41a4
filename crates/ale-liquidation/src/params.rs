//! Parameters of a liquidation, their defaults and their checks, and the limits of the engine.

use ale_core::{Amount, Asset};
use ale_verify::{Quorum, VerifyingKey};

use crate::auction::AuctionParams;
use crate::error::LiquidationError;

/// Most evaluations of the sizing search for one position in one tier.
pub const MAX_SIZING_STEPS: usize = 24;
/// Most registered liquidators.
pub const MAX_BIDDERS: usize = 256;
/// Most registered backstop pools (the insurance fund comes first and is not counted).
pub const MAX_POOLS: usize = 64;
/// Most backstop-credit providers.
pub const MAX_CREDIT_PROVIDERS: usize = 256;
/// Most fills of one auction (Dutch bids plus sealed-bid winners).
pub const MAX_AUCTION_FILLS: usize = 64;
/// Most positions of an account under liquidation.
pub const MAX_POSITIONS: usize = 256;
/// Most levels of an explicit order-book depth model.
pub const MAX_DEPTH_LEVELS: usize = 64;
/// Most records one event may emit (a bound on the work one event does).
pub const MAX_RECORDS_PER_EVENT: usize = 4_096;

/// How a tier-3 market sale is priced.
#[derive(Debug, Clone, PartialEq)]
pub enum DepthModel {
    /// Marginal slippage at cumulative notional n = `half_spread + impact_per_notional · n`
    /// (fractions of the mark); the average over a sale of notional N is
    /// `half_spread + impact_per_notional · N / 2`.
    Linear {
        /// Half the bid-ask spread, a fraction of the mark.
        half_spread: f64,
        /// Slippage added per unit of notional sold (per USD).
        impact_per_notional: f64,
    },
    /// Explicit levels, walked in order: each offers `notional` at `slippage` (a fraction of the
    /// mark, non-decreasing).
    Levels(Vec<DepthLevel>),
}

/// One level of an explicit order book.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DepthLevel {
    /// Distance from the mark, a fraction of it.
    pub slippage: f64,
    /// Notional available at that level.
    pub notional: f64,
}

/// How a sealed-bid auction prices the winner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedPricing {
    /// The winner pays its own bid.
    FirstPrice,
    /// The winner pays the next-highest bid (its own when it is alone).
    SecondPrice,
}

/// Which tier-2 auction runs for a solvent account (an insolvent account always goes to the
/// insolvent Dutch auction).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AuctionKind {
    /// The descending-price auction of formats.md.
    Dutch,
    /// Bids within `window_s` of the start; highest first.
    Sealed {
        /// How long bids are taken, seconds.
        window_s: f64,
        /// First or second price.
        pricing: SealedPricing,
    },
}

/// Who bears a loss that the insurance fund and backstop credit could not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossMode {
    /// Traders' settlement cash is charged pro rata to its size.
    SocialisedProRata,
    /// Auto-deleveraging: the futures and perpetuals the bankrupt account still holds when its
    /// insolvent auction ends are closed against the opposite positions of other traders —
    /// ranked by profit ratio × effective leverage, each losing at most its unrealised profit —
    /// at the account's bankruptcy price, for the part of the loss the insurance fund and
    /// backstop credit cannot bear; what ADL cannot cover is socialised pro rata (see
    /// `docs/liquidation.md`).
    AutoDeleverage,
}

/// A cap on the notional sold into the market per underlying per time window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NotionalCap {
    /// Window length, seconds.
    pub window_s: i64,
    /// Notional that may be sold per underlying within a window.
    pub max_notional: Amount,
}

/// The certificate gate (issue 10): a liquidation starts only with a certificate that the
/// minimal verifier (`ale-verify`) accepts, for the account being liquidated, under the policy
/// the engine margins with. On by default; backtests that do not need certificates turn it off
/// ([`CertificateGate::off`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateGate {
    /// Whether the gate is applied (true by default).
    pub enabled: bool,
    /// Oracle keys trusted to sign market-snapshot roots; a signature names its key by its index
    /// in this list.
    pub oracle_keys: Vec<VerifyingKey>,
    /// Venue keys trusted to sign account-state roots (with the parameter hash).
    pub venue_keys: Vec<VerifyingKey>,
    /// Signatures needed of each list, and the oldest commitment accepted (`max_age_s`, counted
    /// back from the time of the event that starts the liquidation).
    pub quorum: Quorum,
}

impl CertificateGate {
    /// The gate on, trusting these keys.
    pub fn new(
        oracle_keys: Vec<VerifyingKey>,
        venue_keys: Vec<VerifyingKey>,
        quorum: Quorum,
    ) -> CertificateGate {
        CertificateGate {
            enabled: true,
            oracle_keys,
            venue_keys,
            quorum,
        }
    }

    /// The gate off: liquidations start without a certificate (backtests).
    pub fn off() -> CertificateGate {
        CertificateGate {
            enabled: false,
            ..CertificateGate::default()
        }
    }
}

impl Default for CertificateGate {
    /// On, with no trusted key yet (every liquidation is refused until keys are set) and the
    /// quorum of `ale verify`: 2 oracle and 2 venue signatures, commitments at most 60 s old.
    fn default() -> Self {
        CertificateGate {
            enabled: true,
            oracle_keys: Vec::new(),
            venue_keys: Vec::new(),
            quorum: Quorum {
                oracle: 2,
                venue: 2,
                max_age_s: 60,
            },
        }
    }
}

/// Everything a liquidation is parameterised by.
#[derive(Debug, Clone, PartialEq)]
pub struct LiquidationParams {
    /// The Dutch auction (formats.md).
    pub auction: AuctionParams,
    /// Which auction runs for solvent accounts.
    pub auction_kind: AuctionKind,
    /// Tier-1 fee, a fraction of the notional taken (0.005).
    pub backstop_fee_rate: f64,
    /// Accounts whose gross notional is below this are closed whole (10).
    pub dust_notional: Amount,
    /// A fill (auction, backstop, market) below this notional is refused, unless it closes a
    /// position (1).
    pub min_fill_notional: Amount,
    /// Tier-3 order-book model.
    pub depth: DepthModel,
    /// Tier-3 slippage cap: no unit is sold further than this from its mark (0.05).
    pub max_slippage: f64,
    /// Per-underlying cap on market-sale notional per window (none by default).
    pub notional_cap: Option<NotionalCap>,
    /// Last step of the loss waterfall.
    pub loss_mode: LossMode,
    /// Share of a liquidation's fees paid to the backstop-credit providers as their premium
    /// (0.10).
    pub credit_premium_rate: f64,
    /// The asset payments are made in ("USDC").
    pub settlement_asset: Asset,
    /// The certificate gate (on by default).
    pub certificate_gate: CertificateGate,
}

impl Default for LiquidationParams {
    fn default() -> Self {
        LiquidationParams {
            auction: AuctionParams::default(),
            auction_kind: AuctionKind::Dutch,
            backstop_fee_rate: 0.005,
            dust_notional: Amount::from_units(10),
            min_fill_notional: Amount::from_units(1),
            depth: DepthModel::Linear {
                half_spread: 0.001,
                impact_per_notional: 1e-7,
            },
            max_slippage: 0.05,
            notional_cap: None,
            loss_mode: LossMode::SocialisedProRata,
            credit_premium_rate: 0.10,
            settlement_asset: Asset::new("USDC").unwrap_or_else(|_| unreachable!("valid symbol")),
            certificate_gate: CertificateGate::default(),
        }
    }
}

fn bad(field: &str, reason: &str, value: impl std::fmt::Display) -> LiquidationError {
    LiquidationError::Invalid {
        field: field.to_string(),
        reason: format!("{reason}, got {value}"),
    }
}

impl LiquidationParams {
    /// Checks every field (comparisons written so that NaN fails).
    pub fn validate(&self) -> Result<(), LiquidationError> {
        self.auction.validate()?;
        if let AuctionKind::Sealed { window_s, .. } = self.auction_kind {
            if !(window_s > 0.0 && window_s.is_finite()) {
                return Err(bad("sealed.window_s", "must be finite and > 0", window_s));
            }
        }
        if !(self.backstop_fee_rate >= 0.0 && self.backstop_fee_rate < 1.0) {
            return Err(bad(
                "backstop_fee_rate",
                "must be in [0, 1)",
                self.backstop_fee_rate,
            ));
        }
        if !(self.credit_premium_rate >= 0.0 && self.credit_premium_rate <= 1.0) {
            return Err(bad(
                "credit_premium_rate",
                "must be in [0, 1]",
                self.credit_premium_rate,
            ));
        }
        if self.dust_notional.is_negative() {
            return Err(bad("dust_notional", "must be >= 0", self.dust_notional));
        }
        if self.min_fill_notional.is_negative() {
            return Err(bad(
                "min_fill_notional",
                "must be >= 0",
                self.min_fill_notional,
            ));
        }
        if !(self.max_slippage >= 0.0 && self.max_slippage < 1.0) {
            return Err(bad("max_slippage", "must be in [0, 1)", self.max_slippage));
        }
        match &self.depth {
            DepthModel::Linear {
                half_spread,
                impact_per_notional,
            } => {
                if !(*half_spread >= 0.0 && *half_spread < 1.0) {
                    return Err(bad("depth.half_spread", "must be in [0, 1)", half_spread));
                }
                if !(*impact_per_notional >= 0.0 && impact_per_notional.is_finite()) {
                    return Err(bad(
                        "depth.impact_per_notional",
                        "must be finite and >= 0",
                        impact_per_notional,
                    ));
                }
            }
            DepthModel::Levels(levels) => {
                if levels.is_empty() || levels.len() > MAX_DEPTH_LEVELS {
                    return Err(bad(
                        "depth.levels",
                        &format!("must hold 1 to {MAX_DEPTH_LEVELS} levels"),
                        levels.len(),
                    ));
                }
                let mut last = 0.0;
                for (i, l) in levels.iter().enumerate() {
                    if !(l.slippage >= last && l.slippage < 1.0) {
                        return Err(bad(
                            &format!("depth.levels[{i}].slippage"),
                            "must be in [previous level, 1)",
                            l.slippage,
                        ));
                    }
                    if !(l.notional > 0.0 && l.notional.is_finite()) {
                        return Err(bad(
                            &format!("depth.levels[{i}].notional"),
                            "must be finite and > 0",
                            l.notional,
                        ));
                    }
                    last = l.slippage;
                }
            }
        }
        let gate = &self.certificate_gate;
        if gate.enabled {
            if gate.quorum.max_age_s < 0 {
                return Err(bad(
                    "certificate_gate.quorum.max_age_s",
                    "must be >= 0",
                    gate.quorum.max_age_s,
                ));
            }
            // No keys yet is allowed (every liquidation is then refused, naming why); a quorum no
            // key list can meet is a mistake. The verifier asks for at least one oracle
            // signature; the venue's may be 0 (the oracle nodes then vouch for the state root).
            let q = &gate.quorum;
            if !gate.oracle_keys.is_empty()
                && (q.oracle == 0 || usize::from(q.oracle) > gate.oracle_keys.len())
            {
                return Err(bad(
                    "certificate_gate.quorum.oracle",
                    &format!(
                        "must be in 1..={} (the trusted keys)",
                        gate.oracle_keys.len()
                    ),
                    q.oracle,
                ));
            }
            if usize::from(q.venue) > gate.venue_keys.len() && !gate.venue_keys.is_empty() {
                return Err(bad(
                    "certificate_gate.quorum.venue",
                    &format!(
                        "must be in 0..={} (the trusted keys)",
                        gate.venue_keys.len()
                    ),
                    q.venue,
                ));
            }
        }
        if let Some(cap) = self.notional_cap {
            if cap.window_s <= 0 {
                return Err(bad("notional_cap.window_s", "must be > 0", cap.window_s));
            }
            if cap.max_notional.is_negative() {
                return Err(bad(
                    "notional_cap.max_notional",
                    "must be >= 0",
                    cap.max_notional,
                ));
            }
        }
        Ok(())
    }

    /// The most notional of one sale the depth model fills within the slippage cap (`None`:
    /// unbounded).
    pub fn depth_capacity(&self) -> Option<f64> {
        match &self.depth {
            DepthModel::Linear {
                half_spread,
                impact_per_notional,
            } => {
                if *half_spread > self.max_slippage {
                    Some(0.0)
                } else if *impact_per_notional == 0.0 {
                    None
                } else {
                    Some((self.max_slippage - half_spread) / impact_per_notional)
                }
            }
            DepthModel::Levels(levels) => Some(
                levels
                    .iter()
                    .filter(|l| l.slippage <= self.max_slippage)
                    .map(|l| l.notional)
                    .sum(),
            ),
        }
    }

    /// Average slippage (a fraction of the mark) of a sale of `notional`, within the cap.
    pub fn average_slippage(&self, notional: f64) -> f64 {
        if notional <= 0.0 {
            return match &self.depth {
                DepthModel::Linear { half_spread, .. } => *half_spread,
                DepthModel::Levels(l) => l.first().map_or(0.0, |x| x.slippage),
            };
        }
        match &self.depth {
            DepthModel::Linear {
                half_spread,
                impact_per_notional,
            } => half_spread + impact_per_notional * notional / 2.0,
            DepthModel::Levels(levels) => {
                let mut left = notional;
                let mut cost = 0.0;
                for l in levels {
                    let take = left.min(l.notional);
                    cost += take * l.slippage;
                    left -= take;
                    if left <= 0.0 {
                        break;
                    }
                }
                let last = levels.last().map_or(0.0, |l| l.slippage);
                (cost + left.max(0.0) * last) / notional
            }
        }
    }
}
