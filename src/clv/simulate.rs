//! Seeded simulators for every model, to check parameter recovery and to
//! build synthetic data. The generator is xoshiro256++ seeded with the given
//! `u64`, so a seed gives the same customers on every machine and release
//! of this crate's dependencies' algorithms.

use ndarray::Array1;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Exp, Gamma};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::bgbb::BetaGeoBetaBinom;
use super::bgnbd::{BetaGeo, BetaGeoVariant};
use super::gamma_gamma::GammaGamma;
use super::pareto_nbd::ParetoNbd;
use super::sbg::ShiftedBetaGeometric;
use crate::error::{Error, Result};

/// Simulated (x, t_x, T) columns.
#[derive(Clone, PartialEq, Debug)]
pub struct SimulatedCustomers {
    /// Repeat purchases.
    pub frequency: Array1<f64>,
    /// Time of the last repeat purchase (0 without).
    pub recency: Array1<f64>,
    /// Observation length.
    pub age: Array1<f64>,
}

pub(super) fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

pub(super) fn distribution_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument { name: "simulation", reason: format!("{what}: {e}") }
}

fn check_ages(ages: &[f64]) -> Result<()> {
    if ages.iter().any(|t| !(t.is_finite() && *t > 0.0)) {
        return Err(Error::InvalidArgument { name: "simulation", reason: "ages must be finite and positive".into() });
    }
    Ok(())
}

impl BetaGeo {
    /// Simulates one customer per entry of `ages` (their observation lengths T).
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    ///
    /// let model = BetaGeo::new(0.25, 4.0, 0.8, 2.5)?;
    /// let sim = model.simulate(&[39.0; 100], 7)?;
    /// assert_eq!(sim, model.simulate(&[39.0; 100], 7)?); // same seed, same customers
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for non-positive ages.
    pub fn simulate(&self, ages: &[f64], seed: u64) -> Result<SimulatedCustomers> {
        check_ages(ages)?;
        let (r, alpha, a, b) = self.parameters();
        let rate = Gamma::new(r, 1.0 / alpha).map_err(|e| distribution_error("rate", e))?;
        let dropout = Beta::new(a, b).map_err(|e| distribution_error("drop-out", e))?;
        let mut g = rng(seed);
        let mut out = columns(ages.len());
        for (i, &t) in ages.iter().enumerate() {
            let lambda: f64 = rate.sample(&mut g);
            let p: f64 = dropout.sample(&mut g);
            let (mut x, mut t_x, mut now) = (0.0, 0.0, 0.0);
            // MBG/NBD customers may drop out before their first repeat purchase.
            let mut alive = !(self.variant() == BetaGeoVariant::Modified && g.random::<f64>() < p);
            let wait = Exp::new(lambda).map_err(|e| distribution_error("waiting time", e))?;
            while alive {
                now += wait.sample(&mut g);
                if now > t {
                    break;
                }
                x += 1.0;
                t_x = now;
                alive = g.random::<f64>() >= p;
            }
            out.frequency[i] = x;
            out.recency[i] = t_x;
            out.age[i] = t;
        }
        Ok(out)
    }
}

impl ParetoNbd {
    /// Simulates one customer per entry of `ages`.
    ///
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let sim = ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?.simulate(&[39.0; 500], 42)?;
    /// assert!(sim.recency.iter().zip(sim.age.iter()).all(|(r, t)| r <= t));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for non-positive ages.
    pub fn simulate(&self, ages: &[f64], seed: u64) -> Result<SimulatedCustomers> {
        check_ages(ages)?;
        let (r, alpha, s, beta) = self.parameters();
        let rate = Gamma::new(r, 1.0 / alpha).map_err(|e| distribution_error("rate", e))?;
        let death = Gamma::new(s, 1.0 / beta).map_err(|e| distribution_error("drop-out rate", e))?;
        let mut g = rng(seed);
        let mut out = columns(ages.len());
        for (i, &t) in ages.iter().enumerate() {
            let lambda: f64 = rate.sample(&mut g);
            let mu: f64 = death.sample(&mut g);
            let lifetime = Exp::new(mu).map_err(|e| distribution_error("lifetime", e))?.sample(&mut g);
            let end = lifetime.min(t);
            let wait = Exp::new(lambda).map_err(|e| distribution_error("waiting time", e))?;
            let (mut x, mut t_x, mut now) = (0.0, 0.0, 0.0);
            loop {
                now += wait.sample(&mut g);
                if now > end {
                    break;
                }
                x += 1.0;
                t_x = now;
            }
            out.frequency[i] = x;
            out.recency[i] = t_x;
            out.age[i] = t;
        }
        Ok(out)
    }
}

impl GammaGamma {
    /// Simulates each customer's mean spend over `frequency` purchases (0
    /// for customers without purchases).
    ///
    /// ```
    /// use customer_lifecycle::clv::GammaGamma;
    /// let spend = GammaGamma::new(6.25, 3.74, 15.44)?.simulate(&[1.0, 5.0, 20.0], 42)?;
    /// assert!(spend.iter().all(|&m| m > 0.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for negative or fractional frequencies.
    pub fn simulate(&self, frequency: &[f64], seed: u64) -> Result<Array1<f64>> {
        let (p, q, gamma) = self.parameters();
        let scale_rate = Gamma::new(q, 1.0 / gamma).map_err(|e| distribution_error("spend rate", e))?;
        let mut g = rng(seed);
        let mut out = Array1::zeros(frequency.len());
        for (i, &x) in frequency.iter().enumerate() {
            if !(x.is_finite() && (0.0..=1e7).contains(&x) && x.fract() == 0.0) {
                return Err(Error::InvalidArgument {
                    name: "simulation",
                    reason: format!("frequency {x} must be a whole number in 0..=10^7"),
                });
            }
            if x == 0.0 {
                continue;
            }
            let nu: f64 = scale_rate.sample(&mut g);
            let each = Gamma::new(p, 1.0 / nu).map_err(|e| distribution_error("spend", e))?;
            let total: f64 = (0..x as u64).map(|_| each.sample(&mut g)).sum();
            out[i] = total / x;
        }
        Ok(out)
    }
}

impl BetaGeoBetaBinom {
    /// Simulates `customers` customers over `opportunities` opportunities;
    /// returns (frequency, recency) columns.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// let (x, t_x) = BetaGeoBetaBinom::new(1.2, 0.75, 0.66, 2.78)?.simulate(1000, 6, 42)?;
    /// assert!(x.iter().zip(t_x.iter()).all(|(x, t)| x <= t && *t <= 6.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Never for valid parameters (kept fallible for symmetry).
    pub fn simulate(&self, customers: usize, opportunities: u32, seed: u64) -> Result<(Array1<f64>, Array1<f64>)> {
        let (a, b, gm, d) = self.parameters();
        let transact = Beta::new(a, b).map_err(|e| distribution_error("transaction", e))?;
        let dropout = Beta::new(gm, d).map_err(|e| distribution_error("drop-out", e))?;
        let mut g = rng(seed);
        let mut x = Array1::zeros(customers);
        let mut t_x = Array1::zeros(customers);
        for i in 0..customers {
            let p: f64 = transact.sample(&mut g);
            let theta: f64 = dropout.sample(&mut g);
            for t in 1..=opportunities {
                if g.random::<f64>() < theta {
                    break;
                }
                if g.random::<f64>() < p {
                    x[i] += 1.0;
                    t_x[i] = f64::from(t);
                }
            }
        }
        Ok((x, t_x))
    }
}

impl ShiftedBetaGeometric {
    /// Simulates a cohort of `size` customers; returns the survivors at
    /// t = 0..=`periods`.
    ///
    /// ```
    /// use customer_lifecycle::clv::ShiftedBetaGeometric;
    /// let survivors = ShiftedBetaGeometric::new(0.704, 1.182)?.simulate(1000, 7, 42)?;
    /// assert_eq!(survivors.len(), 8);
    /// assert!(survivors.windows(2).all(|w| w[1] <= w[0]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Never for valid parameters (kept fallible for symmetry).
    pub fn simulate(&self, size: usize, periods: u32, seed: u64) -> Result<Vec<f64>> {
        let (a, b) = self.parameters();
        let churn = Beta::new(a, b).map_err(|e| distribution_error("churn", e))?;
        let mut g = rng(seed);
        let mut survivors = vec![0.0; periods as usize + 1];
        for _ in 0..size {
            let theta: f64 = churn.sample(&mut g);
            survivors[0] += 1.0;
            for s in survivors.iter_mut().skip(1) {
                if g.random::<f64>() < theta {
                    break;
                }
                *s += 1.0;
            }
        }
        Ok(survivors)
    }
}

fn columns(n: usize) -> SimulatedCustomers {
    SimulatedCustomers { frequency: Array1::zeros(n), recency: Array1::zeros(n), age: Array1::zeros(n) }
}
