//! Plots of a fit: one panel per expiry, the quotes used as dots and the fitted smile as a line,
//! vol against log-moneyness k = ln(K/F).
//!
//! Behind the `plot` feature (plotters, no default features). No text is drawn — axis labels
//! would need a font, and none is assumed on the machine — so each panel is a frame with the
//! smile scaled to fill it; panels run left to right, top to bottom in expiry order. The numbers
//! are in the report that `ale surface fit` prints beside the plot.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use thiserror::Error;

use crate::fit::SurfaceFitReport;

/// Width and height of the image, in pixels.
pub const PLOT_SIZE_PX: (u32, u32) = (1200, 800);
/// Points of each drawn smile.
pub const SMILE_POINTS: usize = 200;

/// A plot could not be drawn or written.
#[derive(Debug, Error)]
pub enum PlotError {
    /// The report has no expiry to draw.
    #[error("invalid 'report': no expiry to plot")]
    Empty,
    /// The drawing backend failed (e.g. the file could not be written).
    #[error("plot to {path}: {message}")]
    Backend {
        /// The file.
        path: String,
        /// The backend's message.
        message: String,
    },
}

/// Draws every expiry of `report` into a PNG file at `path` (created or replaced).
///
/// This is the one function of the crate that does I/O: it writes `path`.
///
/// # Errors
/// An empty report, or the file cannot be written.
pub fn plot_fit_png(path: &Path, report: &SurfaceFitReport) -> Result<(), PlotError> {
    if report.expiries.is_empty() {
        return Err(PlotError::Empty);
    }
    let root = BitMapBackend::new(path, PLOT_SIZE_PX).into_drawing_area();
    draw(&root, report).map_err(|m| backend_error(path, m))?;
    root.present()
        .map_err(|e| backend_error(path, e.to_string()))
}

/// As [`plot_fit_png`], as SVG.
///
/// # Errors
/// An empty report, or the file cannot be written.
pub fn plot_fit_svg(path: &Path, report: &SurfaceFitReport) -> Result<(), PlotError> {
    if report.expiries.is_empty() {
        return Err(PlotError::Empty);
    }
    let root = SVGBackend::new(path, PLOT_SIZE_PX).into_drawing_area();
    draw(&root, report).map_err(|m| backend_error(path, m))?;
    root.present()
        .map_err(|e| backend_error(path, e.to_string()))
}

fn backend_error(path: &Path, message: String) -> PlotError {
    PlotError::Backend {
        path: path.display().to_string(),
        message,
    }
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &SurfaceFitReport,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let n = report.expiries.len();
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    let panels = root.split_evenly((rows, cols));
    for (i, (e, area)) in report.expiries.iter().zip(panels.iter()).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let t = e.expiry_years;
        let (mut k_lo, mut k_hi) = e
            .points
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
                (l.min(p.log_moneyness), h.max(p.log_moneyness))
            });
        if !(k_hi > k_lo) {
            k_lo -= 0.1;
            k_hi += 0.1;
        }
        let pad = 0.1 * (k_hi - k_lo);
        let (k_lo, k_hi) = (k_lo - pad, k_hi + pad);
        let smile: Vec<(f64, f64)> = (0..SMILE_POINTS)
            .map(|j| {
                let k = k_lo + (k_hi - k_lo) * j as f64 / (SMILE_POINTS - 1) as f64;
                (k, (e.svi.total_variance(k).max(0.0) / t).sqrt())
            })
            .collect();
        let (mut v_lo, mut v_hi) = smile
            .iter()
            .map(|p| p.1)
            .chain(e.points.iter().map(|p| p.vol_quote))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                (l.min(v), h.max(v))
            });
        if !(v_hi > v_lo) {
            v_lo -= 0.01;
            v_hi += 0.01;
        }
        let vpad = 0.08 * (v_hi - v_lo);
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .build_cartesian_2d(k_lo..k_hi, (v_lo - vpad)..(v_hi + vpad))
            .map_err(|e| e.to_string())?;
        let frame = [(k_lo, v_lo - vpad), (k_hi, v_hi + vpad)];
        chart
            .draw_series(std::iter::once(Rectangle::new(
                frame,
                BLACK.stroke_width(1),
            )))
            .map_err(|e| e.to_string())?;
        // k = 0 (the forward) as a light vertical line.
        if k_lo < 0.0 && k_hi > 0.0 {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(0.0, v_lo - vpad), (0.0, v_hi + vpad)],
                    RGBColor(200, 200, 200).stroke_width(1),
                )))
                .map_err(|e| e.to_string())?;
        }
        chart
            .draw_series(std::iter::once(PathElement::new(
                smile,
                color.stroke_width(2),
            )))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(
                e.points
                    .iter()
                    .map(|p| Circle::new((p.log_moneyness, p.vol_quote), 4, BLACK.filled())),
            )
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{fit_surface, ExpiryQuotes, FitConfig, ForwardCurve, Quote, SviParams};

    fn report() -> SurfaceFitReport {
        let curve = ForwardCurve::new(100.0, 0.0, &[(0.1, 100.0), (0.5, 101.0)]).unwrap();
        let expiries = [(0.1, 100.0), (0.5, 101.0)]
            .iter()
            .map(|&(t, f)| {
                let p = SviParams::new(0.02 * t, 0.1 * t.sqrt(), -0.3, 0.0, 0.1).unwrap();
                ExpiryQuotes {
                    expiry_years: t,
                    quotes: (0..15)
                        .map(|i| {
                            let k = -0.3 + 0.04 * i as f64;
                            Quote::vol(f * f64::exp(k), (p.total_variance(k) / t).sqrt())
                        })
                        .collect(),
                }
            })
            .collect::<Vec<_>>();
        fit_surface("BTC", &curve, &expiries, &FitConfig::default())
            .unwrap()
            .1
    }

    #[test]
    fn writes_a_png_and_an_svg() {
        let r = report();
        let dir = std::env::temp_dir().join(format!("ale-surface-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let png = dir.join("fit.png");
        plot_fit_png(&png, &r).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let svg = dir.join("fit.svg");
        plot_fit_svg(&svg, &r).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("<svg") && text.matches("<circle").count() >= 30);
        std::fs::remove_dir_all(&dir).unwrap();
        // An unwritable path is an error, not a panic.
        let bad = Path::new("/nonexistent-dir/ale/fit.png");
        assert!(plot_fit_png(bad, &r).is_err());
        let empty = SurfaceFitReport {
            underlying: "X".into(),
            expiries: vec![],
            arbitrage: vec![],
        };
        assert!(matches!(plot_fit_png(&png, &empty), Err(PlotError::Empty)));
    }
}
