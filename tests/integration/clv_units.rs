//! CLV in the user's units: a calendar horizon converted to the data's unit,
//! a unit mismatch refused, and lifetimes' definition reproduced.

use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma, Span};
use customer_lifecycle::ndarray::Array1;
use customer_lifecycle::{Error, SummaryOptions, TimeUnit, TransactionLog};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// lifetimes 0.11.3, `GammaGammaFitter.customer_lifetime_value(bgf, …,
/// time=12, discount_rate=0.01, freq=…)` on its CDNOW summary with the
/// published parameters (tests/fixtures/generate_clv_fixture.py).
#[test]
fn lifetimes_customer_lifetime_value_is_reproduced() -> TestResult {
    let text = std::fs::read_to_string("tests/fixtures/lifetimes_clv_cdnow.csv")?;
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::parse::<f64>).collect::<Result<Vec<f64>, _>>())
        .collect::<Result<_, _>>()?;
    assert_eq!(rows.len(), 2357);
    let column = |k: usize| rows.iter().map(|r| r[k]).collect::<Array1<f64>>();
    let (x, t_x, age, m) = (column(1), column(2), column(3), column(4));
    let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    for (unit, expected) in [(TimeUnit::Week, column(5)), (TimeUnit::Day, column(6))] {
        let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?.in_unit(unit);
        let clv = Clv::new(&purchases, &spend).lifetimes_compatible(12, 0.01);
        let ours = clv.compute_columns(x.view(), t_x.view(), age.view(), m.view())?;
        let worst =
            ours.iter().zip(expected.iter()).map(|(a, b)| (a - b).abs() / b.abs().max(1e-12)).fold(0.0f64, f64::max);
        assert!(worst < 1e-9, "{unit:?}: worst relative difference {worst:e}");
    }
    Ok(())
}

#[test]
fn a_day_summary_gets_a_year_of_days() -> TestResult {
    // The bug: a day-unit summary with the old defaults (52 periods, 52 a
    // year) gave a 52-day CLV. Now the default horizon is one year of the
    // data's unit, and "12 months" means the same.
    let log = TransactionLog::cdnow_sample()?;
    let days = log.summarize(&SummaryOptions::new(TimeUnit::Day))?;
    let model = BetaGeo::fit(&days)?;
    let spend = GammaGamma::fit(&days)?;
    assert_eq!(model.time_unit(), Some(TimeUnit::Day));
    let year: f64 = Clv::new(&model, &spend).compute(&days)?.column("clv").ok_or("clv")?.sum();
    let months: f64 =
        Clv::new(&model, &spend).horizon(Span::Months(12)).compute(&days)?.column("clv").ok_or("clv")?.sum();
    let weeks52: f64 =
        Clv::new(&model, &spend).horizon_in_periods(52.0).compute(&days)?.column("clv").ok_or("clv")?.sum();
    assert_eq!(year, months);
    assert!(year > 3.0 * weeks52, "a year ({year}) is far more than 52 days ({weeks52})");
    // The same data in weeks give nearly the same one-year CLV.
    let weeks = log.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    let weekly = BetaGeo::fit(&weeks)?;
    let in_weeks: f64 = Clv::new(&weekly, &GammaGamma::fit(&weeks)?).compute(&weeks)?.column("clv").ok_or("clv")?.sum();
    assert!((in_weeks - year).abs() < 0.02 * year, "weeks {in_weeks} vs days {year}");
    Ok(())
}

#[test]
fn a_unit_mismatch_is_an_error_not_a_rescaling() -> TestResult {
    let log = TransactionLog::cdnow_sample()?;
    let weeks = log.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    let days = log.summarize(&SummaryOptions::new(TimeUnit::Day))?;
    let weekly = BetaGeo::fit(&weeks)?;
    let spend = GammaGamma::fit(&weeks)?;
    let e = Clv::new(&weekly, &spend).compute(&days).err().ok_or("a week model on a day summary")?;
    assert!(
        matches!(&e, Error::InvalidArgument { reason, .. } if reason.contains("week") && reason.contains("day")),
        "{e}"
    );
    assert!(Clv::new(&weekly, &spend).time_unit(TimeUnit::Day).customer(1.0, 2.0, 3.0, 4.0).is_err());
    // A model from parameters takes the summary's unit.
    let published = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    assert_eq!(Clv::new(&published, &spend).compute(&weeks)?.len(), weeks.len());
    assert!(Clv::new(&published, &spend).customer(1.0, 2.0, 3.0, 4.0).is_err(), "no unit known");
    Ok(())
}
