//! BG/NBD: the beta-geometric / negative binomial model of repeat buying
//! (Fader, Hardie & Lee 2005), and its modified form MBG/NBD (Batislam,
//! Denizel & Filiztekin 2007).
//!
//! While alive a customer buys at Poisson rate λ ~ Gamma(r, α); after each
//! purchase they drop out with probability p ~ Beta(a, b). In MBG/NBD they
//! may also drop out right at the start (before any repeat purchase), so
//! customers without repeats no longer have P(alive) = 1.

use ndarray::{Array1, ArrayView1};
use serde::{Deserialize, Serialize};

use super::data::{self, PurchaseHistogram, RepeatRows};
use super::fit::{self, FitOptions, FitReport};
use crate::domain::table::CustomerTable;
use crate::domain::time::TimeUnit;
use crate::error::{Error, Result};
use crate::log::summary::PurchaseSummary;
use crate::math::quadrature::{ln_sum_of_nodes, tanh_sinh_nodes};
use crate::math::series::{scaled_hyp2f1_many, scaled_hyp2f1_with_loss};
use crate::math::special::{digamma, ln_beta, ln_beta_shift, ln_gamma, log_add_exp, trigamma};

const MODEL: &str = "BG/NBD";
const MODIFIED: &str = "MBG/NBD";

/// Which of the two beta-geometric models.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BetaGeoVariant {
    /// BG/NBD: drop-out only after a repeat purchase.
    Classic,
    /// MBG/NBD: drop-out also possible at time zero.
    Modified,
}

impl BetaGeoVariant {
    fn name(self) -> &'static str {
        match self {
            BetaGeoVariant::Classic => MODEL,
            BetaGeoVariant::Modified => MODIFIED,
        }
    }
}

validated_serde! {
/// A BG/NBD model: parameters `r`, `alpha` (purchase rate) and `a`, `b`
/// (drop-out), plus the fit report when it was estimated from data.
///
/// ```
/// use customer_lifecycle::clv::BetaGeo;
///
/// // The published CDNOW estimates (Fader, Hardie & Lee 2005).
/// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
/// let p = model.probability_alive(26.0, 30.857, 31.0)?;
/// assert!((p - 0.9689).abs() < 1e-3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct BetaGeo {
    format_version: u32,
    variant: BetaGeoVariant,
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
    report: Option<FitReport>,
    time_unit: Option<TimeUnit>,
}
}

impl BetaGeo {
    /// A saved model loads only with this crate's format version and valid parameters.
    fn check_consistent(&self) -> Result<()> {
        super::check_model_version(self.format_version)?;
        BetaGeo::with_variant(self.variant, self.r, self.alpha, self.a, self.b).map(|_| ())
    }
}

impl BetaGeo {
    /// A model with given parameters.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// assert_eq!(model.parameters(), (0.2426, 4.4136, 0.7929, 2.4259));
    /// assert!(BetaGeo::new(0.0, 1.0, 1.0, 1.0).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless all four are finite and positive.
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> Result<BetaGeo> {
        BetaGeo::with_variant(BetaGeoVariant::Classic, r, alpha, a, b)
    }

    /// An MBG/NBD model with given parameters.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    ///
    /// let model = BetaGeo::modified(0.525, 6.183, 0.891, 1.614)?;
    /// // Without repeat purchases P(alive) is below 1 in MBG/NBD.
    /// assert!(model.probability_alive(0.0, 0.0, 39.0)? < 1.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeo::new`].
    pub fn modified(r: f64, alpha: f64, a: f64, b: f64) -> Result<BetaGeo> {
        BetaGeo::with_variant(BetaGeoVariant::Modified, r, alpha, a, b)
    }

    fn with_variant(variant: BetaGeoVariant, r: f64, alpha: f64, a: f64, b: f64) -> Result<BetaGeo> {
        super::check_parameters(variant.name(), &[("r", r), ("alpha", alpha), ("a", a), ("b", b)])?;
        Ok(BetaGeo {
            format_version: super::MODEL_FORMAT_VERSION,
            variant,
            r,
            alpha,
            a,
            b,
            report: None,
            time_unit: None,
        })
    }

    /// Which model this is.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// assert_eq!(model.variant(), customer_lifecycle::clv::BetaGeoVariant::Classic);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn variant(&self) -> BetaGeoVariant {
        self.variant
    }

    /// Fits the model to a summary's frequency, recency and age columns
    /// (the calibration period when the summary is split).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::fit(&summary)?;
    /// let (r, alpha, a, b) = model.parameters();
    /// assert!((r - 0.2426).abs() < 1e-3 && (alpha - 4.4136).abs() < 1e-2 && (a - 0.7929).abs() < 1e-3 && (b - 2.4259).abs() < 1e-2);
    /// assert!((model.report().unwrap().log_likelihood - -9582.43).abs() < 0.01);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NotIdentifiable`] when nobody repurchased or there is a
    /// single customer; [`Error::FitFailed`] when the optimiser does not
    /// converge; [`Error::InvalidModelInput`] for impossible rows.
    pub fn fit(summary: &PurchaseSummary) -> Result<BetaGeo> {
        BetaGeo::fit_with(summary, &FitOptions::default())
    }

    /// [`BetaGeo::fit`] with options.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::{BetaGeo, FitOptions};
    /// let model = BetaGeo::fit_with(&summary, &FitOptions::new().max_iterations(200))?;
    /// assert!(model.report().unwrap().converged);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeo::fit`], plus [`Error::InvalidArgument`] for bad options.
    pub fn fit_with(summary: &PurchaseSummary, options: &FitOptions) -> Result<BetaGeo> {
        let model =
            summary.naming(BetaGeo::fit_columns(summary.frequency(), summary.recency(), summary.age(), options))?;
        Ok(model.in_unit(summary.periods().unit()))
    }

    /// Fits the model to columns `x`, `t_x`, `T`.
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, FitOptions};
    /// let truth = BetaGeo::new(0.5, 5.0, 0.8, 2.5)?;
    /// let ages: Vec<f64> = (0..3000).map(|i| 20.0 + f64::from(i % 20)).collect();
    /// let sim = truth.simulate(&ages, 42)?;
    /// let model = BetaGeo::fit_columns(sim.frequency.view(), sim.recency.view(), sim.age.view(), &FitOptions::default())?;
    /// assert!((model.parameters().0 - 0.5).abs() < 0.2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeo::fit_with`].
    pub fn fit_columns(
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
        options: &FitOptions,
    ) -> Result<BetaGeo> {
        BetaGeo::fit_variant(BetaGeoVariant::Classic, frequency, recency, age, options)
    }

    /// Fits MBG/NBD to a summary (see [`BetaGeo::fit`]).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::{BetaGeo, BetaGeoVariant, FitOptions};
    /// let model = BetaGeo::fit_modified(&summary, &FitOptions::default())?;
    /// assert_eq!(model.variant(), BetaGeoVariant::Modified);
    /// assert!((model.report().unwrap().log_likelihood - -9582.1).abs() < 0.5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeo::fit`].
    pub fn fit_modified(summary: &PurchaseSummary, options: &FitOptions) -> Result<BetaGeo> {
        let (x, t_x, age) = (summary.frequency(), summary.recency(), summary.age());
        let model = summary.naming(BetaGeo::fit_variant(BetaGeoVariant::Modified, x, t_x, age, options))?;
        Ok(model.in_unit(summary.periods().unit()))
    }

    /// Fits either variant to columns `x`, `t_x`, `T`.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::{BetaGeo, BetaGeoVariant, FitOptions};
    /// let (x, t_x, age) = (summary.frequency(), summary.recency(), summary.age());
    /// let model = BetaGeo::fit_variant(BetaGeoVariant::Classic, x, t_x, age, &FitOptions::default())?;
    /// assert!((model.parameters().0 - 0.2426).abs() < 1e-3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeo::fit_with`].
    pub fn fit_variant(
        variant: BetaGeoVariant,
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
        options: &FitOptions,
    ) -> Result<BetaGeo> {
        let rows = data::group(variant.name(), frequency, recency, age)?;
        let warm = fit::warm_start_sample(options, [frequency, recency, age])
            .and_then(|[x, t_x, t]| BetaGeo::fit_variant(variant, x.view(), t_x.view(), t.view(), options).ok())
            .map(|m| [m.r, m.alpha, m.a, m.b]);
        BetaGeo::fit_rows(variant, &rows, warm, options)
    }

    /// Fits either variant to a [`PurchaseHistogram`] of distinct
    /// (x, t_x, T) rows and their customer counts: the same likelihood as
    /// the columns it counts, so the same optimum (to the fit's tolerance;
    /// a fit from columns of more than 80,000 customers starts from a
    /// sample's fit, one from a histogram from the default starts).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::{BetaGeo, BetaGeoVariant, FitOptions, PurchaseHistogram};
    /// let histogram = PurchaseHistogram::from_columns(summary.frequency(), summary.recency(), summary.age())?;
    /// let model = BetaGeo::fit_histogram(BetaGeoVariant::Classic, &histogram, &FitOptions::default())?;
    /// assert!((model.parameters().0 - 0.2426).abs() < 1e-3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeo::fit_with`].
    pub fn fit_histogram(
        variant: BetaGeoVariant,
        histogram: &PurchaseHistogram,
        options: &FitOptions,
    ) -> Result<BetaGeo> {
        BetaGeo::fit_rows(variant, &histogram.rows, None, options)
    }

    /// The fit to grouped rows, from `warm` first when given.
    fn fit_rows(
        variant: BetaGeoVariant,
        rows: &RepeatRows,
        warm: Option<[f64; 4]>,
        options: &FitOptions,
    ) -> Result<BetaGeo> {
        let model_name = variant.name();
        let mean_t = rows.t.iter().zip(&rows.weight).map(|(t, w)| t * w).sum::<f64>() / rows.customers;
        let evaluator = Evaluator::new(variant, rows);
        let point = |p: &[f64]| [p[0], p[1], p[2], p[3]];
        let neg_ll = |p: &[f64]| -evaluator.log_likelihood(point(p));
        let neg_gradient = |p: &[f64]| -> Vec<f64> { evaluator.gradient(point(p)).iter().map(|g| -g).collect() };
        let neg_hessian = |p: &[f64]| -> Vec<f64> { evaluator.hessian(point(p)).iter().map(|h| -h).collect() };
        let (ones, scaled) = ([1.0; 4], [1.0, mean_t.max(1e-3), 1.0, 1.0]);
        let mut starts: Vec<&[f64]> = vec![&ones, &scaled];
        if let Some(warm) = &warm {
            starts.insert(0, warm);
        }
        let report = fit::maximise_with_gradient(
            model_name,
            &["r", "alpha", "a", "b"],
            &neg_ll,
            Some(&neg_gradient),
            Some(&neg_hessian),
            &starts,
            rows.customers,
            options,
        )?;
        let p = &report.parameters;
        let mut model = BetaGeo::with_variant(variant, p[0], p[1], p[2], p[3])?;
        model.report = Some(FitReport { age_zero: rows.age_zero, ..report });
        Ok(model)
    }

    /// The parameters `(r, alpha, a, b)`.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// let (r, alpha, a, b) = model.parameters();
    /// assert!(r > 0.0 && alpha > 0.0 && a > 0.0 && b > 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parameters(&self) -> (f64, f64, f64, f64) {
        (self.r, self.alpha, self.a, self.b)
    }

    /// The fit report, when the model was fitted.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// assert!(model.report().is_none()); // built by hand, not fitted
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn report(&self) -> Option<&FitReport> {
        self.report.as_ref()
    }

    /// The time unit of the summary the model was fitted on (`None` when
    /// built from parameters or fitted on bare columns): the unit of its
    /// ages, recencies and horizons, which [`Clv`](crate::clv::Clv) uses
    /// to convert calendar spans and to refuse a summary in another unit.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// use customer_lifecycle::clv::BetaGeo;
    /// assert_eq!(BetaGeo::fit(&summary)?.time_unit(), Some(TimeUnit::Week));
    /// assert_eq!(BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?.time_unit(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn time_unit(&self) -> Option<TimeUnit> {
        self.time_unit
    }

    /// The same model, its ages and horizons declared in `unit` (for a
    /// model built from published parameters).
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// use customer_lifecycle::clv::BetaGeo;
    /// assert_eq!(BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?.in_unit(TimeUnit::Week).time_unit(), Some(TimeUnit::Week));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn in_unit(mut self, unit: TimeUnit) -> BetaGeo {
        self.time_unit = Some(unit);
        self
    }

    /// One customer's log-likelihood.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// assert!(model.log_likelihood(2.0, 30.43, 38.86)? < 0.0);
    /// assert!(model.log_likelihood(3.0, 40.0, 38.86).is_err()); // recency after the end
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidModelInput`] for an impossible row.
    pub fn log_likelihood(&self, x: f64, t_x: f64, age: f64) -> Result<f64> {
        data::check_row(self.variant.name(), 0, x, t_x, age)?;
        if age == 0.0 {
            return Ok(0.0); // first purchase at the end: likelihood 1 (not 1 ± rounding)
        }
        Ok(row_log_likelihood(self.variant, self.r, self.alpha, self.a, self.b, x, t_x, age))
    }

    /// P(any further purchase) after the observation: the probability the
    /// customer ever buys again. BG/NBD and MBG/NBD customers drop out only
    /// just after a purchase (or, MBG/NBD, at the first), so one still alive
    /// buys again: this is P(alive).
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// assert_eq!(model.probability_any_purchase(2.0, 30.0, 39.0)?, model.probability_alive(2.0, 30.0, 39.0)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeo::probability_alive`].
    pub fn probability_any_purchase(&self, x: f64, t_x: f64, age: f64) -> Result<f64> {
        self.probability_alive(x, t_x, age)
    }

    /// P(alive) at the end of the observation, given (x, t_x, T).
    ///
    /// Customers with no repeat purchase have P(alive) = 1 under BG/NBD: they
    /// cannot have dropped out, since drop-out happens only after a purchase.
    /// MBG/NBD gives them 1 / (1 + a/b ((α+T)/α)^r).
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// assert!((model.probability_alive(26.0, 30.857, 31.0)? - 0.9689).abs() < 1e-4);
    /// assert_eq!(model.probability_alive(0.0, 0.0, 31.0)?, 1.0); // no repeat purchase: cannot have dropped out
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidModelInput`] for an impossible row.
    pub fn probability_alive(&self, x: f64, t_x: f64, age: f64) -> Result<f64> {
        data::check_row(self.variant.name(), 0, x, t_x, age)?;
        Ok(self.p_alive_unchecked(x, t_x, age))
    }

    fn p_alive_unchecked(&self, x: f64, t_x: f64, age: f64) -> f64 {
        // 1 / (1 + a/(b+x-1) ((α+T)/(α+t_x))^(r+x)) for BG/NBD (1 when x = 0),
        // 1 / (1 + a/(b+x) ((α+T)/(α+t_x))^(r+x)) for MBG/NBD; in logs.
        let shift = match self.variant {
            BetaGeoVariant::Classic if x == 0.0 => return 1.0,
            BetaGeoVariant::Classic => -1.0,
            BetaGeoVariant::Modified => 0.0,
        };
        // Two logarithms: of the ratios, not of each term.
        let log_odds =
            (self.a / (self.b + (x + shift))).ln() + (self.r + x) * ((self.alpha + age) / (self.alpha + t_x)).ln();
        1.0 / (1.0 + log_odds.exp())
    }

    /// Expected number of purchases of a new customer in a period of length `t`: E[X(t)].
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// for (t, published) in [(1.0, 0.0532), (3.0, 0.1506), (32.0, 1.0437), (78.0, 1.8580)] {
    ///     assert!((model.expected_purchases_new_customer(t)? - published).abs() < 1e-4);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for negative or non-finite `t`, or when
    /// neither the closed form nor its integral gives a finite value.
    pub fn expected_purchases_new_customer(&self, t: f64) -> Result<f64> {
        check_horizon(t)?;
        let (r, alpha, a, b) = self.parameters();
        // A new customer is one alive at time 0 with no purchase yet (under
        // MBG/NBD alive with probability b/(a+b), drop-out then p ~ Beta(a, b+1)).
        let value = match self.variant {
            BetaGeoVariant::Classic => purchases_if_alive(r, t / alpha, a, b)?,
            BetaGeoVariant::Modified => b / (a + b) * purchases_if_alive(r, t / alpha, a, b + 1.0)?,
        };
        finite(value, "E[X(t)]")
    }

    /// Expected purchases in the next `t` of a customer with (x, t_x, T).
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// assert!((model.conditional_expected_purchases(39.0, 2.0, 30.43, 38.86)? - 1.226).abs() < 1e-3);
    /// assert!((model.conditional_expected_purchases(52.0, 26.0, 30.857, 31.0)? - 25.757).abs() < 1e-3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeo::expected_purchases_new_customer`], plus
    /// [`Error::InvalidModelInput`] for an impossible row.
    pub fn conditional_expected_purchases(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64> {
        check_horizon(t)?;
        data::check_row(self.variant.name(), 0, x, t_x, age)?;
        let numerator = self.expected_if_alive(t, x, age)?;
        finite(numerator * self.p_alive_unchecked(x, t_x, age), "conditional expected purchases")
    }

    /// Expected purchases in the next `t` of a customer with `x` repeat
    /// purchases and age `age`, given that the customer is alive:
    /// [`BetaGeo::conditional_expected_purchases`] is P(alive) times this,
    /// which does not depend on the recency.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// let alive = model.probability_alive(2.0, 30.43, 38.86)?;
    /// let if_alive = model.expected_purchases_if_alive(39.0, 2.0, 38.86)?;
    /// assert!((alive * if_alive - model.conditional_expected_purchases(39.0, 2.0, 30.43, 38.86)?).abs() < 1e-12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeo::conditional_expected_purchases`].
    pub fn expected_purchases_if_alive(&self, t: f64, x: f64, age: f64) -> Result<f64> {
        check_horizon(t)?;
        data::check_row(self.variant.name(), 0, x, if x == 0.0 { 0.0 } else { age }, age)?;
        self.expected_if_alive(t, x, age)
    }

    /// [`BetaGeo::expected_purchases_if_alive`] at each of `horizons`, for
    /// one x and T, into `out`: the hypergeometric series of the horizons
    /// share their coefficients (they depend on x alone), so a CLV's
    /// discounted sum over many steps costs a fraction of one call per
    /// step. Equal to the one-by-one values to rounding.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// let mut out = Vec::new();
    /// model.expected_purchases_if_alive_at(&[13.0, 26.0, 39.0], 2.0, 38.86, &mut out)?;
    /// for (t, v) in [13.0, 26.0, 39.0].iter().zip(&out) {
    ///     assert!((v - model.expected_purchases_if_alive(*t, 2.0, 38.86)?).abs() < 1e-12);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeo::expected_purchases_if_alive`], for the first horizon
    /// that fails.
    pub fn expected_purchases_if_alive_at(&self, horizons: &[f64], x: f64, age: f64, out: &mut Vec<f64>) -> Result<()> {
        out.clear();
        for &t in horizons {
            check_horizon(t)?;
        }
        data::check_row(self.variant.name(), 0, x, if x == 0.0 { 0.0 } else { age }, age)?;
        let (r, alpha, a, b) = self.parameters();
        let m = if self.variant == BetaGeoVariant::Modified { 1.0 } else { 0.0 };
        let (k, b2) = (r + x, b + x + m);
        let us: Vec<f64> = horizons.iter().map(|t| t / (alpha + age)).collect();
        if (a - 1.0).abs() <= 1e-3 {
            for &u in &us {
                out.push(purchases_if_alive(k, u, a, b2)?);
            }
            return Ok(());
        }
        let zs: Vec<f64> = us.iter().map(|u| u / (1.0 + u)).collect();
        let mut series = Vec::with_capacity(zs.len());
        scaled_hyp2f1_many(k, b2, a + b2 - 1.0, &zs, &mut series);
        for (&u, s) in us.iter().zip(series) {
            let by_series = s.and_then(|(scaled, loss)| {
                let value = (a + b2 - 1.0) / (a - 1.0) * (1.0 - scaled);
                closed_form_keeps_digits(u, b2, scaled, loss, value).then_some(value)
            });
            out.push(match by_series {
                _ if u == 0.0 => 0.0,
                Some(v) => v,
                None => purchases_if_alive(k, u, a, b2)?,
            });
        }
        Ok(())
    }

    /// The conditional expectation without its P(alive) factor: a function
    /// of x and T only.
    fn expected_if_alive(&self, t: f64, x: f64, age: f64) -> Result<f64> {
        let (r, alpha, a, b) = self.parameters();
        let m = if self.variant == BetaGeoVariant::Modified { 1.0 } else { 0.0 };
        purchases_if_alive(r + x, t / (alpha + age), a, b + x + m)
    }

    /// Conditional expected purchases in the next `t` for columns of x,
    /// t_x and T. The expectation is P(alive) times a part that depends on
    /// x and T alone (its hypergeometric series is almost all the cost), so
    /// that part is computed once per distinct (x, T): customers whose ages
    /// come from calendar days share it.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    /// use customer_lifecycle::ndarray::array;
    ///
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// let (x, t_x, age) = (array![2.0, 2.0, 0.0], array![30.43, 10.0, 0.0], array![38.86, 38.86, 38.86]);
    /// let expected = model.conditional_expected_purchases_columns(39.0, x.view(), t_x.view(), age.view())?;
    /// assert!((expected[0] - model.conditional_expected_purchases(39.0, 2.0, 30.43, 38.86)?).abs() < 1e-15);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeo::conditional_expected_purchases`] (the row is named),
    /// and columns of different lengths.
    pub fn conditional_expected_purchases_columns(
        &self,
        t: f64,
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>> {
        check_horizon(t)?;
        let name = self.variant.name();
        type Shared = std::collections::HashMap<(u64, u64), f64, crate::math::hash::WordHasher>;
        let check = |i, x, t_x, big_t| data::check_row(name, i, x, t_x, big_t);
        let state = || Shared::with_hasher(crate::math::hash::WordHasher);
        data::predict_columns_with(name, [frequency, recency, age], check, state, |shared, x, t_x, big_t| {
            let key = (x.to_bits(), big_t.to_bits());
            let numerator = match shared.get(&key) {
                Some(&v) => v,
                None => {
                    let v = self.expected_if_alive(t, x, big_t)?;
                    shared.insert(key, v);
                    v
                }
            };
            finite(numerator * self.p_alive_unchecked(x, t_x, big_t), "conditional expected purchases")
        })
    }

    /// P(alive) for columns of x, t_x and T.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// use customer_lifecycle::ndarray::array;
    /// let alive = model.probability_alive_columns(array![0.0, 26.0].view(), array![0.0, 30.857].view(), array![31.0, 31.0].view())?;
    /// assert_eq!(alive[0], 1.0);
    /// assert!((alive[1] - 0.9689).abs() < 1e-4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidModelInput`] naming the first impossible row, and
    /// columns of different lengths.
    pub fn probability_alive_columns(
        &self,
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>> {
        let name = self.variant.name();
        let check = |i, x, t_x, t| data::check_row(name, i, x, t_x, t);
        data::predict_columns(name, [frequency, recency, age], check, |x, t_x, t| Ok(self.p_alive_unchecked(x, t_x, t)))
    }

    /// P(alive) a time `t` after the end of the observation, with no
    /// information about that interval: P(alive now) times the posterior
    /// chance of surviving the purchases made in it,
    /// ((α+T)/(α+T+t))^(r+x) · ₂F₁(r+x, b+x+m; a+b+x+m; t/(α+T+t)), with
    /// m = 0 for BG/NBD and 1 for MBG/NBD.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// let now = model.probability_alive(2.0, 30.43, 38.86)?;
    /// let in_a_year = model.probability_alive_in(52.0, 2.0, 30.43, 38.86)?;
    /// assert!(in_a_year < now);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeo::conditional_expected_purchases`].
    pub fn probability_alive_in(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64> {
        check_horizon(t)?;
        data::check_row(self.variant.name(), 0, x, t_x, age)?;
        let (r, alpha, a, b) = self.parameters();
        let m = if self.variant == BetaGeoVariant::Modified { 1.0 } else { 0.0 };
        let survive = survival_if_alive(r + x, t / (alpha + age), a, b + x + m)?;
        finite(self.p_alive_unchecked(x, t_x, age) * survive, "future P(alive)")
    }

    /// Probability that a customer with (x, t_x, T) makes no purchase in the
    /// next `t`: the customer is dead, or alive and makes none. Exact for both
    /// variants, since drop-out happens only at a purchase (or at time zero):
    /// (1 − P(alive)) + P(alive) · ((α+T)/(α+T+t))^(r+x).
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// let none = model.probability_no_purchase(13.0, 2.0, 30.43, 38.86)?;
    /// assert!(none > 0.0 && none < 1.0);
    /// assert_eq!(model.probability_no_purchase(0.0, 2.0, 30.43, 38.86)?, 1.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeo::conditional_expected_purchases`].
    pub fn probability_no_purchase(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64> {
        check_horizon(t)?;
        data::check_row(self.variant.name(), 0, x, t_x, age)?;
        let alive = self.p_alive_unchecked(x, t_x, age);
        let none_if_alive = ((self.r + x) * ((self.alpha + age).ln() - (self.alpha + age + t).ln())).exp();
        Ok(1.0 - alive + alive * none_if_alive)
    }

    /// P(X(t) = n): probability that a new customer makes exactly `n`
    /// repeat purchases in a period of length `t`. With m = 0 for BG/NBD
    /// (Fader, Hardie & Lee 2005, eq. 8) and m = 1 for MBG/NBD (which may
    /// drop out at time zero):
    /// B(a, b+n+m)/B(a, b) · NBD(n) + [n+m > 0] B(a+1, b+n+m−1)/B(a, b) · (1 − Σ_{j<n} NBD(j)),
    /// the first term alive after the n purchases, the second dropped out
    /// right after the n-th (or at the start).
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// let total: f64 = (0..200).map(|n| model.probability_of_purchases(39.0, n).unwrap()).sum();
    /// assert!((total - 1.0).abs() < 1e-9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad horizon.
    pub fn probability_of_purchases(&self, t: f64, n: u32) -> Result<f64> {
        check_horizon(t)?;
        let (r, alpha, a, b) = self.parameters();
        let m = if self.variant == BetaGeoVariant::Modified { 1.0 } else { 0.0 };
        let x = f64::from(n);
        let ln_p = (alpha / (alpha + t)).ln();
        let ln_q = (t / (alpha + t)).ln();
        // ln of Γ(r+j)/(Γ(r) j!) (α/(α+t))^r (t/(α+t))^j: the NBD probability of j.
        let ln_nbd = |j: f64| {
            ln_gamma(r + j) - ln_gamma(r) - ln_gamma(j + 1.0) + r * ln_p + if j > 0.0 { j * ln_q } else { 0.0 }
        };
        let ln_beta = |p: f64, q: f64| ln_gamma(p) + ln_gamma(q) - ln_gamma(p + q);
        let alive_part = (ln_beta(a, b + x + m) - ln_beta(a, b) + ln_nbd(x)).exp();
        if n == 0 && m == 0.0 {
            return finite(alive_part, "P(X(t) = 0)");
        }
        let below: f64 = (0..n).map(|j| ln_nbd(f64::from(j)).exp()).sum();
        let dead_part = (ln_beta(a + 1.0, b + x + m - 1.0) - ln_beta(a, b)).exp() * (1.0 - below).max(0.0);
        finite(alive_part + dead_part, "P(X(t) = n)")
    }

    /// P(X(T, T + t] = k | x, t_x, T): the probability that the customer
    /// makes exactly `k` purchases in the next `t`. A customer gone buys
    /// nothing; one alive (probability P(alive)) continues as a new BG/NBD
    /// customer would whose λ and p follow their distribution given the
    /// history — Gamma(r+x, α+T) and Beta(a, b+x) (b+x+1 under MBG/NBD,
    /// which also survived the first chance to drop out) — so this is
    /// (1 − P(alive)) [k = 0] + P(alive) P(X(t) = k) at (r+x, α+T, a, b+x(+1)),
    /// with BG/NBD's P(X(t) = k). The probabilities sum to 1 and their mean
    /// is [`BetaGeo::conditional_expected_purchases`].
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// let p: Vec<f64> = (0..200).map(|k| model.conditional_probability_of_purchases(52.0, k, 2.0, 30.0, 39.0).unwrap()).collect();
    /// assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    /// let mean: f64 = p.iter().enumerate().map(|(k, p)| k as f64 * p).sum();
    /// assert!((mean - model.conditional_expected_purchases(52.0, 2.0, 30.0, 39.0)?).abs() < 1e-9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeo::conditional_expected_purchases`].
    pub fn conditional_probability_of_purchases(&self, t: f64, k: u32, x: f64, t_x: f64, age: f64) -> Result<f64> {
        check_horizon(t)?;
        data::check_row(self.variant.name(), 0, x, t_x, age)?;
        let alive = self.p_alive_unchecked(x, t_x, age);
        let survived = if self.variant == BetaGeoVariant::Modified { 1.0 } else { 0.0 };
        let ahead = BetaGeo::new(self.r + x, self.alpha + age, self.a, self.b + x + survived)?;
        let gone = if k == 0 { 1.0 - alive } else { 0.0 };
        Ok((gone + alive * ahead.probability_of_purchases(t, k)?).clamp(0.0, 1.0))
    }

    /// Delta-method standard error of any prediction of this fitted model,
    /// given as a function of the model: the prediction's gradient with
    /// respect to (r, α, a, b), by central differences, against the fit's
    /// covariance.
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, FitOptions};
    /// use customer_lifecycle::ndarray::array;
    ///
    /// let model = BetaGeo::fit_columns(
    ///     array![0.0, 1.0, 2.0, 0.0, 5.0, 3.0, 1.0, 0.0].view(),
    ///     array![0.0, 5.0, 20.0, 0.0, 30.0, 12.0, 2.0, 0.0].view(),
    ///     array![30.0, 31.0, 32.0, 33.0, 34.0, 35.0, 36.0, 37.0].view(),
    ///     &FitOptions::default(),
    /// )?;
    /// let se = model.standard_error(|m| m.probability_alive(2.0, 20.0, 32.0))?;
    /// assert!(se > 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the model was not fitted (no
    /// covariance) or the prediction fails near the estimates.
    pub fn standard_error(&self, prediction: impl Fn(&BetaGeo) -> Result<f64>) -> Result<f64> {
        let variant = self.variant;
        fit::standard_error_of(
            self.report.as_ref(),
            |p| BetaGeo::with_variant(variant, p[0], p[1], p[2], p[3]),
            prediction,
        )
    }

    /// P(alive) for every customer of a summary, in the summary's order.
    ///
    /// ```
    /// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::BetaGeo;
    ///
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// let alive = model.probability_alive_all(&summary)?;
    /// assert_eq!(alive.len(), summary.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeo::probability_alive_columns`] (a summary's rows are always valid).
    pub fn probability_alive_all(&self, summary: &PurchaseSummary) -> Result<CustomerTable> {
        summary.keyed("p_alive", self.probability_alive_columns(summary.frequency(), summary.recency(), summary.age()))
    }

    /// Conditional expected purchases in the next `t` for every customer of a summary.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::BetaGeo;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// let next_year = model.conditional_expected_purchases_all(52.0, &summary)?;
    /// assert_eq!(next_year.len(), summary.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeo::conditional_expected_purchases`].
    pub fn conditional_expected_purchases_all(&self, t: f64, summary: &PurchaseSummary) -> Result<CustomerTable> {
        summary.keyed(
            "expected_purchases",
            self.conditional_expected_purchases_columns(t, summary.frequency(), summary.recency(), summary.age()),
        )
    }
}

fn check_horizon(value: f64) -> Result<()> {
    super::check_non_negative("horizon", value)
}

/// The most digits the closed forms may lose to cancellation before the
/// integrals take over: four (a loss factor of 10⁴).
const MAX_SERIES_LOSS: f64 = 1e4;

/// Expected purchases in a span of a customer alive at its start:
/// E[(1 − (1 + p·u)^−k) / p] over p ~ Beta(a, b') (the drop-out chance),
/// where k is the rate's posterior shape (r + x) and u the span over the
/// rate's posterior scale (t / (α + T)). The closed form is
/// (a+b'−1)/(a−1) · [1 − (1 − z)^k ₂F₁(k, b'; a+b'−1; z)], z = u/(1+u);
/// where that does not keep ten digits (see `closed_form_keeps_digits`:
/// its series cancels, as for r in the hundreds; 1 − S cancels, over short
/// horizons or at tiny rates; z near 1) or a is near 1 (0 × ∞), the power
/// series in u where it keeps its digits, and otherwise tanh-sinh
/// quadrature. Non-negative and finite, or a typed error.
fn purchases_if_alive(k: f64, u: f64, a: f64, b2: f64) -> Result<f64> {
    if u == 0.0 {
        return Ok(0.0);
    }
    let z = u / (1.0 + u);
    if (a - 1.0).abs() > 1e-3 {
        if let Some((scaled, loss)) = scaled_hyp2f1_with_loss(k, b2, a + b2 - 1.0, z) {
            let value = (a + b2 - 1.0) / (a - 1.0) * (1.0 - scaled);
            if closed_form_keeps_digits(u, b2, scaled, loss, value) {
                return Ok(value);
            }
        }
    }
    if let Some(value) = purchases_if_alive_short(k, u, a, b2) {
        return Ok(value);
    }
    // ∫ p^(a−2) (1−p)^(b'−1) (1 − (1+pu)^−k) dp / B(a, b'), in logs.
    let ln_b = ln_beta(a, b2);
    let g = |p: f64, q: f64| {
        let gained = -(-k * (p * u).ln_1p()).exp_m1();
        (a - 2.0) * p.ln() + (b2 - 1.0) * q.ln() + gained.ln() - ln_b
    };
    by_quadrature(&g, k * u, a, b2, "expected purchases")
}

/// The closed form (a+b'−1)/(a−1) · (1 − S) of [`purchases_if_alive`]
/// keeps its digits: the series of S lost few (`loss`), and 1 − S does
/// not cancel more than six (|1 − S| below 1e-6 |S| leaves it with a
/// relative error of 1e-10 or more: tiny rates r + x, short horizons; for
/// u above 10³, where the series' tail is summed less closely, 1e-3 |S|);
/// and z = u/(1+u) is not within 1e-6 of 1 (its rounding, relative
/// 1e-16/(1 − z) in 1 − z, is raised to the power k); and b' is at most
/// 10⁶ (beyond, the series' coefficients in b' and a + b' − 1 cancel to
/// 1e-8 at b' = 1e8).
fn closed_form_keeps_digits(u: f64, b2: f64, scaled: f64, loss: f64, value: f64) -> bool {
    // Near z = 1 the series' tail is summed to about 1e-13 of S, not 1e-16.
    let cancels = if u > 1e3 { 1e-3 } else { 1e-6 };
    u < 1e6
        && b2 <= 1e6
        && loss <= MAX_SERIES_LOSS
        && (1.0 - scaled).abs() >= cancels * scaled.abs()
        && value.is_finite()
        && value >= 0.0
}

/// [`purchases_if_alive`] by its power series in u, where that keeps its
/// digits: E[(1 − (1 + p·u)^−k) / p] over p ~ Beta(a, b') is
/// Σₙ (−1)ⁿ⁺¹ (k)ₙ/n! · (a)ₙ₋₁/(a+b')ₙ₋₁ · uⁿ (for u < 1). Over short
/// horizons (k·u small), or when b' is so large that p is tiny, its terms
/// alternate and fall fast, where the closed form's 1 − (1 − z)^k ₂F₁
/// cancels (all of its digits as u → 0); it has no (a+b'−1)/(a−1), 0 × ∞ at
/// a = 1. `None` when u ≥ ½, or a term exceeds a thousand times the sum
/// (the digits it would lose), or it has not converged in 2,000 terms.
fn purchases_if_alive_short(k: f64, u: f64, a: f64, b2: f64) -> Option<f64> {
    if u.is_nan() || u >= 0.5 {
        return None;
    }
    // term₁ = k·u; termₙ₊₁ = −termₙ · (k+n)·u·(a+n−1) / ((n+1)·(a+b'+n−1)).
    let mut term = k * u;
    let (mut sum, mut largest) = (term, term.abs());
    let mut n = 1.0;
    while term.abs() > 1e-17 * sum.abs() {
        if n >= 2000.0 || largest > 1e3 * sum.abs() {
            return None;
        }
        term *= -(k + n) * u * (a + n - 1.0) / ((n + 1.0) * (a + b2 + n - 1.0));
        sum += term;
        largest = largest.max(term.abs());
        n += 1.0;
    }
    (largest <= 1e3 * sum.abs() && sum.is_finite() && sum >= 0.0).then_some(sum)
}

/// The chance that a customer alive at the start of a span is still alive
/// at its end: E[(1 + p·u)^−k] over p ~ Beta(a, b'), in closed form
/// (1 − z)^k ₂F₁(k, b'; a+b'; z), or by quadrature where that cancels.
fn survival_if_alive(k: f64, u: f64, a: f64, b2: f64) -> Result<f64> {
    if u == 0.0 {
        return Ok(1.0);
    }
    let z = u / (1.0 + u);
    if let Some((value, loss)) = scaled_hyp2f1_with_loss(k, b2, a + b2, z) {
        if loss <= MAX_SERIES_LOSS && (0.0..=1.0).contains(&value) {
            return Ok(value);
        }
    }
    let ln_b = ln_beta(a, b2);
    let g = |p: f64, q: f64| (a - 1.0) * p.ln() + (b2 - 1.0) * q.ln() - k * (p * u).ln_1p() - ln_b;
    Ok(by_quadrature(&g, k * u, a, b2, "future P(alive)")?.min(1.0))
}

/// One piece of an integral: the log-integrand and its interval.
type Piece<'a> = (&'a dyn Fn(f64) -> f64, f64, f64);

/// ∫₀¹ e^(g(p, 1 − p)) dp by tanh-sinh quadrature, or a typed error; g
/// takes p and 1 − p, each to full precision near its own end. The
/// integrands behave as p^(a−1) near 0 and (1 − p)^(b'−1) near 1 (the Beta
/// weight), singular when a or b' < 1: there the end piece is integrated
/// in s with p = c·s^(1/a) (or 1 − p = c·s^(1/b')), which takes the
/// singularity out. They change over p ≈ 1/(k·u) (`scale` = k·u), steeply
/// when the rate is high: [0, ½] is cut there and at tenfold steps, so
/// that each piece is smooth on its own scale; [½, 1] is integrated in 1 − p.
fn by_quadrature(g: &dyn Fn(f64, f64) -> f64, scale: f64, a: f64, b2: f64, what: &str) -> Result<f64> {
    let mut cuts = vec![0.0];
    let mut c = 1.0 / (1.0 + scale);
    while c < 0.5 {
        cuts.push(c);
        c *= 10.0;
    }
    cuts.push(0.5);
    // In p (or in q = 1 − p), over [lo, hi].
    let left = |p: f64| if p > 0.0 { g(p, 1.0 - p) } else { f64::NEG_INFINITY };
    let right = |q: f64| if q > 0.0 { g(1.0 - q, q) } else { f64::NEG_INFINITY };
    // The end pieces in s ∈ [0, 1]: p = c·s^(1/e), dp = (c/e)·s^(1/e − 1) ds.
    let first = cuts[1];
    let left_end = |s: f64| {
        if s <= 0.0 {
            return f64::NEG_INFINITY;
        }
        let p = first * s.powf(1.0 / a);
        g(p, 1.0 - p) + (first / a).ln() + (1.0 / a - 1.0) * s.ln()
    };
    let right_end = |s: f64| {
        if s <= 0.0 {
            return f64::NEG_INFINITY;
        }
        let q = 0.5 * s.powf(1.0 / b2);
        g(1.0 - q, q) + (0.5 / b2).ln() + (1.0 / b2 - 1.0) * s.ln()
    };
    let mut pieces: Vec<Piece<'_>> = Vec::with_capacity(cuts.len() + 1);
    for (i, w) in cuts.windows(2).enumerate() {
        pieces.push(if i == 0 && a < 1.0 { (&left_end, 0.0, 1.0) } else { (&left, w[0], w[1]) });
    }
    pieces.push(if b2 < 1.0 { (&right_end, 0.0, 1.0) } else { (&right, 0.0, 0.5) });
    let mut nodes = Vec::new();
    for (f, lo, hi) in pieces {
        nodes.extend(tanh_sinh_nodes(f, lo, hi).ok_or_else(|| Error::InvalidArgument {
            name: "BG/NBD parameters",
            reason: format!("the {what} integral did not converge for these parameters"),
        })?);
    }
    let value = ln_sum_of_nodes(&nodes).exp();
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::InvalidArgument {
            name: "BG/NBD parameters",
            reason: format!("the {what} integral is not finite for these parameters"),
        })
    }
}

fn finite(v: f64, what: &str) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::InvalidArgument { name: "BG/NBD parameters", reason: format!("{what} is not finite (a = 1?)") })
    }
}

/// One customer's log-likelihood, in the overflow-free form (Hardie's note
/// 027): the bracket (α+T)^-(r+x) + [x>0] a/(b+x-1) (α+t_x)^-(r+x) is
/// summed in logs. MBG/NBD: B(a, b+x+1)/B(a, b) and a/(b+x) for every x.
#[allow(clippy::too_many_arguments)]
fn row_log_likelihood(variant: BetaGeoVariant, r: f64, alpha: f64, a: f64, b: f64, x: f64, t_x: f64, t: f64) -> f64 {
    // r ln α − (r+x) ln(α+T) = −x ln α − (r+x) ln(1 + T/α): no cancellation
    // of two logarithms when T ≪ α.
    let a1 = ln_gamma(r + x) - ln_gamma(r) - x * alpha.ln();
    let a3 = -(r + x) * (t / alpha).ln_1p();
    if variant == BetaGeoVariant::Modified && x == 0.0 {
        // b/(a+b) (1+T/α)^−r + a/(a+b) = 1 − b/(a+b) (1 − (1+T/α)^−r): near 1
        // over short spans, so in ln_1p and expm1 rather than as the sum of
        // ln(b/(a+b)) and a bracket that cancel.
        return (b / (a + b) * a3.exp_m1()).ln_1p();
    }
    let (a2, a4) = match variant {
        BetaGeoVariant::Classic => (
            ln_beta_shift(a, b, x),
            if x > 0.0 { a.ln() - (b + (x - 1.0)).ln() - (r + x) * (t_x / alpha).ln_1p() } else { f64::NEG_INFINITY },
        ),
        BetaGeoVariant::Modified => {
            (ln_beta_shift(a, b, x + 1.0), a.ln() - (b + x).ln() - (r + x) * (t_x / alpha).ln_1p())
        }
    };
    a1 + a2 + log_add_exp(a3, a4)
}

/// The per-row quantities the log-likelihood, its gradient and its Hessian
/// share at one parameter point: ln(α+T), ln(α+t_x) (kept while α does not
/// change), the bracket ln(e^A3 + e^A4) and the share of its A4 term. A
/// Newton step evaluates all three at the same point, so each row costs two
/// logarithms (only when α moved), one exponential and one log1p per step
/// instead of three times that.
struct RowTerms {
    params: [f64; 4],
    alpha: f64,
    ln_t: Vec<f64>,
    ln_tx: Vec<f64>,
    bracket: Vec<f64>,
    share: Vec<f64>,
}

/// Log-likelihood, gradient and Hessian of the grouped rows, with the
/// shared per-row terms cached between calls at the same point.
pub(super) struct Evaluator<'a> {
    variant: BetaGeoVariant,
    rows: &'a RepeatRows,
    terms: std::cell::RefCell<RowTerms>,
}

impl<'a> Evaluator<'a> {
    pub(super) fn new(variant: BetaGeoVariant, rows: &'a RepeatRows) -> Evaluator<'a> {
        let n = rows.x.len();
        Evaluator {
            variant,
            rows,
            terms: std::cell::RefCell::new(RowTerms {
                params: [f64::NAN; 4],
                alpha: f64::NAN,
                ln_t: vec![0.0; n],
                ln_tx: vec![0.0; n],
                bracket: vec![0.0; n],
                share: vec![0.0; n],
            }),
        }
    }

    fn shift(&self) -> f64 {
        if self.variant == BetaGeoVariant::Modified { 1.0 } else { 0.0 }
    }

    /// The cached terms at `p` (computed when `p` differs from the last point).
    fn terms(&self, p: [f64; 4]) -> std::cell::Ref<'_, RowTerms> {
        {
            let mut t = self.terms.borrow_mut();
            if t.params != p {
                let [r, alpha, a, b] = p;
                let rows = self.rows;
                if t.alpha != alpha {
                    for i in 0..rows.x.len() {
                        t.ln_t[i] = (alpha + rows.t[i]).ln();
                        t.ln_tx[i] = (alpha + rows.t_x[i]).ln();
                    }
                    t.alpha = alpha;
                }
                let m = self.shift();
                let ln_a = a.ln();
                let mut current_x = f64::NAN;
                let mut ln_odds_base = 0.0;
                for i in 0..rows.x.len() {
                    let x = rows.x[i];
                    if x != current_x {
                        current_x = x;
                        ln_odds_base = ln_a - (b + x + m - 1.0).ln();
                    }
                    let a3 = -(r + x) * t.ln_t[i];
                    if x > 0.0 || self.variant == BetaGeoVariant::Modified {
                        let a4 = ln_odds_base - (r + x) * t.ln_tx[i];
                        let d = a4 - a3;
                        let e = (-d.abs()).exp();
                        // ln(1 + e) with e in (0, 1]: within an ulp of 1 of ln_1p, at a fraction of its cost.
                        t.bracket[i] = a3.max(a4) + (1.0 + e).ln();
                        t.share[i] = if d > 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
                    } else {
                        t.bracket[i] = a3;
                        t.share[i] = 0.0;
                    }
                }
                t.params = p;
            }
        }
        self.terms.borrow()
    }

    pub(super) fn log_likelihood(&self, p: [f64; 4]) -> f64 {
        let [r, alpha, a, b] = p;
        let terms = self.terms(p);
        let rows = self.rows;
        let m = self.shift();
        // Rows are sorted by x: the ln Γ terms, which depend on x alone, are
        // computed once per distinct x.
        let ln_alpha = alpha.ln();
        let mut sum = 0.0;
        let mut current_x = f64::NAN;
        let mut x_part = 0.0;
        for i in 0..rows.x.len() {
            let x = rows.x[i];
            if x != current_x {
                current_x = x;
                x_part = ln_gamma(r + x) - ln_gamma(r) + r * ln_alpha + ln_gamma(a + b) + ln_gamma(b + x + m)
                    - ln_gamma(b)
                    - ln_gamma(a + b + x + m);
            }
            sum += rows.weight[i] * (x_part + terms.bracket[i]);
        }
        sum
    }

    /// Gradient with respect to (r, α, a, b), the ψ terms once per distinct x.
    pub(super) fn gradient(&self, p: [f64; 4]) -> [f64; 4] {
        let [r, alpha, a, b] = p;
        let terms = self.terms(p);
        let rows = self.rows;
        let m = self.shift();
        let (ln_alpha, psi_r, psi_ab) = (alpha.ln(), digamma(r), digamma(a + b));
        let mut g = [0.0; 4];
        let mut current_x = f64::NAN;
        let (mut x_dr, mut x_da, mut x_db) = (0.0, 0.0, 0.0);
        for i in 0..rows.x.len() {
            let x = rows.x[i];
            if x != current_x {
                current_x = x;
                let psi_abx = digamma(a + b + x + m);
                x_dr = digamma(r + x) - psi_r + ln_alpha;
                x_da = psi_ab - psi_abx;
                x_db = psi_ab + digamma(b + x + m) - digamma(b) - psi_abx;
            }
            let w = rows.weight[i];
            let share = terms.share[i];
            let stay = 1.0 - share;
            g[0] += w * (x_dr - stay * terms.ln_t[i] - share * terms.ln_tx[i]);
            g[1] += w * (r / alpha - stay * (r + x) / (alpha + rows.t[i]) - share * (r + x) / (alpha + rows.t_x[i]));
            g[2] += w * (x_da + share / a);
            g[3] += w * x_db;
            if share > 0.0 {
                // (b + x + m − 1 is 0 for BG/NBD rows without repeats at b = 1, where the share is 0.)
                g[3] -= w * share / (b + x + m - 1.0);
            }
        }
        g
    }

    /// Hessian (row-major, order r, α, a, b). Per row, with L = ln(e^A3 + e^A4)
    /// and w the share of the A4 term:
    /// ∇²L = (1−w) ∇²A3 + w ∇²A4 + w(1−w) (∇A3 − ∇A4)(∇A3 − ∇A4)ᵀ.
    pub(super) fn hessian(&self, p: [f64; 4]) -> [f64; 16] {
        let [r, alpha, a, b] = p;
        let terms = self.terms(p);
        let rows = self.rows;
        let m = self.shift();
        let (tri_r, tri_ab) = (trigamma(r), trigamma(a + b));
        let mut h = [0.0; 16];
        let mut add = |i: usize, j: usize, v: f64| {
            h[i * 4 + j] += v;
            if i != j {
                h[j * 4 + i] += v;
            }
        };
        let mut current_x = f64::NAN;
        let (mut x_rr, mut x_aa, mut x_bb) = (0.0, 0.0, 0.0);
        for i in 0..rows.x.len() {
            let x = rows.x[i];
            if x != current_x {
                current_x = x;
                let tri_abx = trigamma(a + b + x + m);
                x_rr = trigamma(r + x) - tri_r;
                x_aa = tri_ab - tri_abx;
                x_bb = tri_ab + trigamma(b + x + m) - trigamma(b) - tri_abx;
            }
            let w = rows.weight[i];
            let u = r + x;
            let (at, atx) = (alpha + rows.t[i], alpha + rows.t_x[i]);
            // Terms of ln Γ and r ln α, which do not depend on the row's times.
            add(0, 0, w * x_rr);
            add(0, 1, w / alpha);
            add(1, 1, -w * r / (alpha * alpha));
            add(2, 2, w * x_aa);
            add(2, 3, w * x_aa);
            add(3, 3, w * x_bb);
            // The bracket.
            let has_a4 = x > 0.0 || self.variant == BetaGeoVariant::Modified;
            let share = terms.share[i];
            let stay = 1.0 - share;
            // ∇²A3: (r, α) −1/(α+T); (α, α) u/(α+T)². ∇²A4: the same with t_x, (a, a) −1/a², (b, b) 1/(b+x+m−1)².
            add(0, 1, -w * (stay / at + share / atx));
            add(1, 1, w * u * (stay / (at * at) + share / (atx * atx)));
            if has_a4 {
                let bx = b + x + m - 1.0;
                add(2, 2, -w * share / (a * a));
                add(3, 3, w * share / (bx * bx));
                let d = [-terms.ln_t[i] + terms.ln_tx[i], -u / at + u / atx, -1.0 / a, 1.0 / bx];
                let mix = w * share * stay;
                for p in 0..4 {
                    for q in p..4 {
                        add(p, q, mix * d[p] * d[q]);
                    }
                }
            }
        }
        h
    }
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // reference values quoted with all their digits
mod tests {
    use super::*;

    /// Rates of hundreds per period (r ≈ 100–340, α = 0.5): the closed
    /// form's series cancels there (it gave −469,010 expected purchases and
    /// a future P(alive) of −101,789); the integrals agree with mpmath at
    /// 60 digits (tests/fixtures/generate_bgnbd_extreme.py) to 1e-9.
    #[test]
    fn extreme_rates_match_mpmath() -> Result<()> {
        let cases = [
            ((100.0, 10.0 / 1.5, 0.8, 2.4), 24.80415139595497443, 0.010804780924345476123),
            ((340.0, 52.0 / 1.5, 0.8, 2.4), 52.606566416849895807, 0.0010817133525966969237),
            ((250.0, 1000.0 / 40.5, 1.5, 23.0), 44.147443821178711389, 0.00023161607847117905482),
            ((100.0, 10.0 / 1.5, 5.0, 10.0), 3.4999996819857650787, 1.9786826467603291962e-9),
            ((150.0, 2.0, 0.3, 0.9), 66.17684030721680337, 0.15544214995059809092),
        ];
        for ((k, u, a, b2), g, surv) in cases {
            let (got_g, got_s) = (purchases_if_alive(k, u, a, b2)?, survival_if_alive(k, u, a, b2)?);
            assert!((got_g - g).abs() <= 1e-9 * g, "G({k}, {u}, {a}, {b2}) = {got_g}, mpmath {g}");
            assert!((got_s - surv).abs() <= 1e-9 * surv, "S({k}, {u}, {a}, {b2}) = {got_s}, mpmath {surv}");
        }
        Ok(())
    }

    /// On a grid of high rates (r 100–340, α = 0.5) and drop-out shapes,
    /// both variants' expectations are finite and non-negative and their
    /// future P(alive) lies in 0..=1, or the call is a typed error (the
    /// closed forms gave −7,389 purchases and P(alive) 3e29 here).
    #[test]
    fn high_rates_give_numbers_in_range() -> Result<()> {
        let mut checked = 0;
        for r in [100.0, 170.0, 250.0, 340.0] {
            for (a, b) in [(0.8, 2.4), (1.5, 3.0), (0.3, 0.9), (5.0, 10.0), (2.0, 0.5), (1.0, 2.0)] {
                for model in [BetaGeo::new(r, 0.5, a, b)?, BetaGeo::modified(r, 0.5, a, b)?] {
                    for (x, t_x, age) in
                        [(0.0, 0.0, 1.0), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (5.0, 5.0, 10.0), (20.0, 30.0, 39.0)]
                    {
                        for t in [1.0, 10.0, 52.0, 1000.0] {
                            if let Ok(e) = model.conditional_expected_purchases(t, x, t_x, age) {
                                assert!(
                                    e.is_finite() && e >= 0.0,
                                    "r {r} a {a} b {b} ({x}, {t_x}, {age}) t {t}: E {e}"
                                );
                                checked += 1;
                            }
                            if let Ok(p) = model.probability_alive_in(t, x, t_x, age) {
                                assert!((0.0..=1.0).contains(&p), "r {r} a {a} b {b} ({x}, {t_x}, {age}) t {t}: P {p}");
                            }
                        }
                    }
                    let new = model.expected_purchases_new_customer(52.0)?;
                    assert!(new.is_finite() && new >= 0.0);
                }
            }
        }
        assert!(checked > 900, "most calls give a value ({checked})");
        Ok(())
    }

    /// Where the series is well conditioned, the integral gives the same
    /// values (1e-10 relative): the fallback is the same function.
    #[test]
    fn the_integrals_equal_the_closed_forms() -> Result<()> {
        for &(k, u, a, b2) in
            &[(0.25, 0.5, 0.79, 2.43), (2.2, 3.0, 0.79, 4.4), (5.0, 0.1, 2.5, 1.5), (1.0, 10.0, 0.5, 7.0)]
        {
            let series = purchases_if_alive(k, u, a, b2)?;
            let ln_b = ln_beta(a, b2);
            let g = |p: f64, q: f64| {
                (a - 2.0) * p.ln() + (b2 - 1.0) * q.ln() + (-(-k * (p * u).ln_1p()).exp_m1()).ln() - ln_b
            };
            let integral = by_quadrature(&g, k * u, a, b2, "test")?;
            assert!((series - integral).abs() <= 1e-10 * series, "{series} vs {integral}");
        }
        // At a = 1 the closed form is 0 × ∞; the integral gives the limit,
        // between its neighbours.
        let at_one = purchases_if_alive(0.5, 2.0, 1.0, 3.0)?;
        let (below, above) = (purchases_if_alive(0.5, 2.0, 0.99, 3.0)?, purchases_if_alive(0.5, 2.0, 1.01, 3.0)?);
        assert!(above < at_one && at_one < below, "{below} {at_one} {above}");
        Ok(())
    }

    fn published() -> BetaGeo {
        BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap()
    }

    /// The column functions (one series per distinct (x, T)) equal the
    /// per-customer ones, bit for bit, for both variants; a bad row is named.
    #[test]
    fn column_predictions_equal_the_per_customer_ones() {
        let n = 3_000;
        let x: Array1<f64> = (0..n).map(|i| f64::from(i % 7)).collect();
        let age: Array1<f64> = (0..n).map(|i| 10.0 + f64::from(i % 11) / 7.0).collect();
        let t_x: Array1<f64> =
            (0..n).map(|i| if i % 7 == 0 { 0.0 } else { age[i as usize] * f64::from(i % 5) / 5.0 }).collect();
        for model in [BetaGeo::new(0.24, 4.4, 0.79, 2.4).unwrap(), BetaGeo::modified(0.52, 6.2, 0.89, 1.6).unwrap()] {
            let expected =
                model.conditional_expected_purchases_columns(26.0, x.view(), t_x.view(), age.view()).unwrap();
            let alive = model.probability_alive_columns(x.view(), t_x.view(), age.view()).unwrap();
            for i in 0..n as usize {
                assert_eq!(expected[i], model.conditional_expected_purchases(26.0, x[i], t_x[i], age[i]).unwrap());
                assert_eq!(alive[i], model.probability_alive(x[i], t_x[i], age[i]).unwrap());
            }
            let mut bad = t_x.clone();
            bad[17] = age[17] + 1.0;
            let e = model.conditional_expected_purchases_columns(26.0, x.view(), bad.view(), age.view()).unwrap_err();
            assert!(matches!(e, Error::InvalidModelInput { row: 17, .. }), "{e}");
            let e = model.probability_alive_columns(x.view(), bad.view(), age.view()).unwrap_err();
            assert!(matches!(e, Error::InvalidModelInput { row: 17, .. }), "{e}");
            let short: Array1<f64> = t_x.iter().skip(1).copied().collect();
            assert!(model.probability_alive_columns(x.view(), short.view(), age.view()).is_err());
            assert!(model.conditional_expected_purchases_columns(26.0, x.view(), short.view(), age.view()).is_err());
        }
    }

    #[test]
    fn published_predictions() {
        let m = published();
        // DESIGN §6: E[X(t)] at t = 1, 3, 32, 78 weeks.
        for (t, expected) in [(1.0, 0.0532), (3.0, 0.1506), (32.0, 1.0437), (78.0, 1.8580)] {
            let got = m.expected_purchases_new_customer(t).unwrap();
            assert!((got - expected).abs() < 1e-3 * expected.max(1.0), "t={t}: {got} vs {expected}");
        }
        let got = m.conditional_expected_purchases(39.0, 2.0, 30.43, 38.86).unwrap();
        assert!((got - 1.226).abs() < 1e-3, "{got}");
        let got = m.conditional_expected_purchases(52.0, 26.0, 30.857, 31.0).unwrap();
        assert!((got - 25.757).abs() < 1e-3 * 25.757, "{got}");
        assert!((m.probability_alive(26.0, 30.857, 31.0).unwrap() - 0.9689).abs() < 1e-4);
        assert_eq!(m.probability_alive(0.0, 0.0, 31.0).unwrap(), 1.0);
    }

    #[test]
    fn modified_predictions_match_lifetimes() {
        // lifetimes 0.11.3 ModifiedBetaGeoFitter fitted on the CDNOW summary file.
        let m = BetaGeo::modified(
            0.524_837_725_567_663_7,
            6.182_988_479_133_971_5,
            0.891_356_280_931_142_2,
            1.614_000_025_672_143_8,
        )
        .unwrap();
        let e = m.conditional_expected_purchases(39.0, 2.0, 30.43, 38.86).unwrap();
        assert!((e - 1.262_670_778_713_953_3).abs() < 1e-9, "{e}");
        let p = m.probability_alive(0.0, 0.0, 38.86).unwrap();
        assert!((p - 0.389_716_44).abs() < 1e-7, "{p}");
        let e = m.expected_purchases_new_customer(39.0).unwrap();
        assert!((e - 1.182_283_795_288_273_9).abs() < 1e-9, "{e}");
    }

    #[test]
    fn purchase_count_distribution_sums_to_one_and_to_the_mean() {
        for m in [published(), BetaGeo::modified(0.525, 6.183, 0.891, 1.614).unwrap()] {
            for t in [1.0, 10.0, 39.0, 78.0] {
                let probs: Vec<f64> = (0..400).map(|n| m.probability_of_purchases(t, n).unwrap()).collect();
                let total: f64 = probs.iter().sum();
                let mean: f64 = probs.iter().enumerate().map(|(n, p)| n as f64 * p).sum();
                assert!((total - 1.0).abs() < 1e-9, "t={t}: {total}");
                let expected = m.expected_purchases_new_customer(t).unwrap();
                assert!((mean - expected).abs() < 1e-6, "t={t}: {mean} vs {expected}");
            }
        }
    }

    #[test]
    fn future_p_alive_matches_monte_carlo() {
        use rand::SeedableRng;
        use rand_distr::{Beta, Distribution};
        // Given alive now, p ~ Beta(a, b + x) (MBG: b + x + 1) and λ ~ Gamma(r+x, α+T);
        // surviving the purchases of the next t has chance E[((α+T)/(α+T+p t))^(r+x)].
        for model in [published(), BetaGeo::modified(0.525, 6.183, 0.891, 1.614).unwrap()] {
            let (r, alpha, a, b) = model.parameters();
            let (x, t_x, age, t) = (3.0, 20.0, 38.0, 26.0);
            let m = if model.variant() == BetaGeoVariant::Modified { 1.0 } else { 0.0 };
            let beta = Beta::new(a, b + x + m).unwrap();
            let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
            let n = 400_000;
            let mc: f64 = (0..n)
                .map(|_| {
                    let p: f64 = beta.sample(&mut rng);
                    ((alpha + age) / (alpha + age + p * t)).powf(r + x)
                })
                .sum::<f64>()
                / f64::from(n);
            let expected = model.probability_alive(x, t_x, age).unwrap() * mc;
            let got = model.probability_alive_in(t, x, t_x, age).unwrap();
            assert!((got - expected).abs() < 2e-3, "{got} vs {expected}");
            assert_eq!(
                model.probability_alive_in(0.0, x, t_x, age).unwrap(),
                model.probability_alive(x, t_x, age).unwrap()
            );
        }
    }

    #[test]
    fn no_purchase_probability() {
        let m = published();
        // Nobody can buy in no time; a dead customer never buys.
        assert!((m.probability_no_purchase(0.0, 2.0, 30.43, 38.86).unwrap() - 1.0).abs() < 1e-15);
        let p = m.probability_no_purchase(39.0, 2.0, 30.43, 38.86).unwrap();
        let alive = m.probability_alive(2.0, 30.43, 38.86).unwrap();
        assert!(p > 1.0 - alive && p < 1.0, "{p}");
        // It is also the likelihood ratio L(x, t_x, T + t) / L(x, t_x, T).
        let ratio =
            (m.log_likelihood(2.0, 30.43, 38.86 + 39.0).unwrap() - m.log_likelihood(2.0, 30.43, 38.86).unwrap()).exp();
        assert!((p - ratio).abs() < 1e-12, "{p} vs {ratio}");
        // Longer windows leave less room for no purchase.
        assert!(m.probability_no_purchase(78.0, 2.0, 30.43, 38.86).unwrap() < p);
    }

    #[test]
    fn saved_models_load_back_and_refuse_tampering() {
        let m = BetaGeo::modified(0.25, 4.0, 0.8, 2.5).unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<BetaGeo>(&json).unwrap(), m);
        let negative = json.replacen("\"r\":0.25", "\"r\":-0.25", 1);
        assert_ne!(negative, json);
        assert!(serde_json::from_str::<BetaGeo>(&negative).is_err());
        let future = json.replacen("\"format_version\":1", "\"format_version\":9", 1);
        assert!(serde_json::from_str::<BetaGeo>(&future).is_err());
    }

    /// A few customers (with and without repeats) and a parameter point.
    fn derivative_fixture() -> (RepeatRows, [f64; 4]) {
        let x = Array1::from(vec![0.0, 0.0, 1.0, 3.0, 3.0, 7.0, 26.0]);
        let t_x = Array1::from(vec![0.0, 0.0, 2.5, 10.0, 10.0, 30.0, 30.857]);
        let t = Array1::from(vec![20.0, 25.0, 30.0, 30.0, 30.0, 31.0, 31.0]);
        (data::group(MODEL, x.view(), t_x.view(), t.view()).unwrap(), [0.3, 4.0, 0.8, 2.4])
    }

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let (rows, p) = derivative_fixture();
        for variant in [BetaGeoVariant::Classic, BetaGeoVariant::Modified] {
            let g = Evaluator::new(variant, &rows).gradient(p);
            for i in 0..4 {
                let h = 1e-6 * p[i];
                let (mut up, mut down) = (p, p);
                up[i] += h;
                down[i] -= h;
                let numeric = (Evaluator::new(variant, &rows).log_likelihood(up)
                    - Evaluator::new(variant, &rows).log_likelihood(down))
                    / (2.0 * h);
                assert!(
                    (g[i] - numeric).abs() < 1e-6 * numeric.abs().max(1.0),
                    "{variant:?} {i}: {} vs {numeric}",
                    g[i]
                );
            }
        }
    }

    #[test]
    fn analytic_hessian_matches_differences_of_the_gradient() {
        let (rows, p) = derivative_fixture();
        for variant in [BetaGeoVariant::Classic, BetaGeoVariant::Modified] {
            let h = Evaluator::new(variant, &rows).hessian(p);
            for i in 0..4 {
                let step = 1e-6 * p[i];
                let (mut up, mut down) = (p, p);
                up[i] += step;
                down[i] -= step;
                let gu = Evaluator::new(variant, &rows).gradient(up);
                let gd = Evaluator::new(variant, &rows).gradient(down);
                for j in 0..4 {
                    let numeric = (gu[j] - gd[j]) / (2.0 * step);
                    let got = h[i * 4 + j];
                    assert!(
                        (got - numeric).abs() < 1e-5 * numeric.abs().max(1.0),
                        "{variant:?} ({i},{j}): {got} vs {numeric}"
                    );
                }
            }
        }
    }

    #[test]
    fn grouped_total_equals_the_sum_of_rows() {
        let x = Array1::from(vec![0.0, 0.0, 1.0, 3.0, 3.0, 7.0]);
        let t_x = Array1::from(vec![0.0, 0.0, 2.5, 10.0, 10.0, 30.0]);
        let t = Array1::from(vec![20.0, 25.0, 30.0, 30.0, 30.0, 31.0]);
        let rows = data::group(MODEL, x.view(), t_x.view(), t.view()).unwrap();
        for variant in [BetaGeoVariant::Classic, BetaGeoVariant::Modified] {
            let total = Evaluator::new(variant, &rows).log_likelihood([0.3, 4.0, 0.8, 2.4]);
            let direct: f64 =
                (0..x.len()).map(|i| row_log_likelihood(variant, 0.3, 4.0, 0.8, 2.4, x[i], t_x[i], t[i])).sum();
            assert!((total - direct).abs() < 1e-10, "{total} vs {direct}");
        }
    }

    #[test]
    fn extreme_inputs_stay_finite() {
        let m = published();
        for (x, t_x, t) in [(5000.0, 100.0, 100.0), (3000.0, 1.0, 1e4), (1.0, 1e-9, 1e-9), (10.0, 50.0, 50.0)] {
            let ll = m.log_likelihood(x, t_x, t).unwrap();
            let p = m.probability_alive(x, t_x, t).unwrap();
            assert!(ll.is_finite() && (0.0..=1.0).contains(&p), "{x} {t_x} {t}: {ll} {p}");
        }
        // mpmath (dps 60) for x = 1000 and 5000 repeat purchases, t_x = 99, T = 100,
        // next 52 weeks: 32.4537196484998 and 1.68132007920315e-14.
        let e = m.conditional_expected_purchases(52.0, 1000.0, 99.0, 100.0).unwrap();
        assert!((e / 32.453_719_648_499_8 - 1.0).abs() < 1e-9, "{e}");
        let e = m.conditional_expected_purchases(52.0, 5000.0, 99.0, 100.0).unwrap();
        assert!((e / 1.681_320_079_203_15e-14 - 1.0).abs() < 1e-6, "{e}");
        assert!(m.probability_alive_in(52.0, 5000.0, 99.0, 100.0).unwrap().is_finite());
        let huge_alpha = BetaGeo::new(0.5, 1e12, 0.8, 2.4).unwrap();
        assert!(huge_alpha.log_likelihood(3.0, 10.0, 20.0).unwrap().is_finite());
    }

    #[test]
    fn bad_input() {
        assert!(BetaGeo::new(0.0, 1.0, 1.0, 1.0).is_err());
        assert!(BetaGeo::new(f64::NAN, 1.0, 1.0, 1.0).is_err());
        let m = published();
        assert!(m.probability_alive(1.0, 5.0, 4.0).is_err()); // t_x > T
        assert!(m.probability_alive(1.5, 1.0, 4.0).is_err());
        assert!(m.expected_purchases_new_customer(-1.0).is_err());
        let x = Array1::from(vec![0.0, 0.0, 0.0]);
        let t = Array1::from(vec![10.0, 12.0, 9.0]);
        let e = BetaGeo::fit_columns(x.view(), x.view(), t.view(), &FitOptions::default()).unwrap_err();
        assert!(matches!(e, Error::NotIdentifiable { .. }), "{e}");
        let one = Array1::from(vec![2.0]);
        let e = BetaGeo::fit_columns(one.view(), one.view(), Array1::from(vec![5.0]).view(), &FitOptions::default())
            .unwrap_err();
        assert!(matches!(e, Error::NotIdentifiable { .. }), "{e}");
    }
}
