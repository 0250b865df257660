//! Saved results load only when the code that reads them could have made
//! them: each type round-trips from real data, and a saved text edited so
//! that an invariant breaks is refused with a typed error instead of
//! panicking (or answering nonsense) later.

use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc};
use customer_lifecycle::churn::{Features, LearnedChurn, LogisticOptions};
use customer_lifecycle::clv::ValueLedger;
use customer_lifecycle::lifecycle::{RuleId, StageHistory, StageModel, Transition};
use customer_lifecycle::metrics::{RfmOptions, RfmScores, SegmentMap};
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{
    CohortAnalysis, CohortOptions, Currency, CustomerId, CustomerIndex, ExchangeRates, FixedRates, LifetimeSurvival,
    PurchaseSummary, SummaryOptions, TimeUnit, TransactionLog,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn cdnow() -> Result<PurchaseSummary, customer_lifecycle::Error> {
    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    TransactionLog::cdnow_sample()?.summarize(
        &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    )
}

/// Saves, reloads and compares; returns the saved form for editing.
fn saved<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) -> Result<Value, serde_json::Error> {
    let text = serde_json::to_string(value)?;
    let back: T = serde_json::from_str(&text)?;
    assert_eq!(&back, value);
    serde_json::from_str(&text)
}

/// The saved form with one edit loads as an error that says what is wrong.
fn refused<T: DeserializeOwned + std::fmt::Debug>(mut saved: Value, edit: impl FnOnce(&mut Value), says: &str) {
    edit(&mut saved);
    match serde_json::from_value::<T>(saved.clone()) {
        Ok(v) => panic!("loaded {v:?} from {saved}"),
        Err(e) => assert!(e.to_string().contains(says), "{e} (expected {says:?})"),
    }
}

#[test]
fn rfm_scores() -> TestResult {
    let scores = RfmScores::compute(&cdnow()?, &RfmOptions::new())?;
    let s = saved(&scores)?;
    refused::<RfmScores>(s.clone(), |v| v["recency"][0] = json!(0), "outside 1..=5");
    refused::<RfmScores>(s.clone(), |v| v["options"]["bins"] = json!(3), "outside 1..=3");
    refused::<RfmScores>(s.clone(), |v| v["options"]["bins"] = json!(0), "2..=9");
    refused::<RfmScores>(s.clone(), |v| v["monetary"].as_array_mut().unwrap().pop().map(drop).unwrap(), "scores for");
    refused::<RfmScores>(s.clone(), |v| v["cut_points"]["frequency"] = json!([3.0, 1.0, 2.0, 4.0]), "ascending");
    refused::<RfmScores>(s.clone(), |v| v["ids"][1] = v["ids"][0].clone(), "appears twice");
    Ok(())
}

#[test]
fn segment_maps() -> TestResult {
    let s = saved(&SegmentMap::standard())?;
    refused::<SegmentMap>(s.clone(), |v| v["bins"] = json!(1), "2..=9");
    refused::<SegmentMap>(s.clone(), |v| v["rules"][0]["recency"] = json!([0, 9]), "not inside 1..=5");
    refused::<SegmentMap>(s, |v| v["rules"] = json!([]), "no segments");
    Ok(())
}

#[test]
fn learned_churn() -> TestResult {
    let summary = cdnow()?;
    let churned: Vec<bool> = summary.frequency_holdout().unwrap().iter().map(|&n| n == 0.0).collect();
    let features = Features::from_summary(&summary, |_| false);
    let model = LearnedChurn::train(&features, &churned, &LogisticOptions::new())?.calibrate(&features, &churned)?;
    let s = saved(&model)?;
    // Reloaded, it scores exactly as before.
    let back: LearnedChurn = serde_json::from_value(s.clone())?;
    assert_eq!(back.score(&features)?, model.score(&features)?);
    refused::<LearnedChurn>(s.clone(), |v| v["model"]["beta"].as_array_mut().unwrap().truncate(2), "lengths");
    refused::<LearnedChurn>(s.clone(), |v| v["model"]["scales"][0] = json!(0.0), "scale");
    refused::<LearnedChurn>(s.clone(), |v| v["model"]["names"].as_array_mut().unwrap().push(json!("x")), "lengths");
    refused::<LearnedChurn>(
        s,
        |v| {
            v["model"]["constant"][0] = json!(true);
        },
        "constant feature",
    );
    Ok(())
}

#[test]
fn value_ledgers() -> TestResult {
    let s = saved(&ValueLedger::from_summary(&cdnow()?))?;
    let first = |v: &mut Value| v["customers"][0][1].clone();
    assert!(first(&mut s.clone()).is_object());
    refused::<ValueLedger>(s.clone(), |v| v["customers"][0][1]["returns"] = json!("-1"), "negative");
    refused::<ValueLedger>(
        s,
        |v| {
            v["customers"][0][1]["gross"] = json!("1");
            v["customers"][0][1]["discounts"] = json!("2");
        },
        "exceed the gross",
    );
    Ok(())
}

#[test]
fn lifetime_curves() -> TestResult {
    let curve = LifetimeSurvival::kaplan_meier(&cdnow()?, 26.0)?;
    assert!(curve.steps().len() > 3);
    let s = saved(&curve)?;
    refused::<LifetimeSurvival>(s.clone(), |v| v["steps"][1]["survival"] = json!(1.5), "step");
    refused::<LifetimeSurvival>(s.clone(), |v| v["steps"][2]["time"] = json!(-1.0), "step");
    refused::<LifetimeSurvival>(s.clone(), |v| v["lapse"] = json!(0.0), "lapse window");
    refused::<LifetimeSurvival>(s, |v| v["customers"] = json!(1), "step");
    Ok(())
}

#[test]
fn stage_histories() -> TestResult {
    let model = StageModel::five_phase();
    let st = |n| model.stage(n).unwrap();
    let day = |d| Utc.with_ymd_and_hms(2024, 1, d, 0, 0, 0).unwrap();
    let mut history = StageHistory::new(&model);
    for c in 1..=3 {
        history.start(CustomerId::from(c), day(1), st("interest"))?;
    }
    let moved = Transition { from: st("interest"), to: st("new_customer"), at: day(5), rule: RuleId(0) };
    history.record(&CustomerId::from(1), &moved)?;
    history.record(&CustomerId::from(1), &Transition { at: day(9), ..moved })?;
    let s = saved(&history)?;
    refused::<StageHistory>(s.clone(), |v| v["timelines"][1]["initial"] = json!(200), "outside the");
    refused::<StageHistory>(s.clone(), |v| v["timelines"][2]["customer"] = json!(1), "appears twice");
    refused::<StageHistory>(
        s,
        |v| {
            let t = v["timelines"][0]["transitions"].as_array_mut().unwrap();
            t.swap(0, 1);
        },
        "time order",
    );
    Ok(())
}

#[test]
fn customer_indexes_keep_every_position() -> TestResult {
    let mut index = CustomerIndex::new();
    for id in ["a", "b", "c"] {
        index.insert(CustomerId::from(id))?;
    }
    let text = serde_json::to_string(&index)?;
    let back: CustomerIndex = serde_json::from_str(&text)?;
    assert_eq!(back.ids(), index.ids());
    // ["a", "b", "a", "c"] would load as [a, b, c], moving c from 3 to 2.
    let e = serde_json::from_str::<CustomerIndex>(r#"["a","b","a","c"]"#).unwrap_err();
    assert!(e.to_string().contains("appears twice"), "{e}");
    Ok(())
}

#[test]
fn exchange_rates() -> TestResult {
    let rates = FixedRates::new().with_rate(Currency::CHF, Currency::EUR, "0.95".parse()?)?;
    let text = serde_json::to_string(&rates)?;
    let back: FixedRates = serde_json::from_str(&text)?;
    let at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(back.rate(Currency::CHF, Currency::EUR, at), Some(Decimal::new(95, 2)));
    // Saved as a map of FROM/TO pairs; a rate with_rate refuses is refused.
    assert_eq!(text, r#"{"CHF/EUR":"0.95"}"#);
    for bad in [r#"{"CHF/EUR":"-0.95"}"#, r#"{"CHF/EUR":"0"}"#, r#"{"CHFEUR":"1"}"#, r#"{"CH/EUR":"1"}"#] {
        assert!(serde_json::from_str::<FixedRates>(bad).is_err(), "{bad}");
    }
    Ok(())
}

#[test]
fn cohort_analyses() -> TestResult {
    // Found by the saved_json fuzz target: a cohort with more active
    // customers than members loaded, and its retention read 2.0.
    let cohorts = CohortAnalysis::compute(&TransactionLog::cdnow_sample()?, &CohortOptions::new(TimeUnit::Month))?;
    let s = saved(&cohorts)?;
    let cell = |v: &mut Value, m: &str| v[m]["data"][0].clone();
    assert!(cell(&mut s.clone(), "active").is_u64());
    refused::<CohortAnalysis>(s.clone(), |v| v["active"]["data"][0] = json!(1_000_000), "active");
    refused::<CohortAnalysis>(s.clone(), |v| v["rolling"]["data"][1] = json!(1_000_000), "in every period");
    refused::<CohortAnalysis>(s.clone(), |v| v["sizes"][0] = json!(0), "no customer");
    refused::<CohortAnalysis>(s, |v| v["cohort_periods"][1] = v["cohort_periods"][0].clone(), "out of order");
    Ok(())
}
