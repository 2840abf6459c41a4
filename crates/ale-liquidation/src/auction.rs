//! The tier-2 Dutch auction's price rule (formats.md, `ale auction quote`), a pure function of
//! the account's equity and maintenance margin and the time since the auction started.
//!
//! - surplus = E − M; buffer margin B = min(surplus − buffer_fraction·M, 0): the (negative)
//!   shortfall against the level the account is liquidated back to.
//! - discount d (the fraction of value a bidder pays): `start_fraction` down to
//!   `fast_cutoff_fraction` linearly over `fast_s`, then to 0 over `slow_s`, then 0 ("ended").
//! - bid_price = (E − R)·d; max_fraction f = B / (B − E·d − R·(1 − d)), capped to [0, 1]:
//!   selling f of the portfolio (but the reserved cash R) at d brings the surplus back to the
//!   buffer margin when the margin scales with the portfolio.
//! - E < 0: phase `insolvent`, bid_price from min(E, 0) at the start linearly to E − M at
//!   `insolvent_s` (held there after), max_fraction 1.
//!
//! Numbers are `f64` here (it is a quote, and formats.md speaks JSON numbers); the engine turns
//! them into [`ale_core::Amount`]s with the rounding named where it moves money.

use crate::error::LiquidationError;

/// Parameters of the Dutch auction (formats.md defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AuctionParams {
    /// Fraction of value a bidder pays at the start (0.95).
    pub start_fraction: f64,
    /// Fraction at the end of the fast phase (0.70).
    pub fast_cutoff_fraction: f64,
    /// Length of the fast phase, seconds (900).
    pub fast_s: f64,
    /// Length of the slow phase, seconds (43 200).
    pub slow_s: f64,
    /// Length of the insolvent auction's price ramp, seconds (3 600).
    pub insolvent_s: f64,
    /// Liquidator fee: the share of a bidder's discount gain (value taken − price paid) it pays to
    /// the venue's fee account (0.10).
    pub liquidator_fee_rate: f64,
    /// Buffer past maintenance the account is liquidated back to, as a fraction of it (0.15).
    pub buffer_fraction: f64,
}

impl Default for AuctionParams {
    fn default() -> Self {
        AuctionParams {
            start_fraction: 0.95,
            fast_cutoff_fraction: 0.70,
            fast_s: 900.0,
            slow_s: 43_200.0,
            insolvent_s: 3_600.0,
            liquidator_fee_rate: 0.10,
            buffer_fraction: 0.15,
        }
    }
}

fn invalid(field: &str, reason: &str, value: f64) -> LiquidationError {
    LiquidationError::Invalid {
        field: field.to_string(),
        reason: format!("{reason}, got {value}"),
    }
}

impl AuctionParams {
    /// Checks every field (comparisons written so that NaN fails).
    pub fn validate(&self) -> Result<(), LiquidationError> {
        let p = self;
        let checks: [(&str, bool, &str, f64); 7] = [
            (
                "start_fraction",
                p.start_fraction > 0.0 && p.start_fraction <= 1.0,
                "must be in (0, 1]",
                p.start_fraction,
            ),
            (
                "fast_cutoff_fraction",
                p.fast_cutoff_fraction >= 0.0 && p.fast_cutoff_fraction <= p.start_fraction,
                "must be in [0, start_fraction]",
                p.fast_cutoff_fraction,
            ),
            (
                "fast_s",
                p.fast_s > 0.0 && p.fast_s.is_finite(),
                "must be finite and > 0",
                p.fast_s,
            ),
            (
                "slow_s",
                p.slow_s > 0.0 && p.slow_s.is_finite(),
                "must be finite and > 0",
                p.slow_s,
            ),
            (
                "insolvent_s",
                p.insolvent_s > 0.0 && p.insolvent_s.is_finite(),
                "must be finite and > 0",
                p.insolvent_s,
            ),
            (
                "liquidator_fee_rate",
                p.liquidator_fee_rate >= 0.0 && p.liquidator_fee_rate < 1.0,
                "must be in [0, 1)",
                p.liquidator_fee_rate,
            ),
            (
                "buffer_fraction",
                p.buffer_fraction >= 0.0 && p.buffer_fraction <= 10.0,
                "must be in [0, 10]",
                p.buffer_fraction,
            ),
        ];
        for (field, ok, reason, value) in checks {
            if !ok {
                return Err(invalid(field, reason, value));
            }
        }
        Ok(())
    }

    /// The discount (fraction of value paid) after `elapsed_s` of a solvent auction, and its
    /// phase.
    pub fn discount_at(&self, elapsed_s: f64) -> (Phase, f64) {
        if elapsed_s < self.fast_s {
            let x = elapsed_s / self.fast_s;
            (
                Phase::Fast,
                self.start_fraction - (self.start_fraction - self.fast_cutoff_fraction) * x,
            )
        } else if elapsed_s < self.fast_s + self.slow_s {
            let x = (elapsed_s - self.fast_s) / self.slow_s;
            (Phase::Slow, self.fast_cutoff_fraction * (1.0 - x))
        } else {
            (Phase::Ended, 0.0)
        }
    }

    /// The first moment (seconds after the start) at which the discount is at most `limit`:
    /// when a Dutch bidder with that price limit bids. `None` when it never is (limit < 0).
    pub fn time_to_reach(&self, limit: f64) -> Option<f64> {
        if limit.is_nan() || limit < 0.0 {
            return None;
        }
        if limit >= self.start_fraction {
            return Some(0.0);
        }
        if limit >= self.fast_cutoff_fraction {
            let span = self.start_fraction - self.fast_cutoff_fraction;
            // span > 0 here: limit lies in [cutoff, start).
            return Some(self.fast_s * (self.start_fraction - limit) / span);
        }
        if self.fast_cutoff_fraction > 0.0 {
            Some(self.fast_s + self.slow_s * (1.0 - limit / self.fast_cutoff_fraction))
        } else {
            Some(self.fast_s)
        }
    }

    /// Seconds from the start at which a solvent auction ends.
    pub fn solvent_end_s(&self) -> f64 {
        self.fast_s + self.slow_s
    }
}

/// Phase of an auction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Discount falling from `start_fraction` to `fast_cutoff_fraction`.
    Fast,
    /// Discount falling from `fast_cutoff_fraction` to 0.
    Slow,
    /// Both phases over: discount 0.
    Ended,
    /// Equity < 0: the insurance fund pays the bidder.
    Insolvent,
}

impl Phase {
    /// `fast`, `slow`, `ended`, `insolvent`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Fast => "fast",
            Phase::Slow => "slow",
            Phase::Ended => "ended",
            Phase::Insolvent => "insolvent",
        }
    }
}

/// The inputs of a quote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuoteInput {
    /// Equity E at marks, cash included.
    pub equity: f64,
    /// Maintenance margin M (≥ 0).
    pub maintenance_margin: f64,
    /// Seconds since the auction started (≥ 0).
    pub elapsed_s: f64,
    /// Cash the bidder cannot take (≥ 0).
    pub reserved_cash: f64,
}

/// A quote (formats.md's output line).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quote {
    /// Phase.
    pub phase: Phase,
    /// Discount d.
    pub discount: f64,
    /// Buffer margin B (≤ 0).
    pub buffer_margin: f64,
    /// Largest share of the account a bidder may take.
    pub max_fraction: f64,
    /// What a bidder pays for the whole portfolio now (negative: paid to it).
    pub bid_price: f64,
}

/// The buffer margin B = min(E − M − buffer_fraction·M, 0).
pub fn buffer_margin(equity: f64, maintenance_margin: f64, buffer_fraction: f64) -> f64 {
    (equity - maintenance_margin - buffer_fraction * maintenance_margin).min(0.0)
}

/// The Dutch auction at one moment (formats.md, `ale auction quote`).
pub fn quote(input: &QuoteInput, params: &AuctionParams) -> Result<Quote, LiquidationError> {
    params.validate()?;
    let QuoteInput {
        equity,
        maintenance_margin,
        elapsed_s,
        reserved_cash,
    } = *input;
    if !equity.is_finite() {
        return Err(invalid("equity", "must be finite", equity));
    }
    if !(maintenance_margin >= 0.0 && maintenance_margin.is_finite()) {
        return Err(invalid(
            "maintenance_margin",
            "must be finite and >= 0",
            maintenance_margin,
        ));
    }
    if !(elapsed_s >= 0.0 && elapsed_s.is_finite()) {
        return Err(invalid("elapsed_s", "must be finite and >= 0", elapsed_s));
    }
    if !(reserved_cash >= 0.0 && reserved_cash.is_finite()) {
        return Err(invalid(
            "reserved_cash",
            "must be finite and >= 0",
            reserved_cash,
        ));
    }
    let b = buffer_margin(equity, maintenance_margin, params.buffer_fraction);
    if equity < 0.0 {
        let x = (elapsed_s / params.insolvent_s).min(1.0);
        let start = equity.min(0.0);
        let end = equity - maintenance_margin;
        return Ok(Quote {
            phase: Phase::Insolvent,
            discount: 0.0,
            buffer_margin: b,
            max_fraction: 1.0,
            bid_price: start + (end - start) * x,
        });
    }
    let (phase, d) = params.discount_at(elapsed_s);
    let denominator = b - equity * d - reserved_cash * (1.0 - d);
    let f = if b == 0.0 {
        0.0
    } else if denominator < 0.0 {
        (b / denominator).clamp(0.0, 1.0)
    } else {
        // B < 0 but nothing (or less than nothing) can be sold at this price: the whole account.
        1.0
    };
    Ok(Quote {
        phase,
        discount: d,
        buffer_margin: b,
        max_fraction: f,
        bid_price: (equity - reserved_cash) * d,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(e: f64, m: f64, s: f64, r: f64) -> Quote {
        quote(
            &QuoteInput {
                equity: e,
                maintenance_margin: m,
                elapsed_s: s,
                reserved_cash: r,
            },
            &AuctionParams::default(),
        )
        .unwrap()
    }

    #[test]
    fn phases_and_prices_by_hand() {
        // E = 90, M = 100: B = 90 − 100 − 15 = −25.
        let start = q(90.0, 100.0, 0.0, 0.0);
        assert_eq!(start.phase, Phase::Fast);
        assert!((start.discount - 0.95).abs() < 1e-15);
        assert!((start.buffer_margin + 25.0).abs() < 1e-12);
        assert!((start.bid_price - 85.5).abs() < 1e-12);
        // f = −25 / (−25 − 85.5) = 0.226244...
        assert!((start.max_fraction - 25.0 / 110.5).abs() < 1e-12);
        let cutoff = q(90.0, 100.0, 900.0, 0.0);
        assert_eq!(cutoff.phase, Phase::Slow);
        assert!((cutoff.discount - 0.70).abs() < 1e-15);
        let mid_slow = q(90.0, 100.0, 900.0 + 21_600.0, 0.0);
        assert!((mid_slow.discount - 0.35).abs() < 1e-12);
        let end = q(90.0, 100.0, 44_100.0, 0.0);
        assert_eq!(end.phase, Phase::Ended);
        assert_eq!(end.discount, 0.0);
        assert_eq!(end.max_fraction, 1.0);
        let healthy = q(200.0, 100.0, 0.0, 0.0);
        assert_eq!(healthy.max_fraction, 0.0);
        let insolvent = q(-10.0, 100.0, 1_800.0, 0.0);
        assert_eq!(insolvent.phase, Phase::Insolvent);
        assert!((insolvent.bid_price - (-10.0 - 50.0)).abs() < 1e-12);
        assert_eq!(q(-10.0, 100.0, 7_200.0, 0.0).bid_price, -110.0);
    }

    #[test]
    fn bidder_time_inverts_the_discount() {
        let p = AuctionParams::default();
        for limit in [0.95, 0.9, 0.8, 0.7, 0.5, 0.1, 0.0] {
            let t = p.time_to_reach(limit).unwrap();
            let (_, d) = p.discount_at(t);
            assert!(d <= limit + 1e-12, "{limit}: {d} at {t}");
            if t > 0.0 {
                let (_, before) = p.discount_at(t - 1e-3);
                assert!(before > limit - 1e-9, "{limit}");
            }
        }
        assert_eq!(p.time_to_reach(-0.1), None);
    }

    #[test]
    fn bad_inputs_name_their_field() {
        let err = quote(
            &QuoteInput {
                equity: 1.0,
                maintenance_margin: -1.0,
                elapsed_s: 0.0,
                reserved_cash: 0.0,
            },
            &AuctionParams::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("maintenance_margin"), "{err}");
        let p = AuctionParams {
            fast_s: f64::NAN,
            ..AuctionParams::default()
        };
        assert!(p.validate().unwrap_err().to_string().contains("fast_s"));
    }
}
