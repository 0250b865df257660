//! Hypergeometric series: ₂F₁ with positive terms, its scaled and Euler-transformed forms (with derivatives), and Tricomi's U for equal parameters.

use super::special::{ln_gamma, softplus};

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
    // ratio = t_{k+1} / t_k, computed once per term and used both to step and
    // to bound the tail.
    let mut ratio = a * b / c * z;
    for k in 0..100_000u32 {
        term *= ratio;
        sum += term;
        if !sum.is_finite() {
            return None;
        }
        let k1 = f64::from(k) + 1.0;
        ratio = (a + k1) * (b + k1) / ((c + k1) * (k1 + 1.0)) * z;
        // The ratio of consecutive terms tends to z monotonically (from above
        // or below), so every later ratio is at most max(current ratio, z)
        // and the tail is bounded by a geometric series with that ratio.
        let bound = ratio.max(z);
        if bound < 1.0 && term * bound / (1.0 - bound) <= sum * 1e-17 {
            return Some(sum);
        }
    }
    None
}

/// (1 − z)^a · ₂F₁(a, b; c; z) for a, b, c > 0 and 0 ≤ z < 1, computed as
/// (1 − z)^(c−b) · ₂F₁(c − a, c − b; c; z) (Euler's transformation). The
/// BG/NBD predictions need exactly this product; for a customer with
/// thousands of purchases ₂F₁ itself overflows while the product stays
/// small. The transformed series may mix signs; it is summed until its
/// terms, past the point where their signs settle, fall below rounding.
///
/// Returns the value and how much of its precision the mixed signs cost:
/// the largest term over the sum (1 when the terms do not cancel; 10ᵏ when
/// about k digits are lost).
pub(crate) fn scaled_hyp2f1_with_loss(a: f64, b: f64, c: f64, z: f64) -> Option<(f64, f64)> {
    if !(a > 0.0 && b > 0.0 && c > 0.0 && (0.0..1.0).contains(&z)) {
        return None;
    }
    let (p, q) = (c - a, c - b);
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    // Signs can mix only until k passes −p and −q (`settle`); after that
    // every term has the sign of the last, so the tail adds up coherently.
    // The loss is tracked per term before that point only, then from the
    // tail's total: no work per term on the long, coherent part.
    let mut largest = 1.0f64;
    let mut settled_sum: Option<f64> = None;
    let settle = p.abs().max(q.abs()) + 1.0;
    let mut converged = false;
    // Two terms per round and one division for both: term k + 1 is term k
    // times r₀ = (p+k)(q+k)/((c+k)(k+1)) z, term k + 2 is that times
    // r₁ = (p+k+1)(q+k+1)/((c+k+1)(k+2)) z. Past the point where the ratios
    // settle below 1, a ratio r also bounds the tail after the current
    // term: |term| · r / (1 − r).
    let tail_small = |term: f64, sum: f64, r: f64| {
        let bound = r.abs().max(z);
        bound < 1.0 && term.abs() * bound <= sum.abs() * 1e-17 * (1.0 - bound)
    };
    let mut k = 0.0f64;
    while k < 1e6 {
        let (n0, d0) = ((p + k) * (q + k), (c + k) * (k + 1.0));
        let (n1, d1) = ((p + k + 1.0) * (q + k + 1.0), (c + k + 1.0) * (k + 2.0));
        let inverse = z / (d0 * d1);
        let (r0, r1) = (n0 * d1 * inverse, n1 * d0 * inverse);
        if k > settle + 1.0 && tail_small(term, sum, r0) {
            converged = true;
            break;
        }
        if settled_sum.is_none() && k > settle + 1.0 {
            settled_sum = Some(sum);
        }
        term *= r0;
        sum += term;
        if settled_sum.is_none() {
            largest = largest.max(term.abs());
        }
        if k + 1.0 > settle + 1.0 && tail_small(term, sum, r1) {
            converged = true;
            break;
        }
        term *= r1;
        sum += term;
        if settled_sum.is_none() {
            largest = largest.max(term.abs());
        }
        if term == 0.0 {
            converged = true;
            break;
        }
        k += 2.0;
    }
    if !converged {
        return None;
    }
    scaled_value(q, z, sum, largest, settled_sum)
}

/// The end of [`scaled_hyp2f1_with_loss`]'s sum: (1 − z)^q times the sum,
/// and the precision lost (the largest term, or the head before the signs
/// settled, or the tail after, over the sum); `None` when not finite.
fn scaled_value(q: f64, z: f64, sum: f64, largest: f64, settled_sum: Option<f64>) -> Option<(f64, f64)> {
    let value = (q * (-z).ln_1p()).exp() * sum;
    let largest = match settled_sum {
        Some(head) => largest.max(head.abs()).max((sum - head).abs()),
        None => largest,
    };
    value.is_finite().then_some((value, largest / sum.abs()))
}

/// [`scaled_hyp2f1_with_loss`] at many arguments `zs` with the same a, b
/// and c, into `out` (`None` where that function gives none): the term
/// ratios' parts that do not depend on z, (p+k)(q+k)/((c+k)(k+1)), are
/// computed once for all of them, so each further argument costs two
/// multiplications and an addition per term. Each argument's sum stops by
/// the same rule as the single one's; the values agree with it to rounding.
pub(crate) fn scaled_hyp2f1_many(a: f64, b: f64, c: f64, zs: &[f64], out: &mut Vec<Option<(f64, f64)>>) {
    out.clear();
    if !(a > 0.0 && b > 0.0 && c > 0.0) {
        out.resize(zs.len(), None);
        return;
    }
    let (p, q) = (c - a, c - b);
    let settle = p.abs().max(q.abs()) + 1.0;
    // Per argument: term, sum, largest term while signs may mix, the sum
    // when they settled, and whether it is still running.
    struct Lane {
        z: f64,
        term: f64,
        sum: f64,
        largest: f64,
        settled_sum: Option<f64>,
        running: bool,
        converged: bool,
    }
    let mut lanes: Vec<Lane> = zs
        .iter()
        .map(|&z| Lane {
            z,
            term: 1.0,
            sum: 1.0,
            largest: 1.0,
            settled_sum: None,
            running: (0.0..1.0).contains(&z),
            converged: false,
        })
        .collect();
    let mut running = lanes.iter().filter(|l| l.running).count();
    let mut k = 0.0f64;
    let mut even = true;
    while running > 0 && k < 1e6 {
        let ratio = (p + k) * (q + k) / ((c + k) * (k + 1.0));
        let past_settle = k > settle + 1.0;
        // As in the single sum, which takes terms in pairs: the head is
        // noted at an even term.
        let note_head = past_settle && even;
        even = !even;
        for lane in lanes.iter_mut().filter(|l| l.running) {
            let r = ratio * lane.z;
            if past_settle {
                let bound = r.abs().max(lane.z);
                if bound < 1.0 && lane.term.abs() * bound <= lane.sum.abs() * 1e-17 * (1.0 - bound) {
                    lane.converged = true;
                    lane.running = false;
                    running -= 1;
                    continue;
                }
                if note_head && lane.settled_sum.is_none() {
                    lane.settled_sum = Some(lane.sum);
                }
            }
            lane.term *= r;
            lane.sum += lane.term;
            if lane.settled_sum.is_none() {
                lane.largest = lane.largest.max(lane.term.abs());
            }
            if lane.term == 0.0 {
                lane.converged = true;
                lane.running = false;
                running -= 1;
            }
        }
        k += 1.0;
    }
    out.extend(
        lanes.iter().map(|l| l.converged.then(|| scaled_value(q, l.z, l.sum, l.largest, l.settled_sum)).flatten()),
    );
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

/// ln ₂F₁(a, b; a+1; z_hi) and the fall ln ₂F₁(a, b; a+1; z_lo) −
/// ln ₂F₁(a, b; a+1; z_hi), from one pass of the series, for
/// 0 ≤ z_lo ≤ z_hi < 1, given `gap` = z_hi − z_lo computed by the caller to
/// full precision: each part of [`ln_hyp2f1_a_plus_one`] is differenced
/// on its own — (1 − b) ln((1 − z_lo)/(1 − z_hi)) as ln_1p of
/// gap/(1 − z_hi), and the series' S(z_lo)/S(z_hi) as ln_1p of −Δ/S(z_hi)
/// with Δ = Σₖ cₖ (z_hiᵏ − z_loᵏ) summed term by term (z_hiᵏ − z_loᵏ by
/// its own recurrence) — so that close arguments do not leave the
/// difference of two rounded logarithms. `None` where the series does not
/// converge or its terms would alternate (b > a + 1).
pub(crate) fn ln_hyp2f1_a_plus_one_fall(a: f64, b: f64, z_hi: f64, z_lo: f64, gap: f64) -> Option<(f64, f64)> {
    if !(a > 0.0 && b > 0.0 && (0.0..1.0).contains(&z_hi) && (0.0..=z_hi).contains(&z_lo) && gap >= 0.0) {
        return None;
    }
    let c = a + 1.0;
    let d = c - b;
    if d <= 0.0 {
        return None;
    }
    if gap == 0.0 || z_hi == 0.0 {
        return Some((ln_hyp2f1_a_plus_one(a, b, z_hi)?, 0.0));
    }
    // coefficient cₖ, P = z_hiᵏ, D = z_hiᵏ − z_loᵏ.
    let (mut coefficient, mut power, mut difference) = (1.0f64, 1.0f64, 0.0f64);
    let (mut sum, mut delta) = (1.0f64, 0.0f64);
    let mut converged = false;
    for k in 0..1_000_000u32 {
        let k = f64::from(k);
        coefficient *= (d + k) / (c + k);
        difference = z_lo * difference + gap * power;
        power *= z_hi;
        sum += coefficient * power;
        delta += coefficient * difference;
        // Terms fall at least as z_hi (Δ's as z_hi (k+2)/(k+1)): bound both tails.
        let tail = coefficient * power * z_hi / (1.0 - z_hi);
        let tail_delta = 2.0 * coefficient * difference * z_hi / (1.0 - z_hi);
        if tail <= sum * 1e-17 && tail_delta <= delta * 1e-17 {
            converged = true;
            break;
        }
    }
    if !(converged && sum.is_finite() && delta.is_finite()) {
        return None;
    }
    let at_hi = (1.0 - b) * (-z_hi).ln_1p() + sum.ln();
    Some((at_hi, (1.0 - b) * (gap / (1.0 - z_hi)).ln_1p() + (-delta / sum).ln_1p()))
}

/// The coefficients of S(d, c, z) = Σₖ (d)ₖ/(c)ₖ zᵏ, the series left by
/// Euler's transformation in [`ln_hyp2f1_a_plus_one`] (d = c − b), and of
/// its derivatives in d and c, for fixed 0 < d < c: the Pareto/NBD
/// likelihood needs S at many z for each d and c (one pair per purchase
/// count), so the coefficients are computed once and extended on demand.
/// With qₖ = (d)ₖ/(c)ₖ, D₁ = Σⱼ<ₖ 1/(d+j), D₂ = Σ 1/(d+j)², C₁, C₂ likewise
/// in c: ∂qₖ/∂d = qₖD₁, ∂qₖ/∂c = −qₖC₁, ∂²qₖ/∂d² = qₖ(D₁² − D₂),
/// ∂²qₖ/∂d∂c = −qₖD₁C₁, ∂²qₖ/∂c² = qₖ(C₁² + C₂).
pub(crate) struct EulerSeries {
    d: f64,
    c: f64,
    /// Per k: [qₖ, qₖD₁, qₖC₁, qₖ(D₁² − D₂), qₖD₁C₁, qₖ(C₁² + C₂)].
    coefficients: Vec<[f64; 6]>,
    /// The running sums after the last coefficient: [D₁, D₂, C₁, C₂].
    sums: [f64; 4],
}

/// The most terms a series may take.
const MAX_TERMS: usize = 1_000_000;

impl EulerSeries {
    /// The series for parameters `d` and `c`; `None` unless 0 < d < c.
    pub(crate) fn new(d: f64, c: f64) -> Option<EulerSeries> {
        (d > 0.0 && c > d && c.is_finite()).then(|| EulerSeries {
            d,
            c,
            coefficients: vec![[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]],
            sums: [0.0; 4],
        })
    }

    /// Doubles the coefficients computed (at least 16 more); false at the limit.
    #[inline(never)]
    fn extend(&mut self) -> bool {
        let have = self.coefficients.len();
        if have >= MAX_TERMS {
            return false;
        }
        let want = (2 * have).clamp(have + 16, MAX_TERMS);
        self.coefficients.reserve(want - have);
        let mut q = self.coefficients[have - 1][0];
        let [mut d1, mut d2, mut c1, mut c2] = self.sums;
        for j in have - 1..want - 1 {
            let j = j as f64;
            let (dj, cj) = (self.d + j, self.c + j);
            let (inv_d, inv_c) = (1.0 / dj, 1.0 / cj);
            q *= dj * inv_c;
            d1 += inv_d;
            d2 += inv_d * inv_d;
            c1 += inv_c;
            c2 += inv_c * inv_c;
            self.coefficients.push([q, q * d1, q * c1, q * (d1 * d1 - d2), q * d1 * c1, q * (c1 * c1 + c2)]);
        }
        self.sums = [d1, d2, c1, c2];
        true
    }

    /// ln S(d, c, z) for 0 ≤ z < 1; `None` when the series has not converged.
    pub(crate) fn ln_value(&mut self, z: f64) -> Option<f64> {
        if !(0.0..1.0).contains(&z) {
            return None;
        }
        let room = (1.0 - z) * 1e-17;
        let (mut sum, mut power) = (0.0f64, 1.0f64);
        let mut k = 0;
        loop {
            for c in &self.coefficients[k..] {
                let term = c[0] * power;
                sum += term;
                // Consecutive terms shrink by more than z, so the tail is below term·z/(1−z).
                if term * z <= room * sum {
                    return Some(sum.ln());
                }
                power *= z;
            }
            k = self.coefficients.len();
            if !self.extend() {
                return None;
            }
        }
    }

    /// ln S(d, c, z) with its gradient and Hessian (row-major 3 × 3) in
    /// (d, c, z), for 0 ≤ z < 1; `None` when the series has not converged.
    pub(crate) fn ln_value_with_derivatives(&mut self, z: f64) -> Option<(f64, [f64; 3], [f64; 9])> {
        if !(0.0..1.0).contains(&z) {
            return None;
        }
        // The sums of the terms' derivatives weigh them by up to k², so the
        // tail bound carries (k+2)² and (1−z)³.
        let room = (1.0 - z).powi(3) * 1e-16;
        // zᵏ, zᵏ⁻¹ and zᵏ⁻² (by recurrence, so z = 0 needs no special case).
        let (mut z0, mut z1, mut z2) = (1.0f64, 0.0f64, 0.0f64);
        let mut s = [0.0f64; 10];
        let mut converged = false;
        let mut k = 0;
        'terms: loop {
            for &[q, qd, qc, qdd, qdc, qcc] in &self.coefficients[k..] {
                let kf = k as f64;
                s[0] += q * z0;
                s[1] += qd * z0;
                s[2] -= qc * z0;
                s[3] += kf * q * z1;
                s[4] += qdd * z0;
                s[5] -= qdc * z0;
                s[6] += kf * qd * z1;
                s[7] += qcc * z0;
                s[8] -= kf * qc * z1;
                s[9] += kf * (kf - 1.0) * q * z2;
                if k >= 2 && (kf + 2.0) * (kf + 2.0) * q * z2 <= room * s[0] {
                    converged = true;
                    break 'terms;
                }
                z2 = z1;
                z1 = z0;
                z0 *= z;
                k += 1;
            }
            if !self.extend() {
                break;
            }
        }
        if !converged || !s.iter().all(|v| v.is_finite()) {
            return None;
        }
        let sum = s[0];
        let g = [s[1] / sum, s[2] / sum, s[3] / sum];
        let second = [s[4], s[5], s[6], s[5], s[7], s[8], s[6], s[8], s[9]];
        let mut h = [0.0; 9];
        for a in 0..3 {
            for b in 0..3 {
                h[a * 3 + b] = second[a * 3 + b] / sum - g[a] * g[b];
            }
        }
        Some((sum.ln(), g, h))
    }
}

/// ln U(a, a, z), Tricomi's confluent hypergeometric function with equal
/// first two parameters (= e^z Γ(1 − a, z), an upper incomplete gamma of
/// possibly negative order), for a > 0 and z > 0, from its integral
/// U(a, a, z) = Γ(a)⁻¹ ∫₀^∞ e^(−zt) t^(a−1) / (1 + t) dt. With t = e^u the
/// integrand is analytic and decays on both sides, so the trapezoidal rule
/// on u converges exponentially; it is summed in log space over the range
/// where the integrand is within e^−60 of its peak.
pub(crate) fn ln_tricomi_u_equal(a: f64, z: f64) -> Option<f64> {
    if !(a > 0.0 && a.is_finite() && z > 0.0 && z.is_finite()) {
        return None;
    }
    // ln of the integrand in u: −z e^u + a u − ln(1 + e^u).
    let f = |u: f64| -z * u.exp() + a * u - softplus(u);
    // The peak: f'(u) = −z e^u + a − σ(u) = 0 has one root; bisect on it.
    let slope = |u: f64| -z * u.exp() + a - 1.0 / (1.0 + (-u).exp());
    let (mut lo, mut hi) = (-1e3_f64, (a / z).ln().max(0.0) + 2.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if slope(mid) > 0.0 { lo = mid } else { hi = mid }
    }
    let peak_u = 0.5 * (lo + hi);
    let peak = f(peak_u);
    let h = 0.02;
    let mut total = 0.0;
    for direction in [-1.0, 1.0] {
        let mut k = if direction < 0.0 { 0.0 } else { 1.0 };
        loop {
            let v = f(peak_u + direction * k * h) - peak;
            if v < -60.0 || k > 1e6 {
                break;
            }
            total += v.exp();
            k += 1.0;
        }
    }
    Some(peak + (total * h).ln() - ln_gamma(a))
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // reference values quoted with all their digits
mod tests {
    use super::*;

    /// Against mpmath at 50 digits: ln ₂F₁(a, b; a+1; z_hi) and the fall
    /// to z_hi − gap, for close arguments (where the difference of two
    /// logarithms would keep a few digits) and far ones; 1e-13 relative.
    #[test]
    fn hyp2f1_fall_matches_mpmath() {
        let cases = [
            (1000.5, 1.6, 0.5, 1e-9, 1.107440742983994196, -3.1936324058344364237e-9),
            (0.7, 0.3, 0.9, 1e-12, 0.19351448288348666127, -5.0105352574854469868e-13),
            (5.5, 6.2, 0.3, 0.2, 1.8692352621468090927, -1.3166739524001151218),
        ];
        for (a, b, z_hi, gap, at_hi, fall) in cases {
            let (got_hi, got_fall) = ln_hyp2f1_a_plus_one_fall(a, b, z_hi, z_hi - gap, gap).unwrap();
            assert!(((got_hi - at_hi) / at_hi).abs() < 1e-13, "{a} {b} {z_hi}: {got_hi} vs {at_hi}");
            assert!(((got_fall - fall) / fall).abs() < 1e-13, "{a} {b} {z_hi} {gap}: {got_fall} vs {fall}");
        }
        assert_eq!(
            ln_hyp2f1_a_plus_one_fall(2.0, 1.0, 0.4, 0.4, 0.0),
            Some((ln_hyp2f1_a_plus_one(2.0, 1.0, 0.4).unwrap(), 0.0))
        );
        assert!(ln_hyp2f1_a_plus_one_fall(1.0, 3.0, 0.4, 0.3, 0.1).is_none()); // b > a + 1
    }
}
