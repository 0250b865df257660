//! Property tests: partial summaries merge associatively and commutatively
//! into exactly the one-pass summary, for shards split by customer, by
//! contiguous time ranges, and both; and row order never changes a summary.

use customer_lifecycle::chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{
    Currency, CustomerAccumulator, CustomerId, CustomerSummary, Money, PartialSummary, PurchaseSummary, SummaryOptions,
    TimeUnit, Transaction, TransactionKind, TransactionLog,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Row {
    customer: i64,
    /// Hours after 2024-01-01 00:00 UTC.
    hour: i64,
    cents: i64,
    is_return: bool,
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec(
        (0i64..6, 0i64..(60 * 24), 0i64..50_000, prop::bool::weighted(0.15))
            .prop_map(|(customer, hour, cents, is_return)| Row { customer, hour, cents, is_return }),
        0..60,
    )
    .prop_map(|mut v| {
        // Every customer orders in the first hour, so no return precedes all orders.
        for c in 0..6 {
            v.push(Row { customer: c, hour: c, cents: 1_000 + c, is_return: false });
        }
        v
    })
}

fn log_of<'a>(rows: impl IntoIterator<Item = &'a Row>) -> TransactionLog {
    let mut log = TransactionLog::new(Currency::EUR);
    for r in rows {
        let at = start() + Duration::hours(r.hour);
        let amount = Money::new(Decimal::new(r.cents, 2), Currency::EUR);
        let t = if r.is_return {
            Transaction::refund(CustomerId::from(r.customer), at, amount)
        } else {
            Transaction::order(CustomerId::from(r.customer), at, amount)
        };
        log.push(t).unwrap();
    }
    log
}

fn options(mode: usize) -> SummaryOptions {
    let base = match mode {
        0 => SummaryOptions::new(TimeUnit::Day),
        1 => SummaryOptions::new(TimeUnit::Week),
        2 => SummaryOptions::new(TimeUnit::Week).calendar_periods(),
        _ => SummaryOptions::new(TimeUnit::Month).calendar_periods(),
    };
    let base = base.observation_end(NaiveDate::from_ymd_opt(2024, 3, 31).unwrap());
    if mode.is_multiple_of(2) { base.calibration_end(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap()) } else { base }
}

/// Splits rows into shards: contiguous time ranges at the given cut hours,
/// each then split by customer parity when `by_customer`.
fn shards(rows: &[Row], cuts: &[i64], by_customer: bool) -> Vec<Vec<Row>> {
    let mut cuts = cuts.to_vec();
    cuts.sort_unstable();
    let mut out: Vec<Vec<Row>> = Vec::new();
    let mut bounds = vec![i64::MIN];
    bounds.extend(cuts);
    bounds.push(i64::MAX);
    for w in bounds.windows(2) {
        let in_range: Vec<Row> = rows.iter().filter(|r| r.hour >= w[0] && r.hour < w[1]).cloned().collect();
        if by_customer {
            out.push(in_range.iter().filter(|r| r.customer % 2 == 0).cloned().collect());
            out.push(in_range.iter().filter(|r| r.customer % 2 == 1).cloned().collect());
        } else {
            out.push(in_range);
        }
    }
    out
}

fn partials(shards: &[Vec<Row>], opts: &SummaryOptions) -> Vec<PartialSummary> {
    shards.iter().map(|s| log_of(s).partial_summary(opts).unwrap()).collect()
}

fn fold(parts: &[PartialSummary]) -> PurchaseSummary {
    let mut acc = parts[0].clone();
    for p in &parts[1..] {
        acc.merge(p).unwrap();
    }
    acc.finish().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn merge_equals_one_pass(
        rows in rows(),
        cuts in prop::collection::vec(1i64..(60 * 24), 0..4),
        by_customer in any::<bool>(),
        mode in 0usize..4,
    ) {
        let opts = options(mode);
        let one_pass = log_of(&rows).summarize(&opts).unwrap();
        let parts = partials(&shards(&rows, &cuts, by_customer), &opts);

        // In order, and in reverse order (commutativity).
        prop_assert_eq!(&fold(&parts), &one_pass);
        let mut reversed = parts.clone();
        reversed.reverse();
        prop_assert_eq!(&fold(&reversed), &one_pass);

        // Grouped differently (associativity): (p0 ⊕ (p1 ⊕ (p2 ⊕ …))).
        let mut right = parts.last().unwrap().clone();
        for p in parts.iter().rev().skip(1) {
            let mut q = p.clone();
            q.merge(&right).unwrap();
            right = q;
        }
        prop_assert_eq!(&right.finish().unwrap(), &one_pass);
    }

    #[test]
    fn row_order_does_not_matter(rows in rows(), seed in any::<u64>(), mode in 0usize..4) {
        let opts = options(mode);
        let mut shuffled = rows.clone();
        // A cheap deterministic shuffle.
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(log_of(&rows).summarize(&opts).unwrap(), log_of(&shuffled).summarize(&opts).unwrap());
    }

    #[test]
    fn merged_partials_survive_serde(rows in rows(), cut in 1i64..(60 * 24)) {
        let opts = options(0);
        let parts = partials(&shards(&rows, &[cut], false), &opts);
        let json = serde_json::to_string(&parts[1]).unwrap();
        let back: PartialSummary = serde_json::from_str(&json).unwrap();
        let mut a = parts[0].clone();
        a.merge(&back).unwrap();
        prop_assert_eq!(a.finish().unwrap(), log_of(&rows).summarize(&opts).unwrap());
    }
}

/// Each customer's rows dealt to `groups` accumulators at random (rows in
/// no order, periods interleaving freely), merged in a random order: the
/// rows a query engine's aggregate computes.
fn accumulated(rows: &[Row], opts: &SummaryOptions, groups: usize, seed: u64) -> Vec<CustomerSummary> {
    let rules = opts.rules().unwrap();
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut customers: Vec<i64> = rows.iter().map(|r| r.customer).collect();
    customers.sort_unstable();
    customers.dedup();
    let mut out = Vec::new();
    for c in customers {
        let id = CustomerId::from(c);
        let mut parts = vec![CustomerAccumulator::default(); groups];
        for r in rows.iter().filter(|r| r.customer == c) {
            let kind = if r.is_return { TransactionKind::Return } else { TransactionKind::Order };
            let k = (next() % groups as u64) as usize;
            rules.add(&mut parts[k], &id, start() + Duration::hours(r.hour), kind, Decimal::new(r.cents, 2)).unwrap();
        }
        while parts.len() > 1 {
            let j = (next() % parts.len() as u64) as usize;
            let part = parts.swap_remove(j);
            let i = (next() % parts.len() as u64) as usize;
            parts[i].merge(&part).unwrap();
        }
        if let Some(row) = rules.summary(&parts[0]).unwrap() {
            out.push(row);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn customer_accumulators_equal_the_summary(
        rows in rows(),
        groups in 1usize..5,
        seed in any::<u64>(),
        mode in 0usize..4,
    ) {
        let opts = options(mode);
        let summary = log_of(&rows).summarize(&opts).unwrap();
        let expected: Vec<CustomerSummary> = summary.rows().collect();
        let got = accumulated(&rows, &opts, groups, seed);
        prop_assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            // Bit for bit: the f64 fields compared exactly, the sums as decimals.
            prop_assert_eq!(g, e);
            prop_assert_eq!(g.monetary_value.to_bits(), e.monetary_value.to_bits());
        }
    }
}

#[test]
fn customer_accumulator_refusals_change_nothing() {
    let opts = options(0);
    let rules = opts.rules().unwrap();
    let id = CustomerId::from("ana@example.com");
    let mut acc = CustomerAccumulator::default();
    rules.add(&mut acc, &id, start(), TransactionKind::Order, Decimal::new(1250, 2)).unwrap();
    let before = acc.clone();
    let late = start() + Duration::days(120);
    for (at, amount) in [
        (late, Decimal::ONE),                                                    // after the observation end
        (start(), Decimal::new(-5, 0)),                                          // negative
        (start(), Decimal::new(1, 7)),                                           // seven decimals
        (start(), Decimal::from(customer_lifecycle::MAX_AMOUNT) + Decimal::ONE), // too large
    ] {
        let e = rules.add(&mut acc, &id, at, TransactionKind::Order, amount).unwrap_err();
        assert!(e.to_string().contains("ana@example.com"), "{e}");
        assert_eq!(acc, before);
    }
    // Another customer's row, and a merge of two customers.
    assert!(rules.add(&mut acc, &CustomerId::from(2), start(), TransactionKind::Order, Decimal::ONE).is_err());
    let mut other = CustomerAccumulator::default();
    rules.add(&mut other, &CustomerId::from(2), start(), TransactionKind::Order, Decimal::ONE).unwrap();
    assert!(acc.merge(&other).is_err());
    assert_eq!(acc, before);
    // A return without an order is refused when the row is read, naming the customer.
    let mut refund_only = CustomerAccumulator::default();
    rules.add(&mut refund_only, &id, start(), TransactionKind::Return, Decimal::ONE).unwrap();
    let e = rules.summary(&refund_only).unwrap_err();
    assert!(
        matches!(e, customer_lifecycle::Error::ReturnWithoutOrder { ref customer, .. } if customer == "ana@example.com")
    );
    // Hostile parts are refused.
    use customer_lifecycle::WindowAccumulator;
    assert!(WindowAccumulator::from_parts(vec![1, 1], 0, 0, 2, 0, 0).is_err());
    assert!(WindowAccumulator::from_parts(vec![1], 5, 4, 1, 0, 0).is_err());
    assert!(WindowAccumulator::from_parts(vec![], 0, 0, 1, 0, 0).is_err());
    assert!(WindowAccumulator::from_parts(vec![1], 0, 0, 1, -1, 1).is_err());
}
