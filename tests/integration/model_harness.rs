//! One harness every purchase model passes through (the pattern of statrs'
//! `check_continuous_distribution`): the same properties, checked the same
//! way, for BG/NBD, MBG/NBD, Pareto/NBD and BG/BB, at published parameters
//! and at parameters far from them.

use customer_lifecycle::clv::{BetaGeo, BetaGeoBetaBinom, ParetoNbd, PurchaseModel};
use customer_lifecycle::ndarray::Array1;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Histories valid for every model: whole numbers, so that BG/BB reads them
/// as opportunities; one-time buyers, a customer who bought at every
/// opportunity, long gaps.
const ROWS: [(f64, f64, f64); 7] = [
    (0.0, 0.0, 6.0),
    (1.0, 1.0, 6.0),
    (2.0, 5.0, 6.0),
    (3.0, 4.0, 6.0),
    (6.0, 6.0, 6.0),
    (4.0, 10.0, 20.0),
    (0.0, 0.0, 40.0),
];

/// Whole horizons (BG/BB counts opportunities).
const HORIZONS: [f64; 5] = [0.0, 1.0, 2.0, 5.0, 12.0];

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * b.abs().max(1.0)
}

/// Every property the trait promises, for one model.
fn check_purchase_model(m: &dyn PurchaseModel) {
    let name = m.name();
    for &(x, t_x, age) in &ROWS {
        let alive = m.probability_alive(x, t_x, age).unwrap();
        assert!((0.0..=1.0).contains(&alive), "{name}: P(alive) {alive} at ({x}, {t_x}, {age})");
        assert!(m.log_likelihood(x, t_x, age).unwrap() <= 0.0, "{name}: a probability above 1");
        let if_alive_rows = HORIZONS.map(|t| m.expected_purchases_if_alive(t, x, age).unwrap());
        let mut last = (f64::INFINITY, -1.0, f64::INFINITY);
        for (k, &t) in HORIZONS.iter().enumerate() {
            let later = m.probability_alive_in(t, x, t_x, age).unwrap();
            let expected = m.conditional_expected_purchases(t, x, t_x, age).unwrap();
            let none = m.probability_no_purchase(t, x, t_x, age).unwrap();
            // P(alive later) falls with t and starts at P(alive).
            assert!(later <= last.0 + 1e-12 && later <= alive + 1e-12, "{name}: P(alive in {t}) {later}");
            // Expectations grow with t, from 0, and are P(alive) × E[· | alive].
            assert!(expected >= last.1 - 1e-12, "{name}: E[X({t})] {expected} fell");
            assert!(close(expected, alive * if_alive_rows[k], 1e-10), "{name}: {expected} vs P(alive) E[X | alive]");
            // P(no purchase) is a probability, 1 at t = 0, and falls with t.
            assert!((0.0..=1.0).contains(&none) && none <= last.2 + 1e-12, "{name}: P(none in {t}) {none}");
            if t == 0.0 {
                assert_eq!(expected, 0.0, "{name}");
                assert!(close(none, 1.0, 1e-12) && close(later, alive, 1e-12), "{name}");
            }
            // A purchase needs the customer alive: P(some purchase) ≤ P(alive).
            assert!(1.0 - none <= alive + 1e-9, "{name}: P(some purchase in {t}) {} > P(alive) {alive}", 1.0 - none);
            last = (later, expected, none);
        }
    }
    // A new customer: P(X(t) = n) sums to 1 over n and its mean is E[X(t)].
    for t in [1.0, 6.0] {
        let (mut total, mut mean) = (0.0, 0.0);
        for n in 0..400u32 {
            let p = m.probability_of_purchases(t, n).unwrap();
            assert!((0.0..=1.0).contains(&p), "{name}: P(X({t}) = {n}) = {p}");
            total += p;
            mean += f64::from(n) * p;
        }
        assert!(close(total, 1.0, 1e-9), "{name}: P(X({t}) = n) sums to {total}");
        let expected = m.expected_purchases_new_customer(t).unwrap();
        assert!(close(mean, expected, 1e-7), "{name}: mean {mean} vs E[X({t})] {expected}");
    }
    // Columns equal the per-customer values, bit for bit, and name a bad row.
    let x: Array1<f64> = ROWS.iter().map(|r| r.0).collect();
    let t_x: Array1<f64> = ROWS.iter().map(|r| r.1).collect();
    let age: Array1<f64> = ROWS.iter().map(|r| r.2).collect();
    let alive = m.probability_alive_columns(x.view(), t_x.view(), age.view()).unwrap();
    let expected = m.conditional_expected_purchases_columns(5.0, x.view(), t_x.view(), age.view()).unwrap();
    for (i, &(xi, ti, ai)) in ROWS.iter().enumerate() {
        assert_eq!(alive[i], m.probability_alive(xi, ti, ai).unwrap(), "{name}: row {i}");
        assert_eq!(expected[i], m.conditional_expected_purchases(5.0, xi, ti, ai).unwrap(), "{name}: row {i}");
    }
    let mut bad = t_x.clone();
    bad[3] = age[3] + 1.0; // recency after the end
    let e = m.probability_alive_columns(x.view(), bad.view(), age.view()).unwrap_err();
    assert!(matches!(e, customer_lifecycle::Error::InvalidModelInput { row: 3, .. }), "{name}: {e}");
    assert!(m.conditional_expected_purchases(-1.0, 1.0, 1.0, 6.0).is_err(), "{name}: a negative horizon");
    // The same model rebuilt from its parameters answers the same.
    let params = match m.estimates() {
        Some((p, _)) => p.to_vec(),
        None => return,
    };
    let again = m.with_parameters(&params).unwrap();
    assert_eq!(again.probability_alive(2.0, 5.0, 6.0).unwrap(), m.probability_alive(2.0, 5.0, 6.0).unwrap());
}

/// A saved model loads back equal and answers identically.
fn check_serde<M: PurchaseModel + Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(m: &M) {
    let json = serde_json::to_string(m).unwrap();
    let back: M = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, m);
    for &(x, t_x, age) in &ROWS {
        assert_eq!(back.probability_alive(x, t_x, age).unwrap(), m.probability_alive(x, t_x, age).unwrap());
    }
    // A tampered parameter is refused.
    let tampered = json.replacen(|c: char| c.is_ascii_digit() && c != '0', "-", 1);
    assert!(serde_json::from_str::<M>(&tampered).is_err() || tampered == json, "{}: {tampered}", m.name());
}

#[test]
fn bg_nbd_passes_the_harness() {
    for m in [BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap(), BetaGeo::new(3.0, 0.5, 5.0, 0.7).unwrap()] {
        check_purchase_model(&m);
        check_serde(&m);
    }
}

#[test]
fn mbg_nbd_passes_the_harness() {
    for m in [BetaGeo::modified(0.525, 6.183, 0.891, 1.614).unwrap(), BetaGeo::modified(2.0, 1.0, 0.3, 4.0).unwrap()] {
        check_purchase_model(&m);
        check_serde(&m);
    }
}

#[test]
fn pareto_nbd_passes_the_harness() {
    for m in [ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715).unwrap(), ParetoNbd::new(2.0, 1.0, 1.5, 40.0).unwrap()] {
        check_purchase_model(&m);
        check_serde(&m);
    }
}

#[test]
fn bg_bb_passes_the_harness() {
    for m in [
        BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839).unwrap(),
        BetaGeoBetaBinom::new(0.4, 3.0, 2.5, 0.8).unwrap(),
    ] {
        check_purchase_model(&m);
        check_serde(&m);
    }
}

/// Simulated from known parameters, fitted back: every estimate within three
/// standard errors of the truth (a fixed seed, so the check is repeatable).
fn check_recovery(m: &dyn PurchaseModel, truth: &[f64]) {
    let (estimates, covariance) = m.estimates().expect("a fitted model");
    for (k, (est, t)) in estimates.iter().zip(truth).enumerate() {
        let se = covariance[[k, k]].sqrt();
        assert!((est - t).abs() <= 3.0 * se, "{}: parameter {k} estimated {est} ± {se}, truth {t}", m.name());
    }
}

#[test]
fn fitted_models_pass_the_harness() {
    // Each model simulated from its own truth and fitted back: recovery,
    // then every property of the harness on the fitted model (with a
    // report, so the rebuilt-from-estimates check runs too).
    let ages: Vec<f64> = (0..4_000).map(|i| 20.0 + f64::from(i % 20)).collect();
    let options = customer_lifecycle::clv::FitOptions::default();
    let bg_truth = [0.5, 5.0, 0.8, 2.5];
    let sim = BetaGeo::new(bg_truth[0], bg_truth[1], bg_truth[2], bg_truth[3]).unwrap().simulate(&ages, 3).unwrap();
    let bg = BetaGeo::fit_columns(sim.frequency.view(), sim.recency.view(), sim.age.view(), &options).unwrap();
    let pn_truth = [0.6, 8.0, 0.7, 10.0];
    let sim = ParetoNbd::new(pn_truth[0], pn_truth[1], pn_truth[2], pn_truth[3]).unwrap().simulate(&ages, 4).unwrap();
    let pareto = ParetoNbd::fit_columns(sim.frequency.view(), sim.recency.view(), sim.age.view(), &options).unwrap();
    let bb_truth = [1.2, 0.75, 0.66, 2.78];
    let (x, t_x) = BetaGeoBetaBinom::new(bb_truth[0], bb_truth[1], bb_truth[2], bb_truth[3])
        .unwrap()
        .simulate(5_000, 6, 5)
        .unwrap();
    let n = x.mapv(|_| 6.0);
    let bb = BetaGeoBetaBinom::fit_columns(x.view(), t_x.view(), n.view(), &options).unwrap();
    for (m, truth) in [(&bg as &dyn PurchaseModel, &bg_truth), (&pareto, &pn_truth), (&bb, &bb_truth)] {
        check_recovery(m, truth);
        check_purchase_model(m);
    }
}
