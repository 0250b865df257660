//! Special functions in log space: ln Γ, digamma, trigamma, ln B, log-add-exp.

pub(crate) fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// ψ(x) = d ln Γ(x) / dx for x > 0 (the `special` crate's).
#[inline]
pub(crate) fn digamma(x: f64) -> f64 {
    special::Gamma::digamma(x)
}

/// ψ′(x), the trigamma function, for x > 0 (the `special` crate's).
#[inline]
pub(crate) fn trigamma(x: f64) -> f64 {
    special::Gamma::trigamma(&x)
}

/// ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b).
#[inline]
pub(crate) fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ln(e^a + e^b) without overflow.
#[inline]
pub(crate) fn log_add_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// ln(1 + e^u) without overflow.
pub(crate) fn softplus(u: f64) -> f64 {
    if u > 0.0 { u + (-u).exp().ln_1p() } else { u.exp().ln_1p() }
}
