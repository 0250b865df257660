//! Results keyed by customer: [`CustomerTable`].

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use chrono::NaiveDate;
use ndarray::{Array1, Array2, ArrayView1};

use crate::domain::customer::CustomerId;
use crate::error::{Error, Result};
#[cfg(feature = "arrow")]
use arrow_array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
#[cfg(feature = "arrow")]
use arrow_schema::{DataType, Field, Schema};
#[cfg(feature = "arrow")]
use parquet::arrow::ArrowWriter;
#[cfg(feature = "arrow")]
use std::{fs::File, path::Path};

validated_serde! {
/// Per-customer results that carry their customers: the ids and named
/// columns of finite numbers, one row per customer. The models, CLV, churn
/// scores and RFM return one, so a result is never zipped with ids by hand
/// (and cannot fall out of step with them after an erasure).
///
/// Join tables by id ([`CustomerTable::join`]), read a value by id
/// ([`CustomerTable::value`]), take a column as an ndarray view
/// ([`CustomerTable::column`]) or all as a matrix
/// ([`CustomerTable::to_matrix`]), write CSV ([`CustomerTable::write_csv`])
/// or save it with serde (a loaded table is checked).
///
/// ```
/// use customer_lifecycle::{CustomerId, CustomerTable};
/// use customer_lifecycle::ndarray::array;
///
/// let ids = vec![CustomerId::from("ana"), CustomerId::from("ben")];
/// let alive = CustomerTable::new(ids.clone()).with_column("p_alive", array![0.9, 0.4])?;
/// let clv = CustomerTable::new(vec![ids[1].clone(), ids[0].clone()]).with_column("clv", array![12.0, 80.0])?;
/// let both = alive.join(&clv)?; // by id, whatever the order
/// assert_eq!(both.value(&CustomerId::from("ana"), "clv"), Some(80.0));
/// assert_eq!(both.names(), ["p_alive", "clv"]);
/// let mut csv = Vec::new();
/// both.write_csv(&mut csv)?;
/// assert_eq!(String::from_utf8(csv)?, "customer_id,p_alive,clv\nana,0.9,80\nben,0.4,12\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct CustomerTable {
    ids: Arc<Vec<CustomerId>>,
    names: Vec<String>,
    columns: Vec<Array1<f64>>,
    /// What each column holds (numbers, dates, labels; its blanks). Empty
    /// in a table saved before columns had kinds: all numbers, no blanks.
    #[serde(default)]
    kinds: Vec<ColumnKind>,
}
}

/// What a column holds beyond its values: the form they take and which
/// rows are blank. A date is stored as its day number since 1970-01-01 and
/// a label as its index in the column's levels; a blank row holds 0.
#[derive(Clone, PartialEq, Debug, serde::Serialize, serde::Deserialize)]
struct ColumnKind {
    form: Form,
    /// One flag per row, true where the value is blank; empty when none is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    blank: Vec<bool>,
}

#[derive(Clone, PartialEq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Form {
    Number,
    Date,
    Label(Vec<String>),
}

/// Equal tables hold the same customers in the same order and the same
/// columns; a table saved before columns had kinds equals its rebuilt
/// self.
impl PartialEq for CustomerTable {
    fn eq(&self, other: &CustomerTable) -> bool {
        self.ids == other.ids
            && self.names == other.names
            && self.columns == other.columns
            && (0..self.columns.len()).all(|k| self.kind(k) == other.kind(k))
    }
}

/// The kind of a column of numbers without blanks.
static NUMBER: ColumnKind = ColumnKind { form: Form::Number, blank: Vec::new() };

impl ColumnKind {
    fn is_blank(&self, row: usize) -> bool {
        self.blank.get(row).copied().unwrap_or(false)
    }
}

/// Day numbers of dates: days since 1970-01-01 (Arrow's `Date32`).
fn day_number(date: NaiveDate) -> i32 {
    // Every `NaiveDate` is within ±262,143 years: the count fits an i32.
    (date - NaiveDate::default()).num_days() as i32
}

fn date_of(day: f64) -> Option<NaiveDate> {
    if day.fract() != 0.0 || day.abs() > f64::from(i32::MAX) {
        return None;
    }
    NaiveDate::default().checked_add_signed(chrono::TimeDelta::try_days(day as i64)?)
}

impl CustomerTable {
    /// A loaded table must be one the code could have built.
    fn check_consistent(&self) -> Result<()> {
        if self.names.len() != self.columns.len() {
            return Err(bad(format!("{} names for {} columns", self.names.len(), self.columns.len())));
        }
        if !self.kinds.is_empty() && self.kinds.len() != self.columns.len() {
            return Err(bad(format!("{} column kinds for {} columns", self.kinds.len(), self.columns.len())));
        }
        for (k, (name, column)) in self.names.iter().zip(&self.columns).enumerate() {
            let kind = self.kind(k);
            if !kind.blank.is_empty() && kind.blank.len() != column.len() {
                return Err(bad(format!(
                    "column {name:?}: {} blank flags for {} rows",
                    kind.blank.len(),
                    column.len()
                )));
            }
            for (row, v) in column.iter().enumerate() {
                let fits = if kind.is_blank(row) {
                    *v == 0.0
                } else {
                    match &kind.form {
                        Form::Number => true,
                        Form::Date => date_of(*v).is_some(),
                        Form::Label(levels) => v.fract() == 0.0 && *v >= 0.0 && (*v as usize) < levels.len(),
                    }
                };
                if !fits {
                    return Err(bad(format!("column {name:?}: {v} is not a value of its kind (row {row})")));
                }
            }
        }
        let mut seen = HashMap::with_capacity(self.ids.len());
        for (row, id) in self.ids.iter().enumerate() {
            if seen.insert(id, row).is_some() {
                return Err(bad(format!("customer {id} appears twice")));
            }
        }
        let mut table = CustomerTable::over(Arc::clone(&self.ids));
        for (name, column) in self.names.iter().zip(&self.columns) {
            table = table.with_column(name, column.clone())?;
        }
        Ok(())
    }

    fn kind(&self, k: usize) -> &ColumnKind {
        self.kinds.get(k).unwrap_or(&NUMBER)
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Adds a checked column of any kind.
    fn push(mut self, name: String, values: Array1<f64>, kind: ColumnKind) -> Result<CustomerTable> {
        if name.is_empty() || self.names.contains(&name) {
            return Err(bad(format!("empty or repeated column name {name:?}")));
        }
        if values.len() != self.ids.len() {
            return Err(bad(format!("column {name:?} has {} values for {} customers", values.len(), self.ids.len())));
        }
        if let Some(row) = values.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!("column {name:?}: {} for customer {}", values[row], self.ids[row])));
        }
        // A table loaded from before kinds existed gets them now.
        while self.kinds.len() < self.columns.len() {
            self.kinds.push(NUMBER.clone());
        }
        let blank = if kind.blank.iter().any(|b| *b) { kind.blank } else { Vec::new() };
        self.names.push(name);
        self.columns.push(values);
        self.kinds.push(ColumnKind { form: kind.form, blank });
        Ok(self)
    }

    /// A table of these customers, without columns yet.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// let table = CustomerTable::new(vec![CustomerId::from(1), CustomerId::from(2)]);
    /// assert_eq!((table.len(), table.names().len()), (2, 0));
    /// ```
    pub fn new(ids: Vec<CustomerId>) -> CustomerTable {
        CustomerTable::over(Arc::new(ids))
    }

    /// A table over ids shared with a summary, without copying them.
    pub(crate) fn over(ids: Arc<Vec<CustomerId>>) -> CustomerTable {
        CustomerTable { ids, names: Vec::new(), columns: Vec::new(), kinds: Vec::new() }
    }

    /// The table with one more column.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// use customer_lifecycle::ndarray::array;
    /// let table = CustomerTable::new(vec![CustomerId::from(1)]);
    /// assert!(table.clone().with_column("clv", array![3.5]).is_ok());
    /// assert!(table.clone().with_column("clv", array![1.0, 2.0]).is_err()); // one value per customer
    /// assert!(table.with_column("clv", array![f64::NAN]).is_err()); // never NaN
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a column of another length, an empty
    /// or repeated name, or a value that is not finite (naming the
    /// customer).
    pub fn with_column(self, name: impl Into<String>, values: Array1<f64>) -> Result<CustomerTable> {
        self.push(name.into(), values, NUMBER.clone())
    }

    /// The table with one more column of numbers, blank where a value is
    /// `None` (what is not defined for a customer: the time between
    /// orders of a customer with one order, say). Blanks are empty in CSV
    /// and null in Arrow; [`CustomerTable::value`] gives `None` for them,
    /// and [`CustomerTable::column`] gives only columns without blanks.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// let t = CustomerTable::new(vec![CustomerId::from(1), CustomerId::from(2)])
    ///     .with_optional_column("days_between_orders", [Some(12.5), None])?;
    /// assert_eq!(t.value(&CustomerId::from(1), "days_between_orders"), Some(12.5));
    /// assert_eq!(t.value(&CustomerId::from(2), "days_between_orders"), None);
    /// assert!(t.column("days_between_orders").is_none()); // it has a blank
    /// assert_eq!(t.optional_column("days_between_orders"), Some(vec![Some(12.5), None]));
    /// let mut csv = Vec::new();
    /// t.write_csv(&mut csv)?;
    /// assert_eq!(String::from_utf8(csv)?, "customer_id,days_between_orders\n1,12.5\n2,\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`CustomerTable::with_column`].
    pub fn with_optional_column(
        self,
        name: impl Into<String>,
        values: impl IntoIterator<Item = Option<f64>>,
    ) -> Result<CustomerTable> {
        let (values, blank): (Vec<f64>, Vec<bool>) =
            values.into_iter().map(|v| (v.unwrap_or(0.0), v.is_none())).unzip();
        self.push(name.into(), Array1::from(values), ColumnKind { form: Form::Number, blank })
    }

    /// The table with one more column of dates, blank where a date is
    /// `None` (ISO dates in CSV, `Date32` in Arrow).
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// use customer_lifecycle::chrono::NaiveDate;
    /// let day = NaiveDate::from_ymd_opt(2025, 1, 31).unwrap();
    /// let t = CustomerTable::new(vec![CustomerId::from("ana"), CustomerId::from("ben")])
    ///     .with_date_column("next_order_date", [Some(day), None])?;
    /// assert_eq!(t.date(&CustomerId::from("ana"), "next_order_date"), Some(day));
    /// assert_eq!(t.date(&CustomerId::from("ben"), "next_order_date"), None);
    /// assert_eq!(t.value(&CustomerId::from("ana"), "next_order_date"), None); // not a number
    /// let mut csv = Vec::new();
    /// t.write_csv(&mut csv)?;
    /// assert_eq!(String::from_utf8(csv)?, "customer_id,next_order_date\nana,2025-01-31\nben,\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`CustomerTable::with_column`].
    pub fn with_date_column(
        self,
        name: impl Into<String>,
        dates: impl IntoIterator<Item = Option<NaiveDate>>,
    ) -> Result<CustomerTable> {
        let (values, blank): (Vec<f64>, Vec<bool>) =
            dates.into_iter().map(|d| (d.map_or(0.0, |d| f64::from(day_number(d))), d.is_none())).unzip();
        self.push(name.into(), Array1::from(values), ColumnKind { form: Form::Date, blank })
    }

    /// The table with one more column of labels (a segment, a stage, a
    /// risk band): text in CSV and Arrow.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// let t = CustomerTable::new(vec![CustomerId::from(1), CustomerId::from(2)])
    ///     .with_label_column("churn_band", ["high", "low"])?;
    /// assert_eq!(t.label(&CustomerId::from(2), "churn_band"), Some("low"));
    /// assert_eq!(t.labels("churn_band"), Some(vec!["high", "low"]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`CustomerTable::with_column`].
    pub fn with_label_column<S: AsRef<str>>(
        self,
        name: impl Into<String>,
        labels: impl IntoIterator<Item = S>,
    ) -> Result<CustomerTable> {
        let mut levels: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let codes: Vec<f64> = labels
            .into_iter()
            .map(|l| {
                let l = l.as_ref();
                let code = match index.get(l) {
                    Some(c) => *c,
                    None => {
                        levels.push(l.to_string());
                        index.insert(l.to_string(), levels.len() - 1);
                        levels.len() - 1
                    }
                };
                code as f64
            })
            .collect();
        self.push(name.into(), Array1::from(codes), ColumnKind { form: Form::Label(levels), blank: Vec::new() })
    }

    /// Number of customers (rows).
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// assert_eq!(CustomerTable::new(vec![CustomerId::from(1)]).len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the table has no customer.
    ///
    /// ```
    /// use customer_lifecycle::CustomerTable;
    /// assert!(CustomerTable::new(Vec::new()).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The customers, one per row.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// assert_eq!(CustomerTable::new(vec![CustomerId::from(7)]).ids(), [CustomerId::from(7)]);
    /// ```
    pub fn ids(&self) -> &[CustomerId] {
        &self.ids
    }

    /// The column names, in order.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// use customer_lifecycle::ndarray::array;
    /// let t = CustomerTable::new(vec![CustomerId::from(1)]).with_column("a", array![1.0])?.with_column("b", array![2.0])?;
    /// assert_eq!(t.names(), ["a", "b"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// A column, as an ndarray view in the rows' order.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// use customer_lifecycle::ndarray::array;
    /// let t = CustomerTable::new(vec![CustomerId::from(1), CustomerId::from(2)]).with_column("clv", array![1.0, 2.0])?;
    /// assert_eq!(t.column("clv").map(|c| c.sum()), Some(3.0));
    /// assert!(t.column("nope").is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn column(&self, name: &str) -> Option<ArrayView1<'_, f64>> {
        let k = self.index(name)?;
        let kind = self.kind(k);
        (kind.form == Form::Number && kind.blank.is_empty()).then(|| self.columns[k].view())
    }

    /// A column of numbers with its blanks as `None` (any column of
    /// numbers; `None` for a column of dates or labels). See
    /// [`CustomerTable::with_optional_column`].
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// use customer_lifecycle::ndarray::array;
    /// let t = CustomerTable::new(vec![CustomerId::from(1), CustomerId::from(2)])
    ///     .with_column("clv", array![3.0, 4.0])?
    ///     .with_optional_column("gap", [None, Some(7.0)])?;
    /// assert_eq!(t.optional_column("clv"), Some(vec![Some(3.0), Some(4.0)])); // any column of numbers
    /// assert_eq!(t.optional_column("gap"), Some(vec![None, Some(7.0)]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn optional_column(&self, name: &str) -> Option<Vec<Option<f64>>> {
        let k = self.index(name)?;
        let kind = self.kind(k);
        (kind.form == Form::Number)
            .then(|| self.columns[k].iter().enumerate().map(|(row, v)| (!kind.is_blank(row)).then_some(*v)).collect())
    }

    /// A column of dates, blanks as `None`. See
    /// [`CustomerTable::with_date_column`].
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// use customer_lifecycle::chrono::NaiveDate;
    /// let day = NaiveDate::from_ymd_opt(2025, 6, 1);
    /// let t = CustomerTable::new(vec![CustomerId::from(1), CustomerId::from(2)]).with_date_column("next", [None, day])?;
    /// assert_eq!(t.dates("next"), Some(vec![None, day]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dates(&self, name: &str) -> Option<Vec<Option<NaiveDate>>> {
        let k = self.index(name)?;
        let kind = self.kind(k);
        (kind.form == Form::Date).then(|| {
            self.columns[k]
                .iter()
                .enumerate()
                .map(|(row, v)| if kind.is_blank(row) { None } else { date_of(*v) })
                .collect()
        })
    }

    /// A column of labels. See [`CustomerTable::with_label_column`].
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// let t = CustomerTable::new(vec![CustomerId::from(1), CustomerId::from(2)]).with_label_column("stage", ["new", "loyal"])?;
    /// assert_eq!(t.labels("stage"), Some(vec!["new", "loyal"]));
    /// assert_eq!(t.labels("nope"), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn labels(&self, name: &str) -> Option<Vec<&str>> {
        let k = self.index(name)?;
        match &self.kind(k).form {
            Form::Label(levels) => Some(self.columns[k].iter().map(|c| levels[*c as usize].as_str()).collect()),
            _ => None,
        }
    }

    /// One customer's date in a column of dates (`None` when blank).
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// use customer_lifecycle::chrono::NaiveDate;
    /// let day = NaiveDate::from_ymd_opt(2025, 6, 1);
    /// let t = CustomerTable::new(vec![CustomerId::from("ana")]).with_date_column("next", [day])?;
    /// assert_eq!(t.date(&CustomerId::from("ana"), "next"), day);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn date(&self, customer: &CustomerId, name: &str) -> Option<NaiveDate> {
        let (row, k) = (self.position(customer)?, self.index(name)?);
        let kind = self.kind(k);
        (kind.form == Form::Date && !kind.is_blank(row)).then(|| date_of(self.columns[k][row])).flatten()
    }

    /// One customer's label in a column of labels.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// let t = CustomerTable::new(vec![CustomerId::from("ana")]).with_label_column("band", ["high"])?;
    /// assert_eq!(t.label(&CustomerId::from("ana"), "band"), Some("high"));
    /// assert_eq!(t.label(&CustomerId::from("ben"), "band"), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn label(&self, customer: &CustomerId, name: &str) -> Option<&str> {
        let (row, k) = (self.position(customer)?, self.index(name)?);
        match &self.kind(k).form {
            Form::Label(levels) => Some(levels[self.columns[k][row] as usize].as_str()),
            _ => None,
        }
    }

    /// A cell as CSV text: a number in Rust's shortest round-trip form, an
    /// ISO date, a label; empty when blank.
    fn cell(&self, k: usize, row: usize) -> String {
        let kind = self.kind(k);
        let v = self.columns[k][row];
        if kind.is_blank(row) {
            return String::new();
        }
        match &kind.form {
            Form::Number => v.to_string(),
            Form::Date => date_of(v).map(|d| d.to_string()).unwrap_or_default(),
            Form::Label(levels) => levels[v as usize].clone(),
        }
    }

    /// The row of a customer.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// let t = CustomerTable::new(vec![CustomerId::from(5), CustomerId::from(9)]);
    /// assert_eq!(t.position(&CustomerId::from(9)), Some(1));
    /// ```
    pub fn position(&self, customer: &CustomerId) -> Option<usize> {
        // Tables from a summary are in id order, where a binary search finds
        // the row; it can only report a row that holds the id, so on any
        // other order a miss falls back to a scan.
        match self.ids.binary_search(customer) {
            Ok(row) => Some(row),
            Err(_) => self.ids.iter().position(|id| id == customer),
        }
    }

    /// One customer's value in a column.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// use customer_lifecycle::ndarray::array;
    /// let t = CustomerTable::new(vec![CustomerId::from(5)]).with_column("clv", array![42.0])?;
    /// assert_eq!(t.value(&CustomerId::from(5), "clv"), Some(42.0));
    /// assert_eq!(t.value(&CustomerId::from(6), "clv"), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn value(&self, customer: &CustomerId, name: &str) -> Option<f64> {
        let (row, k) = (self.position(customer)?, self.index(name)?);
        let kind = self.kind(k);
        (kind.form == Form::Number && !kind.is_blank(row)).then(|| self.columns[k][row])
    }

    /// The columns of both tables by customer, in this table's row order.
    /// Both must hold the same customers: a customer in one and not the
    /// other is an error naming it (so a table computed before an erasure
    /// cannot be joined with one computed after, silently).
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// use customer_lifecycle::ndarray::array;
    /// let a = CustomerTable::new(vec![CustomerId::from(1), CustomerId::from(2)]).with_column("x", array![1.0, 2.0])?;
    /// let b = CustomerTable::new(vec![CustomerId::from(2), CustomerId::from(1)]).with_column("y", array![20.0, 10.0])?;
    /// assert_eq!(a.join(&b)?.column("y").map(|c| c.to_vec()), Some(vec![10.0, 20.0]));
    /// let c = CustomerTable::new(vec![CustomerId::from(1)]).with_column("z", array![0.0])?;
    /// assert!(a.join(&c).is_err()); // customer 2 is missing from c
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the customers differ or a column
    /// name is in both.
    pub fn join(&self, other: &CustomerTable) -> Result<CustomerTable> {
        let same_order = Arc::ptr_eq(&self.ids, &other.ids) || self.ids == other.ids;
        let rows: Vec<usize> = if same_order {
            (0..self.len()).collect()
        } else {
            if other.len() != self.len() {
                let missing = self.ids.iter().find(|id| other.position(id).is_none());
                let extra = other.ids.iter().find(|id| self.position(id).is_none());
                return Err(mismatch(missing, extra));
            }
            let index: HashMap<&CustomerId, usize> = other.ids.iter().enumerate().map(|(k, id)| (id, k)).collect();
            self.ids
                .iter()
                .map(|id| index.get(id).copied().ok_or_else(|| mismatch(Some(id), None)))
                .collect::<Result<_>>()?
        };
        let mut out = self.clone();
        for (j, (name, column)) in other.names.iter().zip(&other.columns).enumerate() {
            let kind = other.kind(j);
            let blank = if kind.blank.is_empty() { Vec::new() } else { rows.iter().map(|&k| kind.blank[k]).collect() };
            out = out.push(
                name.clone(),
                rows.iter().map(|&k| column[k]).collect(),
                ColumnKind { form: kind.form.clone(), blank },
            )?;
        }
        Ok(out)
    }

    /// Removes a customer's row (for an erasure); true when it was there.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// use customer_lifecycle::ndarray::array;
    /// let mut t = CustomerTable::new(vec![CustomerId::from(1), CustomerId::from(2)]).with_column("x", array![1.0, 2.0])?;
    /// assert!(t.erase(&CustomerId::from(1)));
    /// assert_eq!((t.len(), t.value(&CustomerId::from(2), "x")), (1, Some(2.0)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn erase(&mut self, customer: &CustomerId) -> bool {
        let Some(row) = self.position(customer) else { return false };
        Arc::make_mut(&mut self.ids).remove(row);
        for column in &mut self.columns {
            let mut values = column.to_vec();
            values.remove(row);
            *column = Array1::from(values);
        }
        for kind in &mut self.kinds {
            if !kind.blank.is_empty() {
                kind.blank.remove(row);
                if !kind.blank.contains(&true) {
                    kind.blank.clear(); // a column has flags only while it has a blank
                }
            }
        }
        true
    }

    /// All columns as a matrix, one row per customer. Every column must be
    /// one of numbers without blanks.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// use customer_lifecycle::ndarray::array;
    /// let t = CustomerTable::new(vec![CustomerId::from(1)]).with_column("a", array![1.0])?.with_column("b", array![2.0])?;
    /// assert_eq!(t.to_matrix()?, array![[1.0, 2.0]]);
    /// assert!(t.with_label_column("band", ["low"])?.to_matrix().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming a column of dates or labels, or
    /// with blanks.
    pub fn to_matrix(&self) -> Result<Array2<f64>> {
        if let Some(name) = self.names.iter().find(|n| self.column(n).is_none()) {
            return Err(bad(format!("column {name:?} is not one of numbers without blanks")));
        }
        Ok(Array2::from_shape_fn((self.len(), self.columns.len()), |(i, j)| self.columns[j][i]))
    }

    /// Writes CSV: `customer_id` then the columns, one line per customer
    /// (numbers in Rust's shortest round-trip form, ISO dates, labels; a
    /// blank is empty).
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// use customer_lifecycle::ndarray::array;
    /// let t = CustomerTable::new(vec![CustomerId::from("a,b")]).with_column("x", array![0.5])?;
    /// let mut out = Vec::new();
    /// t.write_csv(&mut out)?;
    /// assert_eq!(String::from_utf8(out)?, "customer_id,x\n\"a,b\",0.5\n"); // quoted as CSV needs
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] when writing fails.
    pub fn write_csv<W: Write>(&self, out: W) -> Result<()> {
        let io = |e: csv::Error| Error::Io { path: "customer table CSV".into(), source: e.into() };
        let mut w = csv::Writer::from_writer(out);
        let mut header = vec!["customer_id".to_string()];
        header.extend(self.names.iter().cloned());
        w.write_record(&header).map_err(io)?;
        let mut record = Vec::with_capacity(header.len());
        for (i, id) in self.ids.iter().enumerate() {
            record.clear();
            record.push(id.to_string());
            record.extend((0..self.columns.len()).map(|k| self.cell(k, i)));
            w.write_record(&record).map_err(io)?;
        }
        w.flush().map_err(|e| Error::Io { path: "customer table CSV".into(), source: e })
    }

    /// The table as an Arrow record batch: `customer_id` (integers when
    /// every id is one, text otherwise), then each column under its name:
    /// numbers as `Float64` (nullable where the column has blanks), dates
    /// as `Date32`, labels as `Utf8`. Feature `arrow`.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// use customer_lifecycle::ndarray::array;
    /// let t = CustomerTable::new(vec![CustomerId::from(1), CustomerId::from(2)]).with_column("p_alive", array![0.5, 0.9])?;
    /// let batch = t.to_record_batch()?;
    /// assert_eq!((batch.num_rows(), batch.schema().field(1).name().as_str()), (2, "p_alive"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Columnar`] if Arrow refuses the batch.
    #[cfg(feature = "arrow")]
    pub fn to_record_batch(&self) -> Result<arrow_array::RecordBatch> {
        let (id_type, id_array) = id_column(&self.ids);
        let mut fields = vec![Field::new("customer_id", id_type, false)];
        let mut arrays = vec![id_array];
        for (k, (name, column)) in self.names.iter().zip(&self.columns).enumerate() {
            let kind = self.kind(k);
            let present = |row: usize| !kind.is_blank(row);
            let (data_type, array): (DataType, ArrayRef) = match &kind.form {
                Form::Number => (
                    DataType::Float64,
                    Arc::new(
                        column.iter().enumerate().map(|(r, v)| present(r).then_some(*v)).collect::<Float64Array>(),
                    ),
                ),
                Form::Date => (
                    DataType::Date32,
                    Arc::new(
                        column
                            .iter()
                            .enumerate()
                            .map(|(r, v)| present(r).then_some(*v as i32))
                            .collect::<Date32Array>(),
                    ),
                ),
                Form::Label(levels) => (
                    DataType::Utf8,
                    Arc::new(StringArray::from_iter_values(column.iter().map(|c| levels[*c as usize].as_str()))),
                ),
            };
            fields.push(Field::new(name, data_type, !kind.blank.is_empty()));
            arrays.push(array);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| columnar("record batch", e))
    }

    /// Writes [`CustomerTable::to_record_batch`] as a Parquet file.
    /// Feature `arrow`.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// use customer_lifecycle::ndarray::array;
    /// let t = CustomerTable::new(vec![CustomerId::from("ana@x.io")]).with_column("clv", array![120.5])?;
    /// let path = std::env::temp_dir().join(format!("clm-doc-table-{}.parquet", std::process::id()));
    /// t.write_parquet(&path)?;
    /// assert!(std::fs::metadata(&path)?.len() > 0);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be created; [`Error::Columnar`]
    /// when writing fails.
    #[cfg(feature = "arrow")]
    pub fn write_parquet(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        write_parquet(&self.to_record_batch()?, path.as_ref())
    }
}

/// An Arrow or Parquet failure as the crate's error.
#[cfg(feature = "arrow")]
pub(crate) fn columnar(what: impl Into<String>, reason: impl ToString) -> Error {
    Error::Columnar { what: what.into(), reason: reason.to_string() }
}

#[cfg(feature = "arrow")]
/// A column of customer ids: integers when every id is one, text otherwise.
fn id_column(ids: &[CustomerId]) -> (DataType, ArrayRef) {
    let numbers: Option<Vec<i64>> =
        ids.iter().map(|id| if let CustomerId::Number(n) = id { Some(*n) } else { None }).collect();
    match numbers {
        Some(n) => (DataType::Int64, Arc::new(Int64Array::from(n))),
        None => (DataType::Utf8, Arc::new(StringArray::from_iter_values(ids.iter().map(|id| id.to_string())))),
    }
}

#[cfg(feature = "arrow")]
/// A batch of an id column and float columns.
pub(crate) fn batch_of(ids: &[CustomerId], columns: Vec<(String, Vec<f64>)>) -> Result<RecordBatch> {
    let (id_type, id_array) = id_column(ids);
    let mut fields = vec![Field::new("customer_id", id_type, false)];
    let mut arrays = vec![id_array];
    for (name, values) in columns {
        fields.push(Field::new(name, DataType::Float64, false));
        arrays.push(Arc::new(Float64Array::from(values)));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| columnar("record batch", e))
}

#[cfg(feature = "arrow")]
/// Writes one batch as a Parquet file.
pub(crate) fn write_parquet(batch: &RecordBatch, path: &Path) -> Result<()> {
    let shown = path.display().to_string();
    let file = File::create(path).map_err(|e| Error::Io { path: shown.clone(), source: e })?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).map_err(|e| columnar(shown.clone(), e))?;
    writer.write(batch).map_err(|e| columnar(shown.clone(), e))?;
    writer.close().map(|_| ()).map_err(|e| columnar(shown, e))
}

fn bad(reason: String) -> Error {
    Error::InvalidArgument { name: "customer table", reason }
}

fn mismatch(missing: Option<&CustomerId>, extra: Option<&CustomerId>) -> Error {
    match (missing, extra) {
        (Some(id), _) => bad(format!("cannot join: customer {id} is in one table only")),
        (None, Some(id)) => bad(format!("cannot join: customer {id} is in the other table only")),
        (None, None) => bad("cannot join: the tables hold different customers".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn serde_round_trips_and_refuses_tampering() -> Result<()> {
        let t = CustomerTable::new(vec![CustomerId::from(1), CustomerId::from("b")])
            .with_column("x", array![1.5, 2.0])?
            .with_column("y", array![0.0, -3.0])?;
        let json = serde_json::to_string(&t).map_err(|e| bad(e.to_string()))?;
        let back: CustomerTable = serde_json::from_str(&json).map_err(|e| bad(e.to_string()))?;
        assert_eq!(back, t);
        for tampered in [
            json.replace("\"y\"", "\"x\""),     // repeated name
            json.replace("-3.0", "1e999"),      // not finite
            json.replace("[1.5,2.0]", "[1.5]"), // short column
            json.replace("\"b\"", "1"),         // a customer twice (Number(1))
        ] {
            assert!(serde_json::from_str::<CustomerTable>(&tampered).is_err(), "{tampered}");
        }
        Ok(())
    }

    fn mixed() -> Result<CustomerTable> {
        let day = |d| NaiveDate::from_ymd_opt(2025, 3, d);
        CustomerTable::new(vec![CustomerId::from(1), CustomerId::from("b"), CustomerId::from(3)])
            .with_column("x", array![1.5, 2.0, -1.0])?
            .with_optional_column("gap", [Some(3.0), None, Some(0.5)])?
            .with_date_column("next", [day(1), day(30), None])?
            .with_label_column("band", ["low", "high", "low"])
    }

    #[test]
    fn columns_of_every_kind_round_trip_and_refuse_tampering() -> Result<()> {
        let t = mixed()?;
        let json = serde_json::to_string(&t).map_err(|e| bad(e.to_string()))?;
        let back: CustomerTable = serde_json::from_str(&json).map_err(|e| bad(e.to_string()))?;
        assert_eq!(back, t);
        assert_eq!(back.dates("next").unwrap()[1], NaiveDate::from_ymd_opt(2025, 3, 30));
        assert_eq!(back.labels("band").unwrap(), ["low", "high", "low"]);
        // A table saved before columns had kinds loads as numbers.
        let old = r#"{"ids":[1,2],"names":["x"],"columns":[{"v":1,"dim":[2],"data":[1.0,2.0]}]}"#;
        let old: CustomerTable = serde_json::from_str(old).map_err(|e| bad(e.to_string()))?;
        assert_eq!(old.value(&CustomerId::from(2), "x"), Some(2.0));
        let newer = old.with_label_column("l", ["a", "b"])?; // kinds filled in for the old columns
        assert_eq!(newer.column("x").map(|c| c.sum()), Some(3.0));
        for tampered in [
            json.replace("[\"low\",\"high\"]", "[\"low\"]"), // a label code without its level
            json.replace("[false,true,false]", "[true,true,false]"), // a blank over a value
            json.replace("[false,true,false]", "[false,true]"), // short flags
        ] {
            assert_ne!(tampered, json);
            assert!(serde_json::from_str::<CustomerTable>(&tampered).is_err(), "{tampered}");
        }
        // A day number that is not whole is no date.
        let day = t.columns[2][0];
        let tampered = json.replacen(&format!("{day:?}"), &format!("{}", day + 0.5), 1);
        assert_ne!(tampered, json);
        assert!(serde_json::from_str::<CustomerTable>(&tampered).is_err(), "{tampered}");
        Ok(())
    }

    #[test]
    fn kinds_follow_joins_erasures_and_writers() -> Result<()> {
        let t = mixed()?;
        // Joined in another order, every kind and blank moves with its customer.
        let ids = vec![CustomerId::from(3), CustomerId::from(1), CustomerId::from("b")];
        let other = CustomerTable::new(ids).with_column("y", array![30.0, 10.0, 20.0])?;
        let joined = other.join(&t)?;
        assert_eq!(joined.optional_column("gap"), Some(vec![Some(0.5), Some(3.0), None]));
        assert_eq!(joined.labels("band"), Some(vec!["low", "low", "high"]));
        assert_eq!(joined.date(&CustomerId::from(3), "next"), None);
        assert!(joined.to_matrix().is_err());
        let mut erased = t.clone();
        assert!(erased.erase(&CustomerId::from("b")));
        assert_eq!(erased.optional_column("gap"), Some(vec![Some(3.0), Some(0.5)]));
        assert_eq!(erased.column("gap").map(|c| c.to_vec()), Some(vec![3.0, 0.5])); // its only blank went
        assert!(t.column("gap").is_none());
        assert_eq!(erased.value(&CustomerId::from(3), "gap"), Some(0.5));
        let mut csv = Vec::new();
        t.write_csv(&mut csv)?;
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "customer_id,x,gap,next,band\n1,1.5,3,2025-03-01,low\nb,2,,2025-03-30,high\n3,-1,0.5,,low\n"
        );
        Ok(())
    }

    #[cfg(feature = "arrow")]
    #[test]
    fn arrow_has_nulls_dates_and_text() -> Result<()> {
        use arrow_array::Array;
        let batch = mixed()?.to_record_batch()?;
        let schema = batch.schema();
        assert_eq!(schema.field(1).data_type(), &DataType::Float64);
        assert!(!schema.field(1).is_nullable());
        assert!(schema.field(2).is_nullable());
        assert_eq!(batch.column(2).null_count(), 1);
        assert_eq!(schema.field(3).data_type(), &DataType::Date32);
        assert_eq!(batch.column(3).null_count(), 1);
        assert_eq!(schema.field(4).data_type(), &DataType::Utf8);
        Ok(())
    }

    #[test]
    fn erase_keeps_rows_aligned() -> Result<()> {
        let ids: Vec<CustomerId> = (0..5).map(CustomerId::from).collect();
        let mut t = CustomerTable::new(ids).with_column("k", array![0.0, 1.0, 2.0, 3.0, 4.0])?;
        assert!(t.erase(&CustomerId::from(2)));
        assert!(!t.erase(&CustomerId::from(2)));
        for k in [0, 1, 3, 4] {
            assert_eq!(t.value(&CustomerId::from(k), "k"), Some(f64::from(k)));
        }
        Ok(())
    }
}
