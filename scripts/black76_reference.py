#!/usr/bin/env python3
"""Golden tables for `ale-pricing`, computed with mpmath at 60 significant digits.

Writes, under crates/ale-pricing/tests/data/:
- black76_reference.csv: Black-76 price and the six Greeks (discounted, on the forward, as
  formats.md defines them) over a grid of calls and puts: strikes 0.05..20 x F including deep
  in and out of the money and a few within 1e-4 of the money, t from one minute to 5 years,
  vols 1% to 500%, rates -2%, 0, 5%, and three forwards;
- norm_reference.csv: N(x) and phi(x) for x from -38 to 8.

Inputs are binary64 values and are taken exactly (mpmath converts floats exactly); outputs are
printed with 17 significant digits (repr), i.e. correctly rounded to binary64 from the 60-digit
value. The analytic Greeks are checked against mpmath's own numerical differentiation of the
price on a sample of rows before anything is written, so the table also pins the definitions
(theta = -d price / dT includes the discount factor's dependence on T).

Run from the workspace root:  python3 scripts/black76_reference.py
"""
import csv
import os
import random

import mpmath as mp

mp.mp.dps = 60

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "ale-pricing", "tests", "data")

MINUTE = 1.0 / (365.0 * 24.0 * 60.0)
EXPIRIES = [MINUTE, 1.0 / (365.0 * 24.0), 1.0 / 365.0, 7.0 / 365.0, 30.0 / 365.0, 0.25, 1.0, 2.0, 5.0]
VOLS = [0.01, 0.1, 0.3, 0.8, 1.5, 5.0]
RATES = [-0.02, 0.0, 0.05]
MONEYNESS = [0.05, 0.2, 0.5, 0.8, 0.9, 0.99, 0.9999, 1.0, 1.0001, 1.01, 1.1, 1.25, 2.0, 5.0, 20.0]
FORWARDS = [100.0, 3500.0, 95000.0]


def black76(kind, f, k, t, v, r):
    """Price and Greeks at 60 digits; all inputs exact binary64 values."""
    f, k, t, v, r = (mp.mpf(a) for a in (f, k, t, v, r))
    theta_sign = 1 if kind == "call" else -1
    d = mp.exp(-r * t)
    s = v * mp.sqrt(t)
    d1 = (mp.log(f / k) + s * s / 2) / s
    d2 = d1 - s
    price = d * theta_sign * (f * mp.ncdf(theta_sign * d1) - k * mp.ncdf(theta_sign * d2))
    pdf1 = mp.npdf(d1)
    delta = d * theta_sign * mp.ncdf(theta_sign * d1)
    gamma = d * pdf1 / (f * s)
    vega = d * f * pdf1 * mp.sqrt(t)
    theta = r * price - d * f * pdf1 * v / (2 * mp.sqrt(t))
    vanna = -d * pdf1 * d2 / v
    volga = d * f * pdf1 * mp.sqrt(t) * d1 * d2 / v
    return [price, delta, gamma, vega, theta, vanna, volga]


def price_only(kind, f, k, t, v, r):
    theta_sign = 1 if kind == "call" else -1
    d = mp.exp(-r * t)
    s = v * mp.sqrt(t)
    d1 = (mp.log(f / k) + s * s / 2) / s
    return d * theta_sign * (f * mp.ncdf(theta_sign * d1) - k * mp.ncdf(theta_sign * (d1 - s)))


def check_against_numerical_derivatives(rows):
    """The analytic Greeks must equal mpmath's numerical derivatives of the price."""
    rng = random.Random(7)
    sample = [row for row in rows if row[4] >= 0.1 and row[3] >= 1.0 / 365.0]
    for kind, f, k, t, v, r, *ref in rng.sample(sample, 40):
        F, K, T, V, R = (mp.mpf(a) for a in (f, k, t, v, r))
        p = lambda ff=F, tt=T, vv=V: price_only(kind, ff, K, tt, vv, R)
        numeric = [
            p(),
            mp.diff(lambda x: p(ff=x), F),
            mp.diff(lambda x: p(ff=x), F, 2),
            mp.diff(lambda x: p(vv=x), V),
            -mp.diff(lambda x: p(tt=x), T),
            mp.diff(lambda a, b: p(ff=a, vv=b), (F, V), (1, 1)),
            mp.diff(lambda x: p(vv=x), V, 2),
        ]
        for name, a, b in zip(["price", "delta", "gamma", "vega", "theta", "vanna", "volga"], ref, numeric):
            scale = max(abs(a), mp.mpf(10) ** -30)
            assert abs(a - b) <= mp.mpf(10) ** -25 * scale, (name, kind, f, k, t, v, r, a, b)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    rows = []
    for f in FORWARDS:
        for mny in MONEYNESS:
            k = f * mny
            for t in EXPIRIES:
                for v in VOLS:
                    for r in RATES:
                        # keep the table moderate: the two larger forwards get a sub-grid
                        if f != 100.0 and (v not in (0.1, 0.8, 5.0) or r != 0.05):
                            continue
                        for kind in ("call", "put"):
                            rows.append([kind, f, k, t, v, r] + black76(kind, f, k, t, v, r))
    check_against_numerical_derivatives(rows)
    header = ["kind", "forward", "strike", "t", "vol", "rate", "price", "delta", "gamma", "vega", "theta", "vanna", "volga"]
    with open(os.path.join(OUT_DIR, "black76_reference.csv"), "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow(row[:1] + [repr(float(x)) for x in row[1:6]] + [repr(float(x)) for x in row[6:]])
    with open(os.path.join(OUT_DIR, "norm_reference.csv"), "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["x", "cdf", "pdf"])
        xs = [x / 8.0 for x in range(-38 * 8, 8 * 8 + 1)] + [-37.5 - 0.013 * i for i in range(60)]
        xs += [float(mp.mpf(10) ** e) * sgn for e in range(-12, 0) for sgn in (1, -1)]
        for x in xs:
            w.writerow([repr(x), repr(float(mp.ncdf(mp.mpf(x)))), repr(float(mp.npdf(mp.mpf(x))))])
    print(f"wrote {len(rows)} Black-76 rows and {len(xs)} normal rows to {os.path.normpath(OUT_DIR)}")


if __name__ == "__main__":
    main()
