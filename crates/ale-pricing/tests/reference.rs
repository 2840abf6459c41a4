//! The golden tables of `scripts/black76_reference.py` (mpmath, 60 digits) against this crate:
//! prices, all six Greeks, the batch path and the normal distribution.

use ale_pricing::batch::{self, GreeksOut, Options};
use ale_pricing::{norm_cdf, norm_pdf, Black76, Greeks, OptionKind};

const NAMES: [&str; 7] = ["price", "delta", "gamma", "vega", "theta", "vanna", "volga"];

struct Row {
    option: Black76,
    reference: [f64; 7],
}

fn parse_f64(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("bad number {s:?}"))
}

fn load_black76() -> Vec<Row> {
    let text = include_str!("data/black76_reference.csv");
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "kind,forward,strike,t,vol,rate,price,delta,gamma,vega,theta,vanna,volga"
    );
    lines
        .map(|line| {
            let cols: Vec<&str> = line.split(',').collect();
            assert_eq!(cols.len(), 13, "{line}");
            let kind = match cols[0] {
                "call" => OptionKind::Call,
                "put" => OptionKind::Put,
                other => panic!("bad kind {other}"),
            };
            let v: Vec<f64> = cols[1..].iter().map(|c| parse_f64(c)).collect();
            Row {
                option: Black76::new(kind, v[0], v[1], v[2], v[3], v[4]).unwrap(),
                reference: v[5..12].try_into().unwrap(),
            }
        })
        .collect()
}

fn as_array(g: &Greeks) -> [f64; 7] {
    [g.price, g.delta, g.gamma, g.vega, g.theta, g.vanna, g.volga]
}

/// The scale below which a Greek is compared absolutely: the natural unit of each output
/// (`F` for price, vega, theta, volga; 1 for delta; `1/F` for gamma and vanna) times 1e-15.
fn absolute_floor(which: usize, forward: f64) -> f64 {
    match which {
        0 | 3 | 4 | 6 => 1e-15 * forward,
        1 => 1e-15,
        _ => 1e-15 / forward,
    }
}

#[test]
fn prices_match_the_reference_to_1e_12_relative() {
    let rows = load_black76();
    assert!(rows.len() > 6000);
    let mut worst_rel = 0.0f64;
    let mut worst_abs = 0.0f64;
    for row in &rows {
        let o = &row.option;
        let got = o.price();
        let want = row.reference[0];
        if want >= 1e-10 * o.forward {
            let rel = (got - want).abs() / want;
            worst_rel = worst_rel.max(rel);
            assert!(rel <= 1e-12, "{o:?}: price {got} vs {want} (rel {rel:e})");
        } else {
            let abs = (got - want).abs() / o.forward;
            worst_abs = worst_abs.max(abs);
            assert!(abs <= 1e-15, "{o:?}: price {got} vs {want} (abs/F {abs:e})");
        }
    }
    eprintln!("price: worst relative {worst_rel:e} (>= 1e-10 F), worst absolute/F {worst_abs:e}");
}

#[test]
fn greeks_match_the_reference() {
    // Relative error above the floor of `absolute_floor`. Price to theta: 1e-13 (measured worst
    // 5e-14, theta's two terms can cancel). Vanna and volga: 1e-11 (measured worst 4.5e-12),
    // they are proportional to d2 and d1·d2, which vanish on the grid's near-money rows, where
    // the rounding of d1 = x/s + s/2 is large relative to d1 itself.
    const TOLERANCE: [f64; 7] = [1e-13, 1e-13, 1e-13, 1e-13, 1e-13, 1e-11, 1e-11];
    let rows = load_black76();
    let mut worst = [0.0f64; 7];
    for row in &rows {
        let o = &row.option;
        let got = as_array(&o.greeks());
        for j in 0..7 {
            let want = row.reference[j];
            let floor = absolute_floor(j, o.forward);
            let err = (got[j] - want).abs() / want.abs().max(floor);
            worst[j] = worst[j].max(err);
            assert!(
                err <= TOLERANCE[j],
                "{o:?}: {} {} vs {} (err {err:e})",
                NAMES[j],
                got[j],
                want
            );
        }
    }
    for j in 0..7 {
        eprintln!("{}: worst error {:e}", NAMES[j], worst[j]);
    }
}

#[test]
fn batch_path_reproduces_the_scalar_path_on_the_whole_table() {
    let rows = load_black76();
    let col = |f: fn(&Black76) -> f64| rows.iter().map(|r| f(&r.option)).collect::<Vec<_>>();
    let kind: Vec<OptionKind> = rows.iter().map(|r| r.option.kind).collect();
    let (forward, strike, t, vol, rate) = (
        col(|o| o.forward),
        col(|o| o.strike),
        col(|o| o.expiry_years),
        col(|o| o.vol),
        col(|o| o.rate),
    );
    let options = Options {
        kind: &kind,
        forward: &forward,
        strike: &strike,
        expiry_years: &t,
        vol: &vol,
        rate: &rate,
    };
    let n = rows.len();
    let mut prices = vec![0.0; n];
    batch::price(&options, &mut prices).unwrap();
    let mut cols = vec![vec![0.0; n]; 7];
    let [p, d, g, v, th, va, vo] = &mut cols[..] else {
        unreachable!()
    };
    let mut out = GreeksOut {
        price: p,
        delta: d,
        gamma: g,
        vega: v,
        theta: th,
        vanna: va,
        volga: vo,
    };
    batch::price_greeks(&options, &mut out).unwrap();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(prices[i].to_bits(), row.option.price().to_bits());
        let scalar = as_array(&row.option.greeks());
        for (j, c) in cols.iter().enumerate() {
            assert_eq!(c[i].to_bits(), scalar[j].to_bits(), "{} row {i}", NAMES[j]);
        }
    }
}

#[test]
fn normal_distribution_matches_the_reference() {
    let text = include_str!("data/norm_reference.csv");
    let mut worst_cdf = 0.0f64;
    let mut worst_pdf = 0.0f64;
    for line in text.lines().skip(1) {
        let v: Vec<f64> = line.split(',').map(parse_f64).collect();
        let (x, cdf, pdf) = (v[0], v[1], v[2]);
        // relative, down to the normal range (subnormal results carry fewer digits)
        if cdf >= f64::MIN_POSITIVE {
            let rel = (norm_cdf(x) - cdf).abs() / cdf;
            worst_cdf = worst_cdf.max(rel);
            assert!(rel <= 1e-15, "N({x}) = {} vs {cdf} ({rel:e})", norm_cdf(x));
        } else {
            assert!(
                (norm_cdf(x) - cdf).abs() <= 1e-3 * cdf.max(1e-320),
                "N({x})"
            );
        }
        if pdf >= f64::MIN_POSITIVE {
            let rel = (norm_pdf(x) - pdf).abs() / pdf;
            worst_pdf = worst_pdf.max(rel);
            assert!(rel <= 1e-15, "φ({x}) = {} vs {pdf} ({rel:e})", norm_pdf(x));
        }
    }
    eprintln!("norm_cdf worst relative {worst_cdf:e}, norm_pdf {worst_pdf:e}");
}
