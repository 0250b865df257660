//! Tanh-sinh quadrature of integrands given in log space, and the nodes of a concave log-integrand cut at its negligible tails.

use std::sync::OnceLock;

/// Nodes of the tanh-sinh (double-exponential) rule for ∫ₐᵇ e^(g(w)) dw,
/// g given in log space: pairs (wₖ, ln ωₖ + g(wₖ)) whose exponentials sum to
/// the integral. The step in t, with w = c + h·tanh(π/2·sinh t), halves from
/// 1/2 until two successive estimates agree to 10⁻¹⁴ relative, or to the
/// rounding of the logarithm when that is coarser (at most
/// eight halvings); the rule converges exponentially for an integrand
/// analytic on the closed interval, however steep near its ends. `None`
/// when g is not finite at the midpoint or the rule has not converged;
/// no nodes when a = b.
pub(crate) fn tanh_sinh_nodes(g: &dyn Fn(f64) -> f64, a: f64, b: f64) -> Option<Vec<(f64, f64)>> {
    if !(a.is_finite() && b.is_finite() && a <= b) {
        return None;
    }
    if a == b {
        return Some(Vec::new());
    }
    let half = 0.5 * (b - a);
    let half_pi = std::f64::consts::FRAC_PI_2;
    // The node at t, with ln of its weight without the step.
    let node = |t: f64| -> (f64, f64) {
        let y = half_pi * t.sinh();
        // The node's distance to the nearer end, 1 ± tanh y = 2 / (1 + e^(∓2y)),
        // without the cancellation of center + half·tanh y: an integrand
        // singular at an end sees its nodes there to full relative precision.
        let w =
            if y < 0.0 { a + 2.0 * half / (1.0 + (-2.0 * y).exp()) } else { b - 2.0 * half / (1.0 + (2.0 * y).exp()) };
        let w = w.clamp(a, b);
        // ln cosh y = |y| + ln(1 + e^(−2|y|)) − ln 2
        let ln_cosh = y.abs() + (-2.0 * y.abs()).exp().ln_1p() - std::f64::consts::LN_2;
        (w, half.ln() + (half_pi * t.cosh()).ln() - 2.0 * ln_cosh + g(w))
    };
    // Beyond |t| = 4 the weights are below e^−80 of the largest.
    const T_MAX: f64 = 4.0;
    let mut step = 0.5;
    let mut nodes: Vec<(f64, f64)> = (-8..=8).map(|k| node(f64::from(k) * step)).collect();
    if !nodes[8].1.is_finite() {
        return None;
    }
    let estimate = |nodes: &[(f64, f64)], step: f64| -> f64 {
        let top = nodes.iter().map(|n| n.1).fold(f64::NEG_INFINITY, f64::max);
        top + (nodes.iter().map(|n| (n.1 - top).exp()).sum::<f64>() * step).ln()
    };
    let mut previous = estimate(&nodes, step);
    for _ in 0..8 {
        step *= 0.5;
        let mut t = step;
        while t < T_MAX {
            nodes.push(node(t));
            nodes.push(node(-t));
            t += 2.0 * step;
        }
        let current = estimate(&nodes, step);
        if !current.is_finite() {
            return None;
        }
        // Agreement to 10⁻¹⁴ relative in the integral is 10⁻¹⁴ absolute in
        // its logarithm, unless the logarithm is so large (a tiny or huge
        // integral) that its own rounding is coarser: then a few ulps.
        if (current - previous).abs() <= 1e-14f64.max(4.0 * f64::EPSILON * current.abs()) {
            let ln_step = step.ln();
            return Some(nodes.into_iter().map(|(w, l)| (w, l + ln_step)).collect());
        }
        previous = current;
    }
    None
}

/// ln Σ e^(lₖ) over quadrature nodes (wₖ, lₖ): the logarithm of the
/// integral; −∞ for no nodes (an empty interval).
pub(crate) fn ln_sum_of_nodes(nodes: &[(f64, f64)]) -> f64 {
    let top = nodes.iter().map(|n| n.1).fold(f64::NEG_INFINITY, f64::max);
    if top == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    top + nodes.iter().map(|n| (n.1 - top).exp()).sum::<f64>().ln()
}

/// ln ∫₀¹ e^(g(w, 1 − w)) dw, by tanh-sinh on each half with the end it
/// meets at 0, so that an integrable singularity at either end is resolved
/// (g gets both w and 1 − w, the small one exact). `None` when the rule
/// does not converge or g is not finite at a half's midpoint.
pub(crate) fn ln_integral_unit(g: &dyn Fn(f64, f64) -> f64) -> Option<f64> {
    let low = tanh_sinh_nodes(&|w: f64| g(w, 1.0 - w), 0.0, 0.5)?;
    let high = tanh_sinh_nodes(&|w: f64| g(1.0 - w, w), 0.0, 0.5)?;
    Some(log_add(ln_sum_of_nodes(&low), ln_sum_of_nodes(&high)))
}

fn log_add(a: f64, b: f64) -> f64 {
    let top = a.max(b);
    if top == f64::NEG_INFINITY { top } else { top + ((a - top).exp() + (b - top).exp()).ln() }
}

/// Tanh-sinh nodes (as [`tanh_sinh_nodes`]) for ∫ₐᵇ e^(φ(w)) dw with φ
/// concave, so the integrand is unimodal: the peak is `peak` when known,
/// else found by golden-section search, and the parts of [a, b] where φ
/// is more than 45 below it (under e⁻⁴⁵ of the peak, each) are cut off by
/// bisection before the rule is applied, which keeps a steep integrand
/// well resolved.
pub(crate) fn concave_log_integral_nodes(
    phi: &dyn Fn(f64) -> f64,
    a: f64,
    b: f64,
    peak: Option<f64>,
) -> Option<Vec<(f64, f64)>> {
    if !(a.is_finite() && b.is_finite() && a <= b) {
        return None;
    }
    let peak = match peak {
        Some(p) => p.clamp(a, b),
        None => {
            let ratio = 0.5 * (5f64.sqrt() - 1.0);
            let (mut lo, mut hi) = (a, b);
            for _ in 0..90 {
                let (m1, m2) = (hi - ratio * (hi - lo), lo + ratio * (hi - lo));
                if phi(m1) < phi(m2) { lo = m1 } else { hi = m2 }
            }
            0.5 * (lo + hi)
        }
    };
    let top = phi(peak);
    if !top.is_finite() {
        return None;
    }
    let floor = top - 45.0;
    // φ is monotone on each side of the peak: bisect for where it meets the floor.
    let cut = |mut inside: f64, mut outside: f64| -> f64 {
        if phi(outside) >= floor {
            return outside;
        }
        for _ in 0..60 {
            let mid = 0.5 * (inside + outside);
            if phi(mid) >= floor { inside = mid } else { outside = mid }
        }
        outside
    };
    tanh_sinh_nodes(phi, cut(peak, a), cut(peak, b))
}

/// Gauss–Legendre rules on [0, 1] of 4 to 10 nodes: (node, weight).
pub(crate) fn gauss_legendre_unit(nodes: usize) -> &'static [(f64, f64)] {
    static RULES: OnceLock<Vec<Vec<(f64, f64)>>> = OnceLock::new();
    let rules = RULES.get_or_init(|| (0..=10).map(legendre_rule).collect());
    &rules[nodes.clamp(4, 10)]
}

/// The n-node Gauss–Legendre rule on [0, 1], by Newton's method on the
/// Legendre polynomial from Chebyshev-like starts.
fn legendre_rule(n: usize) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut derivative = 1.0;
        for _ in 0..100 {
            // P_n(x) and P_n'(x) by the three-term recurrence.
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let kf = k as f64;
                let p2 = ((2.0 * kf - 1.0) * x * p1 - (kf - 1.0) * p0) / kf;
                p0 = p1;
                p1 = p2;
            }
            let (pn, pn1) = if n == 0 {
                (1.0, 0.0)
            } else if n == 1 {
                (x, 1.0)
            } else {
                (p1, p0)
            };
            derivative = n as f64 * (x * pn - pn1) / (x * x - 1.0);
            let step = pn / derivative;
            x -= step;
            if step.abs() < 1e-16 {
                break;
            }
        }
        let weight = 2.0 / ((1.0 - x * x) * derivative * derivative);
        out.push((0.5 * (1.0 - x), 0.5 * weight));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_rules_integrate_polynomials_exactly() {
        for n in 4..=10 {
            let rule = gauss_legendre_unit(n);
            assert_eq!(rule.len(), n);
            for degree in 0..2 * n {
                let q: f64 = rule.iter().map(|(u, w)| w * u.powi(degree as i32)).sum();
                assert!((q - 1.0 / (degree as f64 + 1.0)).abs() < 1e-14, "n {n} degree {degree}: {q}");
            }
        }
    }
}
