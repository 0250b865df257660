//! Churn scorers: model-based, cadence-based and learned; features; bands.

use std::fmt;

use chrono::{DateTime, Utc};
use ndarray::{Array2, ArrayView1};
use serde::{Deserialize, Serialize};

use super::logistic::{LogisticOptions, LogisticRegression, PlattScaling};
use crate::clv::PurchaseModel;
use crate::domain::Engagement;
use crate::domain::customer::CustomerId;
use crate::domain::table::CustomerTable;
use crate::error::{Error, Result};
use crate::lifecycle::{CustomerState, StageModel};
use crate::log::summary::PurchaseSummary;

/// What a model-based score measures.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ModelRisk {
    /// `1 − P(alive)` at the end of the summary's window.
    NotAlive,
    /// `P(no purchase in the next t)` (t in the summary's unit).
    NoPurchaseWithin(f64),
}

/// Model-based churn risk of every customer of `summary` from any fitted
/// purchase model.
///
/// What each score does with customers who never bought again (x = 0):
/// under BG/NBD a customer can only die right after a purchase, so with no
/// repeat purchase P(alive) = 1 and `NotAlive` scores them **0** — the
/// least at risk, however long ago they bought (a well-known flaw). MBG/NBD
/// and Pareto/NBD let them die at any time and score them above 0.
/// `NoPurchaseWithin(t)` combines death and a quiet spell, so it ranks
/// one-time buyers sensibly under every model: prefer it with BG/NBD.
///
/// # Errors
/// As the model's predictions; a negative or non-finite `t`.
pub fn model_risk(model: &dyn PurchaseModel, summary: &PurchaseSummary, risk: ModelRisk) -> Result<CustomerTable> {
    let (x, t_x, age) = (summary.frequency(), summary.recency(), summary.age());
    if let ModelRisk::NoPurchaseWithin(t) = risk {
        if !(t.is_finite() && t >= 0.0) {
            return Err(Error::InvalidArgument { name: "horizon", reason: format!("{t} must be finite and ≥ 0") });
        }
    }
    summary.keyed(
        "churn_risk",
        (0..summary.len())
            .map(|k| {
                match risk {
                    ModelRisk::NotAlive => model.probability_alive(x[k], t_x[k], age[k]).map(|p| 1.0 - p),
                    ModelRisk::NoPurchaseWithin(t) => model.probability_no_purchase(t, x[k], t_x[k], age[k]),
                }
                .map_err(|e| e.at_row(k))
            })
            .collect(),
    )
}

/// Cadence-based churn risk: how overdue each customer is relative to their
/// own pace, without fitting anything.
///
/// A customer's expected gap between purchases is their own mean gap shrunk
/// towards the population's by one pseudo-gap: `ĝ = (t_x + ḡ) / (x + 1)`,
/// where `ḡ = Σ t_x / Σ x` over repeat buyers (so one-time buyers get the
/// population's pace). The risk is the probability that a customer buying
/// at that pace (a Poisson process) would have bought again in the time
/// since their last purchase: `1 − exp(−(T − t_x) / ĝ)` — near 0 when a
/// purchase is not yet due, near 1 when it is long overdue.
///
/// ```
/// use customer_lifecycle::churn::cadence_risk;
/// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
///
/// let log = TransactionLog::cdnow_sample()?;
/// let summary = log.summarize(&SummaryOptions::new(TimeUnit::Week))?;
/// let risk = cadence_risk(&summary)?;
/// assert_eq!(risk.ids(), summary.ids()); // keyed by customer
/// assert!(risk.column("cadence_risk").unwrap().iter().all(|r| (0.0..=1.0).contains(r)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::NotIdentifiable`] when nobody bought twice (no pace to compare with).
pub fn cadence_risk(summary: &PurchaseSummary) -> Result<CustomerTable> {
    let (x, t_x, age) = (summary.frequency(), summary.recency(), summary.age());
    let (gaps, repeats) =
        x.iter().zip(t_x.iter()).filter(|(x, _)| **x > 0.0).fold((0.0, 0.0), |(g, r), (x, t)| (g + t, r + x));
    if repeats == 0.0 || gaps <= 0.0 {
        return Err(Error::NotIdentifiable {
            model: "cadence risk",
            reason: "no customer bought twice, so there is no pace to compare with".into(),
        });
    }
    let population = gaps / repeats;
    let risk = (0..summary.len())
        .map(|k| {
            let gap = (t_x[k] + population) / (x[k] + 1.0);
            1.0 - (-(age[k] - t_x[k]).max(0.0) / gap).exp()
        })
        .collect();
    summary.keyed("cadence_risk", Ok(risk))
}

validated_serde! {
/// A feature matrix with its column names, and which customers objected to
/// profiling (they are not scored by the learned model).
#[derive(Clone, PartialEq, Debug)]
pub struct Features {
    /// Customers, one per row.
    pub(crate) ids: Vec<CustomerId>,
    /// Column names.
    pub(crate) names: Vec<String>,
    /// Rows × columns.
    pub(crate) matrix: Array2<f64>,
    /// True for customers who objected to profiling.
    pub(crate) profiling_objected: Vec<bool>,
}
}

/// The columns of [`Features::from_summary_all`] (and the first columns of
/// [`Features::from_states`]).
pub const SUMMARY_FEATURES: [&str; 7] =
    ["time_since_last_purchase", "frequency", "age", "monetary_value", "orders", "net_spend", "return_rate"];

/// The columns of [`Features::from_summary`]: the summary's features less
/// those that repeat another (orders ≈ frequency + 1, net spend ≈ orders ×
/// monetary value) or are constant in most shops (return rate), so that
/// the learned weights and the explanations of a score are not split
/// between collinear columns.
pub const LEAN_SUMMARY_FEATURES: [&str; 4] = ["time_since_last_purchase", "frequency", "age", "monetary_value"];

impl Features {
    /// Features built by hand: one row per customer, one column per name,
    /// every value finite.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::churn::Features;
    /// use customer_lifecycle::ndarray::array;
    ///
    /// let f = Features::new(vec![CustomerId::from(1), CustomerId::from(2)], vec!["visits".into()], array![[3.0], [0.0]], vec![false, true])?;
    /// assert_eq!(f.len(), 2);
    /// assert!(Features::new(vec![CustomerId::from(1)], vec!["visits".into()], array![[f64::NAN]], vec![false]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for mismatched lengths, an empty or
    /// repeated name; [`Error::InvalidModelInput`] naming the first row with
    /// a value that is not finite.
    pub fn new(
        ids: Vec<CustomerId>,
        names: Vec<String>,
        matrix: Array2<f64>,
        profiling_objected: Vec<bool>,
    ) -> Result<Features> {
        let f = Features { ids, names, matrix, profiling_objected };
        f.check_consistent()?;
        Ok(f)
    }

    fn check_consistent(&self) -> Result<()> {
        let bad = |reason: String| Error::InvalidArgument { name: "features", reason };
        let (rows, cols) = self.matrix.dim();
        if self.ids.len() != rows || self.profiling_objected.len() != rows || self.names.len() != cols {
            return Err(bad(format!(
                "{rows} × {cols} values for {} customers, {} objection flags and {} names",
                self.ids.len(),
                self.profiling_objected.len(),
                self.names.len()
            )));
        }
        for (j, name) in self.names.iter().enumerate() {
            if name.is_empty() || self.names[..j].contains(name) {
                return Err(bad(format!("empty or repeated column name {name:?}")));
            }
        }
        if let Some((row, _)) = self.matrix.outer_iter().enumerate().find(|(_, r)| r.iter().any(|v| !v.is_finite())) {
            return Err(Error::InvalidModelInput {
                model: "features",
                row,
                customer: self.ids.get(row).map(ToString::to_string),
                reason: "a value is NaN or infinite".into(),
            });
        }
        Ok(())
    }

    /// The customers, one per row.
    ///
    /// ```
    /// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::churn::Features;
    ///
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// assert_eq!(Features::from_summary(&summary, |_| false).ids(), summary.ids());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ids(&self) -> &[CustomerId] {
        &self.ids
    }

    /// The column names.
    ///
    /// ```
    /// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::churn::{Features, LEAN_SUMMARY_FEATURES};
    ///
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// assert_eq!(Features::from_summary(&summary, |_| false).names(), LEAN_SUMMARY_FEATURES);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The values, customers × columns.
    ///
    /// ```
    /// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::churn::Features;
    ///
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let f = Features::from_summary(&summary, |_| false);
    /// assert_eq!(f.matrix().dim(), (summary.len(), f.names().len()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn matrix(&self) -> &Array2<f64> {
        &self.matrix
    }

    /// Which customers objected to profiling (the learned model does not score them).
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::churn::Features;
    ///
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let first = summary.ids()[0].clone();
    /// let f = Features::from_summary(&summary, |id| *id == first);
    /// assert!(f.profiling_objected()[0] && !f.profiling_objected()[1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn profiling_objected(&self) -> &[bool] {
        &self.profiling_objected
    }

    /// The features of some customers, by row, in the order given (e.g.
    /// a training and a judging sample).
    ///
    /// ```
    /// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::churn::Features;
    ///
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let f = Features::from_summary(&summary, |_| false);
    /// let even: Vec<usize> = (0..f.len()).step_by(2).collect();
    /// assert_eq!(f.select(&even)?.len(), (f.len() + 1) / 2);
    /// assert!(f.select(&[f.len()]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a row out of range.
    pub fn select(&self, rows: &[usize]) -> Result<Features> {
        if let Some(&r) = rows.iter().find(|&&r| r >= self.ids.len()) {
            return Err(Error::InvalidArgument {
                name: "features",
                reason: format!("row {r} of {} customers", self.ids.len()),
            });
        }
        Ok(Features {
            ids: rows.iter().map(|&r| self.ids[r].clone()).collect(),
            names: self.names.clone(),
            matrix: self.matrix.select(ndarray::Axis(0), rows),
            profiling_objected: rows.iter().map(|&r| self.profiling_objected[r]).collect(),
        })
    }

    /// Features of a purchase summary's customers (its calibration window
    /// when split), the lean default [`LEAN_SUMMARY_FEATURES`]: time since
    /// the last purchase (`T − t_x`), frequency, age `T` and monetary
    /// value. `objected` marks customers who objected to profiling.
    /// [`Features::from_summary_all`] adds orders, net spend and the return
    /// rate (returned ÷ ordered value).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::churn::{Features, LEAN_SUMMARY_FEATURES};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// assert_eq!(Features::from_summary(&summary, |_| false).names(), LEAN_SUMMARY_FEATURES);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_summary(summary: &PurchaseSummary, objected: impl Fn(&CustomerId) -> bool) -> Features {
        let all = Features::from_summary_all(summary, objected);
        // Cannot fail: the lean columns are among the summary's, once each.
        all.columns(&LEAN_SUMMARY_FEATURES).unwrap_or(all)
    }

    /// Every summary feature, [`SUMMARY_FEATURES`] (collinear columns
    /// included: prefer [`Features::from_summary`] to explain scores).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::churn::{Features, SUMMARY_FEATURES};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// assert_eq!(Features::from_summary_all(&summary, |_| false).names(), SUMMARY_FEATURES);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_summary_all(summary: &PurchaseSummary, objected: impl Fn(&CustomerId) -> bool) -> Features {
        let n = summary.len();
        let (x, t_x, age, m) = (summary.frequency(), summary.recency(), summary.age(), summary.monetary_value());
        let orders = summary.orders();
        let net: Vec<f64> = summary.net_spend_iter().collect();
        let returns: Vec<f64> = summary.return_rate_iter().collect();
        let matrix = Array2::from_shape_fn((n, SUMMARY_FEATURES.len()), |(k, j)| match j {
            0 => age[k] - t_x[k],
            1 => x[k],
            2 => age[k],
            3 => m[k],
            4 => f64::from(orders[k]),
            5 => net[k],
            _ => returns[k],
        });
        Features {
            ids: summary.ids().to_vec(),
            names: SUMMARY_FEATURES.iter().map(|s| s.to_string()).collect(),
            matrix,
            profiling_objected: summary.ids().iter().map(objected).collect(),
        }
    }

    /// The same customers with only these columns, in this order.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::churn::Features;
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let all = Features::from_summary_all(&summary, |_| false);
    /// let two = all.columns(&["frequency", "time_since_last_purchase"])?;
    /// assert_eq!(two.names(), ["frequency", "time_since_last_purchase"]);
    /// assert!(all.columns(&["nope"]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a name not among the columns, or one
    /// given twice.
    pub fn columns(&self, names: &[&str]) -> Result<Features> {
        let picks = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                if names[..i].contains(name) {
                    return Err(Error::InvalidArgument { name: "features", reason: format!("{name:?} given twice") });
                }
                self.names.iter().position(|n| n == name).ok_or_else(|| Error::InvalidArgument {
                    name: "features",
                    reason: format!("no column {name:?} (the columns are {:?})", self.names),
                })
            })
            .collect::<Result<Vec<usize>>>()?;
        Ok(Features {
            ids: self.ids.clone(),
            names: names.iter().map(|n| n.to_string()).collect(),
            matrix: self.matrix.select(ndarray::Axis(1), &picks),
            profiling_objected: self.profiling_objected.clone(),
        })
    }

    /// Features of streaming customer states at `now`: the summary's
    /// columns (from each state's summary row; customers without an order
    /// have frequency 0 and age since first seen), discount share,
    /// engagement in the last 30 days (views, cart additions, e-mail opens,
    /// clicks), the latest NPS answer (7, a passive, when none) and whether
    /// there is one, support tickets, and one column per stage of `model`
    /// (1 for the customer's stage). Objections to profiling come from the
    /// states' consent decisions.
    pub fn from_states(states: &[&CustomerState], now: DateTime<Utc>, model: &StageModel) -> Features {
        let mut names: Vec<String> = SUMMARY_FEATURES.iter().map(|s| s.to_string()).collect();
        names.extend(
            [
                "discount_share",
                "views_30d",
                "cart_additions_30d",
                "email_opens_30d",
                "email_clicks_30d",
                "nps",
                "has_nps",
                "support_tickets",
            ]
            .map(String::from),
        );
        let stages = model.len();
        names.extend((0..stages).map(|s| format!("stage_{}", model.stage_name(crate::lifecycle::StageId(s as u8)))));
        let mut matrix = Array2::zeros((states.len(), names.len()));
        for (i, state) in states.iter().enumerate() {
            let p = state.profile();
            let row = p.summary_row(now);
            let unit_days = state_unit_days(state);
            let mut r = matrix.row_mut(i);
            match row {
                Some(row) => {
                    r[0] = row.age - row.recency;
                    r[1] = f64::from(row.frequency);
                    r[2] = row.age;
                    r[3] = row.monetary_value;
                }
                None => r[2] = (now - p.first_seen()).num_seconds() as f64 / 86_400.0 / unit_days,
            }
            r[4] = f64::from(p.orders());
            r[5] = decimal_f64(p.net_spend());
            let gross = decimal_f64(p.gross());
            r[6] = if gross > 0.0 { decimal_f64(p.returned()) / gross } else { 0.0 };
            r[7] = p.discount_share();
            r[8] = f64::from(p.engagement(Engagement::ProductViews, 30, now));
            r[9] = f64::from(p.engagement(Engagement::CartAdditions, 30, now));
            r[10] = f64::from(p.engagement(Engagement::EmailOpens, 30, now));
            r[11] = f64::from(p.engagement(Engagement::EmailClicks, 30, now));
            let nps = p.nps().map(|(_, s)| s);
            r[12] = f64::from(nps.unwrap_or(7));
            r[13] = f64::from(u8::from(nps.is_some()));
            r[14] = f64::from(p.support().0);
            r[15 + usize::from(state.stage().0).min(stages - 1)] = 1.0;
        }
        Features {
            ids: states.iter().map(|s| s.customer().clone()).collect(),
            names,
            matrix,
            profiling_objected: states.iter().map(|s| objected_to_profiling(s, now)).collect(),
        }
    }

    /// Number of customers.
    pub fn len(&self) -> usize {
        self.matrix.nrows()
    }

    /// Removes a customer's row (right to erasure); `true` when there was one.
    pub fn erase(&mut self, customer: &CustomerId) -> bool {
        let Some(k) = self.ids.iter().position(|id| id == customer) else { return false };
        let keep: Vec<usize> = (0..self.len()).filter(|&i| i != k).collect();
        self.matrix = self.matrix.select(ndarray::Axis(0), &keep);
        self.ids.remove(k);
        self.profiling_objected.remove(k);
        true
    }

    /// True without customers.
    pub fn is_empty(&self) -> bool {
        self.matrix.nrows() == 0
    }
}

fn decimal_f64(d: rust_decimal::Decimal) -> f64 {
    crate::domain::money::Money::new(d, crate::domain::money::Currency::USD).to_f64()
}

fn state_unit_days(state: &CustomerState) -> f64 {
    // The summary row's unit, via its periods; calendar months count as 30.4375 days here.
    state.profile().periods().unit().days().map_or(30.4375, f64::from)
}

/// Whether an objection to profiling is in force at `now`, on any channel
/// ([`ConsentHistory::objected_to_profiling`](crate::ConsentHistory::objected_to_profiling)).
pub fn objected_to_profiling(state: &CustomerState, now: DateTime<Utc>) -> bool {
    state.consent().objected_to_profiling(now)
}

validated_serde! {
/// A learned churn scorer: a penalised logistic regression, optionally
/// calibrated by Platt scaling.
///
/// Train it on labels it will never be judged on: features at an earlier
/// cut-off, labels = churn between that cut-off and the present (see the
/// `churn` module docs), then score the present to predict the future.
#[derive(Clone, PartialEq, Debug)]
pub struct LearnedChurn {
    model: LogisticRegression,
    calibration: Option<PlattScaling>,
}
}

impl LearnedChurn {
    /// The regression is checked as it loads; a calibration must be finite
    /// (a NaN slope would make every score NaN).
    fn check_consistent(&self) -> Result<()> {
        match self.calibration {
            Some(PlattScaling { a, b }) if !(a.is_finite() && b.is_finite()) => Err(Error::InvalidArgument {
                name: "saved churn scorer",
                reason: format!("Platt scaling a = {a}, b = {b} is not finite"),
            }),
            _ => Ok(()),
        }
    }
}

impl LearnedChurn {
    /// Fits the regression (labels: true = churned).
    ///
    /// ```
    /// # use customer_lifecycle::{PurchaseSummary, SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::churn::{Features, LearnedChurn, LogisticOptions};
    /// let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// let summary = TransactionLog::cdnow_sample()?
    ///     .summarize(&SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)))?;
    /// let churned: Vec<bool> = summary.frequency_holdout().unwrap().iter().map(|&n| n == 0.0).collect();
    /// let features = Features::from_summary(&summary, |_| false);
    /// let model = LearnedChurn::train(&features, &churned, &LogisticOptions::new())?;
    /// assert!(model.regression().iterations() > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`LogisticRegression::fit`].
    pub fn train(features: &Features, churned: &[bool], options: &LogisticOptions) -> Result<LearnedChurn> {
        let names: Vec<&str> = features.names.iter().map(String::as_str).collect();
        let model = LogisticRegression::fit(features.matrix.view(), churned, &names, options)?;
        Ok(LearnedChurn { model, calibration: None })
    }

    /// Calibrates the probabilities by Platt scaling on held-out customers
    /// (not those it was trained on).
    ///
    /// ```
    /// # use customer_lifecycle::{PurchaseSummary, SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::churn::{Features, LearnedChurn, LogisticOptions};
    /// let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// let summary = TransactionLog::cdnow_sample()?
    ///     .summarize(&SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)))?;
    /// let churned: Vec<bool> = summary.frequency_holdout().unwrap().iter().map(|&n| n == 0.0).collect();
    /// let features = Features::from_summary(&summary, |_| false);
    /// let model = LearnedChurn::train(&features, &churned, &LogisticOptions::new())?.calibrate(&features, &churned)?;
    /// assert!(model.calibration().is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`PlattScaling::fit`].
    pub fn calibrate(mut self, features: &Features, churned: &[bool]) -> Result<LearnedChurn> {
        let raw = self.model.predict(features.matrix.view())?;
        self.calibration = Some(PlattScaling::fit(raw.as_slice().unwrap_or(&raw.to_vec()), churned)?);
        Ok(self)
    }

    /// The regression.
    ///
    /// ```
    /// # use customer_lifecycle::{PurchaseSummary, SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::churn::{Features, LearnedChurn, LogisticOptions};
    /// let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// let summary = TransactionLog::cdnow_sample()?
    ///     .summarize(&SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)))?;
    /// let churned: Vec<bool> = summary.frequency_holdout().unwrap().iter().map(|&n| n == 0.0).collect();
    /// let features = Features::from_summary(&summary, |_| false);
    /// let model = LearnedChurn::train(&features, &churned, &LogisticOptions::new())?;
    /// assert_eq!(model.regression().names().len(), features.names().len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn regression(&self) -> &LogisticRegression {
        &self.model
    }

    /// The calibration, if any.
    ///
    /// ```
    /// # use customer_lifecycle::{PurchaseSummary, SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::churn::{Features, LearnedChurn, LogisticOptions};
    /// let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// let summary = TransactionLog::cdnow_sample()?
    ///     .summarize(&SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)))?;
    /// let churned: Vec<bool> = summary.frequency_holdout().unwrap().iter().map(|&n| n == 0.0).collect();
    /// let features = Features::from_summary(&summary, |_| false);
    /// let model = LearnedChurn::train(&features, &churned, &LogisticOptions::new())?;
    /// assert!(model.calibration().is_none()); // not calibrated yet
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn calibration(&self) -> Option<&PlattScaling> {
        self.calibration.as_ref()
    }

    /// P(churn) of every customer; `None` for those who objected to profiling.
    ///
    /// ```
    /// # use customer_lifecycle::{PurchaseSummary, SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::churn::{Features, LearnedChurn, LogisticOptions};
    /// let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// let summary = TransactionLog::cdnow_sample()?
    ///     .summarize(&SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)))?;
    /// let churned: Vec<bool> = summary.frequency_holdout().unwrap().iter().map(|&n| n == 0.0).collect();
    /// let features = Features::from_summary(&summary, |_| false);
    /// let model = LearnedChurn::train(&features, &churned, &LogisticOptions::new())?;
    /// let risk = model.score(&features)?;
    /// assert!(risk.iter().all(|r| r.is_some_and(|p| (0.0..=1.0).contains(&p))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Columns not those trained on; NaN or infinite features.
    pub fn score(&self, features: &Features) -> Result<Vec<Option<f64>>> {
        if features.names != self.model.names() {
            return Err(Error::InvalidArgument {
                name: "features",
                reason: "the columns differ from those the scorer was trained on".into(),
            });
        }
        let raw = self.model.predict(features.matrix.view())?;
        Ok(raw
            .iter()
            .zip(&features.profiling_objected)
            .map(|(&p, &objected)| if objected { None } else { Some(self.calibration.map_or(p, |c| c.calibrate(p))) })
            .collect())
    }

    /// P(churn) as a table keyed by customer (column `churn_probability`),
    /// of the customers who did not object to profiling: they alone are
    /// scored, and [`Features::profiling_objected`] tells who the others
    /// are. Joining it with a table of every customer is an error naming
    /// one who objected, never a silent gap.
    ///
    /// ```
    /// # use customer_lifecycle::{PurchaseSummary, SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::churn::{Features, LearnedChurn, LogisticOptions};
    /// let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// let summary = TransactionLog::cdnow_sample()?
    ///     .summarize(&SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)))?;
    /// let churned: Vec<bool> = summary.frequency_holdout().unwrap().iter().map(|&n| n == 0.0).collect();
    /// let first = summary.ids()[0].clone();
    /// let features = Features::from_summary(&summary, |id| *id == first); // the first objected
    /// let model = LearnedChurn::train(&features, &churned, &LogisticOptions::new())?;
    /// let risk = model.score_table(&features)?;
    /// assert_eq!(risk.len(), summary.len() - 1);
    /// assert_eq!(risk.value(&first, "churn_probability"), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`LearnedChurn::score`].
    pub fn score_table(&self, features: &Features) -> Result<CustomerTable> {
        let scores = self.score(features)?;
        let (ids, values): (Vec<CustomerId>, Vec<f64>) =
            features.ids.iter().zip(scores).filter_map(|(id, s)| s.map(|s| (id.clone(), s))).unzip();
        CustomerTable::new(ids).with_column("churn_probability", ndarray::Array1::from(values))
    }

    /// The `top` features pushing one customer's score, with signs
    /// (positive = towards churn), on the log-odds scale.
    ///
    /// ```
    /// # use customer_lifecycle::{PurchaseSummary, SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::churn::{Features, LearnedChurn, LogisticOptions};
    /// let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// let summary = TransactionLog::cdnow_sample()?
    ///     .summarize(&SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)))?;
    /// let churned: Vec<bool> = summary.frequency_holdout().unwrap().iter().map(|&n| n == 0.0).collect();
    /// let features = Features::from_summary(&summary, |_| false);
    /// let model = LearnedChurn::train(&features, &churned, &LogisticOptions::new())?;
    /// let why = model.explain(features.matrix().row(0), 3)?;
    /// assert_eq!(why.len(), 3); // the three largest contributions, with their feature names
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`LogisticRegression::explain`].
    pub fn explain(&self, row: ArrayView1<'_, f64>, top: usize) -> Result<Vec<(String, f64)>> {
        self.model.explain(row, top)
    }
}

/// A risk band.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskBand {
    /// Below the medium threshold.
    Low,
    /// From the medium threshold to below the high one.
    Medium,
    /// At or above the high threshold.
    High,
}

impl fmt::Display for RiskBand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RiskBand::Low => "low",
            RiskBand::Medium => "medium",
            RiskBand::High => "high",
        })
    }
}

/// Thresholds of the risk bands.
///
/// ```
/// use customer_lifecycle::churn::{RiskBand, RiskBands};
///
/// let bands = RiskBands::new(0.4, 0.7)?;
/// assert_eq!(bands.band(0.39), RiskBand::Low);
/// assert_eq!(bands.band(0.4), RiskBand::Medium);
/// assert_eq!(bands.band(0.95), RiskBand::High);
/// assert!(RiskBands::new(0.7, 0.4).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct RiskBands {
    medium_from: f64,
    high_from: f64,
}

impl Default for RiskBands {
    fn default() -> Self {
        RiskBands { medium_from: 0.4, high_from: 0.7 }
    }
}

impl RiskBands {
    /// Medium from `medium_from`, high from `high_from` (0 ≤ medium < high ≤ 1).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] otherwise.
    pub fn new(medium_from: f64, high_from: f64) -> Result<RiskBands> {
        if !(0.0..=1.0).contains(&medium_from) || !(0.0..=1.0).contains(&high_from) || medium_from >= high_from {
            return Err(Error::InvalidArgument {
                name: "risk bands",
                reason: format!("medium from {medium_from}, high from {high_from}: need 0 ≤ medium < high ≤ 1"),
            });
        }
        Ok(RiskBands { medium_from, high_from })
    }

    /// The band of a risk.
    pub fn band(&self, risk: f64) -> RiskBand {
        if risk >= self.high_from {
            RiskBand::High
        } else if risk >= self.medium_from {
            RiskBand::Medium
        } else {
            RiskBand::Low
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::BetaGeo;
    use crate::domain::time::TimeUnit;
    use crate::log::summary::SummaryOptions;
    use crate::log::transactions::TransactionLog;

    fn cdnow() -> PurchaseSummary {
        let log = TransactionLog::cdnow_sample().unwrap();
        log.summarize(
            &SummaryOptions::new(TimeUnit::Week)
                .calibration_end(chrono::NaiveDate::from_ymd_opt(1997, 9, 30).unwrap())
                .observation_end(chrono::NaiveDate::from_ymd_opt(1998, 6, 30).unwrap()),
        )
        .unwrap()
    }

    #[test]
    fn bgnbd_not_alive_scores_one_time_buyers_zero() {
        let s = cdnow();
        let model = BetaGeo::fit(&s).unwrap();
        let not_alive = model_risk(&model, &s, ModelRisk::NotAlive).unwrap();
        let quiet = model_risk(&model, &s, ModelRisk::NoPurchaseWithin(13.0)).unwrap();
        assert_eq!(not_alive.ids(), s.ids());
        let (not_alive, quiet) = (not_alive.column("churn_risk").unwrap(), quiet.column("churn_risk").unwrap());
        for k in 0..s.len() {
            if s.frequency()[k] == 0.0 {
                assert_eq!(not_alive[k], 0.0);
                assert!(quiet[k] > 0.5);
            }
            assert!((0.0..=1.0).contains(&quiet[k]));
        }
        assert!(model_risk(&model, &s, ModelRisk::NoPurchaseWithin(f64::NAN)).is_err());
    }

    #[test]
    fn cadence_by_hand() {
        // Population pace from the CDNOW repeaters; check one customer by the formula.
        let s = cdnow();
        let risk = cadence_risk(&s).unwrap();
        let risk = risk.column("cadence_risk").unwrap();
        let (x, t, a) = (s.frequency(), s.recency(), s.age());
        let (g, r) = (0..s.len()).filter(|&k| x[k] > 0.0).fold((0.0, 0.0), |(g, r), k| (g + t[k], r + x[k]));
        let k = 0;
        let expected = 1.0 - (-(a[k] - t[k]) / ((t[k] + g / r) / (x[k] + 1.0))).exp();
        assert!((risk[k] - expected).abs() < 1e-15);
    }

    #[test]
    fn learned_scorer_respects_objections_and_checks_columns() {
        let s = cdnow();
        let features = Features::from_summary(&s, |id| *id == CustomerId::from(4));
        let labels: Vec<bool> = s.frequency_holdout().unwrap().iter().map(|&f| f == 0.0).collect();
        let learned = LearnedChurn::train(&features, &labels, &LogisticOptions::new()).unwrap();
        let scores = learned.score(&features).unwrap();
        let k = s.position(&CustomerId::from(4)).unwrap();
        assert_eq!(scores[k], None);
        assert!(scores.iter().flatten().all(|p| (0.0..=1.0).contains(p)));
        let mut other = features.clone();
        other.names[0] = "something_else".into();
        assert!(learned.score(&other).is_err());
        let explained = learned.explain(features.matrix.row(0), 3).unwrap();
        assert_eq!(explained.len(), 3);
    }

    #[test]
    fn streaming_features_and_profiling_objections() {
        use crate::domain::consent::{Channel, ConsentChange, ConsentStatus, Purpose};
        use crate::domain::event::{Event, EventKind, NpsScore};
        use crate::domain::money::{Currency, Money};
        use crate::lifecycle::{EngineOptions, Lifecycle};
        use chrono::{TimeDelta, TimeZone};
        let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR)).unwrap();
        let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap();
        let day = |d: i64| t0 + TimeDelta::days(d);
        let ev = |id: &str, c: i64, at, kind| Event::new(id, CustomerId::from(c), at, kind).unwrap();
        let order = |id: &str, c: i64, at, gross: &str, discount: &str| {
            ev(
                id,
                c,
                at,
                EventKind::OrderPlaced {
                    order_id: id.into(),
                    gross: Money::parse(gross, Currency::EUR).unwrap(),
                    discount: Money::parse(discount, Currency::EUR).unwrap(),
                    items: 1,
                },
            )
        };
        let mut a = engine.new_customer(CustomerId::from(1), t0);
        engine.apply(&mut a, &order("a1", 1, day(0), "100", "20")).unwrap();
        engine.apply(&mut a, &order("a2", 1, day(14), "50", "0")).unwrap();
        engine.apply(&mut a, &ev("v", 1, day(20), EventKind::ProductViewed { product_id: "p".into() })).unwrap();
        engine
            .apply(&mut a, &ev("n", 1, day(21), EventKind::NpsAnswered { score: NpsScore::new(3).unwrap() }))
            .unwrap();
        let mut b = engine.new_customer(CustomerId::from(2), t0);
        let objection = ConsentChange::new(Purpose::Profiling, Channel::Any, ConsentStatus::Objected);
        engine.apply(&mut b, &ev("k", 2, day(1), EventKind::ConsentChanged(objection))).unwrap();
        let f = Features::from_states(&[&a, &b], day(28), engine.model());
        let col = |name: &str| f.names.iter().position(|n| n == name).unwrap();
        assert_eq!(f.matrix[[0, col("orders")]], 2.0);
        assert_eq!(f.matrix[[0, col("frequency")]], 1.0);
        assert_eq!(f.matrix[[0, col("time_since_last_purchase")]], 2.0); // 14 days in weeks
        assert_eq!(f.matrix[[0, col("discount_share")]], 20.0 / 150.0);
        assert_eq!(f.matrix[[0, col("views_30d")]], 1.0);
        assert_eq!((f.matrix[[0, col("nps")]], f.matrix[[0, col("has_nps")]]), (3.0, 1.0));
        assert_eq!(f.matrix[[0, col("stage_active")]], 1.0);
        assert_eq!((f.matrix[[1, col("nps")]], f.matrix[[1, col("has_nps")]]), (7.0, 0.0));
        assert_eq!(f.matrix[[1, col("age")]], 4.0); // first seen 28 days ago, no order
        assert_eq!(f.matrix[[1, col("stage_prospect")]], 1.0);
        assert_eq!(f.profiling_objected, [false, true]);
        assert!(f.matrix.iter().all(|v| v.is_finite()));
    }
}
