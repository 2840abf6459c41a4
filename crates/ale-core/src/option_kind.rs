//! Call or put.

use std::fmt;

/// The right an option gives: to buy (call) or to sell (put) at the strike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OptionKind {
    /// The right to buy at the strike.
    Call,
    /// The right to sell at the strike.
    Put,
}

impl OptionKind {
    /// `+1.0` for a call, `-1.0` for a put: the sign θ of the Black formula
    /// `θ·D·(F·N(θ·d1) − K·N(θ·d2))`.
    #[inline]
    pub fn sign(self) -> f64 {
        match self {
            OptionKind::Call => 1.0,
            OptionKind::Put => -1.0,
        }
    }

    /// `true` for a call.
    #[inline]
    pub fn is_call(self) -> bool {
        matches!(self, OptionKind::Call)
    }
}

impl fmt::Display for OptionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OptionKind::Call => "call",
            OptionKind::Put => "put",
        })
    }
}
