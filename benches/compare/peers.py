"""The whole batch job side by side: this crate, duckdb, polars and Python
lifetimes on the same generated file. Not run by CI.

    python3 benches/compare/peers.py [ROWS]      # default 10,000,000

It sets up a virtual environment in target/compare-venv (duckdb, polars,
lifetimes 0.11.3) on first use, writes target/compare/orders_ROWS.csv with
`cargo run --release --example pipeline -- generate ROWS FILE` (about ROWS
orders of ROWS/14.5 customers with random 63-bit ids, ISO dates over three
years, two decimals; customers buy and spend as BG/NBD and Gamma-Gamma
customers would; fixed seed), then times on it:

* this crate: `cargo run --release --example pipeline -- run FILE day` (load,
  exact summary, BG/NBD and Gamma-Gamma fits, P(alive) and purchases in
  365 days, 12-month CLV with lifetimes' monthly steps);
* duckdb (all threads, and one) and polars: the exact summary in days
  (frequency = distinct purchase days − 1, recency and age in days,
  monetary value = mean daily spend over the repeat days), from the CSV;
* lifetimes: summary_data_from_transaction_data(freq='D'), BetaGeoFitter,
  GammaGammaFitter, conditional_probability_alive, expected purchases in
  365 days and customer_lifetime_value (12 months, 1 % a month, freq='D').

Each peer runs in its own process, timed from the start of its work
(imports excluded).
"""
import os, subprocess, sys, venv

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(ROOT, "target", "compare-venv")
PY = os.path.join(VENV, "bin", "python")


def ensure_venv():
    if not os.path.exists(PY):
        venv.create(VENV, with_pip=True)
        subprocess.check_call([PY, "-m", "pip", "install", "-q", "duckdb", "polars", "numpy<2", "pandas<2.2",
                               "scipy<1.12", "lifetimes==0.11.3"])


DUCKDB = r"""
import duckdb, sys, time
path, threads = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute(f"SET threads TO {threads}")
con.execute("SET enable_progress_bar = false")
t = time.perf_counter()
n = con.execute(f'''
  WITH daily AS (
    SELECT customer_id, date, sum(amount) AS spend
    FROM read_csv('{path}', header = true, columns = {{'customer_id': 'BIGINT', 'date': 'DATE', 'amount': 'DECIMAL(18,2)'}})
    GROUP BY customer_id, date),
  ranked AS (SELECT *, min(date) OVER (PARTITION BY customer_id) AS first FROM daily),
  ends AS (SELECT max(date) AS last_day FROM daily)
  SELECT count(*) FROM (
    SELECT customer_id, count(*) - 1 AS frequency, max(date) - min(date) AS recency,
           (SELECT last_day FROM ends) - min(date) AS age,
           coalesce(avg(spend) FILTER (WHERE date > first), 0) AS monetary_value
    FROM ranked GROUP BY customer_id)''').fetchone()[0]
print(f"{time.perf_counter() - t:.3f} {n}")
"""

POLARS = r"""
import polars as pl, sys, time
path = sys.argv[1]
t = time.perf_counter()
df = pl.read_csv(path, schema={'customer_id': pl.Int64, 'date': pl.Date, 'amount': pl.Float64})
last = df['date'].max()
daily = df.group_by(['customer_id', 'date']).agg(pl.col('amount').sum().alias('spend'))
daily = daily.with_columns(pl.col('date').min().over('customer_id').alias('first'))
s = daily.group_by('customer_id').agg(
    (pl.len() - 1).alias('frequency'),
    (pl.col('date').max() - pl.col('date').min()).dt.total_days().alias('recency'),
    (pl.lit(last) - pl.col('date').min()).dt.total_days().alias('age'),
    pl.col('spend').filter(pl.col('date') > pl.col('first')).mean().fill_null(0).alias('monetary_value'))
print(f"{time.perf_counter() - t:.3f} {s.height}")
"""

LIFETIMES = r"""
import pandas as pd, sys, time
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data
path = sys.argv[1]
steps = []
t0 = t = time.perf_counter()
df = pd.read_csv(path, dtype={'customer_id': 'int64', 'amount': 'float64'}, parse_dates=['date'])
steps.append(('load CSV', time.perf_counter() - t)); t = time.perf_counter()
s = summary_data_from_transaction_data(df, 'customer_id', 'date', 'amount', freq='D')
steps.append(('exact summary', time.perf_counter() - t)); t = time.perf_counter()
bg = BetaGeoFitter().fit(s['frequency'], s['recency'], s['T'])
steps.append(('BG/NBD fit', time.perf_counter() - t)); t = time.perf_counter()
r = s[(s['frequency'] > 0) & (s['monetary_value'] > 0)]
gg = GammaGammaFitter().fit(r['frequency'], r['monetary_value'])
steps.append(('Gamma-Gamma fit', time.perf_counter() - t)); t = time.perf_counter()
alive = bg.conditional_probability_alive(s['frequency'], s['recency'], s['T'])
expected = bg.conditional_expected_number_of_purchases_up_to_time(365, s['frequency'], s['recency'], s['T'])
steps.append(('P(alive) + purchases in a year', time.perf_counter() - t)); t = time.perf_counter()
clv = gg.customer_lifetime_value(bg, s['frequency'], s['recency'], s['T'], s['monetary_value'], time=12, discount_rate=0.01, freq='D')
steps.append(('CLV, 12 months (lifetimes steps)', time.perf_counter() - t))
steps.append(('whole job', time.perf_counter() - t0))
for name, secs in steps:
    print(f"{name}\t{secs:.3f}")
"""


def run(code, *args):
    out = subprocess.run([PY, "-c", code, *map(str, args)], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def last_line(text):
    return text.strip().splitlines()[-1]


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    ensure_venv()
    os.makedirs(os.path.join(ROOT, "target", "compare"), exist_ok=True)
    path = os.path.join(ROOT, "target", "compare", f"orders_{rows}.csv")
    subprocess.check_call(["cargo", "build", "-q", "--release", "--example", "pipeline"], cwd=ROOT)
    example = os.path.join(ROOT, "target", "release", "examples", "pipeline")
    if not os.path.exists(path):
        subprocess.check_call([example, "generate", str(rows), path])
    print(f"{rows:,} rows asked, {os.path.getsize(path) / 1e6:.0f} MB: {path}\n")
    ours = subprocess.run([example, "run", path, "day"], check=True, capture_output=True, text=True).stdout
    print("this crate (both cores of the machine, as examples/pipeline.rs runs it):\n" + ours)
    for threads in (1, 2):
        secs, n = last_line(run(DUCKDB, path, threads)).split()
        print(f"duckdb exact summary, {threads} thread(s): {float(secs):.3f} s ({n} customers)")
    secs, n = last_line(run(POLARS, path)).split()
    print(f"polars exact summary (all threads): {float(secs):.3f} s ({n} customers)")
    print("\nlifetimes 0.11.3:")
    print(run(LIFETIMES, path))


if __name__ == "__main__":
    main()
