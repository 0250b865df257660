"""The exact summary from a Parquet file side by side: this crate's
DataFusion adapter (`purchase_summary`), the core crate in process
(`TransactionLog::from_parquet_path` + `summarize`), duckdb and polars,
on the same file. Not run by CI.

    python3 benches/compare/parquet.py [ROWS]      # default 10,000,000

It uses target/compare/orders_ROWS.csv (written by peers.py), converts it
once to target/compare/orders_ROWS.parquet with duckdb (customer_id
BIGINT, date DATE, amount DECIMAL(18,2); Snappy, duckdb's row groups), and
times the exact summary in days (observation end = the last date) on it:
the adapter and the core through
`cargo run --release -p customer-lifecycle-datafusion --example sql_predictions -- summary FILE`
(all cores), duckdb on one and two threads, polars on all threads. Each
runs in its own process, timed from the start of its work.
"""
import os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peers  # noqa: E402

ROOT = peers.ROOT

DUCKDB = peers.DUCKDB.replace(
    "read_csv('{path}', header = true, columns = {{'customer_id': 'BIGINT', 'date': 'DATE', 'amount': 'DECIMAL(18,2)'}})",
    "read_parquet('{path}')")
POLARS = peers.POLARS.replace(
    "pl.read_csv(path, schema={'customer_id': pl.Int64, 'date': pl.Date, 'amount': pl.Float64})",
    "pl.read_parquet(path)")
CONVERT = r"""
import duckdb, sys
csv, out = sys.argv[1], sys.argv[2]
duckdb.connect().execute(f'''COPY (SELECT * FROM read_csv('{csv}', header = true,
  columns = {{'customer_id': 'BIGINT', 'date': 'DATE', 'amount': 'DECIMAL(18,2)'}}))
  TO '{out}' (FORMAT parquet, COMPRESSION snappy)''')
"""


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    peers.ensure_venv()
    csv = os.path.join(ROOT, "target", "compare", f"orders_{rows}.csv")
    if not os.path.exists(csv):
        sys.exit(f"{csv} is missing: run `python3 benches/compare/peers.py {rows}` first")
    path = os.path.join(ROOT, "target", "compare", f"orders_{rows}.parquet")
    if not os.path.exists(path):
        peers.run(CONVERT, csv, path)
    print(f"{path}: {os.path.getsize(path) / 1e6:.0f} MB\n")
    subprocess.check_call(["cargo", "build", "-q", "--release", "-p", "customer-lifecycle-datafusion",
                           "--example", "sql_predictions"], cwd=ROOT)
    example = os.path.join(ROOT, "target", "release", "examples", "sql_predictions")
    print(subprocess.run([example, "summary", path], check=True, capture_output=True, text=True).stdout)
    for threads in (1, 2):
        secs, n = peers.last_line(peers.run(DUCKDB, path, threads)).split()
        print(f"duckdb exact summary, {threads} thread(s): {float(secs):.3f} s ({n} customers)")
    secs, n = peers.last_line(peers.run(POLARS, path)).split()
    print(f"polars exact summary (all threads): {float(secs):.3f} s ({n} customers)")


if __name__ == "__main__":
    main()
