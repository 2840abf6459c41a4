#!/usr/bin/env python3
"""The numpy peer of ALE's scenario P&L: what a risk team would otherwise write.

It reads the venue exported by `cargo run --release -p ale-risk --example export_venue -- DIR`
(the same instruments, the same shocked forwards and vols the engine's scenario table uses, the
same positions), prices the listed chain of each underlying once per scenario with vectorised
Black-76 (numpy + scipy.special.ndtr), then nets every account's positions with a scipy.sparse
CSR (accounts x instruments) by dense (instruments x scenarios) product, plus the collateral
that moves with the underlying. Pricing and netting are timed separately (best of --repeat runs),
on one core: the thread variables below are set before numpy is imported.

It then checks its P&L against the engine's `scenario_pnl` (exported as `*_engine_pnl.f64`): the
largest difference, relative to each account's largest scenario P&L, must be below --tol.

Prints one JSON object. Usage: numpy_venue.py DIR [--repeat N] [--tol X]
"""
import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
            "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from scipy.special import ndtr  # noqa: E402


def load(directory, name, dtype):
    return np.fromfile(os.path.join(directory, name), dtype=np.dtype(dtype).newbyteorder("<"))


def black76(is_call, forward, strike, expiry_years, vol, discount):
    """Discounted Black-76 prices, elementwise (arrays broadcast)."""
    total = vol * np.sqrt(expiry_years)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = (np.log(forward / strike) + 0.5 * total * total) / total
    d2 = d1 - total
    call = forward * ndtr(d1) - strike * ndtr(d2)
    put = strike * ndtr(-d2) - forward * ndtr(-d1)
    intrinsic = np.where(is_call, np.maximum(forward - strike, 0.0), np.maximum(strike - forward, 0.0))
    price = np.where(is_call, call, put)
    price = np.where(total > 0.0, price, intrinsic)
    return discount * price


class Underlying:
    def __init__(self, directory, meta, rate, accounts):
        name = meta["name"]
        self.name = name
        self.rows = meta["rows"]
        self.n = meta["scenarios"]
        f = lambda field, dt: load(directory, f"{name}_{field}.{'f64' if dt == 'f8' else 'i32'}", dt)  # noqa: E731
        kind = f("kind", "i4")
        self.option = kind != 2
        self.is_call = (kind == 0)[self.option]
        self.strike = f("strike", "f8")[self.option]
        self.expiry = f("expiry_years", "f8")[self.option]
        self.forward = f("forward", "f8")[self.option]
        self.base_vol = f("base_vol", "f8")[self.option]
        self.discount = np.exp(-rate * np.maximum(self.expiry, 0.0))
        self.mark = f("mark", "f8")
        fwd = f("fwd_shock", "f8").reshape(self.rows, self.n)
        vol = f("vol_shock", "f8").reshape(self.rows, self.n)
        self.fwd_shock = np.ascontiguousarray(fwd[self.option])
        self.vol_shock = np.ascontiguousarray(vol[self.option])
        self.spot_move = f("spot_move", "f8")
        self.delta_one = ~self.option
        # Positions as a CSR matrix accounts x rows (duplicates summed, as netting would).
        acc = f("pos_account", "i4")
        row = f("pos_row", "i4")
        size = f("pos_size", "f8")
        self.positions = sp.csr_matrix((size, (acc, row)), shape=(accounts, self.rows))
        self.positions.sum_duplicates()
        self.moving = f("moving", "f8")
        self.engine_pnl = f("engine_pnl", "f8").reshape(accounts, self.n)
        self.table = np.zeros((self.rows, self.n))

    def price(self):
        """The instrument x scenario P&L table: every option priced once per scenario."""
        k = self.strike[:, None]
        t = self.expiry[:, None]
        c = self.is_call[:, None]
        d = self.discount[:, None]
        base = black76(self.is_call, self.forward, self.strike, self.expiry, self.base_vol, self.discount)
        shocked = black76(c, self.fwd_shock, k, t, self.vol_shock, d)
        self.table[self.option] = shocked - base[:, None]
        self.table[self.delta_one] = self.mark[self.delta_one, None] * self.spot_move[None, :]

    def net(self):
        """accounts x scenarios P&L: positions @ table, plus moving collateral."""
        pnl = self.positions @ self.table
        pnl += self.moving[:, None] * self.spot_move[None, :]
        return pnl


def best_of(repeat, fn):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--tol", type=float, default=1e-9)
    args = ap.parse_args()
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass
    with open(os.path.join(args.dir, "header.json")) as fh:
        header = json.load(fh)
    accounts = header["accounts"]
    unds = [Underlying(args.dir, m, header["rate"], accounts) for m in header["underlyings"]]
    result = {"peer": "numpy", "numpy": np.__version__, "scipy": scipy.__version__,
              "accounts": accounts, "underlyings": [], "threads": 1}
    total_price = total_net = 0.0
    worst = 0.0
    for u in unds:
        t_price, _ = best_of(args.repeat, u.price)
        t_net, pnl = best_of(args.repeat, u.net)
        t_both, _ = best_of(args.repeat, lambda: (u.price(), u.net())[1])
        scale = np.maximum(np.abs(u.engine_pnl).max(axis=1), 1e-300)
        rel = float((np.abs(pnl - u.engine_pnl).max(axis=1) / scale).max())
        worst = max(worst, rel)
        total_price += t_price
        total_net += t_net
        result["underlyings"].append({
            "name": u.name, "instruments": u.rows, "options": int(u.option.sum()),
            "scenarios": u.n, "positions": int(u.positions.nnz),
            "pricings": int(u.option.sum()) * (u.n + 1),
            "price_ms": t_price * 1e3, "net_ms": t_net * 1e3, "price_and_net_ms": t_both * 1e3,
            "max_rel_diff_vs_engine": rel,
        })
    result["price_ms"] = total_price * 1e3
    result["net_ms"] = total_net * 1e3
    result["total_ms"] = (total_price + total_net) * 1e3
    result["max_rel_diff_vs_engine"] = worst
    result["same_pnl_as_engine"] = worst <= args.tol
    print(json.dumps(result, indent=2))
    return 0 if worst <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
