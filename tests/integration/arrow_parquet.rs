//! Arrow and Parquet in and out (feature `arrow`): the same log as the CSV
//! loader gives, whatever the column types; the same typed errors; the
//! summary written and read back.

use std::sync::Arc;

use customer_lifecycle::arrow_array::types::Int32Type;
use customer_lifecycle::arrow_array::{
    ArrayRef, Date32Array, Decimal128Array, Float64Array, Int64Array, ListArray, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc};
use customer_lifecycle::parquet::arrow::ArrowWriter;
use customer_lifecycle::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{
    CsvOptions, Currency, CustomerId, Error, FixedRates, IdKind, SummaryOptions, TimeUnit, Transaction, TransactionLog,
};

use crate::shop_generator::{ExportStyle, ShopConfig, generate, to_csv};

fn col(a: impl customer_lifecycle::arrow_array::Array + 'static) -> ArrayRef {
    Arc::new(a)
}

fn transactions(log: &TransactionLog) -> Vec<Transaction> {
    log.iter().collect()
}

fn shop_options() -> CsvOptions {
    crate::shop_export::options(ExportStyle::Iso)
}

fn write(path: &std::path::Path, batches: &[RecordBatch]) {
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batches[0].schema(), None).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

/// CDNOW's master file as Parquet files of typed columns (integer ids,
/// `Date32` days, `Decimal128` cents), split into batches and files: the
/// same log and the same summary as from the text file.
#[test]
fn cdnow_from_parquet_files_equals_the_text_file() {
    let text = TransactionLog::from_cdnow_master_path("data/CDNOW_master.txt").unwrap();
    let rows = transactions(&text);
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let batch = |part: &[Transaction]| {
        let ids: Vec<i64> = part.iter().map(|t| t.customer().to_string().parse().unwrap()).collect();
        let days: Vec<i32> = part.iter().map(|t| (t.at().date_naive() - epoch).num_days() as i32).collect();
        // CDNOW's amounts have two decimals: whole cents.
        let cents: Vec<i128> =
            part.iter().map(|t| (t.amount().amount() * Decimal::from(100)).normalize().mantissa()).collect();
        RecordBatch::try_from_iter([
            ("customer_id", col(Int64Array::from(ids))),
            ("date", col(Date32Array::from(days))),
            ("amount", col(Decimal128Array::from(cents).with_precision_and_scale(12, 2).unwrap())),
        ])
        .unwrap()
    };
    let dir = std::env::temp_dir().join(format!("clm-arrow-cdnow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let chunks: Vec<&[Transaction]> = rows.chunks(20_000).collect();
    let (first, second) = chunks.split_at(chunks.len() / 2);
    write(&dir.join("a.parquet"), &first.iter().map(|c| batch(c)).collect::<Vec<_>>());
    write(&dir.join("b.parquet"), &second.iter().map(|c| batch(c)).collect::<Vec<_>>());
    // Integer ids read as numbers, as the CDNOW loader reads them.
    let options = CsvOptions::new(Currency::USD).id_kind(IdKind::Number);
    let a = TransactionLog::from_parquet_path(dir.join("a.parquet"), &options).unwrap();
    let b = TransactionLog::from_parquet_path(dir.join("b.parquet"), &options).unwrap();
    let mut both = transactions(&a);
    both.extend(transactions(&b));
    let mut expected = rows.clone();
    let key = |t: &Transaction| (t.customer().to_string(), t.at(), t.amount().amount());
    both.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(both.len(), expected.len());
    assert!(both == expected, "the rows differ");
    // One log from the batches of both files: the same summary as the text file's.
    let reader = |p: &str| {
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(dir.join(p)).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
    };
    let all =
        TransactionLog::from_record_batches(reader("a.parquet").chain(reader("b.parquet")), &options, None).unwrap();
    let week = SummaryOptions::new(TimeUnit::Week);
    assert_eq!(all.summarize(&week).unwrap(), text.summarize(&week).unwrap());
    // The summary out as Parquet and back.
    let summary = text.summarize(&week.calibration_end(NaiveDate::from_ymd_opt(1997, 9, 30).unwrap())).unwrap();
    summary.write_parquet(dir.join("summary.parquet")).unwrap();
    let back: Vec<RecordBatch> = reader("summary.parquet").collect();
    let names: Vec<String> = back[0].schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names[..4], ["customer_id", "frequency_cal", "recency_cal", "T_cal"]);
    let rows_back: usize = back.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows_back, summary.len());
    let t_cal: Vec<f64> = back
        .iter()
        .flat_map(|b| b.column(3).as_any().downcast_ref::<Float64Array>().unwrap().values().to_vec())
        .collect();
    assert_eq!(t_cal, summary.age().to_vec());
    // A prediction table out and back: the same ids and values, bit for bit.
    use customer_lifecycle::clv::BetaGeo;
    let model = BetaGeo::fit(&summary).unwrap();
    let table = model.probability_alive_all(&summary).unwrap();
    table.write_parquet(dir.join("p_alive.parquet")).unwrap();
    let back: Vec<RecordBatch> = reader("p_alive.parquet").collect();
    let ids: Vec<i64> = back
        .iter()
        .flat_map(|b| b.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec())
        .collect();
    let p: Vec<f64> = back
        .iter()
        .flat_map(|b| b.column(1).as_any().downcast_ref::<Float64Array>().unwrap().values().to_vec())
        .collect();
    assert_eq!(ids, table.ids().iter().map(|c| c.to_string().parse::<i64>().unwrap()).collect::<Vec<_>>());
    assert_eq!(p, table.column("p_alive").unwrap().to_vec());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The shop export (e-mail ids with case and blank variants, Berlin times
/// with offsets, two currencies, refunds, repeated rows) as batches of
/// text, and again with typed timestamps and float and decimal amounts:
/// the same log as the CSV file gives.
#[test]
fn a_shop_export_in_any_column_types_loads_as_its_csv() {
    let export = generate(&ShopConfig { seed: 11, customers: 1_500, ..ShopConfig::default() });
    let rates = FixedRates::new().with_rate(Currency::CHF, Currency::EUR, Decimal::new(105, 2)).unwrap();
    let csv = TransactionLog::from_csv_reader_with_rates(
        to_csv(&export, ExportStyle::Iso).as_bytes(),
        &shop_options(),
        &rates,
    )
    .unwrap();
    let rows = &export.rows;
    let instant = |r: &crate::shop_generator::ExportRow| {
        customer_lifecycle::chrono::FixedOffset::east_opt(r.offset_seconds)
            .unwrap()
            .from_local_datetime(&r.local)
            .unwrap()
            .with_timezone(&Utc)
    };
    let emails = col(StringArray::from_iter_values(rows.iter().map(|r| r.email.clone())));
    let currency = col(StringArray::from_iter_values(rows.iter().map(|r| r.currency)));
    let order = col(StringArray::from_iter_values(rows.iter().map(|r| r.order_id.clone())));
    let kind = col(StringArray::from_iter_values(rows.iter().map(|r| if r.refund { "refund" } else { "order" })));
    let times_text = col(StringArray::from_iter_values(rows.iter().map(|r| instant(r).to_rfc3339())));
    let times =
        col(TimestampMillisecondArray::from(rows.iter().map(|r| instant(r).timestamp_millis()).collect::<Vec<_>>())
            .with_timezone("Europe/Berlin"));
    let decimal = col(Decimal128Array::from(rows.iter().map(|r| i128::from(r.cents)).collect::<Vec<_>>())
        .with_precision_and_scale(14, 2)
        .unwrap());
    let float = col(Float64Array::from(rows.iter().map(|r| r.cents as f64 / 100.0).collect::<Vec<_>>()));
    let batch = |created: &ArrayRef, total: &ArrayRef| {
        RecordBatch::try_from_iter([
            ("email", emails.clone()),
            ("created_at", created.clone()),
            ("total", total.clone()),
            ("currency", currency.clone()),
            ("order_id", order.clone()),
            ("kind", kind.clone()),
        ])
        .unwrap()
    };
    for (created, total) in [(&times_text, &decimal), (&times, &decimal), (&times, &float)] {
        let b = batch(created, total);
        // In three batches, as a reader hands them over.
        let n = b.num_rows();
        let parts = [b.slice(0, n / 3), b.slice(n / 3, n / 3), b.slice(2 * (n / 3), n - 2 * (n / 3))];
        let log = TransactionLog::from_record_batches(parts, &shop_options(), Some(&rates)).unwrap();
        assert_eq!(transactions(&log), transactions(&csv), "{:?} / {:?}", created.data_type(), total.data_type());
        assert_eq!(log.customers().ids(), csv.customers().ids());
    }
}

#[test]
fn bad_batches_get_the_loaders_typed_errors() {
    let ids = col(StringArray::from(vec!["a", "b", "c"]));
    let dates = col(StringArray::from(vec!["2024-05-01", "2024-05-02", "2024-05-03"]));
    let options = CsvOptions::new(Currency::EUR);
    let load = |amount: ArrayRef| {
        let b = RecordBatch::try_from_iter([("customer_id", ids.clone()), ("date", dates.clone()), ("amount", amount)])
            .unwrap();
        TransactionLog::from_record_batches([b.slice(0, 1), b.slice(1, 2)], &options, None)
    };
    // A null amount on the third row (second batch): the loader's parse error, row 3.
    match load(col(Float64Array::from(vec![Some(1.0), Some(2.0), None]))) {
        Err(Error::Parse { line: 3, column, .. }) => assert_eq!(column, "amount"),
        other => panic!("{other:?}"),
    }
    // Not a number, and a negative amount.
    assert!(matches!(load(col(Float64Array::from(vec![1.0, f64::NAN, 2.0]))), Err(Error::Parse { line: 2, .. })));
    assert!(matches!(load(col(Int64Array::from(vec![1, 2, -3]))), Err(Error::InRow { line: 3, .. })));
    // A column of a type the loader does not read.
    let lists = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)]), None, Some(vec![])]);
    assert!(matches!(load(col(lists)), Err(Error::Columnar { .. })));
    // A missing column; batches of two schemas.
    let b = RecordBatch::try_from_iter([("customer_id", ids.clone()), ("date", dates.clone())]).unwrap();
    assert!(matches!(TransactionLog::from_record_batches([b], &options, None), Err(Error::MissingColumn { .. })));
    let ints = RecordBatch::try_from_iter([
        ("customer_id", ids.clone()),
        ("date", dates.clone()),
        ("amount", col(Int64Array::from(vec![1, 2, 3]))),
    ])
    .unwrap();
    let floats = RecordBatch::try_from_iter([
        ("customer_id", ids.clone()),
        ("date", dates.clone()),
        ("amount", col(Float64Array::from(vec![1.0, 2.0, 3.0]))),
    ])
    .unwrap();
    assert!(matches!(
        TransactionLog::from_record_batches([ints.clone(), floats], &options, None),
        Err(Error::Columnar { .. })
    ));
    // Not a Parquet file; no file at all.
    let path = std::env::temp_dir().join(format!("clm-not-parquet-{}.parquet", std::process::id()));
    std::fs::write(&path, "customer_id,date,amount\n").unwrap();
    assert!(matches!(TransactionLog::from_parquet_path(&path, &options), Err(Error::Columnar { .. })));
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(TransactionLog::from_parquet_path(&path, &options), Err(Error::Io { .. })));
    // Numeric ids stay numbers.
    let numbers = RecordBatch::try_from_iter([
        ("customer_id", col(Int64Array::from(vec![7, 7, 9]))),
        ("date", dates.clone()),
        ("amount", col(Int64Array::from(vec![1, 2, 3]))),
    ])
    .unwrap();
    let log = TransactionLog::from_record_batches([numbers], &options.clone().id_kind(IdKind::Number), None).unwrap();
    assert_eq!(log.customers().ids(), [CustomerId::from(7), CustomerId::from(9)]);
}

/// Cohort matrices and RFM scores out as batches: the same numbers as the
/// in-memory results.
#[test]
fn cohorts_and_rfm_as_batches() {
    use customer_lifecycle::metrics::{RfmOptions, RfmScores};
    use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode};
    let log = TransactionLog::cdnow_sample().unwrap();
    let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month)).unwrap();
    let batch = cohorts.to_record_batch().unwrap();
    let active = batch.column(3).as_any().downcast_ref::<Int64Array>().unwrap();
    let period = batch.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
    let on_period = cohorts.active_customers(RetentionMode::OnPeriod);
    let expected: f64 = on_period.iter().filter(|v| !v.is_nan()).sum();
    assert_eq!(active.values().iter().sum::<i64>() as f64, expected);
    // Period 0 holds every cohort's whole size.
    let sizes: i64 = cohorts.sizes().iter().map(|&s| s as i64).sum();
    let first: i64 = active.values().iter().zip(period.values()).filter(|(_, p)| **p == 0).map(|(a, _)| *a).sum();
    assert_eq!(first, sizes);
    let summary = log.summarize(&SummaryOptions::new(TimeUnit::Week)).unwrap();
    let rfm = RfmScores::compute(&summary, &RfmOptions::new()).unwrap().table().unwrap();
    let batch = rfm.to_record_batch().unwrap();
    assert_eq!(batch.num_rows(), summary.len());
    assert_eq!(batch.num_columns(), 1 + rfm.names().len());
}
