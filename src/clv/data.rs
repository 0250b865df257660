//! Model inputs: per-customer (x, t_x, T) rows, validated and grouped.

use ndarray::{Array1, ArrayView1};

use crate::error::{Error, Result};
use crate::math::parallel::{cores, map_in_runs};

/// Distinct (x, t_x, T) rows with how many customers share each.
#[derive(Clone, Debug, Default)]
pub(crate) struct RepeatRows {
    pub x: Vec<f64>,
    pub t_x: Vec<f64>,
    pub t: Vec<f64>,
    pub weight: Vec<f64>,
    /// Number of customers (sum of weights), those of age 0 included.
    pub customers: f64,
    /// Customers of age T = 0 (first purchase at the observation end). They
    /// are left out of the rows: their likelihood is 1 whatever the
    /// parameters, so they add exactly 0 to the log-likelihood and its
    /// derivatives.
    pub age_zero: usize,
}

/// Checks one customer's (x, t_x, T).
pub(crate) fn check_row(model: &'static str, row: usize, x: f64, t_x: f64, t: f64) -> Result<()> {
    let bad = |reason: String| Error::InvalidModelInput { model, row, customer: None, reason };
    if !(x.is_finite() && t_x.is_finite() && t.is_finite()) {
        return Err(bad(format!("non-finite value (x {x}, t_x {t_x}, T {t})")));
    }
    if x < 0.0 || x.fract() != 0.0 {
        return Err(bad(format!("frequency {x} is not a whole number ≥ 0")));
    }
    // T = 0 is a customer whose first purchase falls on the observation end:
    // valid (likelihood 1, predictions those of a new customer), and common
    // in shops that acquire customers every day.
    if t < 0.0 {
        return Err(bad(format!("age T {t} must not be negative")));
    }
    if t == 0.0 && x != 0.0 {
        return Err(bad(format!("{x} repeat purchases at age T 0")));
    }
    if t_x < 0.0 || t_x > t {
        return Err(bad(format!("recency {t_x} must lie in 0..=T ({t})")));
    }
    if x == 0.0 && t_x != 0.0 {
        return Err(bad(format!("recency {t_x} with no repeat purchase (must be 0)")));
    }
    Ok(())
}

/// Applies a per-customer prediction to three columns (x, t_x and T, or
/// x, t_x and n for BG/BB): refuses columns of different lengths, checks
/// every row with `check` (which names the row) before predicting it.
pub(crate) fn predict_columns(
    model: &'static str,
    columns: [ArrayView1<'_, f64>; 3],
    check: impl Fn(usize, f64, f64, f64) -> Result<()> + Sync,
    prediction: impl Fn(f64, f64, f64) -> Result<f64> + Sync,
) -> Result<Array1<f64>> {
    predict_columns_with(model, columns, check, || (), |_, x, t_x, t| prediction(x, t_x, t))
}

/// Rows of a column prediction computed together (with one `state`).
const PREDICTION_RUN: usize = 1 << 14;

/// Columns from which predictions are shared out between the cores.
const PARALLEL_PREDICTIONS: usize = 1 << 16;

/// [`predict_columns`] with a state made once per run of rows (a cache of
/// what rows share, say): the rows are predicted in fixed runs, on the
/// cores for long columns, and the values come back in order — the same
/// bits, and the same first failing row, on any number of cores.
pub(crate) fn predict_columns_with<S>(
    model: &'static str,
    columns: [ArrayView1<'_, f64>; 3],
    check: impl Fn(usize, f64, f64, f64) -> Result<()> + Sync,
    state: impl Fn() -> S + Sync,
    prediction: impl Fn(&mut S, f64, f64, f64) -> Result<f64> + Sync,
) -> Result<Array1<f64>> {
    let [x, t_x, t] = columns;
    let n = x.len();
    if t_x.len() != n || t.len() != n {
        return Err(Error::InvalidArgument {
            name: "model input",
            reason: format!("{model}: columns of lengths {n}, {}, {}", t_x.len(), t.len()),
        });
    }
    let runs: Vec<std::ops::Range<usize>> =
        (0..n.div_ceil(PREDICTION_RUN)).map(|k| k * PREDICTION_RUN..((k + 1) * PREDICTION_RUN).min(n)).collect();
    let threads = if n >= PARALLEL_PREDICTIONS { cores() } else { 1 };
    let parts = map_in_runs(&runs, threads, |run| {
        let mut s = state();
        run.clone()
            .map(|i| {
                check(i, x[i], t_x[i], t[i])?;
                prediction(&mut s, x[i], t_x[i], t[i])
            })
            .collect::<Result<Vec<f64>>>()
    });
    let mut out = Vec::with_capacity(n);
    for part in parts {
        out.extend(part?);
    }
    Ok(Array1::from(out))
}

/// Customers' (x, t_x, T) as distinct rows with how many customers share
/// each: what the BG/NBD, MBG/NBD and Pareto/NBD likelihoods read. A
/// million customers fold to a few thousand rows, so a query engine can
/// compute the histogram where the data lives (`GROUP BY x, t_x, T`) and
/// hand only it to the fit ([`BetaGeo::fit_histogram`](crate::clv::BetaGeo::fit_histogram),
/// [`ParetoNbd::fit_histogram`](crate::clv::ParetoNbd::fit_histogram)).
///
/// ```
/// use customer_lifecycle::clv::PurchaseHistogram;
/// // Three customers, two of them alike.
/// let h = PurchaseHistogram::from_counts(&[1.0, 0.0, 1.0], &[3.0, 0.0, 3.0], &[9.0, 5.0, 9.0], &[2, 1, 3])?;
/// assert_eq!((h.len(), h.customers()), (2, 6));
/// # Ok::<(), customer_lifecycle::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct PurchaseHistogram {
    pub(crate) rows: RepeatRows,
}

/// The name histogram checks give in their errors.
const HISTOGRAM: &str = "purchase histogram";

impl PurchaseHistogram {
    /// Groups per-customer columns, as the fits from columns do.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::PurchaseHistogram;
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let h = PurchaseHistogram::from_columns(summary.frequency(), summary.recency(), summary.age())?;
    /// assert_eq!(h.customers(), summary.len() as u64);
    /// assert!(h.len() < summary.len());
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeo::fit_columns`](crate::clv::BetaGeo::fit_columns) for its input.
    pub fn from_columns(
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
    ) -> Result<PurchaseHistogram> {
        Ok(PurchaseHistogram { rows: group(HISTOGRAM, frequency, recency, age)? })
    }

    /// Builds the histogram from rows and their customer counts (a
    /// `GROUP BY x, t_x, T` with `COUNT(*)`); rows may repeat and come in
    /// any order. The result, and a fit from it, are those of the columns
    /// the counts describe.
    ///
    /// ```
    /// use customer_lifecycle::clv::PurchaseHistogram;
    /// let a = PurchaseHistogram::from_counts(&[2.0, 0.0], &[4.0, 0.0], &[8.0, 8.0], &[5, 3])?;
    /// let b = PurchaseHistogram::from_counts(&[0.0, 2.0, 2.0], &[0.0, 4.0, 4.0], &[8.0, 8.0, 8.0], &[3, 1, 4])?;
    /// assert_eq!(a, b);
    /// assert!(PurchaseHistogram::from_counts(&[1.0], &[2.0], &[1.0], &[4]).is_err()); // t_x > T
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for columns of different lengths;
    /// [`Error::InvalidModelInput`] for an impossible row (named by its
    /// position); [`Error::Empty`], [`Error::NotIdentifiable`] as the fits
    /// from columns.
    pub fn from_counts(frequency: &[f64], recency: &[f64], age: &[f64], counts: &[u64]) -> Result<PurchaseHistogram> {
        let n = frequency.len();
        if recency.len() != n || age.len() != n || counts.len() != n {
            return Err(Error::InvalidArgument {
                name: "model input",
                reason: format!(
                    "{HISTOGRAM}: columns of lengths {n}, {}, {}, {}",
                    recency.len(),
                    age.len(),
                    counts.len()
                ),
            });
        }
        let mut rows: Vec<(f64, f64, f64, u64)> = Vec::with_capacity(n);
        for i in 0..n {
            check_row(HISTOGRAM, i, frequency[i], recency[i], age[i])?;
            if counts[i] > 0 {
                rows.push((frequency[i], recency[i], age[i], counts[i]));
            }
        }
        rows.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.total_cmp(&b.2)));
        let mut grouped: Vec<(f64, f64, f64, u64)> = Vec::with_capacity(rows.len());
        for r in rows {
            match grouped.last_mut() {
                Some(g) if (g.0, g.1, g.2) == (r.0, r.1, r.2) => {
                    g.3 = g.3.checked_add(r.3).ok_or_else(|| Error::InvalidArgument {
                        name: "model input",
                        reason: format!("{HISTOGRAM}: customer counts overflow"),
                    })?;
                }
                _ => grouped.push(r),
            }
        }
        let customers: u64 = grouped.iter().map(|g| g.3).sum();
        if customers == 0 {
            return Err(Error::Empty { what: "customers to fit on" });
        }
        if customers < 2 {
            return Err(Error::NotIdentifiable { model: HISTOGRAM, reason: "a single customer".into() });
        }
        if grouped.iter().all(|g| g.0 == 0.0) {
            return Err(Error::NotIdentifiable { model: HISTOGRAM, reason: "nobody made a repeat purchase".into() });
        }
        let mut out = RepeatRows { customers: customers as f64, ..RepeatRows::default() };
        for (x, t_x, t, count) in grouped {
            if t == 0.0 {
                out.age_zero += count as usize;
                continue;
            }
            out.x.push(x);
            out.t_x.push(t_x);
            out.t.push(t);
            out.weight.push(count as f64);
        }
        Ok(PurchaseHistogram { rows: out })
    }

    /// Distinct rows of positive age (customers of age 0 add nothing to a
    /// likelihood and are only counted).
    ///
    /// ```
    /// # use customer_lifecycle::clv::PurchaseHistogram;
    /// let h = PurchaseHistogram::from_counts(&[1.0, 0.0], &[1.0, 0.0], &[2.0, 0.0], &[4, 6])?;
    /// assert_eq!(h.len(), 1);
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.rows.x.len()
    }

    /// True when every customer has age 0.
    ///
    /// ```
    /// # use customer_lifecycle::clv::PurchaseHistogram;
    /// let h = PurchaseHistogram::from_counts(&[1.0, 0.0], &[1.0, 0.0], &[2.0, 0.0], &[4, 6])?;
    /// assert!(!h.is_empty());
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.rows.x.is_empty()
    }

    /// Customers counted, those of age 0 included.
    ///
    /// ```
    /// # use customer_lifecycle::clv::PurchaseHistogram;
    /// let h = PurchaseHistogram::from_counts(&[1.0, 0.0], &[1.0, 0.0], &[2.0, 0.0], &[4, 6])?;
    /// assert_eq!(h.customers(), 10);
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    pub fn customers(&self) -> u64 {
        self.rows.customers as u64
    }
}

impl PartialEq for PurchaseHistogram {
    fn eq(&self, other: &PurchaseHistogram) -> bool {
        let (a, b) = (&self.rows, &other.rows);
        (&a.x, &a.t_x, &a.t, &a.weight, a.customers, a.age_zero)
            == (&b.x, &b.t_x, &b.t, &b.weight, b.customers, b.age_zero)
    }
}

/// Validates and groups the columns of a whole fit: [`group_rows`], and
/// at least two customers, some with a repeat purchase.
pub(crate) fn group(
    model: &'static str,
    x: ArrayView1<'_, f64>,
    t_x: ArrayView1<'_, f64>,
    t: ArrayView1<'_, f64>,
) -> Result<RepeatRows> {
    let out = group_rows(model, x, t_x, t)?;
    check_identifiable(model, x.len(), [&out])?;
    Ok(out)
}

/// What every purchase-model fit needs of its data, grouped in one or more
/// parts: at least two customers, and someone with a repeat purchase.
pub(crate) fn check_identifiable<'a>(
    model: &'static str,
    customers: usize,
    parts: impl IntoIterator<Item = &'a RepeatRows>,
) -> Result<()> {
    if customers < 2 {
        return Err(Error::NotIdentifiable { model, reason: "a single customer".into() });
    }
    if parts.into_iter().all(|rows| rows.x.iter().all(|&v| v == 0.0)) {
        return Err(Error::NotIdentifiable { model, reason: "nobody made a repeat purchase".into() });
    }
    Ok(())
}

/// Validates the rows and groups equal (x, t_x, T) with their counts
/// (customers of age 0 counted apart).
pub(crate) fn group_rows(
    model: &'static str,
    x: ArrayView1<'_, f64>,
    t_x: ArrayView1<'_, f64>,
    t: ArrayView1<'_, f64>,
) -> Result<RepeatRows> {
    if x.len() != t_x.len() || x.len() != t.len() {
        return Err(Error::InvalidArgument {
            name: "model input",
            reason: format!("{model}: columns of lengths {}, {}, {}", x.len(), t_x.len(), t.len()),
        });
    }
    if x.is_empty() {
        return Err(Error::Empty { what: "customers to fit on" });
    }
    let mut rows: Vec<(f64, f64, f64)> = Vec::with_capacity(x.len());
    let mut age_zero = 0;
    for i in 0..x.len() {
        check_row(model, i, x[i], t_x[i], t[i])?;
        if t[i] == 0.0 {
            age_zero += 1;
        } else {
            rows.push((x[i], t_x[i], t[i]));
        }
    }
    rows.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.total_cmp(&b.2)));
    let mut out = RepeatRows { customers: x.len() as f64, age_zero, ..RepeatRows::default() };
    for r in rows {
        if out.x.last() == Some(&r.0) && out.t_x.last() == Some(&r.1) && out.t.last() == Some(&r.2) {
            if let Some(w) = out.weight.last_mut() {
                *w += 1.0;
            }
        } else {
            out.x.push(r.0);
            out.t_x.push(r.1);
            out.t.push(r.2);
            out.weight.push(1.0);
        }
    }
    Ok(out)
}
