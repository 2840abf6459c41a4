//! Aggregation: per-expiry values → scenario P&L, basis floor, contingencies, surpluses
//! (pm.md §3–§5) and the report mapping of pm.md §9.

use std::collections::{BTreeMap, HashMap};

use super::error::{check_above, check_at_least, check_closed, check_finite, Lazy, PmError};
use super::params::{ParamSet, PmParams};
use super::scenario::{Limits, Scenario, ScenarioList};
use super::types::{
    ExpiryMarket, MultiAccount, PmAccount, PmMarket, PmOption, UnderlyingBook, UnderlyingMarket,
};
use super::valuation::{ExpiryContext, ExpiryValues, YEAR_S};

/// Longest time to expiry accepted: 100 years (the pricing formula's domain).
pub const MAX_SEC_TO_EXPIRY: u64 = 100 * YEAR_S;

/// Parameters, scenario list and profile caps: everything `pm` needs besides market and account.
#[derive(Debug, Clone, PartialEq)]
pub struct PmConfig {
    /// The parameters (validated by [`PmConfig::new`] and again by every evaluation).
    pub params: PmParams,
    /// The scenario list.
    pub scenarios: ScenarioList,
    /// The profile's caps (Derive's 40 scenarios / 30 expiries for `deribit-like`).
    pub limits: Limits,
}

impl PmConfig {
    /// A checked configuration.
    pub fn new(
        params: PmParams,
        scenarios: ScenarioList,
        limits: Limits,
    ) -> Result<PmConfig, PmError> {
        params.validate()?;
        if let Some(max) = limits.max_scenarios {
            if scenarios.len() > max {
                return Err(PmError::invalid(
                    "scenarios",
                    format!(
                        "at most {max} scenarios in this profile, got {}",
                        scenarios.len()
                    ),
                ));
            }
        }
        Ok(PmConfig {
            params,
            scenarios,
            limits,
        })
    }

    /// The named set with its default scenario list and caps (`deribit-like` keeps Derive's
    /// caps, `derive-test` has none).
    pub fn from_set(set: ParamSet) -> PmConfig {
        PmConfig {
            params: set.params(),
            scenarios: ScenarioList::default_for(set),
            limits: limits_of(set),
        }
    }
}

/// The caps of a named set's profile.
pub fn limits_of(set: ParamSet) -> Limits {
    match set {
        ParamSet::DeribitLike => Limits::DERIVE,
        ParamSet::DeriveTest => Limits::NONE,
    }
}

/// The term that sets the worst loss W.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// The basis floor B (also on ties).
    Basis,
    /// The scenario at this index of the list (the first one on ties).
    Scenario(usize),
}

/// Every contingency, each ≥ 0 (pm.md §5). C_MM = the `mm_*` parts; C_IM = the `im_*` and
/// `conf_*` parts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Contingencies {
    /// |q|·S·mm_perp_percent.
    pub mm_perp: f64,
    /// Σ_e naked_e·S·mm_option_percent.
    pub mm_option: f64,
    /// Σ_c V_c·h_MM.
    pub mm_collateral: f64,
    /// |q|·S·im_perp_percent.
    pub im_perp: f64,
    /// Σ_e naked_e·S·im_option_percent.
    pub im_option: f64,
    /// Σ_c V_c·h_IM.
    pub im_collateral: f64,
    /// conf(c_base, |q|·S).
    pub conf_perp: f64,
    /// Σ_e conf(c_e, G_e·S).
    pub conf_option: f64,
    /// Σ_c conf(min(c, c_S), V_c).
    pub conf_collateral: f64,
}

impl Contingencies {
    /// C_MM: the maintenance contingencies.
    pub fn mm_total(&self) -> f64 {
        self.mm_perp + self.mm_option + self.mm_collateral
    }

    /// C_IM: the IM add-ons, confidence charges included (on top of C_MM).
    pub fn im_total(&self) -> f64 {
        self.im_perp
            + self.conf_perp
            + self.im_option
            + self.conf_option
            + self.im_collateral
            + self.conf_collateral
    }

    /// All confidence charges together.
    pub fn confidence_total(&self) -> f64 {
        self.conf_perp + self.conf_option + self.conf_collateral
    }
}

/// What one expiry contributed.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiryBreakdown {
    /// τ, discount, forward split, vol multipliers, static discounts, skew caps.
    pub context: ExpiryContext,
    /// The expiry's option values (mark, basis moves, scenarios).
    pub values: ExpiryValues,
    /// B_e ≤ 0.
    pub basis: f64,
    /// Naked shorts after netting calls and puts at each strike.
    pub naked_shorts: f64,
    /// G_e = Σ|a|.
    pub gross_amount: f64,
    /// c_e = min(c_base, c_F, c_r, c_σ).
    pub confidence: f64,
    /// naked_e·S·mm_option_percent.
    pub mm_option_contingency: f64,
    /// naked_e·S·im_option_percent.
    pub im_option_contingency: f64,
    /// conf(c_e, G_e·S).
    pub confidence_contingency: f64,
}

/// §3–§4 for one underlying.
#[derive(Debug, Clone, PartialEq)]
pub struct UnderlyingEvaluation {
    /// The book's name.
    pub name: String,
    /// Σ_e MtM_e.
    pub option_mtm: f64,
    /// U = unrealised perp P&L + funding.
    pub perp_value: f64,
    /// P&L of every scenario, in list order (perp + options + offsetting collateral).
    pub scenario_pnl: Vec<f64>,
    /// B = Σ_e B_e ≤ 0.
    pub basis: f64,
    /// W = min(B, PnL_1, …) ≤ 0.
    pub worst_loss: f64,
    /// Which term is W.
    pub binding: Binding,
    /// c_base: spot confidence, or min(spot, perp) when a perp is held.
    pub base_confidence: f64,
    /// Per held expiry, ascending time to expiry.
    pub expiries: Vec<ExpiryBreakdown>,
    /// Perp and option contingencies of this underlying (collateral parts are 0 here).
    pub contingencies: Contingencies,
}

/// MM components (pm.md §9), each ≥ 0, summing to `maintenance_margin`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MmComponents {
    /// mm_factor·(−W) where a scenario binds.
    pub scenario_loss: f64,
    /// mm_factor·(−B) where the basis floor binds.
    pub basis: f64,
    /// Option contingency (MM).
    pub option_contingency: f64,
    /// Perp contingency (MM).
    pub perp_contingency: f64,
    /// Collateral haircuts (MM).
    pub collateral_haircut: f64,
}

/// IM components (pm.md §9), each ≥ 0, summing to `initial_margin`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ImComponents {
    /// im_factor·(−W) where a scenario binds.
    pub scenario_loss: f64,
    /// im_factor·(−W) where the basis floor binds.
    pub basis: f64,
    /// peg·(−W).
    pub peg: f64,
    /// Option contingency, MM and IM parts.
    pub option_contingency: f64,
    /// Perp contingency, MM and IM parts.
    pub perp_contingency: f64,
    /// Collateral haircuts, MM and IM parts.
    pub collateral_haircut: f64,
    /// Every confidence charge.
    pub confidence: f64,
}

/// The report numbers of pm.md §9.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PmReport {
    /// cash + MtM_total (collateral at full value n·p/P).
    pub equity: f64,
    /// mm_factor·(−W) + C_MM = equity − MM_surplus.
    pub maintenance_margin: f64,
    /// (im_factor + peg)·(−W) + C_MM + C_IM = equity − IM_surplus.
    pub initial_margin: f64,
    /// Parts of `maintenance_margin`.
    pub components: MmComponents,
    /// Parts of `initial_margin`.
    pub im_components: ImComponents,
}

/// Result for an account with any number of underlyings.
#[derive(Debug, Clone, PartialEq)]
pub struct PmAccountEvaluation {
    /// Per underlying, in book order.
    pub underlyings: Vec<UnderlyingEvaluation>,
    /// Σ_c V_c = Σ n·p/P.
    pub collateral_mtm: f64,
    /// MtM_total = Σ_u (U_u + Σ_e MtM_e) + Σ_c V_c (cash excluded).
    pub mtm_total: f64,
    /// Cash.
    pub cash: f64,
    /// Peg add-on to the IM factor.
    pub peg: f64,
    /// All contingencies, summed over underlyings and collateral.
    pub contingencies: Contingencies,
    /// MM surplus (≥ 0 healthy, < 0 liquidatable).
    pub mm_surplus: f64,
    /// IM surplus (a trade is accepted only if it leaves this ≥ 0).
    pub im_surplus: f64,
    /// Report mapping.
    pub report: PmReport,
}

/// Result for a one-underlying account: everything `ale pm replay` prints and more.
#[derive(Debug, Clone, PartialEq)]
pub struct PmEvaluation {
    /// Σ_e MtM_e.
    pub option_mtm: f64,
    /// Σ_c V_c.
    pub collateral_mtm: f64,
    /// MtM_total = U + Σ_e MtM_e + Σ_c V_c.
    pub mtm_total: f64,
    /// Cash.
    pub cash: f64,
    /// MM surplus.
    pub mm_surplus: f64,
    /// IM surplus.
    pub im_surplus: f64,
    /// P&L per scenario, in input order.
    pub scenario_pnl: Vec<f64>,
    /// B ≤ 0.
    pub basis: f64,
    /// W ≤ 0.
    pub worst_loss: f64,
    /// The binding term.
    pub binding: Binding,
    /// Peg add-on to the IM factor.
    pub peg: f64,
    /// Every contingency.
    pub contingencies: Contingencies,
    /// c_base.
    pub base_confidence: f64,
    /// Per held expiry, ascending.
    pub expiries: Vec<ExpiryBreakdown>,
    /// Report mapping.
    pub report: PmReport,
}

/// Where the per-expiry option values come from. [`Priced`] prices every option through
/// [`ExpiryValues::compute`]; a batch engine that already holds an instrument × scenario table
/// implements this trait to feed its values to the same aggregation
/// ([`evaluate_account_with`]).
pub trait ExpiryValueSource {
    /// The values of `options` (one expiry of book `book`, described by `context`) at the mark,
    /// the two basis moves of `params` and each of `scenarios`, in order.
    fn expiry_values(
        &self,
        book: usize,
        context: &ExpiryContext,
        options: &[&PmOption],
        params: &PmParams,
        scenarios: &[Scenario],
    ) -> Result<ExpiryValues, PmError>;
}

/// Prices every option with Black-76 ([`ExpiryValues::compute`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Priced;

impl ExpiryValueSource for Priced {
    fn expiry_values(
        &self,
        _book: usize,
        context: &ExpiryContext,
        options: &[&PmOption],
        params: &PmParams,
        scenarios: &[Scenario],
    ) -> Result<ExpiryValues, PmError> {
        ExpiryValues::compute(context, options, params, scenarios)
    }
}

/// Evaluates the `pm` policy for a one-underlying account: exactly Derive's PMRM_2.
///
/// Errors name the offending field in case-file terms (`market.expiries[0].forward`,
/// `portfolio.options[2].sec_to_expiry`, `margin.mm_factor`, `scenarios[3].spot_shock`).
pub fn evaluate(
    market: &PmMarket,
    account: &PmAccount,
    config: &PmConfig,
) -> Result<PmEvaluation, PmError> {
    let multi = MultiAccount::single(market, account);
    let mut result = evaluate_inner(&multi, config, Naming::Single, &Priced)?;
    let underlying = result.underlyings.pop().ok_or_else(|| {
        PmError::NonFinite("internal: a one-underlying account produced no underlying".into())
    })?;
    Ok(PmEvaluation {
        option_mtm: underlying.option_mtm,
        collateral_mtm: result.collateral_mtm,
        mtm_total: result.mtm_total,
        cash: result.cash,
        mm_surplus: result.mm_surplus,
        im_surplus: result.im_surplus,
        scenario_pnl: underlying.scenario_pnl,
        basis: underlying.basis,
        worst_loss: underlying.worst_loss,
        binding: underlying.binding,
        peg: result.peg,
        contingencies: result.contingencies,
        base_confidence: underlying.base_confidence,
        expiries: underlying.expiries,
        report: result.report,
    })
}

/// Evaluates an account with several underlyings (pm.md §9, last paragraph): §3–§4 per
/// underlying with the collateral that offsets it, requirements summed over underlyings (no
/// diversification credit), cash, collateral haircuts and collateral confidence counted once.
///
/// The spot confidence paired with a collateral's own is that of the underlying it offsets;
/// for collateral that offsets none, the lowest spot confidence of the account's underlyings.
pub fn evaluate_account(
    account: &MultiAccount,
    config: &PmConfig,
) -> Result<PmAccountEvaluation, PmError> {
    evaluate_inner(account, config, Naming::Multi, &Priced)
}

/// [`evaluate_account`] with the option values taken from `source` instead of priced here.
pub fn evaluate_account_with(
    account: &MultiAccount,
    config: &PmConfig,
    source: &dyn ExpiryValueSource,
) -> Result<PmAccountEvaluation, PmError> {
    evaluate_inner(account, config, Naming::Multi, source)
}

/// How field paths are spelled in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// Case-file names: `market.*`, `portfolio.*`.
    Single,
    /// `books[i].*`, `collaterals[i].*`.
    Multi,
}

impl Naming {
    fn market(self, book: usize) -> impl std::fmt::Display {
        Lazy(move |f| match self {
            Naming::Single => f.write_str("market"),
            Naming::Multi => write!(f, "books[{book}].market"),
        })
    }
    fn book(self, book: usize) -> impl std::fmt::Display {
        Lazy(move |f| match self {
            Naming::Single => f.write_str("portfolio"),
            Naming::Multi => write!(f, "books[{book}]"),
        })
    }
    fn stable_price(self) -> &'static str {
        match self {
            Naming::Single => "market.stable_price",
            Naming::Multi => "stable_price",
        }
    }
    fn account(self) -> &'static str {
        match self {
            Naming::Single => "portfolio",
            Naming::Multi => "account",
        }
    }
    fn collateral(self, i: usize) -> impl std::fmt::Display {
        Lazy(move |f| match self {
            Naming::Single => write!(f, "portfolio.collaterals[{i}]"),
            Naming::Multi => write!(f, "collaterals[{i}]"),
        })
    }
}

/// conf(c, X) = (1 − c)·conf_margin·X if c < conf_threshold, else 0 (strictly below).
fn confidence_charge(params: &PmParams, confidence: f64, exposure: f64) -> f64 {
    let oc = &params.other_contingency;
    if confidence < oc.conf_threshold {
        (1.0 - confidence) * oc.conf_margin * exposure
    } else {
        0.0
    }
}

fn evaluate_inner(
    account: &MultiAccount,
    config: &PmConfig,
    naming: Naming,
    source: &dyn ExpiryValueSource,
) -> Result<PmAccountEvaluation, PmError> {
    let params = &config.params;
    params.validate()?;
    check_above(naming.stable_price(), account.stable_price, 0.0)?;
    check_finite(format_args!("{}.cash", naming.account()), account.cash)?;

    // Collateral, valued in stable-coin units (pm.md §4, §8 item 12).
    let stable = account.stable_price;
    let mut collateral_values = Vec::with_capacity(account.collaterals.len());
    for (i, held) in account.collaterals.iter().enumerate() {
        let path = naming.collateral(i);
        let c = &held.collateral;
        check_at_least(format_args!("{path}.amount"), c.amount, 0.0)?;
        check_at_least(format_args!("{path}.price"), c.price, 0.0)?;
        check_closed(format_args!("{path}.confidence"), c.confidence, 0.0, 1.0)?;
        check_closed(format_args!("{path}.mm_haircut"), c.mm_haircut, 0.0, 1.0)?;
        check_at_least(format_args!("{path}.im_haircut"), c.im_haircut, 0.0)?;
        // Both are finite here (checked above), so `>` cannot miss a NaN.
        if c.mm_haircut + c.im_haircut > 1.0 {
            return Err(PmError::invalid(
                format!("{path}.im_haircut"),
                format!(
                    "mm_haircut + im_haircut must be <= 1, got {} + {}",
                    c.mm_haircut, c.im_haircut
                ),
            ));
        }
        match held.offsets {
            Some(b) if b >= account.books.len() => {
                return Err(PmError::invalid(
                    format!("{path}.offsets"),
                    format!("no book {b} (the account has {})", account.books.len()),
                ))
            }
            Some(_) if !c.is_risk_cancelling => {
                return Err(PmError::invalid(
                    format!("{path}.offsets"),
                    "only risk-cancelling collateral offsets an underlying",
                ))
            }
            None if c.is_risk_cancelling => {
                return Err(PmError::invalid(
                    format!("{path}.offsets"),
                    "risk-cancelling collateral must name the underlying it offsets",
                ))
            }
            _ => {}
        }
        collateral_values.push(c.amount * c.price / stable);
    }

    let mut underlyings = Vec::with_capacity(account.books.len());
    for (b, book) in account.books.iter().enumerate() {
        let offsetting: Vec<f64> = account
            .collaterals
            .iter()
            .zip(&collateral_values)
            .filter(|(held, _)| held.offsets == Some(b))
            .map(|(_, v)| *v)
            .collect();
        underlyings.push(evaluate_book(book, b, naming, &offsetting, config, source)?);
    }

    // Account-level collateral contingencies (counted once).
    let lowest_spot_confidence = account
        .books
        .iter()
        .map(|b| b.market.spot_confidence)
        .reduce(f64::min);
    let mut contingencies = Contingencies::default();
    for u in &underlyings {
        contingencies.mm_perp += u.contingencies.mm_perp;
        contingencies.im_perp += u.contingencies.im_perp;
        contingencies.conf_perp += u.contingencies.conf_perp;
    }
    for u in &underlyings {
        contingencies.mm_option += u.contingencies.mm_option;
        contingencies.im_option += u.contingencies.im_option;
        contingencies.conf_option += u.contingencies.conf_option;
    }
    let mut collateral_mtm = 0.0;
    for (held, &value) in account.collaterals.iter().zip(&collateral_values) {
        let c = &held.collateral;
        collateral_mtm += value;
        contingencies.mm_collateral += value * c.mm_haircut;
        contingencies.im_collateral += value * c.im_haircut;
        // The collateral's confidence pairs with spot's, never the perp's (pm.md §8 item 11).
        let spot_confidence = match held.offsets {
            Some(b) => Some(account.books[b].market.spot_confidence),
            None => lowest_spot_confidence,
        };
        let confidence = spot_confidence.map_or(c.confidence, |s| c.confidence.min(s));
        contingencies.conf_collateral += confidence_charge(params, confidence, value);
    }

    let oc = &params.other_contingency;
    let peg = if stable < oc.peg_loss_threshold {
        (oc.peg_loss_threshold - stable) * oc.peg_loss_factor
    } else {
        0.0
    };
    let mut mtm_total = 0.0;
    for u in &underlyings {
        mtm_total += u.perp_value + u.option_mtm;
    }
    mtm_total += collateral_mtm;
    let cash = account.cash;
    let mg = &params.margin;
    let c_mm = contingencies.mm_total();
    let c_im = contingencies.im_total();
    let mut mm_loss_term = 0.0;
    let mut im_loss_term = 0.0;
    for u in &underlyings {
        mm_loss_term += mg.mm_factor * u.worst_loss;
        im_loss_term += (mg.im_factor + peg) * u.worst_loss;
    }
    let mm_surplus = mm_loss_term - c_mm + mtm_total + cash;
    let im_surplus = im_loss_term - c_im - c_mm + mtm_total + cash;

    let report = build_report(&underlyings, &contingencies, params, peg, mtm_total + cash);
    let result = PmAccountEvaluation {
        underlyings,
        collateral_mtm,
        mtm_total,
        cash,
        peg,
        contingencies,
        mm_surplus,
        im_surplus,
        report,
    };
    check_result_finite(&result)?;
    Ok(result)
}

/// Checks and values one underlying (§3–§4 and its perp/option contingencies).
fn evaluate_book(
    book: &UnderlyingBook,
    b: usize,
    naming: Naming,
    offsetting_collateral: &[f64],
    config: &PmConfig,
    source: &dyn ExpiryValueSource,
) -> Result<UnderlyingEvaluation, PmError> {
    let params = &config.params;
    let scenarios = config.scenarios.as_slice();
    let market_path = naming.market(b);
    let book_path = naming.book(b);
    let market = &book.market;
    let by_expiry = validate_market(&market_path, market)?;
    let q = book.perp_position;
    check_finite(format_args!("{book_path}.perp_position"), q)?;
    check_finite(
        format_args!("{book_path}.perp_unrealised_pnl"),
        book.perp_unrealised_pnl,
    )?;
    check_finite(
        format_args!("{book_path}.perp_unrealised_funding"),
        book.perp_unrealised_funding,
    )?;

    // Group options by expiry (ascending T), checking each against the market.
    let mut groups: BTreeMap<u64, Vec<&PmOption>> = BTreeMap::new();
    for (i, option) in book.options.iter().enumerate() {
        let path = Lazy(|f| write!(f, "{book_path}.options[{i}]"));
        check_above(format_args!("{path}.strike"), option.strike, 0.0)?;
        check_finite(format_args!("{path}.amount"), option.amount)?;
        if option.sec_to_expiry > 0 {
            // An expired option's vol does not matter (pm.md §8 item 15).
            check_at_least(format_args!("{path}.mark_vol"), option.mark_vol, 0.0)?;
        }
        if !by_expiry.contains_key(&option.sec_to_expiry) {
            return Err(PmError::invalid(
                format!("{path}.sec_to_expiry"),
                format!(
                    "no expiry with sec_to_expiry {} in {market_path}.expiries",
                    option.sec_to_expiry
                ),
            ));
        }
        groups.entry(option.sec_to_expiry).or_default().push(option);
    }
    if let Some(max) = config.limits.max_expiries {
        if groups.len() > max {
            return Err(PmError::invalid(
                format!("{book_path}.options"),
                format!(
                    "options in {} expiries; this profile allows at most {max}",
                    groups.len()
                ),
            ));
        }
    }

    let oc = &params.other_contingency;
    let spot = market.spot;
    let base_confidence = if q != 0.0 {
        market.spot_confidence.min(market.perp_confidence)
    } else {
        market.spot_confidence
    };

    let bc = &params.basis_contingency;
    let mut expiries = Vec::with_capacity(groups.len());
    let mut option_mtm = 0.0;
    let mut basis = 0.0;
    let mut contingencies = Contingencies::default();
    for (t, options) in &groups {
        let mk = by_expiry[t];
        let context = ExpiryContext::new(mk, params);
        let values = source.expiry_values(b, &context, options, params, scenarios)?;
        let all_finite = [values.mark, values.basis_up, values.basis_down]
            .iter()
            .chain(&values.scenarios)
            .all(|v| v.is_finite());
        if values.scenarios.len() != scenarios.len() || !all_finite {
            return Err(PmError::NonFinite(format!(
                "values of expiry {t} s in {book_path}: {} scenario values for {} scenarios, all finite: {all_finite}",
                values.scenarios.len(),
                scenarios.len()
            )));
        }
        // Basis floor: no vol shock, no static discount, no dampening (pm.md §3 item 5).
        let basis_e = 0.0_f64
            .min(values.basis_up - values.mark)
            .min(values.basis_down - values.mark)
            * (bc.add_factor + bc.mult_factor * context.expiry_years);
        let naked_shorts = naked_shorts(options);
        let gross_amount: f64 = options.iter().map(|o| o.amount.abs()).sum();
        let confidence = base_confidence
            .min(mk.forward_confidence)
            .min(mk.rate_confidence)
            .min(mk.vol_confidence);
        let mm_option_contingency = naked_shorts * spot * oc.mm_option_percent;
        let im_option_contingency = naked_shorts * spot * oc.im_option_percent;
        let confidence_contingency = confidence_charge(params, confidence, gross_amount * spot);
        option_mtm += values.mark;
        basis += basis_e;
        contingencies.mm_option += mm_option_contingency;
        contingencies.im_option += im_option_contingency;
        contingencies.conf_option += confidence_contingency;
        expiries.push(ExpiryBreakdown {
            context,
            values,
            basis: basis_e,
            naked_shorts,
            gross_amount,
            confidence,
            mm_option_contingency,
            im_option_contingency,
            confidence_contingency,
        });
    }

    // Scenario P&L (pm.md §4): perp at the perp mark, options per expiry, offsetting collateral.
    let mut scenario_pnl = Vec::with_capacity(scenarios.len());
    for (j, sc) in scenarios.iter().enumerate() {
        let s = sc.spot_shock;
        let d = sc.dampening;
        let mut pnl = if q != 0.0 {
            q * (s - 1.0) * market.perp_price * d
        } else {
            0.0
        };
        for e in &expiries {
            let shocked = e.context.static_discount(e.values.scenarios[j]);
            let change = (shocked - e.values.mark) * d;
            pnl += if sc.vol_shock.is_skew() {
                // Each expiry counts its own skew P&L as a loss (pm.md §8 item 4).
                -change.abs()
            } else {
                change
            };
        }
        for value in offsetting_collateral {
            pnl += value * (s - 1.0) * d;
        }
        scenario_pnl.push(pnl);
    }

    // W = min(B, PnL_1, …); B wins ties, then the first scenario (pm.md §8 item 19).
    let mut worst_loss = basis;
    let mut binding = Binding::Basis;
    for (j, &pnl) in scenario_pnl.iter().enumerate() {
        if pnl < worst_loss {
            worst_loss = pnl;
            binding = Binding::Scenario(j);
        }
    }

    // Perp contingencies on the spot notional, never the perp mark (pm.md §8 item 5).
    let perp_notional = q.abs() * spot;
    contingencies.mm_perp = perp_notional * oc.mm_perp_percent;
    contingencies.im_perp = perp_notional * oc.im_perp_percent;
    contingencies.conf_perp = confidence_charge(params, base_confidence, perp_notional);

    Ok(UnderlyingEvaluation {
        name: book.name.clone(),
        option_mtm,
        perp_value: book.perp_unrealised_pnl + book.perp_unrealised_funding,
        scenario_pnl,
        basis,
        worst_loss,
        binding,
        base_confidence,
        expiries,
        contingencies,
    })
}

/// Checks one underlying's market and indexes its expiries by `sec_to_expiry`.
fn validate_market<'m>(
    path: &dyn std::fmt::Display,
    market: &'m UnderlyingMarket,
) -> Result<HashMap<u64, &'m ExpiryMarket>, PmError> {
    check_at_least(format_args!("{path}.spot"), market.spot, 0.0)?;
    check_closed(
        format_args!("{path}.spot_confidence"),
        market.spot_confidence,
        0.0,
        1.0,
    )?;
    check_at_least(format_args!("{path}.perp_price"), market.perp_price, 0.0)?;
    check_closed(
        format_args!("{path}.perp_confidence"),
        market.perp_confidence,
        0.0,
        1.0,
    )?;
    let mut by_expiry = HashMap::with_capacity(market.expiries.len());
    for (i, e) in market.expiries.iter().enumerate() {
        let p = Lazy(|f| write!(f, "{path}.expiries[{i}]"));
        if e.sec_to_expiry > MAX_SEC_TO_EXPIRY {
            return Err(PmError::invalid(
                format!("{p}.sec_to_expiry"),
                format!(
                    "must be at most {MAX_SEC_TO_EXPIRY} (100 years), got {}",
                    e.sec_to_expiry
                ),
            ));
        }
        check_above(format_args!("{p}.forward"), e.forward, 0.0)?;
        check_finite(format_args!("{p}.rate"), e.rate)?;
        check_closed(
            format_args!("{p}.forward_confidence"),
            e.forward_confidence,
            0.0,
            1.0,
        )?;
        check_closed(
            format_args!("{p}.rate_confidence"),
            e.rate_confidence,
            0.0,
            1.0,
        )?;
        check_closed(
            format_args!("{p}.vol_confidence"),
            e.vol_confidence,
            0.0,
            1.0,
        )?;
        if by_expiry.insert(e.sec_to_expiry, e).is_some() {
            return Err(PmError::invalid(
                format!("{p}.sec_to_expiry"),
                format!("duplicate expiry {}", e.sec_to_expiry),
            ));
        }
    }
    Ok(by_expiry)
}

/// naked_e = Σ_strikes max(0, −net amount), calls and puts netted at each strike
/// (pm.md §3 item 6).
fn naked_shorts(options: &[&PmOption]) -> f64 {
    let mut net: Vec<(f64, f64)> = Vec::new();
    let mut index: HashMap<u64, usize> = HashMap::new();
    for o in options {
        let slot = *index.entry(o.strike.to_bits()).or_insert_with(|| {
            net.push((o.strike, 0.0));
            net.len() - 1
        });
        net[slot].1 += o.amount;
    }
    net.iter().map(|(_, a)| (-a).max(0.0)).sum()
}

/// The report mapping of pm.md §9, summed over underlyings.
fn build_report(
    underlyings: &[UnderlyingEvaluation],
    contingencies: &Contingencies,
    params: &PmParams,
    peg: f64,
    equity: f64,
) -> PmReport {
    let mg = &params.margin;
    let mut components = MmComponents {
        option_contingency: contingencies.mm_option,
        perp_contingency: contingencies.mm_perp,
        collateral_haircut: contingencies.mm_collateral,
        ..MmComponents::default()
    };
    let mut im_components = ImComponents {
        option_contingency: contingencies.mm_option + contingencies.im_option,
        perp_contingency: contingencies.mm_perp + contingencies.im_perp,
        collateral_haircut: contingencies.mm_collateral + contingencies.im_collateral,
        confidence: contingencies.confidence_total(),
        ..ImComponents::default()
    };
    let mut loss = 0.0;
    for u in underlyings {
        // `+ 0.0` turns a −0 into +0 so that no component prints as −0.
        let w = -u.worst_loss + 0.0;
        loss += w;
        match u.binding {
            Binding::Basis => {
                components.basis += mg.mm_factor * w;
                im_components.basis += mg.im_factor * w;
            }
            Binding::Scenario(_) => {
                components.scenario_loss += mg.mm_factor * w;
                im_components.scenario_loss += mg.im_factor * w;
            }
        }
        im_components.peg += peg * w;
    }
    let c_mm = contingencies.mm_total();
    let c_im = contingencies.im_total();
    PmReport {
        equity,
        maintenance_margin: mg.mm_factor * loss + c_mm,
        initial_margin: (mg.im_factor + peg) * loss + c_mm + c_im,
        components,
        im_components,
    }
}

/// Refuses any non-finite number in a result (no NaN out).
fn check_result_finite(r: &PmAccountEvaluation) -> Result<(), PmError> {
    let mut named: Vec<(&str, f64)> = vec![
        ("mm", r.mm_surplus),
        ("im", r.im_surplus),
        ("collateral_mtm", r.collateral_mtm),
        ("mtm_total", r.mtm_total),
        ("maintenance_margin", r.report.maintenance_margin),
        ("initial_margin", r.report.initial_margin),
    ];
    for u in &r.underlyings {
        named.push(("option_mtm", u.option_mtm));
        named.push(("basis", u.basis));
        named.push(("worst_loss", u.worst_loss));
    }
    for (name, value) in named {
        if !value.is_finite() {
            return Err(PmError::NonFinite(format!("{name} = {value}")));
        }
    }
    for u in &r.underlyings {
        if let Some(j) = u.scenario_pnl.iter().position(|x| !x.is_finite()) {
            return Err(PmError::NonFinite(format!(
                "scenario_pnl[{j}] = {}",
                u.scenario_pnl[j]
            )));
        }
    }
    Ok(())
}
