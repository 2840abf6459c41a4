//! The double-entry ledger: balances of (holder, unit) moved only by balanced operations.
//!
//! # Model
//!
//! - A **holder** is anyone who can hold value: a trader, the insurance fund, a backstop pool, a
//!   liquidator, a backstop-credit provider, the fee account, the socialised-loss account, and
//!   `External` (the world outside the venue: deposits come from it, the order book of a market
//!   sale is in it, the other side of every position opened on the venue sits in it).
//! - A **unit** is what a balance counts: cash of one collateral asset, the quantity of one
//!   instrument (in 10⁻⁹ units of the underlying), or the cost basis of one instrument (money:
//!   a future or perpetual is worth `quantity · mark − cost`).
//! - An **operation** has an id and up to [`MAX_LEGS_PER_OP`] legs; each leg moves a positive
//!   amount of one unit from one holder to another. An operation applies whole or not at all.
//!
//! # Invariants
//!
//! - Every unit's balances sum to zero, always (each leg adds to one balance what it takes from
//!   another): value is conserved to the last nano-unit. [`Ledger::check_balanced`] recomputes it.
//! - A cash balance is never negative, except for `External` (the mirror of all deposits) and
//!   `SocialisedLoss` (a negative balance there *is* the recorded socialised loss). Quantities
//!   and cost bases may be negative (a short position).
//! - Operations are idempotent: applying an id a second time changes nothing; the same id with
//!   different legs is refused ([`LedgerError::ConflictingId`]).
//! - Iteration is in (holder, unit) order: the same operations give the same ledger, printed the
//!   same way.

use std::collections::BTreeMap;
use std::fmt;

use ale_core::{AccountId, Amount, Asset, Instrument};

use crate::error::LedgerError;

/// Most legs of one operation (a proportional auction fill moves every position and collateral
/// of an account: 3 legs per position, bounded by the account's position count).
pub const MAX_LEGS_PER_OP: usize = 1024;

/// Who holds value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Holder {
    /// A trader's account.
    Trader(AccountId),
    /// The venue's insurance fund (tier-1 backstop and first payer of losses).
    InsuranceFund,
    /// A registered tier-1 backstop pool.
    BackstopPool(String),
    /// A registered liquidator (tier-2 bidder).
    Liquidator(String),
    /// A backstop-credit provider: capital committed in advance, drawn in the loss waterfall.
    CreditProvider(String),
    /// Fees collected by the venue.
    Fees,
    /// Recorded socialised loss (the one internal cash balance that may be negative).
    SocialisedLoss,
    /// Outside the venue: deposits, withdrawals, the order book, the other side of positions.
    External,
}

impl Holder {
    /// True for the holders whose cash balance may be negative.
    pub fn may_owe_cash(&self) -> bool {
        matches!(self, Holder::External | Holder::SocialisedLoss)
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::Trader(id) => write!(f, "trader:{id}"),
            Holder::InsuranceFund => f.write_str("insurance_fund"),
            Holder::BackstopPool(n) => write!(f, "backstop_pool:{n}"),
            Holder::Liquidator(n) => write!(f, "liquidator:{n}"),
            Holder::CreditProvider(n) => write!(f, "credit_provider:{n}"),
            Holder::Fees => f.write_str("fees"),
            Holder::SocialisedLoss => f.write_str("socialised_loss"),
            Holder::External => f.write_str("external"),
        }
    }
}

/// What a balance counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    /// Cash of a collateral asset, in 10⁻⁹ units of it.
    Cash(Asset),
    /// Quantity of an instrument, in 10⁻⁹ units of its underlying (signed: short < 0).
    Quantity(Instrument),
    /// Cost basis of a future or perpetual position, in the quote currency: the position is
    /// worth `quantity · mark − cost`.
    CostBasis(Instrument),
}

impl Unit {
    /// True for cash.
    pub fn is_cash(&self) -> bool {
        matches!(self, Unit::Cash(_))
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unit::Cash(a) => write!(f, "cash:{a}"),
            Unit::Quantity(i) => write!(f, "qty:{i}"),
            Unit::CostBasis(i) => write!(f, "cost:{i}"),
        }
    }
}

/// A holder, interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HolderId(pub u32);

/// A unit, interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitId(pub u32);

/// The id of an operation: names it forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// One movement of a positive amount of one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leg {
    /// Who gives.
    pub from: HolderId,
    /// Who receives.
    pub to: HolderId,
    /// What.
    pub unit: UnitId,
    /// How much (> 0).
    pub amount: Amount,
}

/// An operation: legs applied together or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// Its id.
    pub id: OpId,
    /// Its legs.
    pub legs: Vec<Leg>,
}

impl Op {
    /// An operation of one leg.
    pub fn transfer(id: OpId, from: HolderId, to: HolderId, unit: UnitId, amount: Amount) -> Op {
        Op {
            id,
            legs: vec![Leg {
                from,
                to,
                unit,
                amount,
            }],
        }
    }

    /// A deterministic fingerprint of the legs (FNV-1a), to tell a repeat from a conflict.
    fn fingerprint(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |x: u128| {
            for b in x.to_le_bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for leg in &self.legs {
            eat(u128::from(leg.from.0) << 64 | u128::from(leg.to.0) << 32 | u128::from(leg.unit.0));
            eat(leg.amount.raw() as u128);
        }
        h
    }
}

/// What applying an operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The legs moved.
    Applied,
    /// The id was applied before with the same legs: nothing changed.
    Duplicate,
}

/// The ledger. See the module docs for its invariants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    holders: Vec<Holder>,
    holder_ix: BTreeMap<Holder, HolderId>,
    units: Vec<Unit>,
    unit_ix: BTreeMap<Unit, UnitId>,
    balances: BTreeMap<(HolderId, UnitId), i128>,
    /// Per unit, the running total of every balance change (debits and credits posted): zero
    /// after every leg, checked in O(units) by [`Ledger::check_balanced`].
    totals: Vec<i128>,
    /// Applied ids and the fingerprints of their legs.
    applied: BTreeMap<OpId, u64>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// The id of `holder`, interning it on first use.
    pub fn holder(&mut self, holder: &Holder) -> HolderId {
        if let Some(id) = self.holder_ix.get(holder) {
            return *id;
        }
        let id = HolderId(self.holders.len() as u32);
        self.holders.push(holder.clone());
        self.holder_ix.insert(holder.clone(), id);
        id
    }

    /// The id of `unit`, interning it on first use.
    pub fn unit(&mut self, unit: &Unit) -> UnitId {
        if let Some(id) = self.unit_ix.get(unit) {
            return *id;
        }
        let id = UnitId(self.units.len() as u32);
        self.units.push(unit.clone());
        self.totals.push(0);
        self.unit_ix.insert(unit.clone(), id);
        id
    }

    /// The id of a holder already known.
    pub fn holder_id(&self, holder: &Holder) -> Option<HolderId> {
        self.holder_ix.get(holder).copied()
    }

    /// The id of a unit already known.
    pub fn unit_id(&self, unit: &Unit) -> Option<UnitId> {
        self.unit_ix.get(unit).copied()
    }

    /// The holder of an id.
    pub fn holder_of(&self, id: HolderId) -> Option<&Holder> {
        self.holders.get(id.0 as usize)
    }

    /// The unit of an id.
    pub fn unit_of(&self, id: UnitId) -> Option<&Unit> {
        self.units.get(id.0 as usize)
    }

    /// A balance (zero when never touched).
    pub fn balance(&self, holder: HolderId, unit: UnitId) -> Amount {
        Amount::from_raw(self.balances.get(&(holder, unit)).copied().unwrap_or(0))
    }

    /// The balance of `holder` in `unit`, by name (zero when either is unknown).
    pub fn balance_of(&self, holder: &Holder, unit: &Unit) -> Amount {
        match (self.holder_id(holder), self.unit_id(unit)) {
            (Some(h), Some(u)) => self.balance(h, u),
            _ => Amount::ZERO,
        }
    }

    /// Every non-zero balance of one holder, in unit-id order.
    pub fn holdings(&self, holder: HolderId) -> impl Iterator<Item = (UnitId, Amount)> + '_ {
        self.balances
            .range((holder, UnitId(0))..=(holder, UnitId(u32::MAX)))
            .filter(|(_, v)| **v != 0)
            .map(|(&(_, u), v)| (u, Amount::from_raw(*v)))
    }

    /// Every non-zero balance as (holder, unit, amount), ordered by holder then unit name.
    pub fn entries(&self) -> Vec<(&Holder, &Unit, Amount)> {
        let mut out: Vec<(&Holder, &Unit, Amount)> = self
            .balances
            .iter()
            .filter(|(_, v)| **v != 0)
            .map(|(&(h, u), v)| {
                (
                    &self.holders[h.0 as usize],
                    &self.units[u.0 as usize],
                    Amount::from_raw(*v),
                )
            })
            .collect();
        out.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        out
    }

    /// Number of operations applied.
    pub fn applied_count(&self) -> usize {
        self.applied.len()
    }

    /// True when `id` has been applied.
    pub fn is_applied(&self, id: OpId) -> bool {
        self.applied.contains_key(&id)
    }

    fn name_h(&self, h: HolderId) -> String {
        self.holders
            .get(h.0 as usize)
            .map_or_else(|| format!("#{}", h.0), ToString::to_string)
    }

    fn name_u(&self, u: UnitId) -> String {
        self.units
            .get(u.0 as usize)
            .map_or_else(|| format!("#{}", u.0), ToString::to_string)
    }

    /// Applies `op` whole, or refuses it and changes nothing. A repeated id with the same legs
    /// is [`Applied::Duplicate`] and changes nothing.
    pub fn apply(&mut self, op: &Op) -> Result<Applied, LedgerError> {
        let id = op.id.0;
        let fingerprint = op.fingerprint();
        if let Some(seen) = self.applied.get(&op.id) {
            return if *seen == fingerprint {
                Ok(Applied::Duplicate)
            } else {
                Err(LedgerError::ConflictingId { op: id })
            };
        }
        if op.legs.len() > MAX_LEGS_PER_OP {
            return Err(LedgerError::TooManyLegs {
                op: id,
                legs: op.legs.len(),
                limit: MAX_LEGS_PER_OP,
            });
        }
        for (i, leg) in op.legs.iter().enumerate() {
            if leg.amount.raw() <= 0 {
                return Err(LedgerError::NonPositiveLeg {
                    op: id,
                    leg: i,
                    amount: leg.amount.to_string(),
                });
            }
            for (what, ix, n) in [
                ("holder", leg.from.0, self.holders.len()),
                ("holder", leg.to.0, self.holders.len()),
                ("unit", leg.unit.0, self.units.len()),
            ] {
                if ix as usize >= n {
                    return Err(LedgerError::UnknownId {
                        op: id,
                        leg: i,
                        what,
                        id: ix,
                    });
                }
            }
            if leg.from == leg.to {
                return Err(LedgerError::SelfTransfer {
                    op: id,
                    leg: i,
                    holder: self.name_h(leg.from),
                });
            }
        }
        // Apply leg by leg; on a refusal undo the legs already applied (in reverse).
        for (i, leg) in op.legs.iter().enumerate() {
            if let Err(e) = self.move_one(id, leg) {
                for done in op.legs[..i].iter().rev() {
                    self.unmove_one(done);
                }
                return Err(e);
            }
        }
        self.applied.insert(op.id, fingerprint);
        Ok(Applied::Applied)
    }

    fn move_one(&mut self, id: u64, leg: &Leg) -> Result<(), LedgerError> {
        let amount = leg.amount.raw();
        let from_before = self
            .balances
            .get(&(leg.from, leg.unit))
            .copied()
            .unwrap_or(0);
        let to_before = self.balances.get(&(leg.to, leg.unit)).copied().unwrap_or(0);
        let overflow = |h: HolderId| LedgerError::Overflow {
            op: id,
            holder: self.name_h(h),
            unit: self.name_u(leg.unit),
        };
        let from_after = from_before
            .checked_sub(amount)
            .ok_or_else(|| overflow(leg.from))?;
        let to_after = to_before
            .checked_add(amount)
            .ok_or_else(|| overflow(leg.to))?;
        let is_cash = self.units[leg.unit.0 as usize].is_cash();
        if is_cash && from_after < 0 && !self.holders[leg.from.0 as usize].may_owe_cash() {
            return Err(LedgerError::InsufficientBalance {
                op: id,
                holder: self.name_h(leg.from),
                unit: self.name_u(leg.unit),
                balance: Amount::from_raw(from_before).to_string(),
                amount: leg.amount.to_string(),
            });
        }
        self.balances.insert((leg.from, leg.unit), from_after);
        self.balances.insert((leg.to, leg.unit), to_after);
        // The unit's running total moves by the changes actually written to the two balances:
        // zero unless they differ (a bookkeeping bug). Wrapping: only equality with 0 matters.
        let written =
            (from_after.wrapping_sub(from_before)).wrapping_add(to_after.wrapping_sub(to_before));
        let total = &mut self.totals[leg.unit.0 as usize];
        *total = total.wrapping_add(written);
        Ok(())
    }

    fn unmove_one(&mut self, leg: &Leg) {
        // Exact inverse of a leg that was applied: cannot overflow.
        if let Some(b) = self.balances.get_mut(&(leg.from, leg.unit)) {
            *b += leg.amount.raw();
        }
        if let Some(b) = self.balances.get_mut(&(leg.to, leg.unit)) {
            *b -= leg.amount.raw();
        }
    }

    /// The running totals of every unit are zero (O(units)): the check the engine makes after
    /// every step of the loss waterfall. [`Ledger::audit`] recomputes from the balances.
    pub fn check_balanced(&self) -> Result<(), LedgerError> {
        match self.totals.iter().position(|t| *t != 0) {
            Some(u) => Err(LedgerError::Unbalanced {
                unit: self.name_u(UnitId(u as u32)),
                sum: self.totals[u],
            }),
            None => Ok(()),
        }
    }

    /// Recomputes every unit's sum of balances from scratch (O(balances)): all must be zero.
    pub fn audit(&self) -> Result<(), LedgerError> {
        self.check_balanced()?;
        let mut sums = vec![0i128; self.units.len()];
        for (&(_, u), v) in &self.balances {
            let s = &mut sums[u.0 as usize];
            *s = s.checked_add(*v).ok_or_else(|| LedgerError::Unbalanced {
                unit: self.name_u(u),
                sum: i128::MAX,
            })?;
        }
        for (u, sum) in sums.into_iter().enumerate() {
            if sum != 0 {
                return Err(LedgerError::Unbalanced {
                    unit: self.name_u(UnitId(u as u32)),
                    sum,
                });
            }
        }
        Ok(())
    }

    /// A ledger with the same holders and units interned, in the same order, and no balances:
    /// the starting point of a replay.
    pub fn empty_like(&self) -> Ledger {
        Ledger {
            holders: self.holders.clone(),
            holder_ix: self.holder_ix.clone(),
            units: self.units.clone(),
            unit_ix: self.unit_ix.clone(),
            balances: BTreeMap::new(),
            totals: vec![0; self.units.len()],
            applied: BTreeMap::new(),
        }
    }

    /// The balances as a comparable map by name (holder, unit) → amount, zeros left out.
    pub fn snapshot(&self) -> BTreeMap<(Holder, Unit), Amount> {
        self.entries()
            .into_iter()
            .map(|(h, u, a)| ((h.clone(), u.clone()), a))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usdc() -> Unit {
        Unit::Cash(Asset::new("USDC").unwrap())
    }

    fn amt(s: &str) -> Amount {
        Amount::parse_decimal(s).unwrap()
    }

    #[test]
    fn deposits_transfers_and_refusals() {
        let mut l = Ledger::new();
        let ext = l.holder(&Holder::External);
        let a = l.holder(&Holder::Trader(AccountId::new("a").unwrap()));
        let f = l.holder(&Holder::InsuranceFund);
        let u = l.unit(&usdc());
        assert_eq!(
            l.apply(&Op::transfer(OpId(1), ext, a, u, amt("100"))),
            Ok(Applied::Applied)
        );
        assert_eq!(
            l.apply(&Op::transfer(OpId(1), ext, a, u, amt("100"))),
            Ok(Applied::Duplicate)
        );
        assert_eq!(l.balance(a, u), amt("100"));
        assert_eq!(
            l.apply(&Op::transfer(OpId(1), ext, a, u, amt("5"))),
            Err(LedgerError::ConflictingId { op: 1 })
        );
        // Two legs, the second refused: the first is undone.
        let op = Op {
            id: OpId(2),
            legs: vec![
                Leg {
                    from: a,
                    to: f,
                    unit: u,
                    amount: amt("60"),
                },
                Leg {
                    from: a,
                    to: f,
                    unit: u,
                    amount: amt("60"),
                },
            ],
        };
        let err = l.apply(&op).unwrap_err();
        assert!(err.to_string().contains("cannot pay 60"), "{err}");
        assert_eq!(l.balance(a, u), amt("100"));
        assert_eq!(l.balance(f, u), Amount::ZERO);
        assert!(!l.is_applied(OpId(2)));
        assert!(l.apply(&Op::transfer(OpId(3), a, a, u, amt("1"))).is_err());
        assert!(l
            .apply(&Op::transfer(OpId(4), a, f, u, Amount::ZERO))
            .is_err());
        assert_eq!(l.balance(ext, u), amt("-100"));
        l.audit().unwrap();
    }
}
