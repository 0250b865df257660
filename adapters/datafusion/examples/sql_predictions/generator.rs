//! Seeded shop orders written as Parquet files: e-mail ids, Berlin
//! timestamps (evening peaks, both daylight-saving changes), refunds,
//! customers acquired every day up to the last. Used by the example and
//! by the adapter's tests (one generator, one place).

use std::path::Path;
use std::sync::Arc;

use customer_lifecycle::chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use customer_lifecycle::chrono_tz::Europe::Berlin;
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionKind, TransactionLog};
use datafusion::arrow::array::{
    ArrayRef, Decimal128Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use datafusion::parquet::arrow::ArrowWriter;

/// A small deterministic generator (xorshift).
pub struct Seeded(pub u64);

impl Seeded {
    /// The next value.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The shop's last day (the observation end of the example).
pub fn last_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 12, 31).unwrap_or_default()
}

/// A shop's log of `customers` over 2023–2024 (the same for the same seed).
pub fn shop_log(seed: u64, customers: usize) -> TransactionLog {
    let mut rng = Seeded(seed | 1);
    let mut log = TransactionLog::new(Currency::EUR);
    let first = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap_or_default();
    let last = last_day();
    let span = (last - first).num_days() as u64;
    for c in 0..customers {
        let id = CustomerId::Text(format!("kunde{c}@beispiel.de"));
        let mut day = first + TimeDelta::days(rng.below(span + 1) as i64);
        // Each customer's own spend level (heterogeneous, heavy-tailed).
        let level = 1_000 + rng.below(9_000) * rng.below(9_000) / 1_000;
        // …and own chance (in 1,000) of leaving after each order.
        let leave = 20 + rng.below(600) * rng.below(1_000) / 1_000;
        if c % 50 == 0 {
            day = last; // acquired on the last day
        }
        loop {
            let hour = [9, 12, 18, 19, 20, 21, 22, 23, 0, 2][rng.below(10) as usize];
            let Some(local) = day.and_hms_opt(hour, rng.below(60) as u32, 0) else { break };
            let Some(at) = Berlin.from_local_datetime(&local).earliest() else { break };
            let at = at.with_timezone(&Utc);
            let cents = (level / 2 + rng.below(level)) as i64;
            if log.push(Transaction::order(id.clone(), at, Money::new(Decimal::new(cents, 2), Currency::EUR))).is_err()
            {
                break;
            }
            if rng.below(10) == 0 {
                let refund = Money::new(Decimal::new(cents / 2, 2), Currency::EUR);
                // A refund after the last day would be outside the export: skip it.
                if (at + TimeDelta::hours(30)).with_timezone(&Berlin).date_naive() <= last {
                    let _ = log.push(Transaction::refund(id.clone(), at + TimeDelta::hours(30), refund));
                }
            }
            day += TimeDelta::days(1 + rng.below(120) as i64);
            if day > last || rng.below(1_000) < leave {
                break;
            }
        }
    }
    log
}

/// The log's rows shuffled (so every file holds rows of every period of a
/// customer) and cut into `files` batches: `customer_id` (number or text),
/// `ordered_at` (a UTC instant in ms, shown in Berlin time), `amount`
/// (`DECIMAL(18, scale)`), `kind` (`order`/`refund`).
pub fn batches_of(
    log: &TransactionLog,
    seed: u64,
    files: usize,
) -> Result<Vec<RecordBatch>, Box<dyn std::error::Error>> {
    let mut rows: Vec<Transaction> = log.iter().collect();
    let mut rng = Seeded(seed | 1);
    for i in (1..rows.len()).rev() {
        rows.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let scale = log.scale();
    let mut out = Vec::new();
    for chunk in rows.chunks(rows.len().div_ceil(files.max(1)).max(1)) {
        let numbers: Option<Vec<i64>> = chunk
            .iter()
            .map(|t| match t.customer() {
                CustomerId::Number(n) => Some(*n),
                CustomerId::Text(_) => None,
            })
            .collect();
        let ids: ArrayRef = match numbers {
            Some(n) => Arc::new(Int64Array::from(n)),
            None => Arc::new(StringArray::from_iter_values(chunk.iter().map(|t| t.customer().to_string()))),
        };
        let at = TimestampMillisecondArray::from_iter_values(chunk.iter().map(|t| t.at().timestamp_millis()))
            .with_timezone("Europe/Berlin");
        let amounts = Decimal128Array::from_iter_values(chunk.iter().map(|t| {
            let mut d = t.amount().amount();
            d.rescale(scale);
            d.mantissa()
        }))
        .with_precision_and_scale(18, scale as i8)?;
        let kinds = StringArray::from_iter_values(chunk.iter().map(|t| match t.kind() {
            TransactionKind::Order => "order",
            TransactionKind::Return => "refund",
        }));
        out.push(RecordBatch::try_from_iter([
            ("customer_id", ids),
            ("ordered_at", Arc::new(at) as ArrayRef),
            ("amount", Arc::new(amounts) as ArrayRef),
            ("kind", Arc::new(kinds) as ArrayRef),
        ])?);
    }
    Ok(out)
}

/// Writes each batch as its own Parquet file `part-NN.parquet` in `dir`
/// (created; earlier parts removed).
pub fn write_parts(dir: &Path, batches: &[RecordBatch]) -> Result<(), Box<dyn std::error::Error>> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    for (k, b) in batches.iter().enumerate() {
        let file = std::fs::File::create(dir.join(format!("part-{k:02}.parquet")))?;
        let mut w = ArrowWriter::try_new(file, b.schema(), None)?;
        w.write(b)?;
        w.close()?;
    }
    Ok(())
}
