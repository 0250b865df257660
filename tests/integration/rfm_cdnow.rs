//! RFM on the CDNOW sample: bin sizes, tie handling, segments.

use std::collections::BTreeMap;

use customer_lifecycle::chrono::NaiveDate;
use customer_lifecycle::metrics::{OTHER_SEGMENT, RfmMonetary, RfmOptions, RfmScores, SegmentMap, TiePolicy};
use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};

fn summary() -> customer_lifecycle::PurchaseSummary {
    let log =
        TransactionLog::from_cdnow_sample_path(concat!(env!("CARGO_MANIFEST_DIR"), "/data/CDNOW_sample.txt")).unwrap();
    log.summarize(&SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap()))
        .unwrap()
}

#[test]
fn equal_sized_bins_hold_a_fifth_each() {
    let s = summary();
    let rfm = RfmScores::compute(&s, &RfmOptions::new().ties(TiePolicy::EqualSizedBins)).unwrap();
    for dim in 0..3 {
        let mut counts = [0usize; 6];
        for k in 0..rfm.len() {
            let (r, f, m) = rfm.scores(k);
            counts[[r, f, m][dim] as usize] += 1;
        }
        // 2,357 customers: bins of 471 or 472.
        for c in &counts[1..] {
            assert!((471..=472).contains(c), "dimension {dim}: {counts:?}");
        }
    }
}

#[test]
fn value_based_bins_keep_ties_together_and_recency_is_inverse() {
    let s = summary();
    // The default: equal values get equal scores.
    assert_eq!(RfmOptions::new(), RfmOptions::new().ties(TiePolicy::ValueBased));
    let rfm = RfmScores::compute(&s, &RfmOptions::new()).unwrap();
    // Customers with the same number of orders share an F score.
    let mut by_orders: BTreeMap<u32, u8> = BTreeMap::new();
    let mut most_recent = (f64::INFINITY, 0u8);
    for (k, row) in s.rows().enumerate() {
        let (r, f, _) = rfm.scores(k);
        assert_eq!(*by_orders.entry(row.orders).or_insert(f), f, "orders {}", row.orders);
        if row.time_since_last_purchase() < most_recent.0 {
            most_recent = (row.time_since_last_purchase(), r);
        }
    }
    assert_eq!(most_recent.1, 5, "the most recent buyer scores R = 5");
    // More than half of CDNOW bought once: value-based F bins are uneven.
    let cuts = &rfm.cut_points().frequency;
    assert_eq!(cuts.len(), 4);
    assert!(cuts.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn segments_cover_the_population() {
    let s = summary();
    let rfm = RfmScores::compute(&s, &RfmOptions::new().monetary(RfmMonetary::AverageOrderValue)).unwrap();
    let map = SegmentMap::standard();
    let segments = map.assign(&rfm).unwrap();
    assert_eq!(segments.len(), s.len());
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for seg in &segments {
        *counts.entry(seg).or_default() += 1;
    }
    assert!(counts.get("champions").copied().unwrap_or(0) > 0, "{counts:?}");
    assert!(counts.keys().all(|k| *k == OTHER_SEGMENT || map.rules().iter().any(|r| r.label == *k)));
    // Scores of another k cannot use a five-bin map.
    let four = RfmScores::compute(&s, &RfmOptions::new().bins(4)).unwrap();
    assert!(SegmentMap::standard().assign(&four).is_err());
    assert!(RfmScores::compute(&s, &RfmOptions::new().bins(10)).is_err());
}

/// One customer scored from the cut points alone gets the scores of the
/// whole computation, for every CDNOW_master customer and both monetary
/// measures (value-based bins).
#[test]
fn scores_from_cut_points_equal_the_computed_scores() {
    let log =
        TransactionLog::from_cdnow_master_path(concat!(env!("CARGO_MANIFEST_DIR"), "/data/CDNOW_master.txt")).unwrap();
    let summary = log.summarize(&SummaryOptions::new(TimeUnit::Week)).unwrap();
    for (monetary, bins) in [(RfmMonetary::NetSpend, 5), (RfmMonetary::AverageOrderValue, 4)] {
        let rfm = RfmScores::compute(&summary, &RfmOptions::new().bins(bins).monetary(monetary)).unwrap();
        for (k, row) in summary.rows().enumerate() {
            let net: f64 = row.net.try_into().unwrap();
            let m = match monetary {
                RfmMonetary::NetSpend => net,
                _ => net / f64::from(row.orders.max(1)),
            };
            let scores = rfm.cut_points().scores_of(row.age - row.recency, f64::from(row.orders), m).unwrap();
            assert_eq!(scores, rfm.scores(k), "{}", row.customer);
        }
    }
    assert!(
        RfmScores::compute(&summary, &RfmOptions::new()).unwrap().cut_points().scores_of(f64::NAN, 1.0, 1.0).is_err()
    );
}
