//! Static-arbitrage checks: butterfly (Durrleman's g ≥ 0 per expiry) and calendar (total variance
//! non-decreasing in T at fixed log-moneyness), on a dense k grid.
//!
//! Each contiguous run of violating grid points is reported once, at its worst point.

use crate::smile::Smile;
use crate::surface::Surface;
use crate::svi::durrleman_g;

/// Points of the dense k grid of each check.
pub const ARBITRAGE_GRID_POINTS: usize = 801;
/// The grid spans ± this many ATM standard deviations (√w(0)) of the expiry, at least.
pub const ARBITRAGE_GRID_STD_DEVS: f64 = 10.0;
/// Smallest half-width of the grid, in log-moneyness.
pub const ARBITRAGE_GRID_MIN_HALF_WIDTH: f64 = 0.02;
/// Largest half-width of the grid, in log-moneyness.
pub const ARBITRAGE_GRID_MAX_HALF_WIDTH: f64 = 6.0;
/// g below −this is a butterfly violation (round-off stays above it).
pub const BUTTERFLY_TOLERANCE: f64 = 1e-10;
/// A drop of total variance larger than this between two expiries is a calendar violation.
pub const CALENDAR_TOLERANCE: f64 = 1e-12;

/// Which static arbitrage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArbitrageKind {
    /// Negative risk-neutral density inside one expiry: g(k) < 0.
    Butterfly,
    /// Total variance falls from one expiry to the next at fixed k.
    Calendar,
}

impl ArbitrageKind {
    /// `"butterfly"` or `"calendar"`, as the report prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            ArbitrageKind::Butterfly => "butterfly",
            ArbitrageKind::Calendar => "calendar",
        }
    }
}

/// One arbitrage found: where and how much.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArbitrageViolation {
    /// Butterfly or calendar.
    pub kind: ArbitrageKind,
    /// The expiry (for calendar, the later of the two expiries compared).
    pub expiry_years: f64,
    /// Log-moneyness k = ln(K/F) of the worst point of the violating run.
    pub log_moneyness: f64,
    /// Butterfly: −g(k) (dimensionless, > 0). Calendar: w(k, Tᵢ) − w(k, Tᵢ₊₁) (total variance,
    /// > 0).
    pub size: f64,
}

/// The half-width of the check grid of one expiry: ± [`ARBITRAGE_GRID_STD_DEVS`]·√w(0), widened
/// to cover `quoted_extent` (the largest |k| quoted) by 25%, within the min and max constants.
pub fn grid_half_width(atm_total_variance: f64, quoted_extent: f64) -> f64 {
    let by_std = ARBITRAGE_GRID_STD_DEVS * atm_total_variance.max(0.0).sqrt();
    let by_quotes = if quoted_extent.is_finite() {
        1.25 * quoted_extent.abs()
    } else {
        0.0
    };
    by_std
        .max(by_quotes)
        .clamp(ARBITRAGE_GRID_MIN_HALF_WIDTH, ARBITRAGE_GRID_MAX_HALF_WIDTH)
}

fn grid(half_width: f64) -> impl Iterator<Item = f64> {
    let step = 2.0 * half_width / (ARBITRAGE_GRID_POINTS - 1) as f64;
    (0..ARBITRAGE_GRID_POINTS).map(move |i| -half_width + step * i as f64)
}

/// Collects runs of `excess(k) > tol` into one violation per run, at the largest excess.
fn runs(
    kind: ArbitrageKind,
    expiry_years: f64,
    half_width: f64,
    tol: f64,
    mut excess: impl FnMut(f64) -> f64,
    out: &mut Vec<ArbitrageViolation>,
) {
    let mut current: Option<ArbitrageViolation> = None;
    for k in grid(half_width) {
        let e = excess(k);
        // NaN counts as a violation (a smile that cannot be evaluated is not arbitrage-free).
        if !(e <= tol) {
            let size = if e.is_nan() { f64::INFINITY } else { e };
            match &mut current {
                Some(v) if size > v.size => {
                    v.size = size;
                    v.log_moneyness = k;
                }
                Some(_) => {}
                None => {
                    current = Some(ArbitrageViolation {
                        kind,
                        expiry_years,
                        log_moneyness: k,
                        size,
                    })
                }
            }
        } else if let Some(v) = current.take() {
            out.push(v);
        }
    }
    out.extend(current);
}

/// Butterfly check of one smile over k ∈ [−half_width, half_width].
pub fn check_butterfly(
    smile: &Smile,
    expiry_years: f64,
    half_width: f64,
) -> Vec<ArbitrageViolation> {
    let mut out = Vec::new();
    butterfly_into(smile, expiry_years, half_width, &mut out);
    out
}

fn butterfly_into(
    smile: &Smile,
    expiry_years: f64,
    half_width: f64,
    out: &mut Vec<ArbitrageViolation>,
) {
    runs(
        ArbitrageKind::Butterfly,
        expiry_years,
        half_width,
        BUTTERFLY_TOLERANCE,
        |k| {
            let (w, w1, w2) = smile.total_variance_with_derivatives(k);
            -durrleman_g(k, w, w1, w2)
        },
        out,
    );
}

/// Butterfly check of every expiry and calendar check of every consecutive pair, each on its
/// default grid ([`grid_half_width`] with no quoted extent).
pub fn check_arbitrage(surface: &Surface) -> Vec<ArbitrageViolation> {
    let extents = vec![0.0; surface.slices().len()];
    check_arbitrage_with_extents(surface, &extents)
}

/// As [`check_arbitrage`], the grid of expiry i widened to cover `quoted_extents[i]` (largest
/// |k| quoted there; missing entries count as 0).
pub fn check_arbitrage_with_extents(
    surface: &Surface,
    quoted_extents: &[f64],
) -> Vec<ArbitrageViolation> {
    let slices = surface.slices();
    let widths: Vec<f64> = slices
        .iter()
        .enumerate()
        .map(|(i, s)| {
            grid_half_width(
                s.smile().total_variance(0.0),
                quoted_extents.get(i).copied().unwrap_or(0.0),
            )
        })
        .collect();
    let mut out = Vec::new();
    for (i, s) in slices.iter().enumerate() {
        butterfly_into(s.smile(), s.expiry_years(), widths[i], &mut out);
    }
    for i in 1..slices.len() {
        let (early, late) = (&slices[i - 1], &slices[i]);
        runs(
            ArbitrageKind::Calendar,
            late.expiry_years(),
            widths[i - 1].max(widths[i]),
            CALENDAR_TOLERANCE,
            |k| early.smile().total_variance(k) - late.smile().total_variance(k),
            &mut out,
        );
    }
    out
}
