//! Customers whose first purchase falls on the observation end (age T = 0),
//! as in every shop that acquires customers daily: valid in every model,
//! fit, prediction, CLV and churn score, and counted in the fit report.

use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc};
use customer_lifecycle::churn::{ModelRisk, model_risk};
use customer_lifecycle::clv::{BetaGeo, BetaGeoBetaBinom, Clv, GammaGamma, ParetoNbd, PurchaseModel};
use customer_lifecycle::ndarray::Array1;
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{
    CustomerId, Error, Money, PurchaseSummary, SummaryOptions, TimeUnit, Transaction, TransactionLog,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const LAST_DAY: (i32, u32, u32) = (1998, 6, 30);
const NEWCOMERS: usize = 40;

/// CDNOW plus `NEWCOMERS` customers whose one order is on the last day.
fn with_newcomers() -> Result<(PurchaseSummary, PurchaseSummary), Box<dyn std::error::Error>> {
    let base = TransactionLog::cdnow_sample()?;
    let mut log = base.clone();
    let (y, m, d) = LAST_DAY;
    for k in 0..NEWCOMERS {
        let at = Utc.with_ymd_and_hms(y, m, d, 9 + (k % 12) as u32, 0, 0).single().ok_or("no such time")?;
        let amount = Money::new(Decimal::new(1000 + k as i64 * 37, 2), log.currency());
        log.push(Transaction::order(CustomerId::Text(format!("new-{k:02}@shop.example")), at, amount))?;
    }
    let end = NaiveDate::from_ymd_opt(y, m, d).ok_or("no such date")?;
    let options = SummaryOptions::new(TimeUnit::Week).observation_end(end);
    Ok((log.summarize(&options)?, base.summarize(&options)?))
}

fn newcomer_rows(summary: &PurchaseSummary) -> Vec<usize> {
    (0..summary.len()).filter(|&i| matches!(&summary.ids()[i], CustomerId::Text(s) if s.starts_with("new-"))).collect()
}

#[test]
fn newcomers_have_age_zero_and_leave_every_fit_unchanged() -> TestResult {
    let (summary, base) = with_newcomers()?;
    let rows = newcomer_rows(&summary);
    assert_eq!(rows.len(), NEWCOMERS);
    assert!(rows.iter().all(|&i| summary.age()[i] == 0.0 && summary.frequency()[i] == 0.0));
    type Fit = fn(&PurchaseSummary) -> customer_lifecycle::Result<Box<dyn PurchaseModel>>;
    let fits: [(&str, Fit); 3] = [
        ("BG/NBD", |s| Ok(Box::new(BetaGeo::fit(s)?))),
        ("MBG/NBD", |s| Ok(Box::new(BetaGeo::fit_modified(s, &Default::default())?))),
        ("Pareto/NBD", |s| Ok(Box::new(ParetoNbd::fit(s)?))),
    ];
    for (name, fit) in fits {
        let with = fit(&summary)?;
        let without = fit(&base)?;
        let (pw, cw) = with.estimates().ok_or("fitted")?;
        let (pb, _) = without.estimates().ok_or("fitted")?;
        // Their likelihood is 1 whatever the parameters: the optimum is the
        // same (to the optimiser's tolerance; the start differs slightly).
        for (a, b) in pw.iter().zip(pb) {
            assert!((a - b).abs() <= 1e-5 * b.abs(), "{name}: {pw:?} vs {pb:?}");
        }
        assert!(cw.iter().all(|v| v.is_finite()), "{name}");
        let total: f64 = (0..summary.len())
            .map(|i| with.log_likelihood(summary.frequency()[i], summary.recency()[i], summary.age()[i]))
            .sum::<customer_lifecycle::Result<f64>>()?;
        let base_total: f64 = (0..base.len())
            .map(|i| with.log_likelihood(base.frequency()[i], base.recency()[i], base.age()[i]))
            .sum::<customer_lifecycle::Result<f64>>()?;
        assert_eq!(total, base_total, "{name}: the newcomers add exactly 0");
    }
    let report = BetaGeo::fit(&summary)?;
    let report = report.report().ok_or("fitted")?;
    assert_eq!(report.age_zero, NEWCOMERS);
    assert_eq!(report.observations, summary.len() as f64);
    assert!(report.to_string().contains("40 of age 0"), "{report}");
    Ok(())
}

#[test]
fn newcomers_get_a_new_customers_predictions() -> TestResult {
    let (summary, _) = with_newcomers()?;
    let rows = newcomer_rows(&summary);
    let horizon = 52.0;
    let bg = BetaGeo::fit(&summary)?;
    let mbg = BetaGeo::fit_modified(&summary, &Default::default())?;
    let pareto = ParetoNbd::fit(&summary)?;
    let (_, _, a, b) = mbg.parameters();
    let models: [(&dyn PurchaseModel, f64); 3] = [(&bg, 1.0), (&pareto, 1.0), (&mbg, b / (a + b))];
    for (model, alive_at_zero) in models {
        let alive = model.probability_alive_all(&summary)?;
        let expected = model.conditional_expected_purchases_all(horizon, &summary)?;
        assert_eq!(alive.ids(), summary.ids());
        let alive = alive.column("p_alive").ok_or("p_alive")?;
        let expected = expected.column("expected_purchases").ok_or("expected_purchases")?;
        assert!(alive.iter().chain(expected.iter()).all(|v| v.is_finite()), "{}", model.name());
        let new_customer = model.expected_purchases_new_customer(horizon)?;
        for &i in &rows {
            assert!((alive[i] - alive_at_zero).abs() < 1e-12, "{}: {}", model.name(), alive[i]);
            // At T = 0 the history says nothing: a new customer's expectation.
            assert!((expected[i] - new_customer).abs() < 1e-9 * new_customer, "{}", model.name());
            // And the limit T → 0 agrees (no jump at the boundary).
            let near = model.conditional_expected_purchases(horizon, 0.0, 0.0, 1e-9)?;
            assert!((expected[i] - near).abs() < 1e-6 * near, "{}", model.name());
        }
        let risk = model_risk(model, &summary, ModelRisk::NoPurchaseWithin(13.0))?;
        let risk = risk.column("churn_risk").ok_or("churn_risk")?;
        assert!(risk.iter().all(|r| (0.0..=1.0).contains(r)), "{}", model.name());
    }
    let spend = GammaGamma::fit(&summary)?;
    let table = Clv::new(&bg, &spend).compute(&summary)?;
    let values = table.column("clv").ok_or("clv")?;
    assert!(values.iter().all(|v| v.is_finite() && *v >= 0.0));
    assert!(rows.iter().all(|&i| values[i] > 0.0), "a newcomer is worth something");
    Ok(())
}

#[test]
fn bg_bb_accepts_customers_with_no_opportunity_yet() -> TestResult {
    // The donations data's patterns plus 500 donors acquired in the last
    // year (n = 0): the estimates do not move and the report counts them.
    let mut x = vec![0., 1., 1., 1., 1., 1., 1., 2., 2., 2., 2., 2., 3., 3., 3., 3., 4., 4., 4., 5., 5., 6.];
    let mut t_x = vec![0., 1., 2., 3., 4., 5., 6., 2., 3., 4., 5., 6., 3., 4., 5., 6., 4., 5., 6., 5., 6., 6.];
    let mut n = vec![6.0; x.len()];
    let mut w = vec![
        3464., 1091., 277., 129., 78., 119., 129., 613., 255., 155., 173., 234., 322., 181., 225., 357., 240., 284.,
        512., 335., 728., 1203.,
    ];
    x.push(0.0);
    t_x.push(0.0);
    n.push(0.0);
    let mut w_without = w.clone();
    w.push(500.0);
    w_without.push(0.0);
    let (x, t_x, n) = (Array1::from(x), Array1::from(t_x), Array1::from(n));
    let (w_with, w_without) = (Array1::from(w), Array1::from(w_without));
    let options = Default::default();
    let with = BetaGeoBetaBinom::fit_grouped(x.view(), t_x.view(), n.view(), w_with.view(), &options)?;
    let without = BetaGeoBetaBinom::fit_grouped(x.view(), t_x.view(), n.view(), w_without.view(), &options)?;
    let (pw, pb) = (with.parameters(), without.parameters());
    assert!((pw.0 - pb.0).abs() < 1e-5 * pb.0 && (pw.3 - pb.3).abs() < 1e-5 * pb.3, "{pw:?} vs {pb:?}");
    assert_eq!(with.report().ok_or("fitted")?.age_zero, 500);
    assert_eq!(with.probability_alive(0.0, 0.0, 0.0)?, 1.0);
    assert_eq!(with.log_likelihood(0.0, 0.0, 0.0)?, 0.0);
    Ok(())
}

#[test]
fn impossible_rows_at_age_zero_are_still_refused() -> TestResult {
    let model = BetaGeo::new(0.24, 4.4, 0.79, 2.4)?;
    assert!(model.probability_alive(2.0, 0.0, 0.0).is_err(), "repeat purchases at age 0");
    assert!(model.probability_alive(0.0, 0.0, -1.0).is_err());
    assert_eq!(model.log_likelihood(0.0, 0.0, 0.0)?, 0.0);
    Ok(())
}

#[test]
fn errors_about_a_summary_row_name_the_customer() -> TestResult {
    // BG/BB needs whole opportunities; a week summary's ages are fractional.
    let (summary, _) = with_newcomers()?;
    let e = BetaGeoBetaBinom::fit(&summary).err().ok_or("fractional ages refused")?;
    let Error::InvalidModelInput { row, customer: Some(customer), .. } = &e else {
        return Err(format!("expected a model-input error naming the customer, got {e}").into());
    };
    assert_eq!(customer, &summary.ids()[*row].to_string());
    assert!(e.to_string().contains(&format!("of customer {customer}")), "{e}");
    // The bare columns have no ids: the row only.
    let (x, t_x, age) = (summary.frequency(), summary.recency(), summary.age());
    let e = BetaGeoBetaBinom::fit_columns(x, t_x, age, &Default::default()).err().ok_or("refused")?;
    assert!(matches!(e, Error::InvalidModelInput { customer: None, .. }), "{e}");
    Ok(())
}
