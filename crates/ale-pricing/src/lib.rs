//! `ale-pricing`: the Black-76 formula (discounted, on the forward) with its Greeks, and
//! implied-vol inversion — the pure formula layer of ALE's pricing.
//!
//! It owns:
//! - [`Black76`]: one option's price and its Greeks (delta, gamma, vega, theta, vanna, volga)
//!   exactly as `formats.md` defines them for `ale price`, accurate to about 1e-13 relative and
//!   free of the cancellation of `F·N(d1) − K·N(d2)` deep out of the money;
//! - [`implied_vol()`]: the inverse in the vol (for `ale iv`), a wrapper of Jäckel's
//!   "Let's Be Rational" (the `implied-vol` crate) that turns impossible or uninformative prices
//!   into typed errors;
//! - [`batch`]: the same kernels over slices (many options; one option under many scenarios),
//!   for the risk engine's instrument × scenario table — eight or four options at a time with
//!   AVX-512 or AVX2 where the CPU has them, bit-identical to the scalar path;
//! - [`norm_cdf`], [`norm_pdf`], [`erfcx`]: the normal distribution to about one ulp in both tails.
//!
//! It does no I/O and holds no state. Every input either gives a finite answer or a typed error
//! naming the field as the JSON formats do (`forward`, `strike`, `t`, `vol`, `rate`, `price`).
//! See `docs/pricing.md` for the accuracy and speed measured.

pub mod batch;
mod black76;
mod erfcx_table;
mod error;
mod implied;
#[cfg(target_arch = "x86_64")]
mod simd;
mod special;

pub use ale_core::OptionKind;
pub use black76::{
    validate_inputs, Black76, Greeks, EXPIRY_YEARS_MAX, PRICE_MAX, PRICE_MIN, RATE_ABS_MAX,
    TOTAL_VOL_MIN, VOL_MAX,
};
pub use error::{ImpliedVolError, Indeterminacy, InvalidInput, PricingError};
pub use implied::implied_vol;
pub use special::{erfcx, norm_cdf, norm_pdf};
