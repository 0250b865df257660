//! Writes a realistic, seeded shop export to try the crate on (see
//! `generator.rs` for what is in it).
//!
//! ```text
//! cargo run --release --example shop_export -- --out target/shop [--seed N] [--customers N]
//! ```
//!
//! Writes `shop_orders.csv` (RFC 3339 times with offsets, decimal points)
//! and `shop_orders_de.csv` (`;`-separated, local Berlin times, decimal
//! commas and currency symbols) with the same orders, `shop_orders_two_ids.csv`
//! (a third of the repeat buyers' first orders as guest checkouts under a
//! second address) with `identity_links.csv` (`id_a,id_b`) to join them,
//! and prints the `lifecycle_report` command that reads each.

mod generator;

use std::error::Error as StdError;
use std::process::ExitCode;

use generator::{ExportStyle, ShopConfig, calibration_end, generate, links_csv, to_csv, with_second_addresses};

fn run() -> Result<(), Box<dyn StdError>> {
    let mut config = ShopConfig::default();
    let mut out = String::from("target/shop");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--out" => out = value()?,
            "--seed" => config.seed = value()?.parse()?,
            "--customers" => config.customers = value()?.parse()?,
            other => {
                return Err(format!("unknown argument {other:?}; usage: --out DIR [--seed N] [--customers N]").into());
            }
        }
    }
    let export = generate(&config);
    std::fs::create_dir_all(&out)?;
    let iso = format!("{out}/shop_orders.csv");
    let de = format!("{out}/shop_orders_de.csv");
    std::fs::write(&iso, to_csv(&export, ExportStyle::Iso))?;
    std::fs::write(&de, to_csv(&export, ExportStyle::DecimalComma))?;
    let (two_ids, links) = with_second_addresses(&export, config.seed);
    let dup = format!("{out}/shop_orders_two_ids.csv");
    let links_path = format!("{out}/identity_links.csv");
    std::fs::write(&dup, to_csv(&two_ids, ExportStyle::Iso))?;
    std::fs::write(&links_path, links_csv(&links))?;
    println!(
        "{} rows: {} orders ({} exported twice), {} refunds, {} customers ({} acquired on the last day, {})",
        export.rows.len(),
        export.orders,
        export.rows.len() - export.orders - export.refunds,
        export.refunds,
        export.customers.len(),
        export.acquired_on_last_day,
        config.last_day
    );
    let cal = calibration_end(&config);
    let common = format!(
        "--unit week --calibration-end {cal} --observation-end {} --currency EUR --rate CHF=1.05 \
         --normalize-ids email --column customer_id=email --column date=created_at --column amount=total",
        config.last_day
    );
    println!("wrote {iso} and {de}; read them with");
    println!(
        "  cargo run --release --example lifecycle_report -- --transactions {iso} {common} --time-zone Europe/Berlin"
    );
    println!(
        "  cargo run --release --example lifecycle_report -- --transactions {de} {common} --time-zone Europe/Berlin \
         --decimal-comma --delimiter ';'"
    );
    println!(
        "wrote {dup} ({} people's first orders under a second address) and {links_path}; resolve them with",
        links.len()
    );
    println!(
        "  cargo run --release --example lifecycle_report -- --transactions {dup} {common} --time-zone Europe/Berlin \
         --identity-links {links_path}"
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
