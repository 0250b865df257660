//! Numerical building blocks, private to the crate: special functions,
//! hypergeometric series, forward-mode jets, quadrature, small linear
//! algebra, radix sorting and the one stable hash.
//!
//! The lowest floor: it imports nothing from the rest of the crate but the
//! error type.

pub(crate) mod hash;
pub(crate) mod jet;
pub(crate) mod linalg;
pub(crate) mod quadrature;
pub(crate) mod series;
pub(crate) mod sort;
pub(crate) mod special;

#[cfg(test)]
mod tests;
