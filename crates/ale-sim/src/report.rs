//! The report: one self-contained HTML file (inline SVG plots drawn with `plotters`, inline
//! CSS, no scripts, no fonts or files fetched) and the summary figures the CLI prints as JSON.

use std::fmt::Write as _;

use plotters::prelude::*;

use crate::backtest::{Backtest, SweepResult};
use crate::error::SimError;

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn plot_err(e: impl std::fmt::Display) -> SimError {
    SimError::Report(e.to_string())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A line chart of named series over x (days from the start) as an SVG string.
pub fn line_chart(
    title: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<String, SimError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (860, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let pts = series
            .iter()
            .flat_map(|(_, p)| p.iter())
            .filter(|(x, y)| x.is_finite() && y.is_finite());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (x, y) in pts {
            x0 = x0.min(*x);
            x1 = x1.max(*x);
            y0 = y0.min(*y);
            y1 = y1.max(*y);
        }
        if !(x1 > x0) {
            x1 = x0.max(0.0) + 1.0;
            x0 = x1 - 1.0;
        }
        if !(y1 > y0) {
            y1 = if y0.is_finite() && y0 != f64::MAX {
                y0 + 1.0
            } else {
                1.0
            };
            y0 = y1 - 2.0;
        }
        let pad = (y1 - y0) * 0.05;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("days")
            .y_desc(y_label)
            .draw()
            .map_err(plot_err)?;
        for (i, (name, points)) in series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// A horizontal bar chart (one bar per policy) as an SVG string.
pub fn bar_chart(title: &str, bars: &[(String, f64)]) -> String {
    let (w, row) = (860.0, 26.0);
    let h = 40.0 + row * bars.len() as f64;
    let max = bars
        .iter()
        .map(|b| b.1.abs())
        .fold(0.0, f64::max)
        .max(1e-12);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\"><text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-family=\"sans-serif\" font-size=\"14\">{}</text>",
        w / 2.0,
        escape(title)
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = 30.0 + row * i as f64;
        let len = 560.0 * v.abs() / max;
        let colour = COLOURS[i % COLOURS.len()];
        let _ = write!(
            svg,
            "<text x=\"150\" y=\"{}\" text-anchor=\"end\" font-family=\"sans-serif\" font-size=\"12\">{}</text>\
             <rect x=\"160\" y=\"{y}\" width=\"{len:.1}\" height=\"{}\" fill=\"rgb({},{},{})\"/>\
             <text x=\"{:.1}\" y=\"{}\" font-family=\"sans-serif\" font-size=\"12\">{}</text>",
            y + 15.0,
            escape(label),
            row - 6.0,
            colour.0,
            colour.1,
            colour.2,
            166.0 + len,
            y + 15.0,
            fmt_num(*v)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn days(t: i64, t0: i64) -> f64 {
    (t - t0) as f64 / 86_400.0
}

const STYLE: &str = "body{font-family:sans-serif;margin:24px;max-width:1000px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}";

/// The metrics table rows: (name, unit, getter).
type Row = (&'static str, fn(&crate::sim::Metrics) -> f64);
const ROWS: &[Row] = &[
    ("bad debt, USD", |m| m.bad_debt_usd),
    ("largest bad debt of one account, USD", |m| {
        m.bad_debt_max_account_usd
    }),
    ("insurance fund drawdown, USD", |m| m.fund_drawdown_usd),
    ("insurance fund at the end, USD", |m| m.fund_end_usd),
    ("socialised loss, USD", |m| m.socialised_loss_usd),
    ("liquidations", |m| m.liquidations as f64),
    ("accounts closed", |m| m.closed_accounts as f64),
    ("liquidated notional, USD", |m| m.liquidated_notional_usd),
    ("penalties paid by traders, USD", |m| m.penalties_usd),
    ("liquidations not needed", |m| {
        m.unneeded_liquidations as f64
    }),
    ("initial margin per unit of notional", |m| {
        m.margin_per_notional
    }),
    ("breach to restored, mean, minutes", |m| {
        m.breach_to_restored_mean_s / 60.0
    }),
    ("breach to restored, max, minutes", |m| {
        m.breach_to_restored_max_s / 60.0
    }),
    ("top-ups", |m| m.topups as f64),
    ("accounts opened during the run", |m| m.arrivals as f64),
    ("ledger operations", |m| m.ledger_ops as f64),
];

/// The tier rows: what each liquidation tier took and what each step of the loss waterfall
/// paid.
const TIER_ROWS: &[Row] = &[
    ("tier 1: notional taken by the insurance fund, USD", |m| {
        m.tiers.backstop_fund_notional
    }),
    ("tier 1: notional taken by backstop pools, USD", |m| {
        m.tiers.backstop_pool_notional
    }),
    ("tier 2: notional sold in auctions, USD", |m| {
        m.tiers.auction_notional
    }),
    ("tier 3: notional sold into the book, USD", |m| {
        m.tiers.market_notional
    }),
    ("fund's final takes, notional, USD", |m| {
        m.tiers.fund_take_notional
    }),
    ("waterfall: paid from the accounts' cash, USD", |m| {
        m.tiers.loss_account_cash
    }),
    ("waterfall: paid from their other collateral, USD", |m| {
        m.tiers.loss_account_collateral
    }),
    ("waterfall: insurance fund, USD", |m| {
        m.tiers.loss_insurance_fund
    }),
    ("waterfall: backstop credit, USD", |m| {
        m.tiers.loss_backstop_credit
    }),
    ("waterfall: socialised, USD", |m| m.tiers.loss_socialised),
    ("credit premiums earned, USD", |m| m.tiers.credit_premiums),
    ("insurance fund P&L, USD", |m| {
        m.fund_end_usd - m.fund_start_usd
    }),
    ("backstop pools P&L, USD", |m| m.pools_pnl_usd),
    ("liquidators P&L, USD", |m| m.liquidators_pnl_usd),
    ("credit providers P&L, USD", |m| m.credit_pnl_usd),
];

/// The HTML report of a backtest.
pub fn backtest_html(bt: &Backtest) -> Result<String, SimError> {
    let mut h = String::new();
    let path = &bt.path;
    let t0 = path.times_s[0];
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>ALE backtest: {name}</title><style>{STYLE}</style></head><body>\
         <h1>Backtest: {name}</h1><p>{desc}</p><p>Path: {src}. Seed {seed}, {acc} accounts ({arr:.0} % opening during the run, \
         {coin:.0} % posting coin collateral), underlyings {unds}, {paths} path(s); \
         crash window (sub-hour path, keeper every {cs} s) from day {c0:.2} to {c1:.2}. Tier 2: {auction} auction; \
         {pools} backstop pool(s), {providers} backstop-credit provider(s).</p>",
        name = escape(bt.scenario.name),
        desc = escape(bt.scenario.description),
        src = escape(&path.source),
        seed = bt.spec.config.seed,
        acc = bt.spec.config.accounts,
        paths = bt.results.len(),
        cs = bt.spec.config.crash_step_s,
        c0 = days(path.crash.0, t0),
        c1 = days(path.crash.1, t0),
        arr = 100.0 * bt.spec.config.arrivals,
        coin = 100.0 * bt.spec.config.coin_collateral,
        unds = escape(&bt.spec.config.underlyings.join(", ")),
        auction = bt.spec.config.auction.name(),
        pools = bt.spec.config.backstop_pools,
        providers = bt.spec.config.credit_providers,
    );
    for (label, why) in &bt.skipped {
        let _ = write!(
            h,
            "<p><b>{}</b> was not run: {}</p>",
            escape(label),
            escape(why)
        );
    }
    // Policies side by side (mean over paths).
    h.push_str("<h2>Policies side by side</h2><table><tr><th>metric</th>");
    for r in &bt.results[0] {
        let _ = write!(h, "<th>{}</th>", escape(&r.label));
    }
    h.push_str("</tr>");
    let n = bt.results.len() as f64;
    for (name, get) in ROWS {
        let _ = write!(h, "<tr><td>{name}</td>");
        for q in 0..bt.results[0].len() {
            let v = bt.results.iter().map(|p| get(&p[q].metrics)).sum::<f64>() / n;
            let _ = write!(h, "<td>{}</td>", fmt_num(v));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    h.push_str("<h2>Liquidation tiers and the loss waterfall</h2><table><tr><th>tier</th>");
    for r in &bt.results[0] {
        let _ = write!(h, "<th>{}</th>", escape(&r.label));
    }
    h.push_str("</tr>");
    for (name, get) in TIER_ROWS {
        let _ = write!(h, "<tr><td>{name}</td>");
        for q in 0..bt.results[0].len() {
            let v = bt.results.iter().map(|p| get(&p[q].metrics)).sum::<f64>() / n;
            let _ = write!(h, "<td>{}</td>", fmt_num(v));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    for (name, get) in [ROWS[0], ROWS[2], ROWS[5], ROWS[9], ROWS[10]] {
        let bars: Vec<(String, f64)> = (0..bt.results[0].len())
            .map(|q| {
                let v = bt.results.iter().map(|p| get(&p[q].metrics)).sum::<f64>() / n;
                (bt.results[0][q].label.clone(), v)
            })
            .collect();
        h.push_str(&bar_chart(name, &bars));
    }
    let step = (path.times_s.len() / 2_000).max(1);
    h.push_str("<h2>Price and implied vol</h2>");
    for up in &path.underlyings {
        let spot: Vec<(f64, f64)> = path
            .times_s
            .iter()
            .zip(&up.spot)
            .step_by(step)
            .map(|(t, s)| (days(*t, t0), *s))
            .collect();
        let iv: Vec<(f64, f64)> = path
            .times_s
            .iter()
            .zip(&up.iv)
            .step_by(step)
            .map(|(t, v)| (days(*t, t0), *v))
            .collect();
        h.push_str(&line_chart(
            &format!("{} spot", up.asset),
            "USD",
            &[("spot".into(), spot)],
        )?);
        h.push_str(&line_chart(
            &format!("{} 30-day ATM implied vol", up.asset),
            "vol",
            &[("IV".into(), iv)],
        )?);
    }
    h.push_str("<h2>Insurance fund</h2>");
    let fund: Vec<(String, Vec<(f64, f64)>)> = bt.results[0]
        .iter()
        .map(|r| {
            (
                r.label.clone(),
                r.times_s
                    .iter()
                    .zip(&r.fund)
                    .map(|(t, f)| (days(*t, t0), *f))
                    .collect(),
            )
        })
        .collect();
    h.push_str(&line_chart(
        "insurance fund (cash), first path",
        "USD",
        &fund,
    )?);
    h.push_str("<h2>Equity against maintenance margin, worst accounts</h2>");
    for r in &bt.results[0] {
        for a in &r.worst {
            let eq: Vec<(f64, f64)> = r
                .times_s
                .iter()
                .zip(&a.equity)
                .map(|(t, e)| (days(*t, t0), f64::from(*e)))
                .collect();
            let mm: Vec<(f64, f64)> = r
                .times_s
                .iter()
                .zip(&a.maintenance)
                .map(|(t, e)| (days(*t, t0), f64::from(*e)))
                .collect();
            h.push_str(&line_chart(
                &format!(
                    "{}: {} ({}, {})",
                    r.label, a.account, a.strategy, a.underlyings
                ),
                "USD",
                &[("equity".into(), eq), ("maintenance margin".into(), mm)],
            )?);
        }
    }
    let c = &bt.calibration;
    let _ = write!(
        h,
        "<h2>Calibration</h2><p>IV model ln IV = {:.3} + {:.3} ln RV30 + {:.3} r (R² {:.3}, n {}); spot–vol β {:.3}, corr {:.3} (down days {:.3}); \
         jumps {:.2}/year, mean {:.3}, sd {:.3}, vol-jump β {:.3}; κ {:.2}, ξ {:.2}, vol level {:.3}, IV/RV {:.3}. \
         ETH against BTC: correlation {:.3} daily ({} days), {:.3} hourly ({} hours), β {:.3}, vol ratio {:.3}; \
         on BTC's {} jump days ETH moves {:.3}× BTC (residual sd {:.3}).</p></body></html>",
        c.iv_model.a, c.iv_model.b, c.iv_model.c, c.iv_model.r2, c.iv_model.n, c.spot_vol_beta, c.spot_vol_corr, c.spot_vol_corr_down,
        c.svj.jump_rate, c.svj.jump_mean, c.svj.jump_sd, c.svj.vol_jump_beta, c.svj.kappa, c.svj.xi, c.svj.vol_level, c.svj.vrp,
        c.eth.corr_daily, c.eth.days, c.eth.corr_hourly, c.eth.hours, c.eth.beta, c.eth.vol_ratio,
        c.eth.jump_days, c.eth.jump_beta, c.eth.jump_resid_sd
    );
    Ok(h)
}

fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
    }
}

/// The HTML report of a sweep: the frontier of capital efficiency against bad debt.
pub fn sweep_html(s: &SweepResult) -> Result<String, SimError> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>ALE sweep</title><style>{STYLE}</style></head><body>\
         <h1>Sweep of {} on {}</h1>",
        escape(&s.policy),
        escape(&s.scenario)
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (860, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let xs = s.points.iter().map(|p| p.margin_per_notional);
        let ys = s.points.iter().map(|p| p.bad_debt_usd);
        let (x0, x1) = (
            xs.clone().fold(f64::MAX, f64::min),
            xs.fold(f64::MIN, f64::max),
        );
        let (y0, y1) = (
            ys.clone().fold(f64::MAX, f64::min),
            ys.fold(f64::MIN, f64::max),
        );
        let (x0, x1) = if x1 > x0 {
            (x0, x1)
        } else {
            (x0 - 0.01, x0 + 0.01)
        };
        let (y0, y1) = if y1 > y0 {
            (y0, y1)
        } else {
            (y0 - 1.0, y0 + 1.0)
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "bad debt against margin held per unit of notional",
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(80)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("IM / notional")
            .y_desc("bad debt, USD")
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(s.points.iter().map(|p| {
                Circle::new(
                    (p.margin_per_notional, p.bad_debt_usd),
                    4,
                    if p.non_dominated {
                        RED.filled()
                    } else {
                        BLUE.filled()
                    },
                )
            }))
            .map_err(plot_err)?;
        let mut front: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|p| p.non_dominated)
            .map(|p| (p.margin_per_notional, p.bad_debt_usd))
            .collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(front, RED.stroke_width(2)))
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    h.push_str(&svg);
    h.push_str("<h2>Settings</h2><table><tr><th>setting</th><th>IM / notional</th><th>bad debt, USD</th><th>liquidations</th><th>non-dominated</th></tr>");
    for p in &s.points {
        let name = p
            .setting
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{:.4}</td><td>{:.0}</td><td>{:.1}</td><td>{}</td></tr>",
            escape(&name),
            p.margin_per_notional,
            p.bad_debt_usd,
            p.liquidations,
            if p.non_dominated { "yes" } else { "" }
        );
    }
    h.push_str("</table></body></html>");
    Ok(h)
}
