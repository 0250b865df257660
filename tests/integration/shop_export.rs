//! The whole batch path on a realistic shop export (see
//! `examples/shop_export/generator.rs`): continuous acquisition up to the
//! last day, e-mail ids with case and blank variants, local Berlin times
//! across daylight-saving changes, refunds, EUR and CHF, a decimal-comma
//! variant, orders exported twice.

use customer_lifecycle::chrono::NaiveDate;
use customer_lifecycle::chrono_tz::Europe::Berlin;
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{
    CsvOptions, Currency, FixedRates, IdKind, NumberFormat, SummaryOptions, TimeUnit, TransactionKind, TransactionLog,
};

use crate::lifecycle_report::run_cli;
use crate::shop_generator::{ExportStyle, ShopConfig, ShopExport, calibration_end, generate, to_csv};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn config(seed: u64) -> ShopConfig {
    ShopConfig { seed, customers: 2_500, ..ShopConfig::default() }
}

/// The README's report command on the generator's export at `file`, in
/// weeks with a holdout from `cal` to `obs` (shared by the tests that run
/// it; the caller adds the file style's and the outputs' options).
pub(crate) fn report_args<'a>(file: &'a str, cal: &'a str, obs: &'a str) -> Vec<&'a str> {
    vec![
        "--transactions",
        file,
        "--unit",
        "week",
        "--calibration-end",
        cal,
        "--observation-end",
        obs,
        "--currency",
        "EUR",
        "--rate",
        "CHF=1.05",
        "--normalize-ids",
        "email",
        "--column",
        "customer_id=email",
        "--column",
        "date=created_at",
        "--column",
        "amount=total",
        "--time-zone",
        "Europe/Berlin",
    ]
}

/// The loader options for the generator's export in `style` (shared by
/// the tests that load it).
pub(crate) fn options(style: ExportStyle) -> CsvOptions {
    let o = CsvOptions::new(Currency::EUR)
        .customer_column("email")
        .date_column("created_at")
        .amount_column("total")
        .id_kind(IdKind::Email)
        .time_zone(Berlin);
    match style {
        ExportStyle::Iso => o,
        ExportStyle::DecimalComma => o.delimiter(b';').number_format(NumberFormat::decimal_comma()),
    }
}

fn load(export: &ShopExport, style: ExportStyle) -> customer_lifecycle::Result<TransactionLog> {
    let rates = FixedRates::new().with_rate(Currency::CHF, Currency::EUR, Decimal::new(105, 2))?;
    TransactionLog::from_csv_reader_with_rates(to_csv(export, style).as_bytes(), &options(style), &rates)
}

#[test]
fn the_loader_reads_what_the_generator_wrote() -> TestResult {
    for seed in [1, 2] {
        let export = generate(&config(seed));
        let iso = load(&export, ExportStyle::Iso)?;
        let comma = load(&export, ExportStyle::DecimalComma)?;
        // Orders exported twice count once; case and blank variants of an
        // address are one customer.
        assert_eq!(iso.len(), export.orders + export.refunds, "seed {seed}");
        assert_eq!(iso.customers().len(), export.customers.len(), "seed {seed}");
        assert_eq!(iso.iter().filter(|t| t.kind() == TransactionKind::Return).count(), export.refunds);
        // Both files say the same (local times in the fold hour aside, which
        // the ISO file places exactly and the local one at the earlier
        // instant: the same local day either way).
        let days = SummaryOptions::new(TimeUnit::Day).time_zone(Berlin).observation_end(config(seed).last_day);
        assert_eq!(iso.summarize(&days)?, comma.summarize(&days)?, "seed {seed}");
        assert!(export.acquired_on_last_day > 0, "seed {seed}: some customers joined on the last day");
        let summary = iso.summarize(&days)?;
        let newcomers = summary.age().iter().filter(|&&t| t == 0.0).count();
        assert!(newcomers >= export.acquired_on_last_day, "seed {seed}");
    }
    Ok(())
}

/// The README's "on your own data" command on a generated export: exits
/// well, and every calibration customer gets finite predictions.
#[test]
fn the_report_runs_on_a_shop_export_end_to_end() -> TestResult {
    let dir = std::env::temp_dir().join(format!("customer_lifecycle_shop_e2e_{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cfg = config(7);
    let export = generate(&cfg);
    let file = dir.join("shop_orders_de.csv");
    std::fs::write(&file, to_csv(&export, ExportStyle::DecimalComma))?;
    let (predictions, summary) = (dir.join("predictions.csv"), dir.join("summary.csv"));
    let (cal, obs) = (calibration_end(&cfg).to_string(), cfg.last_day.to_string());
    let path = |p: &std::path::Path| p.display().to_string();
    let (file_s, pred_s, sum_s) = (path(&file), path(&predictions), path(&summary));
    let mut args = report_args(&file_s, &cal, &obs);
    args.extend(["--decimal-comma", "--delimiter", ";", "--summary-csv", &sum_s, "--predictions-csv", &pred_s]);
    run_cli(&args)?;
    let text = std::fs::read_to_string(&predictions)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("a header")?.split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).ok_or(format!("column {name}"));
    let numeric = [
        "frequency",
        "recency",
        "T",
        "p_alive",
        "expected_purchases",
        "expected_spend",
        "clv",
        "churn_risk",
        "historic_clv",
        "predicted_clv",
        "predicted_clv_low",
        "predicted_clv_high",
        "p_any_order",
    ];
    let columns: Vec<usize> = numeric.iter().map(|n| col(n)).collect::<Result<_, _>>()?;
    let (t_col, x_col, gap_col, next_col) =
        (col("T")?, col("frequency")?, col("avg_days_between_orders")?, col("next_order_date")?);
    let (clv_col, predicted_col) = (col("clv")?, col("predicted_clv")?);
    let (mut rows, mut at_calibration_end, mut dated) = (0, 0, 0);
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        for &c in &columns {
            let v: f64 = fields.get(c).ok_or("a field")?.parse()?;
            assert!(v.is_finite(), "{line}");
        }
        if fields[t_col] == "0" {
            at_calibration_end += 1;
        }
        // The profile: the same CLV as the model columns; a gap exactly for
        // repeat buyers; a next-order date after the calibration end or none.
        assert_eq!(fields[clv_col], fields[predicted_col], "{line}");
        assert_eq!(fields[gap_col].is_empty(), fields[x_col] == "0", "{line}");
        if !fields[next_col].is_empty() {
            let next = NaiveDate::parse_from_str(fields[next_col], "%Y-%m-%d")?;
            assert!(next > calibration_end(&cfg), "{line}");
            dated += 1;
        }
        rows += 1;
    }
    assert!(dated > 0, "some customers have an expected next-order date");
    // One row per calibration customer: first order up to the calibration
    // end, local Berlin days.
    let log = load(&export, ExportStyle::DecimalComma)?;
    let options = SummaryOptions::new(TimeUnit::Week)
        .time_zone(Berlin)
        .calibration_end(calibration_end(&cfg))
        .observation_end(cfg.last_day);
    assert_eq!(rows, log.summarize(&options)?.len());
    assert!(at_calibration_end > 0, "customers acquired on the calibration end are predicted, not refused");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// RFM's default scores depend on the values, not on the alphabetical order
/// of e-mail addresses: every customer with the same number of orders gets
/// the same F, and so on.
#[test]
fn equal_values_get_equal_rfm_scores_on_shop_data() -> TestResult {
    use customer_lifecycle::metrics::{RfmOptions, RfmScores};
    use std::collections::BTreeMap;
    let cfg = config(3);
    let log = load(&generate(&cfg), ExportStyle::Iso)?;
    let summary = log.summarize(&SummaryOptions::new(TimeUnit::Day).time_zone(Berlin).observation_end(cfg.last_day))?;
    let rfm = RfmScores::compute(&summary, &RfmOptions::new())?;
    let mut f_of_orders: BTreeMap<u32, u8> = BTreeMap::new();
    let mut r_of_recency: BTreeMap<u64, u8> = BTreeMap::new();
    for (k, row) in summary.rows().enumerate() {
        let (r, f, _) = rfm.scores(k);
        assert_eq!(*f_of_orders.entry(row.orders).or_insert(f), f, "orders {}", row.orders);
        let since = row.time_since_last_purchase().to_bits();
        assert_eq!(*r_of_recency.entry(since).or_insert(r), r);
    }
    assert!(f_of_orders.len() > 3, "the data have varied order counts");
    Ok(())
}

/// Every chart draws on shop data (customers of age 0 included) and says
/// what it shows; the tracking charts refuse calendar months.
#[cfg(feature = "plots")]
#[test]
fn every_chart_draws_on_shop_data() -> TestResult {
    use customer_lifecycle::clv::{BetaGeo, PurchaseModel};
    use customer_lifecycle::{CohortAnalysis, CohortOptions, LifetimeSurvival, plots};
    let cfg = config(5);
    let log = load(&generate(&cfg), ExportStyle::Iso)?;
    let options = SummaryOptions::new(TimeUnit::Week)
        .time_zone(Berlin)
        .calibration_end(calibration_end(&cfg))
        .observation_end(cfg.last_day);
    let summary = log.summarize(&options)?;
    let model = BetaGeo::fit(&summary)?;
    let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month).time_zone(Berlin))?;
    let curve = LifetimeSurvival::kaplan_meier(&summary, 26.0)?;
    let charts = [
        ("P(alive) by frequency", plots::probability_alive_matrix(&model, &summary)?),
        ("Expected purchases", plots::frequency_recency_matrix(&model, &summary)?),
        ("Customers by repeat purchases", plots::period_transactions(&model, &summary)?),
        ("holdout", plots::calibration_vs_holdout(&summary, &[&model as &dyn PurchaseModel])?),
        ("Cumulative", plots::cumulative_tracking(&log, &summary, &model)?),
        ("per", plots::incremental_tracking(&log, &summary, &model)?),
        ("P(alive) of one customer", plots::probability_alive_history(&model, &[2.0, 5.0], 30.0, TimeUnit::Week)?),
        ("Retention by month cohort", plots::cohort_heat_map(&cohorts)?),
        ("Retention curves", plots::retention_curves(&cohorts)?),
        ("Kaplan", plots::lifetime_curve(&curve, TimeUnit::Week)?),
    ];
    for (title, svg) in &charts {
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{title}");
        assert!(svg.contains(title), "{title}");
    }
    let months =
        log.summarize(&SummaryOptions::new(TimeUnit::Month).calendar_periods().observation_end(cfg.last_day))?;
    assert!(plots::cumulative_tracking(&log, &months, &BetaGeo::fit(&months)?).is_err());
    Ok(())
}
