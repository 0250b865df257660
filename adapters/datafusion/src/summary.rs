//! The aggregate `purchase_summary(customer_id, ordered_at, amount [, kind])`.
//!
//! Each group keeps a [`CustomerAccumulator`] of the core crate and folds
//! rows into it with the core's [`SummaryRules`]; partial states cross
//! partitions (and, on a cluster, machines) as Arrow arrays and are merged
//! with [`CustomerAccumulator::merge`], which is exact in any order and any
//! grouping. The row computed at the end is the core's
//! [`SummaryRules::summary`]: the same as `TransactionLog::summarize` gives.

use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use customer_lifecycle::chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{
    CustomerAccumulator, CustomerId, CustomerSummary, Error as CoreError, SummaryOptions, SummaryRules,
    TransactionKind, WindowAccumulator,
};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Builder, Float64Builder, Int32Builder, Int64Array, Int64Builder,
    ListArray, ListBuilder, StringBuilder, StructArray, UInt32Array, UInt32Builder,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, FieldRef, Fields, Float64Type, Int32Type,
};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use crate::core_error;

/// The scale of the decimal sums in the output (the core's finest amount scale).
pub const SUM_SCALE: i8 = 6;

/// The `purchase_summary` aggregate for `options` (which must name the
/// observation end; a calibration end adds the holdout fields), under the
/// name `purchase_summary`.
///
/// Called as `purchase_summary(customer_id, ordered_at, amount)` or with a
/// fourth argument `kind` (`order`/`purchase`/empty for orders,
/// `return`/`refund` for returns), grouped by the customer id. It returns
/// a struct per customer with `frequency`, `recency`, `T`,
/// `monetary_value` (lifetimes' definitions, in the options' unit),
/// `orders`, and the exact `gross`, `returns` and `net` sums
/// (`DECIMAL(38, 6)`); with a calibration end also `frequency_holdout`,
/// `monetary_value_holdout`, `monetary_value_per_period_holdout`,
/// `orders_holdout`, `gross_holdout` and `returns_holdout`. A customer with
/// no order in the calibration window (first seen in the holdout) gets
/// NULL, as the core summary counts but does not list them.
///
/// Argument types: the id `BIGINT` (any integer) or text; the time a
/// `TIMESTAMP` of any unit (an instant; a zone in the type only says how
/// to show it) or a `DATE` (a day of the options' clock); the amount a
/// `DECIMAL`, an integer or a float (by its shortest text, as the core's
/// Arrow loader reads it); the kind text. Ids are used as they come:
/// normalise them in SQL first (`lower(trim(email))`) when needed.
///
/// ```
/// use customer_lifecycle::{SummaryOptions, TimeUnit};
/// use customer_lifecycle::chrono::NaiveDate;
/// use customer_lifecycle_datafusion::purchase_summary;
/// let options = SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap());
/// let udaf = purchase_summary(&options)?;
/// assert_eq!(udaf.name(), "purchase_summary");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// The core's [`SummaryOptions::rules`] errors (no observation end, bad
/// options), as a `DataFusionError::External`.
pub fn purchase_summary(options: &SummaryOptions) -> Result<AggregateUDF> {
    purchase_summary_named("purchase_summary", options)
}

/// [`purchase_summary`] under another name (to register several, say a
/// calibration/holdout variant beside the plain one).
///
/// ```
/// use customer_lifecycle::{SummaryOptions, TimeUnit};
/// use customer_lifecycle::chrono::NaiveDate;
/// use customer_lifecycle_datafusion::purchase_summary_named;
/// let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
/// let options = SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30));
/// let udaf = purchase_summary_named("purchase_summary_holdout", &options)?;
/// assert_eq!(udaf.name(), "purchase_summary_holdout");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`purchase_summary`].
pub fn purchase_summary_named(name: &str, options: &SummaryOptions) -> Result<AggregateUDF> {
    let rules = options.rules().map_err(core_error)?;
    Ok(AggregateUDF::from(PurchaseSummaryFunction {
        name: name.to_string(),
        rules: Arc::new(rules),
        signature: Signature::user_defined(Volatility::Immutable),
    }))
}

/// The aggregate's implementation (see [`purchase_summary`]).
#[derive(Debug)]
pub struct PurchaseSummaryFunction {
    name: String,
    rules: Arc<SummaryRules>,
    signature: Signature,
}

#[cfg(feature = "ballista")]
impl PurchaseSummaryFunction {
    /// The name and options (what the plan codec sends).
    pub(crate) fn definition(&self) -> (&str, SummaryOptions) {
        (&self.name, *self.rules.options())
    }
}

impl PartialEq for PurchaseSummaryFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.rules.options() == other.rules.options()
    }
}

impl Eq for PurchaseSummaryFunction {}

impl Hash for PurchaseSummaryFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        format!("{:?}", self.rules.options()).hash(state);
    }
}

/// The output struct's fields.
fn output_fields(holdout: bool) -> Fields {
    let f = |name: &str| Field::new(name, DataType::Float64, true);
    let d = |name: &str| Field::new(name, DataType::Decimal128(38, SUM_SCALE), true);
    let mut fields = vec![
        f("frequency"),
        f("recency"),
        f("T"),
        f("monetary_value"),
        Field::new("orders", DataType::UInt32, true),
        d("gross"),
        d("returns"),
        d("net"),
    ];
    if holdout {
        fields.extend([
            f("frequency_holdout"),
            f("monetary_value_holdout"),
            f("monetary_value_per_period_holdout"),
            Field::new("orders_holdout", DataType::UInt32, true),
            d("gross_holdout"),
            d("returns_holdout"),
        ]);
    }
    Fields::from(fields)
}

fn plan_error(message: String) -> DataFusionError {
    DataFusionError::Plan(message)
}

impl AggregateUDFImpl for PurchaseSummaryFunction {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(3..=4).contains(&arg_types.len()) {
            return Err(plan_error(format!(
                "{}(customer_id, ordered_at, amount [, kind]) takes 3 or 4 arguments, not {}",
                self.name,
                arg_types.len()
            )));
        }
        let text = |t: &DataType| match t {
            DataType::Utf8 | DataType::Utf8View => Some(t.clone()),
            DataType::LargeUtf8 => Some(DataType::Utf8),
            _ => None,
        };
        let id = if arg_types[0].is_integer() { Some(DataType::Int64) } else { text(&arg_types[0]) };
        let time = match &arg_types[1] {
            DataType::Timestamp(unit, zone) => Some(DataType::Timestamp(*unit, zone.clone())),
            DataType::Date32 | DataType::Date64 => Some(DataType::Date32),
            _ => None,
        };
        let amount = match &arg_types[2] {
            DataType::Decimal128(p, s) => Some(DataType::Decimal128(*p, *s)),
            DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => Some(DataType::Decimal128(*p, *s)),
            t if t.is_integer() => Some(DataType::Int64),
            DataType::Float16 | DataType::Float32 | DataType::Float64 => Some(DataType::Float64),
            _ => None,
        };
        let mut out = Vec::with_capacity(arg_types.len());
        for (k, (coerced, what)) in [
            (id, "customer id: an integer or text"),
            (time, "ordered_at: a timestamp or a date"),
            (amount, "amount: a decimal, an integer or a float"),
        ]
        .into_iter()
        .enumerate()
        {
            out.push(coerced.ok_or_else(|| {
                plan_error(format!("{}: argument {} is {}; expected the {what}", self.name, k + 1, arg_types[k]))
            })?);
        }
        if let Some(kind) = arg_types.get(3) {
            let coerced = match kind {
                DataType::Null => Some(DataType::Utf8),
                t => text(t),
            };
            out.push(coerced.ok_or_else(|| {
                plan_error(format!("{}: argument 4 is {kind}; expected the kind as text", self.name))
            })?);
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(output_fields(self.rules.options().calibration_end_date().is_some())))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SummaryAccumulator { groups: self.groups() }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_fields(args.name))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(self.groups()))
    }
}

impl PurchaseSummaryFunction {
    fn groups(&self) -> SummaryGroups {
        SummaryGroups {
            rules: Arc::clone(&self.rules),
            holdout: self.rules.options().calibration_end_date().is_some(),
            accs: Vec::new(),
            periods_held: 0,
        }
    }
}

/// The parts of a window in the state, in order, with their types.
fn window_parts() -> [(&'static str, DataType); 6] {
    [
        ("periods", DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true)))),
        ("first_period_sum", DataType::Int64),
        ("order_sum", DataType::Int64),
        ("orders", DataType::UInt32),
        ("return_sum", DataType::Int64),
        ("returns", DataType::UInt32),
    ]
}

/// The state's fields: the customer (as a number or a text) and both windows.
fn state_fields(name: &str) -> Vec<FieldRef> {
    let mut fields = vec![
        Arc::new(Field::new(format!("{name}[customer_number]"), DataType::Int64, true)),
        Arc::new(Field::new(format!("{name}[customer_text]"), DataType::Utf8, true)),
    ];
    for window in ["calibration", "holdout"] {
        for (part, ty) in window_parts() {
            fields.push(Arc::new(Field::new(format!("{name}[{window}_{part}]"), ty, true)));
        }
    }
    fields
}

/// The values of one input batch, typed.
struct Rows<'a> {
    ids: Ids<'a>,
    times: Times<'a>,
    amounts: Amounts<'a>,
    kinds: Option<&'a ArrayRef>,
}

enum Ids<'a> {
    Number(&'a Int64Array),
    Text(&'a ArrayRef),
}

enum Times<'a> {
    /// Instants (a timestamp of any unit).
    Instant(&'a ArrayRef),
    Date(&'a ArrayRef),
}

enum Amounts<'a> {
    Decimal(&'a ArrayRef, i8),
    Integer(&'a Int64Array),
    Float(&'a ArrayRef),
}

fn columnar(what: String, reason: String) -> DataFusionError {
    core_error(CoreError::Columnar { what, reason })
}

/// Text value `i` of a text column (Utf8 or Utf8View).
fn text_at(array: &ArrayRef, i: usize) -> &str {
    match array.data_type() {
        DataType::Utf8View => array.as_string_view().value(i),
        _ => array.as_string::<i32>().value(i),
    }
}

impl<'a> Rows<'a> {
    fn of(values: &'a [ArrayRef]) -> Result<Rows<'a>> {
        let bad = |k: usize| {
            columnar(
                format!("purchase_summary argument {}", k + 1),
                format!("unexpected type {}", values[k].data_type()),
            )
        };
        if values.len() < 3 {
            return Err(columnar("purchase_summary".into(), format!("{} arguments", values.len())));
        }
        let ids = match values[0].data_type() {
            DataType::Int64 => Ids::Number(values[0].as_primitive::<datafusion::arrow::datatypes::Int64Type>()),
            DataType::Utf8 | DataType::Utf8View => Ids::Text(&values[0]),
            _ => return Err(bad(0)),
        };
        let times = match values[1].data_type() {
            DataType::Timestamp(_, _) => Times::Instant(&values[1]),
            DataType::Date32 => Times::Date(&values[1]),
            _ => return Err(bad(1)),
        };
        let amounts = match values[2].data_type() {
            DataType::Decimal128(_, s) => Amounts::Decimal(&values[2], *s),
            DataType::Int64 => Amounts::Integer(values[2].as_primitive::<datafusion::arrow::datatypes::Int64Type>()),
            DataType::Float64 => Amounts::Float(&values[2]),
            _ => return Err(bad(2)),
        };
        let kinds = values.get(3);
        if let Some(k) = kinds
            && !matches!(k.data_type(), DataType::Utf8 | DataType::Utf8View)
        {
            return Err(bad(3));
        }
        Ok(Rows { ids, times, amounts, kinds })
    }

    /// Whether row `i`'s id is `id` (no copy of the row's id).
    fn id_is(&self, i: usize, id: &CustomerId) -> bool {
        match (&self.ids, id) {
            (Ids::Number(a), CustomerId::Number(n)) => a.is_valid(i) && a.value(i) == *n,
            (Ids::Text(a), CustomerId::Text(t)) => a.is_valid(i) && text_at(a, i) == t.as_str(),
            _ => false,
        }
    }

    fn id(&self, i: usize) -> Result<CustomerId> {
        let missing = || columnar("customer_id".into(), format!("row {} has no customer id", i + 1));
        match &self.ids {
            Ids::Number(a) if a.is_valid(i) => Ok(CustomerId::Number(a.value(i))),
            Ids::Text(a) if a.is_valid(i) => Ok(CustomerId::Text(text_at(a, i).to_string())),
            _ => Err(missing()),
        }
    }

    fn row(
        &self,
        i: usize,
        rules: &SummaryRules,
        id: &CustomerId,
    ) -> Result<(DateTime<Utc>, TransactionKind, Decimal)> {
        let missing = |column: &str| columnar(column.into(), format!("customer {id}: no value"));
        let at = match &self.times {
            Times::Instant(a) | Times::Date(a) if a.is_null(i) => return Err(missing("ordered_at")),
            Times::Instant(a) => customer_lifecycle::log::timestamp_at(a, i)
                .ok_or_else(|| columnar("ordered_at".into(), format!("customer {id}: timestamp out of range")))?,
            Times::Date(a) => {
                let days = a.as_primitive::<Date32Type>().value(i);
                let date = NaiveDate::from_ymd_opt(1970, 1, 1)
                    .and_then(|e| e.checked_add_signed(TimeDelta::try_days(i64::from(days))?))
                    .ok_or_else(|| columnar("ordered_at".into(), format!("customer {id}: date {days} out of range")))?;
                rules.periods().start_of_day(date)
            }
        };
        let bad_amount = |value: String, reason: &str| {
            core_error(CoreError::InvalidAmount {
                field: "amount",
                value,
                customer: Some(id.to_string()),
                reason: reason.to_string(),
            })
        };
        let amount = match &self.amounts {
            Amounts::Decimal(a, _) | Amounts::Float(a) if a.is_null(i) => return Err(missing("amount")),
            Amounts::Integer(a) if a.is_null(i) => return Err(missing("amount")),
            Amounts::Decimal(a, scale) => {
                let v = a.as_primitive::<Decimal128Type>().value(i);
                let exact = if *scale >= 0 {
                    Decimal::try_from_i128_with_scale(v, scale.unsigned_abs().into()).ok()
                } else {
                    10i128
                        .checked_pow(scale.unsigned_abs().into())
                        .and_then(|f| v.checked_mul(f))
                        .and_then(|v| Decimal::try_from_i128_with_scale(v, 0).ok())
                };
                exact.ok_or_else(|| bad_amount(format!("{v}e-{scale}"), "too large to hold exactly"))?
            }
            Amounts::Integer(a) => Decimal::from(a.value(i)),
            Amounts::Float(a) => {
                let v = a.as_primitive::<Float64Type>().value(i);
                if !v.is_finite() {
                    return Err(bad_amount(v.to_string(), "not a finite number"));
                }
                let text = v.to_string();
                Decimal::from_str(&text).map_err(|_| bad_amount(text, "too large to hold exactly"))?
            }
        };
        let kind = match self.kinds {
            Some(k) if k.is_valid(i) => {
                let text = text_at(k, i);
                TransactionKind::parse(text).ok_or_else(|| {
                    columnar("kind".into(), format!("customer {id}: {text:?}, expected order or return"))
                })?
            }
            _ => TransactionKind::Order,
        };
        Ok((at, kind, amount))
    }
}

/// The per-group state: one [`CustomerAccumulator`] per group index.
#[derive(Debug)]
struct SummaryGroups {
    rules: Arc<SummaryRules>,
    holdout: bool,
    accs: Vec<CustomerAccumulator>,
    /// Purchase periods held across the groups (for `size`).
    periods_held: usize,
}

fn periods_of(acc: &CustomerAccumulator) -> usize {
    acc.calibration().purchase_periods().len() + acc.holdout().purchase_periods().len()
}

impl SummaryGroups {
    fn take(&mut self, emit_to: EmitTo) -> Vec<CustomerAccumulator> {
        let taken = emit_to.take_needed(&mut self.accs);
        self.periods_held = self.periods_held.saturating_sub(taken.iter().map(periods_of).sum());
        taken
    }

    /// The output struct of the accumulators (NULL where the core summary
    /// lists no row).
    fn output(&self, accs: &[CustomerAccumulator]) -> Result<ArrayRef> {
        let rows: Vec<Option<CustomerSummary>> =
            accs.iter().map(|a| self.rules.summary(a)).collect::<std::result::Result<_, _>>().map_err(core_error)?;
        let n = rows.len();
        let float = |get: &dyn Fn(&CustomerSummary) -> Option<f64>| -> ArrayRef {
            let mut b = Float64Builder::with_capacity(n);
            rows.iter().for_each(|r| b.append_option(r.as_ref().and_then(get)));
            Arc::new(b.finish())
        };
        let count = |get: &dyn Fn(&CustomerSummary) -> Option<u32>| -> ArrayRef {
            let mut b = UInt32Builder::with_capacity(n);
            rows.iter().for_each(|r| b.append_option(r.as_ref().and_then(get)));
            Arc::new(b.finish())
        };
        let sum = |get: &dyn Fn(&CustomerSummary) -> Option<Decimal>| -> Result<ArrayRef> {
            let mut b = Decimal128Builder::with_capacity(n);
            rows.iter().for_each(|r| {
                b.append_option(r.as_ref().and_then(get).map(|mut d| {
                    d.rescale(SUM_SCALE as u32);
                    d.mantissa()
                }))
            });
            Ok(Arc::new(b.finish().with_precision_and_scale(38, SUM_SCALE)?))
        };
        let mut columns: Vec<ArrayRef> = vec![
            float(&|r| Some(f64::from(r.frequency))),
            float(&|r| Some(r.recency)),
            float(&|r| Some(r.age)),
            float(&|r| Some(r.monetary_value)),
            count(&|r| Some(r.orders)),
            sum(&|r| Some(r.gross))?,
            sum(&|r| Some(r.returns))?,
            sum(&|r| Some(r.net))?,
        ];
        if self.holdout {
            columns.extend([
                float(&|r| r.holdout.as_ref().map(|h| f64::from(h.frequency))),
                float(&|r| r.holdout.as_ref().map(|h| h.monetary_value)),
                float(&|r| r.holdout.as_ref().map(|h| h.monetary_value_per_period)),
                count(&|r| r.holdout.as_ref().map(|h| h.orders)),
                sum(&|r| r.holdout.as_ref().map(|h| h.gross))?,
                sum(&|r| r.holdout.as_ref().map(|h| h.returns))?,
            ]);
        }
        let nulls = NullBuffer::from(rows.iter().map(Option::is_some).collect::<Vec<bool>>());
        Ok(Arc::new(StructArray::try_new(output_fields(self.holdout), columns, Some(nulls))?))
    }
}

/// The state arrays of accumulators (see [`state_fields`]).
fn encode(accs: &[CustomerAccumulator]) -> Vec<ArrayRef> {
    let n = accs.len();
    let mut number = Int64Builder::with_capacity(n);
    let mut text = StringBuilder::with_capacity(n, 16 * n);
    for a in accs {
        match a.customer() {
            Some(CustomerId::Number(v)) => {
                number.append_value(*v);
                text.append_null();
            }
            Some(CustomerId::Text(t)) => {
                number.append_null();
                text.append_value(t);
            }
            None => {
                number.append_null();
                text.append_null();
            }
        }
    }
    let mut out: Vec<ArrayRef> = vec![Arc::new(number.finish()), Arc::new(text.finish())];
    for window in [CustomerAccumulator::calibration, CustomerAccumulator::holdout] {
        let mut periods = ListBuilder::new(Int32Builder::new());
        let (mut first, mut sum, mut orders, mut returns, mut return_count) = (
            Int64Builder::with_capacity(n),
            Int64Builder::with_capacity(n),
            UInt32Builder::with_capacity(n),
            Int64Builder::with_capacity(n),
            UInt32Builder::with_capacity(n),
        );
        for a in accs {
            let w = window(a);
            periods.values().append_slice(w.purchase_periods());
            periods.append(true);
            first.append_value(w.first_period_sum());
            sum.append_value(w.order_sum());
            orders.append_value(w.orders());
            returns.append_value(w.return_sum());
            return_count.append_value(w.returns());
        }
        out.extend([
            Arc::new(periods.finish()) as ArrayRef,
            Arc::new(first.finish()),
            Arc::new(sum.finish()),
            Arc::new(orders.finish()),
            Arc::new(returns.finish()),
            Arc::new(return_count.finish()),
        ]);
    }
    out
}

/// Reads state arrays back (they may come from another process: every part
/// is checked as the core checks a saved accumulator).
fn decode(states: &[ArrayRef]) -> Result<Vec<CustomerAccumulator>> {
    let corrupt = |what: &str| columnar("purchase_summary state".into(), what.to_string());
    if states.len() != 2 + 2 * window_parts().len() {
        return Err(corrupt("wrong number of state columns"));
    }
    let n = states[0].len();
    if states.iter().any(|s| s.len() != n) {
        return Err(corrupt("state columns of different lengths"));
    }
    let int64 = |k: usize| -> Result<&Int64Array> {
        states[k]
            .as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>()
            .ok_or_else(|| corrupt("a sum column is not Int64"))
    };
    let uint32 = |k: usize| -> Result<&UInt32Array> {
        states[k]
            .as_primitive_opt::<datafusion::arrow::datatypes::UInt32Type>()
            .ok_or_else(|| corrupt("a count column is not UInt32"))
    };
    let list = |k: usize| -> Result<&ListArray> {
        states[k].as_list_opt::<i32>().ok_or_else(|| corrupt("periods are not a list"))
    };
    let number = int64(0)?;
    let text = states[1].as_string_opt::<i32>().ok_or_else(|| corrupt("the customer text is not Utf8"))?;
    let windows = [2, 2 + window_parts().len()];
    let mut parts = Vec::with_capacity(2);
    for base in windows {
        parts.push((
            list(base)?,
            int64(base + 1)?,
            int64(base + 2)?,
            uint32(base + 3)?,
            int64(base + 4)?,
            uint32(base + 5)?,
        ));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let customer = match (number.is_valid(i), text.is_valid(i)) {
            (true, false) => Some(CustomerId::Number(number.value(i))),
            (false, true) => Some(CustomerId::Text(text.value(i).to_string())),
            (false, false) => None,
            (true, true) => return Err(corrupt("a customer both number and text")),
        };
        let mut windows = Vec::with_capacity(2);
        for (periods, first, sum, orders, returns, return_count) in &parts {
            let values = periods.value(i);
            let values = values.as_primitive_opt::<Int32Type>().ok_or_else(|| corrupt("periods are not Int32"))?;
            if values.null_count() > 0
                || [first.is_null(i), sum.is_null(i), orders.is_null(i), returns.is_null(i), return_count.is_null(i)]
                    .contains(&true)
            {
                return Err(corrupt("a null in a window"));
            }
            windows.push(
                WindowAccumulator::from_parts(
                    values.values().to_vec(),
                    first.value(i),
                    sum.value(i),
                    orders.value(i),
                    returns.value(i),
                    return_count.value(i),
                )
                .map_err(core_error)?,
            );
        }
        let holdout = windows.pop().unwrap_or_default();
        let calibration = windows.pop().unwrap_or_default();
        out.push(CustomerAccumulator::from_parts(customer, calibration, holdout).map_err(core_error)?);
    }
    Ok(out)
}

impl GroupsAccumulator for SummaryGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let rows = Rows::of(values)?;
        self.accs.resize_with(total_num_groups.max(self.accs.len()), CustomerAccumulator::default);
        for (i, &g) in group_indices.iter().enumerate() {
            if opt_filter.is_some_and(|f| !f.is_valid(i) || !f.value(i)) {
                continue;
            }
            let acc = &mut self.accs[g];
            let before = periods_of(acc);
            match acc.customer() {
                Some(id) if rows.id_is(i, id) => {
                    let (at, kind, amount) = rows.row(i, &self.rules, id)?;
                    self.rules.add_same_customer(acc, at, kind, amount).map_err(core_error)?;
                }
                _ => {
                    let id = rows.id(i)?;
                    let (at, kind, amount) = rows.row(i, &self.rules, &id)?;
                    self.rules.add(acc, &id, at, kind, amount).map_err(core_error)?;
                }
            }
            self.periods_held += periods_of(acc) - before;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let accs = self.take(emit_to);
        self.output(&accs)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(encode(&self.take(emit_to)))
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        let incoming = decode(values)?;
        if incoming.len() != group_indices.len() {
            return Err(columnar("purchase_summary state".into(), "states and groups differ in number".into()));
        }
        self.accs.resize_with(total_num_groups.max(self.accs.len()), CustomerAccumulator::default);
        for (state, &g) in incoming.iter().zip(group_indices) {
            let acc = &mut self.accs[g];
            let before = periods_of(acc);
            acc.merge(state).map_err(core_error)?;
            self.periods_held += periods_of(acc) - before;
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let n = values.first().map_or(0, |v| v.len());
        let mut each =
            SummaryGroups { rules: Arc::clone(&self.rules), holdout: self.holdout, accs: Vec::new(), periods_held: 0 };
        let groups: Vec<usize> = (0..n).collect();
        each.update_batch(values, &groups, opt_filter, n)?;
        Ok(encode(&each.accs))
    }

    fn size(&self) -> usize {
        self.accs.capacity() * std::mem::size_of::<CustomerAccumulator>()
            + self.periods_held * std::mem::size_of::<i32>()
    }
}

/// The one-group form DataFusion uses without a `GROUP BY`, or where it
/// cannot use the groups form: one group of [`SummaryGroups`].
#[derive(Debug)]
struct SummaryAccumulator {
    groups: SummaryGroups,
}

impl SummaryAccumulator {
    /// Makes sure the one group exists (an empty accumulator before any row).
    fn ensure_group(&mut self) {
        if self.groups.accs.is_empty() {
            self.groups.accs.push(CustomerAccumulator::default());
        }
    }
}

impl Accumulator for SummaryAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let n = values.first().map_or(0, |v| v.len());
        self.groups.update_batch(values, &vec![0; n], None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.ensure_group();
        ScalarValue::try_from_array(&self.groups.output(&self.groups.accs)?, 0)
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.groups.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.ensure_group();
        encode(&self.groups.accs).iter().map(|a| ScalarValue::try_from_array(a, 0)).collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let n = states.first().map_or(0, |v| v.len());
        self.groups.merge_batch(states, &vec![0; n], 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use customer_lifecycle::TimeUnit;

    fn state() -> Vec<ArrayRef> {
        let rules = SummaryOptions::new(TimeUnit::Day)
            .observation_end(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap())
            .rules()
            .unwrap();
        let mut acc = CustomerAccumulator::default();
        let at = |d: i64| DateTime::from_timestamp(1_704_067_200 + d * 86_400, 0).unwrap();
        rules.add(&mut acc, &CustomerId::from(5), at(2), TransactionKind::Order, Decimal::TEN).unwrap();
        rules.add_same_customer(&mut acc, at(9), TransactionKind::Order, Decimal::ONE).unwrap();
        let states = encode(&[acc.clone()]);
        assert_eq!(decode(&states).unwrap(), vec![acc]);
        states
    }

    #[test]
    fn hostile_states_are_refused() {
        // Periods out of order.
        let mut states = state();
        let mut periods = ListBuilder::new(Int32Builder::new());
        periods.values().append_slice(&[9, 2]);
        periods.append(true);
        states[2] = Arc::new(periods.finish());
        assert!(decode(&states).unwrap_err().to_string().contains("strictly increasing"));
        // A customer both number and text.
        let mut states = state();
        states[1] = Arc::new(datafusion::arrow::array::StringArray::from(vec!["x"]));
        assert!(decode(&states).is_err());
        // A first-period sum above the total.
        let mut states = state();
        states[3] = Arc::new(Int64Array::from(vec![i64::MAX]));
        assert!(decode(&states).is_err());
        // A column of the wrong type, and too few columns.
        let mut states = state();
        states[5] = Arc::new(Int64Array::from(vec![2]));
        assert!(decode(&states).is_err());
        assert!(decode(&state()[..5]).is_err());
    }
}
