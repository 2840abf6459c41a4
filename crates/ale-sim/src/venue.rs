//! The venue: a listed option chain that evolves as a venue's does (dailies, weeklies,
//! monthlies, quarterlies, strikes around spot, expiries settling) and the market snapshot of a
//! moment, marked from an SVI surface whose level, term structure and skew move with the state.

use std::collections::BTreeMap;

use ale_core::{Asset, ExpiryDate, Instrument, OptionKind, Timestamp};
use ale_market::{CollateralPrice, MarketSnapshot, UnderlyingMarket};
use ale_pricing::Black76;
use ale_surface::{ForwardCurve, Surface, SviParams};
use chrono::{Datelike, Duration, NaiveDate, Weekday};

use crate::error::SimError;

/// The underlying simulated.
pub const UNDERLYING: &str = "BTC";
/// The cash asset.
pub const CASH: &str = "USDC";
/// Days of the ATM vol the path's IV level stands for.
pub const IV_REFERENCE_DAYS: f64 = 30.0;

fn risk(e: impl std::fmt::Display) -> SimError {
    SimError::Risk(e.to_string())
}

pub(crate) fn asset(symbol: &str) -> Asset {
    Asset::new(symbol).unwrap_or_else(|_| unreachable!("static symbol"))
}

fn expiry(d: NaiveDate) -> Option<ExpiryDate> {
    ExpiryDate::from_ymd(d.year(), d.month(), d.day())
}

fn last_friday(year: i32, month: u32) -> Option<NaiveDate> {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let mut d = NaiveDate::from_ymd_opt(ny, nm, 1)? - Duration::days(1);
    while d.weekday() != Weekday::Fri {
        d -= Duration::days(1);
    }
    Some(d)
}

/// The expiries listed at `now`: the next 3 dailies, 4 weeklies (Fridays), 3 monthlies and 2
/// quarterlies (last Fridays), all strictly after `now`.
pub fn listed_expiries(now: Timestamp) -> Vec<ExpiryDate> {
    let today = now.date();
    let mut out = Vec::new();
    for k in 0..=3 {
        out.extend(expiry(today + Duration::days(k)));
    }
    let mut d = today;
    let mut fridays = 0;
    while fridays < 4 {
        d += Duration::days(1);
        if d.weekday() == Weekday::Fri {
            out.extend(expiry(d));
            fridays += 1;
        }
    }
    let (mut y, mut m) = (today.year(), today.month());
    let mut quarterlies = 0;
    for k in 0..9 {
        if let Some(f) = last_friday(y, m) {
            if k < 3 || (m % 3 == 0 && quarterlies < 2) {
                out.extend(expiry(f));
                if m % 3 == 0 && k >= 3 {
                    quarterlies += 1;
                }
            }
        }
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    out.retain(|e| !e.has_expired(now));
    out.sort();
    out.dedup();
    out
}

/// A round strike step for `spot` (about 2.5 % of it, rounded to 1, 2.5 or 5 × a power of ten).
pub fn strike_step(spot: f64) -> f64 {
    let raw = spot * 0.025;
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= raw * 0.7)
        .unwrap_or(p * 10.0)
}

/// The listed strike nearest `spot · moneyness`.
pub fn strike_near(spot: f64, moneyness: f64) -> f64 {
    let step = strike_step(spot);
    ((spot * moneyness / step).round() * step).max(step)
}

/// An option instrument.
pub fn option(expiry: ExpiryDate, strike: f64, kind: OptionKind) -> Result<Instrument, SimError> {
    let k = if strike.fract() == 0.0 {
        format!("{}", strike as u64)
    } else {
        // Deribit writes the decimal point as 'd'.
        let s = format!("{strike:.4}");
        s.trim_end_matches('0').replace('.', "d")
    };
    let c = match kind {
        OptionKind::Call => "C",
        OptionKind::Put => "P",
    };
    Instrument::parse(&format!("{UNDERLYING}-{expiry}-{k}-{c}")).map_err(risk)
}

/// The perpetual.
pub fn perp() -> Instrument {
    Instrument::parse(&format!("{UNDERLYING}-PERP")).unwrap_or_else(|_| unreachable!("valid id"))
}

/// The listed chain at `now`: the perpetual and, per listed expiry, calls and puts on strikes
/// from 0.6 to 1.6 × spot (0.85–1.15 for dailies).
pub fn chain(now: Timestamp, spot: f64) -> Result<Vec<Instrument>, SimError> {
    let mut out = vec![perp()];
    let step = strike_step(spot);
    for e in listed_expiries(now) {
        let days = e.years_from(now) * 365.0;
        let (lo, hi) = if days <= 3.5 {
            (0.85, 1.15)
        } else {
            (0.6, 1.6)
        };
        let mut k = (spot * lo / step).ceil() * step;
        while k <= spot * hi {
            for kind in [OptionKind::Call, OptionKind::Put] {
                out.push(option(e, k, kind)?);
            }
            k += step;
        }
    }
    Ok(out)
}

/// The state of the surface: its level and how the term structure and skew follow it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SurfaceState {
    /// 30-day ATM vol.
    pub iv: f64,
    /// The calm level (the mean of DVOL): above it the term structure inverts and the put skew
    /// steepens.
    pub iv_base: f64,
}

impl SurfaceState {
    /// Term-structure exponent γ: σ_ATM(T) = iv·(T / 30 d)^(−γ) (positive: inverted).
    pub fn term_exponent(&self) -> f64 {
        (0.15 * (self.iv / self.iv_base - 1.0)).clamp(-0.10, 0.25)
    }
    /// SVI ρ: more negative as vol rises.
    pub fn skew_rho(&self) -> f64 {
        (-0.15 - 0.35 * (self.iv / self.iv_base - 1.0)).clamp(-0.80, -0.05)
    }
    /// ATM vol at `expiry_years`.
    pub fn atm_vol(&self, expiry_years: f64) -> f64 {
        let t = (expiry_years * 365.0 / IV_REFERENCE_DAYS).max(1e-3);
        (self.iv * t.powf(-self.term_exponent())).clamp(0.05, 5.0)
    }
}

/// The SVI smile of one expiry: ATM total variance w0 = σ_ATM²·T, b = 1.5·w0 (wings scale with
/// the level), σ = 0.1, m = 0, a = w0 − b·σ (so that w(0) = w0).
pub fn smile(state: &SurfaceState, expiry_years: f64) -> Result<SviParams, SimError> {
    let vol = state.atm_vol(expiry_years);
    let w0 = vol * vol * expiry_years;
    let (b, sig) = (1.5 * w0, 0.1);
    SviParams::new(w0 - b * sig, b, state.skew_rho(), 0.0, sig).map_err(risk)
}

/// The market at `now`: spot (= forward = perp mark, rate 0), the surface of `state` at the
/// listed expiries, USDC collateral at 1.
pub fn market(now: Timestamp, spot: f64, state: &SurfaceState) -> Result<MarketSnapshot, SimError> {
    let mut snapshot = MarketSnapshot::new(now, 0.0).map_err(risk)?;
    let mut slices = Vec::new();
    let mut nodes = Vec::new();
    let mut forwards = BTreeMap::new();
    for e in listed_expiries(now) {
        let t = e.years_from(now);
        if !(t > 0.0) {
            continue;
        }
        slices.push((t, smile(state, t)?));
        nodes.push((t, spot));
        forwards.insert(e, spot);
    }
    let curve = ForwardCurve::new(spot, 0.0, &nodes).map_err(risk)?;
    let surface = Surface::from_svi(curve, &slices).map_err(risk)?;
    let u = UnderlyingMarket::new(
        asset(UNDERLYING),
        spot,
        Some(state.iv),
        None,
        forwards,
        surface,
    )
    .map_err(risk)?;
    snapshot.insert_underlying(u);
    snapshot.insert_collateral(
        asset(CASH),
        CollateralPrice::new(&asset(CASH), 1.0, 0.0, 0.0).map_err(risk)?,
    );
    Ok(snapshot)
}

/// Mark and delta (per unit) of an instrument on `market`: an option at Black-76 on the
/// surface (intrinsic once expired), the perpetual at spot.
pub fn mark_delta(
    instrument: &Instrument,
    market: &MarketSnapshot,
) -> Result<(f64, f64), SimError> {
    let u = market.underlying(instrument.underlying()).map_err(risk)?;
    match instrument {
        Instrument::Option {
            expiry,
            strike,
            kind,
            ..
        } => {
            let t = market.expiry_years(*expiry);
            let f = u.forward(*expiry, t.max(0.0), market.rate());
            let k = strike.value();
            if !(t > 0.0) {
                let itm = match kind {
                    OptionKind::Call => (f - k).max(0.0),
                    OptionKind::Put => (k - f).max(0.0),
                };
                let delta = match kind {
                    OptionKind::Call => f64::from(u8::from(f > k)),
                    OptionKind::Put => -f64::from(u8::from(f < k)),
                };
                return Ok((itm, delta));
            }
            let vol = u.vol(k, f, t);
            let b = Black76::new(*kind, f, k, t, vol, market.rate()).map_err(risk)?;
            let g = b.greeks();
            Ok((b.price(), g.delta))
        }
        _ => Ok((u.perp_mark(), 1.0)),
    }
}
