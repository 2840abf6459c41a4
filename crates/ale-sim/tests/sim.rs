//! Integration tests of the simulator: determinism across thread counts, conservation of value,
//! a hand-built crash with a known loss, the historical replay against the data.

use ale_core::{AccountId, Amount, OptionKind, Rounding, Timestamp};
use ale_liquidation::{Bidder, Holder, LiquidationParams};
use ale_pricing::Black76;
use ale_sim::books::Books;
use ale_sim::liq::Venue;
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
    let call = option("BTC", expiry, 110_000.0, OptionKind::Call).unwrap();
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
        &Venue::simple(
            LiquidationParams {
                certificate_gate: ale_liquidation::CertificateGate::off(),
                ..LiquidationParams::default()
            },
            bidders,
            0.0,
        ),
        t1,
        None,
    )
    .unwrap();
    assert!(r.flagged && r.closed, "{r:?}");
    // The account's negative equity is the hand's loss; the bad debt is what the fund paid
    // for it: that loss and the insolvent auction's premium to the bidder.
    assert!(
        (-r.equity_before - hand_loss).abs() < 1e-6 * hand_loss,
        "{} vs {hand_loss}",
        -r.equity_before
    );
    assert!(r.bad_debt_usd >= hand_loss - 1e-6, "{r:?}");
    assert!(r.bad_debt_usd < hand_loss * 1.2, "{r:?}");
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
    let path: MarketPath =
        ale_sim::path::build(sc, &data, &cal, 3, 0, &["BTC".into(), "ETH".into()]).unwrap();
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
        let path_return = (path.underlyings[0].spot[i1] / path.underlyings[0].spot[i0]).ln();
        assert_eq!(path_return, data_return, "at {}", w[1].time_s);
    }
    // ETH's too, on the same grid.
    let eth: Vec<_> = data
        .eth_hourly
        .iter()
        .filter(|b| b.time_s >= from && b.time_s <= to)
        .collect();
    assert_eq!(eth.len(), bars.len());
    for w in eth.windows(2) {
        let i0 = path.times_s.binary_search(&w[0].time_s).unwrap();
        let i1 = path.times_s.binary_search(&w[1].time_s).unwrap();
        let path_return = (path.underlyings[1].spot[i1] / path.underlyings[1].spot[i0]).ln();
        assert_eq!(path_return, (w[1].close / w[0].close).ln());
    }
    // The crash window is sub-hour, and the bridge keeps the hourly closes exactly.
    let fine = path
        .times_s
        .windows(2)
        .filter(|w| w[0] >= path.crash.0 && w[1] <= path.crash.1)
        .all(|w| w[1] - w[0] == ale_sim::path::FINE_STEP_S);
    assert!(fine);
    // The 12 March 2020 fall is in it.
    let lo = path.underlyings[0]
        .spot
        .iter()
        .copied()
        .fold(f64::MAX, f64::min);
    assert!(lo < 4_500.0, "{lo}");
    // ETH fell with it (its 13 March 2020 low was under 100).
    let lo_eth = path.underlyings[1]
        .spot
        .iter()
        .copied()
        .fold(f64::MAX, f64::min);
    assert!(lo_eth < 100.0, "{lo_eth}");
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
    let spec = ale_sim::PopulationSpec {
        accounts: 0,
        seed: 1,
        underlyings: 2,
        arrivals: 0.3,
        coin_collateral: 0.25,
    };
    assert!(population::population(&spec).is_err());
    assert!(population::population(&ale_sim::PopulationSpec {
        accounts: 5,
        arrivals: 1.5,
        ..spec
    })
    .is_err());
    let mut bad = small("stress", standard_policies(), 5);
    bad.config.underlyings = vec!["ETH".into()];
    let e = run_backtest(&bad, &data, &|| {}).unwrap_err().to_string();
    assert!(e.contains("underlyings"), "{e}");
    bad.config.underlyings = vec!["BTC".into(), "DOGE".into()];
    let e = run_backtest(&bad, &data, &|| {}).unwrap_err().to_string();
    assert!(e.contains("DOGE"), "{e}");
    let e = ale_sim::AuctionChoice::parse("english")
        .unwrap_err()
        .to_string();
    assert!(e.contains("auction"), "{e}");
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
    let chain = ale_sim::venue::chain(now, "BTC", 95_000.0).unwrap();
    assert!(chain.len() > 200, "{}", chain.len());
    // Dated futures at the listed Fridays (weeklies, monthlies, quarterlies), none at dailies.
    let futures: Vec<_> = chain
        .iter()
        .filter(|i| matches!(i, ale_core::Instrument::Future { .. }))
        .collect();
    assert!(futures.len() >= 6, "{futures:?}");
    assert!(futures
        .iter()
        .all(|f| f.expiry().unwrap().date().weekday() == chrono::Weekday::Fri));
    assert!(futures.iter().any(|f| f.to_string() == "BTC-27MAR26"));
    let eth_chain = ale_sim::venue::chain(now, "ETH", 3_300.0).unwrap();
    assert!(eth_chain.iter().any(|i| i.to_string() == "ETH-PERP"));
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

fn off_gate() -> LiquidationParams {
    LiquidationParams {
        certificate_gate: ale_liquidation::CertificateGate::off(),
        ..LiquidationParams::default()
    }
}

fn bidder(name: &str) -> Bidder {
    Bidder {
        name: name.into(),
        owner: "other".into(),
        max_price_fraction: 0.95,
        insolvent_premium_fraction: 0.1,
        max_share: 1.0,
    }
}

/// BTC and ETH markets at `t` with the given spots (calm surfaces, no basis).
fn two_markets(t: Timestamp, btc: f64, eth: f64) -> ale_market::MarketSnapshot {
    use ale_sim::venue::{market_of, UnderlyingState};
    let asset = |s: &str| ale_core::Asset::new(s).unwrap();
    let st = |name: &str, spot: f64| UnderlyingState {
        asset: asset(name),
        spot,
        surface: SurfaceState {
            iv: 0.5,
            iv_base: 0.5,
        },
        basis: 0.0,
    };
    market_of(t, &[st("BTC", btc), st("ETH", eth)]).unwrap()
}

/// Black-76 value of a call on the calm smile of `two_markets` (zero rate, no basis).
fn call_by_hand(spot: f64, strike: f64, t: f64) -> f64 {
    let state = SurfaceState {
        iv: 0.5,
        iv_base: 0.5,
    };
    let w = ale_sim::venue::smile(&state, t)
        .unwrap()
        .total_variance((strike / spot).ln());
    Black76::new(OptionKind::Call, spot, strike, t, (w / t).sqrt(), 0.0)
        .unwrap()
        .price()
}

#[test]
fn a_two_underlying_crash_loses_what_the_hand_says() {
    // One account: naked short calls on BTC and on ETH, USDC and ETH collateral; one jump
    // doubles both. The loss is both calls' Black-76 values minus the cash and the coins.
    let t0 = Timestamp::parse_rfc3339("2026-01-02T00:00:00Z").unwrap();
    let m0 = two_markets(t0, 100_000.0, 3_000.0);
    let expiry = ale_sim::venue::listed_expiries(t0)
        .into_iter()
        .find(|e| e.years_from(t0) > 20.0 / 365.0)
        .unwrap();
    let btc_call = option("BTC", expiry, 110_000.0, OptionKind::Call).unwrap();
    let eth_call = option("ETH", expiry, 3_300.0, OptionKind::Call).unwrap();
    let mut books = Books::new();
    let eth = ale_core::Asset::new("ETH").unwrap();
    books.set_coin_price(&eth, 3_000.0);
    let id = AccountId::new("both").unwrap();
    let h = books.trader(&id);
    books
        .deposit(h, Amount::from_f64(1_000.0, Rounding::Down).unwrap())
        .unwrap();
    let eth_unit = books.coin_unit(&eth);
    let coins = Amount::from_f64(0.2, Rounding::Down).unwrap();
    let mut legs = Vec::new();
    Books::leg(&mut legs, books.external, h, eth_unit, coins);
    books.apply(legs).unwrap();
    let (p_btc, _) = ale_sim::venue::mark_delta(&btc_call, &m0).unwrap();
    let (p_eth, _) = ale_sim::venue::mark_delta(&eth_call, &m0).unwrap();
    books.trade(h, &btc_call, -1.0, p_btc, 0.0).unwrap();
    books.trade(h, &eth_call, -10.0, p_eth, 0.0).unwrap();
    let fund = books.fund;
    books.deposit(fund, Amount::from_units(1_000_000)).unwrap();
    let liq = books.holder(&Holder::Liquidator("l".into()));
    books.deposit(liq, Amount::from_units(10_000_000)).unwrap();
    // The jump.
    let t1 = Timestamp::from_unix_seconds(t0.unix_seconds() + 3_600).unwrap();
    let m1 = two_markets(t1, 200_000.0, 6_000.0);
    books.set_coin_price(&eth, 6_000.0);
    let t = expiry.years_from(t1);
    let value = call_by_hand(200_000.0, 110_000.0, t) + 10.0 * call_by_hand(6_000.0, 3_300.0, t);
    let cash = books.cash_of(h).to_f64();
    assert!((cash - 1_000.0 - p_btc - 10.0 * p_eth).abs() < 1e-6);
    let hand_loss = value - cash - 0.2 * 6_000.0;
    assert!(hand_loss > 100_000.0, "{hand_loss}");
    let r = ale_sim::liq::liquidate(
        &mut books,
        &id,
        ale_risk::policy_by_name("ramm", None).unwrap(),
        &m1,
        &Venue::simple(off_gate(), vec![bidder("l")], 0.0),
        t1,
        None,
    )
    .unwrap();
    assert!(r.flagged && r.closed, "{r:?}");
    assert!(
        (-r.equity_before - hand_loss).abs() < 1e-6 * hand_loss,
        "{} vs {hand_loss}",
        -r.equity_before
    );
    assert!(r.bad_debt_usd >= hand_loss - 1e-6, "{r:?}");
    // Both books went (the notional of both), the account's own money paid first, then the
    // fund; nothing socialised; the ledger balances.
    assert!(r.notional_usd > 200_000.0 + 10.0 * 6_000.0 - 1.0, "{r:?}");
    assert!(r.tiers.loss_insurance_fund > 0.0, "{:?}", r.tiers);
    assert_eq!(r.tiers.loss_socialised, 0.0);
    assert!(books.holdings(h).iter().all(|x| x.qty.is_zero()));
    assert!(books.cash_of(books.socialised).is_zero());
    books.audit().unwrap();
}

#[test]
fn backstop_credit_pays_what_an_empty_fund_cannot() {
    // The naked short call of the hand-built crash, with an empty insurance fund and one credit
    // provider: the waterfall draws the loss from the provider, nothing is socialised.
    let t0 = Timestamp::parse_rfc3339("2026-01-02T00:00:00Z").unwrap();
    let m0 = two_markets(t0, 100_000.0, 3_000.0);
    let expiry = ale_sim::venue::listed_expiries(t0)
        .into_iter()
        .find(|e| e.years_from(t0) > 20.0 / 365.0)
        .unwrap();
    let call = option("BTC", expiry, 110_000.0, OptionKind::Call).unwrap();
    let mut books = Books::new();
    let id = AccountId::new("naked").unwrap();
    let h = books.trader(&id);
    books.deposit(h, Amount::from_units(1_000)).unwrap();
    let (premium, _) = ale_sim::venue::mark_delta(&call, &m0).unwrap();
    books.trade(h, &call, -1.0, premium, 0.0).unwrap();
    let liq = books.holder(&Holder::Liquidator("l".into()));
    books.deposit(liq, Amount::from_units(10_000_000)).unwrap();
    let cp = books.holder(&Holder::CreditProvider("credit".into()));
    books.deposit(cp, Amount::from_units(5_000_000)).unwrap();
    let t1 = Timestamp::from_unix_seconds(t0.unix_seconds() + 3_600).unwrap();
    let m1 = two_markets(t1, 200_000.0, 3_000.0);
    let mut venue = Venue::simple(off_gate(), vec![bidder("l")], 0.0);
    venue.providers = vec!["credit".into()];
    let r = ale_sim::liq::liquidate(
        &mut books,
        &id,
        ale_risk::policy_by_name("static", None).unwrap(),
        &m1,
        &venue,
        t1,
        None,
    )
    .unwrap();
    assert!(r.flagged && r.closed, "{r:?}");
    assert!(r.tiers.loss_backstop_credit > 0.9 * r.bad_debt_usd, "{r:?}");
    assert_eq!(r.tiers.loss_socialised, 0.0, "{r:?}");
    assert!(books.cash_of(books.socialised).is_zero());
    assert!(books.cash_of(cp).to_f64() < 5_000_000.0 - 0.9 * r.bad_debt_usd);
    books.audit().unwrap();
}

#[test]
fn a_dated_future_settles_its_pnl_at_expiry() {
    let t0 = Timestamp::parse_rfc3339("2026-01-02T00:00:00Z").unwrap();
    let e = ale_sim::venue::future_expiries(t0)[0];
    let f = ale_sim::venue::future("ETH", e).unwrap();
    let mut books = Books::new();
    let id = AccountId::new("fut").unwrap();
    let h = books.trader(&id);
    books.deposit(h, Amount::from_units(10_000)).unwrap();
    books.trade(h, &f, -2.0, 3_100.0, 0.0).unwrap();
    let at = e.instant().unix_seconds();
    // Not yet: nothing happens the second before.
    books.settle_expired(h, at - 1, |_, _| 2_900.0).unwrap();
    assert!(books.holdings(h).iter().any(|x| !x.qty.is_zero()));
    let short = books.settle_expired(h, at, |_, _| 2_900.0).unwrap();
    assert!(short.is_zero());
    assert!(books
        .holdings(h)
        .iter()
        .all(|x| x.qty.is_zero() && x.cost.is_zero()));
    // Short 2 at 3,100, settled at 2,900: +400.
    assert!((books.cash_of(h).to_f64() - 10_400.0).abs() < 1e-6);
    books.audit().unwrap();
}

#[test]
fn strategies_use_futures_where_the_policy_margins_them() {
    let data = data();
    let spec = ale_sim::PopulationSpec {
        accounts: 400,
        seed: 5,
        underlyings: 2,
        arrivals: 0.3,
        coin_collateral: 0.25,
    };
    let traders = population::population(&spec).unwrap();
    let now = Timestamp::parse_rfc3339("2026-01-02T00:00:00Z").unwrap();
    let basis = traders
        .iter()
        .find(|t| t.strategy == population::Strategy::Basis)
        .unwrap();
    let legs = population::unit_legs(basis, "BTC", now, 60_000.0, true).unwrap();
    assert!(legs
        .iter()
        .any(|(i, s)| matches!(i, ale_core::Instrument::Future { .. }) && *s < 0.0));
    assert!(legs
        .iter()
        .any(|(i, s)| i.to_string() == "BTC-PERP" && *s > 0.0));
    // No futures listed (pm): the basis book has nothing to hold.
    assert!(population::unit_legs(basis, "BTC", now, 60_000.0, false)
        .unwrap()
        .is_empty());
    // The mix: every strategy, both underlyings, arrivals and coin collateral present.
    assert!(traders.iter().any(|t| t.underlyings == vec![0, 1]));
    assert!(traders.iter().any(|t| t.underlyings == vec![1]));
    let arriving = traders.iter().filter(|t| t.arrival.is_some()).count();
    assert!((60..180).contains(&arriving), "{arriving}");
    assert!(traders.iter().any(|t| t.coin_share > 0.0));
    assert!(traders
        .iter()
        .any(|t| t.uses_future && t.strategy == population::Strategy::Directional));
    // A run of the five policies with all of it conserves value; pm margins no futures, so
    // its books use the perpetual, and no account fails to margin.
    let bt = run_backtest(&small("stress", standard_policies(), 60), &data, &|| {}).unwrap();
    for r in &bt.results[0] {
        assert!(r.metrics.conserved, "{}", r.label);
        assert_eq!(r.metrics.margin_errors, 0, "{}", r.label);
    }
}

#[test]
fn mid_run_arrivals_are_deterministic_and_open_at_the_market_of_their_moment() {
    let data = data();
    let mut spec = small("covid-2020", vec![policy_run("ramm").unwrap()], 50);
    spec.config.arrivals = 1.0;
    let a = run_backtest(&spec, &data, &|| {}).unwrap();
    let b = run_backtest(&spec, &data, &|| {}).unwrap();
    assert_eq!(a.results, b.results);
    let r = &a.results[0][0];
    // Everyone arrived during the run, and opened.
    assert_eq!(r.metrics.arrivals, 50);
    assert_eq!(r.metrics.accounts_opened, 50);
    assert!(r.metrics.conserved);
    // An account's series is empty (0) before its arrival and not after it.
    let traders = population::population(&spec.config.population_spec()).unwrap();
    let (t0, t_end) = a.path.span();
    for w in &r.worst {
        let tr = traders
            .iter()
            .find(|t| t.id.to_string() == w.account)
            .unwrap();
        let arrive = t0 + ((t_end - t0) as f64 * tr.arrival.unwrap()) as i64;
        for (k, t) in r.times_s.iter().enumerate() {
            if *t < arrive {
                assert_eq!(w.equity[k], 0.0, "{} before its arrival", w.account);
            }
        }
        let after = r.times_s.iter().position(|t| *t >= arrive + 3_600).unwrap();
        assert!(w.equity[after..].iter().any(|e| *e != 0.0), "{}", w.account);
    }
    // No arrivals: all open at the start.
    spec.config.arrivals = 0.0;
    let c = run_backtest(&spec, &data, &|| {}).unwrap();
    assert_eq!(c.results[0][0].metrics.arrivals, 0);
    assert_ne!(c.results, a.results);
}

#[test]
fn sealed_auctions_and_backstops_run_through_the_waterfall() {
    let data = data();
    let mut spec = small("stress", vec![policy_run("ramm").unwrap()], 80);
    let dutch = run_backtest(&spec, &data, &|| {}).unwrap();
    spec.config.auction = ale_sim::AuctionChoice::SealedSecond;
    let sealed = run_backtest(&spec, &data, &|| {}).unwrap();
    for bt in [&dutch, &sealed] {
        let m = &bt.results[0][0].metrics;
        assert!(m.conserved);
        assert!(m.liquidations > 0, "{m:?}");
        let t = &m.tiers;
        assert!(
            t.backstop_fund_notional
                + t.backstop_pool_notional
                + t.auction_notional
                + t.market_notional
                + t.fund_take_notional
                > 0.0,
            "{t:?}"
        );
    }
    // The auction kind changes what happens.
    assert_ne!(dutch.results[0][0].metrics, sealed.results[0][0].metrics);
    // Without pools or credit the same run works too (the fund backstops alone).
    spec.config.backstop_pools = 0;
    spec.config.credit_providers = 0;
    let bare = run_backtest(&spec, &data, &|| {}).unwrap();
    let m = &bare.results[0][0].metrics;
    assert!(m.conserved);
    assert_eq!(m.tiers.backstop_pool_notional, 0.0);
    assert_eq!(m.tiers.loss_backstop_credit, 0.0);
    assert_eq!(m.pools_pnl_usd, 0.0);
}

#[test]
fn the_synthetic_eth_path_moves_with_btc_at_the_fitted_correlation() {
    let data = data();
    let cal = calibrate(&data);
    let sc = ale_sim::scenario::by_name("stress").unwrap();
    let both = ale_sim::path::build(sc, &data, &cal, 9, 0, &["BTC".into(), "ETH".into()]).unwrap();
    let alone = ale_sim::path::build(sc, &data, &cal, 9, 0, &["BTC".into()]).unwrap();
    // Adding ETH leaves BTC's path as it was.
    assert_eq!(both.underlyings[0], alone.underlyings[0]);
    assert_eq!(both.times_s, alone.times_s);
    // Hourly returns outside the crash window: correlation near the fitted one.
    let (rb, re): (Vec<f64>, Vec<f64>) = both
        .times_s
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[1] - w[0] == 3_600 && (w[1] < both.crash.0 || w[0] >= both.crash.1))
        .map(|(i, _)| {
            (
                (both.underlyings[0].spot[i + 1] / both.underlyings[0].spot[i]).ln(),
                (both.underlyings[1].spot[i + 1] / both.underlyings[1].spot[i]).ln(),
            )
        })
        .unzip();
    let (_, corr) = ale_sim::calibrate::slope_corr(&rb, &re);
    assert!(
        (corr - cal.eth.corr_hourly).abs() < 0.15,
        "{corr} vs {:?}",
        cal.eth
    );
    // The forced crash takes ETH down too.
    let lo = |s: &[f64]| s.iter().copied().fold(f64::MAX, f64::min) / s[0];
    assert!(
        lo(&both.underlyings[1].spot) < 0.7,
        "{}",
        lo(&both.underlyings[1].spot)
    );
    // ETH's IV is BTC's times the vol ratio.
    let ratio = both.underlyings[1].iv[10] / both.underlyings[0].iv[10];
    assert!((ratio - cal.eth.vol_ratio).abs() < 1e-9, "{ratio}");
}

#[test]
fn the_calibration_fits_eth_against_btc() {
    let data = data();
    let cal = calibrate(&data);
    eprintln!("{:#?}", cal.eth);
    assert!(
        cal.eth.corr_daily > 0.5 && cal.eth.corr_daily < 0.99,
        "{:?}",
        cal.eth
    );
    assert!(
        cal.eth.vol_ratio > 1.0 && cal.eth.vol_ratio < 2.0,
        "{:?}",
        cal.eth
    );
    if data.btc_daily.len() > 2_000 {
        // The full data: 8 years of days, the hourly years.
        assert!(
            cal.eth.days > 3_000 && cal.eth.hours > 30_000,
            "{:?}",
            cal.eth
        );
        assert!((cal.eth.corr_daily - 0.79).abs() < 0.02, "{:?}", cal.eth);
        assert!(
            cal.eth.jump_days >= 10 && cal.eth.jump_beta > 0.5,
            "{:?}",
            cal.eth
        );
    }
}

#[test]
fn an_auction_runs_on_the_market_as_it_moves() {
    // A short perpetual flagged at 105,000 with the fund taking nothing as tier 1: the auction
    // opens, the only liquidator waits for a deep discount. Five minutes later spot is back at
    // 95,000: with the market moving the account is restored by the move alone; frozen at the
    // start's prices the liquidator takes it.
    let run = |moving: bool| {
        let t0 = Timestamp::parse_rfc3339("2026-01-02T00:00:00Z").unwrap();
        let m0 = two_markets(t0, 105_000.0, 3_000.0);
        let perp = ale_sim::venue::perp("BTC").unwrap();
        let mut books = Books::new();
        let id = AccountId::new("short").unwrap();
        let h = books.trader(&id);
        books.deposit(h, Amount::from_units(150_000)).unwrap();
        books.trade(h, &perp, -10.0, 100_000.0, 0.0).unwrap();
        let fund = books.fund;
        books.deposit(fund, Amount::from_units(1_000_000)).unwrap();
        let l = books.holder(&Holder::Liquidator("l".into()));
        books.deposit(l, Amount::from_units(10_000_000)).unwrap();
        let mut patient = bidder("l");
        patient.max_price_fraction = 0.5;
        let mut venue = Venue::simple(off_gate(), vec![patient], 0.0);
        venue.fund_max_notional = Some(Amount::ZERO);
        let times = [t0.unix_seconds() + 300];
        let at = |t: i64| {
            Ok(two_markets(
                Timestamp::from_unix_seconds(t).unwrap(),
                95_000.0,
                3_000.0,
            ))
        };
        let moves = ale_sim::liq::Moves {
            times_s: &times,
            at: &at,
        };
        let r = ale_sim::liq::liquidate(
            &mut books,
            &id,
            ale_risk::policy_by_name("static", None).unwrap(),
            &m0,
            &venue,
            t0,
            moving.then_some(&moves),
        )
        .unwrap();
        books.audit().unwrap();
        (r, books.holdings(h))
    };
    let (moved, held_moved) = run(true);
    let (frozen, held_frozen) = run(false);
    assert!(moved.flagged && frozen.flagged);
    assert_eq!(moved.tiers.auction_notional, 0.0, "{moved:?}");
    assert!(
        held_moved.iter().any(|x| x.qty.to_f64() == -10.0),
        "{held_moved:?}"
    );
    assert!(frozen.tiers.auction_notional > 0.0, "{frozen:?}");
    assert!(
        held_frozen.iter().all(|x| x.qty.to_f64() > -10.0),
        "{held_frozen:?}"
    );
    assert!(moved.end_s <= frozen.end_s);
}
