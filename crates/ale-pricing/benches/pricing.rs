//! Speed of `ale-pricing` against peers in the same run.
//!
//! Workload: 4096 options with a fixed-seed mix of kinds, strikes 0.5–2·F, expiries 1 day to
//! 2 years, vols 10 %–300 %, rates −1 %–5 % (what a margin engine prices), each bench loops over
//! all of them and reports time per option. Peers: `black_scholes::black76` (price + Greeks,
//! call and put together), `black_scholes::call`/`put` (price only, fed the discounted
//! forward as spot, which spares it nothing but is the Black-76 price), `implied-vol`'s
//! `ImpliedBlackVolatility` (undiscounted prices, no domain checks).
//!
//! Reproduce: `cargo bench -p ale-pricing --bench pricing -- --warm-up-time 1 --measurement-time 3`

use ale_pricing::batch::{self, GreeksOut, Options};
use ale_pricing::{implied_vol, Black76, OptionKind};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;

const N: usize = 4096;

/// A small deterministic generator (splitmix64), so the workload is the same in every run.
struct SplitMix(u64);
impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
    fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.next_f64()).exp()
    }
}

struct Book {
    kind: Vec<OptionKind>,
    forward: Vec<f64>,
    strike: Vec<f64>,
    t: Vec<f64>,
    vol: Vec<f64>,
    rate: Vec<f64>,
}

fn book(n: usize) -> Book {
    let mut rng = SplitMix(42);
    let mut b = Book {
        kind: vec![],
        forward: vec![],
        strike: vec![],
        t: vec![],
        vol: vec![],
        rate: vec![],
    };
    for _ in 0..n {
        let f = rng.log_uniform(1000.0, 100_000.0);
        b.kind.push(if rng.next_f64() < 0.5 {
            OptionKind::Call
        } else {
            OptionKind::Put
        });
        b.forward.push(f);
        b.strike.push(f * rng.log_uniform(0.5, 2.0));
        b.t.push(rng.log_uniform(1.0 / 365.0, 2.0));
        b.vol.push(rng.log_uniform(0.1, 3.0));
        b.rate.push(-0.01 + 0.06 * rng.next_f64());
    }
    b
}

fn options(b: &Book) -> Vec<Black76> {
    (0..b.kind.len())
        .map(|i| {
            Black76::new(
                b.kind[i],
                b.forward[i],
                b.strike[i],
                b.t[i],
                b.vol[i],
                b.rate[i],
            )
            .unwrap()
        })
        .collect()
}

fn scalar(c: &mut Criterion) {
    let b = book(N);
    let opts = options(&b);
    let mut g = c.benchmark_group("scalar");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("ale_price_and_greeks", |bench| {
        bench.iter(|| {
            let mut acc = 0.0;
            for o in black_box(&opts) {
                let r = o.greeks();
                acc += r.price + r.delta + r.gamma + r.vega + r.theta + r.vanna + r.volga;
            }
            acc
        })
    });
    g.bench_function("black_scholes_black76_all", |bench| {
        bench.iter(|| {
            let mut acc = 0.0;
            for o in black_box(&opts) {
                let r = black_scholes::black76(o.forward, o.strike, o.rate, o.vol, o.expiry_years);
                acc += if o.kind.is_call() {
                    r.call_price
                        + r.call_delta
                        + r.call_gamma
                        + r.call_vega
                        + r.call_theta
                        + r.call_vanna
                        + r.call_vomma
                } else {
                    r.put_price
                        + r.put_delta
                        + r.put_gamma
                        + r.put_vega
                        + r.put_theta
                        + r.put_vanna
                        + r.put_vomma
                };
            }
            acc
        })
    });
    g.bench_function("ale_price", |bench| {
        bench.iter(|| {
            let mut acc = 0.0;
            for o in black_box(&opts) {
                acc += o.price();
            }
            acc
        })
    });
    let spots: Vec<f64> = opts
        .iter()
        .map(|o| o.forward * (-o.rate * o.expiry_years).exp())
        .collect();
    g.bench_function("black_scholes_price", |bench| {
        bench.iter(|| {
            let mut acc = 0.0;
            for (o, &s) in black_box(&opts).iter().zip(&spots) {
                acc += if o.kind.is_call() {
                    black_scholes::call(s, o.strike, o.rate, o.vol, o.expiry_years)
                } else {
                    black_scholes::put(s, o.strike, o.rate, o.vol, o.expiry_years)
                };
            }
            acc
        })
    });
    g.finish();
}

fn batch_api(c: &mut Criterion) {
    const M: usize = 1 << 16;
    let b = book(M);
    let o = Options {
        kind: &b.kind,
        forward: &b.forward,
        strike: &b.strike,
        expiry_years: &b.t,
        vol: &b.vol,
        rate: &b.rate,
    };
    let mut g = c.benchmark_group("batch");
    g.throughput(Throughput::Elements(M as u64));
    let mut out = vec![0.0; M];
    g.bench_function("price", |bench| {
        bench.iter(|| batch::price(black_box(&o), &mut out).unwrap())
    });
    let mut cols = vec![vec![0.0; M]; 7];
    g.bench_function("price_greeks", |bench| {
        bench.iter(|| {
            let [p, d, ga, v, th, va, vo] = &mut cols[..] else {
                unreachable!()
            };
            let mut out = GreeksOut {
                price: p,
                delta: d,
                gamma: ga,
                vega: v,
                theta: th,
                vanna: va,
                volga: vo,
            };
            batch::price_greeks(black_box(&o), &mut out).unwrap()
        })
    });
    // one option, many (forward, vol) scenarios
    let forwards: Vec<f64> = (0..M)
        .map(|i| 95_000.0 * (0.5 + i as f64 / M as f64))
        .collect();
    let vols: Vec<f64> = (0..M)
        .map(|i| 0.3 + 0.9 * ((i * 7919) % M) as f64 / M as f64)
        .collect();
    g.bench_function("price_scenarios", |bench| {
        bench.iter(|| {
            batch::price_scenarios(
                OptionKind::Put,
                90_000.0,
                0.1,
                0.02,
                black_box(&forwards),
                &vols,
                &mut out,
            )
            .unwrap()
        })
    });
    g.finish();
}

fn inversion(c: &mut Criterion) {
    let b = book(N);
    let opts = options(&b);
    let prices: Vec<f64> = opts.iter().map(Black76::price).collect();
    // Keep the inputs the price determines (the peer would return 0 or infinity elsewhere).
    let cases: Vec<(Black76, f64)> = opts
        .into_iter()
        .zip(prices)
        .filter(|(o, p)| {
            implied_vol(o.kind, o.forward, o.strike, o.expiry_years, *p, o.rate).is_ok()
        })
        .collect();
    let mut g = c.benchmark_group("implied_vol");
    g.throughput(Throughput::Elements(cases.len() as u64));
    g.bench_function("ale_implied_vol", |bench| {
        bench.iter(|| {
            let mut acc = 0.0;
            for (o, p) in black_box(&cases) {
                acc +=
                    implied_vol(o.kind, o.forward, o.strike, o.expiry_years, *p, o.rate).unwrap();
            }
            acc
        })
    });
    let undiscounted: Vec<f64> = cases
        .iter()
        .map(|(o, p)| p / (-o.rate * o.expiry_years).exp())
        .collect();
    g.bench_function("implied_vol_crate", |bench| {
        bench.iter_batched(
            || (),
            |_| {
                let mut acc = 0.0;
                for ((o, _), &p) in black_box(&cases).iter().zip(&undiscounted) {
                    acc += implied_vol::ImpliedBlackVolatility::builder()
                        .option_price(p)
                        .forward(o.forward)
                        .strike(o.strike)
                        .expiry(o.expiry_years)
                        .is_call(o.kind.is_call())
                        .build_unchecked()
                        .calculate::<implied_vol::DefaultSpecialFn>()
                        .unwrap();
                }
                acc
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, scalar, batch_api, inversion);
criterion_main!(benches);
