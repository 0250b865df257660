//! Numerical building blocks, private to the crate: special functions and
//! hypergeometric series, forward-mode jets, quadrature, small linear
//! algebra, radix sorting and the one stable hash.
//!
//! The lowest floor beside [`crate::domain`]: it imports nothing from the
//! rest of the crate but the error type.
pub(crate) mod hash;
pub(crate) mod jet;
pub(crate) mod numerics;
pub(crate) mod sort;
