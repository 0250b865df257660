//! The model fits and predictions on arbitrary customer rows (x, t_x, T),
//! ages of 0 and impossible rows included. Oracles: no panic; a fit is a
//! typed error or a model with finite positive parameters, finite
//! per-customer log-likelihoods — at most 0 for customers without a repeat
//! purchase, whose likelihood is a probability (with purchases it is a
//! density in the purchase times, which bunched purchases push above 1) —
//! and predictions that are probabilities in 0..=1 and finite, non-negative
//! expectations for every valid row; an impossible row is refused by the fit.

use customer_lifecycle::clv::{BetaGeo, FitOptions, ParetoNbd, PurchaseModel};
use customer_lifecycle::ndarray::Array1;

/// Rows from bytes, 3 bytes each: x (0..=15), T (0..=60 in quarter
/// periods), t_x as a share of T; one byte in 16 writes a hostile value.
fn rows(data: &[u8]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut x, mut t_x, mut t) = (Vec::new(), Vec::new(), Vec::new());
    for c in data.chunks_exact(3).take(64) {
        let age = f64::from(c[1] % 61) / 4.0;
        let freq = f64::from(c[0] % 16);
        let rec = if freq == 0.0 { 0.0 } else { age * f64::from(c[2]) / 255.0 };
        let (freq, rec, age) = match c[0] >> 4 {
            15 => (freq, rec + 1.0, age), // recency after the end
            14 => (-1.0, rec, age),       // negative frequency
            13 => (freq, rec, f64::NAN),  // not a number
            _ => (freq, rec, age),
        };
        x.push(freq);
        t_x.push(rec);
        t.push(age);
    }
    (x, t_x, t)
}

/// Runs the oracles on one input; panics on a finding.
pub fn check(data: &[u8]) {
    let (x, t_x, t) = rows(data);
    let valid = |i: usize| {
        x[i] >= 0.0
            && t[i].is_finite()
            && t_x[i] <= t[i]
            && (t[i] > 0.0 || x[i] == 0.0)
            && (x[i] > 0.0 || t_x[i] == 0.0)
    };
    let all_valid = (0..x.len()).all(valid);
    let (ax, atx, at) = (Array1::from(x.clone()), Array1::from(t_x.clone()), Array1::from(t.clone()));
    let options = FitOptions::default().max_iterations(200);
    let fits: [Result<Box<dyn PurchaseModel>, _>; 2] = [
        BetaGeo::fit_columns(ax.view(), atx.view(), at.view(), &options).map(|m| Box::new(m) as Box<dyn PurchaseModel>),
        ParetoNbd::fit_columns(ax.view(), atx.view(), at.view(), &options)
            .map(|m| Box::new(m) as Box<dyn PurchaseModel>),
    ];
    for fit in fits {
        let Ok(model) = fit else { continue };
        assert!(all_valid, "{}: fitted on an impossible row", model.name());
        let (parameters, covariance) = model.estimates().expect("a fitted model has estimates");
        assert!(parameters.iter().all(|p| p.is_finite() && *p > 0.0), "{parameters:?}");
        assert!(covariance.iter().all(|v| v.is_finite()));
        for i in 0..x.len() {
            let ll = model.log_likelihood(x[i], t_x[i], t[i]).expect("a valid row");
            assert!(ll.is_finite(), "{}: ll {ll} at row {i}", model.name());
            assert!(x[i] > 0.0 || ll <= 1e-12, "{}: P(no purchase) above 1: ll {ll} at row {i}", model.name());
            let alive = model.probability_alive(x[i], t_x[i], t[i]).expect("a valid row");
            assert!((0.0..=1.0).contains(&alive), "{}: P(alive) {alive}", model.name());
            if let Ok(e) = model.conditional_expected_purchases(10.0, x[i], t_x[i], t[i]) {
                assert!(e.is_finite() && e >= 0.0, "{}: E {e}", model.name());
            }
        }
    }
}
