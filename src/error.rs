//! The crate's one error type.

use chrono::NaiveDate;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate.
///
/// Each variant names the customer, field or value at fault so that a caller
/// can act on it without re-reading its input. Messages are lowercase and
/// carry no trailing punctuation.
///
/// ```
/// use customer_lifecycle::{Currency, Error, Money};
///
/// let a = Money::parse("10.00", Currency::USD)?;
/// let b = Money::parse("5.00", Currency::EUR)?;
/// let err = a.checked_add(b).unwrap_err();
/// assert!(matches!(err, Error::MixedCurrency { .. }));
/// assert_eq!(err.to_string(), "cannot combine USD with EUR: amounts are in different currencies");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two amounts in different currencies were combined.
    #[error("cannot combine {expected} with {found}: amounts are in different currencies")]
    MixedCurrency {
        /// The currency already in use.
        expected: String,
        /// The currency that did not match.
        found: String,
    },

    /// A currency code that is not three ASCII letters.
    #[error("invalid currency code {code:?}: expected three ASCII letters such as \"USD\"")]
    InvalidCurrency {
        /// The rejected code.
        code: String,
    },

    /// No exchange rate was available for a conversion.
    #[error("no exchange rate from {from} to {to} at {at}")]
    MissingExchangeRate {
        /// Source currency.
        from: String,
        /// Target currency.
        to: String,
        /// When the conversion was asked for.
        at: String,
    },

    /// An amount outside what the field allows (negative, non-finite, too precise, too large).
    #[error("invalid amount {value} for {field}{}: {reason}", customer_suffix(customer))]
    InvalidAmount {
        /// Which field held the amount.
        field: &'static str,
        /// The amount as given.
        value: String,
        /// The customer it belonged to, when known.
        customer: Option<String>,
        /// Why it was rejected.
        reason: String,
    },

    /// A sum of amounts left the representable range.
    #[error("amount overflow while summing {field}{}", customer_suffix(customer))]
    AmountOverflow {
        /// Which total overflowed.
        field: &'static str,
        /// The customer whose total overflowed, when known.
        customer: Option<String>,
    },

    /// A floating-point input was NaN or infinite.
    #[error("{field} must be a finite number, got {value}")]
    NonFinite {
        /// Which input.
        field: &'static str,
        /// The value given.
        value: f64,
    },

    /// A configuration value or argument outside its domain.
    #[error("invalid {name}: {reason}")]
    InvalidArgument {
        /// The argument or option at fault.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// A transaction dated after the observation end.
    #[error("transaction of customer {customer} on {date} is after the observation end {observation_end}")]
    AfterObservationEnd {
        /// The customer.
        customer: String,
        /// The transaction's date (in the summary's UTC offset).
        date: NaiveDate,
        /// The inclusive observation end.
        observation_end: NaiveDate,
    },

    /// The calibration end is not before the observation end.
    #[error("calibration end {calibration_end} must be before the observation end {observation_end}")]
    CalibrationAfterObservationEnd {
        /// The calibration end given.
        calibration_end: NaiveDate,
        /// The observation end given.
        observation_end: NaiveDate,
    },

    /// There was nothing to work on.
    #[error("no data: {what}")]
    Empty {
        /// What was empty.
        what: &'static str,
    },

    /// A row of an input file could not be read.
    #[error("line {line}, column {column:?}: cannot read {value:?}: {reason}")]
    Parse {
        /// One-based line number in the file (the header is line 1).
        line: u64,
        /// The column's name (or position when the file has no header).
        column: String,
        /// The text found there.
        value: String,
        /// What was expected.
        reason: String,
    },

    /// A row that was read but could not join the log, with where it is and
    /// the typed reason (`MixedCurrency`, `MissingExchangeRate`,
    /// `ConflictingDuplicate`, `InvalidAmount`, …) as `source`.
    ///
    /// ```
    /// use customer_lifecycle::{CsvOptions, Currency, Error, TransactionLog};
    /// let csv = "customer_id,date,amount,currency\na,2024-05-01,10,EUR\nb,2024-05-01,10,USD\n";
    /// let e = TransactionLog::from_csv_reader(csv.as_bytes(), &CsvOptions::new(Currency::EUR)).unwrap_err();
    /// let Error::InRow { line: 3, column: Some(column), source } = &e else { panic!("{e}") };
    /// assert_eq!(column, "currency");
    /// assert!(matches!(**source, Error::MixedCurrency { .. }));
    /// ```
    #[error("line {line}{}: {source}", column_suffix(column))]
    InRow {
        /// One-based line number in the file (the header is line 1), or
        /// the one-based position of the row when loading rows from memory.
        line: u64,
        /// The column at fault, when one is.
        column: Option<String>,
        /// Why the row was refused.
        source: Box<Error>,
    },

    /// A row of an input file is malformed as a whole (wrong number of fields, bad UTF-8).
    #[error("line {line}: {reason}")]
    MalformedRow {
        /// One-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },

    /// A required column is missing from a file's header.
    #[error("missing column {column:?} in the header")]
    MissingColumn {
        /// The column that was looked for.
        column: String,
    },

    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An id (event id or order id) was seen twice with different content.
    #[error("{kind} {id:?} was already recorded with different content: {reason}")]
    ConflictingDuplicate {
        /// "event id" or "order id".
        kind: &'static str,
        /// The repeated id.
        id: String,
        /// What differs.
        reason: String,
    },

    /// An event whose content is inconsistent (discount above the gross amount, NPS above 10, ...).
    #[error("invalid event {event_id:?}: {reason}")]
    InvalidEvent {
        /// The event's id.
        event_id: String,
        /// What is wrong.
        reason: String,
    },

    /// A customer has returns in a window where they have no order.
    #[error("customer {customer} has returns but no order up to {date}")]
    ReturnWithoutOrder {
        /// The customer.
        customer: String,
        /// The end of the window that holds the returns.
        date: NaiveDate,
    },

    /// Two partial summaries hold interleaving purchase periods of the same customer.
    #[error(
        "cannot merge partial summaries: customer {customer} has interleaving purchase periods in both; \
         shard by customer or by contiguous time ranges"
    )]
    OverlappingShards {
        /// The customer found in both shards.
        customer: String,
    },

    /// Two partial summaries were built with different options.
    #[error("cannot merge partial summaries built with different options: {reason}")]
    IncompatibleSummaries {
        /// Which option differs.
        reason: String,
    },

    /// A model could not be fitted: the optimiser did not converge, or the
    /// likelihood is not finite anywhere it looked.
    #[error("cannot fit {model}: {reason}")]
    FitFailed {
        /// The model.
        model: &'static str,
        /// What went wrong.
        reason: String,
    },

    /// The data cannot identify the model's parameters (nobody repurchased,
    /// a single customer, all-zero spend, a singular information matrix).
    #[error("{model} is not identifiable from this data: {reason}")]
    NotIdentifiable {
        /// The model.
        model: &'static str,
        /// Why.
        reason: String,
    },

    /// An input row a model cannot use (negative, non-finite, t_x > T, ...).
    #[error("invalid {model} input at row {row}{}: {reason}", customer_suffix(customer))]
    InvalidModelInput {
        /// The model.
        model: &'static str,
        /// Zero-based row.
        row: usize,
        /// The customer of that row, when the input was a summary or keyed
        /// table (bare columns have no ids).
        customer: Option<String>,
        /// What is wrong.
        reason: String,
    },

    /// The data falls short of an eligibility check for predictions (too
    /// few customers, too short a history, no recent orders, no repeat
    /// customers): see `churn::Eligibility`.
    #[error("not enough data for predictions: {check}: {found}, needed {needed}")]
    NotEligible {
        /// The check.
        check: &'static str,
        /// What the data has.
        found: String,
        /// What the check needs.
        needed: String,
    },

    /// A cohort period in which no customer was acquired.
    #[error("no customer was acquired in the cohort period starting {period_start}")]
    EmptyCohort {
        /// The first date of the period asked for.
        period_start: NaiveDate,
    },

    /// A stage model that cannot work (unknown stage, unreachable stage, bad condition, …).
    #[error("invalid stage model {model:?}: {reason}")]
    InvalidStageModel {
        /// The model's name.
        model: String,
        /// What is wrong.
        reason: String,
    },

    /// An event older than the customer state's lateness window allows.
    #[error(
        "event {event_id:?} of customer {customer} at {at} is too late: events before {settled_before} are settled \
         (the state's clock minus its lateness window)"
    )]
    LateEvent {
        /// The customer.
        customer: String,
        /// The event.
        event_id: String,
        /// Its time.
        at: chrono::DateTime<chrono::Utc>,
        /// The state's clock minus the lateness window.
        settled_before: chrono::DateTime<chrono::Utc>,
    },

    /// An event dated after the "now" it was applied at.
    #[error("event {event_id:?} at {at} is in the future of {now}")]
    EventInFuture {
        /// The event.
        event_id: String,
        /// Its time.
        at: chrono::DateTime<chrono::Utc>,
        /// The time it was applied at.
        now: chrono::DateTime<chrono::Utc>,
    },

    /// Time asked to move backwards.
    #[error("cannot move customer {customer} back in time to {requested}: its clock is at {clock}")]
    ClockBehind {
        /// The customer.
        customer: String,
        /// The time asked for.
        requested: chrono::DateTime<chrono::Utc>,
        /// The state's clock.
        clock: chrono::DateTime<chrono::Utc>,
    },

    /// A chart could not be drawn (feature `plots`).
    #[error("cannot draw the {chart}: {reason}")]
    Plot {
        /// The chart.
        chart: &'static str,
        /// What went wrong.
        reason: String,
    },

    /// Arrow data or a Parquet file could not be read or written (feature
    /// `arrow`): a column of a type the loader does not read, a file that
    /// is not Parquet, a batch of another schema.
    #[error("{what}: {reason}")]
    Columnar {
        /// The file, batch or column.
        what: String,
        /// What went wrong.
        reason: String,
    },

    /// Time-varying covariates that do not fit a customer's history: a gap
    /// or an overlap between periods, periods that do not cover the
    /// history, none for the prediction horizon, or none at all.
    #[error("time-varying covariates of customer {customer}: {problem}")]
    CovariatePeriods {
        /// The customer.
        customer: String,
        /// What is wrong.
        problem: CovariateProblem,
    },

    /// An identity link refused by the graph's policy (a blocked identifier,
    /// a limit per kind) or as a link of an identifier to itself; nothing
    /// was changed.
    #[error("cannot link {a} and {b}: {reason}")]
    IdentityLinkRefused {
        /// One side, as `kind:value`.
        a: String,
        /// The other side.
        b: String,
        /// Why.
        reason: String,
    },
    /// More distinct customers than the dense index can hold (2^31 − 1).
    #[error("too many distinct customers for one index (limit {limit})")]
    TooManyCustomers {
        /// The limit.
        limit: u64,
    },
}

/// What is wrong with a customer's time-varying covariate periods (see
/// [`Error::CovariatePeriods`]). Dates are the periods' first days (an
/// end is the first day after).
///
/// ```
/// use customer_lifecycle::CovariateProblem;
/// use customer_lifecycle::chrono::NaiveDate;
/// let day = |d| NaiveDate::from_ymd_opt(2024, 1, d).unwrap();
/// let gap = CovariateProblem::Gap { from: day(8), to: day(15) };
/// assert_eq!(gap.to_string(), "no covariates for the days from 2024-01-08 to 2024-01-15");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CovariateProblem {
    /// Days between two periods without a period.
    #[error("no covariates for the days from {from} to {to}")]
    Gap {
        /// The first day without covariates.
        from: NaiveDate,
        /// The first day with covariates again.
        to: NaiveDate,
    },
    /// A period that starts before the one before it has ended (or twice).
    #[error("the period starting {start} overlaps the one before")]
    Overlap {
        /// The overlapping period's start.
        start: NaiveDate,
    },
    /// Periods that do not cover the customer's history, from the first
    /// purchase period to the end of the calibration (inclusive).
    #[error("the periods cover {given_from} to {given_to}, the history needs {needed_from} to {needed_to}")]
    History {
        /// The first day the history needs.
        needed_from: NaiveDate,
        /// The first day after the history.
        needed_to: NaiveDate,
        /// The first day covered.
        given_from: NaiveDate,
        /// The first day after the periods.
        given_to: NaiveDate,
    },
    /// Periods that end before the prediction horizon.
    #[error("the periods end {given_to}, the prediction horizon needs covariates to {needed_to}")]
    Horizon {
        /// The first day after the horizon.
        needed_to: NaiveDate,
        /// The first day after the periods.
        given_to: NaiveDate,
    },
    /// The customer has no rows in the covariate table.
    #[error("the customer has no covariate periods")]
    Missing,
}

impl Error {
    /// Places a model-input error at `row` of a column (a per-customer call
    /// reports row 0); other errors pass unchanged.
    pub(crate) fn at_row(self, row: usize) -> Error {
        match self {
            Error::InvalidModelInput { model, reason, customer, .. } => {
                Error::InvalidModelInput { model, row, customer, reason }
            }
            other => other,
        }
    }

    /// Names the customer of a model-input error's row, `ids[row]`, when
    /// the rows are those of a table with ids.
    pub(crate) fn naming_customer<D: std::fmt::Display>(self, ids: &[D]) -> Error {
        match self {
            Error::InvalidModelInput { model, row, customer: None, reason } if row < ids.len() => {
                Error::InvalidModelInput { model, row, customer: Some(ids[row].to_string()), reason }
            }
            other => other,
        }
    }
}

fn column_suffix(column: &Option<String>) -> String {
    match column {
        Some(c) => format!(", column {c:?}"),
        None => String::new(),
    }
}

fn customer_suffix(customer: &Option<String>) -> String {
    match customer {
        Some(c) => format!(" of customer {c}"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_static() {
        fn assert_bounds<T: Send + Sync + 'static + std::error::Error>() {}
        assert_bounds::<Error>();
    }

    #[test]
    fn messages_name_the_culprit() {
        let e = Error::InvalidAmount {
            field: "amount",
            value: "-3.00".into(),
            customer: Some("42".into()),
            reason: "must not be negative".into(),
        };
        assert_eq!(e.to_string(), "invalid amount -3.00 for amount of customer 42: must not be negative");
    }
}
