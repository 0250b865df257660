//! The whole batch job on one CSV file, each step timed: load, summary,
//! BG/NBD and Gamma-Gamma fits, P(alive) and expected purchases over the
//! next year, and a 12-month CLV (as Python lifetimes computes it) for
//! every customer. Every step uses both cores of a two-core machine: the
//! loader reads on one and adds rows on the other, the summary folds half
//! the log on each, the two fits and the two predictions run side by side,
//! and the CLV shares its distinct customers out.
//!
//! ```sh
//! cargo run --release --example pipeline -- run orders.csv [day|week]
//! cargo run --release --example pipeline -- generate 10000000 orders.csv
//! ```
//!
//! `run` reads a file with columns `customer_id,date,amount` (ISO dates);
//! the unit is the day (as Python lifetimes' `freq='D'`) or the week, and
//! the observation ends on the last order's date. `generate` writes such a
//! file of about ROWS orders (see [`orders_csv`]).
//! `benches/compare/peers.py` runs this next to duckdb, polars and Python
//! lifetimes on the same file; `benches/pipeline.rs` is the criterion bench
//! of the same steps.

use std::time::Instant;

use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
use customer_lifecycle::{CsvOptions, Currency, SummaryOptions, TimeUnit, TransactionLog};

const USAGE: &str = "usage: pipeline run ORDERS.csv [day|week] | pipeline generate ROWS ORDERS.csv";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("generate") => {
            let rows: usize = args.get(1).ok_or(USAGE)?.parse()?;
            let path = args.get(2).ok_or(USAGE)?;
            std::fs::write(path, orders_csv(rows))?;
            Ok(())
        }
        Some("run") => run(args.get(1).ok_or(USAGE)?, args.get(2).map(String::as_str)),
        _ => Err(USAGE.into()),
    }
}

fn run(path: &str, unit: Option<&str>) -> Result<(), Box<dyn std::error::Error>> {
    let (unit, year) = match unit {
        None | Some("day") => (TimeUnit::Day, 365.0),
        Some("week") => (TimeUnit::Week, 52.0),
        Some(other) => return Err(format!("unit {other:?}: day or week").into()),
    };
    let mut times = Vec::new();
    let mut step = |name: &'static str, start: Instant| times.push((name, start.elapsed().as_secs_f64()));
    let total = Instant::now();

    let t = Instant::now();
    let log = TransactionLog::from_csv_path(path, &CsvOptions::new(Currency::USD))?;
    step("load CSV", t);

    let t = Instant::now();
    let summary = log.summarize(&SummaryOptions::new(unit))?;
    step("exact summary", t);

    // The two fits are independent, and so are P(alive) and the expected
    // purchases: each pair runs side by side, one on each core.
    let t = Instant::now();
    let (purchases, spend) = std::thread::scope(|scope| {
        let spend = scope.spawn(|| GammaGamma::fit(&summary));
        (BetaGeo::fit(&summary), spend.join())
    });
    let (purchases, spend) = (purchases?, spend.map_err(|_| "the Gamma-Gamma fit panicked")??);
    step("BG/NBD beside Gamma-Gamma fit", t);

    let t = Instant::now();
    let (x, t_x, age) = (summary.frequency(), summary.recency(), summary.age());
    let (alive, expected) = std::thread::scope(|scope| {
        let alive = scope.spawn(|| purchases.probability_alive_columns(x, t_x, age));
        (alive.join(), purchases.conditional_expected_purchases_columns(year, x, t_x, age))
    });
    let (alive, expected) = (alive.map_err(|_| "P(alive) panicked")??, expected?);
    step("P(alive) beside purchases, a year", t);

    let t = Instant::now();
    // As lifetimes computes it: twelve monthly steps, 1 % a month; the
    // distinct (x, T) pairs shared between the cores.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let clv = Clv::new(&purchases, &spend).lifetimes_compatible(12, 0.01).threads(cores).compute(&summary)?;
    step("CLV, 12 months (lifetimes steps)", t);
    let whole = total.elapsed().as_secs_f64();

    println!("{} orders, {} customers ({})", log.len(), summary.len(), path);
    for (name, seconds) in &times {
        println!("{name:<34} {seconds:>8.3} s");
    }
    println!("{:<34} {whole:>8.3} s", "whole job");
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let clv_values = clv.column("clv").ok_or("no clv column")?;
    println!(
        "mean P(alive) {:.4}, mean purchases in a year {:.4}, mean CLV {:.2}; BG/NBD {:?}, Gamma-Gamma {:?}",
        mean(alive.as_slice().unwrap_or_default()),
        mean(expected.as_slice().unwrap_or_default()),
        clv_values.iter().sum::<f64>() / clv_values.len() as f64,
        purchases.parameters(),
        spend.parameters(),
    );
    Ok(())
}

/// About `rows` orders of customers who buy as BG/NBD and Gamma-Gamma
/// customers would (`benches/pipeline.rs` and `benches/compare/peers.py` use this file):
/// each joins on a day of three years, buys at a Gamma(2, 1/30) rate per
/// day, may drop out after each purchase with a Beta(1, 12) probability,
/// and spends Gamma(6, ν) per order with ν ~ Gamma(4, 1/15); random 63-bit
/// ids, in date order.
pub fn orders_csv(rows: usize) -> String {
    use rand::{Rng, SeedableRng};
    use rand_distr::{Beta, Distribution, Exp1, Gamma};
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(42);
    let (rate, drop, taste, spend) = (
        Gamma::new(2.0, 1.0 / 30.0).unwrap(),
        Beta::new(1.0, 12.0).unwrap(),
        Gamma::new(4.0, 1.0 / 15.0).unwrap(),
        Gamma::new(6.0, 1.0).unwrap(),
    );
    let mut orders: Vec<(u32, u64, u64)> = Vec::with_capacity(rows + rows / 10);
    for _ in 0..rows * 2 / 29 {
        let id = rng.random::<u64>() >> 1;
        let (lambda, p, nu): (f64, f64, f64) = (rate.sample(&mut rng), drop.sample(&mut rng), taste.sample(&mut rng));
        let mut day = f64::from(rng.random_range(0..3 * 365u32));
        loop {
            let amount: f64 = spend.sample(&mut rng);
            let cents = ((amount / nu * 100.0).round() as u64).max(1);
            orders.push((day as u32, id, cents));
            let gap: f64 = Exp1.sample(&mut rng);
            day += gap / lambda;
            if rng.random::<f64>() < p || day >= f64::from(3 * 365u32) {
                break;
            }
        }
    }
    orders.sort_by_key(|o| o.0);
    let start = customer_lifecycle::chrono::NaiveDate::from_ymd_opt(2022, 1, 1).unwrap();
    let mut text = String::with_capacity(orders.len() * 40);
    text.push_str("customer_id,date,amount\n");
    for (day, id, cents) in orders {
        let date = start + customer_lifecycle::chrono::Days::new(u64::from(day));
        text.push_str(&format!("{id},{date},{}.{:02}\n", cents / 100, cents % 100));
    }
    text
}
