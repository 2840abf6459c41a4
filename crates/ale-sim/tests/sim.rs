//! Integration tests of the simulator: determinism across thread counts, conservation of value,
//! a hand-built crash with a known loss, the historical replay against the data.

use ale_core::{AccountId, Amount, OptionKind, Rounding, Timestamp};
use ale_liquidation::{Bidder, Holder, LiquidationParams};
use ale_pricing::Black76;
use ale_sim::books::Books;
use ale_sim::path::MarketPath;
use ale_sim::sim::policy_run;
use ale_sim::venue::{market, option, SurfaceState};
use ale_sim::{
    calibrate, data, parse_param, population, report, run_backtest, standard_policies,
    BacktestSpec, DataSet, SimConfig,
};

fn data() -> DataSet {
    DataSet::locate(None).expect("the shared data or the excerpt under tests/data")
}

fn small(scenario: &str, policies: Vec<ale_sim::PolicyRun>, accounts: usize) -> BacktestSpec {
    BacktestSpec {
        scenario: scenario.into(),
        policies,
        paths: 1,
        config: SimConfig {
            accounts,
            seed: 11,
            ..SimConfig::default()
        },
    }
}

#[test]
fn same_seed_same_report_on_one_and_two_threads() {
    let data = data();
    let spec = small(
        "stress",
        vec![policy_run("static").unwrap(), policy_run("ramm").unwrap()],
        40,
    );
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let bt = run_backtest(&spec, &data, &|| {}).unwrap();
                (report::backtest_html(&bt).unwrap(), bt.results)
            })
    };
    let (html1, r1) = run(1);
    let (html2, r2) = run(2);
    assert_eq!(r1, r2);
    assert_eq!(html1, html2);
    assert!(html1.contains("<svg"), "the report has plots");
    // A different seed gives a different run (the test can fail).
    let mut other = spec.clone();
    other.config.seed = 12;
    let r3 = run_backtest(&other, &data, &|| {}).unwrap().results;
    assert_ne!(r1, r3);
}

#[test]
fn value_is_conserved_for_every_policy_through_a_crash() {
    let data = data();
    let bt = run_backtest(&small("stress", standard_policies(), 60), &data, &|| {}).unwrap();
    for r in &bt.results[0] {
        assert!(r.metrics.conserved, "{}: ledger does not balance", r.label);
        assert!(
            r.metrics.ledger_ops > 60,
            "{}: the run moved money",
            r.label
        );
        assert!(r.metrics.steps > 700, "{}", r.label);
    }
    // The crash liquidates someone under at least one policy.
    assert!(bt.results[0].iter().any(|r| r.metrics.liquidations > 0));
}

#[test]
fn one_naked_short_call_one_jump_loses_what_the_hand_says() {
    let t0 = Timestamp::parse_rfc3339("2026-01-02T00:00:00Z").unwrap();
    let state = SurfaceState {
        iv: 0.5,
        iv_base: 0.5,
    };
    let m0 = market(t0, 100_000.0, &state).unwrap();
    let expiry = ale_sim::venue::listed_expiries(t0)
        .into_iter()
        .find(|e| e.years_from(t0) > 20.0 / 365.0)
        .unwrap();
    let call = option(expiry, 110_000.0, OptionKind::Call).unwrap();
    let mut books = Books::new();
    let id = AccountId::new("naked").unwrap();
    let h = books.trader(&id);
    let capital = 1_000.0;
    books
        .deposit(h, Amount::from_f64(capital, Rounding::Down).unwrap())
        .unwrap();
    let (premium, _) = ale_sim::venue::mark_delta(&call, &m0).unwrap();
    books.trade(h, &call, -1.0, premium, 0.0).unwrap();
    let fund = books.fund;
    books.deposit(fund, Amount::from_units(1_000_000)).unwrap();
    let liq = books.holder(&Holder::Liquidator("l".into()));
    books.deposit(liq, Amount::from_units(10_000_000)).unwrap();
    // One jump: spot doubles an hour later.
    let t1 = Timestamp::from_unix_seconds(t0.unix_seconds() + 3_600).unwrap();
    let m1 = market(t1, 200_000.0, &state).unwrap();
    // By hand: cash = capital + premium received (rounded down); the call at S = 200,000 is
    // Black-76 at the smile's vol at k = ln(110/200); equity = cash − value < 0 is the loss.
    let t = expiry.years_from(t1);
    let k = (110_000f64 / 200_000.0).ln();
    let w = ale_sim::venue::smile(&state, t).unwrap().total_variance(k);
    let vol = (w / t).sqrt();
    let value = Black76::new(OptionKind::Call, 200_000.0, 110_000.0, t, vol, 0.0)
        .unwrap()
        .price();
    let cash = books.cash_of(h).to_f64();
    assert!((cash - capital - premium).abs() < 1e-6);
    let hand_loss = value - cash;
    assert!(hand_loss > 80_000.0, "{hand_loss}");
    let bidders = vec![Bidder {
        name: "l".into(),
        owner: "other".into(),
        max_price_fraction: 0.95,
        insolvent_premium_fraction: 0.1,
        max_share: 1.0,
    }];
    let fund_before = books.cash_of(fund).to_f64();
    let r = ale_sim::liq::liquidate(
        &mut books,
        &id,
        ale_risk::policy_by_name("static", None).unwrap(),
        &m1,
        &LiquidationParams::default(),
        &bidders,
        0.0,
        t1,
    )
    .unwrap();
    assert!(r.flagged && r.closed, "{r:?}");
    assert!(
        (r.bad_debt_usd - hand_loss).abs() < 1e-6 * hand_loss,
        "{} vs {hand_loss}",
        r.bad_debt_usd
    );
    // The fund paid at least the loss (plus the bidder's insolvent premium), nothing was
    // socialised (the fund was large enough), and the ledger balances.
    let paid = fund_before - books.cash_of(fund).to_f64();
    assert!(
        paid >= hand_loss - 1e-3,
        "fund paid {paid}, loss {hand_loss}"
    );
    assert!(books.cash_of(books.socialised).is_zero());
    assert!(books.holdings(h).iter().all(|x| x.qty.is_zero()));
    books.audit().unwrap();
}

#[test]
fn the_historical_replay_reproduces_the_data_returns() {
    let data = data();
    let cal = calibrate(&data);
    let sc = ale_sim::scenario::by_name("covid-2020").unwrap();
    let path: MarketPath = ale_sim::path::build(sc, &data, &cal, 3, 0).unwrap();
    let (from, to) = path.span();
    let bars: Vec<_> = data
        .btc_hourly
        .iter()
        .filter(|b| b.time_s >= from && b.time_s <= to)
        .collect();
    assert!(bars.len() > 700, "{}", bars.len());
    for w in bars.windows(2) {
        let data_return = (w[1].close / w[0].close).ln();
        let i0 = path
            .times_s
            .binary_search(&w[0].time_s)
            .expect("bar time on the path");
        let i1 = path
            .times_s
            .binary_search(&w[1].time_s)
            .expect("bar time on the path");
        let path_return = (path.spot[i1] / path.spot[i0]).ln();
        assert_eq!(path_return, data_return, "at {}", w[1].time_s);
    }
    // The crash window is sub-hour, and the bridge keeps the hourly closes exactly.
    let fine = path
        .times_s
        .windows(2)
        .filter(|w| w[0] >= path.crash.0 && w[1] <= path.crash.1)
        .all(|w| w[1] - w[0] == ale_sim::path::FINE_STEP_S);
    assert!(fine);
    // The 12 March 2020 fall is in it.
    let lo = path.spot.iter().copied().fold(f64::MAX, f64::min);
    assert!(lo < 4_500.0, "{lo}");
}

#[test]
fn bad_input_is_an_error_naming_it() {
    let data = data();
    let e = run_backtest(&small("no-such", standard_policies(), 5), &data, &|| {}).unwrap_err();
    assert!(e.to_string().contains("unknown scenario 'no-such'"), "{e}");
    for bad in [
        "z_price",
        "z_price=1:2",
        "z_price=a:2:3",
        "z_price=2:1:3",
        "=1:2:3",
        "z_price=1:2:0",
    ] {
        let e = parse_param(bad).unwrap_err().to_string();
        assert!(e.contains("--param"), "{bad}: {e}");
    }
    let p = parse_param("z_price=3:7:5").unwrap();
    assert_eq!(p.values, vec![3.0, 4.0, 5.0, 6.0, 7.0]);
    assert!(population::population(0, 1).is_err());
    let e = ale_sim::sim::policy_run("nope").unwrap_err().to_string();
    assert!(e.contains("unknown 'nope'"), "{e}");
}

#[test]
fn the_calibration_fits_iv_on_realised_vol_when_the_data_has_dvol_years() {
    let data = data();
    let cal = calibrate(&data);
    if data.dvol.len() < 300 {
        // Only the excerpt: the defaults (documented) are used.
        assert_eq!(cal.iv_model.n, 0);
        return;
    }
    assert!(cal.iv_model.n > 900, "{}", cal.iv_model.n);
    eprintln!("{cal:#?}");
    assert!(
        cal.iv_model.b > 0.0 && cal.iv_model.r2 > 0.3,
        "{:?}",
        cal.iv_model
    );
    assert!(
        cal.spot_vol_corr.abs() < 1.0
            && cal.svj.rho == cal.spot_vol_corr_down.clamp(-0.95, 0.95)
            && cal.svj.vol_jump_beta < 0.0,
        "{cal:?}"
    );
    assert!(cal.jumps > 5 && cal.svj.jump_rate > 0.5, "{cal:?}");
}

#[test]
fn data_files_parse_and_keep_their_rows() {
    let data = data();
    assert!(data.btc_daily.windows(2).all(|w| w[0].time_s < w[1].time_s));
    let text = "open_time_utc,open,high,low,close\n2020-01-01T00:00:00Z,1,2,0.5,1.5\n";
    let bars = data::parse_bars("x.csv", text, 3_600).unwrap();
    assert_eq!(bars[0].close, 1.5);
    assert_eq!(bars[0].time_s, 1_577_836_800 + 3_600);
    let e = data::parse_bars("x.csv", "h\n2020-01-01,1,2,x,1\n", 86_400).unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[test]
fn the_chain_lists_dailies_weeklies_monthlies_and_quarterlies() {
    use chrono::Datelike;
    let now = Timestamp::parse_rfc3339("2026-01-02T09:00:00Z").unwrap();
    let e = ale_sim::venue::listed_expiries(now);
    assert!(e.windows(2).all(|w| w[0] < w[1]));
    assert!(e.iter().all(|x| !x.has_expired(now)));
    // 3 Jan (daily) first: 2 Jan 08:00 has passed.
    assert_eq!(e[0].to_string(), "3JAN26");
    let fridays = e
        .iter()
        .filter(|x| x.date().weekday() == chrono::Weekday::Fri)
        .count();
    assert!(fridays >= 6, "{e:?}");
    assert!(
        e.iter().any(|x| x.to_string() == "27MAR26"),
        "a quarterly: {e:?}"
    );
    assert!(
        e.iter().any(|x| x.to_string() == "26JUN26"),
        "a quarterly: {e:?}"
    );
    assert_eq!(ale_sim::venue::strike_step(95_000.0), 2_500.0);
    assert_eq!(ale_sim::venue::strike_step(3_800.0), 100.0);
    let chain = ale_sim::venue::chain(now, 95_000.0).unwrap();
    assert!(chain.len() > 200, "{}", chain.len());
    // The surface's ATM vol at 30 days is the state's level; the skew steepens with vol.
    let calm = SurfaceState {
        iv: 0.5,
        iv_base: 0.5,
    };
    let storm = SurfaceState {
        iv: 1.5,
        iv_base: 0.5,
    };
    assert!((calm.atm_vol(30.0 / 365.0) - 0.5).abs() < 1e-12);
    assert!(storm.skew_rho() < calm.skew_rho());
    assert!(
        storm.atm_vol(2.0 / 365.0) > storm.atm_vol(90.0 / 365.0),
        "inverted in a storm"
    );
    let m = market(now, 95_000.0, &storm).unwrap();
    let u = m.underlyings().next().unwrap();
    // At every listed expiry the surface's ATM vol is the state's (between them the surface
    // interpolates in total variance).
    for x in &e {
        let t = x.years_from(now);
        assert!((u.atm_vol(t) - storm.atm_vol(t)).abs() < 1e-9, "{x}");
    }
}

#[test]
fn a_bridge_keeps_its_ends() {
    let mut rng = ale_sim::rng::stream(1, 2);
    let inner = ale_sim::path::bridge(1.0, 2.0, 60, 0.01, &mut rng);
    assert_eq!(inner.len(), 59);
    let mut rng2 = ale_sim::rng::stream(1, 2);
    assert_eq!(inner, ale_sim::path::bridge(1.0, 2.0, 60, 0.01, &mut rng2));
    // The last interior point is one step from the end.
    assert!((inner[58] - 2.0).abs() < 0.1);
    // Counter-based draws do not depend on the order they are asked in.
    let a = ale_sim::rng::uniform_at(5, 9, 1_000);
    let _ = ale_sim::rng::uniform_at(5, 9, 3);
    assert_eq!(a, ale_sim::rng::uniform_at(5, 9, 1_000));
    assert!((0.0..1.0).contains(&a));
}
