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

/// ln Γ(x) − ln Γ(x + a) for x > 0, a ≥ 0, without the cancellation of two
/// huge logarithms: beyond x = 10⁷ the asymptotic expansion
/// −a ln x − a(a − 1)/(2x) (next term of order a³/x²) is used.
pub(crate) fn ln_gamma_ratio(x: f64, a: f64) -> f64 {
    if x > 1e7 { -a * x.ln() - a * (a - 1.0) / (2.0 * x) } else { ln_gamma(x) - ln_gamma(x + a) }
}

/// The upper regularized incomplete gamma function Q(a, x) = Γ(a, x)/Γ(a)
/// for a > 0, x ≥ 0: 1 − P(a, x) (the `special` crate's P) where that
/// keeps its digits (x < a + 1), else the continued fraction of Γ(a, x)
/// (Legendre's), evaluated by the modified Lentz method, so that tails far
/// below 1e-16 keep their relative accuracy.
pub(crate) fn upper_regularized_gamma(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x < a + 1.0 {
        return 1.0 - special::Gamma::inc_gamma(x, a);
    }
    const TINY: f64 = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..1_000 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (a * x.ln() - x - ln_gamma(a)).exp() * h
}
