//! Arrow record batches and Parquet files in and out (feature `arrow`).
//!
//! A batch's rows go through the CSV loader's one row reader: each value of
//! the columns the loader reads is written as the text that reader takes
//! (typed dates and timestamps as ISO text, decimals exactly, floats by
//! their shortest representation, nulls as empty), so that validation,
//! typed errors and id normalisation are the same as for a file. Rows are
//! numbered from 1 across the batches, as lines are in a file.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Schema, SchemaRef, TimeUnit as ArrowUnit};
use chrono::{DateTime, NaiveDate, SecondsFormat};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::domain::money::ExchangeRates;
use crate::domain::table::{batch_of, write_parquet};
use crate::error::{Error, Result};
use crate::log::csv::CsvOptions;
use crate::log::summary::PurchaseSummary;
use crate::log::transactions::TransactionLog;

use crate::domain::table::columnar;

/// Which columns the loader reads (the others are left empty), and
/// whether any of them holds typed dates or times (written as ISO text,
/// then read without the options' date format).
fn readings(schema: &Schema, options: &CsvOptions) -> Result<(Vec<bool>, bool)> {
    let names = options.column_names();
    let mut typed_time = false;
    let used = schema
        .fields()
        .iter()
        .map(|f| {
            if !names.contains(&f.name().as_str()) {
                return Ok(false);
            }
            match f.data_type() {
                DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Boolean
                | DataType::Null
                | DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::UInt8
                | DataType::UInt16
                | DataType::UInt32
                | DataType::UInt64
                | DataType::Float32
                | DataType::Float64
                | DataType::Decimal128(_, _) => Ok(true),
                DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => {
                    typed_time = true;
                    Ok(true)
                }
                other => {
                    Err(columnar(format!("column {:?}", f.name()), format!("values of type {other} are not read")))
                }
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((used, typed_time))
}

/// A decimal's exact text from its unscaled value and scale.
fn decimal_text(value: i128, scale: i8) -> String {
    if scale <= 0 {
        let mut s = value.to_string();
        if value != 0 {
            s.extend(std::iter::repeat_n('0', usize::from(scale.unsigned_abs())));
        }
        return s;
    }
    let scale = usize::from(scale.unsigned_abs());
    let digits = value.unsigned_abs().to_string();
    let padded =
        if digits.len() <= scale { format!("{}{digits}", "0".repeat(scale + 1 - digits.len())) } else { digits };
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{}{int}.{frac}", if value < 0 { "-" } else { "" })
}

/// Value `i` of an Arrow `Timestamp` column of any unit as an instant.
/// Arrow timestamps count from the Unix epoch in UTC; a time zone in the
/// type only says how to show them. `None` for a null, a column of
/// another type or an instant beyond chrono's range. Feature `arrow`.
///
/// ```
/// use std::sync::Arc;
/// use customer_lifecycle::arrow_array::{ArrayRef, TimestampMillisecondArray};
/// use customer_lifecycle::log::timestamp_at;
/// let a: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![1_714_557_600_000]).with_timezone("Europe/Berlin"));
/// assert_eq!(timestamp_at(&a, 0).unwrap().to_rfc3339(), "2024-05-01T10:00:00+00:00");
/// ```
pub fn timestamp_at(array: &ArrayRef, i: usize) -> Option<DateTime<chrono::Utc>> {
    if array.is_null(i) {
        return None;
    }
    let DataType::Timestamp(unit, _) = array.data_type() else { return None };
    let (v, per_second) = match unit {
        ArrowUnit::Second => (array.as_primitive::<TimestampSecondType>().value(i), 1),
        ArrowUnit::Millisecond => (array.as_primitive::<TimestampMillisecondType>().value(i), 1_000),
        ArrowUnit::Microsecond => (array.as_primitive::<TimestampMicrosecondType>().value(i), 1_000_000),
        ArrowUnit::Nanosecond => (array.as_primitive::<TimestampNanosecondType>().value(i), 1_000_000_000),
    };
    let nanos = (v.rem_euclid(per_second) * (1_000_000_000 / per_second)) as u32;
    DateTime::from_timestamp(v.div_euclid(per_second), nanos)
}

/// Value `i` of a column as the loader's text (empty for a null).
fn text(array: &ArrayRef, i: usize) -> Option<String> {
    if array.is_null(i) {
        return Some(String::new());
    }
    let instant = |seconds: i64, nanos: u32| DateTime::from_timestamp(seconds, nanos);
    let iso = |t: DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    Some(match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(i).to_string(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(i).to_string(),
        DataType::Utf8View => array.as_string_view().value(i).to_string(),
        DataType::Boolean => array.as_boolean().value(i).to_string(),
        DataType::Int8 => array.as_primitive::<Int8Type>().value(i).to_string(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(i).to_string(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(i).to_string(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(i).to_string(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(i).to_string(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(i).to_string(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(i).to_string(),
        DataType::Float32 => array.as_primitive::<Float32Type>().value(i).to_string(),
        DataType::Float64 => array.as_primitive::<Float64Type>().value(i).to_string(),
        DataType::Decimal128(_, scale) => decimal_text(array.as_primitive::<Decimal128Type>().value(i), *scale),
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(i);
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
            epoch.checked_add_signed(chrono::TimeDelta::try_days(i64::from(days))?)?.to_string()
        }
        DataType::Date64 => {
            let ms = array.as_primitive::<Date64Type>().value(i);
            instant(ms.div_euclid(1000), 0)?.date_naive().to_string()
        }
        DataType::Timestamp(_, _) => iso(timestamp_at(array, i)?),
        _ => return None,
    })
}

impl TransactionLog {
    /// Loads Arrow record batches, read as [`TransactionLog::from_rows`]
    /// reads rows of text: `options` name the columns (customer id, date,
    /// amount, optional order id, kind and currency) and say how ids are
    /// normalised, the currency and the time zone of dates. Customer ids may
    /// be integers or strings; dates may be `Date32`, `Date64`,
    /// `Timestamp` (any unit; an instant in UTC whatever zone the type
    /// names) or text; amounts integers, `Decimal128` (exactly), floats
    /// (by their shortest text: 12.5 is 12.5) or text. Errors are the
    /// CSV loader's, numbered by row from 1 across the batches. Feature
    /// `arrow`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use customer_lifecycle::arrow_array::{ArrayRef, Date32Array, Decimal128Array, RecordBatch, StringArray};
    /// use customer_lifecycle::{CsvOptions, Currency, IdKind, TransactionLog};
    /// let days = |d: i32| 19_844 + d; // 2024-05-01 is day 19,844 after 1970-01-01
    /// let batch = RecordBatch::try_from_iter([
    ///     ("customer_id", Arc::new(StringArray::from(vec!["Ana@X.io", "bo@x.io", " ana@x.io"])) as ArrayRef),
    ///     ("date", Arc::new(Date32Array::from(vec![days(0), days(1), days(9)])) as ArrayRef),
    ///     ("amount", Arc::new(Decimal128Array::from(vec![1250, 999, 4000]).with_precision_and_scale(10, 2)?) as ArrayRef),
    /// ])?;
    /// let options = CsvOptions::new(Currency::EUR).id_kind(IdKind::Email);
    /// let log = TransactionLog::from_record_batches([batch], &options, None)?;
    /// assert_eq!((log.len(), log.customers().len()), (3, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Columnar`] for a column the loader reads of a type it does
    /// not, or batches of different schemas; otherwise as
    /// [`TransactionLog::from_rows`].
    pub fn from_record_batches(
        batches: impl IntoIterator<Item = RecordBatch>,
        options: &CsvOptions,
        rates: Option<&dyn ExchangeRates>,
    ) -> Result<TransactionLog> {
        load_batches(batches.into_iter().map(Ok), options, rates)
    }

    /// Loads a Parquet file, column by column as
    /// [`TransactionLog::from_record_batches`] reads batches (the file is
    /// read a batch at a time). Feature `arrow`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use customer_lifecycle::arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
    /// use customer_lifecycle::{CsvOptions, Currency, TransactionLog};
    /// let dir = std::env::temp_dir().join(format!("clm-doc-parquet-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// // Orders written as Parquet by some other tool…
    /// let batch = RecordBatch::try_from_iter([
    ///     ("customer_id", Arc::new(Int64Array::from(vec![7, 7, 8])) as ArrayRef),
    ///     ("date", Arc::new(StringArray::from(vec!["2024-05-01", "2024-06-01", "2024-05-03"])) as ArrayRef),
    ///     ("amount", Arc::new(Float64Array::from(vec![12.5, 7.25, 30.0])) as ArrayRef),
    /// ])?;
    /// let path = dir.join("orders.parquet");
    /// let mut writer = customer_lifecycle::parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path)?, batch.schema(), None)?;
    /// writer.write(&batch)?;
    /// writer.close()?;
    /// // …are read back with the CSV loader's checks.
    /// let orders = TransactionLog::from_parquet_path(&path, &CsvOptions::new(Currency::USD))?;
    /// assert_eq!((orders.len(), orders.customers().len()), (3, 2));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be opened; [`Error::Columnar`]
    /// when it is not Parquet or cannot be decoded; as
    /// [`TransactionLog::from_record_batches`].
    pub fn from_parquet_path(path: impl AsRef<Path>, options: &CsvOptions) -> Result<TransactionLog> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::Io { path: shown.clone(), source: e })?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| columnar(shown.clone(), e))?;
        load_batches(reader.map(|b| b.map_err(|e: ArrowError| columnar(shown.clone(), e))), options, None)
    }
}

/// The loader over batches that may fail to arrive.
fn load_batches(
    batches: impl Iterator<Item = Result<RecordBatch>>,
    options: &CsvOptions,
    rates: Option<&dyn ExchangeRates>,
) -> Result<TransactionLog> {
    let mut batches = batches.peekable();
    let schema: SchemaRef = match batches.peek() {
        Some(Ok(b)) => b.schema(),
        Some(Err(_)) => {
            return Err(batches.next().and_then(|b| b.err()).unwrap_or_else(|| columnar("record batch", "unreadable")));
        }
        None => Arc::new(Schema::empty()),
    };
    let (used, typed_time) = readings(&schema, options)?;
    let options = if typed_time { options.iso_dates() } else { options.clone() };
    let header: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    // Rows as texts, batch after batch; a failure to produce one ends the
    // rows and is reported after the rows before it were read.
    let mut failure: Option<Error> = None;
    let rows = batches
        .map_while(|b| match b {
            Ok(b) if b.schema().fields() == schema.fields() => Some(b),
            Ok(b) => {
                failure =
                    Some(columnar("record batch", format!("schema {} differs from the first {}", b.schema(), schema)));
                None
            }
            Err(e) => {
                failure = Some(e);
                None
            }
        })
        .flat_map(|batch| {
            let used = used.clone();
            (0..batch.num_rows()).map(move |i| {
                let columns = batch.columns().iter().zip(&used);
                columns
                    .map(|(c, &used)| if used { text(c, i).unwrap_or_default() } else { String::new() })
                    .collect::<Vec<_>>()
            })
        });
    let log = TransactionLog::from_rows(&header, rows, &options, rates);
    match failure {
        Some(e) => Err(e),
        None => log,
    }
}

impl PurchaseSummary {
    /// The summary as an Arrow record batch, with the columns and names of
    /// [`PurchaseSummary::write_csv`]: `customer_id` (integers when every id
    /// is one, text otherwise), `frequency`, `recency`, `T`,
    /// `monetary_value`, or with a holdout `frequency_cal`, `recency_cal`,
    /// `T_cal`, `monetary_value_cal`, `frequency_holdout`,
    /// `monetary_value_holdout`, `duration_holdout`. Feature `arrow`.
    ///
    /// ```
    /// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let batch = summary.to_record_batch()?;
    /// assert_eq!((batch.num_rows(), batch.num_columns()), (summary.len(), 5));
    /// assert_eq!(batch.schema().field(3).name(), "T");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Columnar`] if Arrow refuses the batch (it does not for a
    /// summary the crate built).
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        let v = |a: ndarray::ArrayView1<'_, f64>| a.to_vec();
        let mut columns = Vec::new();
        match (self.frequency_holdout(), self.monetary_value_holdout(), self.duration_holdout()) {
            (Some(f), Some(m), Some(d)) => {
                columns.push(("frequency_cal".to_string(), v(self.frequency())));
                columns.push(("recency_cal".to_string(), v(self.recency())));
                columns.push(("T_cal".to_string(), v(self.age())));
                columns.push(("monetary_value_cal".to_string(), v(self.monetary_value())));
                columns.push(("frequency_holdout".to_string(), v(f)));
                columns.push(("monetary_value_holdout".to_string(), v(m)));
                columns.push(("duration_holdout".to_string(), vec![d; self.len()]));
            }
            _ => {
                columns.push(("frequency".to_string(), v(self.frequency())));
                columns.push(("recency".to_string(), v(self.recency())));
                columns.push(("T".to_string(), v(self.age())));
                columns.push(("monetary_value".to_string(), v(self.monetary_value())));
            }
        }
        batch_of(self.ids(), columns)
    }

    /// Writes [`PurchaseSummary::to_record_batch`] as a Parquet file.
    /// Feature `arrow`.
    ///
    /// ```
    /// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let path = std::env::temp_dir().join(format!("clm-doc-summary-{}.parquet", std::process::id()));
    /// summary.write_parquet(&path)?;
    /// assert!(std::fs::metadata(&path)?.len() > 0);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be created; [`Error::Columnar`]
    /// when writing fails.
    pub fn write_parquet(&self, path: impl AsRef<Path>) -> Result<()> {
        write_parquet(&self.to_record_batch()?, path.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_exactly() {
        assert_eq!(decimal_text(1250, 2), "12.50");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(0, 2), "0.00");
        assert_eq!(decimal_text(7, 0), "7");
        assert_eq!(decimal_text(7, -2), "700");
        assert_eq!(decimal_text(i128::MIN, 38), "-1.70141183460469231731687303715884105728");
    }
}
