//! `ale-surface`: implied-volatility surfaces for ALE.
//!
//! This crate owns everything between option quotes and σ(K, T):
//!
//! - the forward curve of an underlying ([`ForwardCurve`]): F(T) for any expiry;
//! - per-expiry smiles ([`Smile`]): raw SVI ([`SviParams`]) given or fitted, or venue marks
//!   interpolated ([`MarkSmile`]);
//! - the surface ([`Surface`]): σ(K, T) and total variance w(k, T) for any strike and expiry,
//!   interpolated in total variance at constant log-moneyness between expiries;
//! - the SVI fit of quotes given as vols or prices ([`fit_surface`], [`fit_expiry`],
//!   [`fit_smile`]) and its report ([`SurfaceFitReport`]);
//! - static-arbitrage checks, butterfly and calendar ([`check_arbitrage`]);
//! - shocked views for margin scenarios ([`ShockedSurface`], [`Shock`]): spot moves
//!   sticky-moneyness or sticky-strike, additive and multiplicative term-scaled vol shocks, skew
//!   rotation, vol floor — cheap borrowed views that allocate nothing;
//! - with the `plot` feature, a plot of a fit (`plot::plot_fit_png`).
//!
//! Every base surface and every view answers through one trait, [`VolSurface`].
//!
//! Architecture invariants: no I/O (except the one plotting function behind the `plot` feature,
//! which writes the file it is given), no global state, no clock. Times are years from the
//! snapshot, vols decimals, total variance σ²·T. Wire formats (JSON) live in `ale-format`; the
//! report here is plain structs. The rules are documented in `docs/surface.md`.

// Comparisons are written so that NaN fails them (`!(x > 0.0)` rejects NaN where `x <= 0.0`
// would let it through): the negated form is deliberate.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod arbitrage;
mod error;
pub mod fit;
pub mod forward;
#[cfg(feature = "plot")]
pub mod plot;
pub mod shock;
pub mod smile;
pub mod surface;
pub mod svi;

pub use arbitrage::{check_arbitrage, ArbitrageKind, ArbitrageViolation};
pub use error::SurfaceError;
pub use fit::{
    fit_expiry, fit_smile, fit_surface, ExpiryFitReport, ExpiryQuotes, FitConfig, FitError,
    FitPoint, Quote, QuoteValue, RejectReason, RejectedQuote, SmileFit, SurfaceFitReport,
    Weighting,
};
pub use forward::ForwardCurve;
pub use shock::{Shock, ShockedSurface, SkewRotation, SpotRule, TermScaled};
pub use smile::{MarkSmile, Smile};
pub use surface::{Slice, Surface, VolSurface, MIN_EXPIRY_YEARS};
pub use svi::{durrleman_g, SviParams};
