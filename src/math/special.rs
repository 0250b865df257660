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
    // The larger plus ln(1 + e^−|a−b|), in ln_1p: a sum near 1 keeps its digits.
    a.max(b) + (-(a - b).abs()).exp().ln_1p()
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

/// ln(1 + y) / y, 1 at y = 0: accurate for any y > −1 (ln_1p is).
#[inline]
pub(crate) fn ln_1p_over(y: f64) -> f64 {
    if y == 0.0 { 1.0 } else { y.ln_1p() / y }
}

/// (e^y − 1) / y, 1 at y = 0.
#[inline]
pub(crate) fn exp_m1_over(y: f64) -> f64 {
    if y == 0.0 { 1.0 } else { y.exp_m1() / y }
}

/// The Stirling series' coefficients B₂ₖ / (2k (2k − 1)), k = 1…6: the
/// remainder after them is below 1e-17 for x ≥ 20.
const STIRLING: [f64; 6] = [1.0 / 12.0, -1.0 / 360.0, 1.0 / 1260.0, -1.0 / 1680.0, 1.0 / 1188.0, -691.0 / 360_360.0];

/// Where the Stirling series takes over in [`ln_gamma_slope`].
const STIRLING_FROM: f64 = 20.0;

/// [ln Γ(x + h) − ln Γ(x)] / h for x > 0 and x + h > 0, ψ(x) at h = 0:
/// the slope of ln Γ over [x, x + h], to about 1e-15 relative for any h,
/// tiny or huge, without subtracting two ln Γ values (which at x = 10⁵
/// are 10⁶ and leave 1e-10 of absolute error). Both ends are first raised
/// to 20 or more (ln Γ(x + 1) = ln Γ(x) + ln x, each step's
/// ln(1 + h/(x+j)) / h taken whole), then Stirling's series is
/// differenced term by term in ln(1 + h/x) and expm1, so that nothing
/// cancels as h → 0.
pub(crate) fn ln_gamma_slope(x: f64, h: f64) -> f64 {
    let low = x.min(x + h);
    let mut steps = 0.0;
    let mut x = x;
    if low < STIRLING_FROM {
        let m = (STIRLING_FROM - low).ceil();
        let mut j = 0.0;
        while j < m {
            steps += ln_1p_over(h / (x + j)) / (x + j);
            j += 1.0;
        }
        x += m;
    }
    // ln Γ(x) = (x − ½) ln x − x + ½ ln 2π + Σ cₖ x^(1−2k).
    let y = h / x;
    let ly = ln_1p_over(y);
    let mut slope = (1.0 - 0.5 / x) * ly + (x + h).ln() - 1.0;
    let mut power = 1.0 / (x * x); // x^(−p−1) for p = 1, 3, 5, …
    for (k, c) in STIRLING.iter().enumerate() {
        let p = (2 * k + 1) as f64;
        // cₖ [(x+h)^(−p) − x^(−p)] / h = cₖ x^(−p−1) (−p) L(y) E(−p y L(y)).
        slope += c * power * (-p) * ly * exp_m1_over(-p * y * ly);
        power /= x * x;
    }
    slope - steps
}

/// ln B(a, b + n) − ln B(a, b) for a, b > 0 and b + n > 0 (n ≥ 0 in
/// use: the Beta factors of a history of n more events). A whole n up to
/// 64 as Σⱼ ln(1 − a/(a+b+j)), j < n, each term to full precision (as
/// ln((b+j)/(a+b+j)) where a/(a+b+j) > ½);
/// otherwise the one of its two forms in [`ln_gamma_slope`] that cancels
/// less — n [S(b, n) − S(a+b, n)], which loses about (b+n)/a, or
/// −a [S(b+n, a) − S(b, a)], which loses about 1/ln(1 + n/b) — and the
/// sum again for a whole n up to 10⁵ where both would lose more than four
/// digits.
pub(crate) fn ln_beta_shift(a: f64, b: f64, n: f64) -> f64 {
    if n == 0.0 {
        return 0.0; // exactly, not two rounded values cancelling
    }
    let whole = n.fract() == 0.0 && n > 0.0;
    // ln(1 − a/(a+b+j)), or ln((b+j)/(a+b+j)) where 1 − a/(a+b+j) would
    // round away the digits of a small remainder.
    let term = |j: f64| {
        let s = a + b + j;
        if a <= 0.5 * s { (-a / s).ln_1p() } else { ((b + j) / s).ln() }
    };
    let by_sum = || (0..n as u32).map(|j| term(f64::from(j))).sum::<f64>();
    if whole && n <= 64.0 {
        return by_sum();
    }
    let loss_in_n = (b + n) / a;
    let loss_in_a = 1.0 / (n / b).ln_1p().abs();
    if whole && n <= 1e5 && loss_in_n.min(loss_in_a) > 1e4 {
        return by_sum();
    }
    if loss_in_n <= loss_in_a {
        n * (ln_gamma_slope(b, n) - ln_gamma_slope(a + b, n))
    } else {
        -a * (ln_gamma_slope(b + n, a) - ln_gamma_slope(b, a))
    }
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

#[cfg(test)]
#[allow(clippy::excessive_precision)] // reference values quoted with all their digits
mod tests {
    use super::*;

    /// Against mpmath at 40 digits: (ln Γ(x+h) − ln Γ(x)) / h, ψ(x) at h = 0;
    /// 1e-14 relative, absolute where the value is below 1.
    #[test]
    fn ln_gamma_slope_matches_mpmath() {
        let cases = [
            (0.0001, 0.0001, -6932.0487745522885361),
            (0.0001, 100000.0, 10.512784998422903075),
            (1.5, 0.0, 0.036489973978576520559),
            (100000.0, 1.0e-6, 11.512920464966895112),
            (100000.0, 1.0, 11.51292546497022842),
            (3.7, -3.6, -0.22906675696356056611),
            (25.0, 100000000.0, 17.4206847183612691),
            (0.5, 2.5, 0.048312895054098088938),
            (19.9, 0.2, 2.9705196120036397806),
            (1e12, 3.0, 27.631021115929548208),
        ];
        for (x, h, want) in cases {
            let got = ln_gamma_slope(x, h);
            // Absolute near ψ's root (1.4616…), where the terms of about 3 cancel.
            assert!((got - want).abs() < 1e-14 * want.abs().max(1.0), "S({x}, {h}) = {got}, want {want}");
        }
    }

    /// Against mpmath at 40 digits: ln B(a, b + n) − ln B(a, b), in each of
    /// its three ways of being computed.
    #[test]
    fn ln_beta_shift_matches_mpmath() {
        let cases = [
            (0.0001, 1.0, 100000.0, -0.001209006388766666882),
            (10000.0, 1.0, 5.0, -41.26570984217384322),
            (1.0, 10000.0, 100000.0, -2.3978952727983705441),
            (0.0001, 10000.0, 1000.0, -9.5314724948909571344e-6),
            (0.6568, 2.7839, 100000.0, -6.9287911678150979078),
            (2.5, 100000000.0, 7.0, -1.7499999256250039521e-7),
            (10000.0, 10000.0, 1000.0, -669.35191083742441825),
            (0.5, 0.25, 0.5, -0.78318878541367355294),
        ];
        for (a, b, n, want) in cases {
            let got = ln_beta_shift(a, b, n);
            assert!(((got - want) / want).abs() < 1e-13, "shift({a}, {b}, {n}) = {got}, want {want}");
        }
        assert_eq!(ln_beta_shift(0.3, 0.7, 0.0), 0.0);
    }
}
