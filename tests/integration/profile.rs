//! The predictive profile (`CustomerPrediction`) on shop-like data: a log
//! simulated from a BG/NBD process with Gamma-Gamma spend, customers
//! acquired every day up to the calibration end, e-mail ids, refunds, a
//! year of holdout. Each column is checked against the model's own
//! functions (the one rule), and the predictions against what the
//! customers then did: the expected next-order date is a median, so about
//! half of the customers given one order by it; the probability of any
//! order and the expected orders match the holdout on average.

use customer_lifecycle::chrono::{Duration, NaiveDate, TimeZone, Utc};
use customer_lifecycle::churn::{CustomerPrediction, Eligibility, ProfileOptions, RiskBands};
use customer_lifecycle::clv::{BetaGeo, GammaGamma, PurchaseModel};
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{
    Currency, CustomerId, Error, Money, SummaryOptions, TimeUnit, Transaction, TransactionKind, TransactionLog,
};
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Exp, Gamma};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::HashMap;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

const FIRST: (i32, u32, u32) = (2022, 7, 1);
const CALIBRATION_END: (i32, u32, u32) = (2024, 6, 30);
const OBSERVATION_END: (i32, u32, u32) = (2025, 6, 30);

/// A shop's log: `customers` acquired uniformly over two years up to the
/// calibration end, buying as BG/NBD customers (λ ~ Gamma(0.6, 40) per
/// day, dropping out after a purchase with p ~ Beta(1, 3)), each order's
/// amount from a Gamma-Gamma spend (in cents), one order in twenty
/// refunded in part the next day; observed for a year after.
fn shop_log(customers: usize, seed: u64) -> TransactionLog {
    let mut g = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (first, obs_end) =
        (day(FIRST.0, FIRST.1, FIRST.2), day(OBSERVATION_END.0, OBSERVATION_END.1, OBSERVATION_END.2));
    let acquisition_days = (day(CALIBRATION_END.0, CALIBRATION_END.1, CALIBRATION_END.2) - first).num_days();
    let last = Utc.from_utc_datetime(&obs_end.and_hms_opt(23, 59, 59).unwrap());
    let mut log = TransactionLog::new(Currency::EUR);
    let eur = |cents: i64| Money::new(Decimal::new(cents, 2), Currency::EUR);
    for k in 0..customers {
        let id = CustomerId::from(format!("customer.{k}@shop.example").as_str());
        let joined = first + Duration::days(g.random_range(0..=acquisition_days));
        let mut at =
            Utc.from_utc_datetime(&joined.and_hms_opt(g.random_range(8..22), g.random_range(0..60), 0).unwrap());
        let lambda: f64 = Gamma::new(0.6, 1.0 / 40.0).unwrap().sample(&mut g);
        let p: f64 = Beta::new(1.0, 3.0).unwrap().sample(&mut g);
        let nu: f64 = Gamma::new(3.0, 1.0 / 150.0).unwrap().sample(&mut g); // the spend's scale
        loop {
            let cents = (Gamma::new(6.0, 1.0 / nu).unwrap().sample(&mut g) * 100.0).round().max(1.0) as i64;
            log.push(Transaction::order(id.clone(), at, eur(cents))).unwrap();
            if g.random::<f64>() < 0.05 && at + Duration::days(1) <= last {
                log.push(Transaction::refund(id.clone(), at + Duration::days(1), eur(cents / 3 + 1))).unwrap();
            }
            if g.random::<f64>() < p {
                break;
            }
            // The next order at least a day later (one purchase a day, as
            // the daily summary counts them).
            let wait: f64 = Exp::new(lambda).unwrap().sample(&mut g);
            if wait + 1.0 > (last - at).as_seconds_f64() / 86_400.0 {
                break;
            }
            at += Duration::seconds((wait * 86_400.0).ceil() as i64 + 86_400);
        }
    }
    log
}

fn options() -> SummaryOptions {
    SummaryOptions::new(TimeUnit::Day)
        .calibration_end(day(CALIBRATION_END.0, CALIBRATION_END.1, CALIBRATION_END.2))
        .observation_end(day(OBSERVATION_END.0, OBSERVATION_END.1, OBSERVATION_END.2))
}

/// Each customer's first order after the calibration end.
fn first_holdout_order(log: &TransactionLog) -> HashMap<CustomerId, NaiveDate> {
    let end = day(CALIBRATION_END.0, CALIBRATION_END.1, CALIBRATION_END.2);
    let mut first: HashMap<CustomerId, NaiveDate> = HashMap::new();
    for t in log.iter().filter(|t| t.kind() == TransactionKind::Order && t.at().date_naive() > end) {
        let d = t.at().date_naive();
        first.entry(t.customer().clone()).and_modify(|f| *f = (*f).min(d)).or_insert(d);
    }
    first
}

#[test]
fn every_column_is_the_models_own_prediction() -> TestResult {
    let log = shop_log(3_000, 11);
    let summary = log.summarize(&options())?;
    assert!(summary.age().iter().any(|t| *t == 0.0), "someone joined on the calibration end");
    let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    let bands = RiskBands::new(0.3, 0.8)?;
    let options = ProfileOptions::new().bands(bands).margin(0.4).clv_intervals(60, 5);
    let profile = CustomerPrediction::compute(&summary, &purchases, &spend, &options)?;
    assert!(profile.warnings().is_empty());
    let t = profile.table();
    assert_eq!(t.ids(), summary.ids());
    assert_eq!(
        t.names(),
        [
            "historic_clv",
            "predicted_clv",
            "predicted_clv_low",
            "predicted_clv_high",
            "total_clv",
            "churn_risk",
            "churn_band",
            "p_alive",
            "expected_purchases",
            "p_any_order",
            "avg_days_between_orders",
            "next_order_date"
        ]
    );
    let (x, t_x, age) = (summary.frequency(), summary.recency(), summary.age());
    let net = summary.net_spend();
    let as_of = profile.as_of();
    let (mut inside, mut with_refund) = (0, 0);
    for (k, id) in summary.ids().iter().enumerate() {
        let v = |c: &str| t.value(id, c).unwrap_or_else(|| panic!("{c} of {id}"));
        let close =
            |a: f64, b: f64, what: &str| assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{what} of {id}: {a} {b}");
        close(v("historic_clv"), 0.4 * net[k], "historic CLV");
        with_refund += usize::from(net[k] < summary.monetary_value()[k] * (x[k] + 1.0) - 1e-9);
        close(v("total_clv"), v("historic_clv") + v("predicted_clv"), "total CLV");
        close(v("p_alive"), purchases.probability_alive(x[k], t_x[k], age[k])?, "P(alive)");
        close(v("expected_purchases"), purchases.conditional_expected_purchases(365.0, x[k], t_x[k], age[k])?, "E[X]");
        close(v("p_any_order"), purchases.probability_purchase_within(365.0, x[k], t_x[k], age[k])?, "P(any)");
        let risk = purchases.probability_no_purchase(90.0, x[k], t_x[k], age[k])?;
        close(v("churn_risk"), risk, "churn risk");
        assert_eq!(t.label(id, "churn_band"), Some(bands.band(risk).to_string().as_str()));
        match t.value(id, "avg_days_between_orders") {
            Some(gap) => close(gap, t_x[k] / x[k], "gap"),
            None => assert_eq!(x[k], 0.0, "{id}"),
        }
        let median = purchases.next_purchase_quantile(0.5, x[k], t_x[k], age[k])?;
        let expected = median.map(|m| as_of + Duration::days(m.ceil() as i64));
        assert_eq!(t.date(id, "next_order_date"), expected, "{id}");
        assert_eq!(expected.is_some(), purchases.probability_any_purchase(x[k], t_x[k], age[k])? >= 0.5, "{id}");
        let (low, high) = (v("predicted_clv_low"), v("predicted_clv_high"));
        assert!(0.0 <= low && low <= high, "{id}: {low} {high}");
        inside += usize::from(low <= v("predicted_clv") && v("predicted_clv") <= high);
    }
    assert!(with_refund > 0, "refunds lower some customers' historic CLV");
    assert!(inside as f64 >= 0.95 * summary.len() as f64, "the estimate inside its interval for {inside} customers");
    // Both kinds of next-order date occur on this data.
    let dates = t.dates("next_order_date").unwrap();
    assert!(dates.iter().any(Option::is_some) && dates.iter().any(Option::is_none));
    Ok(())
}

#[test]
fn predictions_match_what_the_customers_did_next() -> TestResult {
    let log = shop_log(12_000, 23);
    let summary = log.summarize(&options())?;
    let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    let profile = CustomerPrediction::compute(&summary, &purchases, &spend, &ProfileOptions::new())?;
    let t = profile.table();
    let next = first_holdout_order(&log);
    let obs_end = day(OBSERVATION_END.0, OBSERVATION_END.1, OBSERVATION_END.2);
    // The next-order date is the median of the time to the next order: of
    // the customers given one inside the holdout, about half order by it.
    let (mut dated, mut by_date) = (0usize, 0usize);
    let (mut p_any, mut ordered, mut expected) = (0.0, 0usize, 0.0);
    for id in summary.ids() {
        let first = next.get(id);
        if let Some(date) = t.date(id, "next_order_date").filter(|d| *d <= obs_end) {
            dated += 1;
            by_date += usize::from(first.is_some_and(|f| *f <= date));
        }
        p_any += t.value(id, "p_any_order").unwrap();
        ordered += usize::from(first.is_some());
        expected += t.value(id, "expected_purchases").unwrap();
    }
    let share = by_date as f64 / dated as f64;
    println!("{dated} customers with a next-order date in the holdout; {share:.3} ordered by it");
    assert!(dated > 1_000, "{dated}");
    assert!((0.44..=0.60).contains(&share), "{share} of {dated} ordered by their next-order date");
    // P(any order in the year) against the share that ordered, within 3 %.
    let n = summary.len() as f64;
    let realised = ordered as f64 / n;
    println!("mean P(any order) {:.4}, realised {realised:.4}", p_any / n);
    assert!((p_any / n - realised).abs() < 0.03, "{} against {realised}", p_any / n);
    // Expected repeat purchase days against the holdout's, within 10 %.
    let actual: f64 = summary.frequency_holdout().unwrap().sum();
    println!("expected {expected:.0} purchases in the holdout, actual {actual}");
    assert!((expected / actual - 1.0).abs() < 0.10, "{expected} against {actual}");
    Ok(())
}

#[test]
fn ineligible_data_is_refused_or_warned_about_and_bad_settings_are_errors() -> TestResult {
    // Two hundred customers in their first weeks: too few, too short.
    let log = shop_log(3_000, 5);
    let young = log.before(Utc.with_ymd_and_hms(2022, 8, 15, 0, 0, 0).unwrap())?;
    let summary = young.summarize(&SummaryOptions::new(TimeUnit::Day).observation_end(day(2022, 8, 14)))?;
    assert!(summary.len() < 500);
    let (purchases, spend) =
        (BetaGeo::new(0.6, 40.0, 1.0, 3.0)?.in_unit(TimeUnit::Day), GammaGamma::new(6.0, 3.0, 150.0)?);
    match CustomerPrediction::compute(&summary, &purchases, &spend, &ProfileOptions::new()) {
        Err(Error::NotEligible { check, found, needed }) => {
            assert_eq!(check, "customers with orders");
            assert_eq!(found, summary.len().to_string());
            assert_eq!(needed, "at least 500");
        }
        other => panic!("{other:?}"),
    }
    let warned =
        CustomerPrediction::compute(&summary, &purchases, &spend, &ProfileOptions::new().warn_when_ineligible())?;
    let checks: Vec<&str> = warned.warnings().iter().map(|w| w.check).collect();
    assert_eq!(checks[..2], ["customers with orders", "days of history"]);
    assert_eq!(warned.table().len(), summary.len());
    // Without checks it is computed, and every value is finite.
    let none = ProfileOptions::new().eligibility(Eligibility::none());
    let profile = CustomerPrediction::compute(&summary, &purchases, &spend, &none)?;
    assert!(profile.warnings().is_empty());
    // A window of no time, and a model in weeks for a summary in days.
    let zero = none.clone().window(customer_lifecycle::clv::Span::Days(0));
    assert!(matches!(
        CustomerPrediction::compute(&summary, &purchases, &spend, &zero),
        Err(Error::InvalidArgument { .. })
    ));
    let weekly = BetaGeo::new(0.6, 6.0, 1.0, 3.0)?.in_unit(TimeUnit::Week);
    let err = CustomerPrediction::compute(&summary, &weekly, &spend, &none).unwrap_err();
    assert!(err.to_string().contains("weeks"), "{err}");
    // Intervals from a model that was not fitted: an error, not a silent column.
    assert!(CustomerPrediction::compute(&summary, &purchases, &spend, &none.clone().clv_intervals(10, 1)).is_err());
    Ok(())
}
