"""Times Python lifetimes' summary_data_from_transaction_data on data shaped
like benches/summary.rs (1M transactions, ~10 per customer, three years, time
order), for the comparison table in the README. Not run by CI.

    pip install lifetimes==0.11.3
    python3 benches/compare/lifetimes_summary.py
"""
import time, numpy as np, pandas as pd
from lifetimes.utils import summary_data_from_transaction_data as sd
rng = np.random.default_rng(42)
n = 1_000_000
start = np.datetime64('2020-01-01T00:00:00')
df = pd.DataFrame({
    'customer_id': 1_000_000 + rng.integers(0, n // 10, n),
    'date': start + rng.integers(0, 3*365*86400, n).astype('timedelta64[s]'),
    'amount': (100 + rng.integers(0, 20000, n)) / 100.0,
}).sort_values('date')
for _ in range(2):
    t = time.perf_counter()
    s = sd(df, 'customer_id', 'date', 'amount', observation_period_end='2022-12-31', freq='D', freq_multiplier=7)
    e = time.perf_counter() - t
    print(f"lifetimes summary, {n} rows: {e:.2f} s = {e/n*1e9:.0f} ns/row ({len(s)} customers)")
