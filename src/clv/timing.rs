//! When the next purchase comes: the distribution of the waiting time τ
//! from the end of the observation to a customer's next purchase, given
//! their history, for every purchase model through its
//! P(no purchase in (T, T + t]) (one rule here, used by the
//! [`PurchaseModel`](super::PurchaseModel) trait's timing methods).
//!
//! F(t) = P(τ ≤ t) = 1 − P(no purchase in (T, T + t]) rises from 0 to
//! F(∞) = P(any further purchase) — below 1, as a customer may be gone or
//! leave before buying again. The q-quantile is the least t with
//! F(t) ≥ q; it exists only for q < F(∞) ("none expected" otherwise: for
//! the median, when P(any further purchase) < 0.5). The mean waiting time
//! given a purchase within a horizon h is
//! E[τ | τ ≤ h] = h − ∫₀ʰ F(t) dt / F(h).
//! BG/BB counts whole opportunities: there F jumps at 1, 2, … and the
//! integral is the sum over them.

use std::collections::HashMap;

use ndarray::{Array1, ArrayView1};

use crate::error::{Error, Result};
use crate::math::parallel;
use crate::math::quadrature::{ln_sum_of_nodes, tanh_sinh_nodes};

/// The most a quantile search extends its bracket: 2⁶⁰ times the start.
const DOUBLINGS: u32 = 60;

/// The model functions the timing needs, borrowed from a model.
pub(crate) struct Timing<'a> {
    /// P(no purchase in (T, T + t]).
    pub no_purchase: &'a dyn Fn(f64) -> Result<f64>,
    /// P(any further purchase).
    pub any: f64,
    /// True when time runs in whole opportunities.
    pub discrete: bool,
    /// A time scale to start the bracket from (the customer's age, or 1).
    pub scale: f64,
    /// The longest horizon the model computes (BG/BB: its opportunities).
    pub longest: f64,
}

fn check_probability(q: f64) -> Result<()> {
    if q.is_finite() && q > 0.0 && q < 1.0 {
        Ok(())
    } else {
        Err(Error::InvalidArgument { name: "quantile", reason: format!("{q} is not a probability in (0, 1)") })
    }
}

impl Timing<'_> {
    fn by(&self, t: f64) -> Result<f64> {
        Ok((1.0 - (self.no_purchase)(t)?).clamp(0.0, 1.0))
    }

    /// The q-quantile of the waiting time, or `None` when q ≥ P(any
    /// further purchase) (or so close to it that no horizon the model
    /// computes — below 2⁶⁰ times the scale — reaches it).
    pub(crate) fn quantile(&self, q: f64) -> Result<Option<f64>> {
        check_probability(q)?;
        if q >= self.any {
            return Ok(None);
        }
        if self.discrete {
            // Whole opportunities: double to a bracket, then bisect to the
            // least k with F(k) ≥ q.
            let (mut lo, mut hi) = (0.0f64, 1.0f64);
            while self.by(hi)? < q {
                if hi >= self.longest {
                    return Ok(None);
                }
                lo = hi;
                hi = (hi * 2.0).min(self.longest.floor());
            }
            let (mut lo, mut hi) = (lo as u64, hi as u64);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if self.by(mid as f64)? >= q { hi = mid } else { lo = mid }
            }
            return Ok(Some(hi as f64));
        }
        // A bracket lo < t ≤ hi with F(lo) < q ≤ F(hi), both positive, by
        // halving or doubling from the scale; then the Illinois method on
        // ln t (F is smooth and monotone: a handful of steps).
        let mut hi = self.scale.max(f64::MIN_POSITIVE);
        let mut f_hi = self.by(hi)?;
        let mut lo = hi;
        let mut f_lo = f_hi;
        let mut steps = 0;
        if f_hi >= q {
            while f_lo >= q {
                hi = lo;
                f_hi = f_lo;
                lo *= 0.5;
                f_lo = self.by(lo)?;
                steps += 1;
                if steps > 4 * DOUBLINGS || lo == 0.0 {
                    return Ok(Some(hi));
                }
            }
        } else {
            while f_hi < q {
                lo = hi;
                f_lo = f_hi;
                hi *= 2.0;
                f_hi = self.by(hi)?;
                steps += 1;
                if steps > DOUBLINGS || !hi.is_finite() {
                    return Ok(None);
                }
            }
        }
        let (mut a, mut b) = (lo.ln(), hi.ln());
        let (mut fa, mut fb) = (f_lo - q, f_hi - q);
        let mut side = 0i8;
        let mut width_before = b - a;
        for step in 0..300 {
            if b - a <= 1e-14 * a.abs().max(1.0) {
                break;
            }
            // The Illinois point; every third step a bisection unless the
            // bracket has halved since the last check.
            let mut c = b - fb * (b - a) / (fb - fa);
            if step % 3 == 2 {
                if b - a > 0.5 * width_before {
                    c = 0.5 * (a + b);
                }
                width_before = b - a;
            }
            if !(c > a && c < b) {
                c = 0.5 * (a + b);
            }
            let fc = self.by(c.exp())? - q;
            if fc >= 0.0 {
                b = c;
                fb = fc;
                if side == 1 {
                    fa *= 0.5;
                }
                side = 1;
            } else {
                a = c;
                fa = fc;
                if side == -1 {
                    fb *= 0.5;
                }
                side = -1;
            }
            if fc == 0.0 {
                break;
            }
        }
        Ok(Some(b.exp()))
    }

    /// E[τ | τ ≤ h], or `None` when no purchase is possible by h.
    pub(crate) fn mean_within(&self, h: f64) -> Result<Option<f64>> {
        if !(h.is_finite() && h > 0.0) || (self.discrete && h.fract() != 0.0) {
            return Err(Error::InvalidArgument {
                name: "horizon",
                reason: format!("{h} is not a positive {}", if self.discrete { "whole number" } else { "time" }),
            });
        }
        let total = self.by(h)?;
        if total <= 0.0 {
            return Ok(None);
        }
        let area = if self.discrete {
            // Σ_{k=0}^{h−1} F(k), F(0) = 0.
            let mut sum = 0.0;
            for k in 1..(h as u64) {
                sum += self.by(k as f64)?;
            }
            sum
        } else {
            let failed = std::cell::Cell::new(None);
            let ln_f = |t: f64| match self.by(t) {
                Ok(f) => f.ln(),
                Err(e) => {
                    failed.set(Some(e.to_string()));
                    f64::NAN
                }
            };
            let nodes = tanh_sinh_nodes(&ln_f, 0.0, h);
            if let Some(reason) = failed.take() {
                return Err(Error::InvalidArgument { name: "horizon", reason });
            }
            let nodes = nodes.ok_or_else(|| Error::InvalidArgument {
                name: "horizon",
                reason: format!("the waiting time's distribution could not be integrated to {h}"),
            })?;
            ln_sum_of_nodes(&nodes).exp()
        };
        Ok(Some((h - area / total).clamp(0.0, h)))
    }
}

/// `f` of each distinct (x, t_x, T) row of the columns, computed once per
/// distinct row (on every core) and spread back in the columns' order; an
/// error names the first row of its kind.
pub(crate) fn per_distinct_row(
    x: ArrayView1<'_, f64>,
    t_x: ArrayView1<'_, f64>,
    age: ArrayView1<'_, f64>,
    f: impl Fn(f64, f64, f64) -> Result<f64> + Sync,
) -> Result<Array1<f64>> {
    let [values] = per_distinct_rows(x, t_x, age, |x, t_x, age| f(x, t_x, age).map(|v| [v]))?;
    Ok(values)
}

/// [`per_distinct_row`] for `K` values of each row at once.
pub(crate) fn per_distinct_rows<const K: usize>(
    x: ArrayView1<'_, f64>,
    t_x: ArrayView1<'_, f64>,
    age: ArrayView1<'_, f64>,
    f: impl Fn(f64, f64, f64) -> Result<[f64; K]> + Sync,
) -> Result<[Array1<f64>; K]> {
    let n = x.len();
    if t_x.len() != n || age.len() != n {
        return Err(Error::InvalidArgument {
            name: "model input",
            reason: format!("columns of lengths {n}, {}, {}", t_x.len(), age.len()),
        });
    }
    let mut index: HashMap<[u64; 3], usize> = HashMap::new();
    let mut distinct: Vec<(usize, [f64; 3])> = Vec::new();
    let mut slot = Vec::with_capacity(n);
    for i in 0..n {
        let row = [x[i], t_x[i], age[i]];
        let key = row.map(|v| (v + 0.0).to_bits());
        let k = *index.entry(key).or_insert_with(|| {
            distinct.push((i, row));
            distinct.len() - 1
        });
        slot.push(k);
    }
    let values = parallel::map_in_runs(&distinct, parallel::cores(), |&(i, [x, t_x, age])| {
        f(x, t_x, age).map_err(|e| e.at_row(i))
    });
    let values = values.into_iter().collect::<Result<Vec<[f64; K]>>>()?;
    Ok(std::array::from_fn(|j| slot.iter().map(|&k| values[k][j]).collect()))
}
