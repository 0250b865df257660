use customer_lifecycle::chrono::NaiveDate;
use customer_lifecycle::*;
fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let log = TransactionLog::cdnow_sample()?;
    let s = log.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    println!(
        "obs end {} cal {:?} first id {} row0 {:?}",
        s.observation_end(),
        s.calibration_end(),
        s.ids()[0],
        s.row(0)
    );
    let h = log.summarize(
        &SummaryOptions::new(TimeUnit::Week)
            .calibration_end(NaiveDate::from_ymd_opt(1997, 9, 30).unwrap())
            .observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap()),
    )?;
    println!(
        "dur {:?} first_in_holdout {} row0 {:?} orders0 {}",
        h.duration_holdout(),
        h.customers_first_seen_in_holdout(),
        h.row(0),
        h.orders()[0]
    );
    println!("scale {} customers {}", log.scale(), log.customers().len());
    Ok(())
}
