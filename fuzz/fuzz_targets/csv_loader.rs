//! The CSV loader on arbitrary bytes. Oracles: no panic; a loaded log has no
//! more rows than the input has data records (the csv crate ends a record at
//! `\n`, `\r` or `\r\n`); every loaded log summarises to one row per customer
//! or a typed error.
#![no_main]

use customer_lifecycle::{CsvOptions, Currency, SummaryOptions, TimeUnit, TransactionLog};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = CsvOptions::new(Currency::EUR);
    let Ok(log) = TransactionLog::from_csv_reader(data, &options) else { return };
    let records = data.split(|&b| b == b'\n' || b == b'\r').filter(|l| !l.is_empty()).count();
    assert!(log.len() <= records, "{} rows from {records} records", log.len());
    if let Ok(summary) = log.summarize(&SummaryOptions::new(TimeUnit::Day)) {
        assert_eq!(summary.len(), log.customers().len());
    }
});
