//! The CSV and CDNOW loaders on arbitrary bytes. Oracles: no panic; a loaded
//! CSV log has no more rows than the input has data records (the csv crate
//! ends a record at `\n`, `\r` or `\r\n`); a loaded CDNOW log has exactly one
//! row per non-blank line, less the master file's header when its first
//! field is not a number; every loaded log summarises to one row per
//! customer or a typed error.

use customer_lifecycle::{CsvOptions, Currency, SummaryOptions, TimeUnit, TransactionLog};

fn summarises(log: &TransactionLog) {
    if let Ok(summary) = log.summarize(&SummaryOptions::new(TimeUnit::Day)) {
        assert_eq!(summary.len(), log.customers().len());
    }
}

/// Runs the oracles on one input; panics on a finding.
pub fn check(data: &[u8]) {
    let options = CsvOptions::new(Currency::EUR);
    if let Ok(log) = TransactionLog::from_csv_reader(data, &options) {
        let records = data.split(|&b| b == b'\n' || b == b'\r').filter(|l| !l.is_empty()).count();
        assert!(log.len() <= records, "{} rows from {records} records", log.len());
        summarises(&log);
    }

    // The CDNOW formats: whitespace-separated, one order per line.
    let lines = || std::str::from_utf8(data).ok().into_iter().flat_map(|t| t.split('\n'));
    let orders = lines().filter(|l| l.split_whitespace().next().is_some()).count();
    if let Ok(log) = TransactionLog::from_cdnow_sample_reader(data) {
        assert_eq!(log.len(), orders, "sample: {} rows from {orders} lines", log.len());
        summarises(&log);
    }
    if let Ok(log) = TransactionLog::from_cdnow_master_reader(data) {
        let header =
            lines().next().and_then(|l| l.split_whitespace().next()).is_some_and(|f| f.trim().parse::<i64>().is_err());
        let expected = orders - usize::from(header);
        assert_eq!(log.len(), expected, "master: {} rows from {orders} lines (header: {header})", log.len());
        summarises(&log);
    }
}
