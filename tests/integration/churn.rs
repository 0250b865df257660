//! Churn scoring against an independent fit (scipy) and on CDNOW with an
//! honest split.

use customer_lifecycle::chrono::NaiveDate;
use customer_lifecycle::churn::{
    Evaluation, Features, LearnedChurn, LogisticOptions, LogisticRegression, ModelRisk, ScoreScale, cadence_risk,
    model_risk,
};
use customer_lifecycle::clv::BetaGeo;
use customer_lifecycle::ndarray::Array2;
use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};

fn fixture(name: &str) -> Vec<Vec<f64>> {
    let mut reader = csv::Reader::from_path(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    reader.records().map(|r| r.unwrap().iter().map(|v| v.parse().unwrap()).collect()).collect()
}

/// Coefficients, intercept and standard errors equal scipy's BFGS optimum
/// of the same penalised likelihood (tests/fixtures/generate_logistic_fixture.py)
/// within 1e-6 relative.
#[test]
fn logistic_regression_matches_scipy() {
    let data = fixture("logistic_l2.csv");
    let x = Array2::from_shape_fn((data.len(), 3), |(i, j)| data[i][j]);
    let y: Vec<bool> = data.iter().map(|r| r[3] == 1.0).collect();
    for expected in fixture("logistic_l2_expected.csv") {
        let options = LogisticOptions::new().l2_penalty(expected[0]);
        let m = LogisticRegression::fit(x.view(), &y, &["x1", "x2", "x3"], &options).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1e-3);
        assert!(close(m.intercept(), expected[1]), "λ {}: intercept {} vs {}", expected[0], m.intercept(), expected[1]);
        for j in 0..3 {
            assert!(
                close(m.coefficients()[j], expected[2 + j]),
                "λ {}: c{j} {} vs {}",
                expected[0],
                m.coefficients()[j],
                expected[2 + j]
            );
            assert!(
                close(m.standard_errors()[j], expected[5 + j]),
                "λ {}: se{j} {} vs {}",
                expected[0],
                m.standard_errors()[j],
                expected[5 + j]
            );
        }
    }
}

/// The honest protocol on the CDNOW sample (weeks): train on features at
/// 1997-07-01 with labels = no purchase up to 1997-09-30 (13 weeks), score
/// at 1997-09-30, judge against the next 13 weeks. The learned scorer ranks
/// better than chance, and its calibrated probabilities are calibrated in
/// the large (mean prediction close to the churn rate).
#[test]
fn cdnow_honest_split() {
    let log =
        TransactionLog::from_cdnow_sample_path(concat!(env!("CARGO_MANIFEST_DIR"), "/data/CDNOW_sample.txt")).unwrap();
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
    let until = |y, m, day| log.before(d(y, m, day).and_hms_opt(0, 0, 0).unwrap().and_utc()).unwrap();
    let train = until(1997, 10, 1)
        .summarize(&SummaryOptions::new(TimeUnit::Week).calibration_end(d(1997, 7, 1)).observation_end(d(1997, 9, 30)))
        .unwrap();
    let test = until(1997, 12, 31)
        .summarize(
            &SummaryOptions::new(TimeUnit::Week).calibration_end(d(1997, 9, 30)).observation_end(d(1997, 12, 30)),
        )
        .unwrap();
    let churned = |s: &customer_lifecycle::PurchaseSummary| -> Vec<bool> {
        s.frequency_holdout().unwrap().iter().map(|&f| f == 0.0).collect()
    };
    let train_features = Features::from_summary(&train, |_| false);
    let learned = LearnedChurn::train(&train_features, &churned(&train), &LogisticOptions::new()).unwrap();
    let learned = learned.calibrate(&train_features, &churned(&train)).unwrap();
    let test_features = Features::from_summary(&test, |_| false);
    let scores: Vec<f64> = learned.score(&test_features).unwrap().into_iter().map(Option::unwrap).collect();
    let labels = churned(&test);
    let e = Evaluation::compute(&scores, &labels, ScoreScale::Probability).unwrap();
    assert!(e.roc_auc > 0.7, "{e:?}");
    let mean: f64 = scores.iter().sum::<f64>() / scores.len() as f64;
    assert!((mean - e.churn_rate).abs() < 0.05, "mean {mean}, rate {}", e.churn_rate);
    // The model-based and cadence scores evaluate on the same customers.
    let bgnbd = BetaGeo::fit(&test).unwrap();
    let quiet = model_risk(&bgnbd, &test, ModelRisk::NoPurchaseWithin(13.0)).unwrap();
    let quiet = quiet.column("churn_risk").unwrap().to_vec();
    assert!(Evaluation::compute(&quiet, &labels, ScoreScale::Probability).unwrap().roc_auc > 0.7);
    let cadence = cadence_risk(&test).unwrap().column("cadence_risk").unwrap().to_vec();
    assert!(Evaluation::compute(&cadence, &labels, ScoreScale::Ranking).unwrap().roc_auc > 0.6);
}
