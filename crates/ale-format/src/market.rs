//! The market file of formats.md (`--market market.json`) and its conversion into a
//! [`MarketSnapshot`], fitting quoted surfaces on the way.

use std::collections::BTreeMap;

use ale_core::{Asset, OptionKind};
use ale_market::{
    CollateralPrice, MarketSnapshot, PmForwardFields, PmUnderlyingFields, UnderlyingMarket,
};
use ale_surface::{
    fit_surface, ExpiryQuotes, FitConfig, ForwardCurve, Quote, Surface, SurfaceFitReport, SviParams,
};
use serde::{Deserialize, Serialize};

use crate::wire::{from_json, FormatError, WireExpiry, WireTime};

/// The market file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarketFile {
    pub time: WireTime,
    #[serde(default)]
    pub rate: f64,
    pub underlyings: Vec<UnderlyingFile>,
    #[serde(default)]
    pub collateral: Vec<CollateralFile>,
    /// pm: the cash asset (default USDC).
    #[serde(default)]
    pub stable: Option<String>,
    /// pm: the stable coin's price.
    #[serde(default)]
    pub stable_price: Option<f64>,
}

/// One underlying of the market file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnderlyingFile {
    pub name: String,
    pub spot: f64,
    #[serde(default)]
    pub realized_vol: Option<f64>,
    #[serde(default)]
    pub perp_price: Option<f64>,
    #[serde(default)]
    pub forwards: Vec<ForwardFile>,
    pub surface: SurfaceFile,
    #[serde(default)]
    pub spot_confidence: Option<f64>,
    #[serde(default)]
    pub perp_confidence: Option<f64>,
}

/// A listed forward.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwardFile {
    pub expiry: WireExpiry,
    pub price: f64,
    #[serde(default)]
    pub confidence: Option<f64>,
    #[serde(default)]
    pub rate: Option<f64>,
    #[serde(default)]
    pub rate_confidence: Option<f64>,
    #[serde(default)]
    pub vol_confidence: Option<f64>,
}

/// The `surface` of an underlying: exactly one of the keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SurfaceFile {
    /// One vol everywhere.
    Flat(f64),
    /// Raw SVI per expiry.
    Svi(Vec<SviFile>),
    /// Quotes (vols or prices) to fit.
    Quotes(Vec<QuoteFile>),
    /// Venue mark vols, exact at their strikes.
    Marks(Vec<MarkFile>),
}

/// Raw SVI parameters of one expiry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SviFile {
    pub expiry: WireExpiry,
    pub a: f64,
    pub b: f64,
    pub rho: f64,
    pub m: f64,
    pub sigma: f64,
}

/// One quote: a vol, or a kind and a price; optional bid/ask vols weight the fit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuoteFile {
    pub expiry: WireExpiry,
    pub strike: f64,
    #[serde(default)]
    pub iv: Option<f64>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub price: Option<f64>,
    #[serde(default)]
    pub bid_iv: Option<f64>,
    #[serde(default)]
    pub ask_iv: Option<f64>,
}

/// One mark vol.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarkFile {
    pub expiry: WireExpiry,
    pub strike: f64,
    pub iv: f64,
}

/// One collateral asset's price and haircuts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollateralFile {
    pub asset: String,
    pub price: f64,
    #[serde(default)]
    pub haircut: f64,
    #[serde(default)]
    pub bridge_risk: f64,
    #[serde(default)]
    pub mm_haircut: Option<f64>,
    #[serde(default)]
    pub im_haircut: Option<f64>,
    #[serde(default)]
    pub confidence: Option<f64>,
    #[serde(default)]
    pub risk_cancelling: Option<String>,
}

/// The fit of one quoted surface, with the expiry of each fitted slice.
pub struct QuotedFit {
    /// The library's report (slices in increasing expiry order).
    pub report: SurfaceFitReport,
    /// The expiry of each slice of the report.
    pub expiries: Vec<ale_core::ExpiryDate>,
}

/// A market file read and converted.
pub struct LoadedMarket {
    /// The snapshot.
    pub snapshot: MarketSnapshot,
    /// Fit reports of the underlyings whose surface was given as quotes.
    pub fits: Vec<QuotedFit>,
    /// Keys of the file that no field reads (likely typos).
    pub ignored_keys: Vec<String>,
}

fn asset(path: &str, s: &str) -> Result<Asset, FormatError> {
    Asset::new(s).map_err(|e| FormatError::at(path, e))
}

fn confidence(path: &str, c: Option<f64>) -> Result<f64, FormatError> {
    let c = c.unwrap_or(1.0);
    if (0.0..=1.0).contains(&c) {
        Ok(c)
    } else {
        Err(FormatError::at(path, format!("must be in [0, 1], got {c}")))
    }
}

/// Reads a market file (the text; the caller reads the file).
pub fn parse_market(text: &str) -> Result<LoadedMarket, FormatError> {
    let (file, ignored_keys): (MarketFile, _) = from_json(text)?;
    let mut loaded = market_from_file(&file)?;
    loaded.ignored_keys = ignored_keys;
    Ok(loaded)
}

/// Converts a parsed market file.
pub fn market_from_file(file: &MarketFile) -> Result<LoadedMarket, FormatError> {
    let now = file.time.0;
    let mut snapshot =
        MarketSnapshot::new(now, file.rate).map_err(|e| FormatError(e.to_string()))?;
    let mut fits = Vec::new();
    if file.underlyings.is_empty() {
        return Err(FormatError::at(
            "underlyings",
            "must list at least one underlying",
        ));
    }
    let mut seen = BTreeMap::new();
    for (i, u) in file.underlyings.iter().enumerate() {
        let path = format!("underlyings[{i}]");
        let (market, fit) = underlying_from_file(u, &path, now, file.rate)?;
        if seen.insert(market.name().clone(), i).is_some() {
            return Err(FormatError::at(
                &format!("{path}.name"),
                format!("'{}' is listed twice", market.name()),
            ));
        }
        if let Some(fit) = fit {
            fits.push(fit);
        }
        snapshot.insert_underlying(market);
    }
    for (i, c) in file.collateral.iter().enumerate() {
        let path = format!("collateral[{i}]");
        let a = asset(&format!("{path}.asset"), &c.asset)?;
        let mut price = CollateralPrice::new(&a, c.price, c.haircut, c.bridge_risk)
            .map_err(|e| FormatError::at(&path, e))?;
        if let Some(h) = c.mm_haircut {
            if !(0.0..=1.0).contains(&h) {
                return Err(FormatError::at(
                    &format!("{path}.mm_haircut"),
                    format!("must be in [0, 1], got {h}"),
                ));
            }
            price.mm_haircut = Some(h);
        }
        if let Some(h) = c.im_haircut {
            if !(0.0..=1.0).contains(&h) {
                return Err(FormatError::at(
                    &format!("{path}.im_haircut"),
                    format!("must be in [0, 1], got {h}"),
                ));
            }
            price.im_haircut = h;
        }
        price.confidence = confidence(&format!("{path}.confidence"), c.confidence)?;
        if let Some(u) = &c.risk_cancelling {
            let u = asset(&format!("{path}.risk_cancelling"), u)?;
            if snapshot.underlying(&u).is_err() {
                return Err(FormatError::at(
                    &format!("{path}.risk_cancelling"),
                    format!("'{u}' is not an underlying of this market"),
                ));
            }
            price.risk_cancelling = Some(u);
        }
        snapshot.insert_collateral(a, price);
    }
    if let Some(s) = &file.stable {
        snapshot.stable = asset("stable", s)?;
    }
    if let Some(p) = file.stable_price {
        if !(p.is_finite() && p > 0.0) {
            return Err(FormatError::at(
                "stable_price",
                format!("must be finite and > 0, got {p}"),
            ));
        }
        snapshot.stable_price = Some(p);
    }
    Ok(LoadedMarket {
        snapshot,
        fits,
        ignored_keys: Vec::new(),
    })
}

/// Converts one underlying of a market file (at `path` for messages), fitting its surface when it
/// is given as quotes. The keeper calls this for a market update of one underlying.
pub fn underlying_from_file(
    u: &UnderlyingFile,
    path: &str,
    now: ale_core::Timestamp,
    rate: f64,
) -> Result<(UnderlyingMarket, Option<QuotedFit>), FormatError> {
    let file_rate = rate;
    let mut fit = None;
    let name = asset(&format!("{path}.name"), &u.name)?;
    if !(u.spot.is_finite() && u.spot > 0.0) {
        return Err(FormatError::at(
            &format!("{path}.spot"),
            format!("must be finite and > 0, got {}", u.spot),
        ));
    }
    let mut forwards = BTreeMap::new();
    let mut pm_forwards = BTreeMap::new();
    for (j, f) in u.forwards.iter().enumerate() {
        let fpath = format!("{path}.forwards[{j}]");
        let expiry = f.expiry.0;
        if expiry.has_expired(now) {
            return Err(FormatError::at(
                &format!("{fpath}.expiry"),
                format!("{} is not after the market time {now}", expiry.instant()),
            ));
        }
        if !(f.price.is_finite() && f.price > 0.0) {
            return Err(FormatError::at(
                &format!("{fpath}.price"),
                format!("must be finite and > 0, got {}", f.price),
            ));
        }
        if forwards.insert(expiry, f.price).is_some() {
            return Err(FormatError::at(&format!("{fpath}.expiry"), "listed twice"));
        }
        pm_forwards.insert(
            expiry,
            PmForwardFields {
                confidence: confidence(&format!("{fpath}.confidence"), f.confidence)?,
                rate: f.rate,
                rate_confidence: confidence(
                    &format!("{fpath}.rate_confidence"),
                    f.rate_confidence,
                )?,
                vol_confidence: confidence(&format!("{fpath}.vol_confidence"), f.vol_confidence)?,
            },
        );
    }
    let curve_nodes: Vec<(f64, f64)> = forwards
        .iter()
        .map(|(e, f)| (e.years_from(now), *f))
        .collect();
    let curve = ForwardCurve::new(u.spot, file_rate, &curve_nodes)
        .map_err(|e| FormatError::at(&format!("{path}.forwards"), e))?;
    let spath = format!("{path}.surface");
    let surface = match &u.surface {
        SurfaceFile::Flat(v) => {
            Surface::flat(curve, *v).map_err(|e| FormatError::at(&format!("{spath}.flat"), e))?
        }
        SurfaceFile::Svi(slices) => {
            let mut params = Vec::with_capacity(slices.len());
            for (j, s) in slices.iter().enumerate() {
                let p = SviParams::new(s.a, s.b, s.rho, s.m, s.sigma)
                    .map_err(|e| FormatError::at(&format!("{spath}.svi[{j}]"), e))?;
                let t = s.expiry.0.years_from(now);
                if t <= 0.0 {
                    return Err(FormatError::at(
                        &format!("{spath}.svi[{j}].expiry"),
                        "is not after the market time",
                    ));
                }
                params.push((t, p));
            }
            params.sort_by(|a, b| a.0.total_cmp(&b.0));
            Surface::from_svi(curve, &params)
                .map_err(|e| FormatError::at(&format!("{spath}.svi"), e))?
        }
        SurfaceFile::Quotes(quotes) => {
            let mut by_expiry: BTreeMap<ale_core::ExpiryDate, Vec<Quote>> = BTreeMap::new();
            for (j, q) in quotes.iter().enumerate() {
                let qpath = format!("{spath}.quotes[{j}]");
                let quote = match (q.iv, &q.kind, q.price) {
                    (Some(iv), None, None) => Quote::vol(q.strike, iv),
                    (None, Some(kind), Some(price)) => {
                        let kind = match kind.as_str() {
                            "call" => OptionKind::Call,
                            "put" => OptionKind::Put,
                            other => {
                                return Err(FormatError::at(
                                    &format!("{qpath}.kind"),
                                    format!("must be \"call\" or \"put\", got \"{other}\""),
                                ))
                            }
                        };
                        Quote::price(q.strike, kind, price)
                    }
                    _ => {
                        return Err(FormatError::at(
                            &qpath,
                            "give either \"iv\", or \"kind\" and \"price\"",
                        ))
                    }
                };
                let quote = match (q.bid_iv, q.ask_iv) {
                    (Some(b), Some(a)) => quote.with_bid_ask_vol(b, a),
                    (None, None) => quote,
                    _ => {
                        return Err(FormatError::at(
                            &qpath,
                            "give both \"bid_iv\" and \"ask_iv\", or neither",
                        ))
                    }
                };
                by_expiry.entry(q.expiry.0).or_default().push(quote);
            }
            let expiry_dates: Vec<ale_core::ExpiryDate> = by_expiry.keys().copied().collect();
            let expiries: Vec<ExpiryQuotes> = by_expiry
                .into_iter()
                .map(|(e, quotes)| ExpiryQuotes {
                    expiry_years: e.years_from(now),
                    quotes,
                })
                .collect();
            if let Some(e) = expiries.iter().find(|e| e.expiry_years <= 0.0) {
                return Err(FormatError::at(
                    &spath,
                    format!(
                        "a quoted expiry is not after the market time ({} years)",
                        e.expiry_years
                    ),
                ));
            }
            let (surface, report) =
                fit_surface(&name.to_string(), &curve, &expiries, &FitConfig::default())
                    .map_err(|e| FormatError::at(&format!("{spath}.quotes"), e))?;
            fit = Some(QuotedFit {
                report,
                expiries: expiry_dates,
            });
            surface
        }
        SurfaceFile::Marks(marks) => {
            let mut by_expiry: BTreeMap<ale_core::ExpiryDate, Vec<(f64, f64)>> = BTreeMap::new();
            for m in marks {
                by_expiry
                    .entry(m.expiry.0)
                    .or_default()
                    .push((m.strike, m.iv));
            }
            let mut slices = Vec::new();
            for (e, points) in by_expiry {
                let t = e.years_from(now);
                if t <= 0.0 {
                    return Err(FormatError::at(
                        &format!("{spath}.marks"),
                        format!("expiry {} is not after the market time", e.instant()),
                    ));
                }
                slices.push((t, points));
            }
            Surface::from_marks(curve, &slices)
                .map_err(|e| FormatError::at(&format!("{spath}.marks"), e))?
        }
    };
    let mut market = UnderlyingMarket::new(
        name,
        u.spot,
        u.realized_vol,
        u.perp_price,
        forwards,
        surface,
    )
    .map_err(|e| FormatError(e.to_string()))?;
    market.pm = PmUnderlyingFields {
        spot_confidence: confidence(&format!("{path}.spot_confidence"), u.spot_confidence)?,
        perp_confidence: confidence(&format!("{path}.perp_confidence"), u.perp_confidence)?,
        forward_fields: pm_forwards,
    };
    Ok((market, fit))
}
