//! Numerical building blocks, private to the crate: special functions,
//! hypergeometric series, forward-mode jets, quadrature, small linear
//! algebra, radix sorting, the one stable hash and the one way of using a
//! second core.
//!
//! The lowest floor: it imports nothing from the rest of the crate but the
//! error type.

pub(crate) mod hash;
pub(crate) mod jet;
pub(crate) mod linalg;
pub(crate) mod parallel;
pub(crate) mod quadrature;
pub(crate) mod series;
pub(crate) mod sort;
pub(crate) mod special;

#[cfg(test)]
mod tests;
