//! Results keyed by customer: [`CustomerTable`].

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use ndarray::{Array1, Array2, ArrayView1};

use crate::domain::customer::CustomerId;
use crate::error::{Error, Result};
#[cfg(feature = "arrow")]
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
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
#[derive(Clone, PartialEq, Debug)]
pub struct CustomerTable {
    ids: Arc<Vec<CustomerId>>,
    names: Vec<String>,
    columns: Vec<Array1<f64>>,
}
}

impl CustomerTable {
    /// A loaded table must be one the code could have built.
    fn check_consistent(&self) -> Result<()> {
        if self.names.len() != self.columns.len() {
            return Err(bad(format!("{} names for {} columns", self.names.len(), self.columns.len())));
        }
        let mut seen = HashMap::with_capacity(self.ids.len());
        for (row, id) in self.ids.iter().enumerate() {
            if seen.insert(id, row).is_some() {
                return Err(bad(format!("customer {id} appears twice")));
            }
        }
        let mut table = CustomerTable { ids: Arc::clone(&self.ids), names: Vec::new(), columns: Vec::new() };
        for (name, column) in self.names.iter().zip(&self.columns) {
            table = table.with_column(name, column.clone())?;
        }
        Ok(())
    }

    /// A table of these customers, without columns yet.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// let table = CustomerTable::new(vec![CustomerId::from(1), CustomerId::from(2)]);
    /// assert_eq!((table.len(), table.names().len()), (2, 0));
    /// ```
    pub fn new(ids: Vec<CustomerId>) -> CustomerTable {
        CustomerTable { ids: Arc::new(ids), names: Vec::new(), columns: Vec::new() }
    }

    /// A table over ids shared with a summary, without copying them.
    pub(crate) fn over(ids: Arc<Vec<CustomerId>>) -> CustomerTable {
        CustomerTable { ids, names: Vec::new(), columns: Vec::new() }
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
    pub fn with_column(mut self, name: impl Into<String>, values: Array1<f64>) -> Result<CustomerTable> {
        let name = name.into();
        if name.is_empty() || self.names.contains(&name) {
            return Err(bad(format!("empty or repeated column name {name:?}")));
        }
        if values.len() != self.ids.len() {
            return Err(bad(format!("column {name:?} has {} values for {} customers", values.len(), self.ids.len())));
        }
        if let Some(row) = values.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!("column {name:?}: {} for customer {}", values[row], self.ids[row])));
        }
        self.names.push(name);
        self.columns.push(values);
        Ok(self)
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
        self.names.iter().position(|n| n == name).map(|k| self.columns[k].view())
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
        let row = self.position(customer)?;
        self.column(name).map(|c| c[row])
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
        for (name, column) in other.names.iter().zip(&other.columns) {
            out = out.with_column(name, rows.iter().map(|&k| column[k]).collect())?;
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
        true
    }

    /// All columns as a matrix, one row per customer.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerTable};
    /// use customer_lifecycle::ndarray::array;
    /// let t = CustomerTable::new(vec![CustomerId::from(1)]).with_column("a", array![1.0])?.with_column("b", array![2.0])?;
    /// assert_eq!(t.to_matrix(), array![[1.0, 2.0]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_matrix(&self) -> Array2<f64> {
        Array2::from_shape_fn((self.len(), self.columns.len()), |(i, j)| self.columns[j][i])
    }

    /// Writes CSV: `customer_id` then the columns, one line per customer
    /// (numbers in Rust's shortest round-trip form).
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
            record.extend(self.columns.iter().map(|c| c[i].to_string()));
            w.write_record(&record).map_err(io)?;
        }
        w.flush().map_err(|e| Error::Io { path: "customer table CSV".into(), source: e })
    }

    /// The table as an Arrow record batch: `customer_id` (integers when
    /// every id is one, text otherwise), then one `Float64` column per
    /// column of the table, under its name. Feature `arrow`.
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
        batch_of(&self.ids, self.names.iter().cloned().zip(self.columns.iter().map(|c| c.to_vec())).collect())
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
