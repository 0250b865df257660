//! Special functions and small linear algebra for the models, in log space
//! where it matters.

/// ln Γ(x) for x > 0 (libm's `lgamma`, a port of musl's).
#[inline]
pub(crate) fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
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

/// The Gaussian hypergeometric function ₂F₁(a, b; c; z) for a, b, c > 0 and
/// 0 ≤ z < 1, where every term of the series is positive: summed directly
/// until a term no longer changes the sum. Returns `None` outside that
/// domain or when the series has not converged after 100,000 terms.
pub(crate) fn hyp2f1_positive(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    if !(a > 0.0 && b > 0.0 && c > 0.0 && (0.0..1.0).contains(&z)) {
        return None;
    }
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    for k in 0..100_000u32 {
        let k = f64::from(k);
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if !sum.is_finite() {
            return None;
        }
        // The ratio of consecutive terms tends to z monotonically (from above
        // or below), so every later ratio is at most max(current ratio, z)
        // and the tail is bounded by a geometric series with that ratio.
        let ratio = ((a + k + 1.0) * (b + k + 1.0) / ((c + k + 1.0) * (k + 2.0)) * z).max(z);
        if ratio < 1.0 && term * ratio / (1.0 - ratio) <= sum * 1e-17 {
            return Some(sum);
        }
    }
    None
}

/// ln ₂F₁(a, b; a + 1; z) for a, b > 0 and 0 ≤ z < 1, through Euler's
/// transformation ₂F₁(a, b; c; z) = (1 − z)^(c−a−b) ₂F₁(c − a, c − b; c; z):
/// with c = a + 1 the transformed series Σ (c−b)_k/(c)_k z^k has positive
/// terms bounded by z^k, so it neither overflows nor cancels, whatever the
/// size of a and b (the Pareto/NBD needs a = r + s + x with x in the thousands).
pub(crate) fn ln_hyp2f1_a_plus_one(a: f64, b: f64, z: f64) -> Option<f64> {
    if !(a > 0.0 && b > 0.0 && (0.0..1.0).contains(&z)) {
        return None;
    }
    let c = a + 1.0;
    let d = c - b;
    if z == 0.0 {
        return Some(0.0);
    }
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    let mut converged = false;
    for k in 0..1_000_000u32 {
        let k = f64::from(k);
        term *= (d + k) / (c + k) * z;
        sum += term;
        // The ratio of consecutive terms stays below z, so the tail is below term·z/(1−z).
        if term * z / (1.0 - z) <= sum * 1e-17 {
            converged = true;
            break;
        }
    }
    if !converged || !sum.is_finite() || d <= 0.0 {
        // d ≤ 0 (b > a + 1) makes terms alternate in sign; not needed by the models.
        return None;
    }
    Some((1.0 - b) * (-z).ln_1p() + sum.ln())
}

/// Inverts a small symmetric positive-definite matrix (row-major, n × n) by
/// Gauss–Jordan elimination with partial pivoting; `None` when singular.
pub(crate) fn invert(matrix: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut a = matrix.to_vec();
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        inv[i * n + i] = 1.0;
    }
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        let p = a[pivot * n + col];
        if !p.is_finite() || p.abs() < 1e-300 {
            return None;
        }
        for k in 0..n {
            a.swap(col * n + k, pivot * n + k);
            inv.swap(col * n + k, pivot * n + k);
        }
        let p = a[col * n + col];
        for k in 0..n {
            a[col * n + k] /= p;
            inv[col * n + k] /= p;
        }
        for row in 0..n {
            if row != col {
                let f = a[row * n + col];
                if f != 0.0 {
                    for k in 0..n {
                        a[row * n + k] -= f * a[col * n + k];
                        inv[row * n + k] -= f * inv[col * n + k];
                    }
                }
            }
        }
    }
    inv.iter().all(|v| v.is_finite()).then_some(inv)
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // reference values quoted with all their digits
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_values() {
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-13);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
        assert!((ln_beta(2.0, 3.0) - (1.0f64 / 12.0).ln()).abs() < 1e-13);
    }

    #[test]
    fn log_add_exp_is_stable() {
        assert!((log_add_exp(1000.0, 1000.0) - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert_eq!(log_add_exp(f64::NEG_INFINITY, 3.0), 3.0);
        assert!((log_add_exp(-1000.0, -1001.0) - (-1000.0 + (1.0 + (-1f64).exp()).ln())).abs() < 1e-12);
    }

    #[test]
    fn hyp2f1_against_closed_forms_and_mpmath() {
        // 2F1(1, 1; 2; z) = -ln(1 - z) / z
        for z in [0.1, 0.5, 0.9, 0.99] {
            let expected = -(1.0f64 - z).ln() / z;
            let got = hyp2f1_positive(1.0, 1.0, 2.0, z).unwrap();
            assert!((got / expected - 1.0).abs() < 1e-13, "z={z}: {got} vs {expected}");
        }
        // mpmath (dps 30): hyp2f1(0.2426, 2.4259, 2.2188, 78/(4.4136+78)) = 2.38698735593810425087
        let got = hyp2f1_positive(0.2426, 2.4259, 2.2188, 78.0 / (4.4136 + 78.0)).unwrap();
        assert!((got / 2.386_987_355_938_104 - 1.0).abs() < 1e-12, "{got}");
        // c − a − b < 0: ratios approach z from below (a slow tail).
        // mpmath: hyp2f1(0.5248377255676637, 2.6140000256721438, 2.505356306603286, 39/(6.1829884791339715+39))
        let got = hyp2f1_positive(
            0.524_837_725_567_663_7,
            2.614_000_025_672_143_8,
            2.505_356_306_603_286,
            39.0 / (6.182_988_479_133_971_5 + 39.0),
        )
        .unwrap();
        assert!((got / 3.066_187_609_987_960_8 - 1.0).abs() < 1e-12, "{got}");
        assert!(hyp2f1_positive(1.0, 1.0, 2.0, 1.0).is_none());
        assert!(hyp2f1_positive(-1.0, 1.0, 2.0, 0.5).is_none());
    }

    #[test]
    fn euler_transformed_series_against_mpmath() {
        // mpmath (dps 40): log(hyp2f1(a, b, a + 1, z)).
        let cases = [
            (1.1594, 1.6062, 0.0939_f64, 0.084_696_016_682_417_383),
            (27.1594, 1.6062, 0.5, 1.059_431_980_193_080_97),
            (3000.5, 3000.0, 0.9, 6_905.453_143_900_390_3),
            (1.5, 0.5, 0.999, 0.817_459_181_429_609_88),
        ];
        for (a, b, z, expected) in cases {
            let got = ln_hyp2f1_a_plus_one(a, b, z).unwrap();
            assert!((got - expected).abs() <= 1e-12 * expected.abs().max(1.0), "{a} {b} {z}: {got} vs {expected}");
        }
        assert!(ln_hyp2f1_a_plus_one(1.0, 1.0, 1.0).is_none());
    }

    #[test]
    fn inversion() {
        let m = [4.0, 1.0, 1.0, 3.0];
        let inv = invert(&m, 2).unwrap();
        let expected = [3.0 / 11.0, -1.0 / 11.0, -1.0 / 11.0, 4.0 / 11.0];
        for (a, b) in inv.iter().zip(expected) {
            assert!((a - b).abs() < 1e-15);
        }
        assert!(invert(&[1.0, 2.0, 2.0, 4.0], 2).is_none());
    }
}
