//! Why a certificate is rejected: a small enum whose every variant names the field at fault.

use core::fmt;

use crate::fixed::MathError;

/// A rejected certificate: the field at fault (a dotted path such as `signatures.key` or
/// `claimed_requirement`; an index, when there is one, in `index`) and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    /// The field at fault.
    pub field: &'static str,
    /// Index within the field (signature, leaf, position), when it is a list.
    pub index: Option<u16>,
    /// Why.
    pub reason: Reason,
    /// For a structural failure: the count fields read before it, as bits of
    /// [`COUNT_FIELDS`] (a count that was altered shifts every field after it, so the failure
    /// shows up further on, and any of them may be at fault).
    pub after_counts: u16,
}

/// The count and length fields of the layout, in order.
pub const COUNT_FIELDS: [&str; 10] = [
    "params",
    "signatures",
    "market.leaves",
    "market.leaves.len",
    "market.proof",
    "account.len",
    "account.proof",
    "witness",
    "witness_scenarios",
    "witness_scenarios.proof",
];

/// The reasons, each with the numbers that explain it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The bytes end inside this field.
    Truncated,
    /// Bytes follow the last field.
    TrailingBytes,
    /// Wrong magic number.
    BadMagic,
    /// A format version this verifier does not read.
    UnsupportedVersion(u16),
    /// The value is outside what the field admits (`what` says what it must be).
    Invalid(&'static str),
    /// A list is longer than the verifier's fixed bound.
    TooMany {
        /// The bound.
        max: u16,
    },
    /// A signature does not verify over the signed tuple named in the message.
    BadSignature,
    /// Fewer valid signatures than the quorum.
    ShortQuorum {
        /// Valid signatures present.
        have: u8,
        /// Signatures needed.
        need: u8,
    },
    /// The commitment is older than allowed, or from the future.
    Stale {
        /// now − time (negative: from the future).
        age_s: i64,
        /// The largest age accepted.
        max_age_s: i64,
    },
    /// A Merkle proof does not lead to the signed root.
    ProofMismatch,
    /// The claimed value differs from the recomputed one.
    Mismatch,
    /// A market leaf the computation needs is missing from the certificate.
    MissingLeaf,
    /// The witness is not one of the policy's scenarios.
    NotInPolicy,
    /// Outside the domain where the verifier's arithmetic has a tested error bound.
    OutOfDomain(&'static str),
    /// Arithmetic overflow or an input outside a function's domain.
    Arithmetic(MathError),
    /// The account is not proved liquidatable at the witness (value ≥ requirement).
    NotLiquidatable,
    /// Liquidatable only by less than the accumulated error bound: too close to call.
    TooClose,
    /// A parameter set or commitment that this verifier does not trust.
    Untrusted,
}

impl Rejection {
    /// A rejection of `field` for `reason`.
    pub const fn new(field: &'static str, reason: Reason) -> Rejection {
        Rejection {
            field,
            index: None,
            reason,
            after_counts: 0,
        }
    }

    /// The same with an index.
    pub const fn at(field: &'static str, index: usize, reason: Reason) -> Rejection {
        Rejection {
            field,
            index: Some(index as u16),
            reason,
            after_counts: 0,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}", self.field)?;
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        f.write_str("': ")?;
        match self.reason {
            Reason::Truncated => f.write_str("truncated: the certificate ends inside this field"),
            Reason::TrailingBytes => f.write_str("bytes follow the last field"),
            Reason::BadMagic => f.write_str("not a certificate (magic must be \"ALEC\")"),
            Reason::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            Reason::Invalid(what) => write!(f, "invalid: {what}"),
            Reason::TooMany { max } => write!(f, "more than {max} entries"),
            Reason::BadSignature => f.write_str(
                "signature does not verify over the signed message (both roots with their time, seq and leaf_count, and params_hash)",
            ),
            Reason::ShortQuorum { have, need } => {
                write!(f, "short quorum: {have} valid signatures, {need} needed")
            }
            Reason::Stale { age_s, max_age_s } => {
                if age_s < 0 {
                    write!(f, "from the future ({} s ahead of now)", -age_s)
                } else {
                    write!(f, "stale: {age_s} s old, at most {max_age_s} s allowed")
                }
            }
            Reason::ProofMismatch => f.write_str(
                "Merkle proof does not lead to the signed root (leaves, indices or proof)",
            ),
            Reason::Mismatch => {
                f.write_str("differs from the value the verifier recomputes (they must be equal)")
            }
            Reason::MissingLeaf => f.write_str("a market leaf the computation needs is missing"),
            Reason::NotInPolicy => f.write_str("not a scenario of the policy's list"),
            Reason::OutOfDomain(what) => write!(
                f,
                "outside the domain of the verifier's tested error bounds ({what})"
            ),
            Reason::Arithmetic(MathError::Overflow) => f.write_str("arithmetic overflow"),
            Reason::Arithmetic(MathError::Domain) => {
                f.write_str("value outside the domain of the arithmetic")
            }
            Reason::NotLiquidatable => {
                f.write_str("not liquidatable at the witness (value >= requirement)")
            }
            Reason::TooClose => f.write_str(
                "too close to call: requirement - value is not larger than the accumulated error bound",
            ),
            Reason::Untrusted => f.write_str("not among the verifier's trusted values"),
        }?;
        if self.after_counts != 0 {
            f.write_str(" (read after the count fields")?;
            for (i, name) in COUNT_FIELDS.iter().enumerate() {
                if self.after_counts & (1 << i) != 0 && *name != self.field {
                    write!(f, " '{name}'")?;
                }
            }
            f.write_str(": an altered count shifts every field after it)")?;
        }
        Ok(())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Rejection {}
