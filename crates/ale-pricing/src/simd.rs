//! Vector versions of the price kernel for the batch loops: four options per step with AVX2,
//! eight with AVX-512 (chosen at run time).
//!
//! The kernels are written once (`vector_kernels!`) over a small set of lane operations that
//! each instruction set implements; they mirror their scalar counterparts in `black76` /
//! `special` operation for operation, in the same order, with no FMA. IEEE arithmetic is then the
//! same in every lane as in the scalar code, and the batch results are bit-identical to
//! [`Black76::price`] (tests check it over the golden table and by proptest over the whole
//! domain). Regimes the scalar code branches on are computed for all lanes and selected; the
//! small-vol series and erfcx's asymptotic series only when a lane of the group needs them. The
//! erfcx table is read with gathers whose indices are clamped into the table, so lanes that are
//! later discarded (e.g. zero total vol) never read out of bounds.
//!
//! [`Black76::price`]: crate::Black76::price

/// The kernels, generic over the lane operations in scope (see `avx2` and `avx512` below).
macro_rules! vector_kernels {
    ($feature:literal) => {
        use crate::black76::TOTAL_VOL_MIN;
        use crate::erfcx_table::{CENTRE, COEFFICIENTS, DEGREE, INTERVALS, INV_HALF_WIDTH};
        use crate::special::{
            EXP_TAYLOR, INV_SQRT_PI, LN2_HI, LN2_LO, LN_ATANH, MANTISSA, ODD_INV_FACTORIAL, SHIFT,
            TWO_OVER_SQRT_PI, TWO_POW_52,
        };
        use ale_core::OptionKind;

        /// `special::max_sel`.
        #[inline]
        #[target_feature(enable = $feature)]
        fn max_sel(a: V, b: V) -> V {
            sel(gt(a, b), a, b)
        }

        /// `special::min_sel`.
        #[inline]
        #[target_feature(enable = $feature)]
        fn min_sel(a: V, b: V) -> V {
            sel(lt(a, b), a, b)
        }

        /// `special::two_product_error`.
        #[inline]
        #[target_feature(enable = $feature)]
        fn two_product_error(a: V, b: V, p: V) -> V {
            let split = splat(134_217_729.0);
            let ca = mul(split, a);
            let a_hi = sub(ca, sub(ca, a));
            let a_lo = sub(a, a_hi);
            let cb = mul(split, b);
            let b_hi = sub(cb, sub(cb, b));
            let b_lo = sub(b, b_hi);
            add(
                add(
                    add(sub(mul(a_hi, b_hi), p), mul(a_hi, b_lo)),
                    mul(a_lo, b_hi),
                ),
                mul(a_lo, b_lo),
            )
        }

        /// `special::exp_kernel`.
        #[inline]
        #[target_feature(enable = $feature)]
        fn exp(a: V) -> V {
            let f = EXP_TAYLOR;
            let clamped = min_sel(max_sel(a, splat(-708.0)), splat(709.0));
            let shifted = add(mul(clamped, splat(std::f64::consts::LOG2_E)), splat(SHIFT));
            let k = sub(shifted, splat(SHIFT));
            let r = sub(sub(clamped, mul(k, splat(LN2_HI))), mul(k, splat(LN2_LO)));
            let r2 = mul(r, r);
            let r4 = mul(r2, r2);
            let r8 = mul(r4, r4);
            let pair = |i: usize| add(splat(f[i]), mul(splat(f[i + 1]), r));
            let p0 = add(pair(0), mul(pair(2), r2));
            let p1 = add(pair(4), mul(pair(6), r2));
            let p2 = add(pair(8), mul(pair(10), r2));
            let p3 = pair(12);
            let poly = add(add(p0, mul(p1, r4)), mul(add(p2, mul(p3, r4)), r8));
            let k_bits = i_sub(to_bits(shifted), splat_i(SHIFT.to_bits() as i64));
            let scale = from_bits(shl::<52>(i_add(k_bits, splat_i(1023))));
            sel(ge(a, splat(-708.0)), mul(poly, scale), splat(0.0))
        }

        /// `special::ln_kernel`.
        #[inline]
        #[target_feature(enable = $feature)]
        fn ln(q: V) -> V {
            let c = LN_ATANH;
            let bits = to_bits(q);
            let biased = sub(
                from_bits(i_or(shr::<52>(bits), splat_i(0x4330_0000_0000_0000))),
                splat(TWO_POW_52),
            );
            let mantissa = from_bits(i_or(
                i_and(bits, splat_i(MANTISSA as i64)),
                splat_i(1.0f64.to_bits() as i64),
            ));
            let high = gt(mantissa, splat(std::f64::consts::SQRT_2));
            let m = sel(high, mul(splat(0.5), mantissa), mantissa);
            let e = sub(biased, sel(high, splat(1022.0), splat(1023.0)));
            let f = sub(m, splat(1.0));
            let s = div(f, add(splat(2.0), f));
            let z = mul(s, s);
            let z2 = mul(z, z);
            let z4 = mul(z2, z2);
            let z8 = mul(z4, z4);
            let pair = |i: usize| add(splat(c[i]), mul(splat(c[i + 1]), z));
            let a = add(pair(0), mul(pair(2), z2));
            let b = add(pair(4), mul(pair(6), z2));
            let cc = pair(8);
            let t = mul(z, add(add(a, mul(b, z4)), mul(cc, z8)));
            add(
                mul(e, splat(LN2_HI)),
                add(sub(f, mul(s, sub(f, t))), mul(e, splat(LN2_LO))),
            )
        }

        /// `special::erfcx_nonneg`.
        #[inline]
        #[target_feature(enable = $feature)]
        fn erfcx(z: V) -> V {
            const _: () = assert!(DEGREE == 12);
            let bits = to_bits(z);
            let binade = i_sub(shr::<52>(bits), splat_i(1022));
            let quarter = i_and(shr::<50>(bits), splat_i(3));
            let upper = i_add(i_add(shl::<2>(binade), splat_i(2)), quarter);
            // clamp (signed) into the table: the gathers below must stay inside it
            let upper = i_clamp(upper, 0, INTERVALS as i64 - 1);
            let lower = i_sel(ge(z, splat(0.25)), splat_i(1), splat_i(0));
            let idx = i_sel(lt(z, splat(0.5)), lower, upper);
            // SAFETY: every index is in [0, INTERVALS − 1], so every gathered address is inside
            // CENTRE / INV_HALF_WIDTH, and `idx·13 + j ≤ 29·13 + 12` inside COEFFICIENTS.
            let (centre, inv_half_width) = unsafe {
                (
                    gather(CENTRE.as_ptr(), idx),
                    gather(INV_HALF_WIDTH.as_ptr(), idx),
                )
            };
            let t = mul(sub(z, centre), inv_half_width);
            let row = i_add(i_add(shl::<3>(idx), shl::<2>(idx)), idx);
            let base = COEFFICIENTS.as_ptr().cast::<f64>();
            // SAFETY: as above; `j ≤ DEGREE` stays within the row.
            let c = |j: usize| unsafe { gather(base.add(j), row) };
            let t2 = mul(t, t);
            let t4 = mul(t2, t2);
            let t8 = mul(t4, t4);
            let pair = |i: usize| add(c(i), mul(c(i + 1), t));
            let q0 = add(pair(0), mul(pair(2), t2));
            let q1 = add(pair(4), mul(pair(6), t2));
            let q2 = add(pair(8), mul(pair(10), t2));
            let table = add(add(q0, mul(q1, t4)), mul(add(q2, mul(c(12), t4)), t8));
            let far = nlt(z, splat(64.0)); // !(z < 64), as the scalar code
            if !any(far) {
                return table; // the common case: skip the asymptotic series' divisions
            }
            let u = div(splat(1.0), mul(z, z));
            let series = add(
                splat(1.0),
                mul(
                    u,
                    add(
                        splat(-0.5),
                        mul(
                            u,
                            add(
                                splat(0.75),
                                mul(u, add(splat(-1.875), mul(u, splat(6.5625)))),
                            ),
                        ),
                    ),
                ),
            );
            let asymptotic = mul(div(splat(INV_SQRT_PI), z), series);
            sel(far, asymptotic, table)
        }

        /// `special::erfcx_central_difference`.
        #[inline]
        #[target_feature(enable = $feature)]
        fn erfcx_central_difference(m: V, delta: V) -> V {
            let two_m = mul(splat(2.0), m);
            let y0 = erfcx(m);
            let y1 = sub(mul(two_m, y0), splat(TWO_OVER_SQRT_PI));
            let step = |y: V, y_prev: V, n2: f64| add(mul(two_m, y), mul(splat(n2), y_prev));
            let y2 = step(y1, y0, 2.0);
            let y3 = step(y2, y1, 4.0);
            let y4 = step(y3, y2, 6.0);
            let y5 = step(y4, y3, 8.0);
            let y6 = step(y5, y4, 10.0);
            let y7 = step(y6, y5, 12.0);
            let y8 = step(y7, y6, 14.0);
            let y9 = step(y8, y7, 16.0);
            let y10 = step(y9, y8, 18.0);
            let y11 = step(y10, y9, 20.0);
            let d2 = mul(delta, delta);
            let [f3, f5, f7, f9, f11] = ODD_INV_FACTORIAL.map(|c| splat(c));
            let inner = add(mul(y9, f9), mul(d2, mul(y11, f11)));
            let inner = add(mul(y7, f7), mul(d2, inner));
            let inner = add(mul(y5, f5), mul(d2, inner));
            let inner = add(mul(y3, f3), mul(d2, inner));
            let sum = mul(delta, add(y1, mul(d2, inner)));
            mul(splat(-2.0), sum)
        }

        /// `black76::log_moneyness`, `otm_parts` and what the Greeks reuse.
        struct Parts {
            otm: V,
            e: V,
            y_near: V,
            y_far: V,
            use_series: M,
            x: V,
            sqrt_fk: V,
        }

        /// `black76::otm_parts` with its inputs (`x`, `√(FK)`) computed as the scalar kernels do.
        #[inline]
        #[target_feature(enable = $feature)]
        fn parts(forward: V, strike: V, s: V) -> Parts {
            const SQRT_2: f64 = std::f64::consts::SQRT_2;
            let zero = splat(0.0);
            // log_moneyness
            let q = div(forward, strike);
            let p = mul(q, strike);
            let remainder = sub(sub(forward, p), two_product_error(q, strike, p));
            let x = add(ln(q), div(remainder, forward));
            let sqrt_fk = sqrt(mul(forward, strike));
            // otm_parts
            let m = div(abs(x), mul(s, splat(SQRT_2)));
            let delta = mul(s, splat(0.25 * SQRT_2));
            let e = exp(neg(add(mul(m, m), mul(delta, delta))));
            let lower = min_sel(forward, strike);
            let half_scale = mul(mul(splat(0.5), sqrt_fk), e);
            let use_series = and_m(
                lt(m, splat(8.0)),
                lt(delta, mul(splat(0.03), max_sel(m, splat(1.0)))),
            );
            let y_near = erfcx(abs(sub(m, delta)));
            let y_far = erfcx(add(m, delta));
            let both_below = mul(half_scale, sub(y_near, y_far));
            let straddling = sub(lower, mul(half_scale, add(y_near, y_far)));
            let mut otm = sel(ge(m, delta), both_below, straddling);
            if any(use_series) {
                let series = mul(half_scale, erfcx_central_difference(m, delta));
                otm = sel(use_series, series, otm);
            }
            Parts {
                otm: min_sel(max_sel(otm, zero), lower),
                e,
                y_near,
                y_far,
                use_series,
                x,
                sqrt_fk,
            }
        }

        /// `black76::price_kernel_discounted`.
        #[inline]
        #[target_feature(enable = $feature)]
        fn price_discounted(sign: V, forward: V, strike: V, sqrt_t: V, vol: V, discount: V) -> V {
            let zero = splat(0.0);
            let intrinsic = max_sel(mul(sign, sub(forward, strike)), zero);
            let s = mul(vol, sqrt_t);
            let has_time_value = ge(s, splat(TOTAL_VOL_MIN));
            let otm = parts(forward, strike, s).otm;
            let bound = sel(gt(sign, zero), forward, strike);
            let price = mul(
                discount,
                min_sel(max_sel(add(intrinsic, otm), intrinsic), bound),
            );
            sel(has_time_value, price, mul(discount, intrinsic))
        }

        /// `black76::greeks_kernel` (and `degenerate_greeks`, selected per lane): price, delta,
        /// gamma, vega, theta, vanna, volga.
        #[inline]
        #[target_feature(enable = $feature)]
        fn greeks(sign: V, forward: V, strike: V, t: V, vol: V, rate: V) -> [V; 7] {
            const INV_SQRT_2PI: f64 = crate::special::INV_SQRT_2PI;
            let (zero, one, half) = (splat(0.0), splat(1.0), splat(0.5));
            let Core {
                discount,
                intrinsic,
                sqrt_t,
                s,
                has_time_value,
                p,
                is_call,
                price,
                dv,
                gamma,
            } = core(sign, forward, strike, t, vol, rate);
            let h = div(p.x, s);
            let d1 = add(h, mul(half, s));
            let d2 = sub(h, mul(half, s));
            let mut y_d1 = sel(le(p.x, zero), p.y_near, p.y_far);
            if any(p.use_series) {
                let direct = erfcx(mul(abs(d1), splat(std::f64::consts::FRAC_1_SQRT_2)));
                y_d1 = sel(p.use_series, direct, y_d1);
            }
            let tail = mul(mul(half, div(mul(p.sqrt_fk, p.e), forward)), y_d1);
            let d1_positive = gt(d1, zero);
            let delta_call = sel(d1_positive, sub(one, tail), tail);
            let delta_put = sel(d1_positive, neg(tail), sub(tail, one));
            let delta = mul(discount, sel(is_call, delta_call, delta_put));
            let vega = mul(dv, sqrt_t);
            let theta = sub(mul(rate, price), div(mul(dv, vol), mul(splat(2.0), sqrt_t)));
            let vanna = div(mul(neg(div(dv, forward)), d2), vol);
            let volga = div(mul(mul(mul(dv, sqrt_t), d1), d2), vol);
            // degenerate_greeks
            let price_0 = mul(discount, intrinsic);
            let at_kink = eq(forward, strike);
            let moneyness = mul(sign, sub(forward, strike));
            let delta_0 = sel(
                gt(moneyness, zero),
                mul(discount, sign),
                sel(at_kink, mul(mul(half, discount), sign), zero),
            );
            let vega_0 = sel(
                at_kink,
                mul(mul(mul(discount, forward), sqrt_t), splat(INV_SQRT_2PI)),
                zero,
            );
            let vanna_0 = sel(
                at_kink,
                mul(mul(mul(half, discount), sqrt_t), splat(INV_SQRT_2PI)),
                zero,
            );
            let theta_0 = mul(rate, price_0);
            let pick = |a: V, b: V| sel(has_time_value, a, b);
            [
                pick(price, price_0),
                pick(delta, delta_0),
                pick(gamma, zero),
                pick(vega, vega_0),
                pick(theta, theta_0),
                pick(vanna, vanna_0),
                pick(volga, zero),
            ]
        }

        /// What `greeks` and `price_gamma` share: the price (before the degenerate case) and
        /// gamma, with the intermediate values the other Greeks need.
        struct Core {
            discount: V,
            intrinsic: V,
            sqrt_t: V,
            s: V,
            has_time_value: M,
            p: Parts,
            is_call: M,
            price: V,
            dv: V,
            gamma: V,
        }

        #[inline]
        #[target_feature(enable = $feature)]
        fn core(sign: V, forward: V, strike: V, t: V, vol: V, rate: V) -> Core {
            const INV_SQRT_2PI: f64 = crate::special::INV_SQRT_2PI;
            let zero = splat(0.0);
            let discount = exp(mul(neg(rate), t));
            let intrinsic = max_sel(mul(sign, sub(forward, strike)), zero);
            let sqrt_t = sqrt(t);
            let s = mul(vol, sqrt_t);
            let has_time_value = ge(s, splat(TOTAL_VOL_MIN));
            let p = parts(forward, strike, s);
            let is_call = gt(sign, zero);
            let bound = sel(is_call, forward, strike);
            let price = mul(
                discount,
                min_sel(max_sel(add(intrinsic, p.otm), intrinsic), bound),
            );
            let f_phi = mul(mul(p.sqrt_fk, p.e), splat(INV_SQRT_2PI));
            let dv = mul(discount, f_phi);
            let gamma = div(dv, mul(mul(forward, forward), s));
            Core {
                discount,
                intrinsic,
                sqrt_t,
                s,
                has_time_value,
                p,
                is_call,
                price,
                dv,
                gamma,
            }
        }

        /// `greeks`' price and gamma alone (the same operations: the same bits), for the
        /// scenario tables, which read nothing else.
        #[inline]
        #[target_feature(enable = $feature)]
        fn price_gamma(sign: V, forward: V, strike: V, t: V, vol: V, rate: V) -> [V; 2] {
            let c = core(sign, forward, strike, t, vol, rate);
            [
                sel(c.has_time_value, c.price, mul(c.discount, c.intrinsic)),
                sel(c.has_time_value, c.gamma, splat(0.0)),
            ]
        }

        /// Many options, price and gamma: the vectorised part of `batch::price_gamma`; returns
        /// how many options it priced.
        #[target_feature(enable = $feature)]
        pub(crate) fn price_gamma_many(
            kind: &[OptionKind],
            forward: &[f64],
            strike: &[f64],
            expiry_years: &[f64],
            vol: &[f64],
            rate: &[f64],
            out: [&mut [f64]; 2],
        ) -> usize {
            let n = forward.len() / LANES * LANES;
            let mut out = out;
            let mut i = 0;
            while i < n {
                let sign: [f64; LANES] = std::array::from_fn(|j| kind[i + j].sign());
                let g = price_gamma(
                    load(&sign),
                    load(&forward[i..]),
                    load(&strike[i..]),
                    load(&expiry_years[i..]),
                    load(&vol[i..]),
                    load(&rate[i..]),
                );
                for (column, value) in out.iter_mut().zip(g) {
                    store(&mut column[i..], value);
                }
                i += LANES;
            }
            n
        }

        /// Many options, price and Greeks: the vectorised part of `batch::price_greeks`;
        /// returns how many options it priced. `out` holds the seven output slices (price,
        /// delta, gamma, vega, theta, vanna, volga), each as long as the inputs.
        #[target_feature(enable = $feature)]
        pub(crate) fn greeks_many(
            kind: &[OptionKind],
            forward: &[f64],
            strike: &[f64],
            expiry_years: &[f64],
            vol: &[f64],
            rate: &[f64],
            out: [&mut [f64]; 7],
        ) -> usize {
            let n = forward.len() / LANES * LANES;
            let mut out = out;
            let mut i = 0;
            while i < n {
                let sign: [f64; LANES] = std::array::from_fn(|j| kind[i + j].sign());
                let g = greeks(
                    load(&sign),
                    load(&forward[i..]),
                    load(&strike[i..]),
                    load(&expiry_years[i..]),
                    load(&vol[i..]),
                    load(&rate[i..]),
                );
                for (column, value) in out.iter_mut().zip(g) {
                    store(&mut column[i..], value);
                }
                i += LANES;
            }
            n
        }

        /// Many options: the vectorised part of `batch::price` (whole groups of `LANES`);
        /// returns how many options it priced, the caller prices the rest with the scalar
        /// kernel. All slices have the length of `out`.
        #[target_feature(enable = $feature)]
        pub(crate) fn price_many(
            kind: &[OptionKind],
            forward: &[f64],
            strike: &[f64],
            expiry_years: &[f64],
            vol: &[f64],
            rate: &[f64],
            out: &mut [f64],
        ) -> usize {
            let n = out.len() / LANES * LANES;
            let mut i = 0;
            while i < n {
                let t = load(&expiry_years[i..]);
                let discount = exp(mul(neg(load(&rate[i..])), t));
                let sign: [f64; LANES] = std::array::from_fn(|j| kind[i + j].sign());
                let price = price_discounted(
                    load(&sign),
                    load(&forward[i..]),
                    load(&strike[i..]),
                    sqrt(t),
                    load(&vol[i..]),
                    discount,
                );
                store(&mut out[i..], price);
                i += LANES;
            }
            n
        }

        /// One option under many scenarios: the vectorised part of `batch::price_scenarios`;
        /// returns how many scenarios it priced. `discount` and `sqrt_t` as the scalar loop
        /// computes them.
        #[target_feature(enable = $feature)]
        pub(crate) fn price_scenarios(
            sign: f64,
            strike: f64,
            sqrt_t: f64,
            discount: f64,
            forwards: &[f64],
            vols: &[f64],
            out: &mut [f64],
        ) -> usize {
            let n = out.len() / LANES * LANES;
            let (sign, strike, sqrt_t, discount) =
                (splat(sign), splat(strike), splat(sqrt_t), splat(discount));
            let mut i = 0;
            while i < n {
                let price = price_discounted(
                    sign,
                    load(&forwards[i..]),
                    strike,
                    sqrt_t,
                    load(&vols[i..]),
                    discount,
                );
                store(&mut out[i..], price);
                i += LANES;
            }
            n
        }
    };
}

/// Four lanes of AVX2.
pub(crate) mod avx2 {
    use std::arch::x86_64::*;

    type V = __m256d;
    type I = __m256i;
    /// A lane mask: all ones or all zeros per lane, as AVX2 comparisons give.
    type M = __m256d;
    const LANES: usize = 4;

    #[inline]
    #[target_feature(enable = "avx2")]
    fn splat(x: f64) -> V {
        _mm256_set1_pd(x)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn splat_i(x: i64) -> I {
        _mm256_set1_epi64x(x)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn add(a: V, b: V) -> V {
        _mm256_add_pd(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn sub(a: V, b: V) -> V {
        _mm256_sub_pd(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn mul(a: V, b: V) -> V {
        _mm256_mul_pd(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn div(a: V, b: V) -> V {
        _mm256_div_pd(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn sqrt(a: V) -> V {
        _mm256_sqrt_pd(a)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn neg(a: V) -> V {
        _mm256_xor_pd(a, splat(-0.0))
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn abs(a: V) -> V {
        _mm256_andnot_pd(splat(-0.0), a)
    }
    /// `mask ? a : b`, lane by lane.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn sel(mask: M, a: V, b: V) -> V {
        _mm256_blendv_pd(b, a, mask)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn i_sel(mask: M, a: I, b: I) -> I {
        _mm256_castpd_si256(sel(mask, _mm256_castsi256_pd(a), _mm256_castsi256_pd(b)))
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn gt(a: V, b: V) -> M {
        _mm256_cmp_pd::<_CMP_GT_OQ>(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn lt(a: V, b: V) -> M {
        _mm256_cmp_pd::<_CMP_LT_OQ>(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn ge(a: V, b: V) -> M {
        _mm256_cmp_pd::<_CMP_GE_OQ>(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn le(a: V, b: V) -> M {
        _mm256_cmp_pd::<_CMP_LE_OQ>(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn eq(a: V, b: V) -> M {
        _mm256_cmp_pd::<_CMP_EQ_OQ>(a, b)
    }
    /// `!(a < b)`, true for NaN.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn nlt(a: V, b: V) -> M {
        _mm256_cmp_pd::<_CMP_NLT_UQ>(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn and_m(a: M, b: M) -> M {
        _mm256_and_pd(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn any(m: M) -> bool {
        _mm256_movemask_pd(m) != 0
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn to_bits(a: V) -> I {
        _mm256_castpd_si256(a)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn from_bits(a: I) -> V {
        _mm256_castsi256_pd(a)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn i_add(a: I, b: I) -> I {
        _mm256_add_epi64(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn i_sub(a: I, b: I) -> I {
        _mm256_sub_epi64(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn i_and(a: I, b: I) -> I {
        _mm256_and_si256(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn i_or(a: I, b: I) -> I {
        _mm256_or_si256(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn shl<const N: i32>(a: I) -> I {
        _mm256_slli_epi64::<N>(a)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn shr<const N: i32>(a: I) -> I {
        _mm256_srli_epi64::<N>(a)
    }
    /// Signed clamp of each lane to `[lo, hi]`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn i_clamp(a: I, lo: i64, hi: i64) -> I {
        let (lo, hi) = (splat_i(lo), splat_i(hi));
        let a = _mm256_blendv_epi8(a, hi, _mm256_cmpgt_epi64(a, hi));
        _mm256_blendv_epi8(a, lo, _mm256_cmpgt_epi64(lo, a))
    }
    /// # Safety
    /// `base + idx[j]` must be inside one allocation for every lane.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn gather(base: *const f64, idx: I) -> V {
        // SAFETY: the caller's contract.
        unsafe { _mm256_i64gather_pd::<8>(base, idx) }
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(s: &[f64]) -> V {
        assert!(s.len() >= LANES);
        // SAFETY: LANES f64 are in bounds (asserted); loadu has no alignment requirement.
        unsafe { _mm256_loadu_pd(s.as_ptr()) }
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn store(out: &mut [f64], v: V) {
        assert!(out.len() >= LANES);
        // SAFETY: LANES f64 are in bounds (asserted); storeu has no alignment requirement.
        unsafe { _mm256_storeu_pd(out.as_mut_ptr(), v) }
    }

    vector_kernels!("avx2");
}

/// Eight lanes of AVX-512 (F and DQ).
pub(crate) mod avx512 {
    use std::arch::x86_64::*;

    type V = __m512d;
    type I = __m512i;
    /// A lane mask: one bit per lane.
    type M = __mmask8;
    const LANES: usize = 8;

    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn splat(x: f64) -> V {
        _mm512_set1_pd(x)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn splat_i(x: i64) -> I {
        _mm512_set1_epi64(x)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn add(a: V, b: V) -> V {
        _mm512_add_pd(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn sub(a: V, b: V) -> V {
        _mm512_sub_pd(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn mul(a: V, b: V) -> V {
        _mm512_mul_pd(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn div(a: V, b: V) -> V {
        _mm512_div_pd(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn sqrt(a: V) -> V {
        _mm512_sqrt_pd(a)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn neg(a: V) -> V {
        _mm512_xor_pd(a, splat(-0.0))
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn abs(a: V) -> V {
        _mm512_andnot_pd(splat(-0.0), a)
    }
    /// `mask ? a : b`, lane by lane.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn sel(mask: M, a: V, b: V) -> V {
        _mm512_mask_blend_pd(mask, b, a)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn i_sel(mask: M, a: I, b: I) -> I {
        _mm512_mask_blend_epi64(mask, b, a)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn gt(a: V, b: V) -> M {
        _mm512_cmp_pd_mask::<_CMP_GT_OQ>(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn lt(a: V, b: V) -> M {
        _mm512_cmp_pd_mask::<_CMP_LT_OQ>(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn ge(a: V, b: V) -> M {
        _mm512_cmp_pd_mask::<_CMP_GE_OQ>(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn le(a: V, b: V) -> M {
        _mm512_cmp_pd_mask::<_CMP_LE_OQ>(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn eq(a: V, b: V) -> M {
        _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(a, b)
    }
    /// `!(a < b)`, true for NaN.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn nlt(a: V, b: V) -> M {
        _mm512_cmp_pd_mask::<_CMP_NLT_UQ>(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn and_m(a: M, b: M) -> M {
        a & b
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn any(m: M) -> bool {
        m != 0
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn to_bits(a: V) -> I {
        _mm512_castpd_si512(a)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn from_bits(a: I) -> V {
        _mm512_castsi512_pd(a)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn i_add(a: I, b: I) -> I {
        _mm512_add_epi64(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn i_sub(a: I, b: I) -> I {
        _mm512_sub_epi64(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn i_and(a: I, b: I) -> I {
        _mm512_and_si512(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn i_or(a: I, b: I) -> I {
        _mm512_or_si512(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn shl<const N: u32>(a: I) -> I {
        _mm512_slli_epi64::<N>(a)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn shr<const N: u32>(a: I) -> I {
        _mm512_srli_epi64::<N>(a)
    }
    /// Signed clamp of each lane to `[lo, hi]`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn i_clamp(a: I, lo: i64, hi: i64) -> I {
        _mm512_max_epi64(_mm512_min_epi64(a, splat_i(hi)), splat_i(lo))
    }
    /// # Safety
    /// `base + idx[j]` must be inside one allocation for every lane.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    unsafe fn gather(base: *const f64, idx: I) -> V {
        // SAFETY: the caller's contract.
        unsafe { _mm512_i64gather_pd::<8>(idx, base) }
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn load(s: &[f64]) -> V {
        assert!(s.len() >= LANES);
        // SAFETY: LANES f64 are in bounds (asserted); loadu has no alignment requirement.
        unsafe { _mm512_loadu_pd(s.as_ptr()) }
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn store(out: &mut [f64], v: V) {
        assert!(out.len() >= LANES);
        // SAFETY: LANES f64 are in bounds (asserted); storeu has no alignment requirement.
        unsafe { _mm512_storeu_pd(out.as_mut_ptr(), v) }
    }

    vector_kernels!("avx512f,avx512dq");
}
