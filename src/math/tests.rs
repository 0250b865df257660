//! Tests of the numerical building blocks against mpmath, scipy and
//! independent computations.

#![allow(clippy::excessive_precision)] // reference values quoted with all their digits

use super::linalg::*;
use super::quadrature::*;
use super::series::*;
use super::special::*;

/// The math routines answer `None` outside their domain; in a test that is a
/// failure, reported through the test's `Err`.
const NO_VALUE: &str = "a routine gave no value on an input inside its domain";
type Outcome = Result<(), String>;

/// The tabled series equals the one behind `ln_hyp2f1_a_plus_one`, and
/// its derivatives equal central differences, from z = 0 to z = 0.95
/// and for d, c from below 1 to the thousands.
#[test]
fn euler_series_and_its_derivatives() -> Outcome {
    let ln_s = |d: f64, c: f64, z: f64| EulerSeries::new(d, c)?.ln_value(z);
    for (d, c) in [(0.55, 2.16), (1.6, 2.2), (2500.5, 2502.1), (0.05, 0.3)] {
        let mut series = EulerSeries::new(d, c).ok_or(NO_VALUE)?;
        for z in [0.0, 1e-3, 0.03, 0.4, 0.8, 0.95] {
            // ₂F₁(a, b; a+1; z) with a = c − 1, b = c − d.
            let (a, b) = (c - 1.0, c - d);
            if a > 0.0 {
                let reference = ln_hyp2f1_a_plus_one(a, b, z).ok_or(NO_VALUE)? - (1.0 - b) * (-z).ln_1p();
                let got = series.ln_value(z).ok_or(NO_VALUE)?;
                assert!(
                    (got - reference).abs() < 1e-13 * reference.abs().max(1.0),
                    "{d} {c} {z}: {got} vs {reference}"
                );
            }
            let (value, g, h) = series.ln_value_with_derivatives(z).ok_or(NO_VALUE)?;
            assert!((value - ln_s(d, c, z).ok_or(NO_VALUE)?).abs() < 1e-14 * value.abs().max(1.0));
            let point = [d, c, z];
            let at = |q: [f64; 3]| ln_s(q[0], q[1], q[2]);
            for i in 0..3 {
                let step = if i == 2 { 1e-5 } else { 1e-5 * point[i] };
                let (mut up, mut down) = (point, point);
                up[i] += step;
                down[i] -= step;
                if down[i] < 0.0 {
                    // z = 0: a one-sided difference (checked more loosely).
                    down[i] = 0.0;
                }
                let numeric = (at(up).ok_or(NO_VALUE)? - at(down).ok_or(NO_VALUE)?) / (up[i] - down[i]);
                let tolerance = if i == 2 && z == 0.0 { 1e-4 } else { 1e-7 } * g[i].abs().max(1.0);
                assert!((numeric - g[i]).abs() < tolerance, "{d} {c} {z} gradient {i}: {numeric} vs {}", g[i]);
                for j in 0..3 {
                    let derivative =
                        |q: [f64; 3]| Some(EulerSeries::new(q[0], q[1])?.ln_value_with_derivatives(q[2])?.1[j]);
                    let numeric =
                        (derivative(up).ok_or(NO_VALUE)? - derivative(down).ok_or(NO_VALUE)?) / (up[i] - down[i]);
                    let exact = h[i * 3 + j];
                    let tolerance = if i == 2 && z == 0.0 { 1e-3 } else { 1e-6 } * exact.abs().max(1.0);
                    assert!((numeric - exact).abs() < tolerance, "{d} {c} {z} hessian {i},{j}: {numeric} vs {exact}");
                }
            }
        }
    }
    assert!(EulerSeries::new(2.0, 1.0).is_none());
    assert!(EulerSeries::new(1.0, 2.0).ok_or(NO_VALUE)?.ln_value(1.0).is_none());
    Ok(())
}

/// ∫₀¹ xⁿ dx, ∫ e^(−λw) over a long range, and a log-concave peak.
#[test]
fn tanh_sinh_integrates_smooth_and_steep_functions() -> Outcome {
    let total = |nodes: Vec<(f64, f64)>| ln_sum_of_nodes(&nodes).exp();
    let cube = tanh_sinh_nodes(&|w: f64| 3.0 * w.ln(), 0.0, 1.0);
    // ln 0 at the end point: −∞ is a zero contribution.
    assert!((total(cube.ok_or(NO_VALUE)?) - 0.25).abs() < 1e-14);
    let lambda = 300.0;
    let steep = total(tanh_sinh_nodes(&|w: f64| -lambda * w, 0.0, 20.0).ok_or(NO_VALUE)?);
    assert!((steep / (1.0 / lambda) - 1.0).abs() < 1e-12, "{steep}");
    let bump = total(tanh_sinh_nodes(&|w: f64| -(w - 1.0) * (w - 1.0) * 8.0, -5.0, 7.0).ok_or(NO_VALUE)?);
    let exact = (std::f64::consts::PI / 8.0).sqrt();
    assert!((bump / exact - 1.0).abs() < 1e-13, "{bump}");
    assert_eq!(tanh_sinh_nodes(&|w: f64| w, 1.0, 1.0).ok_or(NO_VALUE)?.len(), 0);
    assert!(tanh_sinh_nodes(&|w: f64| w, 2.0, 1.0).is_none());
    Ok(())
}

#[test]
fn ln_gamma_values() -> Outcome {
    assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-13);
    assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
    assert!((ln_beta(2.0, 3.0) - (1.0f64 / 12.0).ln()).abs() < 1e-13);
    Ok(())
}

#[test]
fn digamma_values() -> Outcome {
    // ψ(1) = −γ, ψ(1/2) = −γ − 2 ln 2, ψ(x+1) = ψ(x) + 1/x.
    let euler = 0.577_215_664_901_532_9;
    assert!((digamma(1.0) + euler).abs() < 1e-14);
    assert!((digamma(0.5) + euler + 2.0 * 2f64.ln()).abs() < 1e-14);
    assert!((digamma(7.3) - digamma(6.3) - 1.0 / 6.3).abs() < 1e-14);
    // ψ′(1) = π²/6, ψ′(x+1) = ψ′(x) − 1/x².
    assert!((trigamma(1.0) - std::f64::consts::PI.powi(2) / 6.0).abs() < 1e-13);
    assert!((trigamma(4.2) - trigamma(3.2) + 1.0 / (3.2 * 3.2)).abs() < 1e-13);
    Ok(())
}

#[test]
fn log_add_exp_is_stable() -> Outcome {
    assert!((log_add_exp(1000.0, 1000.0) - (1000.0 + 2f64.ln())).abs() < 1e-12);
    assert_eq!(log_add_exp(f64::NEG_INFINITY, 3.0), 3.0);
    assert!((log_add_exp(-1000.0, -1001.0) - (-1000.0 + (1.0 + (-1f64).exp()).ln())).abs() < 1e-12);
    Ok(())
}

#[test]
fn hyp2f1_against_closed_forms_and_mpmath() -> Outcome {
    // 2F1(1, 1; 2; z) = -ln(1 - z) / z
    for z in [0.1, 0.5, 0.9, 0.99] {
        let expected = -(1.0f64 - z).ln() / z;
        let got = hyp2f1_positive(1.0, 1.0, 2.0, z).ok_or(NO_VALUE)?;
        assert!((got / expected - 1.0).abs() < 1e-13, "z={z}: {got} vs {expected}");
    }
    // mpmath (dps 30): hyp2f1(0.2426, 2.4259, 2.2188, 78/(4.4136+78)) = 2.38698735593810425087
    let got = hyp2f1_positive(0.2426, 2.4259, 2.2188, 78.0 / (4.4136 + 78.0)).ok_or(NO_VALUE)?;
    assert!((got / 2.386_987_355_938_104 - 1.0).abs() < 1e-12, "{got}");
    // c − a − b < 0: ratios approach z from below (a slow tail).
    // mpmath: hyp2f1(0.5248377255676637, 2.6140000256721438, 2.505356306603286, 39/(6.1829884791339715+39))
    let got = hyp2f1_positive(
        0.524_837_725_567_663_7,
        2.614_000_025_672_143_8,
        2.505_356_306_603_286,
        39.0 / (6.182_988_479_133_971_5 + 39.0),
    )
    .ok_or(NO_VALUE)?;
    assert!((got / 3.066_187_609_987_960_8 - 1.0).abs() < 1e-12, "{got}");
    assert!(hyp2f1_positive(1.0, 1.0, 2.0, 1.0).is_none());
    assert!(hyp2f1_positive(-1.0, 1.0, 2.0, 0.5).is_none());
    Ok(())
}

#[test]
fn euler_transformed_series_against_mpmath() -> Outcome {
    // mpmath (dps 40): log(hyp2f1(a, b, a + 1, z)).
    let cases = [
        (1.1594, 1.6062, 0.0939_f64, 0.084_696_016_682_417_383),
        (27.1594, 1.6062, 0.5, 1.059_431_980_193_080_97),
        (3000.5, 3000.0, 0.9, 6_905.453_143_900_390_3),
        (1.5, 0.5, 0.999, 0.817_459_181_429_609_88),
    ];
    for (a, b, z, expected) in cases {
        let got = ln_hyp2f1_a_plus_one(a, b, z).ok_or(NO_VALUE)?;
        assert!((got - expected).abs() <= 1e-12 * expected.abs().max(1.0), "{a} {b} {z}: {got} vs {expected}");
    }
    assert!(ln_hyp2f1_a_plus_one(1.0, 1.0, 1.0).is_none());
    Ok(())
}

#[test]
fn scaled_hyp2f1_against_the_direct_series_and_mpmath() -> Outcome {
    for (a, b, c, z) in [(2.5, 4.6, 4.5, 0.46_f64), (0.3, 2.4, 2.2, 0.9), (10.2, 12.4, 12.2, 0.33)] {
        let direct = (a * (-z).ln_1p()).exp() * hyp2f1_positive(a, b, c, z).ok_or(NO_VALUE)?;
        let scaled = scaled_hyp2f1_with_loss(a, b, c, z).ok_or(NO_VALUE)?.0;
        assert!((scaled / direct - 1.0).abs() < 1e-12, "{scaled} vs {direct}");
    }
    // mpmath (dps 60): (1 − z)^a · hyp2f1(a, b, c, z) for a customer with
    // 5,000 repeat purchases, where ₂F₁ alone is about 10^880.
    let (a, b, c, z) = (5000.2426, 5002.4259, 5002.2188, 52.0 / (4.4136 + 100.0 + 52.0));
    let got = scaled_hyp2f1_with_loss(a, b, c, z).ok_or(NO_VALUE)?.0;
    assert!((got / 1.087_271_109_085_294_1 - 1.0).abs() < 1e-10, "{got}");
    Ok(())
}

#[test]
fn scaled_hyp2f1_at_many_arguments_is_the_single_one() -> Outcome {
    // BG/NBD-like parameters (k = r + x, b' = b + x, c = a + b' − 1), small
    // and large frequencies, sign-mixing ones (a < 1), arguments across
    // [0, 1) and outside it.
    let mut out = Vec::new();
    for (r, a, b) in [(0.24, 0.79, 2.43), (2.0, 3.5, 12.0), (0.5, 1.6, 0.3), (1.2, 0.4, 5.0)] {
        for x in [0.0, 1.0, 3.0, 17.0, 250.0, 5000.0] {
            let (k, b2) = (r + x, b + x);
            let c = a + b2 - 1.0;
            let zs: Vec<f64> = (0..60).map(|i| f64::from(i) / 59.5).chain([0.999, -0.1, 1.0, f64::NAN]).collect();
            scaled_hyp2f1_many(k, b2, c, &zs, &mut out);
            assert_eq!(out.len(), zs.len());
            for (&z, many) in zs.iter().zip(&out) {
                let single = scaled_hyp2f1_with_loss(k, b2, c, z);
                match (single, *many) {
                    (None, None) => {}
                    (Some((v1, l1)), Some((v2, l2))) => {
                        assert!(
                            (v1 - v2).abs() <= 1e-13 * v1.abs().max(1e-300) * l1.max(1.0),
                            "{k} {b2} {c} {z}: {v1} vs {v2}"
                        );
                        assert!(
                            (l1 / l2 - 1.0).abs() < 1e-6 || (l1 - l2).abs() < 1e-9,
                            "{k} {b2} {c} {z}: loss {l1} vs {l2}"
                        );
                    }
                    (s, m) => panic!("{k} {b2} {c} {z}: {s:?} vs {m:?}"),
                }
            }
        }
    }
    scaled_hyp2f1_many(-1.0, 2.0, 3.0, &[0.5], &mut out);
    assert_eq!(out, [None]);
    Ok(())
}

#[test]
fn tricomi_u_against_mpmath() -> Outcome {
    // mpmath (dps 30): log(hyperu(a, a, z)).
    let cases = [
        (0.6062, 0.09, 0.348_173_244_218_206_6),
        (0.6062, 2.5, -0.728_981_684_106_783_4),
        (2.3, 0.01, 5.701_257_685_158_088_6),
        (1.0, 0.5, -0.080_222_872_044_787_46),
        (0.3, 40.0, -1.113_959_605_118_089_2),
        (5.0, 3.0, -6.400_397_711_148_782_5),
    ];
    for (a, z, expected) in cases {
        let got = ln_tricomi_u_equal(a, z).ok_or(NO_VALUE)?;
        assert!((got - expected).abs() < 1e-10 * expected.abs().max(1.0), "U({a}, {a}, {z}): {got} vs {expected}");
    }
    assert!(ln_tricomi_u_equal(0.5, 0.0).is_none());
    Ok(())
}

#[test]
fn inversion() -> Outcome {
    let m = [4.0, 1.0, 1.0, 3.0];
    let inv = invert(&m, 2).ok_or(NO_VALUE)?;
    let expected = [3.0 / 11.0, -1.0 / 11.0, -1.0 / 11.0, 4.0 / 11.0];
    for (a, b) in inv.iter().zip(expected) {
        assert!((a - b).abs() < 1e-15);
    }
    assert!(invert(&[1.0, 2.0, 2.0, 4.0], 2).is_none());
    Ok(())
}
