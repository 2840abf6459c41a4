#!/usr/bin/env python3
"""Independent reference implementation of the `pm` margin policy (docs: /design/pm.md).

Plain binary64 floats and math.erfc, written from the text of pm.md alone, to cross-check
the Rust implementation in `ale_risk::pm`.

Usage:
  pm_reference.py replay [--check] FILE...   same output lines as `ale pm replay`
  pm_reference.py generate OUTDIR            write extra conformance cases with expected blocks
"""

import copy
import json
import math
import os
import sys

YEAR_S = 31_536_000.0
MONTH_S = 2_592_000.0
FREEZE_S = 1800


def ncdf(x):
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def black(F, K, tau, vol, D, is_call):
    """Discounted Black-76; at tau == 0 or vol == 0 the discounted intrinsic (D = 1 at tau = 0)."""
    if tau <= 0.0 or vol <= 0.0:
        intr = max(F - K, 0.0) if is_call else max(K - F, 0.0)
        return D * intr
    sd = vol * math.sqrt(tau)
    d1 = (math.log(F / K) + 0.5 * vol * vol * tau) / sd
    d2 = d1 - sd
    if is_call:
        return D * (F * ncdf(d1) - K * ncdf(d2))
    return D * (K * ncdf(-d2) - F * ncdf(-d1))


def conf(c, x, oc):
    if c < oc["conf_threshold"]:
        return (1.0 - c) * oc["conf_margin"] * x
    return 0.0


class Expiry:
    def __init__(self, mk, opts, params, c_base):
        vs, mg = params["vol_shock"], params["margin"]
        self.T = int(mk["sec_to_expiry"])
        self.tau = self.T / YEAR_S
        self.r = max(mk["rate"], 0.0)
        self.D = math.exp(-self.r * self.tau)
        F = mk["forward"]
        self.F = F
        if self.T < FREEZE_S:
            self.F_fix = F * (FREEZE_S - self.T) / FREEZE_S
            self.F_var = F * self.T / FREEZE_S
        else:
            self.F_fix = 0.0
            self.F_var = F
        floor = vs["dte_floor_days"] * 86400.0
        p = vs["short_term_power"] if self.T <= MONTH_S else vs["long_term_power"]
        denom = max(self.T, floor)
        if denom > 0:
            w = (MONTH_S / denom) ** p
        else:
            w = float("inf")
        self.up = 1.0 + vs["vol_range_up"] * w
        self.down = max(0.0, 1.0 - vs["vol_range_down"] * w)
        self.sd_pos = mg["long_base_static_discount"] * math.exp(
            -self.tau * (self.r * mg["long_rate_mult_scale"] + mg["long_rate_add_scale"]))
        self.sd_neg = min(1.0 / self.D, mg["short_base_static_discount"] / math.exp(
            -self.tau * (self.r * mg["short_rate_mult_scale"] + mg["short_rate_add_scale"])))
        self.opts = opts
        self.c = min(c_base, mk["forward_confidence"], mk["rate_confidence"], mk["vol_confidence"])
        self.params = params

    def disc(self, x):
        return x * self.sd_pos if x >= 0 else x * self.sd_neg

    def price(self, o, F, vol):
        return black(F, o["strike"], self.tau, vol, self.D, o["is_call"])

    def mtm(self):
        return sum(o["amount"] * self.price(o, self.F, o["mark_vol"]) for o in self.opts)

    def value(self, s, direction):
        Fs = self.F_var * s + self.F_fix
        total = 0.0
        minup = self.params["vol_shock"]["min_vol_up_shock"]
        for o in self.opts:
            sig = o["mark_vol"]
            if self.tau == 0:
                vol = 0.0
            elif direction == "None":
                vol = sig
            elif direction == "Up":
                vol = max(minup, sig * self.up)
            elif direction == "Down":
                vol = sig * self.down
            else:
                raise ValueError(direction)
            total += o["amount"] * self.price(o, Fs, vol)
        return total

    def skew_value(self, kind):
        sk = self.params["skew_shock"]
        pre = "linear_" if kind == "Linear" else "abs_"
        st = math.sqrt(self.tau)
        cap = sk[pre + "c_base"] * st + sk[pre + "base_cap"]
        kstar = max(sk["min_k_star"], st * sk["width_scale"] * (sk["vol_param_static"] + st * sk["vol_param_scale"]))
        total = 0.0
        for o in self.opts:
            if self.tau == 0:
                vol = 0.0
            else:
                k = math.log(o["strike"] / self.F)
                if kind == "Abs":
                    k = abs(k)
                if k >= 0:
                    m = 1.0 + min(cap, k * cap / kstar)
                else:
                    m = 1.0 + max(-cap, k * cap / kstar)
                vol = o["mark_vol"] * max(m, 0.0)
            total += o["amount"] * self.price(o, self.F, vol)
        return total

    def naked(self):
        net = {}
        for o in self.opts:
            net[o["strike"]] = net.get(o["strike"], 0.0) + o["amount"]
        return sum(max(0.0, -a) for a in net.values())

    def gross(self):
        return sum(abs(o["amount"]) for o in self.opts)


def evaluate(case):
    m, pf, params, scen = case["market"], case["portfolio"], case["params"], case["scenarios"]
    mg, bc, oc = params["margin"], params["basis_contingency"], params["other_contingency"]
    S, cS, P = m["spot"], m["spot_confidence"], m["stable_price"]
    q = pf["perp_position"]
    c_base = min(cS, m["perp_confidence"]) if q != 0 else cS
    mk_by_T = {int(e["sec_to_expiry"]): e for e in m["expiries"]}
    groups = {}
    for o in pf["options"]:
        T = int(o["sec_to_expiry"])
        if T not in mk_by_T:
            raise ValueError("option expiry %d absent from market.expiries" % T)
        groups.setdefault(T, []).append(o)
    exps = [Expiry(mk_by_T[T], groups[T], params, c_base) for T in sorted(groups)]
    mtms = [e.mtm() for e in exps]
    option_mtm = sum(mtms)
    # basis
    B = 0.0
    for e, mt in zip(exps, mtms):
        up = e.value(bc["scenario_spot_up"], "None") - mt
        dn = e.value(bc["scenario_spot_down"], "None") - mt
        B += min(0.0, up, dn) * (bc["add_factor"] + bc["mult_factor"] * e.tau)
    colls = []
    for c in pf["collaterals"]:
        colls.append((c, c["amount"] * c["price"] / P))
    pnls = []
    for sc in scen:
        s, d, v = sc["spot_shock"], sc["dampening"], sc["vol_shock"]
        pnl = q * (s - 1.0) * m["perp_price"] * d if q != 0 else 0.0
        for e, mt in zip(exps, mtms):
            if v in ("Linear", "Abs"):
                pnl += -abs((e.disc(e.skew_value(v)) - mt) * d)
            else:
                pnl += (e.disc(e.value(s, v)) - mt) * d
        for c, Vc in colls:
            if c["is_risk_cancelling"]:
                pnl += Vc * (s - 1.0) * d
        pnls.append(pnl)
    W = B
    for x in pnls:
        if x < W:
            W = x
    # contingencies
    Xp = abs(q) * S
    mm_perp = Xp * oc["mm_perp_percent"]
    im_perp = Xp * oc["im_perp_percent"]
    conf_perp = conf(c_base, Xp, oc)
    mm_opt = sum(e.naked() * S * oc["mm_option_percent"] for e in exps)
    im_opt = sum(e.naked() * S * oc["im_option_percent"] for e in exps)
    conf_opt = sum(conf(e.c, e.gross() * S, oc) for e in exps)
    mm_col = sum(Vc * c["mm_haircut"] for c, Vc in colls)
    im_col = sum(Vc * c["im_haircut"] for c, Vc in colls)
    conf_col = sum(conf(min(c["confidence"], cS), Vc, oc) for c, Vc in colls)
    C_MM = mm_perp + mm_opt + mm_col
    C_IM = im_perp + conf_perp + im_opt + conf_opt + im_col + conf_col
    coll_mtm = sum(Vc for _, Vc in colls)
    U = pf["perp_unrealised_pnl"] + pf["perp_unrealised_funding"]
    mtm_total = U + option_mtm + coll_mtm
    cash = pf["cash"]
    peg = (oc["peg_loss_threshold"] - P) * oc["peg_loss_factor"] if P < oc["peg_loss_threshold"] else 0.0
    MM = mg["mm_factor"] * W - C_MM + mtm_total + cash
    IM = (mg["im_factor"] + peg) * W - C_IM - C_MM + mtm_total + cash
    return {
        "MM": MM,
        "IM": IM,
        "option_mtm": option_mtm,
        "scenario_pnl": pnls,
        "collateral_mtm": coll_mtm,
        "portfolio_mtm": mtm_total + cash,
        "basis_contingency": B,
        "mm_option_contingency": -mm_opt,
        "im_option_contingency_addon": -im_opt,
        "mm_perp_contingency": -mm_perp,
        "im_perp_contingency_addon": -im_perp,
        "mm_collateral_haircut": -mm_col,
        "im_collateral_haircut_addon": -im_col,
        "oracle_confidence_contingency": -(conf_perp + conf_opt + conf_col),
        "static_discount_per_expiry_[pos,neg]": [[e.sd_pos, e.sd_neg] for e in exps],
        "tolerance_rel": 1e-8,
    }


def cases_of(doc):
    if isinstance(doc, dict) and "vectors" in doc:
        return doc["vectors"]
    return [doc]


def close(got, want):
    return abs(got - want) <= max(1e-8 * abs(want), 1e-6)


def replay(args):
    check = False
    if args and args[0] == "--check":
        check, args = True, args[1:]
    failed = False
    for path in args:
        with open(path) as fh:
            doc = json.load(fh)
        for case in cases_of(doc):
            r = evaluate(case)
            print(json.dumps({"id": case["id"], "option_mtm": r["option_mtm"], "mm": r["MM"],
                              "im": r["IM"], "scenario_pnl": r["scenario_pnl"]}))
            if check:
                ex = case["expected"]
                fields = [("option_mtm", r["option_mtm"], ex["option_mtm"])]
                if len(r["scenario_pnl"]) != len(ex["scenario_pnl"]):
                    fields.append(("scenario_pnl.len", len(r["scenario_pnl"]), len(ex["scenario_pnl"]) + 0.5))
                else:
                    fields += [("scenario_pnl[%d]" % i, g, w)
                               for i, (g, w) in enumerate(zip(r["scenario_pnl"], ex["scenario_pnl"]))]
                fields += [("mm", r["MM"], ex["MM"]), ("im", r["IM"], ex["IM"])]
                for name, g, w in fields:
                    if not close(g, w):
                        print("mismatch %s: %s got %r want %r" % (case["id"], name, g, w), file=sys.stderr)
                        failed = True
                        break
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# Case generation

DERIVE_TEST = {
    "vol_shock": {"vol_range_up": 0.5, "vol_range_down": 0.275, "short_term_power": 0.3,
                  "long_term_power": 0.13, "dte_floor_days": 1.0, "min_vol_up_shock": 0.45},
    "margin": {"im_factor": 1.0, "mm_factor": 0.8, "short_rate_mult_scale": 0.5,
               "long_rate_mult_scale": 1.0, "short_rate_add_scale": 0.08,
               "long_rate_add_scale": 0.08, "short_base_static_discount": 1.04,
               "long_base_static_discount": 0.95},
    "basis_contingency": {"scenario_spot_up": 1.045, "scenario_spot_down": 0.955,
                          "add_factor": 0.5, "mult_factor": 2.0},
    "other_contingency": {"peg_loss_threshold": 0.98, "peg_loss_factor": 2.0,
                          "conf_threshold": 0.55, "conf_margin": 1.0, "mm_perp_percent": 0.015,
                          "im_perp_percent": 0.005, "mm_option_percent": 0.003,
                          "im_option_percent": 0.002},
    "skew_shock": {"linear_base_cap": 0.15, "abs_base_cap": 0.15, "linear_c_base": -0.05,
                   "abs_c_base": -0.05, "min_k_star": 0.01, "width_scale": 4.0,
                   "vol_param_static": 0.6, "vol_param_scale": -0.1},
}

DERIBIT_LIKE = copy.deepcopy(DERIVE_TEST)
DERIBIT_LIKE["vol_shock"].update({"vol_range_down": 0.3, "min_vol_up_shock": 0.4})
DERIBIT_LIKE["margin"].update({"short_rate_mult_scale": 0.0, "long_rate_mult_scale": 0.0,
                               "short_rate_add_scale": 0.16, "long_rate_add_scale": 0.16,
                               "short_base_static_discount": 0.95,
                               "long_base_static_discount": 1.05})
DERIBIT_LIKE["other_contingency"].update({"peg_loss_threshold": 0.99, "peg_loss_factor": 4.0,
                                          "mm_perp_percent": 0.03, "im_perp_percent": 0.01})
DERIBIT_LIKE["skew_shock"].update({"linear_base_cap": 0.25, "abs_base_cap": 0.25,
                                   "linear_c_base": -0.1, "abs_c_base": -0.1,
                                   "vol_param_scale": 0.0})

GRID = [1.135, 1.09, 1.045, 1.0, 0.955, 0.91, 0.865]


def sc(s, v, d=1.0):
    return {"spot_shock": s, "vol_shock": v, "dampening": d}


def derive_test_scenarios():
    out = [sc(1.18, "Up")]
    for s in GRID:
        out += [sc(s, "Down"), sc(s, "None"), sc(s, "Up")]
    out.append(sc(0.82, "Up"))
    for s in (0.34, 0.67, 1.5, 2.0, 3.0, 4.0):
        out.append(sc(s, "Up", 0.036 / abs(s - 1.0)))
    return out + [sc(1.0, "Linear"), sc(1.0, "Abs")]


def deribit_like_scenarios():
    out = [sc(1.18, "Up")]
    for s in GRID:
        out += [sc(s, "Up"), sc(s, "None"), sc(s, "Down")]
    out.append(sc(0.82, "Up"))
    tails = [(0.34, 0.21), (0.67, 0.42), (1.5, 0.2772), (2.0, 0.1386), (3.0, 0.0693),
             (4.0, 0.0462), (5.0, 0.03465), (6.0, 0.02772)]
    out += [sc(s, "Up", d) for s, d in tails]
    return out + [sc(1.0, "Linear"), sc(1.0, "Abs")]


def expiry(T, F, rate=0.05, fc=1.0, rc=1.0, vc=1.0):
    return {"sec_to_expiry": T, "forward": F, "forward_confidence": fc, "rate": rate,
            "rate_confidence": rc, "vol_confidence": vc}


def opt(T, K, call, a, vol):
    return {"sec_to_expiry": T, "strike": K, "is_call": call, "amount": a, "mark_vol": vol}


def coll(name, n, p, c=1.0, rc=False, hmm=0.0, him=0.0):
    return {"name": name, "amount": n, "price": p, "confidence": c, "is_risk_cancelling": rc,
            "mm_haircut": hmm, "im_haircut": him}


def base_case(cid, desc):
    return {
        "id": cid,
        "description": desc,
        "source": {"repo": "ale", "path": "scripts/pm_reference.py", "test": "generated"},
        "market": {"spot": 95000.0, "spot_confidence": 1.0, "stable_price": 1.0,
                   "stable_confidence": 1.0, "perp_price": 0.0, "perp_confidence": 0.0,
                   "expiries": []},
        "portfolio": {"cash": 10000.0, "perp_position": 0.0, "perp_unrealised_pnl": 0.0,
                      "perp_unrealised_funding": 0.0, "options": [], "collaterals": []},
        "params": copy.deepcopy(DERIVE_TEST),
        "scenarios": derive_test_scenarios(),
    }


D7, D30, D90, D200 = 7 * 86400, 30 * 86400, 90 * 86400, 200 * 86400


def multi_expiry_book(case, spot=95000.0):
    m = case["market"]
    m["spot"] = spot
    m["expiries"] = [expiry(D7 + 1234, spot * 1.002, 0.04), expiry(D30, spot * 1.008, 0.07),
                     expiry(D90 + 77, spot * 1.02, 0.09), expiry(D200, spot * 1.05, 0.11),
                     expiry(D7 * 5, spot * 1.01, 0.05)]  # last one is unused by options
    case["portfolio"]["options"] = [
        opt(D7 + 1234, spot * 1.05, True, -3.0, 0.52), opt(D7 + 1234, spot * 0.95, False, -2.0, 0.58),
        opt(D7 + 1234, spot * 1.05, False, 1.0, 0.52),
        opt(D30, spot, True, 1.5, 0.55), opt(D30, spot * 1.2, True, -4.0, 0.6),
        opt(D90 + 77, spot * 0.8, False, -2.5, 0.7), opt(D90 + 77, spot * 1.3, True, 2.0, 0.62),
        opt(D200, spot * 1.5, True, -1.0, 0.66), opt(D200, spot * 0.6, False, 0.5, 0.8),
    ]
    return case


def generate_cases():
    cases = []

    def add(c):
        cases.append(c)
        return c

    # Multi-expiry, several rates, basis and scenarios.
    add(multi_expiry_book(base_case("gen_multi_expiry", "five market expiries, four held, mixed book")))

    # Negative rate (clamped to 0 before D and the static discounts).
    c = base_case("gen_negative_rate", "short puts and calls with a negative feed rate")
    c["market"]["expiries"] = [expiry(D30 + 5000, 95100.0, -0.04), expiry(D90, 95500.0, -0.2)]
    c["portfolio"]["options"] = [opt(D30 + 5000, 90000.0, False, -3.0, 0.5),
                                 opt(D30 + 5000, 100000.0, True, -2.0, 0.48),
                                 opt(D90, 110000.0, True, -1.0, 0.55)]
    add(c)

    # Forwards within 30 minutes of expiry, 1 s before, and at expiry.
    c = base_case("gen_near_expiry", "expiries at 1 s, 900 s, 1799 s, 1800 s and 0 s")
    c["market"]["expiries"] = [expiry(0, 95050.0, 0.05), expiry(1, 95040.0, 0.05),
                               expiry(900, 95030.0, 0.05), expiry(1799, 95020.0, 0.05),
                               expiry(1800, 95010.0, 0.05)]
    c["portfolio"]["options"] = [
        opt(0, 94000.0, True, -2.0, 37.0), opt(0, 96000.0, False, 1.0, -5.0),
        opt(1, 95040.0, True, -1.0, 0.6), opt(1, 94000.0, False, 2.0, 0.6),
        opt(900, 95000.0, True, -3.0, 0.55), opt(900, 95000.0, False, -1.0, 0.55),
        opt(1799, 96000.0, True, -2.0, 0.5), opt(1800, 94000.0, False, -2.0, 0.5),
    ]
    add(c)

    # Expired options only (T = 0): intrinsic everywhere, vol irrelevant.
    c = base_case("gen_expired_only", "options at T = 0 with absurd vols")
    c["market"]["expiries"] = [expiry(0, 95000.0, 0.3)]
    c["portfolio"]["options"] = [opt(0, 90000.0, True, -1.0, 50.0), opt(0, 99000.0, False, 2.0, 0.0),
                                 opt(0, 95000.0, True, 3.0, 1e6)]
    add(c)

    # De-peg of the stable coin, several collaterals, some risk-cancelling.
    c = base_case("gen_depeg_multi_collateral", "stable at 0.95, BTC/WBTC/ETH/USDT collateral")
    c["market"]["stable_price"] = 0.95
    c["market"]["expiries"] = [expiry(D30, 95400.0, 0.06)]
    c["portfolio"]["cash"] = -20000.0
    c["portfolio"]["options"] = [opt(D30, 105000.0, True, -3.0, 0.5), opt(D30, 85000.0, False, -1.0, 0.6)]
    c["portfolio"]["collaterals"] = [
        coll("BTC", 1.5, 95000.0, 1.0, True, 0.02, 0.01),
        coll("WBTC", 0.5, 94900.0, 0.5, True, 0.05, 0.03),
        coll("ETH", 4.0, 3500.0, 0.3, False, 0.1, 0.05),
        coll("USDT", 5000.0, 0.999, 1.0, False, 0.0, 0.0),
    ]
    add(c)

    # Risk-cancelling collateral against a short call, stable slightly de-pegged below threshold.
    c = base_case("gen_risk_cancelling_covered", "covered calls, depeg below 0.98")
    c["market"]["stable_price"] = 0.97
    c["market"]["expiries"] = [expiry(D7, 95200.0, 0.1)]
    c["portfolio"]["options"] = [opt(D7, 100000.0, True, -2.0, 0.45)]
    c["portfolio"]["collaterals"] = [coll("BTC", 2.0, 95000.0, 0.9, True, 0.02, 0.01)]
    add(c)

    # Perp with perp price != spot, low confidences, options too.
    c = base_case("gen_perp_mark_vs_spot", "short perp marked away from spot, low confidences")
    c["market"]["perp_price"] = 96500.0
    c["market"]["perp_confidence"] = 0.4
    c["market"]["spot_confidence"] = 0.8
    c["market"]["expiries"] = [expiry(D30, 95500.0, 0.05, fc=0.5, rc=0.9, vc=0.9),
                               expiry(D90, 96000.0, 0.05, fc=0.9, rc=0.3, vc=0.95)]
    c["portfolio"]["perp_position"] = -2.5
    c["portfolio"]["perp_unrealised_pnl"] = 1234.5
    c["portfolio"]["perp_unrealised_funding"] = -56.25
    c["portfolio"]["options"] = [opt(D30, 90000.0, False, 3.0, 0.55), opt(D90, 100000.0, True, -1.0, 0.5)]
    c["portfolio"]["collaterals"] = [coll("ETH", 2.0, 3500.0, 0.5, False, 0.1, 0.05)]
    add(c)

    # Confidence exactly at the threshold (no charge) versus just below.
    for tag, cv in (("at", 0.55), ("below", 0.5499)):
        c = base_case("gen_confidence_%s_threshold" % tag, "vol confidence %s the threshold" % tag)
        c["market"]["expiries"] = [expiry(D30, 95500.0, 0.05, vc=cv)]
        c["portfolio"]["options"] = [opt(D30, 100000.0, True, -1.0, 0.5), opt(D30, 100000.0, False, 1.0, 0.5)]
        c["portfolio"]["collaterals"] = [coll("ETH", 1.0, 3500.0, cv, False, 0.0, 0.0)]
        add(c)

    # Naked shorts netted per strike.
    c = base_case("gen_naked_netting", "calls netted against puts at the same strike")
    c["market"]["expiries"] = [expiry(D30, 95500.0, 0.05)]
    c["portfolio"]["options"] = [opt(D30, 100000.0, True, 10.0, 0.5), opt(D30, 100000.0, False, -20.0, 0.5),
                                 opt(D30, 90000.0, True, -5.0, 0.55), opt(D30, 90000.0, False, 10.0, 0.55),
                                 opt(D30, 80000.0, True, -5.0, 0.6), opt(D30, 80000.0, False, -3.0, 0.6)]
    add(c)

    # Skew binding: long an OTM call and short a nearer one, flat in spot; big Linear/Abs caps.
    c = base_case("gen_skew_binding", "risk reversal + butterfly, skew scenario binds")
    c["market"]["expiries"] = [expiry(D90, 95000.0, 0.0)]
    c["portfolio"]["options"] = [opt(D90, 150000.0, True, -10.0, 0.9), opt(D90, 50000.0, False, -10.0, 0.9),
                                 opt(D90, 95000.0, True, 5.0, 0.6), opt(D90, 95000.0, False, 5.0, 0.6)]
    c["params"]["skew_shock"].update({"linear_base_cap": 3.0, "abs_base_cap": 3.0, "min_k_star": 0.5,
                                      "linear_c_base": 1.0, "abs_c_base": -2.0})
    c["params"]["margin"].update({"short_base_static_discount": 1.0, "long_base_static_discount": 1.0,
                                  "short_rate_add_scale": 0.0, "long_rate_add_scale": 0.0})
    c["params"]["vol_shock"].update({"vol_range_up": 0.0, "vol_range_down": 0.0, "min_vol_up_shock": 0.0})
    c["scenarios"] = derive_test_scenarios()[:-2] + [sc(1.0, "Linear", 2.0), sc(1.0, "Abs", 3.0)]
    add(c)

    # Skew with a negative cap (c_base drives it below 0) and dampening 0.
    c = base_case("gen_skew_negative_cap", "skew cap negative at long expiry, Abs dampening 0")
    c["market"]["expiries"] = [expiry(D200 * 2, 97000.0, 0.03)]
    c["portfolio"]["options"] = [opt(D200 * 2, 120000.0, True, -2.0, 0.7), opt(D200 * 2, 70000.0, False, 1.0, 0.8)]
    c["params"]["skew_shock"].update({"linear_base_cap": 0.1, "linear_c_base": -1.5, "abs_base_cap": 0.1,
                                      "abs_c_base": -1.5})
    c["scenarios"] = [sc(1.1, "Up"), sc(0.9, "Down"), sc(1.0, "Abs", 0.0), sc(1.0, "Linear", 1.0)]
    add(c)

    # Tail binding: short far OTM puts.
    c = base_case("gen_tail_binding", "short far out-of-the-money puts, a tail scenario binds")
    c["market"]["expiries"] = [expiry(D7, 95100.0, 0.05)]
    c["portfolio"]["options"] = [opt(D7, 35000.0, False, -50.0, 0.5)]
    add(c)

    # Vol shocked down to zero (down_e floored at 0) and min-vol-up floor binding.
    c = base_case("gen_vol_down_to_zero", "vol_range_down large: vols shocked to 0; high min_vol_up")
    c["market"]["expiries"] = [expiry(3600 * 5, 95000.0, 0.05), expiry(D90 * 2, 96000.0, 0.05)]
    c["portfolio"]["options"] = [opt(3600 * 5, 96000.0, True, -1.0, 0.3), opt(3600 * 5, 94000.0, False, 1.0, 0.3),
                                 opt(D90 * 2, 90000.0, False, -1.0, 0.2)]
    c["params"]["vol_shock"].update({"vol_range_down": 0.9, "min_vol_up_shock": 1.5})
    add(c)

    # DTE floor and power switch: T slightly above and at 30 d, and below the floor.
    c = base_case("gen_power_switch", "T = 30 d, 30 d + 1 s, 2 h with a 3-day floor")
    c["market"]["expiries"] = [expiry(D30, 95300.0, 0.05), expiry(D30 + 1, 95300.0, 0.05),
                               expiry(7200, 95010.0, 0.05)]
    c["portfolio"]["options"] = [opt(D30, 100000.0, True, -1.0, 0.5), opt(D30 + 1, 100000.0, True, 1.0, 0.5),
                                 opt(7200, 95000.0, False, -1.0, 0.5)]
    c["params"]["vol_shock"].update({"dte_floor_days": 3.0, "short_term_power": 0.9, "long_term_power": 0.05})
    add(c)

    # Basis floor binding: long a straddle near expiry with basis factors large; scenarios damped.
    c = base_case("gen_basis_binding", "basis floor binds (scenarios damped to 0)")
    c["market"]["expiries"] = [expiry(D30, 95300.0, 0.05)]
    c["portfolio"]["options"] = [opt(D30, 95000.0, True, -1.0, 0.5), opt(D30, 95000.0, False, -1.0, 0.5)]
    c["params"]["basis_contingency"].update({"add_factor": 20.0, "mult_factor": 20.0})
    c["scenarios"] = [sc(s["spot_shock"], s["vol_shock"], 0.0) for s in derive_test_scenarios()]
    add(c)

    # deribit-like parameter set and scenario list on the multi-expiry book with a perp.
    c = multi_expiry_book(base_case("gen_deribit_like", "deribit-like set and 33 scenarios"))
    c["params"] = copy.deepcopy(DERIBIT_LIKE)
    c["scenarios"] = deribit_like_scenarios()
    c["market"]["perp_price"] = 94800.0
    c["market"]["perp_confidence"] = 0.9
    c["portfolio"]["perp_position"] = 1.2
    c["portfolio"]["perp_unrealised_pnl"] = -300.0
    c["portfolio"]["collaterals"] = [coll("BTC", 0.7, 95000.0, 1.0, True, 0.03, 0.02)]
    c["market"]["stable_price"] = 0.985
    add(c)

    # Parameter sweep: every parameter at a low and a high admissible value on the mixed book.
    low_high = {
        "vol_shock": {"vol_range_up": (0.0, 3.0), "vol_range_down": (0.0, 2.0),
                      "short_term_power": (0.0, 2.0), "long_term_power": (0.0, 1.5),
                      "dte_floor_days": (0.0, 60.0), "min_vol_up_shock": (0.0, 3.0)},
        "margin": {"im_factor": (0.5, 10.0), "mm_factor": (0.1, 10.0),
                   "short_rate_mult_scale": (0.0, 10.0), "long_rate_mult_scale": (0.0, 10.0),
                   "short_rate_add_scale": (0.0, 10.0), "long_rate_add_scale": (0.0, 10.0),
                   "short_base_static_discount": (0.0, 4.0), "long_base_static_discount": (0.0, 4.0)},
        "basis_contingency": {"scenario_spot_up": (1.001, 2.9), "scenario_spot_down": (0.01, 0.999),
                              "add_factor": (0.0, 20.0), "mult_factor": (0.0, 20.0)},
        "other_contingency": {"peg_loss_threshold": (0.0, 100.0), "peg_loss_factor": (0.0, 10.0),
                              "conf_threshold": (0.0, 1.0), "conf_margin": (0.0, 20.0),
                              "mm_perp_percent": (0.0, 3.0), "im_perp_percent": (0.0, 3.0),
                              "mm_option_percent": (0.0, 2.0), "im_option_percent": (0.0, 2.0)},
        "skew_shock": {"linear_base_cap": (0.0, 10.0), "abs_base_cap": (0.0, 10.0),
                       "linear_c_base": (-10.0, 10.0), "abs_c_base": (-10.0, 10.0),
                       "min_k_star": (0.001, 10.0), "width_scale": (0.0, 10.0),
                       "vol_param_static": (0.0, 10.0), "vol_param_scale": (-20.0, 20.0)},
    }
    sweep = []
    for g, keys in low_high.items():
        for k, (lo, hi) in keys.items():
            for tag, v in (("low", lo), ("high", hi)):
                c = multi_expiry_book(base_case("gen_sweep_%s_%s_%s" % (g, k, tag),
                                                "%s.%s = %r" % (g, k, v)))
                c["market"]["perp_price"] = 95300.0
                c["market"]["perp_confidence"] = 0.6
                c["market"]["spot_confidence"] = 0.7
                c["market"]["stable_price"] = 0.97
                c["market"]["expiries"][0]["vol_confidence"] = 0.5
                c["portfolio"]["perp_position"] = -0.8
                c["portfolio"]["collaterals"] = [coll("BTC", 0.5, 95000.0, 0.6, True, 0.02, 0.01),
                                                 coll("ETH", 3.0, 3500.0, 0.4, False, 0.1, 0.05)]
                c["params"][g][k] = v
                sweep.append(c)
    return cases, sweep


def generate(outdir):
    os.makedirs(outdir, exist_ok=True)
    cases, sweep = generate_cases()
    for c in cases:
        c["expected"] = evaluate(c)
        with open(os.path.join(outdir, c["id"] + ".json"), "w") as fh:
            json.dump(c, fh, indent=1)
            fh.write("\n")
    for c in sweep:
        c["expected"] = evaluate(c)
    with open(os.path.join(outdir, "gen_parameter_sweep.json"), "w") as fh:
        json.dump({"vectors": sweep}, fh, indent=1)
        fh.write("\n")
    print("wrote %d cases and a sweep of %d" % (len(cases), len(sweep)))


def main(argv):
    if len(argv) >= 2 and argv[1] == "replay":
        return replay(argv[2:])
    if len(argv) == 3 and argv[1] == "generate":
        generate(argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
