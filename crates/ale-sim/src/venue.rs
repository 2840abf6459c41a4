//! The venue: a listed chain that evolves as a venue's does (per underlying: the perpetual,
//! dated futures at the weekly, monthly and quarterly expiries, options at dailies, weeklies,
//! monthlies and quarterlies on strikes around spot; expiries settling) and the market snapshot
//! of a moment, marked from an SVI surface whose level, term structure and skew move with the
//! state.
//!
//! Futures carry a basis: F(T) = S·e^(b·T) with b the annualised funding of the moment
//! (3 × 365 × the 8-hour rate, clamped to [`MIN_BASIS`, `MAX_BASIS`]); options are marked on
//! the same forwards. Each underlying is also a collateral asset (a trader may post BTC or ETH),
//! priced at spot with the haircut of [`collateral_haircut`].

use std::collections::BTreeMap;

use ale_core::{Asset, ExpiryDate, Instrument, OptionKind, Timestamp};
use ale_market::{CollateralPrice, MarketSnapshot, UnderlyingMarket};
use ale_pricing::Black76;
use ale_surface::{ForwardCurve, Surface, SviParams};
use chrono::{Datelike, Duration, NaiveDate, Weekday};

use crate::error::SimError;

/// The first underlying simulated (the reference of the report's plots).
pub const UNDERLYING: &str = "BTC";
/// Lowest annualised basis of the futures curve.
pub const MIN_BASIS: f64 = -0.25;
/// Highest annualised basis.
pub const MAX_BASIS: f64 = 0.50;
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

/// An option instrument on `underlying`.
pub fn option(
    underlying: &str,
    expiry: ExpiryDate,
    strike: f64,
    kind: OptionKind,
) -> Result<Instrument, SimError> {
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
    Instrument::parse(&format!("{underlying}-{expiry}-{k}-{c}")).map_err(risk)
}

/// The perpetual of `underlying`.
pub fn perp(underlying: &str) -> Result<Instrument, SimError> {
    Instrument::parse(&format!("{underlying}-PERP")).map_err(risk)
}

/// The dated future of `underlying` at `expiry`.
pub fn future(underlying: &str, expiry: ExpiryDate) -> Result<Instrument, SimError> {
    Instrument::parse(&format!("{underlying}-{expiry}")).map_err(risk)
}

/// The expiries with a listed future at `now`: the listed Fridays (weeklies, monthlies,
/// quarterlies), not the dailies.
pub fn future_expiries(now: Timestamp) -> Vec<ExpiryDate> {
    listed_expiries(now)
        .into_iter()
        .filter(|e| e.date().weekday() == Weekday::Fri)
        .collect()
}

/// The listed chain of `underlying` at `now`: the perpetual, the futures of
/// [`future_expiries`] and, per listed expiry, calls and puts on strikes from 0.6 to 1.6 × spot
/// (0.85–1.15 for dailies).
pub fn chain(now: Timestamp, underlying: &str, spot: f64) -> Result<Vec<Instrument>, SimError> {
    let mut out = vec![perp(underlying)?];
    for e in future_expiries(now) {
        out.push(future(underlying, e)?);
    }
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
                out.push(option(underlying, e, k, kind)?);
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

/// One underlying's state at a moment: what its market is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct UnderlyingState {
    /// The asset.
    pub asset: Asset,
    /// Spot (= perp mark).
    pub spot: f64,
    /// The surface's state.
    pub surface: SurfaceState,
    /// Annualised basis of the futures curve: F(T) = S·e^(basis·T).
    pub basis: f64,
}

/// The annualised basis implied by an 8-hour funding rate, clamped.
pub fn basis_of_funding(funding_8h: f64) -> f64 {
    (funding_8h * 3.0 * 365.0).clamp(MIN_BASIS, MAX_BASIS)
}

/// The haircut of an underlying posted as collateral (BTC 5 %, ETH 8 %, any other 15 %).
pub fn collateral_haircut(asset: &Asset) -> f64 {
    match asset.as_str() {
        "BTC" => 0.05,
        "ETH" => 0.08,
        _ => 0.15,
    }
}

/// One underlying's market at `now`: spot (= perp mark, rate 0), the forwards of the basis at
/// the listed expiries, the surface of its state.
pub fn underlying_market(
    now: Timestamp,
    state: &UnderlyingState,
) -> Result<UnderlyingMarket, SimError> {
    let spot = state.spot;
    let mut slices = Vec::new();
    let mut nodes = Vec::new();
    let mut forwards = BTreeMap::new();
    for e in listed_expiries(now) {
        let t = e.years_from(now);
        if !(t > 0.0) {
            continue;
        }
        let f = spot * (state.basis * t).exp();
        slices.push((t, smile(&state.surface, t)?));
        nodes.push((t, f));
        forwards.insert(e, f);
    }
    let curve = ForwardCurve::new(spot, 0.0, &nodes).map_err(risk)?;
    let surface = Surface::from_svi(curve, &slices).map_err(risk)?;
    UnderlyingMarket::new(
        state.asset.clone(),
        spot,
        Some(state.surface.iv),
        None,
        forwards,
        surface,
    )
    .map_err(risk)
}

/// The collateral price of an underlying posted as collateral, at `spot`.
pub fn coin_collateral(asset: &Asset, spot: f64) -> Result<CollateralPrice, SimError> {
    CollateralPrice::new(asset, spot, collateral_haircut(asset), 0.0).map_err(risk)
}

/// The market at `now` of every underlying in `states`, USDC collateral at 1 and each
/// underlying as collateral at its spot.
pub fn market_of(now: Timestamp, states: &[UnderlyingState]) -> Result<MarketSnapshot, SimError> {
    let mut snapshot = MarketSnapshot::new(now, 0.0).map_err(risk)?;
    for st in states {
        snapshot.insert_underlying(underlying_market(now, st)?);
        snapshot.insert_collateral(st.asset.clone(), coin_collateral(&st.asset, st.spot)?);
    }
    snapshot.insert_collateral(
        asset(CASH),
        CollateralPrice::new(&asset(CASH), 1.0, 0.0, 0.0).map_err(risk)?,
    );
    Ok(snapshot)
}

/// The market of BTC alone at `now`: spot (= forward = perp mark, no basis), the surface of
/// `state` at the listed expiries, USDC collateral at 1.
pub fn market(now: Timestamp, spot: f64, state: &SurfaceState) -> Result<MarketSnapshot, SimError> {
    market_of(
        now,
        &[UnderlyingState {
            asset: asset(UNDERLYING),
            spot,
            surface: *state,
            basis: 0.0,
        }],
    )
}

/// Mark and delta to spot (per unit) of an instrument on `market`: an option at Black-76 on the
/// surface (intrinsic once expired), a future at its forward, the perpetual at its mark.
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
            Ok((b.price(), g.delta * f / u.spot()))
        }
        Instrument::Future { expiry, .. } => {
            let t = market.expiry_years(*expiry);
            let f = u.forward(*expiry, t.max(0.0), market.rate());
            Ok((f, f / u.spot()))
        }
        Instrument::Spot { .. } => Ok((u.spot(), 1.0)),
        Instrument::Perpetual { .. } => Ok((u.perp_mark(), 1.0)),
    }
}
