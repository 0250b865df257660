//! Second-order forward-mode differentiation for functions of a model's four
//! parameters: a [`Jet`] carries a value with its gradient and Hessian with
//! respect to the parameters, and every operation applies the chain rule.
//! The Pareto/NBD fit evaluates its log-likelihood on jets, which gives the
//! exact gradient and Hessian for Newton steps in one pass over the data.

/// Number of parameters a jet differentiates with respect to.
pub(crate) const N: usize = 4;

/// A value with its gradient and (symmetric, row-major) Hessian with
/// respect to the four parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Jet {
    pub value: f64,
    pub gradient: [f64; N],
    pub hessian: [f64; N * N],
}

impl Jet {
    /// A constant: zero derivatives.
    pub fn constant(value: f64) -> Jet {
        Jet { value, gradient: [0.0; N], hessian: [0.0; N * N] }
    }

    /// Parameter `i` itself, at `value`.
    pub fn parameter(value: f64, i: usize) -> Jet {
        let mut jet = Jet::constant(value);
        jet.gradient[i] = 1.0;
        jet
    }

    /// A function of one parameter `i` with its first and second derivatives there.
    pub fn of_parameter(i: usize, value: f64, first: f64, second: f64) -> Jet {
        let mut jet = Jet::constant(value);
        jet.gradient[i] = first;
        jet.hessian[i * N + i] = second;
        jet
    }

    /// `self + other`.
    pub fn add(&self, other: &Jet) -> Jet {
        let mut out = *self;
        out.value += other.value;
        for (o, g) in out.gradient.iter_mut().zip(&other.gradient) {
            *o += g;
        }
        for (o, h) in out.hessian.iter_mut().zip(&other.hessian) {
            *o += h;
        }
        out
    }

    /// `factor × self`.
    pub fn scale(&self, factor: f64) -> Jet {
        let mut out = Jet::constant(factor * self.value);
        out.add_scaled_derivatives(factor, self);
        out
    }

    /// `self + weight × other`, in place.
    pub fn add_scaled(&mut self, weight: f64, other: &Jet) {
        self.value += weight * other.value;
        for (o, g) in self.gradient.iter_mut().zip(&other.gradient) {
            *o += weight * g;
        }
        for (o, h) in self.hessian.iter_mut().zip(&other.hessian) {
            *o += weight * h;
        }
    }

    /// `self × other`.
    pub fn mul(&self, other: &Jet) -> Jet {
        let (a, b) = (self, other);
        let mut out = Jet::constant(a.value * b.value);
        for i in 0..N {
            out.gradient[i] = a.value * b.gradient[i] + b.value * a.gradient[i];
            for j in 0..N {
                let k = i * N + j;
                out.hessian[k] = a.value * b.hessian[k]
                    + b.value * a.hessian[k]
                    + a.gradient[i] * b.gradient[j]
                    + b.gradient[i] * a.gradient[j];
            }
        }
        out
    }

    /// `f(self)` given f, f′ and f″ at `self.value`.
    pub fn chain(&self, value: f64, first: f64, second: f64) -> Jet {
        let mut out = Jet::constant(value);
        for i in 0..N {
            out.gradient[i] = first * self.gradient[i];
            for j in 0..N {
                let k = i * N + j;
                out.hessian[k] = first * self.hessian[k] + second * self.gradient[i] * self.gradient[j];
            }
        }
        out
    }

    /// ln(self), for a positive value.
    pub fn ln(&self) -> Jet {
        let v = self.value;
        self.chain(v.ln(), 1.0 / v, -1.0 / (v * v))
    }

    /// `f(u, v, w)` of three jets given f's value, gradient and Hessian
    /// (row-major 3 × 3) with respect to its arguments.
    pub fn chain3(inputs: [&Jet; 3], value: f64, first: [f64; 3], second: [f64; 9]) -> Jet {
        let mut out = Jet::constant(value);
        for (a, input) in inputs.iter().enumerate() {
            if first[a] != 0.0 {
                out.add_scaled_derivatives(first[a], input);
            }
        }
        for a in 0..3 {
            for b in 0..3 {
                let f = second[a * 3 + b];
                if f == 0.0 {
                    continue;
                }
                let (ga, gb) = (&inputs[a].gradient, &inputs[b].gradient);
                for (row, gai) in out.hessian.chunks_exact_mut(N).zip(ga) {
                    for (h, gbj) in row.iter_mut().zip(gb) {
                        *h += f * gai * gbj;
                    }
                }
            }
        }
        out
    }

    fn add_scaled_derivatives(&mut self, weight: f64, other: &Jet) {
        for (o, g) in self.gradient.iter_mut().zip(&other.gradient) {
            *o += weight * g;
        }
        for (o, h) in self.hessian.iter_mut().zip(&other.hessian) {
            *o += weight * h;
        }
    }

    /// ln Σ signᵢ e^(termᵢ) for jets `terms` with signs ±1, in a scale that
    /// neither overflows nor underflows; `None` unless the sum is positive.
    pub fn ln_signed_sum_exp(terms: &[(f64, &Jet)]) -> Option<Jet> {
        let top = terms.iter().map(|(_, t)| t.value).fold(f64::NEG_INFINITY, f64::max);
        if !top.is_finite() {
            return None;
        }
        let mut sum = 0.0;
        let mut out = Jet::constant(0.0);
        for (sign, term) in terms {
            let e = sign * (term.value - top).exp();
            sum += e;
            for i in 0..N {
                out.gradient[i] += e * term.gradient[i];
                for j in 0..N {
                    let k = i * N + j;
                    out.hessian[k] += e * (term.hessian[k] + term.gradient[i] * term.gradient[j]);
                }
            }
        }
        if sum.is_nan() || sum <= 0.0 {
            return None;
        }
        out.value = top + sum.ln();
        for g in &mut out.gradient {
            *g /= sum;
        }
        for i in 0..N {
            for j in 0..N {
                out.hessian[i * N + j] = out.hessian[i * N + j] / sum - out.gradient[i] * out.gradient[j];
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(p) = ln(p0 · p1 + e^(p2) − e^(p3)) · p0, differentiated by the jets
    /// and by central differences.
    #[test]
    fn derivatives_match_central_differences() {
        let f = |p: [f64; 4]| -> Jet {
            let v: Vec<Jet> = (0..4).map(|i| Jet::parameter(p[i], i)).collect();
            let product = v[0].mul(&v[1]).ln();
            let sum = Jet::ln_signed_sum_exp(&[(1.0, &product), (1.0, &v[2]), (-1.0, &v[3])]).unwrap();
            let cube = Jet::chain3(
                [&v[0], &v[1], &v[3]],
                p[0] * p[1] * p[3],
                [p[1] * p[3], p[0] * p[3], p[0] * p[1]],
                [0.0, p[3], p[1], p[3], 0.0, p[0], p[1], p[0], 0.0],
            );
            sum.mul(&v[0]).add(&cube)
        };
        let p = [1.3, 2.1, 0.7, -0.4];
        let jet = f(p);
        let h = 1e-5;
        for i in 0..4 {
            let (mut up, mut down) = (p, p);
            up[i] += h;
            down[i] -= h;
            let (fu, fd) = (f(up), f(down));
            let g = (fu.value - fd.value) / (2.0 * h);
            assert!((g - jet.gradient[i]).abs() < 1e-7, "gradient {i}: {g} vs {}", jet.gradient[i]);
            for j in 0..4 {
                let hij = (fu.gradient[j] - fd.gradient[j]) / (2.0 * h);
                assert!(
                    (hij - jet.hessian[i * N + j]).abs() < 1e-6,
                    "hessian {i},{j}: {hij} vs {}",
                    jet.hessian[i * N + j]
                );
            }
        }
        assert!(Jet::ln_signed_sum_exp(&[(1.0, &Jet::constant(0.0)), (-1.0, &Jet::constant(0.0))]).is_none());
    }
}
