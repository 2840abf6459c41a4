//! `ale-market`: the market snapshot — per underlying its spot, listed forwards, implied-vol
//! surface, optional realised vol and perpetual mark; per collateral asset its price and
//! haircuts — and the rules that turn it into the inputs of a pricing (forward and vol of an
//! instrument, time to expiry).
//!
//! The oracle builds snapshots, the risk engine reads them. Architecture invariant: pure data and
//! arithmetic, no I/O, no clock (the snapshot carries its own `time`).

use std::collections::BTreeMap;

use ale_core::{Asset, ExpiryDate, Timestamp};
use ale_surface::{Surface, VolSurface};
use thiserror::Error;

/// A snapshot that cannot be built or used as asked.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MarketError {
    /// A field of the snapshot is out of its domain.
    #[error("invalid '{field}': {reason}")]
    Invalid { field: String, reason: String },
    /// An instrument names an underlying the snapshot has no data for.
    #[error("no market data for underlying '{0}'")]
    MissingUnderlying(String),
    /// A collateral asset has no price in the snapshot.
    #[error("no price for collateral asset '{0}'")]
    MissingCollateral(String),
}

fn check(field: &str, ok: bool, reason: &str, value: f64) -> Result<(), MarketError> {
    if ok {
        Ok(())
    } else {
        Err(MarketError::Invalid {
            field: field.to_string(),
            reason: format!("{reason}, got {value}"),
        })
    }
}

/// Lowest vol a shifted surface gives.
pub const MIN_SHIFTED_VOL: f64 = 1e-4;

/// Optional per-underlying inputs that only the `pm` policy reads (pm.md §9), with their
/// defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct PmUnderlyingFields {
    /// Oracle confidence of spot, in [0, 1] (default 1).
    pub spot_confidence: f64,
    /// Oracle confidence of the perp mark (default 1).
    pub perp_confidence: f64,
    /// Per listed forward: (confidence, rate, rate confidence, vol confidence); defaults
    /// (1, market rate, 1, 1).
    pub forward_fields: BTreeMap<ExpiryDate, PmForwardFields>,
}

impl Default for PmUnderlyingFields {
    fn default() -> Self {
        PmUnderlyingFields {
            spot_confidence: 1.0,
            perp_confidence: 1.0,
            forward_fields: BTreeMap::new(),
        }
    }
}

/// pm-only fields of one listed forward.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PmForwardFields {
    /// Confidence of the forward.
    pub confidence: f64,
    /// Rate for that expiry (`None`: the market rate).
    pub rate: Option<f64>,
    /// Confidence of the rate.
    pub rate_confidence: f64,
    /// Confidence of the vol surface at that expiry.
    pub vol_confidence: f64,
}

impl Default for PmForwardFields {
    fn default() -> Self {
        PmForwardFields {
            confidence: 1.0,
            rate: None,
            rate_confidence: 1.0,
            vol_confidence: 1.0,
        }
    }
}

/// Everything known about one underlying.
#[derive(Debug, Clone)]
pub struct UnderlyingMarket {
    name: Asset,
    spot: f64,
    realized_vol: Option<f64>,
    perp_price: Option<f64>,
    forwards: BTreeMap<ExpiryDate, f64>,
    surface: Surface,
    /// Added to every vol the surface gives (a what-if or stress adjustment; 0 normally).
    vol_shift: f64,
    /// Inputs read by `pm` only.
    pub pm: PmUnderlyingFields,
}

impl UnderlyingMarket {
    /// Checks and assembles an underlying. `forwards` are the listed forwards by expiry;
    /// `surface` must have been built on a forward curve with the same spot.
    pub fn new(
        name: Asset,
        spot: f64,
        realized_vol: Option<f64>,
        perp_price: Option<f64>,
        forwards: BTreeMap<ExpiryDate, f64>,
        surface: Surface,
    ) -> Result<UnderlyingMarket, MarketError> {
        let prefix = |f: &str| format!("{name}.{f}");
        check(
            &prefix("spot"),
            spot.is_finite() && spot > 0.0,
            "must be finite and > 0",
            spot,
        )?;
        if let Some(v) = realized_vol {
            check(
                &prefix("realized_vol"),
                v.is_finite() && v >= 0.0,
                "must be finite and >= 0",
                v,
            )?;
        }
        if let Some(p) = perp_price {
            check(
                &prefix("perp_price"),
                p.is_finite() && p > 0.0,
                "must be finite and > 0",
                p,
            )?;
        }
        for (expiry, f) in &forwards {
            check(
                &format!("{name}.forwards[{expiry}]"),
                f.is_finite() && *f > 0.0,
                "must be finite and > 0",
                *f,
            )?;
        }
        Ok(UnderlyingMarket {
            name,
            spot,
            realized_vol,
            perp_price,
            forwards,
            surface,
            vol_shift: 0.0,
            pm: PmUnderlyingFields::default(),
        })
    }

    /// The underlying's name.
    pub fn name(&self) -> &Asset {
        &self.name
    }
    /// Spot (index) price.
    pub fn spot(&self) -> f64 {
        self.spot
    }
    /// Realised vol, if the snapshot gives one.
    pub fn realized_vol(&self) -> Option<f64> {
        self.realized_vol
    }
    /// The perpetual's mark: the `perp_price` given, else spot (formats.md).
    pub fn perp_mark(&self) -> f64 {
        self.perp_price.unwrap_or(self.spot)
    }
    /// The perp price as given (`None` when absent).
    pub fn perp_price(&self) -> Option<f64> {
        self.perp_price
    }
    /// The listed forwards.
    pub fn listed_forwards(&self) -> &BTreeMap<ExpiryDate, f64> {
        &self.forwards
    }
    /// The implied-vol surface.
    pub fn surface(&self) -> &Surface {
        &self.surface
    }

    /// The forward of `expiry`: the listed one, else spot·e^(rate·t) (formats.md).
    pub fn forward(&self, expiry: ExpiryDate, expiry_years: f64, rate: f64) -> f64 {
        match self.forwards.get(&expiry) {
            Some(f) => *f,
            None => self.spot * (rate * expiry_years.max(0.0)).exp(),
        }
    }

    /// Implied vol at `strike` for an expiry `expiry_years` away whose forward is `forward`
    /// (vol is a function of log-moneyness ln(K/F)).
    pub fn vol(&self, strike: f64, forward: f64, expiry_years: f64) -> f64 {
        self.shifted(
            self.surface
                .vol_at_log_moneyness((strike / forward).ln(), expiry_years),
        )
    }

    /// The at-the-money vol of an expiry (K = F).
    pub fn atm_vol(&self, expiry_years: f64) -> f64 {
        self.shifted(self.surface.vol_at_log_moneyness(0.0, expiry_years))
    }

    fn shifted(&self, vol: f64) -> f64 {
        if self.vol_shift == 0.0 {
            vol
        } else {
            (vol + self.vol_shift).max(MIN_SHIFTED_VOL)
        }
    }

    /// The market moved by a spot factor: spot, perp mark and every forward × `factor`, the
    /// smiles unchanged as functions of log-moneyness (sticky moneyness), and `vol_shift` added
    /// to every vol (floored at [`MIN_SHIFTED_VOL`]).
    pub fn moved(&self, factor: f64, vol_shift: f64) -> Result<UnderlyingMarket, MarketError> {
        check(
            "spot_factor",
            factor.is_finite() && factor > 0.0,
            "must be finite and > 0",
            factor,
        )?;
        check(
            "vol_shift",
            vol_shift.is_finite(),
            "must be finite",
            vol_shift,
        )?;
        let invalid = |e: ale_surface::SurfaceError| MarketError::Invalid {
            field: format!("{}.surface", self.name),
            reason: e.to_string(),
        };
        let curve = self
            .surface
            .forward_curve()
            .scaled(factor)
            .map_err(invalid)?;
        let smiles = self
            .surface
            .slices()
            .iter()
            .map(|s| (s.expiry_years(), s.smile().clone()))
            .collect();
        let surface = Surface::new(curve, smiles).map_err(invalid)?;
        let mut out = self.clone();
        out.spot *= factor;
        out.perp_price = self.perp_price.map(|p| p * factor);
        for f in out.forwards.values_mut() {
            *f *= factor;
        }
        out.surface = surface;
        out.vol_shift = self.vol_shift + vol_shift;
        Ok(out)
    }
}

/// Price and haircuts of one collateral asset.
#[derive(Debug, Clone, PartialEq)]
pub struct CollateralPrice {
    /// Price in the quote currency (USD).
    pub price: f64,
    /// Haircut, a fraction of value.
    pub haircut: f64,
    /// Extra haircut of a wrapped / bridged asset.
    pub bridge_risk: f64,
    /// pm: maintenance haircut (default haircut + bridge_risk).
    pub mm_haircut: Option<f64>,
    /// pm: initial haircut add-on (default 0).
    pub im_haircut: f64,
    /// pm: oracle confidence (default 1).
    pub confidence: f64,
    /// The underlying this asset moves with (WBTC → BTC). An asset named like an underlying
    /// moves with it without being told.
    pub risk_cancelling: Option<Asset>,
}

impl CollateralPrice {
    /// A collateral price with the given haircuts and the pm defaults.
    pub fn new(
        asset: &Asset,
        price: f64,
        haircut: f64,
        bridge_risk: f64,
    ) -> Result<Self, MarketError> {
        check(
            &format!("{asset}.price"),
            price.is_finite() && price >= 0.0,
            "must be finite and >= 0",
            price,
        )?;
        check(
            &format!("{asset}.haircut"),
            (0.0..=1.0).contains(&haircut),
            "must be in [0, 1]",
            haircut,
        )?;
        check(
            &format!("{asset}.bridge_risk"),
            (0.0..=1.0).contains(&bridge_risk) && haircut + bridge_risk <= 1.0,
            "must be in [0, 1] with haircut + bridge_risk <= 1",
            bridge_risk,
        )?;
        Ok(CollateralPrice {
            price,
            haircut,
            bridge_risk,
            mm_haircut: None,
            im_haircut: 0.0,
            confidence: 1.0,
            risk_cancelling: None,
        })
    }

    /// The fraction of value counted: 1 − haircut − bridge_risk.
    pub fn value_factor(&self) -> f64 {
        1.0 - self.haircut - self.bridge_risk
    }
}

/// The whole market at one instant.
#[derive(Debug, Clone)]
pub struct MarketSnapshot {
    time: Timestamp,
    rate: f64,
    underlyings: BTreeMap<Asset, UnderlyingMarket>,
    collateral: BTreeMap<Asset, CollateralPrice>,
    /// pm: the cash asset (default USDC).
    pub stable: Asset,
    /// pm: the stable coin's price (default: its collateral price, else 1).
    pub stable_price: Option<f64>,
}

impl MarketSnapshot {
    /// An empty snapshot at `time` with the continuously compounded `rate`.
    pub fn new(time: Timestamp, rate: f64) -> Result<MarketSnapshot, MarketError> {
        check("rate", rate.is_finite(), "must be finite", rate)?;
        Ok(MarketSnapshot {
            time,
            rate,
            underlyings: BTreeMap::new(),
            collateral: BTreeMap::new(),
            stable: Asset::new("USDC").map_err(|e| MarketError::Invalid {
                field: "stable".into(),
                reason: e.to_string(),
            })?,
            stable_price: None,
        })
    }

    /// Adds (or replaces) an underlying.
    pub fn insert_underlying(&mut self, market: UnderlyingMarket) {
        self.underlyings.insert(market.name.clone(), market);
    }

    /// Adds (or replaces) a collateral price.
    pub fn insert_collateral(&mut self, asset: Asset, price: CollateralPrice) {
        self.collateral.insert(asset, price);
    }

    /// Moves the snapshot to a later (or equal) time; an earlier time is refused, so that time
    /// to expiry never grows.
    pub fn advance_time(&mut self, time: Timestamp) -> Result<(), MarketError> {
        if time < self.time {
            return Err(MarketError::Invalid {
                field: "time".into(),
                reason: format!("{time} is before the snapshot's time {}", self.time),
            });
        }
        self.time = time;
        Ok(())
    }

    /// The snapshot's time.
    pub fn time(&self) -> Timestamp {
        self.time
    }
    /// The continuously compounded rate.
    pub fn rate(&self) -> f64 {
        self.rate
    }
    /// One underlying, or an error naming it.
    pub fn underlying(&self, name: &Asset) -> Result<&UnderlyingMarket, MarketError> {
        self.underlyings
            .get(name)
            .ok_or_else(|| MarketError::MissingUnderlying(name.to_string()))
    }
    /// All underlyings, in name order.
    pub fn underlyings(&self) -> impl Iterator<Item = &UnderlyingMarket> {
        self.underlyings.values()
    }
    /// Mutable access to one underlying (to replace its spot or surface on an update).
    pub fn underlying_mut(&mut self, name: &Asset) -> Option<&mut UnderlyingMarket> {
        self.underlyings.get_mut(name)
    }
    /// One collateral asset's price, or an error naming it.
    pub fn collateral(&self, asset: &Asset) -> Result<&CollateralPrice, MarketError> {
        self.collateral
            .get(asset)
            .ok_or_else(|| MarketError::MissingCollateral(asset.to_string()))
    }
    /// All collateral prices.
    pub fn collateral_prices(&self) -> impl Iterator<Item = (&Asset, &CollateralPrice)> {
        self.collateral.iter()
    }

    /// The underlying a collateral asset moves with: its `risk_cancelling` underlying, or the
    /// underlying of the same name.
    pub fn collateral_underlying(&self, asset: &Asset) -> Option<&Asset> {
        if let Some(c) = self.collateral.get(asset) {
            if let Some(u) = &c.risk_cancelling {
                return Some(u);
            }
        }
        self.underlyings.get_key_value(asset).map(|(k, _)| k)
    }

    /// Years from the snapshot to `expiry` (negative once expired).
    pub fn expiry_years(&self, expiry: ExpiryDate) -> f64 {
        expiry.years_from(self.time)
    }
}
