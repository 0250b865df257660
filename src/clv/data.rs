//! Model inputs: per-customer (x, t_x, T) rows, validated and grouped.

use ndarray::{Array1, ArrayView1};

use crate::error::{Error, Result};

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
    check: impl Fn(usize, f64, f64, f64) -> Result<()>,
    mut prediction: impl FnMut(f64, f64, f64) -> Result<f64>,
) -> Result<Array1<f64>> {
    let [x, t_x, t] = columns;
    let n = x.len();
    if t_x.len() != n || t.len() != n {
        return Err(Error::InvalidArgument {
            name: "model input",
            reason: format!("{model}: columns of lengths {n}, {}, {}", t_x.len(), t.len()),
        });
    }
    (0..n)
        .map(|i| {
            check(i, x[i], t_x[i], t[i])?;
            prediction(x[i], t_x[i], t[i])
        })
        .collect()
}

/// Validates and groups the columns.
pub(crate) fn group(
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
    if x.len() < 2 {
        return Err(Error::NotIdentifiable { model, reason: "a single customer".into() });
    }
    if out.x.iter().all(|&v| v == 0.0) {
        return Err(Error::NotIdentifiable { model, reason: "nobody made a repeat purchase".into() });
    }
    Ok(out)
}
