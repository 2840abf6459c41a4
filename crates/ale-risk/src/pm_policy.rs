//! `pm` as a policy of the engine: the mapping of pm.md §9 from the market and portfolio files
//! (a [`MarketSnapshot`] and an [`Account`]) onto Derive's PMRM_2 inputs, the report numbers,
//! and liquidation prices (spot, forwards, perp mark and risk-cancelling collateral moved
//! together, vols sticky-moneyness, `MM_surplus = 0` solved as for every policy).
//!
//! `pm` margins a whole account at once (collateral haircuts and confidence count once per
//! account), so it plugs into the engine through [`MarginPolicy::whole_account`] rather than the
//! per-underlying tables.

use std::collections::BTreeMap;

use ale_core::{Account, Asset, ExpiryDate, Instrument};
use ale_market::MarketSnapshot;

use crate::engine::{AccountMargin, WorstScenario};
use crate::error::RiskError;
use crate::liquidation_price::{outward_root, LiquidationPrices};
use crate::pm::{
    evaluate_account_with, Binding, Collateral, ExpiryMarket, HeldCollateral, MultiAccount,
    ParamSet, PmConfig, PmOption, UnderlyingBook, UnderlyingMarket as PmUnderlying, VolDirection,
};
use crate::pm_table::{PmTable, PmTableSource};
use crate::policy::{LiquidationScan, MarginPolicy, MAX_COMPONENTS};
use crate::table::TableSpec;

/// Component names of `pm` in `ale margin` (pm.md §9), in order.
pub const PM_COMPONENTS: &[&str] = &[
    "scenario_loss",
    "basis",
    "option_contingency",
    "perp_contingency",
    "collateral_haircut",
];

/// IM component names of `pm` (pm.md §9), in order.
pub const PM_IM_COMPONENTS: &[&str] = &[
    "scenario_loss",
    "basis",
    "peg",
    "option_contingency",
    "perp_contingency",
    "collateral_haircut",
    "confidence",
];

/// One underlying's positions as pm reads them: perp size, perp unrealised P&L, options by
/// expiry.
type BookInputs = (f64, f64, Vec<(ExpiryDate, PmOption)>);

/// pm.md §9: the market of one expiry of an underlying (forward, its confidence, rate).
pub(crate) fn expiry_market(
    um: &ale_market::UnderlyingMarket,
    market: &MarketSnapshot,
    expiry: ExpiryDate,
) -> ExpiryMarket {
    let now = market.time();
    let t = expiry.years_from(now);
    let fields = um
        .pm
        .forward_fields
        .get(&expiry)
        .copied()
        .unwrap_or_default();
    ExpiryMarket {
        sec_to_expiry: expiry.seconds_from(now) as u64,
        forward: um.forward(expiry, t, market.rate()),
        forward_confidence: fields.confidence,
        rate: fields.rate.unwrap_or(market.rate()),
        rate_confidence: fields.rate_confidence,
        vol_confidence: fields.vol_confidence,
    }
}

/// The `pm` policy.
#[derive(Debug, Clone)]
pub struct PmPolicy {
    /// Parameters and scenario list.
    pub config: PmConfig,
}

impl Default for PmPolicy {
    fn default() -> Self {
        PmPolicy {
            config: PmConfig::from_set(ParamSet::DeribitLike),
        }
    }
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> RiskError {
    RiskError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

fn vol_name(v: VolDirection) -> &'static str {
    match v {
        VolDirection::Up => "Up",
        VolDirection::None => "None",
        VolDirection::Down => "Down",
        VolDirection::Linear => "Linear",
        VolDirection::Abs => "Abs",
    }
}

impl PmPolicy {
    /// From a pm TOML parameter file (`set = ...` plus overrides), or the `deribit-like` set.
    pub fn from_toml(text: Option<&str>) -> Result<PmPolicy, RiskError> {
        let config = match text {
            Some(t) if !t.trim().is_empty() => {
                PmConfig::from_toml(t).map_err(|e| RiskError::Params(e.to_string()))?
            }
            _ => PmConfig::from_set(ParamSet::DeribitLike),
        };
        Ok(PmPolicy { config })
    }

    /// pm.md §9: the account and market as PMRM_2 inputs. Returns the inputs and the names of
    /// the underlying books in order.
    pub fn inputs(
        &self,
        market: &MarketSnapshot,
        account: &Account,
    ) -> Result<MultiAccount, RiskError> {
        let now = market.time();
        let stable = &market.stable;
        let stable_price = market
            .stable_price
            .or_else(|| market.collateral(stable).ok().map(|c| c.price))
            .unwrap_or(1.0);
        let mut cash = 0.0;
        let mut books: BTreeMap<Asset, BookInputs> = BTreeMap::new();
        let mut spot_held: Vec<(Asset, f64)> = Vec::new();
        for p in &account.positions {
            let u = p.instrument.underlying().clone();
            let um = market.underlying(&u)?;
            match &p.instrument {
                Instrument::Perpetual { .. } => {
                    let entry = books.entry(u.clone()).or_default();
                    entry.0 += p.size;
                    if let Some(e) = p.entry_price {
                        entry.1 += p.size * (um.perp_mark() - e);
                    }
                }
                Instrument::Option {
                    expiry,
                    strike,
                    kind,
                    ..
                } => {
                    let seconds = expiry.seconds_from(now);
                    if seconds <= 0 {
                        return Err(RiskError::Expired {
                            instrument: p.instrument.to_string(),
                            expiry: expiry.instant().to_string(),
                            now: now.to_string(),
                        });
                    }
                    let t = expiry.years_from(now);
                    let f = um.forward(*expiry, t, market.rate());
                    let k = strike.value();
                    books.entry(u.clone()).or_default().2.push((
                        *expiry,
                        PmOption {
                            sec_to_expiry: seconds as u64,
                            strike: k,
                            kind: *kind,
                            amount: p.size,
                            mark_vol: um.vol(k, f, t),
                        },
                    ));
                }
                Instrument::Future { .. } => {
                    return Err(invalid(
                        format!("{}.positions[{}]", account.id, p.instrument),
                        "pm margins options and perpetuals (Derive PMRM_2 has no dated futures)",
                    ))
                }
                Instrument::Spot { .. } => {
                    if p.size < 0.0 {
                        return Err(invalid(
                            format!("{}.positions[{}]", account.id, p.instrument),
                            "pm cannot margin a short spot position",
                        ));
                    }
                    spot_held.push((u, p.size));
                }
            }
        }
        // Collateral: the stable asset is cash; the rest collateral, risk-cancelling when it moves
        // with an underlying. A long spot position is collateral of its own asset.
        let mut held: Vec<(Asset, f64)> = Vec::new();
        for (asset, amount) in &account.collateral {
            if asset == stable {
                cash += amount.to_f64();
            } else {
                held.push((asset.clone(), amount.to_f64()));
            }
        }
        held.extend(spot_held);
        for (asset, _) in &held {
            if let Some(u) = market.collateral_underlying(asset) {
                books.entry(u.clone()).or_default();
            }
        }
        let names: Vec<Asset> = books.keys().cloned().collect();
        let mut collaterals = Vec::with_capacity(held.len());
        for (asset, amount) in held {
            let (price, mm_haircut, im_haircut, confidence) = match market.collateral(&asset) {
                Ok(c) => (
                    c.price,
                    c.mm_haircut.unwrap_or(c.haircut + c.bridge_risk),
                    c.im_haircut,
                    c.confidence,
                ),
                // A spot position in an underlying with no collateral entry: at spot, no haircut.
                Err(_) => (market.underlying(&asset)?.spot(), 0.0, 0.0, 1.0),
            };
            let offsets = market
                .collateral_underlying(&asset)
                .and_then(|u| names.iter().position(|n| n == u));
            collaterals.push(HeldCollateral {
                collateral: Collateral {
                    name: asset.to_string(),
                    amount,
                    price,
                    confidence,
                    is_risk_cancelling: offsets.is_some(),
                    mm_haircut,
                    im_haircut,
                },
                offsets,
            });
        }
        let mut out_books = Vec::with_capacity(books.len());
        for (name, (q, pnl, options)) in books {
            let um = market.underlying(&name)?;
            let mut expiries: BTreeMap<ExpiryDate, ExpiryMarket> = BTreeMap::new();
            for (expiry, _) in &options {
                expiries
                    .entry(*expiry)
                    .or_insert_with(|| expiry_market(um, market, *expiry));
            }
            out_books.push(UnderlyingBook {
                name: name.to_string(),
                market: PmUnderlying {
                    spot: um.spot(),
                    spot_confidence: um.pm.spot_confidence,
                    perp_price: um.perp_mark(),
                    perp_confidence: um.pm.perp_confidence,
                    expiries: expiries.into_values().collect(),
                },
                perp_position: q,
                perp_unrealised_pnl: pnl,
                perp_unrealised_funding: 0.0,
                options: options.into_iter().map(|(_, o)| o).collect(),
            });
        }
        Ok(MultiAccount {
            stable_price,
            cash,
            books: out_books,
            collaterals,
        })
    }

    /// The margin of one account (pm.md §9 report numbers), every option priced here.
    pub fn account_margin(
        &self,
        market: &MarketSnapshot,
        account: &Account,
    ) -> Result<AccountMargin, RiskError> {
        self.account_margin_from(market, account, |_| None)
    }

    /// The margin of one account with its options' values read from the venue's tables
    /// (`table_of(underlying)`; an underlying without one, or an option a table does not hold,
    /// is priced here): the same bits as [`Self::account_margin`].
    pub fn account_margin_from<'t>(
        &self,
        market: &MarketSnapshot,
        account: &Account,
        table_of: impl Fn(&Asset) -> Option<&'t PmTable>,
    ) -> Result<AccountMargin, RiskError> {
        let inputs = self.inputs(market, account)?;
        let source = PmTableSource {
            books: inputs
                .books
                .iter()
                .map(|b| Asset::new(&b.name).ok().and_then(|a| table_of(&a)))
                .collect(),
        };
        let eval = evaluate_account_with(&inputs, &self.config, &source)
            .map_err(|e| invalid(account.id.to_string(), e.to_string()))?;
        let r = &eval.report;
        let mut components = [0.0; MAX_COMPONENTS];
        components[..5].copy_from_slice(&[
            r.components.scenario_loss,
            r.components.basis,
            r.components.option_contingency,
            r.components.perp_contingency,
            r.components.collateral_haircut,
        ]);
        let mut im = [0.0; MAX_COMPONENTS];
        im[..7].copy_from_slice(&[
            r.im_components.scenario_loss,
            r.im_components.basis,
            r.im_components.peg,
            r.im_components.option_contingency,
            r.im_components.perp_contingency,
            r.im_components.collateral_haircut,
            r.im_components.confidence,
        ]);
        // The binding term of the underlying with the worst loss.
        let worst = eval
            .underlyings
            .iter()
            .filter(|u| u.worst_loss < 0.0)
            .min_by(|a, b| a.worst_loss.total_cmp(&b.worst_loss));
        let worst_scenario = worst.and_then(|u| {
            let underlying = Asset::new(&u.name).ok()?;
            Some(match u.binding {
                Binding::Basis => WorstScenario::PmBasis { underlying },
                Binding::Scenario(i) => {
                    let s = self.config.scenarios.as_slice().get(i)?;
                    WorstScenario::Pm {
                        underlying,
                        index: i,
                        spot_move: s.spot_shock - 1.0,
                        vol_shock: vol_name(s.vol_shock),
                        dampening: s.dampening,
                    }
                }
            })
        });
        let gross = |b: &UnderlyingBook| {
            b.perp_position.abs() + b.options.iter().map(|o| o.amount.abs()).sum::<f64>()
        };
        let main = inputs
            .books
            .iter()
            .max_by(|a, b| (gross(a) * a.market.spot).total_cmp(&(gross(b) * b.market.spot)))
            .and_then(|b| Asset::new(&b.name).ok());
        let margin = AccountMargin {
            equity: r.equity,
            maintenance: r.maintenance_margin,
            initial: r.initial_margin,
            components,
            im_components: Some(im),
            worst_scenario,
            main_underlying: main,
        };
        for (name, v) in [
            ("equity", margin.equity),
            ("maintenance_margin", margin.maintenance),
            ("initial_margin", margin.initial),
        ] {
            if !v.is_finite() {
                return Err(invalid(
                    format!("{}.{name}", account.id),
                    format!("computed a non-finite value ({v})"),
                ));
            }
        }
        Ok(margin)
    }

    /// Liquidation prices under `pm` (pm.md §9): the main underlying's spot, forwards, perp mark
    /// and the collateral that moves with it moved together, vols sticky-moneyness, confidences
    /// and parameters fixed; MM_surplus = equity − MM = 0 solved by the scan of ramm.md and Brent,
    /// each root re-margined.
    pub fn liquidation_prices(
        &self,
        market: &MarketSnapshot,
        account: &Account,
    ) -> Result<Option<LiquidationPrices>, RiskError> {
        let base = self.account_margin(market, account)?;
        let Some(main) = base.main_underlying.clone() else {
            return Ok(None);
        };
        let um = market.underlying(&main)?.clone();
        // Perp entries are pinned to today's mark so that moving spot moves their P&L.
        let mut pinned = account.clone();
        for p in &mut pinned.positions {
            if matches!(p.instrument, Instrument::Perpetual { .. })
                && p.instrument.underlying() == &main
                && p.entry_price.is_none()
            {
                p.entry_price = Some(um.perp_mark());
            }
        }
        let moving: Vec<(Asset, ale_market::CollateralPrice)> = market
            .collateral_prices()
            .filter(|(a, _)| market.collateral_underlying(a) == Some(&main))
            .map(|(a, p)| (a.clone(), p.clone()))
            .collect();
        let surplus_at = |factor: f64| -> Result<(f64, f64), RiskError> {
            let mut moved = market.clone();
            moved.insert_underlying(um.moved(factor, 0.0)?);
            for (a, p) in &moving {
                let mut p = p.clone();
                p.price *= factor;
                moved.insert_collateral(a.clone(), p);
            }
            let m = self.account_margin(&moved, &pinned)?;
            Ok((m.equity - m.maintenance, m.maintenance + m.equity.abs()))
        };
        let scan = self.liquidation_scan();
        let f0 = base.equity - base.maintenance;
        let side = |direction: f64| outward_root(&scan, direction, f0, um.spot(), surplus_at);
        let below = side(-1.0)?;
        let above = side(1.0)?;
        Ok(Some(LiquidationPrices {
            underlying: main,
            below,
            above,
        }))
    }
}

impl MarginPolicy for PmPolicy {
    fn name(&self) -> &'static str {
        "pm"
    }
    fn component_names(&self) -> &'static [&'static str] {
        PM_COMPONENTS
    }
    fn im_component_names(&self) -> &'static [&'static str] {
        PM_IM_COMPONENTS
    }
    fn table_spec(&self) -> TableSpec<'_> {
        TableSpec::MarksOnly { atm_min_days: 7.0 }
    }
    fn liquidation_scan(&self) -> LiquidationScan {
        LiquidationScan {
            step: 0.01,
            reach: 1.0,
            rel_tol: 1e-6,
        }
    }
    fn margin(
        &self,
        _table: &crate::table::UnderlyingTable,
        _exposure: &crate::policy::Exposure<'_>,
        _scratch: &mut crate::policy::Scratch,
    ) -> crate::policy::UnderlyingMargin {
        // Never called: `whole_account` answers for the whole account.
        crate::policy::UnderlyingMargin {
            maintenance: 0.0,
            initial: 0.0,
            components: [0.0; MAX_COMPONENTS],
            worst_scenario: None,
        }
    }
    fn whole_account(&self) -> Option<&PmPolicy> {
        Some(self)
    }
}
