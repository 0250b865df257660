//! RFM, cohorts, KPIs and the lifetime curve on arbitrary small logs.
//! Oracles: no panic; a typed error or results in range — RFM scores in
//! 1..=k with one row per customer and equal values scoring equally;
//! retention shares in 0..=1 where complete; KPI rates in 0..=1 (return
//! rates at least 0: a window's returns may be of earlier orders) with
//! retained ≤ previous buyers; the lifetime curve non-increasing in 0..=1.

use customer_lifecycle::chrono::{DateTime, TimeDelta};
use customer_lifecycle::metrics::{RfmOptions, RfmScores};
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{
    CohortAnalysis, CohortOptions, Currency, CustomerId, LifetimeSurvival, Money, PurchaseKpis, RetentionMode,
    SummaryOptions, TimeUnit, Transaction, TransactionLog,
};

/// Runs the oracles on one input; panics on a finding.
pub fn check(data: &[u8]) {
    let Some((&head, rows)) = data.split_first() else { return };
    let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
    let mut log = TransactionLog::new(Currency::EUR);
    // 4 bytes a row: customer, day (0..=255), amount in cents, kind.
    for c in rows.chunks_exact(4).take(200) {
        let at = start + TimeDelta::days(i64::from(c[1])) + TimeDelta::minutes(i64::from(c[3] & 0x3f) * 20);
        let amount = Money::new(Decimal::new(i64::from(c[2]) * 137, 2), Currency::EUR);
        let customer = CustomerId::from(i64::from(c[0] % 32));
        let t = if c[3] & 0x80 != 0 {
            Transaction::refund(customer, at, amount)
        } else {
            Transaction::order(customer, at, amount)
        };
        let _ = log.push(t);
    }
    if log.is_empty() {
        return;
    }
    let unit = [TimeUnit::Day, TimeUnit::Week, TimeUnit::Days(3)][usize::from(head % 3)];
    if let Ok(summary) = log.summarize(&SummaryOptions::new(unit)) {
        let k = 2 + head % 8;
        if let Ok(rfm) = RfmScores::compute(&summary, &RfmOptions::new().bins(k)) {
            assert_eq!(rfm.len(), summary.len());
            let rows: Vec<_> = summary.rows().collect();
            for i in 0..rfm.len() {
                let (r, f, m) = rfm.scores(i);
                assert!([r, f, m].iter().all(|s| (1..=k).contains(s)), "{r} {f} {m} of {k}");
                for j in 0..i {
                    if rows[j].orders == rows[i].orders {
                        assert_eq!(rfm.scores(j).1, f, "equal order counts, different F");
                    }
                }
            }
        }
        if let Ok(curve) = LifetimeSurvival::kaplan_meier(&summary, f64::from(head % 40 + 1)) {
            let mut last = 1.0;
            for s in curve.steps() {
                assert!((0.0..=1.0).contains(&s.survival) && s.survival <= last + 1e-12, "{} after {last}", s.survival);
                last = s.survival;
            }
        }
    }
    let cohort_unit = [TimeUnit::Day, TimeUnit::Week, TimeUnit::Month][usize::from(head / 3 % 3)];
    if let Ok(cohorts) = CohortAnalysis::compute(&log, &CohortOptions::new(cohort_unit)) {
        let retention = cohorts.retention(RetentionMode::OnPeriod);
        for r in 0..cohorts.cohorts().len() {
            for n in 0..cohorts.columns() {
                if let Some(v) = cohorts.get(&retention, r, n) {
                    assert!((0.0..=1.0).contains(&v), "retention {v}");
                }
            }
        }
    }
    let from = start + TimeDelta::days(i64::from(head));
    if let Ok(k) = PurchaseKpis::compute(&log, from, from + TimeDelta::days(30)) {
        for rate in [k.repeat_purchase_rate, k.retention_rate.unwrap_or(0.0), k.churn_rate.unwrap_or(0.0)] {
            assert!((0.0..=1.0).contains(&rate), "rate {rate}");
        }
        // Returns of earlier orders count too: at least 0, not at most 1.
        assert!(k.return_rate_count >= 0.0 && k.return_rate_value >= 0.0 && k.return_rate_value.is_finite());
        assert!(k.retained <= k.previous_buyers && k.repeat_buyers <= k.buyers && k.buyers <= 32);
    }
}
