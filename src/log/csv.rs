//! Loaders: CSV transaction files and the CDNOW format.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::customer::{CustomerId, CustomerIndex, DenseId, IdHasher, IdKind, LookupKey};
use crate::domain::event::Event;
use crate::domain::money::{Currency, ExchangeRates, Money, NumberFormat};
use crate::domain::time::Clock;
use crate::error::{Error, Result};
use crate::log::records::{MAX_LINE_BYTES, Records};
use crate::log::transactions::{Transaction, TransactionKind, TransactionLog};

/// How to read a CSV transaction file.
///
/// The defaults read a header `customer_id,date,amount` with text ids, ISO
/// dates or date-times (`2024-05-01`, `2024-05-01 13:45:00`, RFC 3339) in
/// UTC, and amounts with a decimal point in the given currency. Shop
/// exports are read with [`CsvOptions::number_format`] (decimal comma,
/// digit grouping, currency symbols), [`CsvOptions::time_zone`] (local
/// times in an IANA zone, daylight saving included) and
/// [`CsvOptions::id_kind`] ([`IdKind::Email`] case-folds addresses) or
/// [`CsvOptions::map_ids`] (a function of yours). Optional columns are used when
/// the header has them: `order_id` (a repeated order id is the same order),
/// `kind` (`order` or `return`; default order) and `currency` (each row's
/// currency; rows in another currency than the log's are an error unless
/// rates are given).
///
/// ```
/// use customer_lifecycle::{CsvOptions, Currency, IdKind, TransactionLog};
///
/// let data = "cust;when;value\n7;01/02/2024;12.50\n7;15/02/2024;3.10\n";
/// let options = CsvOptions::new(Currency::EUR)
///     .delimiter(b';')
///     .customer_column("cust")
///     .date_column("when")
///     .amount_column("value")
///     .date_format("%d/%m/%Y")
///     .id_kind(IdKind::Number);
/// let log = TransactionLog::from_csv_reader(data.as_bytes(), &options)?;
/// assert_eq!(log.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CsvOptions {
    currency: Currency,
    customer_column: String,
    date_column: String,
    amount_column: String,
    order_id_column: String,
    kind_column: String,
    currency_column: String,
    date_format: Option<String>,
    id_kind: IdKind,
    delimiter: u8,
    utc_offset_seconds: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_zone: Option<Tz>,
    #[serde(default)]
    number_format: NumberFormat,
    /// A function of the host's, which cannot be saved: options holding
    /// one fail to serialise rather than lose it.
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "refuse_id_map", skip_deserializing)]
    id_map: Option<IdMap>,
    /// Threads of a file load (`None`: two when the machine has two cores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    threads: Option<usize>,
}

/// A host's customer-id normalisation, applied to the raw text before
/// [`IdKind`] reads it. Compared by identity.
#[derive(Clone)]
struct IdMap(Arc<dyn Fn(&str) -> String + Send + Sync>);

impl PartialEq for IdMap {
    fn eq(&self, other: &IdMap) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for IdMap {}

impl fmt::Debug for IdMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdMap(fn)")
    }
}

fn refuse_id_map<S: serde::Serializer>(_: &Option<IdMap>, _: S) -> std::result::Result<S::Ok, S::Error> {
    Err(serde::ser::Error::custom("CSV options with a customer-id function (map_ids) cannot be saved"))
}

impl CsvOptions {
    /// Defaults as described above, amounts in `currency`.
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, IdKind, TransactionLog};
    /// let log = TransactionLog::from_csv_reader("customer_id,date,amount\na,2024-05-01,10\n".as_bytes(), &CsvOptions::new(Currency::EUR))?;
    /// assert_eq!(log.currency(), Currency::EUR);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(currency: Currency) -> CsvOptions {
        CsvOptions {
            currency,
            customer_column: "customer_id".into(),
            date_column: "date".into(),
            amount_column: "amount".into(),
            order_id_column: "order_id".into(),
            kind_column: "kind".into(),
            currency_column: "currency".into(),
            date_format: None,
            id_kind: IdKind::Text,
            delimiter: b',',
            utc_offset_seconds: 0,
            time_zone: None,
            number_format: NumberFormat::PLAIN,
            id_map: None,
            threads: None,
        }
    }

    /// The customer-id column's name.
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, IdKind, TransactionLog};
    /// let options = CsvOptions::new(Currency::EUR).customer_column("email");
    /// let log = TransactionLog::from_csv_reader("email,date,amount\na@x.io,2024-05-01,10\n".as_bytes(), &options)?;
    /// assert_eq!(log.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn customer_column(mut self, name: impl Into<String>) -> CsvOptions {
        self.customer_column = name.into();
        self
    }

    /// The date column's name.
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, IdKind, TransactionLog};
    /// let options = CsvOptions::new(Currency::EUR).date_column("created_at");
    /// let log = TransactionLog::from_csv_reader("customer_id,created_at,amount\na,2024-05-01T10:00:00+02:00,10\n".as_bytes(), &options)?;
    /// assert_eq!(log.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn date_column(mut self, name: impl Into<String>) -> CsvOptions {
        self.date_column = name.into();
        self
    }

    /// The amount column's name.
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, IdKind, TransactionLog};
    /// let options = CsvOptions::new(Currency::EUR).amount_column("total");
    /// let log = TransactionLog::from_csv_reader("customer_id,date,total\na,2024-05-01,10.5\n".as_bytes(), &options)?;
    /// assert_eq!(log.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn amount_column(mut self, name: impl Into<String>) -> CsvOptions {
        self.amount_column = name.into();
        self
    }

    /// The (optional) order-id column's name.
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, IdKind, TransactionLog};
    /// let options = CsvOptions::new(Currency::EUR).order_id_column("order");
    /// let csv = "customer_id,date,amount,order\na,2024-05-01,10,o-1\na,2024-05-01,10,o-1\n"; // exported twice
    /// assert_eq!(TransactionLog::from_csv_reader(csv.as_bytes(), &options)?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn order_id_column(mut self, name: impl Into<String>) -> CsvOptions {
        self.order_id_column = name.into();
        self
    }

    /// The (optional) kind column's name (`order` / `return`).
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, IdKind, TransactionLog};
    /// let options = CsvOptions::new(Currency::EUR).kind_column("type");
    /// let csv = "customer_id,date,amount,type\na,2024-05-01,10,order\na,2024-05-03,10,return\n";
    /// assert_eq!(TransactionLog::from_csv_reader(csv.as_bytes(), &options)?.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kind_column(mut self, name: impl Into<String>) -> CsvOptions {
        self.kind_column = name.into();
        self
    }

    /// The (optional) currency column's name.
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, IdKind, TransactionLog};
    /// let options = CsvOptions::new(Currency::EUR).currency_column("cur");
    /// let csv = "customer_id,date,amount,cur\na,2024-05-01,10,USD\n";
    /// // A row in another currency than the log's needs exchange rates.
    /// assert!(TransactionLog::from_csv_reader(csv.as_bytes(), &options).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn currency_column(mut self, name: impl Into<String>) -> CsvOptions {
        self.currency_column = name.into();
        self
    }

    /// A `chrono` format for the date column (date or date-time, with or
    /// without `%z`), instead of the ISO forms.
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, IdKind, TransactionLog};
    /// let options = CsvOptions::new(Currency::EUR).date_format("%d.%m.%Y");
    /// let log = TransactionLog::from_csv_reader("customer_id,date,amount\na,01.05.2024,10\n".as_bytes(), &options)?;
    /// assert_eq!(log.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn date_format(mut self, format: impl Into<String>) -> CsvOptions {
        self.date_format = Some(format.into());
        self
    }

    /// How customer ids are read (default: text as written).
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, IdKind, TransactionLog};
    /// let options = CsvOptions::new(Currency::EUR).id_kind(IdKind::Number);
    /// let csv = "customer_id,date,amount\n0042,2024-05-01,10\n42,2024-05-02,10\n";
    /// assert_eq!(TransactionLog::from_csv_reader(csv.as_bytes(), &options)?.customers().len(), 1); // the same customer
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn id_kind(mut self, kind: IdKind) -> CsvOptions {
        self.id_kind = kind;
        self
    }

    /// The field delimiter (default `,`).
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, IdKind, TransactionLog};
    /// let options = CsvOptions::new(Currency::EUR).delimiter(b';');
    /// let log = TransactionLog::from_csv_reader("customer_id;date;amount\na;2024-05-01;10\n".as_bytes(), &options)?;
    /// assert_eq!(log.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delimiter(mut self, delimiter: u8) -> CsvOptions {
        self.delimiter = delimiter;
        self
    }

    /// Times without an offset are local times at this offset (default UTC).
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, IdKind, TransactionLog};
    /// use customer_lifecycle::chrono::{FixedOffset, TimeZone, Utc};
    /// let options = CsvOptions::new(Currency::EUR).utc_offset(FixedOffset::east_opt(2 * 3600).unwrap());
    /// let log = TransactionLog::from_csv_reader("customer_id,date,amount\na,2024-05-01 01:30:00,10\n".as_bytes(), &options)?;
    /// assert_eq!(log.iter().next().unwrap().at(), Utc.with_ymd_and_hms(2024, 4, 30, 23, 30, 0).unwrap());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn utc_offset(mut self, offset: FixedOffset) -> CsvOptions {
        self.utc_offset_seconds = offset.local_minus_utc();
        self.time_zone = None;
        self
    }

    /// Times without an offset are local times in this IANA zone, daylight
    /// saving included (it replaces a fixed offset). A local time that
    /// occurs twice when clocks go back is the earlier instant; one that
    /// does not occur when they go forward is read with the offset before
    /// the change (RFC 5545's rule). Times with an offset keep it.
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, TransactionLog};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// use customer_lifecycle::chrono_tz::Europe::Berlin;
    /// let options = CsvOptions::new(Currency::EUR).time_zone(Berlin);
    /// let csv = "customer_id,date,amount\na,2024-07-01 23:30:00,10\na,2024-01-01 23:30:00,10\n";
    /// let times: Vec<_> = TransactionLog::from_csv_reader(csv.as_bytes(), &options)?.iter().map(|t| t.at()).collect();
    /// assert!(times.contains(&Utc.with_ymd_and_hms(2024, 7, 1, 21, 30, 0).unwrap())); // summer: +2
    /// assert!(times.contains(&Utc.with_ymd_and_hms(2024, 1, 1, 22, 30, 0).unwrap())); // winter: +1
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn time_zone(mut self, zone: Tz) -> CsvOptions {
        self.time_zone = Some(zone);
        self.utc_offset_seconds = 0;
        self
    }

    /// How amounts are written (default [`NumberFormat::PLAIN`]).
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, NumberFormat, TransactionLog};
    /// let options = CsvOptions::new(Currency::EUR).delimiter(b';').number_format(NumberFormat::decimal_comma());
    /// let csv = "customer_id;date;amount\na;2024-05-01;1.234,50 €\nb;2024-05-02;12,5\n";
    /// let log = TransactionLog::from_csv_reader(csv.as_bytes(), &options)?;
    /// let total: customer_lifecycle::rust_decimal::Decimal = log.iter().map(|t| t.amount().amount()).sum();
    /// assert_eq!(total.to_string(), "1247.00");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn number_format(mut self, format: NumberFormat) -> CsvOptions {
        self.number_format = format;
        self
    }

    /// Normalises each raw customer id with a function of yours before
    /// [`CsvOptions::id_kind`] reads it (say, to drop a shop prefix or to
    /// merge `+tag` addresses). Options holding a function cannot be saved.
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, IdKind, TransactionLog};
    /// let options = CsvOptions::new(Currency::EUR)
    ///     .map_ids(|raw| raw.trim_start_matches("shop1-").to_string())
    ///     .id_kind(IdKind::Number);
    /// let csv = "customer_id,date,amount\nshop1-42,2024-05-01,10\n42,2024-05-02,10\n";
    /// assert_eq!(TransactionLog::from_csv_reader(csv.as_bytes(), &options)?.customers().len(), 1);
    /// assert!(serde_json::to_string(&options).is_err()); // a function is not data
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_ids(mut self, f: impl Fn(&str) -> String + Send + Sync + 'static) -> CsvOptions {
        self.id_map = Some(IdMap(Arc::new(f)));
        self
    }

    /// Threads for loading a file or reader: with 2 (the default when the
    /// machine has two cores or more), one thread reads and parses rows
    /// while the other adds them to the log; with 1 the caller's thread
    /// does both. The log, and the first error, are the same either way.
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, TransactionLog};
    /// let csv = "customer_id,date,amount\na,2024-05-01,10\nb,2024-05-02,5\n";
    /// let one = TransactionLog::from_csv_reader(csv.as_bytes(), &CsvOptions::new(Currency::EUR).threads(1))?;
    /// let two = TransactionLog::from_csv_reader(csv.as_bytes(), &CsvOptions::new(Currency::EUR).threads(2))?;
    /// assert_eq!(one.len(), two.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn threads(mut self, threads: usize) -> CsvOptions {
        self.threads = Some(threads.clamp(1, 2));
        self
    }

    /// The names of the columns the loader reads: customer, date, amount,
    /// order id, kind, currency.
    #[cfg(feature = "arrow")]
    pub(crate) fn column_names(&self) -> [&str; 6] {
        [
            &self.customer_column,
            &self.date_column,
            &self.amount_column,
            &self.order_id_column,
            &self.kind_column,
            &self.currency_column,
        ]
    }

    /// The same options reading dates and times in their ISO forms only
    /// (for columns that carry typed dates, written out as ISO text).
    #[cfg(feature = "arrow")]
    pub(crate) fn iso_dates(&self) -> CsvOptions {
        CsvOptions { date_format: None, ..self.clone() }
    }

    fn load_threads(&self) -> usize {
        self.threads.unwrap_or_else(|| crate::math::parallel::cores().min(2))
    }

    fn clock(&self) -> Clock {
        Clock::of(self.utc_offset_seconds, self.time_zone)
    }

    /// Parses a date or date-time as these options say.
    fn parse_time(&self, s: &str) -> std::result::Result<DateTime<Utc>, String> {
        let s = s.trim();
        let clock = self.clock();
        let local = |naive: NaiveDateTime| clock.instant(naive);
        match &self.date_format {
            Some(f) => {
                if let Ok(t) = DateTime::parse_from_str(s, f) {
                    return Ok(t.with_timezone(&Utc));
                }
                if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
                    return local(t);
                }
                NaiveDate::parse_from_str(s, f)
                    .map_err(|e| format!("not a date in format {f:?} ({e})"))
                    .and_then(|d| local(d.and_time(chrono::NaiveTime::MIN)))
            }
            None => {
                // ISO 8601 years have four digits; chrono's `%Y` would read
                // `24-05-01` as the year 24, a silent misreading.
                let b = s.as_bytes();
                if b.len() < 10 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
                    return Err("not an ISO date (YYYY-MM-DD) or date-time".to_string());
                }
                if let Some(naive) = parse_iso_fast(b) {
                    return local(naive);
                }
                if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                    return Ok(t.with_timezone(&Utc));
                }
                for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
                    if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
                        return local(t);
                    }
                }
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|_| "not an ISO date (YYYY-MM-DD) or date-time".to_string())
                    .and_then(|d| local(d.and_time(chrono::NaiveTime::MIN)))
            }
        }
    }
}

/// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DDTHH:MM:SS` without an
/// offset, parsed by hand (chrono's general parser costs more than the rest
/// of a row); anything else returns `None` and goes to chrono.
fn parse_iso_fast(b: &[u8]) -> Option<NaiveDateTime> {
    fn digits(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    }
    if b.len() != 10 && b.len() != 19 {
        return None;
    }
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(digits(&b[0..4])? as i32, digits(&b[5..7])?, digits(&b[8..10])?)?;
    let time = if b.len() == 19 {
        if !(b[10] == b' ' || b[10] == b'T') || b[13] != b':' || b[16] != b':' {
            return None;
        }
        chrono::NaiveTime::from_hms_opt(digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?)?
    } else {
        chrono::NaiveTime::MIN
    };
    Some(date.and_time(time))
}

impl TransactionLog {
    /// Reads a CSV transaction file (see [`CsvOptions`]).
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, IdKind, TransactionLog};
    /// let path = std::env::temp_dir().join("customer_lifecycle_doc_orders.csv");
    /// std::fs::write(&path, "customer_id,date,amount\na,2024-05-01,10\n")?;
    /// let log = TransactionLog::from_csv_path(&path, &CsvOptions::new(Currency::EUR))?;
    /// assert_eq!(log.len(), 1);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::MissingColumn`]; [`Error::Parse`] naming the
    /// line and column of an unreadable value; [`Error::MalformedRow`];
    /// everything [`TransactionLog::push`] refuses, with the line number in
    /// the message.
    pub fn from_csv_path(path: impl AsRef<Path>, options: &CsvOptions) -> Result<TransactionLog> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| Error::Io { path: path.display().to_string(), source: e })?;
        load_csv(BufReader::new(file), options, None)
    }

    /// Reads CSV from any reader (see [`CsvOptions`]).
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, IdKind, TransactionLog};
    /// let csv = "customer_id,date,amount\na,2024-05-01,10\nb,2024-05-02,x\n";
    /// // A bad amount is an error naming the line.
    /// assert!(TransactionLog::from_csv_reader(csv.as_bytes(), &CsvOptions::new(Currency::EUR)).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`TransactionLog::from_csv_path`].
    pub fn from_csv_reader<R: Read>(reader: R, options: &CsvOptions) -> Result<TransactionLog> {
        load_csv(reader, options, None)
    }

    /// Reads CSV whose rows may be in several currencies, converting each to
    /// the options' currency with `rates` at the row's time.
    ///
    /// ```
    /// # use customer_lifecycle::{CsvOptions, Currency, IdKind, TransactionLog};
    /// use customer_lifecycle::FixedRates;
    /// let rates = FixedRates::new().with_rate(Currency::USD, Currency::EUR, "0.9".parse()?)?;
    /// let csv = "customer_id,date,amount,currency\na,2024-05-01,10,USD\nb,2024-05-01,10,EUR\n";
    /// let log = TransactionLog::from_csv_reader_with_rates(csv.as_bytes(), &CsvOptions::new(Currency::EUR), &rates)?;
    /// assert_eq!(log.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`TransactionLog::from_csv_path`], plus [`Error::MissingExchangeRate`].
    pub fn from_csv_reader_with_rates<R: Read>(
        reader: R,
        options: &CsvOptions,
        rates: &dyn ExchangeRates,
    ) -> Result<TransactionLog> {
        load_csv(reader, options, Some(rates))
    }

    /// Reads the CDNOW master file (header line, then
    /// `customer_id YYYYMMDD number_of_cds dollar_value`, whitespace-separated,
    /// CRLF or LF). Amounts are USD; each order is at midnight UTC.
    ///
    /// ```
    /// use customer_lifecycle::TransactionLog;
    /// let path = std::env::temp_dir().join("customer_lifecycle_doc_cdnow.txt");
    /// std::fs::write(&path, "customer_id date number_of_cds dollar_value\n1 19970101 1 11.77\n")?;
    /// assert_eq!(TransactionLog::from_cdnow_master_path(&path)?.len(), 1);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Parse`] naming line and column.
    pub fn from_cdnow_master_path(path: impl AsRef<Path>) -> Result<TransactionLog> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| Error::Io { path: path.display().to_string(), source: e })?;
        load_cdnow(BufReader::new(file), true)
    }

    /// Reads the CDNOW master format from a reader.
    ///
    /// ```
    /// use customer_lifecycle::TransactionLog;
    /// let text = "customer_id date number_of_cds dollar_value\r\n1 19970101 1 11.77\r\n1 19970118 2 29.33\r\n";
    /// assert_eq!(TransactionLog::from_cdnow_master_reader(text.as_bytes())?.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`TransactionLog::from_cdnow_master_path`].
    pub fn from_cdnow_master_reader<R: BufRead>(reader: R) -> Result<TransactionLog> {
        load_cdnow(reader, true)
    }

    /// Reads the CDNOW 1/10 sample (no header;
    /// `customer_id sample_id YYYYMMDD number_of_cds dollar_value`). The
    /// customer id is the first column, as a number.
    ///
    /// ```
    /// use customer_lifecycle::TransactionLog;
    /// let path = std::env::temp_dir().join("customer_lifecycle_doc_sample.txt");
    /// std::fs::write(&path, "4 1 19970101 2 29.33\n")?;
    /// assert_eq!(TransactionLog::from_cdnow_sample_path(&path)?.len(), 1);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`TransactionLog::from_cdnow_master_path`].
    pub fn from_cdnow_sample_path(path: impl AsRef<Path>) -> Result<TransactionLog> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| Error::Io { path: path.display().to_string(), source: e })?;
        load_cdnow(BufReader::new(file), false)
    }

    /// Reads the CDNOW sample format from a reader.
    ///
    /// ```
    /// use customer_lifecycle::TransactionLog;
    /// let text = "4 1 19970101 2 29.33\n4 1 19970118 2 29.73\n";
    /// assert_eq!(TransactionLog::from_cdnow_sample_reader(text.as_bytes())?.customers().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`TransactionLog::from_cdnow_master_path`].
    pub fn from_cdnow_sample_reader<R: BufRead>(reader: R) -> Result<TransactionLog> {
        load_cdnow(reader, false)
    }

    /// The CDNOW 1/10 sample, embedded in the crate: 6,919 orders of 2,357
    /// customers who first bought in Q1 1997, from 1997-01-01 to 1998-06-30,
    /// in USD (Fader & Hardie's textbook data, as shipped with Python
    /// lifetimes). For examples, tests and first steps; it needs no file.
    ///
    /// ```
    /// use customer_lifecycle::TransactionLog;
    ///
    /// let log = TransactionLog::cdnow_sample()?;
    /// assert_eq!((log.len(), log.customers().len()), (6919, 2357));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// None in practice (the data are fixed and tested); the loader's
    /// errors are passed on rather than hidden behind a panic.
    pub fn cdnow_sample() -> Result<TransactionLog> {
        load_cdnow(CDNOW_SAMPLE.as_bytes(), false)
    }
}

/// The CDNOW 1/10 sample (see `data/README.md`).
const CDNOW_SAMPLE: &str = include_str!("../../data/CDNOW_sample.txt");

fn with_line(line: u64, e: Error) -> Error {
    match e {
        Error::Parse { .. } | Error::MalformedRow { .. } | Error::InRow { .. } => e,
        other => Error::InRow { line, column: None, source: Box::new(other) },
    }
}

/// The longest part of a bad value quoted in an error message.
const QUOTED_PREFIX: usize = 64;

/// A value for an error message: at most [`QUOTED_PREFIX`] characters.
fn quoted(value: &str) -> String {
    match value.char_indices().nth(QUOTED_PREFIX) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_string(),
    }
}

/// Where each column the loader reads is, in a header.
struct Columns {
    customer: usize,
    date: usize,
    amount: usize,
    order: Option<usize>,
    kind: Option<usize>,
    currency: Option<usize>,
}

impl Columns {
    fn find(headers: &[&str], o: &CsvOptions) -> Result<Columns> {
        let find = |name: &str| headers.iter().position(|h| h.trim() == name);
        // A column named twice would be read from its first place silently.
        for name in [
            &o.customer_column,
            &o.date_column,
            &o.amount_column,
            &o.order_id_column,
            &o.kind_column,
            &o.currency_column,
        ] {
            if headers.iter().filter(|h| h.trim() == name.as_str()).count() > 1 {
                return Err(Error::MalformedRow {
                    line: 1,
                    reason: format!("column {name:?} appears twice in the header"),
                });
            }
        }
        let required = |name: &str| find(name).ok_or_else(|| Error::MissingColumn { column: name.to_string() });
        Ok(Columns {
            customer: required(&o.customer_column)?,
            date: required(&o.date_column)?,
            amount: required(&o.amount_column)?,
            order: find(&o.order_id_column),
            kind: find(&o.kind_column),
            currency: find(&o.currency_column),
        })
    }
}

/// The one reading of a row, for files and rows in memory alike: `get`
/// returns a column's text.
/// What a loader carries from one row to the next: the last date text read
/// and its instant (exports are usually in date order, so consecutive rows
/// often share a date, and reading it again would cost more than the rest
/// of the row's checks), and a text id's buffer, handed back by each row.
#[derive(Default)]
struct RowState {
    raw_date: String,
    at: Option<DateTime<Utc>>,
    /// Text-id buffers handed back by rows already added.
    id_texts: Vec<String>,
}

impl RowState {
    /// Parses one row and adds it to the log, keeping its id buffer.
    fn add<'r>(
        &mut self,
        log: &mut TransactionLog,
        o: &CsvOptions,
        c: &Columns,
        line: u64,
        get: impl Fn(usize) -> Option<&'r str>,
        rates: Option<&dyn ExchangeRates>,
    ) -> Result<()> {
        let t = parse_row(o, c, line, get, self, rates)?;
        add_row(log, &t, line, o, c, None)?;
        self.recycle(t);
        Ok(())
    }

    /// Keeps a row's text-id buffer for a later row.
    fn recycle(&mut self, t: Transaction) {
        if let CustomerId::Text(text) = t.customer {
            self.id_texts.push(text);
        }
    }
}

fn parse_row<'r>(
    o: &CsvOptions,
    c: &Columns,
    line: u64,
    get: impl Fn(usize) -> Option<&'r str>,
    state: &mut RowState,
    rates: Option<&dyn ExchangeRates>,
) -> Result<Transaction> {
    let field = |col: usize, name: &str| -> Result<&'r str> {
        get(col).ok_or_else(|| Error::MalformedRow { line, reason: format!("no field {name:?}") })
    };
    let parse_err = |column: &str, value: &str, reason: String| Error::Parse {
        line,
        column: column.to_string(),
        value: quoted(value),
        reason,
    };
    let raw_id = field(c.customer, &o.customer_column)?;
    let mapped;
    let id_text = match &o.id_map {
        Some(map) => {
            mapped = (map.0)(raw_id);
            mapped.as_str()
        }
        None => raw_id,
    };
    let id_text = id_text.trim();
    let customer = match o.id_kind {
        // A text id is copied into the last row's buffer, not a new one.
        IdKind::Text if !id_text.is_empty() => {
            let mut text = state.id_texts.pop().unwrap_or_default();
            text.clear();
            text.push_str(id_text);
            CustomerId::Text(text)
        }
        kind => kind.parse(id_text).map_err(|e| parse_err(&o.customer_column, raw_id, e.to_string()))?,
    };
    let raw_date = field(c.date, &o.date_column)?;
    let at = match state.at {
        Some(at) if state.raw_date == raw_date => at,
        _ => {
            let at = o.parse_time(raw_date).map_err(|r| parse_err(&o.date_column, raw_date, r))?;
            state.raw_date.clear();
            state.raw_date.push_str(raw_date);
            state.at = Some(at);
            at
        }
    };
    let currency = match c.currency {
        Some(col) => {
            let raw = field(col, &o.currency_column)?;
            Currency::new(raw.trim()).map_err(|e| parse_err(&o.currency_column, raw, e.to_string()))?
        }
        None => o.currency,
    };
    let raw_amount = field(c.amount, &o.amount_column)?;
    let amount = o
        .number_format
        .parse_amount(raw_amount, currency)
        .map_err(|reason| parse_err(&o.amount_column, raw_amount, reason))?;
    let kind = match c.kind {
        Some(col) => {
            let raw = field(col, &o.kind_column)?;
            TransactionKind::parse(raw)
                .ok_or_else(|| parse_err(&o.kind_column, raw, "expected order or return".into()))?
        }
        None => TransactionKind::Order,
    };
    let order_id = match c.order {
        Some(col) => Some(field(col, &o.order_id_column)?.trim()).filter(|s| !s.is_empty()).map(str::to_string),
        None => None,
    };
    // An amount in another currency is converted at the row's time.
    let amount = match rates {
        Some(r) => Money::new(amount, currency).convert(o.currency, at, r).map_err(|e| in_row(e, line, o, c))?,
        None => Money::new(amount, currency),
    };
    Ok(Transaction { customer, at, amount, kind, order_id })
}

/// Adds a parsed row to the log; a refusal keeps its type, with the line
/// and the column it concerns.
fn add_row(
    log: &mut TransactionLog,
    t: &Transaction,
    line: u64,
    o: &CsvOptions,
    c: &Columns,
    known: Option<DenseId>,
) -> Result<()> {
    log.push_ref(t, known).map(|_| ()).map_err(|e| in_row(e, line, o, c))
}

/// A refusal of a row's values, with its line and the column it concerns.
fn in_row(e: Error, line: u64, o: &CsvOptions, c: &Columns) -> Error {
    let column = match &e {
        Error::MixedCurrency { .. } | Error::MissingExchangeRate { .. } => {
            Some(if c.currency.is_some() { &o.currency_column } else { &o.amount_column })
        }
        Error::InvalidAmount { .. } | Error::AmountOverflow { .. } => Some(&o.amount_column),
        Error::ConflictingDuplicate { .. } => c.order.map(|_| &o.order_id_column),
        _ => None,
    };
    Error::InRow { line, column: column.cloned(), source: Box::new(e) }
}

fn load_csv<R: Read>(reader: R, o: &CsvOptions, rates: Option<&dyn ExchangeRates>) -> Result<TransactionLog> {
    let mut records = Records::new(BufReader::with_capacity(1 << 16, reader), o.delimiter);
    let columns = match records.next_record()? {
        Some(_) => {
            let names: Vec<&str> = (0..records.len()).filter_map(|i| records.get(i)).collect();
            Columns::find(&names, o)?
        }
        None => Columns::find(&[], o)?,
    };
    let mut state = RowState::default();
    let mut batch = Batch::default();
    let mut log = TransactionLog::new(o.currency);
    let hasher = log.customers().hasher();
    // The first batch is read in the caller's thread: a small input is
    // loaded without starting another.
    let first = read_batch(&mut records, o, &columns, rates, &mut state, &hasher, &mut batch);
    if o.load_threads() < 2 || first.is_some() {
        let mut known = Vec::with_capacity(LOAD_BATCH);
        let mut stop = first;
        loop {
            add_batch(&mut log, o, &columns, &mut batch, &mut known)?;
            state.id_texts.append(&mut batch.texts);
            if let Some(stop) = stop {
                return stop.map(|()| log);
            }
            stop = read_batch(&mut records, o, &columns, rates, &mut state, &hasher, &mut batch);
        }
    }
    // Two threads: this one reads and parses batches of rows, the other
    // adds them to the log, in order; emptied batches come back with their
    // id buffers. Whichever fails first in file order is the error: the
    // adder stops at its first refusal, and a parse error is reported only
    // when every row before it was added.
    let (to_adder, from_reader) = std::sync::mpsc::sync_channel::<Batch>(PIPELINE_DEPTH);
    let (to_reader, from_adder) = std::sync::mpsc::channel::<Batch>();
    std::thread::scope(|scope| {
        let columns = &columns;
        let adder = scope.spawn(move || -> Result<TransactionLog> {
            let mut known = Vec::with_capacity(LOAD_BATCH);
            for mut batch in from_reader {
                add_batch(&mut log, o, columns, &mut batch, &mut known)?;
                // The reader may have stopped; then the buffers are dropped.
                let _ = to_reader.send(batch);
            }
            Ok(log)
        });
        let mut stop = None;
        let mut pending = Some(batch);
        while let Some(full) = pending.take() {
            if to_adder.send(full).is_err() {
                break; // the adder failed: its error is the first
            }
            if stop.is_some() {
                break;
            }
            let mut next = from_adder.try_recv().unwrap_or_default();
            state.id_texts.append(&mut next.texts);
            next.rows.clear();
            next.keys.clear();
            stop = read_batch(&mut records, o, columns, rates, &mut state, &hasher, &mut next);
            pending = Some(next);
        }
        drop(to_adder);
        let log = adder.join().unwrap_or_else(|e| std::panic::resume_unwind(e))?;
        match stop {
            Some(Err(e)) => Err(e),
            _ => Ok(log),
        }
    })
}

/// Parsed rows on their way to the log, and the text-id buffers of rows
/// already added, on their way back.
#[derive(Default)]
struct Batch {
    rows: Vec<(u64, Transaction)>,
    /// Each row's customer lookup key, computed by the reading thread.
    keys: Vec<LookupKey>,
    texts: Vec<String>,
}

/// Reads and parses up to [`PIPELINE_BATCH`] rows into `batch`, each
/// amount converted to the log's currency; `Some` when the input ended
/// (`Ok`) or a row failed (`Err`, the rows before it in the batch).
fn read_batch<R: BufRead>(
    records: &mut Records<R>,
    o: &CsvOptions,
    columns: &Columns,
    rates: Option<&dyn ExchangeRates>,
    state: &mut RowState,
    hasher: &IdHasher,
    batch: &mut Batch,
) -> Option<Result<()>> {
    while batch.rows.len() < PIPELINE_BATCH {
        let parsed = match records.next_record() {
            Ok(Some(line)) => parse_row(o, columns, line, |col| records.get(col), state, rates).map(|t| (line, t)),
            Ok(None) => return Some(Ok(())),
            Err(e) => Err(e),
        };
        match parsed {
            Ok(row) => {
                batch.keys.push(CustomerIndex::lookup_key(hasher, &row.1.customer));
                batch.rows.push(row);
            }
            Err(e) => return Some(Err(e)),
        }
    }
    None
}

/// Adds a batch's rows to the log in order, looking their customers up
/// [`LOAD_BATCH`] at a time in one tight loop first (on large files the
/// lookups miss the cache, and back to back their waits overlap); keeps
/// the rows' text-id buffers in `batch.texts`.
fn add_batch(
    log: &mut TransactionLog,
    o: &CsvOptions,
    columns: &Columns,
    batch: &mut Batch,
    known: &mut Vec<Option<DenseId>>,
) -> Result<()> {
    for (chunk, keys) in batch.rows.chunks(LOAD_BATCH).zip(batch.keys.chunks(LOAD_BATCH)) {
        log.customers().find_each(chunk.iter().map(|(_, t)| &t.customer).zip(keys), known);
        for ((line, t), &dense) in chunk.iter().zip(known.iter()) {
            // Amounts were converted by the reader.
            add_row(log, t, *line, o, columns, dense)?;
        }
    }
    batch.keys.clear();
    for (_, t) in batch.rows.drain(..) {
        if let CustomerId::Text(text) = t.customer {
            batch.texts.push(text);
        }
    }
    Ok(())
}

/// Rows per batch handed from the reading thread to the adding one.
const PIPELINE_BATCH: usize = 4096;

/// Batches read ahead of the adding thread.
const PIPELINE_DEPTH: usize = 4;

/// Rows parsed before their customers are looked up together.
const LOAD_BATCH: usize = 64;

impl TransactionLog {
    /// Loads rows held in memory — a database cursor, a parsed API
    /// response — read exactly as [`TransactionLog::from_csv_reader`]
    /// reads a file's: `header` names the columns, each row gives their
    /// texts, and `options` say how to read them. Errors name the row's
    /// one-based position as their line.
    ///
    /// ```
    /// use customer_lifecycle::{CsvOptions, Currency, IdKind, NumberFormat, TransactionLog};
    /// let rows = vec![
    ///     vec!["Anna@X.de", "2024-05-01T10:00:00+02:00", "12,50"],
    ///     vec![" anna@x.de ", "2024-05-03T10:00:00+02:00", "7,50"],
    /// ];
    /// let options = CsvOptions::new(Currency::EUR).id_kind(IdKind::Email).number_format(NumberFormat::decimal_comma());
    /// let log = TransactionLog::from_rows(&["customer_id", "date", "amount"], rows, &options, None)?;
    /// assert_eq!((log.len(), log.customers().len()), (2, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`TransactionLog::from_csv_path`] (with `rates`, as
    /// [`TransactionLog::from_csv_reader_with_rates`]).
    pub fn from_rows<I, Row, S>(
        header: &[&str],
        rows: I,
        options: &CsvOptions,
        rates: Option<&dyn ExchangeRates>,
    ) -> Result<TransactionLog>
    where
        I: IntoIterator<Item = Row>,
        Row: AsRef<[S]>,
        S: AsRef<str>,
    {
        let columns = Columns::find(header, options)?;
        let mut log = TransactionLog::new(options.currency);
        let mut state = RowState::default();
        for (i, row) in rows.into_iter().enumerate() {
            let row = row.as_ref();
            state.add(&mut log, options, &columns, i as u64 + 1, |col| row.get(col).map(AsRef::as_ref), rates)?;
        }
        Ok(log)
    }

    /// Loads records of any type that serialises to a flat map (a struct
    /// with `#[derive(Serialize)]`), field names as the columns: texts,
    /// numbers and booleans are read as their text, `None` as empty.
    ///
    /// ```
    /// use customer_lifecycle::{CsvOptions, Currency, TransactionLog};
    /// #[derive(serde::Serialize)]
    /// struct Order<'a> { email: &'a str, created_at: &'a str, total: f64, currency: &'a str }
    /// let orders = [
    ///     Order { email: "a@x.io", created_at: "2024-05-01", total: 12.5, currency: "EUR" },
    ///     Order { email: "b@x.io", created_at: "2024-05-02", total: 30.0, currency: "EUR" },
    /// ];
    /// let options = CsvOptions::new(Currency::EUR).customer_column("email").date_column("created_at").amount_column("total");
    /// let log = TransactionLog::from_records(&orders, &options, None)?;
    /// assert_eq!(log.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::MalformedRow`] for a record that is not a flat map; as
    /// [`TransactionLog::from_rows`].
    pub fn from_records<T: Serialize>(
        records: impl IntoIterator<Item = T>,
        options: &CsvOptions,
        rates: Option<&dyn ExchangeRates>,
    ) -> Result<TransactionLog> {
        let mut log = TransactionLog::new(options.currency);
        let mut layout: Option<(Vec<String>, Columns)> = None;
        let mut state = RowState::default();
        for (i, record) in records.into_iter().enumerate() {
            let line = i as u64 + 1;
            let bad = |reason: String| Error::MalformedRow { line, reason };
            let value = serde_json::to_value(&record).map_err(|e| bad(format!("cannot read the record: {e}")))?;
            let serde_json::Value::Object(map) = value else {
                return Err(bad("a record must serialise to a map of fields".into()));
            };
            if layout.as_ref().is_none_or(|(names, _)| names.len() != map.len() || !names.iter().eq(map.keys())) {
                let names: Vec<String> = map.keys().cloned().collect();
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let columns = Columns::find(&refs, options)?;
                layout = Some((names, columns));
            }
            let Some((_, columns)) = &layout else { continue };
            let texts = map
                .values()
                .map(|v| match v {
                    serde_json::Value::String(s) => Ok(s.clone()),
                    serde_json::Value::Number(n) => Ok(n.to_string()),
                    serde_json::Value::Bool(b) => Ok(b.to_string()),
                    serde_json::Value::Null => Ok(String::new()),
                    _ => Err(bad("a field is a list or a map, not a value".into())),
                })
                .collect::<Result<Vec<String>>>()?;
            state.add(&mut log, options, columns, line, |col| texts.get(col).map(String::as_str), rates)?;
        }
        Ok(log)
    }

    /// Builds a log from events (orders and refunds count; other events are
    /// skipped), as [`TransactionLog::push_event`] adds them one by one.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money, TransactionLog};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap();
    /// let (gross, discount) = (Money::parse("30", Currency::EUR)?, Money::parse("0", Currency::EUR)?);
    /// let anna = CustomerId::from("anna");
    /// let events = [
    ///     Event::new("e1", anna.clone(), at, EventKind::OrderPlaced { order_id: "o1".into(), gross, discount, items: 1 })?,
    ///     Event::new("e2", anna, at, EventKind::SiteVisit)?,
    /// ];
    /// let log = TransactionLog::from_events(Currency::EUR, &events)?;
    /// assert_eq!(log.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`TransactionLog::push_event`], as [`Error::InRow`] naming the
    /// event's one-based position.
    pub fn from_events<'e>(currency: Currency, events: impl IntoIterator<Item = &'e Event>) -> Result<TransactionLog> {
        let mut log = TransactionLog::new(currency);
        for (i, event) in events.into_iter().enumerate() {
            log.push_event(event).map_err(|e| with_line(i as u64 + 1, e))?;
        }
        Ok(log)
    }
}

fn load_cdnow<R: BufRead>(reader: R, master: bool) -> Result<TransactionLog> {
    let (date_col, amount_col, columns) = if master { (1, 3, 4) } else { (2, 4, 5) };
    let names: &[&str] = if master {
        &["customer_id", "date", "number_of_cds", "dollar_value"]
    } else {
        &["customer_id", "sample_id", "date", "number_of_cds", "dollar_value"]
    };
    let mut log = TransactionLog::new(Currency::USD);
    let mut reader = reader;
    let mut bytes = Vec::new();
    for i in 0.. {
        let line_no = i as u64 + 1;
        let malformed = |reason: String| Error::MalformedRow { line: line_no, reason };
        // Lines are read at most MAX_LINE_BYTES (plus CRLF) at a time, so a
        // hostile file cannot make the loader hold an unbounded line.
        bytes.clear();
        let limit = MAX_LINE_BYTES as u64 + 2;
        let n = (&mut reader).take(limit).read_until(b'\n', &mut bytes).map_err(|e| malformed(e.to_string()))?;
        if n == 0 {
            break;
        }
        let ended = bytes.last() == Some(&b'\n');
        let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        if body.len() > MAX_LINE_BYTES || (!ended && n as u64 == limit) {
            return Err(malformed(format!("a line longer than {MAX_LINE_BYTES} bytes")));
        }
        let line = std::str::from_utf8(body).map_err(|e| malformed(e.to_string()))?;
        // The master file's header, when there is one: a first line whose
        // first field is not a customer number (a headerless file keeps its
        // first order).
        if master && i == 0 && line.split_whitespace().next().is_some_and(|f| CustomerId::parse_number(f).is_err()) {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() != columns {
            return Err(Error::MalformedRow {
                line: line_no,
                reason: format!("expected {columns} fields, found {}", fields.len()),
            });
        }
        let parse_err = |col: usize, reason: &str| Error::Parse {
            line: line_no,
            column: names[col].to_string(),
            value: quoted(fields[col]),
            reason: reason.to_string(),
        };
        let customer = CustomerId::parse_number(fields[0]).map_err(|_| parse_err(0, "not an integer"))?;
        let date = NaiveDate::parse_from_str(fields[date_col], "%Y%m%d")
            .map_err(|_| parse_err(date_col, "not a YYYYMMDD date"))?;
        fields[amount_col - 1].parse::<u32>().map_err(|_| parse_err(amount_col - 1, "not a count of CDs"))?;
        let amount =
            crate::domain::money::parse_decimal(fields[amount_col]).map_err(|reason| parse_err(amount_col, &reason))?;
        let at = date.and_time(chrono::NaiveTime::MIN).and_utc();
        log.push(Transaction::order(customer, at, Money::new(amount, Currency::USD)))
            .map_err(|e| with_line(line_no, e))?;
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::FixedRates;
    use chrono::TimeZone;
    use rust_decimal::Decimal;

    #[test]
    fn loaders_read_what_is_there_and_refuse_what_is_ambiguous() {
        // A headerless master file keeps its first order.
        let headerless = "1 19970101 1 11.77\n1 19970118 2 29.33\n";
        assert_eq!(TransactionLog::from_cdnow_master_reader(headerless.as_bytes()).unwrap().len(), 2);
        let with_header = "customer_id date number_of_cds dollar_value\n1 19970101 1 11.77\n";
        assert_eq!(TransactionLog::from_cdnow_master_reader(with_header.as_bytes()).unwrap().len(), 1);
        // The CD count is read, and checked.
        assert!(TransactionLog::from_cdnow_master_reader("1 19970101 x 11.77\n".as_bytes()).is_err());
        // Digit separators are refused, not guessed.
        let options = CsvOptions::new(Currency::EUR);
        for amount in ["1_000", "1,000", "1 000", "12.", "."] {
            let text = format!("customer_id,date,amount\na,2024-05-01,\"{amount}\"\n");
            let read = TransactionLog::from_csv_reader(text.as_bytes(), &options);
            assert_eq!(read.is_err(), amount != "12.", "{amount}: {read:?}");
        }
        assert_eq!(crate::domain::money::parse_decimal("1.5e3").unwrap(), Decimal::from(1500));
        // A column named twice is an error, not the first one silently.
        let twice = "customer_id,date,amount,amount\na,2024-05-01,10,20\n";
        assert!(TransactionLog::from_csv_reader(twice.as_bytes(), &options).is_err());
    }

    #[test]
    fn a_huge_line_is_refused_while_read_and_errors_quote_a_prefix() {
        let options = CsvOptions::new(Currency::EUR);
        let mut text = String::from("customer_id,date,amount\na,2024-05-01,");
        text.push_str(&"9".repeat(MAX_LINE_BYTES + 10));
        text.push('\n');
        let e = TransactionLog::from_csv_reader(text.as_bytes(), &options).unwrap_err();
        assert!(e.to_string().contains("longer than"), "{}", quoted(&e.to_string()));
        let long_bad = format!("customer_id,date,amount\na,2024-05-01,x{}\n", "y".repeat(10_000));
        let e = TransactionLog::from_csv_reader(long_bad.as_bytes(), &options).unwrap_err();
        assert!(e.to_string().len() < 500, "{} bytes", e.to_string().len());
    }

    /// A shop export of `rows` rows (e-mail ids, a second currency, order
    /// ids, returns), with `edit` applied to chosen lines.
    fn export(rows: usize, edit: impl Fn(usize, String) -> String) -> String {
        let mut out = String::from("customer_id,date,amount,currency,order_id,kind\n");
        for i in 0..rows {
            let line = format!(
                "Buyer{}@Example.com,2024-{:02}-{:02}T{:02}:15:00+01:00,{}.{:02},{},o{i},{}\n",
                (i * 7919) % 3001,
                1 + i % 12,
                1 + i % 28,
                i % 24,
                i % 300,
                i % 100,
                if i % 5 == 0 { "CHF" } else { "EUR" },
                if i % 17 == 0 { "return" } else { "order" }
            );
            out.push_str(&edit(i, line));
        }
        out
    }

    #[test]
    fn two_threads_load_what_one_loads_and_fail_alike() {
        let rates = FixedRates::new().with_rate(Currency::CHF, Currency::EUR, "1.05".parse().unwrap()).unwrap();
        let load = |text: &str, threads: usize, rates: &dyn ExchangeRates| {
            let options = CsvOptions::new(Currency::EUR).id_kind(IdKind::Email).threads(threads);
            TransactionLog::from_csv_reader_with_rates(text.as_bytes(), &options, rates)
        };
        // Five batches of the pipeline and a part.
        let text = export(5 * PIPELINE_BATCH + 123, |_, l| l);
        let (one, two) = (load(&text, 1, &rates).unwrap(), load(&text, 2, &rates).unwrap());
        assert_eq!(one.len(), 5 * PIPELINE_BATCH + 123);
        assert_eq!(one.iter().collect::<Vec<_>>(), two.iter().collect::<Vec<_>>());
        assert_eq!(one.customers().ids(), two.customers().ids());
        // The first failing row in file order is the error, whichever
        // thread finds it: a parse error (reader), a missing rate (reader),
        // a conflicting order id (adder: its order id was used before).
        let bad_amount = |at: usize| {
            move |i: usize, l: String| {
                if i != at {
                    return l;
                }
                let mut fields: Vec<&str> = l.split(',').collect();
                fields[2] = "12..5";
                fields.join(",")
            }
        };
        let conflict =
            |at: usize| move |i: usize, l: String| if i == at { l.replace(&format!(",o{i},"), ",o3,") } else { l };
        let no_rates = FixedRates::new();
        let cases: Vec<(String, &dyn ExchangeRates, u64)> = vec![
            (export(3 * PIPELINE_BATCH, bad_amount(9_000)), &rates, 9_002),
            (export(3 * PIPELINE_BATCH, conflict(10_000)), &rates, 10_002),
            (export(3 * PIPELINE_BATCH, |i, l| conflict(10_000)(i, bad_amount(11_000)(i, l))), &rates, 10_002),
            (export(3 * PIPELINE_BATCH, |i, l| conflict(10_000)(i, bad_amount(6_000)(i, l))), &rates, 6_002),
            (export(3 * PIPELINE_BATCH, |_, l| l), &no_rates, 2),
            (export(3 * PIPELINE_BATCH, |i, l| if i < 8_000 { l.replace("CHF", "EUR") } else { l }), &no_rates, 8_002),
        ];
        for (k, (text, rates, line)) in cases.into_iter().enumerate() {
            let errors: Vec<Error> = [1, 2].map(|threads| load(&text, threads, rates).unwrap_err()).into();
            for e in &errors {
                let at = match e {
                    Error::InRow { line, .. } | Error::Parse { line, .. } => *line,
                    other => panic!("case {k}: {other:?}"),
                };
                assert_eq!(at, line, "case {k}: {e}");
            }
            assert_eq!(errors[0].to_string(), errors[1].to_string(), "case {k}");
        }
    }

    #[test]
    fn cdnow_lines_are_bounded_too() {
        // A line just at the limit is read; one byte more is refused while
        // read, with a short message; a long bad value is quoted short.
        let at_limit = format!("1 19970101 1 {}\r\n", "1".repeat(MAX_LINE_BYTES - 13));
        let e = TransactionLog::from_cdnow_master_reader(at_limit.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("dollar_value"), "{}", quoted(&e.to_string()));
        let over = format!("1 19970101 1 {}\n", "1".repeat(MAX_LINE_BYTES - 12));
        let e = TransactionLog::from_cdnow_master_reader(over.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("longer than") && e.to_string().len() < 200, "{}", quoted(&e.to_string()));
        let unended = "1".repeat(3 * MAX_LINE_BYTES);
        assert!(TransactionLog::from_cdnow_sample_reader(unended.as_bytes()).is_err());
        let bad = format!("1 1 19970101 1 x{}\n", "y".repeat(10_000));
        let e = TransactionLog::from_cdnow_sample_reader(bad.as_bytes()).unwrap_err();
        assert!(e.to_string().len() < 300, "{} bytes", e.to_string().len());
        // Line numbers still count every line, blank ones included.
        let e = TransactionLog::from_cdnow_sample_reader("4 1 19970101 2 29.33\n\n4 1 1997 2 1\n".as_bytes());
        assert!(matches!(e, Err(Error::Parse { line: 3, .. })), "{e:?}");
    }

    #[test]
    fn parse_errors_name_line_and_column() {
        let data = "customer_id,date,amount\n1,2024-01-01,10\n2,2024-13-01,5\n";
        let e = TransactionLog::from_csv_reader(data.as_bytes(), &CsvOptions::new(Currency::USD)).unwrap_err();
        match e {
            Error::Parse { line, ref column, ref value, .. } => {
                assert_eq!((line, column.as_str(), value.as_str()), (3, "date", "2024-13-01"));
            }
            other => panic!("unexpected {other}"),
        }
        let data = "customer_id,date,amount\n1,2024-01-01,NaN\n";
        let e = TransactionLog::from_csv_reader(data.as_bytes(), &CsvOptions::new(Currency::USD)).unwrap_err();
        assert!(matches!(e, Error::Parse { line: 2, .. }), "{e}");
        let data = "customer_id,date,amount\n1,2024-01-01,inf\n";
        assert!(TransactionLog::from_csv_reader(data.as_bytes(), &CsvOptions::new(Currency::USD)).is_err());
    }

    #[test]
    fn missing_column_and_short_rows() {
        let e = TransactionLog::from_csv_reader("id,date,amount\n".as_bytes(), &CsvOptions::new(Currency::USD))
            .unwrap_err();
        assert!(matches!(e, Error::MissingColumn { ref column } if column == "customer_id"));
        let data = "customer_id,date,amount\n1,2024-01-01\n";
        let e = TransactionLog::from_csv_reader(data.as_bytes(), &CsvOptions::new(Currency::USD)).unwrap_err();
        assert!(matches!(e, Error::MalformedRow { line: 2, .. }), "{e}");
    }

    #[test]
    fn negative_amounts_name_the_line() {
        let data = "customer_id,date,amount\n1,2024-01-01,10\n1,2024-01-02,-3\n";
        let e = TransactionLog::from_csv_reader(data.as_bytes(), &CsvOptions::new(Currency::USD)).unwrap_err();
        assert!(
            matches!(&e, Error::InRow { line: 3, column: Some(c), source } if c == "amount"
                && matches!(**source, Error::InvalidAmount { .. })),
            "{e}"
        );
        assert!(e.to_string().contains("negative"), "{e}");
    }

    #[test]
    fn line_numbers_are_right_for_lf_crlf_and_cr_files() {
        for ending in ["\n", "\r\n", "\r"] {
            let data = ["customer_id,date,amount", "a,2024-01-01,1", "b,2024-01-01,x", "c,2024-01-01,2"].join(ending);
            let e = TransactionLog::from_csv_reader(data.as_bytes(), &CsvOptions::new(Currency::USD)).unwrap_err();
            assert!(matches!(e, Error::Parse { line: 3, .. }), "{ending:?}: {e}");
        }
        // A quoted field spanning lines: the next record's line counts them.
        let data = "customer_id,date,amount\r\n\"a\r\nb\",2024-01-01,1\r\nc,2024-01-01,y\r\n";
        let e = TransactionLog::from_csv_reader(data.as_bytes(), &CsvOptions::new(Currency::USD)).unwrap_err();
        assert!(matches!(e, Error::Parse { line: 4, .. }), "{e}");
        // Past the csv reader's 8 KiB buffer, in CRLF.
        let mut data = String::from("customer_id,date,amount\r\n");
        for i in 0..2000 {
            data.push_str(&format!("c{i},2024-01-01,1\r\n"));
        }
        data.push_str("z,2024-01-01,bad\r\n");
        let e = TransactionLog::from_csv_reader(data.as_bytes(), &CsvOptions::new(Currency::USD)).unwrap_err();
        assert!(matches!(e, Error::Parse { line: 2002, .. }), "{e}");
    }

    #[test]
    fn a_mixed_currency_is_typed_with_line_and_column() {
        let data =
            "customer_id,date,amount,currency\r\na,2024-01-01,1,EUR\r\nb,2024-01-02,1,EUR\r\nc,2024-01-03,1,CHF\r\n";
        let e = TransactionLog::from_csv_reader(data.as_bytes(), &CsvOptions::new(Currency::EUR)).unwrap_err();
        let Error::InRow { line, column, source } = &e else { panic!("{e}") };
        assert_eq!((*line, column.as_deref()), (4, Some("currency")));
        assert!(matches!(**source, Error::MixedCurrency { .. }), "{e}");
        // With rates but none for CHF: a missing rate, typed.
        let rates = FixedRates::new().with_rate(Currency::USD, Currency::EUR, Decimal::ONE).unwrap();
        let e = TransactionLog::from_csv_reader_with_rates(data.as_bytes(), &CsvOptions::new(Currency::EUR), &rates)
            .unwrap_err();
        assert!(
            matches!(&e, Error::InRow { line: 4, source, .. } if matches!(**source, Error::MissingExchangeRate { .. })),
            "{e}"
        );
    }

    #[test]
    fn shop_formats_decimal_comma_symbols_and_email_ids() {
        let data = "E-Mail;Datum;Betrag;Währung\n\
                    Anna@X.de ;2024-05-01 10:00:00;1.234,50 €;EUR\n\
                    anna@x.de;2024-05-08 10:00:00;-12,50 €;EUR\n\
                    bob@y.ch;2024-05-09 10:00:00;CHF 99,90;CHF\n";
        let o = CsvOptions::new(Currency::EUR)
            .delimiter(b';')
            .customer_column("E-Mail")
            .date_column("Datum")
            .amount_column("Betrag")
            .currency_column("Währung")
            .id_kind(IdKind::Email)
            .number_format(NumberFormat::decimal_comma())
            .time_zone(chrono_tz::Europe::Zurich);
        // Negative orders are refused: refunds are a kind, not a sign.
        let e = TransactionLog::from_csv_reader(data.as_bytes(), &o).unwrap_err();
        assert!(matches!(e, Error::InRow { line: 3, .. }), "{e}");
        let data = data.replace("-12,50", "12,50");
        let rates = FixedRates::new().with_rate(Currency::CHF, Currency::EUR, Decimal::new(105, 2)).unwrap();
        let log = TransactionLog::from_csv_reader_with_rates(data.as_bytes(), &o, &rates).unwrap();
        assert_eq!(log.customers().len(), 2, "Anna@X.de and anna@x.de are one customer");
        let amounts: Vec<String> = log.iter().map(|t| t.amount().amount().normalize().to_string()).collect();
        assert!(amounts.contains(&"1234.5".to_string()) && amounts.contains(&"104.9".to_string()), "{amounts:?}");
        // A symbol that disagrees with the row's currency is an error, not a conversion.
        let wrong = data.replace("CHF 99,90", "€ 99,90");
        let e = TransactionLog::from_csv_reader_with_rates(wrong.as_bytes(), &o, &rates).unwrap_err();
        assert!(matches!(&e, Error::Parse { line: 4, column, .. } if column == "Betrag"), "{e}");
    }

    #[test]
    fn local_times_across_daylight_saving_changes() {
        let o = CsvOptions::new(Currency::EUR).time_zone(chrono_tz::Europe::Berlin);
        let at = |s: &str| o.parse_time(s).unwrap();
        let utc = |d, h, m| Utc.with_ymd_and_hms(2024, if d > 20 { 3 } else { 10 }, d, h, m, 0).unwrap();
        // Spring forward (31 March 2024, 02:00 → 03:00): 01:30 is +1, 03:30 is +2,
        // and the missing 02:30 is read with the offset before the change.
        assert_eq!(at("2024-03-31 01:30:00"), utc(31, 0, 30));
        assert_eq!(at("2024-03-31 03:30:00"), utc(31, 1, 30));
        assert_eq!(at("2024-03-31 02:30:00"), utc(31, 1, 30));
        // Fall back (27 October 2024, 03:00 → 02:00): 02:30 happens twice; the earlier.
        let oct = |h, m| Utc.with_ymd_and_hms(2024, 10, 27, h, m, 0).unwrap();
        assert_eq!(at("2024-10-27 02:30:00"), oct(0, 30));
        assert_eq!(at("2024-10-27 03:30:00"), oct(2, 30));
        // An explicit offset wins over the zone.
        assert_eq!(at("2024-10-27T02:30:00+01:00"), oct(1, 30));
    }

    #[test]
    fn rows_records_and_files_load_alike() {
        let text =
            "customer_id,date,amount,kind\na,2024-05-01,10.5,order\nb,2024-05-02,3,order\na,2024-05-03,2,return\n";
        let o = CsvOptions::new(Currency::EUR);
        let file = TransactionLog::from_csv_reader(text.as_bytes(), &o).unwrap();
        let rows: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split(',').collect()).collect();
        let from_rows = TransactionLog::from_rows(&["customer_id", "date", "amount", "kind"], &rows, &o, None).unwrap();
        #[derive(Serialize)]
        struct R<'a> {
            customer_id: &'a str,
            kind: &'a str,
            amount: &'a str,
            date: &'a str,
        }
        let records: Vec<R<'_>> =
            rows.iter().map(|r| R { customer_id: r[0], date: r[1], amount: r[2], kind: r[3] }).collect();
        let from_records = TransactionLog::from_records(&records, &o, None).unwrap();
        let all = |log: &TransactionLog| log.iter().collect::<Vec<_>>();
        assert_eq!(all(&file), all(&from_rows));
        assert_eq!(all(&file), all(&from_records));
        // A bad row in memory names its position.
        let bad = [["a", "2024-05-01", "x", "order"]];
        let e = TransactionLog::from_rows(&["customer_id", "date", "amount", "kind"], bad, &o, None).unwrap_err();
        assert!(matches!(e, Error::Parse { line: 1, .. }), "{e}");
        let e = TransactionLog::from_records([vec![1, 2]], &o, None).unwrap_err();
        assert!(matches!(e, Error::MalformedRow { line: 1, .. }), "{e}");
    }

    #[test]
    fn optional_columns() {
        let data = "customer_id,date,amount,order_id,kind,currency\n\
                    a,2024-01-01T10:00:00Z,10,o1,order,USD\n\
                    a,2024-01-01T10:00:00Z,10,o1,order,USD\n\
                    a,2024-01-03 08:00:00,4,,return,USD\n\
                    b,2024-01-04,5,o2,,EUR\n";
        let o = CsvOptions::new(Currency::USD);
        let e = TransactionLog::from_csv_reader(data.as_bytes(), &o).unwrap_err();
        assert!(e.to_string().contains("different currencies"), "{e}");
        let rates = FixedRates::new().with_rate(Currency::EUR, Currency::USD, Decimal::new(2, 0)).unwrap();
        let log = TransactionLog::from_csv_reader_with_rates(data.as_bytes(), &o, &rates).unwrap();
        assert_eq!(log.len(), 3); // the repeated order o1 is one order
        assert_eq!(log.iter().nth(1).unwrap().kind, TransactionKind::Return);
        assert_eq!(log.iter().nth(2).unwrap().amount, Money::new(Decimal::from(10), Currency::USD));
    }

    #[test]
    fn fast_iso_parser_agrees_with_chrono() {
        for s in ["2024-02-29", "1997-01-01 00:00:00", "2024-12-31T23:59:59", "0001-01-01"] {
            let fast = parse_iso_fast(s.as_bytes()).unwrap();
            let slow = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
                .or_else(|_| NaiveDate::parse_from_str(s, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN)))
                .unwrap();
            assert_eq!(fast, slow, "{s}");
        }
        for bad in ["2023-02-29", "2024-1-01", "2024-01-01 25:00:00", "2024/01/01", "+024-01-01", "2024-01-01 00:00:0x"]
        {
            assert!(parse_iso_fast(bad.as_bytes()).is_none(), "{bad}");
        }
        // Forms the fast path leaves to chrono still parse.
        let o = CsvOptions::new(Currency::USD);
        assert!(o.parse_time("2024-01-01 10:00:00.250").is_ok());
        assert!(o.parse_time("2024-01-01T10:00:00+02:00").is_ok());
        assert!(o.parse_time("2023-02-29").is_err());
        // Two- and three-digit years are refused, not read as the years 24 and 204.
        for short in ["24-05-01", "204-06-01", "24-05-01 10:00:00", "0024-05-0"] {
            assert!(o.parse_time(short).is_err(), "{short}");
        }
    }

    #[test]
    fn offsets_apply_to_naive_times_only() {
        let o = CsvOptions::new(Currency::USD).utc_offset(FixedOffset::east_opt(2 * 3600).unwrap());
        let t = o.parse_time("2024-01-01 01:00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2023-12-31T23:00:00+00:00");
        let t = o.parse_time("2024-01-01T01:00:00+00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-01-01T01:00:00+00:00");
    }

    #[test]
    fn cdnow_formats() {
        let master =
            "customer_id date number_of_cds dollar_value\r\n 00001 19970101 1 11.77\r\n 00002 19970112 5 77.00";
        let log = TransactionLog::from_cdnow_master_reader(master.as_bytes()).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log.iter().nth(1).unwrap().customer, CustomerId::Number(2));
        let sample = " 00004 0001 19970101  2   29.33\r\n 00004 0001 1997010x  2   29.73\r\n";
        let e = TransactionLog::from_cdnow_sample_reader(sample.as_bytes()).unwrap_err();
        assert!(matches!(e, Error::Parse { line: 2, ref column, .. } if column == "date"), "{e}");
    }
}
