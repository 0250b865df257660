//! Customer lifetime value from a purchase model and a spend model.

use std::collections::HashMap;

use ndarray::{Array1, ArrayView1};

use super::gamma_gamma::GammaGamma;
use super::model::PurchaseModel;
use crate::domain::time::TimeUnit;
use crate::error::{Error, Result};
use crate::log::summary::PurchaseSummary;
use crate::math::hash::WordHasher;

/// Periods of `unit` in a year: 365 days, 52 weeks, 12 months, 365/n for
/// `Days(n)` — the conventions the CLV horizon and discounting use.
pub fn periods_per_year(unit: TimeUnit) -> f64 {
    match unit {
        TimeUnit::Day => 365.0,
        TimeUnit::Week => 52.0,
        TimeUnit::Month => 12.0,
        TimeUnit::Days(n) => 365.0 / f64::from(n.max(1)),
    }
}

/// The longest CLV horizon, in periods: a hundred years of days. The
/// discounted sum takes one term per period for each distinct (x, T), so the
/// bound bounds the work.
pub const MAX_HORIZON_PERIODS: u32 = 36_600;

/// CLV over a horizon: margin × E[spend per purchase] × Σ_{k=1..H}
/// (E[X(k)] − E[X(k−1)]) / (1 + d)^(k/P), with E[X(k)] the conditional
/// expected purchases in the next k periods, H the horizon in periods, P
/// the periods per year and d the annual discount rate.
///
/// ```
/// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
///
/// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
/// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
/// let clv = Clv::new(&purchases, &spend).horizon(52).periods_per_year(52.0).annual_discount_rate(0.10).margin(0.3);
/// let value = clv.customer(2.0, 30.43, 38.86, 22.35)?;
/// assert!(value > 0.0 && value < 100.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy)]
pub struct Clv<'a> {
    purchases: &'a dyn PurchaseModel,
    spend: &'a GammaGamma,
    horizon: u32,
    periods_per_year: f64,
    annual_discount_rate: f64,
    margin: f64,
}

impl std::fmt::Debug for Clv<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clv")
            .field("purchases", &self.purchases.name())
            .field("horizon", &self.horizon)
            .field("periods_per_year", &self.periods_per_year)
            .field("annual_discount_rate", &self.annual_discount_rate)
            .field("margin", &self.margin)
            .finish()
    }
}

impl<'a> Clv<'a> {
    /// Defaults: 52 periods of a week, 52 periods a year, 10 % a year, margin 1 (revenue CLV).
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// let clv = Clv::new(&purchases, &spend); // 52 weekly periods, 10 % a year, margin 1
    /// assert!(clv.customer(2.0, 30.43, 38.86, 22.35)? > 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(purchases: &'a dyn PurchaseModel, spend: &'a GammaGamma) -> Clv<'a> {
        Clv { purchases, spend, horizon: 52, periods_per_year: 52.0, annual_discount_rate: 0.10, margin: 1.0 }
    }

    /// The horizon, in periods of the summary's unit.
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// let (year, two_years) = (Clv::new(&purchases, &spend).horizon(52), Clv::new(&purchases, &spend).horizon(104));
    /// assert!(two_years.customer(2.0, 30.43, 38.86, 22.35)? > year.customer(2.0, 30.43, 38.86, 22.35)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn horizon(mut self, periods: u32) -> Clv<'a> {
        self.horizon = periods;
        self
    }

    /// Periods of the summary's unit in a year (see [`periods_per_year`]).
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// use customer_lifecycle::{TimeUnit, clv::periods_per_year};
    /// let clv = Clv::new(&purchases, &spend).periods_per_year(periods_per_year(TimeUnit::Week));
    /// assert!(clv.customer(2.0, 30.43, 38.86, 22.35)? > 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn periods_per_year(mut self, periods: f64) -> Clv<'a> {
        self.periods_per_year = periods;
        self
    }

    /// The annual discount rate d.
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// let (low, high) = (Clv::new(&purchases, &spend).annual_discount_rate(0.0), Clv::new(&purchases, &spend).annual_discount_rate(0.3));
    /// assert!(low.customer(2.0, 30.43, 38.86, 22.35)? > high.customer(2.0, 30.43, 38.86, 22.35)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn annual_discount_rate(mut self, rate: f64) -> Clv<'a> {
        self.annual_discount_rate = rate;
        self
    }

    /// The profit margin applied to revenue (1 = revenue CLV).
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// let revenue = Clv::new(&purchases, &spend).customer(2.0, 30.43, 38.86, 22.35)?;
    /// let profit = Clv::new(&purchases, &spend).margin(0.3).customer(2.0, 30.43, 38.86, 22.35)?;
    /// assert!((profit - 0.3 * revenue).abs() < 1e-9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn margin(mut self, margin: f64) -> Clv<'a> {
        self.margin = margin;
        self
    }

    fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::InvalidArgument { name: "CLV settings", reason });
        if self.horizon == 0 || self.horizon > MAX_HORIZON_PERIODS {
            return bad(format!("the horizon must be 1..={MAX_HORIZON_PERIODS} periods, got {}", self.horizon));
        }
        if !(self.periods_per_year.is_finite() && self.periods_per_year > 0.0) {
            return bad(format!("periods per year {} must be positive", self.periods_per_year));
        }
        if !(self.annual_discount_rate.is_finite() && self.annual_discount_rate > -1.0) {
            return bad(format!("discount rate {} must be finite and above -100 %", self.annual_discount_rate));
        }
        if !(self.margin.is_finite() && self.margin >= 0.0) {
            return bad(format!("margin {} must be finite and ≥ 0", self.margin));
        }
        Ok(())
    }

    /// Expected (undiscounted) purchases over the horizon for one customer.
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// let clv = Clv::new(&purchases, &spend).horizon(39);
    /// assert!((clv.expected_purchases(2.0, 30.43, 38.86)? - 1.226).abs() < 1e-3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As the purchase model's conditional expectation.
    pub fn expected_purchases(&self, x: f64, t_x: f64, age: f64) -> Result<f64> {
        self.purchases.conditional_expected_purchases(f64::from(self.horizon), x, t_x, age)
    }

    /// CLV of one customer with `x` repeat purchases averaging `mean_spend`:
    /// margin × E(spend) × P(alive) × Σₖ (G(k) − G(k−1)) / (1+d)^(k/P), with
    /// G(k) the expected purchases in the next k periods given alive.
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// let value = Clv::new(&purchases, &spend).margin(0.3).customer(2.0, 30.43, 38.86, 22.35)?;
    /// assert!(value > 0.0 && value < 100.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Invalid settings; as the purchase and spend models' methods.
    pub fn customer(&self, x: f64, t_x: f64, age: f64, mean_spend: f64) -> Result<f64> {
        self.validate()?;
        let spend = self.spend.conditional_expected_spend(x, mean_spend)?;
        let alive = self.purchases.probability_alive(x, t_x, age)?;
        Ok(self.margin * spend * alive * self.discounted_purchases_if_alive(x, age)?)
    }

    /// Σₖ (G(k) − G(k−1)) / (1+d)^(k/P) over the horizon: a function of x
    /// and T only.
    fn discounted_purchases_if_alive(&self, x: f64, age: f64) -> Result<f64> {
        let mut previous = 0.0;
        let mut discounted = 0.0;
        for k in 1..=self.horizon {
            let k = f64::from(k);
            let cumulative = self.purchases.expected_purchases_if_alive(k, x, age)?;
            discounted += (cumulative - previous) / (1.0 + self.annual_discount_rate).powf(k / self.periods_per_year);
            previous = cumulative;
        }
        Ok(discounted)
    }

    /// Delta-method standard error of one customer's CLV, from the purchase
    /// model's and the spend model's covariances (the two fits are taken as
    /// independent, so their variances add).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// let clv = Clv::new(&purchases, &spend);
    /// let (value, se) = (clv.customer(2.0, 30.43, 38.86, 22.35)?, clv.standard_error(2.0, 30.43, 38.86, 22.35)?);
    /// assert!(se > 0.0 && se < value);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless both models were fitted; as
    /// [`Clv::customer`].
    pub fn standard_error(&self, x: f64, t_x: f64, age: f64, mean_spend: f64) -> Result<f64> {
        let not_fitted =
            || Error::InvalidArgument { name: "CLV standard error", reason: "both models must be fitted".into() };
        let (purchase_params, purchase_cov) = self.purchases.estimates().ok_or_else(not_fitted)?;
        let spend_report = self.spend.report().ok_or_else(not_fitted)?;
        let via_purchases = super::fit::delta_method(purchase_params, purchase_cov, &|p: &[f64]| {
            let model = self.purchases.with_parameters(p)?;
            Clv { purchases: model.as_ref(), ..*self }.customer(x, t_x, age, mean_spend)
        })?;
        let via_spend =
            super::fit::delta_method(&spend_report.parameters, &spend_report.covariance, &|p: &[f64]| {
                let spend = GammaGamma::new(p[0], p[1], p[2])?;
                Clv { spend: &spend, ..*self }.customer(x, t_x, age, mean_spend)
            })?;
        Ok((via_purchases * via_purchases + via_spend * via_spend).sqrt())
    }

    /// CLV of every customer of a summary.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let (purchases, spend) = (BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?, GammaGamma::new(6.2488, 3.7446, 15.4477)?);
    /// let values = Clv::new(&purchases, &spend).margin(0.3).compute(&summary)?;
    /// assert_eq!(values.len(), summary.len());
    /// assert!(values.iter().all(|v| *v >= 0.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Clv::customer`].
    pub fn compute(&self, summary: &PurchaseSummary) -> Result<Array1<f64>> {
        summary.naming(self.compute_columns(
            summary.frequency(),
            summary.recency(),
            summary.age(),
            summary.monetary_value(),
        ))
    }

    /// CLV for columns of x, t_x, T and mean spend, equal to
    /// [`Clv::customer`] row by row. The discounted sum over the horizon
    /// depends on x and T alone, so it is computed once per distinct
    /// (x, T) (customers whose ages come from calendar days share it).
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// use customer_lifecycle::ndarray::array;
    /// let clv = Clv::new(&purchases, &spend);
    /// let (x, t_x, age, m) = (array![2.0], array![30.43], array![38.86], array![22.35]);
    /// let values = clv.compute_columns(x.view(), t_x.view(), age.view(), m.view())?;
    /// assert!((values[0] - clv.customer(2.0, 30.43, 38.86, 22.35)?).abs() < 1e-9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Clv::customer`], and columns of different lengths.
    pub fn compute_columns(
        &self,
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
        mean_spend: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>> {
        self.validate()?;
        let n = frequency.len();
        if recency.len() != n || age.len() != n || mean_spend.len() != n {
            return Err(Error::InvalidArgument {
                name: "CLV input",
                reason: format!("columns of lengths {n}, {}, {}, {}", recency.len(), age.len(), mean_spend.len()),
            });
        }
        let mut shared: HashMap<(u64, u64), f64, WordHasher> = HashMap::with_hasher(WordHasher);
        let mut out = Array1::zeros(n);
        for i in 0..n {
            let (x, t_x, t) = (frequency[i], recency[i], age[i]);
            let in_row = |e: Error| e.at_row(i);
            let spend = self.spend.conditional_expected_spend(x, mean_spend[i]).map_err(in_row)?;
            let alive = self.purchases.probability_alive(x, t_x, t).map_err(in_row)?;
            let key = (x.to_bits(), t.to_bits());
            let discounted = match shared.get(&key) {
                Some(&v) => v,
                None => {
                    let v = self.discounted_purchases_if_alive(x, t).map_err(in_row)?;
                    shared.insert(key, v);
                    v
                }
            };
            out[i] = self.margin * spend * alive * discounted;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::{BetaGeo, ParetoNbd};

    #[test]
    fn clv_is_a_number_or_a_typed_error() {
        // a = 1: the BG/NBD closed form is 0 × ∞; CLV was Ok(NaN).
        let p = BetaGeo::new(0.2426, 4.4136, 1.0, 2.4259).unwrap();
        let g = GammaGamma::new(6.2488, 3.7446, 15.4477).unwrap();
        assert!(Clv::new(&p, &g).customer(2.0, 30.43, 38.86, 22.35).is_err());
        let x = ndarray::array![2.0];
        let t_x = ndarray::array![30.43];
        let age = ndarray::array![38.86];
        let m = ndarray::array![22.35];
        assert!(Clv::new(&p, &g).compute_columns(x.view(), t_x.view(), age.view(), m.view()).is_err());
    }

    #[test]
    fn the_horizon_is_bounded() {
        let p = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap();
        let g = GammaGamma::new(6.2488, 3.7446, 15.4477).unwrap();
        assert!(Clv::new(&p, &g).horizon(MAX_HORIZON_PERIODS + 1).customer(2.0, 30.43, 38.86, 22.35).is_err());
        assert!(Clv::new(&p, &g).horizon(0).customer(2.0, 30.43, 38.86, 22.35).is_err());
    }

    #[test]
    fn clv_without_discounting_is_margin_times_spend_times_purchases() {
        let p = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap();
        let g = GammaGamma::new(6.2488, 3.7446, 15.4477).unwrap();
        let clv = Clv::new(&p, &g).horizon(39).annual_discount_rate(0.0).margin(0.5);
        let value = clv.customer(2.0, 30.43, 38.86, 22.35).unwrap();
        let expected = 0.5
            * g.conditional_expected_spend(2.0, 22.35).unwrap()
            * p.conditional_expected_purchases(39.0, 2.0, 30.43, 38.86).unwrap();
        assert!((value - expected).abs() < 1e-9, "{value} vs {expected}");
        // Discounting lowers it; a higher rate lowers it more.
        let d10 = clv.annual_discount_rate(0.10).customer(2.0, 30.43, 38.86, 22.35).unwrap();
        let d30 = clv.annual_discount_rate(0.30).customer(2.0, 30.43, 38.86, 22.35).unwrap();
        assert!(d30 < d10 && d10 < value);
    }

    /// The per-(x, T) decomposition gives the CLV of the issue's definition,
    /// margin × E[spend] × Σₖ (E[X(k)] − E[X(k−1)]) / (1+d)^(k/P), summed
    /// here from the models' conditional expectations, to 1e-12; the column
    /// function equals `customer` exactly and names a bad row.
    #[test]
    fn columns_equal_the_definition_customer_by_customer() {
        let spend = GammaGamma::new(6.2488, 3.7446, 15.4477).unwrap();
        let bgnbd = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap();
        let pareto = ParetoNbd::new(0.5533, 10.5776, 0.6062, 11.6679).unwrap();
        let n = 500;
        let x: Array1<f64> = (0..n).map(|i| f64::from(i % 6)).collect();
        let age: Array1<f64> = (0..n).map(|i| 20.0 + f64::from(i % 9)).collect();
        let t_x: Array1<f64> =
            (0..n).map(|i| if i % 6 == 0 { 0.0 } else { age[i as usize] * f64::from(i % 4) / 4.0 }).collect();
        let m: Array1<f64> = (0..n).map(|i| 10.0 + f64::from(i % 13)).collect();
        for model in [&bgnbd as &dyn PurchaseModel, &pareto] {
            let clv = Clv::new(model, &spend).horizon(12).periods_per_year(52.0).annual_discount_rate(0.1).margin(0.3);
            let columns = clv.compute_columns(x.view(), t_x.view(), age.view(), m.view()).unwrap();
            for i in 0..n as usize {
                let mut definition = 0.0;
                let mut previous = 0.0;
                for k in 1..=12 {
                    let k = f64::from(k);
                    let e = model.conditional_expected_purchases(k, x[i], t_x[i], age[i]).unwrap();
                    definition += (e - previous) / 1.1f64.powf(k / 52.0);
                    previous = e;
                }
                definition *= 0.3 * spend.conditional_expected_spend(x[i], m[i]).unwrap();
                assert!(
                    (columns[i] - definition).abs() < 1e-12 * definition.abs(),
                    "{}: {} vs {definition}",
                    model.name(),
                    columns[i]
                );
                assert_eq!(columns[i], clv.customer(x[i], t_x[i], age[i], m[i]).unwrap());
                let if_alive = model.expected_purchases_if_alive(12.0, x[i], age[i]).unwrap();
                let alive = model.probability_alive(x[i], t_x[i], age[i]).unwrap();
                let conditional = model.conditional_expected_purchases(12.0, x[i], t_x[i], age[i]).unwrap();
                assert!((if_alive * alive - conditional).abs() < 1e-14 * conditional.abs().max(1.0));
            }
            let mut bad = t_x.clone();
            bad[41] = -1.0;
            let e = clv.compute_columns(x.view(), bad.view(), age.view(), m.view()).unwrap_err();
            assert!(matches!(e, Error::InvalidModelInput { row: 41, .. }), "{e}");
            let short: Array1<f64> = m.iter().take(3).copied().collect();
            assert!(clv.compute_columns(x.view(), t_x.view(), age.view(), short.view()).is_err());
        }
    }

    #[test]
    fn invalid_settings() {
        let p = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap();
        let g = GammaGamma::new(6.2488, 3.7446, 15.4477).unwrap();
        assert!(Clv::new(&p, &g).horizon(0).customer(1.0, 1.0, 2.0, 3.0).is_err());
        assert!(Clv::new(&p, &g).horizon(u32::MAX).customer(1.0, 1.0, 2.0, 3.0).is_err());
        assert!(Clv::new(&p, &g).margin(-1.0).customer(1.0, 1.0, 2.0, 3.0).is_err());
        assert!(Clv::new(&p, &g).annual_discount_rate(f64::NAN).customer(1.0, 1.0, 2.0, 3.0).is_err());
        let q_below_one = GammaGamma::new(6.0, 0.9, 15.0).unwrap();
        assert!(Clv::new(&p, &q_below_one).customer(1.0, 1.0, 2.0, 3.0).is_err());
        assert_eq!(periods_per_year(TimeUnit::Days(73)), 5.0);
    }
}
