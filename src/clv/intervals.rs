//! Prediction intervals from a fitted purchase model: parameter
//! uncertainty by drawing the parameters from the fit's asymptotic normal
//! distribution (CLVTools' "fast bootstrap"), and process uncertainty
//! through each customer's exact distribution of future purchase counts.
//!
//! The draws are taken on the log-parameters, ln θ ~ N(ln θ̂, D⁻¹ Σ D⁻¹)
//! with Σ the fit's covariance and D = diag(θ̂) (the delta method), so
//! every draw is a valid model. For a customer, the parameter interval of
//! a prediction (P(alive), expected purchases) is the quantiles of the
//! prediction over the draws; the interval of the number of purchases in
//! the next t — parameter and process uncertainty together — is the
//! quantiles of the mixture over the draws of
//! [`PurchaseModel::conditional_probability_of_purchases`], computed
//! exactly (no simulation of the process).

use std::collections::HashMap;

use ndarray::{Array1, ArrayView1};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::gamma_gamma::GammaGamma;
use super::model::PurchaseModel;
use super::value::Clv;
use crate::error::{Error, Result};
use crate::math::parallel;

/// Draws of a fitted purchase model's parameters: the models at each draw.
///
/// ```
/// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
/// use customer_lifecycle::clv::{BetaGeo, ParameterDraws, PurchaseModel};
/// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
/// let model = BetaGeo::fit(&summary)?;
/// let draws = ParameterDraws::new(&model, 200, 7)?;
/// let [low, mid, high] = draws.expected_purchases_interval(52.0, 2.0, 30.0, 39.0, [0.05, 0.5, 0.95])?;
/// assert!(low < mid && mid < high);
/// // The same seed gives the same draws.
/// assert_eq!(ParameterDraws::new(&model, 200, 7)?.expected_purchases_interval(52.0, 2.0, 30.0, 39.0, [0.05, 0.5, 0.95])?, [low, mid, high]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ParameterDraws {
    models: Vec<Box<dyn PurchaseModel>>,
}

/// Parameter-uncertainty intervals of population totals (see
/// [`ParameterDraws::population_interval`]): each at the levels asked for.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct PopulationInterval<const N: usize> {
    /// The expected number of the customers alive now.
    pub alive: [f64; N],
    /// Their expected purchases in the horizon.
    pub expected_purchases: [f64; N],
}

impl std::fmt::Debug for ParameterDraws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.models.first().map(|m| m.name()).unwrap_or("no model");
        write!(f, "ParameterDraws {{ {} draws of {name} }}", self.models.len())
    }
}

impl ParameterDraws {
    /// `draws` models with parameters drawn from the fit of `model`
    /// (seeded: the same seed gives the same draws).
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, ParameterDraws};
    /// // A model that was not fitted has no covariance to draw from.
    /// assert!(ParameterDraws::new(&BetaGeo::new(0.24, 4.4, 0.79, 2.4)?, 100, 1).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a model without a fit, no draws, or a
    /// covariance that is not positive definite.
    pub fn new(model: &dyn PurchaseModel, draws: usize, seed: u64) -> Result<ParameterDraws> {
        let (estimates, covariance) = model.estimates().ok_or_else(|| Error::InvalidArgument {
            name: "parameter draws",
            reason: format!("the {} model was not fitted: there is no covariance to draw from", model.name()),
        })?;
        let models = super::fit::log_normal_draws(estimates, covariance, draws, seed, |p| model.with_parameters(p))?;
        Ok(ParameterDraws { models })
    }

    /// `draws` models fitted by `fit` to bootstrap resamples of the
    /// customers (drawn with replacement, seeded): the full data bootstrap,
    /// slower than [`ParameterDraws::new`] by a fit per draw but free of the
    /// normal approximation. A resample `fit` refuses is drawn again, at
    /// most ten times the draws in all.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeo, FitOptions, ParameterDraws};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let columns = [summary.frequency(), summary.recency(), summary.age()];
    /// let draws = ParameterDraws::bootstrap(columns, 50, 3, |x, t_x, t| BetaGeo::fit_columns(x, t_x, t, &FitOptions::default()))?;
    /// let [low, high] = draws.probability_alive_interval(2.0, 30.0, 39.0, [0.05, 0.95])?;
    /// assert!(low < high);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for no draws, no customers or columns of
    /// different lengths; the last refusal of `fit` when it refuses too
    /// many resamples.
    pub fn bootstrap<M: PurchaseModel + 'static>(
        [x, t_x, age]: [ArrayView1<'_, f64>; 3],
        draws: usize,
        seed: u64,
        fit: impl Fn(ArrayView1<'_, f64>, ArrayView1<'_, f64>, ArrayView1<'_, f64>) -> Result<M>,
    ) -> Result<ParameterDraws> {
        let n = x.len();
        if draws == 0 || n == 0 || t_x.len() != n || age.len() != n {
            return Err(Error::InvalidArgument {
                name: "bootstrap",
                reason: format!("{draws} draws of columns of lengths {n}, {}, {}", t_x.len(), age.len()),
            });
        }
        let mut g = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut models: Vec<Box<dyn PurchaseModel>> = Vec::with_capacity(draws);
        let (mut attempts, mut last_error) = (0usize, None);
        while models.len() < draws {
            attempts += 1;
            if attempts > 10 * draws + 10 {
                return Err(last_error.unwrap_or_else(|| Error::InvalidArgument {
                    name: "bootstrap",
                    reason: "the fit refused every resample".into(),
                }));
            }
            let rows: Vec<usize> = (0..n).map(|_| g.random_range(0..n)).collect();
            let pick = |c: &ArrayView1<'_, f64>| rows.iter().map(|&i| c[i]).collect::<Array1<f64>>();
            let (bx, bt, ba) = (pick(&x), pick(&t_x), pick(&age));
            match fit(bx.view(), bt.view(), ba.view()) {
                Ok(m) => models.push(Box::new(m)),
                Err(e) => last_error = Some(e),
            }
        }
        Ok(ParameterDraws { models })
    }

    /// The models at the draws.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeo, ParameterDraws};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let draws = ParameterDraws::new(&BetaGeo::fit(&summary)?, 50, 1)?;
    /// assert_eq!(draws.models().len(), 50);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn models(&self) -> &[Box<dyn PurchaseModel>] {
        &self.models
    }

    /// Quantiles `levels` over the draws of `f` of each drawn model.
    fn quantiles<const N: usize>(
        &self,
        levels: [f64; N],
        f: impl Fn(&dyn PurchaseModel) -> Result<f64>,
    ) -> Result<[f64; N]> {
        check_levels(&levels)?;
        let mut values = self.models.iter().map(|m| f(m.as_ref())).collect::<Result<Vec<f64>>>()?;
        values.sort_by(f64::total_cmp);
        Ok(levels.map(|q| quantile_of_sorted(&values, q)))
    }

    /// Parameter-uncertainty interval of P(alive): its quantiles `levels`
    /// over the draws.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeo, ParameterDraws};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let draws = ParameterDraws::new(&BetaGeo::fit(&summary)?, 200, 1)?;
    /// let [low, high] = draws.probability_alive_interval(2.0, 30.0, 39.0, [0.05, 0.95])?;
    /// assert!(0.0 <= low && low < high && high <= 1.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for levels outside [0, 1]; as the model's
    /// prediction.
    pub fn probability_alive_interval<const N: usize>(
        &self,
        x: f64,
        t_x: f64,
        age: f64,
        levels: [f64; N],
    ) -> Result<[f64; N]> {
        self.quantiles(levels, |m| m.probability_alive(x, t_x, age))
    }

    /// Parameter-uncertainty interval of the expected purchases in the next
    /// `t`.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{ParameterDraws, ParetoNbd};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let draws = ParameterDraws::new(&ParetoNbd::fit(&summary)?, 100, 3)?;
    /// let [low, high] = draws.expected_purchases_interval(39.0, 2.0, 30.0, 39.0, [0.05, 0.95])?;
    /// assert!(0.0 < low && low < high);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParameterDraws::probability_alive_interval`].
    pub fn expected_purchases_interval<const N: usize>(
        &self,
        t: f64,
        x: f64,
        t_x: f64,
        age: f64,
        levels: [f64; N],
    ) -> Result<[f64; N]> {
        self.quantiles(levels, |m| m.conditional_expected_purchases(t, x, t_x, age))
    }

    /// [`ParameterDraws::probability_alive_interval`] for columns of
    /// customers: one `[f64; N]` per row, computed once per distinct
    /// (x, t_x, T) (see [`ParameterDraws::expected_purchases_interval_columns`]).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeo, ParameterDraws};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let draws = ParameterDraws::new(&BetaGeo::fit(&summary)?, 100, 1)?;
    /// let (x, t_x, age) = (summary.frequency(), summary.recency(), summary.age());
    /// let intervals = draws.probability_alive_interval_columns(x, t_x, age, [0.05, 0.95])?;
    /// assert_eq!(intervals[3], draws.probability_alive_interval(x[3], t_x[3], age[3], [0.05, 0.95])?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParameterDraws::probability_alive_interval`], naming the row;
    /// columns of different lengths.
    pub fn probability_alive_interval_columns<const N: usize>(
        &self,
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
        levels: [f64; N],
    ) -> Result<Vec<[f64; N]>> {
        self.interval_columns(frequency, recency, age, levels, |m, x, t_x, t| m.probability_alive_columns(x, t_x, t))
    }

    /// [`ParameterDraws::expected_purchases_interval`] for columns of
    /// customers: one `[f64; N]` per row. Each distinct (x, t_x, T) is
    /// computed once per draw, in (x, T) order a block at a time through the
    /// models' column functions (which share the part that depends on
    /// (x, T) alone), the blocks shared out between the cores.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeo, ParameterDraws};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let draws = ParameterDraws::new(&BetaGeo::fit(&summary)?, 100, 1)?;
    /// let (x, t_x, age) = (summary.frequency(), summary.recency(), summary.age());
    /// let intervals = draws.expected_purchases_interval_columns(52.0, x, t_x, age, [0.05, 0.5, 0.95])?;
    /// assert_eq!(intervals[9], draws.expected_purchases_interval(52.0, x[9], t_x[9], age[9], [0.05, 0.5, 0.95])?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParameterDraws::expected_purchases_interval`], naming the row;
    /// columns of different lengths.
    pub fn expected_purchases_interval_columns<const N: usize>(
        &self,
        t: f64,
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
        levels: [f64; N],
    ) -> Result<Vec<[f64; N]>> {
        self.interval_columns(frequency, recency, age, levels, |m, x, t_x, a| {
            m.conditional_expected_purchases_columns(t, x, t_x, a)
        })
    }

    /// Spend draws pair one to one with the purchase draws, or are none.
    fn check_spend(&self, spend: &[GammaGamma]) -> Result<()> {
        if !spend.is_empty() && spend.len() != self.models.len() {
            return Err(Error::InvalidArgument {
                name: "spend draws",
                reason: format!("{} spend draws for {} purchase draws", spend.len(), self.models.len()),
            });
        }
        Ok(())
    }

    /// Quantiles over the draws of `f` of each distinct row, per row.
    fn interval_columns<const N: usize>(
        &self,
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
        levels: [f64; N],
        f: impl Fn(&dyn PurchaseModel, ArrayView1<'_, f64>, ArrayView1<'_, f64>, ArrayView1<'_, f64>) -> Result<Array1<f64>>
        + Sync,
    ) -> Result<Vec<[f64; N]>> {
        const BLOCK: usize = 4096;
        check_levels(&levels)?;
        let n = frequency.len();
        if recency.len() != n || age.len() != n {
            return Err(Error::InvalidArgument {
                name: "model input",
                reason: format!("columns of lengths {n}, {}, {}", recency.len(), age.len()),
            });
        }
        // The distinct rows, each with its first row, in (x, T, t_x) order.
        let mut index: HashMap<[u64; 3], usize> = HashMap::with_capacity(n);
        let mut distinct: Vec<(usize, [f64; 3])> = Vec::new();
        let mut slot = Vec::with_capacity(n);
        for i in 0..n {
            let row = [frequency[i], recency[i], age[i]];
            let k = *index.entry(row.map(|v| (v + 0.0).to_bits())).or_insert_with(|| {
                distinct.push((i, row));
                distinct.len() - 1
            });
            slot.push(k);
        }
        let mut order: Vec<usize> = (0..distinct.len()).collect();
        order.sort_unstable_by(|&a, &b| {
            let ([xa, ta, aa], [xb, tb, ab]) = (distinct[a].1, distinct[b].1);
            xa.total_cmp(&xb).then(aa.total_cmp(&ab)).then(ta.total_cmp(&tb))
        });
        let blocks: Vec<&[usize]> = order.chunks(BLOCK).collect();
        let draws = self.models.len();
        let per_block = parallel::map_in_runs(&blocks, parallel::cores(), |block| -> Result<Vec<[f64; N]>> {
            let column = |j: usize| block.iter().map(|&k| distinct[k].1[j]).collect::<Array1<f64>>();
            let (x, t_x, t) = (column(0), column(1), column(2));
            let mut values = vec![0.0; block.len() * draws];
            for (d, model) in self.models.iter().enumerate() {
                let v = f(model.as_ref(), x.view(), t_x.view(), t.view())
                    .map_err(|e| renumbered(e, |row| block.get(row).map_or(row, |&k| distinct[k].0)))?;
                for (r, value) in v.iter().enumerate() {
                    values[r * draws + d] = *value;
                }
            }
            Ok(values.chunks_mut(draws).map(|row| quantiles_of(row, levels)).collect())
        });
        let mut of_distinct = vec![[0.0; N]; distinct.len()];
        for (block, result) in blocks.iter().zip(per_block) {
            for (&k, q) in block.iter().zip(result?) {
                of_distinct[k] = q;
            }
        }
        Ok(slot.into_iter().map(|k| of_distinct[k]).collect())
    }

    /// Parameter-uncertainty intervals of population totals: the expected
    /// number of the customers alive now and their expected purchases in
    /// the next `t`, as the quantiles over the draws of the sums over the
    /// customers.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeo, ParameterDraws, PurchaseModel};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let model = BetaGeo::fit(&summary)?;
    /// let draws = ParameterDraws::new(&model, 200, 1)?;
    /// let (x, t_x, age) = (summary.frequency(), summary.recency(), summary.age());
    /// let population = draws.population_interval(39.0, x, t_x, age, [0.05, 0.95])?;
    /// let total = model.conditional_expected_purchases_columns(39.0, x, t_x, age)?.sum();
    /// assert!(population.expected_purchases[0] < total && total < population.expected_purchases[1]);
    /// assert!(population.alive[1] <= summary.len() as f64);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParameterDraws::expected_purchases_interval_columns`].
    pub fn population_interval<const N: usize>(
        &self,
        t: f64,
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
        levels: [f64; N],
    ) -> Result<PopulationInterval<N>> {
        check_levels(&levels)?;
        let mut alive = Vec::with_capacity(self.models.len());
        let mut purchases = Vec::with_capacity(self.models.len());
        for m in &self.models {
            alive.push(m.probability_alive_columns(frequency, recency, age)?.sum());
            purchases.push(m.conditional_expected_purchases_columns(t, frequency, recency, age)?.sum());
        }
        alive.sort_by(f64::total_cmp);
        purchases.sort_by(f64::total_cmp);
        Ok(PopulationInterval {
            alive: levels.map(|q| quantile_of_sorted(&alive, q)),
            expected_purchases: levels.map(|q| quantile_of_sorted(&purchases, q)),
        })
    }

    /// Parameter-uncertainty interval of a customer's CLV under the
    /// settings of `clv` (horizon, discount, margin): its quantiles over
    /// the draws, each draw's purchase model paired with the same draw of
    /// `spend` ([`GammaGamma::parameter_draws`]) — or with the spend model of
    /// `clv` when `spend` is empty.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma, ParameterDraws};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// let clv = Clv::new(&purchases, &spend);
    /// let draws = ParameterDraws::new(&purchases, 200, 1)?;
    /// let spend_draws = spend.parameter_draws(200, 2)?;
    /// let [low, high] = draws.clv_interval(&clv, &spend_draws, 2.0, 30.43, 38.86, 22.35, [0.05, 0.95])?;
    /// let point = clv.customer(2.0, 30.43, 38.86, 22.35)?;
    /// assert!(low < point && point < high);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParameterDraws::probability_alive_interval`] and
    /// [`Clv::customer`]; [`Error::InvalidArgument`] for spend draws of
    /// another number than the purchase draws.
    #[allow(clippy::too_many_arguments)]
    pub fn clv_interval<const N: usize>(
        &self,
        clv: &Clv<'_>,
        spend: &[GammaGamma],
        x: f64,
        t_x: f64,
        age: f64,
        mean_spend: f64,
        levels: [f64; N],
    ) -> Result<[f64; N]> {
        self.check_spend(spend)?;
        check_levels(&levels)?;
        let mut values = Vec::with_capacity(self.models.len());
        for (i, m) in self.models.iter().enumerate() {
            values.push(clv_at(clv, m.as_ref(), spend.get(i)).customer(x, t_x, age, mean_spend)?);
        }
        values.sort_by(f64::total_cmp);
        Ok(levels.map(|q| quantile_of_sorted(&values, q)))
    }

    /// [`ParameterDraws::clv_interval`] for columns of customers: one
    /// `[f64; N]` of quantiles per row. The rows are taken in (x, T) order,
    /// a block at a time, and each draw's CLV of a block is computed with
    /// [`Clv::compute_columns`] (one discounted sum per distinct (x, T) in
    /// the block), so memory stays at a block times the draws and the cost
    /// is about the draws times the CLV of the distinct (x, T): 200 draws
    /// take seconds for a million customers with whole-day ages and 8 × 1,096
    /// distinct (x, T), and grow with the number of distinct pairs.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma, ParameterDraws};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// let clv = Clv::new(&purchases, &spend);
    /// let (draws, spend_draws) = (ParameterDraws::new(&purchases, 50, 1)?, spend.parameter_draws(50, 2)?);
    /// let (x, t_x, age, m) = (summary.frequency(), summary.recency(), summary.age(), summary.monetary_value());
    /// let intervals = draws.clv_interval_columns(&clv, &spend_draws, x, t_x, age, m, [0.05, 0.95])?;
    /// assert_eq!(intervals[7], draws.clv_interval(&clv, &spend_draws, x[7], t_x[7], age[7], m[7], [0.05, 0.95])?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParameterDraws::clv_interval`], naming the row; columns of
    /// different lengths.
    #[allow(clippy::too_many_arguments)]
    pub fn clv_interval_columns<const N: usize>(
        &self,
        clv: &Clv<'_>,
        spend: &[GammaGamma],
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
        mean_spend: ArrayView1<'_, f64>,
        levels: [f64; N],
    ) -> Result<Vec<[f64; N]>> {
        const BLOCK: usize = 4096;
        self.check_spend(spend)?;
        check_levels(&levels)?;
        let n = frequency.len();
        if recency.len() != n || age.len() != n || mean_spend.len() != n {
            return Err(Error::InvalidArgument {
                name: "CLV input",
                reason: format!("columns of lengths {n}, {}, {}, {}", recency.len(), age.len(), mean_spend.len()),
            });
        }
        let draws = self.models.len();
        // Rows in (x, T) order, so that a block holds few distinct (x, T)
        // and each discounted sum is computed about once per draw, not once
        // per block it would otherwise be scattered over.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_unstable_by(|&i, &j| {
            frequency[i].total_cmp(&frequency[j]).then(age[i].total_cmp(&age[j])).then(i.cmp(&j))
        });
        let mut out = vec![[0.0; N]; n];
        let mut values = vec![0.0; BLOCK * draws];
        for rows in order.chunks(BLOCK) {
            let gather = |c: &ArrayView1<'_, f64>| rows.iter().map(|&i| c[i]).collect::<Array1<f64>>();
            let (x, t_x, t, m) = (gather(&frequency), gather(&recency), gather(&age), gather(&mean_spend));
            for (d, model) in self.models.iter().enumerate() {
                let column = clv_at(clv, model.as_ref(), spend.get(d))
                    .compute_columns_anchored(x.view(), t_x.view(), t.view(), m.view())
                    .map_err(|e| renumbered(e, |row| rows.get(row).copied().unwrap_or(row)))?;
                for (r, v) in column.iter().enumerate() {
                    values[r * draws + d] = *v;
                }
            }
            for (r, &i) in rows.iter().enumerate() {
                out[i] = quantiles_of(&mut values[r * draws..(r + 1) * draws], levels);
            }
        }
        Ok(out)
    }

    /// Interval of the number of purchases in the next `t` with parameter
    /// and process uncertainty: the quantiles `levels` of the mixture over
    /// the draws of each draw's distribution of the count (the least k whose
    /// cumulative probability reaches the level). Counts are whole, so a
    /// 5–95 % interval covers at least 90 %.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeo, ParameterDraws};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let draws = ParameterDraws::new(&BetaGeo::fit(&summary)?, 100, 1)?;
    /// let [low, high] = draws.purchase_count_interval(52.0, 5.0, 36.0, 39.0, [0.05, 0.95])?;
    /// assert!(low < high);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParameterDraws::probability_alive_interval`]; a count beyond
    /// 100,000 purchases is refused.
    pub fn purchase_count_interval<const N: usize>(
        &self,
        t: f64,
        x: f64,
        t_x: f64,
        age: f64,
        levels: [f64; N],
    ) -> Result<[u32; N]> {
        check_levels(&levels)?;
        let draws = self.models.len() as f64;
        let mut out = [0u32; N];
        let mut order: Vec<usize> = (0..N).collect();
        order.sort_by(|&a, &b| levels[a].total_cmp(&levels[b]));
        let mut cumulative = 0.0;
        let mut next = 0;
        for k in 0..=100_000u32 {
            let mut p = 0.0;
            for m in &self.models {
                p += m.conditional_probability_of_purchases(t, k, x, t_x, age)?;
            }
            cumulative += p / draws;
            while next < N && cumulative >= levels[order[next]] - 1e-12 {
                out[order[next]] = k;
                next += 1;
            }
            if next == N {
                return Ok(out);
            }
        }
        Err(Error::InvalidArgument {
            name: "purchase count interval",
            reason: format!("the levels {levels:?} lie beyond 100,000 purchases"),
        })
    }
}

/// The settings of `clv` on one draw: its purchase model with the draw's
/// spend model, or with the spend model of `clv` when there is none.
fn clv_at<'b>(clv: &Clv<'b>, purchases: &'b dyn PurchaseModel, spend: Option<&'b GammaGamma>) -> Clv<'b> {
    match spend {
        Some(g) => clv.with_models(purchases, g),
        None => clv.with_purchases(purchases),
    }
}

/// A model-input error of a block's row, renumbered to the input's row.
fn renumbered(e: Error, original: impl Fn(usize) -> usize) -> Error {
    match &e {
        Error::InvalidModelInput { row, .. } => {
            let row = original(*row);
            e.at_row(row)
        }
        _ => e,
    }
}

fn check_levels(levels: &[f64]) -> Result<()> {
    if let Some(q) = levels.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        return Err(Error::InvalidArgument { name: "interval level", reason: format!("{q} is not in [0, 1]") });
    }
    Ok(())
}

/// The quantiles `levels` of `values` (reordered), each as
/// [`quantile_of_sorted`] gives it on the sorted values, by selection: a
/// partial reorder per level instead of a sort.
fn quantiles_of<const N: usize>(values: &mut [f64], levels: [f64; N]) -> [f64; N] {
    let n = values.len();
    levels.map(|q| {
        if n == 1 {
            return values[0];
        }
        let at = q * (n - 1) as f64;
        let (i, frac) = (at.floor() as usize, at - at.floor());
        let i = i.min(n - 1);
        let (_, low, above) = values.select_nth_unstable_by(i, f64::total_cmp);
        let low = *low;
        match above.iter().copied().min_by(f64::total_cmp) {
            Some(high) if frac > 0.0 => low + frac * (high - low),
            _ => low,
        }
    })
}

/// The q-quantile of sorted values (linear between order statistics).
fn quantile_of_sorted(values: &[f64], q: f64) -> f64 {
    if values.len() == 1 {
        return values[0];
    }
    let at = q * (values.len() - 1) as f64;
    let (i, frac) = (at.floor() as usize, at - at.floor());
    if i + 1 >= values.len() { values[values.len() - 1] } else { values[i] + frac * (values[i + 1] - values[i]) }
}
