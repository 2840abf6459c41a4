//! `pm` on the batch engine: every listed option of an underlying valued once under each of
//! pm's shocks (the mark, the two basis moves, every scenario of the list) into an
//! instrument × shock table, from which each account's per-expiry values are sums of its
//! positions' rows (pm.md §3), as `ramm`'s scenario P&L is.
//!
//! The unit values are those of [`crate::pm::option_unit_value`] with the expiry context of
//! [`ExpiryContext::new`], and an expiry's value is summed over its options in the same order
//! and with the same operations as [`ExpiryValues::compute`], so an account margined from the
//! table gets the same bits as one priced alone (tested). An option the table does not hold
//! (not listed, unpriceable, or a context that differs) is priced alone, as before.

use std::collections::HashMap;

use ale_core::{Asset, OptionKind};
use ale_market::MarketSnapshot;
use rayon::prelude::*;

use crate::book::RowKind;
use crate::error::RiskError;
use crate::pm::{
    option_unit_value, ExpiryContext, ExpiryValueSource, ExpiryValues, PmError, PmOption, PmParams,
    Scenario, Shock, VolDirection,
};
use crate::pm_policy::{expiry_market, PmPolicy};

/// Identifies an option as pm sees it: seconds to expiry, strike bits, kind.
type OptionKey = (u64, u64, OptionKind);

/// The unit values of one underlying's listed options under every pm shock.
#[derive(Debug, Clone)]
pub struct PmTable {
    /// Row of each option.
    index: HashMap<OptionKey, usize>,
    /// The context each row was valued with (per row: an account's context must equal it).
    contexts: Vec<ExpiryContext>,
    /// Values per row: mark, basis up, basis down, then each scenario.
    values: Vec<f64>,
    /// 3 + number of scenarios.
    width: usize,
}

impl PmTable {
    /// Values every listed option of `underlying` among `rows` (all cores). Expired and
    /// unpriceable options are left out (an account holding one is priced alone, which reports
    /// why).
    pub fn build<'r>(
        policy: &PmPolicy,
        market: &MarketSnapshot,
        underlying: &Asset,
        rows: impl Iterator<Item = &'r RowKind>,
    ) -> Result<PmTable, RiskError> {
        let um = market.underlying(underlying)?;
        let now = market.time();
        let params = &policy.config.params;
        let scenarios = policy.config.scenarios.as_slice();
        let width = 3 + scenarios.len();
        let options: Vec<_> = rows
            .filter_map(|k| match *k {
                RowKind::Option {
                    expiry,
                    strike,
                    kind,
                } if expiry.seconds_from(now) > 0 => Some((expiry, strike, kind)),
                _ => None,
            })
            .collect();
        let valued: Vec<Option<(OptionKey, ExpiryContext, Vec<f64>)>> = options
            .par_iter()
            .map(|&(expiry, strike, kind)| {
                let mk = expiry_market(um, market, expiry);
                let context = ExpiryContext::new(&mk, params);
                let t = expiry.years_from(now);
                let option = PmOption {
                    sec_to_expiry: mk.sec_to_expiry,
                    strike,
                    kind,
                    amount: 1.0,
                    mark_vol: um.vol(strike, mk.forward, t),
                };
                let row = unit_values(&context, &option, params, scenarios).ok()?;
                Some(((mk.sec_to_expiry, strike.to_bits(), kind), context, row))
            })
            .collect();
        let mut table = PmTable {
            index: HashMap::with_capacity(valued.len()),
            contexts: Vec::with_capacity(valued.len()),
            values: Vec::with_capacity(valued.len() * width),
            width,
        };
        for (key, context, row) in valued.into_iter().flatten() {
            table.index.insert(key, table.contexts.len());
            table.contexts.push(context);
            table.values.extend(row);
        }
        Ok(table)
    }

    /// Number of options held.
    pub fn rows(&self) -> usize {
        self.contexts.len()
    }

    fn row(&self, context: &ExpiryContext, option: &PmOption) -> Option<&[f64]> {
        let &r = self
            .index
            .get(&(option.sec_to_expiry, option.strike.to_bits(), option.kind))?;
        (self.contexts[r] == *context).then(|| &self.values[r * self.width..(r + 1) * self.width])
    }
}

/// One option's unit values: mark, basis up, basis down, each scenario.
fn unit_values(
    context: &ExpiryContext,
    option: &PmOption,
    params: &PmParams,
    scenarios: &[Scenario],
) -> Result<Vec<f64>, PmError> {
    let basis = &params.basis_contingency;
    let mut out = Vec::with_capacity(3 + scenarios.len());
    out.push(option_unit_value(context, option, Shock::Mark)?);
    for spot_shock in [basis.scenario_spot_up, basis.scenario_spot_down] {
        out.push(option_unit_value(
            context,
            option,
            Shock::Spot {
                spot_shock,
                vol: VolDirection::None,
            },
        )?);
    }
    for s in scenarios {
        out.push(option_unit_value(context, option, Shock::of_scenario(s))?);
    }
    Ok(out)
}

/// An [`ExpiryValueSource`] reading the venue's tables: `books[b]` is the table of the
/// account's `b`-th underlying book (in the order of [`PmPolicy::inputs`]).
pub struct PmTableSource<'a> {
    /// Per book, its underlying's table (None: price alone).
    pub books: Vec<Option<&'a PmTable>>,
}

impl ExpiryValueSource for PmTableSource<'_> {
    fn expiry_values(
        &self,
        book: usize,
        context: &ExpiryContext,
        options: &[&PmOption],
        params: &PmParams,
        scenarios: &[Scenario],
    ) -> Result<ExpiryValues, PmError> {
        let rows: Option<Vec<&[f64]>> = self
            .books
            .get(book)
            .copied()
            .flatten()
            .filter(|t| t.width == 3 + scenarios.len())
            .and_then(|t| options.iter().map(|o| t.row(context, o)).collect());
        let Some(rows) = rows else {
            return ExpiryValues::compute(context, options, params, scenarios);
        };
        // The sums of `ExpiryValues::compute`, in its order: per shock, over the options.
        let value = |j: usize| -> f64 {
            let mut total = 0.0;
            for (option, row) in options.iter().zip(&rows) {
                total += option.amount * row[j];
            }
            total
        };
        Ok(ExpiryValues {
            mark: value(0),
            basis_up: value(1),
            basis_down: value(2),
            scenarios: (0..scenarios.len()).map(|j| value(3 + j)).collect(),
        })
    }
}
