//! The charts of the [`plots`](super) module.

use std::collections::{BTreeMap, HashMap};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::clv::PurchaseModel;
use crate::domain::customer::CustomerId;
use crate::error::{Error, Result};
use crate::log::summary::PurchaseSummary;
use crate::log::transactions::{TransactionKind, TransactionLog};
use crate::metrics::cohort::{CohortAnalysis, RetentionMode};
use crate::metrics::survival::LifetimeSurvival;

/// A line: (x, y) points.
type Curve = Vec<(f64, f64)>;

/// A chart's size in pixels.
const WIDE: (u32, u32) = (860, 540);

/// Width of the colour bar's area, to the right of a heat map.
const BAR: u32 = 110;

/// Turns a plotting error into the crate's error, naming the chart.
fn failed<E: std::fmt::Debug>(chart: &'static str) -> impl Fn(E) -> Error {
    move |e| Error::Plot { chart, reason: format!("{e:?}") }
}

/// An SVG document of `size` on white, drawn by `draw`: the frame every
/// chart shares.
fn svg_chart(
    size: (u32, u32),
    chart_name: &'static str,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
) -> Result<String> {
    let err = failed(chart_name);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        draw(&root)?;
        root.present().map_err(&err)?;
    }
    Ok(svg)
}

/// The sequential colour scale of every heat map: light yellow (0) to dark
/// blue (1).
fn shade(v: f64) -> RGBColor {
    let v = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
    let mix = |a: f64, b: f64| (a + (b - a) * v).round() as u8;
    RGBColor(mix(255.0, 8.0), mix(247.0, 48.0), mix(188.0, 107.0))
}

/// Draws a vertical colour bar for values `low..=high` in `area`, labelled.
fn colour_bar(area: &DrawingArea<SVGBackend<'_>, Shift>, low: f64, high: f64, label: &str) -> Result<()> {
    let err = failed("colour bar");
    let high = if high > low { high } else { low + 1.0 };
    let mut bar = ChartBuilder::on(area)
        .margin_top(40)
        .margin_bottom(52)
        .margin_right(8)
        .y_label_area_size(58)
        .build_cartesian_2d(0.0..1.0, low..high)
        .map_err(&err)?;
    bar.configure_mesh()
        .disable_x_mesh()
        .disable_y_mesh()
        .x_labels(0)
        .y_labels(8)
        .y_desc(label)
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 13))
        .y_label_formatter(&|v| round_label(*v))
        .draw()
        .map_err(&err)?;
    let steps = 64;
    bar.draw_series((0..steps).map(|k| {
        let (a, b) = (k as f64 / steps as f64, (k + 1) as f64 / steps as f64);
        let (y0, y1) = (low + (high - low) * a, low + (high - low) * b);
        Rectangle::new([(0.0, y0), (1.0, y1)], shade((a + b) / 2.0).filled())
    }))
    .map_err(&err)?;
    Ok(())
}

/// A tick label with meaningful digits: `0.25`, `12`, `1.2k`.
fn round_label(v: f64) -> String {
    let a = v.abs();
    if a >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if a >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The longest age in a summary, the 99th percentile of its frequencies
/// (at least 1), and its unit's name.
fn matrix_extent(summary: &PurchaseSummary) -> Result<(f64, usize, String)> {
    if summary.is_empty() {
        return Err(Error::Empty { what: "customers to plot" });
    }
    let age = summary.age().iter().copied().fold(0.0, f64::max).max(1.0);
    let mut xs: Vec<f64> = summary.frequency().to_vec();
    xs.sort_by(f64::total_cmp);
    let top = xs[(xs.len() * 99 / 100).min(xs.len() - 1)].max(1.0).ceil() as usize;
    Ok((age, top, summary.periods().unit().name()))
}

/// A heat map over frequency (rows) and recency (columns) of a customer of
/// age `age`, with a colour bar.
fn frequency_recency_chart(
    chart_name: &'static str,
    title: &str,
    bar_label: &str,
    summary: &PurchaseSummary,
    value: &dyn Fn(f64, f64, f64) -> Result<f64>,
) -> Result<String> {
    let err = failed(chart_name);
    let (age, max_x, unit) = matrix_extent(summary)?;
    let cells = 40usize;
    let mut grid = Vec::with_capacity((max_x + 1) * cells);
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    for xi in 0..=max_x {
        let x = xi as f64;
        for c in 0..cells {
            // A customer without a repeat purchase has recency 0 whatever the column.
            let t_x = if xi == 0 { 0.0 } else { age * (c as f64 + 0.5) / cells as f64 };
            let v = value(x, t_x, age)?;
            low = low.min(v);
            high = high.max(v);
            grid.push((xi, c, v));
        }
    }
    let span = (high - low).max(1e-12);
    svg_chart(WIDE, chart_name, |root| {
        let (left, right) = root.split_horizontally(WIDE.0 - BAR);
        let mut chart = ChartBuilder::on(&left)
            .caption(title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..age, -0.5..max_x as f64 + 0.5)
            .map_err(&err)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|v| round_label(*v))
            .disable_mesh()
            .x_desc(format!("recency: time of the last purchase ({unit}s after the first)"))
            .y_desc("frequency (repeat purchases)")
            .y_labels((max_x + 1).min(13))
            .y_label_formatter(&|y| {
                if (y - y.round()).abs() < 1e-9 { format!("{:.0}", y.round()) } else { String::new() }
            })
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13))
            .draw()
            .map_err(&err)?;
        chart
            .draw_series(grid.iter().map(|&(xi, c, v)| {
                let (x0, x1) = if xi == 0 {
                    (0.0, age)
                } else {
                    (age * c as f64 / cells as f64, age * (c + 1) as f64 / cells as f64)
                };
                Rectangle::new([(x0, xi as f64 - 0.5), (x1, xi as f64 + 0.5)], shade((v - low) / span).filled())
            }))
            .map_err(&err)?;
        colour_bar(&right, low, high, bar_label)?;
        Ok(())
    })
}

/// Expected purchases in the next period by frequency and recency, for a
/// customer of the summary's longest age (lifetimes'
/// `plot_frequency_recency_matrix`): read the colour of a row (repeat
/// purchases) and column (when the last one was); the best customers are
/// top right.
///
/// ```
/// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog, plots};
/// # use customer_lifecycle::clv::BetaGeo;
/// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
/// let svg = plots::frequency_recency_matrix(&BetaGeo::fit(&summary)?, &summary)?;
/// assert!(svg.contains("Expected purchases in the next week"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Empty`] for an empty summary; as the model's predictions;
/// [`Error::Plot`].
pub fn frequency_recency_matrix(model: &dyn PurchaseModel, summary: &PurchaseSummary) -> Result<String> {
    let (age, _, unit) = matrix_extent(summary)?;
    let title =
        format!("Expected purchases in the next {unit} ({}, age {age:.0} {unit}s): dark = buys most", model.name());
    frequency_recency_chart(
        "frequency/recency matrix",
        &title,
        &format!("purchases per {unit}"),
        summary,
        &|x, t_x, t| model.conditional_expected_purchases(1.0, x, t_x, t),
    )
}

/// P(alive) by frequency and recency, for a customer of the summary's
/// longest age (lifetimes' `plot_probability_alive_matrix`): dark is
/// likely still a customer, light likely gone.
///
/// ```
/// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog, plots};
/// # use customer_lifecycle::clv::BetaGeo;
/// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
/// let svg = plots::probability_alive_matrix(&BetaGeo::fit(&summary)?, &summary)?;
/// assert!(svg.contains("P(alive)"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`frequency_recency_matrix`].
pub fn probability_alive_matrix(model: &dyn PurchaseModel, summary: &PurchaseSummary) -> Result<String> {
    let (age, _, unit) = matrix_extent(summary)?;
    let title = format!(
        "P(alive) by frequency and recency ({}, age {age:.0} {unit}s): dark = likely still a customer",
        model.name()
    );
    frequency_recency_chart("P(alive) matrix", &title, "P(alive)", summary, &|x, t_x, t| {
        model.probability_alive(x, t_x, t)
    })
}

/// A legend in the upper left, framed.
fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    chart_name: &'static str,
) -> Result<()> {
    legend_at(chart, chart_name, SeriesLabelPosition::UpperLeft)
}

/// A framed legend at `position`.
fn legend_at<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    chart_name: &'static str,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(failed(chart_name))
}

/// Customers by number of repeat purchases in the summary's window (0 to
/// 6, then 7 or more): actual counts beside the model's expected counts,
/// Σᵢ P(X(Tᵢ) = n) over the customers' ages (lifetimes'
/// `plot_period_transactions`, computed exactly instead of simulated).
/// Bars that differ show where the model misfits.
///
/// ```
/// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog, plots};
/// # use customer_lifecycle::clv::BetaGeo;
/// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
/// let svg = plots::period_transactions(&BetaGeo::fit(&summary)?, &summary)?;
/// assert!(svg.contains("actual") && svg.contains("BG/NBD"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Empty`]; as the model's `probability_of_purchases`;
/// [`Error::Plot`].
pub fn period_transactions(model: &dyn PurchaseModel, summary: &PurchaseSummary) -> Result<String> {
    const CAP: usize = 7;
    let chart_name = "period transactions";
    let err = failed(chart_name);
    if summary.is_empty() {
        return Err(Error::Empty { what: "customers to plot" });
    }
    let mut actual = [0.0f64; CAP + 1];
    for &x in summary.frequency() {
        actual[(x as usize).min(CAP)] += 1.0;
    }
    // Customers of one age share their probabilities.
    let mut ages: HashMap<u64, (f64, f64)> = HashMap::new();
    for &t in summary.age() {
        ages.entry(t.to_bits()).or_insert((t, 0.0)).1 += 1.0;
    }
    let mut expected = [0.0f64; CAP + 1];
    for &(t, count) in ages.values() {
        let mut below = 0.0;
        for (n, slot) in expected.iter_mut().enumerate().take(CAP) {
            let p = model.probability_of_purchases(t, n as u32)?;
            *slot += count * p;
            below += p;
        }
        expected[CAP] += count * (1.0 - below).max(0.0);
    }
    let top = actual.iter().chain(&expected).copied().fold(0.0, f64::max) * 1.1;
    let unit = summary.periods().unit().name();
    svg_chart(WIDE, chart_name, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Customers by repeat purchases: actual vs {} (ages up to the window's end)", model.name()),
                ("sans-serif", 17),
            )
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5..CAP as f64 + 0.5, 0.0..top.max(1.0))
            .map_err(&err)?;
        chart
            .configure_mesh()
            .y_label_formatter(&|v| round_label(*v))
            .disable_x_mesh()
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13))
            .x_desc(format!("repeat purchases in the window ({} {unit}s at most; {CAP} = {CAP} or more)", {
                summary.age().iter().copied().fold(0.0, f64::max).round()
            }))
            .y_desc("customers")
            .x_labels(CAP + 1)
            .x_label_formatter(&|x| {
                if (x - x.round()).abs() > 1e-9 || x.round() < 0.0 {
                    String::new()
                } else if x.round() as usize == CAP {
                    format!("{CAP}+")
                } else {
                    format!("{:.0}", x.round())
                }
            })
            .draw()
            .map_err(&err)?;
        let series: [(&str, &[f64; CAP + 1], RGBColor, f64); 2] =
            [("actual", &actual, RGBColor(60, 60, 60), -0.4), (model.name(), &expected, RGBColor(33, 102, 172), 0.0)];
        for (name, values, color, offset) in series {
            chart
                .draw_series(values.iter().enumerate().map(|(n, &v)| {
                    let x0 = n as f64 + offset;
                    Rectangle::new([(x0, 0.0), (x0 + 0.4, v)], color.filled())
                }))
                .map_err(&err)?
                .label(name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
        }
        legend_at(&mut chart, chart_name, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

/// Mean holdout purchases by calibration frequency (0 to 6, then 7 or
/// more), actual and per model (lifetimes'
/// `plot_calibration_purchases_vs_holdout_purchases`): the closer a model's
/// line to the actual one, the better it predicts.
///
/// ```
/// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog, plots};
/// # use customer_lifecycle::chrono::NaiveDate;
/// # use customer_lifecycle::clv::{BetaGeo, PurchaseModel};
/// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
/// let summary = TransactionLog::cdnow_sample()?
///     .summarize(&SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)))?;
/// let model = BetaGeo::fit(&summary)?;
/// let svg = plots::calibration_vs_holdout(&summary, &[&model as &dyn PurchaseModel])?;
/// assert!(svg.contains("holdout"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] for a summary without a holdout period; as
/// the models' predictions; [`Error::Plot`].
pub fn calibration_vs_holdout(summary: &PurchaseSummary, models: &[&dyn PurchaseModel]) -> Result<String> {
    const CAP: usize = 7;
    let chart_name = "calibration vs holdout";
    let err = failed(chart_name);
    let (Some(duration), Some(actual)) = (summary.duration_holdout(), summary.frequency_holdout()) else {
        return Err(Error::InvalidArgument {
            name: "summary",
            reason: "calibration vs holdout needs a summary with a calibration end".into(),
        });
    };
    let (x, t_x, age) = (summary.frequency(), summary.recency(), summary.age());
    let group = |i: usize| (x[i] as usize).min(CAP);
    let means = |v: &dyn Fn(usize) -> f64| -> Vec<(f64, f64)> {
        (0..=CAP)
            .filter_map(|g| {
                let members: Vec<usize> = (0..x.len()).filter(|&i| group(i) == g).collect();
                (!members.is_empty())
                    .then(|| (g as f64, members.iter().map(|&i| v(i)).sum::<f64>() / members.len() as f64))
            })
            .collect()
    };
    let mut series = vec![("actual".to_string(), means(&|i| actual[i]))];
    for m in models {
        let p: Vec<f64> = (0..x.len())
            .map(|i| m.conditional_expected_purchases(duration, x[i], t_x[i], age[i]))
            .collect::<Result<_>>()?;
        series.push((m.name().to_string(), means(&|i| p[i])));
    }
    let top = series.iter().flat_map(|(_, v)| v.iter().map(|p| p.1)).fold(0.0, f64::max) * 1.1;
    let unit = summary.periods().unit().name();
    svg_chart(WIDE, chart_name, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Mean purchases in the {duration:.0}-{unit} holdout, by purchases in the calibration period"),
                ("sans-serif", 17),
            )
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..CAP as f64, 0.0..top.max(0.1))
            .map_err(&err)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13))
            .x_label_formatter(&|v| round_label(*v))
            .y_label_formatter(&|v| round_label(*v))
            .x_desc(format!("repeat purchases in the calibration period ({CAP} = {CAP} or more)"))
            .y_desc(format!("mean purchases in the holdout ({duration:.0} {unit}s)"))
            .draw()
            .map_err(&err)?;
        for (k, (name, points)) in series.into_iter().enumerate() {
            let color = if k == 0 { BLACK.to_rgba() } else { Palette99::pick(k - 1).to_rgba() };
            let width = if k == 0 { 3 } else { 2 };
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(width)))
                .map_err(&err)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(width)));
        }
        legend(&mut chart, chart_name)?;
        Ok(())
    })
}

/// Cumulative and per-step repeat purchases over time, actual (from the
/// log) and predicted (each customer's expected purchases since their first
/// purchase), at `steps` points from the first purchase to the window's end.
fn tracking_curves(
    log: &TransactionLog,
    summary: &PurchaseSummary,
    model: &dyn PurchaseModel,
    steps: usize,
) -> Result<(Curve, Curve)> {
    let Some(unit_days) = summary.periods().unit().days() else {
        return Err(Error::InvalidArgument {
            name: "summary",
            reason: "tracking charts need a unit of fixed length (days or weeks), not calendar months".into(),
        });
    };
    if summary.is_empty() {
        return Err(Error::Empty { what: "customers to plot" });
    }
    let unit_days = f64::from(unit_days);
    let end = summary.calibration_end().unwrap_or(summary.observation_end());
    let periods = summary.periods();
    // Each summarised customer's distinct purchase days, relative to `end`.
    let mut days: BTreeMap<&CustomerId, Vec<i64>> = summary.ids().iter().map(|id| (id, Vec::new())).collect();
    for t in log.iter() {
        if t.kind() != TransactionKind::Order {
            continue;
        }
        let date = periods.date_of(t.at());
        if date > summary.observation_end() {
            continue;
        }
        if let Some(list) = days.get_mut(t.customer()) {
            list.push((date - end).num_days());
        }
    }
    let mut repeats: Vec<f64> = Vec::new();
    for list in days.values_mut() {
        list.sort_unstable();
        list.dedup();
        repeats.extend(list.iter().skip(1).map(|&d| d as f64 / unit_days));
    }
    repeats.sort_by(f64::total_cmp);
    let start = -summary.age().iter().copied().fold(0.0, f64::max);
    let stop = summary.duration_holdout().unwrap_or(0.0).max(start + 1.0);
    // Customers of one age share their expectation.
    let mut ages: HashMap<u64, (f64, f64)> = HashMap::new();
    for &a in summary.age() {
        ages.entry(a.to_bits()).or_insert((a, 0.0)).1 += 1.0;
    }
    let mut actual = Vec::with_capacity(steps + 1);
    let mut predicted = Vec::with_capacity(steps + 1);
    for k in 0..=steps {
        let tau = start + (stop - start) * k as f64 / steps as f64;
        actual.push((tau, repeats.partition_point(|&r| r <= tau) as f64));
        let mut sum = 0.0;
        for &(a, count) in ages.values() {
            if tau + a > 0.0 {
                sum += count * model.expected_purchases_new_customer(tau + a)?;
            }
        }
        predicted.push((tau, sum));
    }
    Ok((actual, predicted))
}

/// Draws actual and predicted lines with the calibration end marked.
fn tracking_chart(
    chart_name: &'static str,
    title: &str,
    y_desc: &str,
    summary: &PurchaseSummary,
    model_name: &str,
    actual: Vec<(f64, f64)>,
    predicted: Vec<(f64, f64)>,
) -> Result<String> {
    let err = failed(chart_name);
    let (start, stop) = (actual.first().map_or(0.0, |p| p.0), actual.last().map_or(1.0, |p| p.0));
    let top = actual.iter().chain(&predicted).map(|p| p.1).fold(0.0, f64::max) * 1.08;
    let unit = summary.periods().unit().name();
    svg_chart(WIDE, chart_name, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(start..stop.max(start + 1.0), 0.0..top.max(1.0))
            .map_err(&err)?;
        let end = if summary.calibration_end().is_some() { "calibration end" } else { "observation end" };
        chart
            .configure_mesh()
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13))
            .x_label_formatter(&|v| round_label(*v))
            .x_desc(format!("{unit}s relative to the {end} (0, red line)"))
            .y_desc(y_desc)
            .y_label_formatter(&|v| round_label(*v))
            .draw()
            .map_err(&err)?;
        chart
            .draw_series(LineSeries::new(actual, BLACK.stroke_width(2)))
            .map_err(&err)?
            .label("actual")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2)));
        let blue = RGBColor(33, 102, 172);
        chart
            .draw_series(LineSeries::new(predicted, blue.stroke_width(2)))
            .map_err(&err)?
            .label(model_name.to_string())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], blue.stroke_width(2)));
        if summary.calibration_end().is_some() {
            chart.draw_series(LineSeries::new(vec![(0.0, 0.0), (0.0, top)], RED.mix(0.6))).map_err(&err)?;
        }
        legend(&mut chart, chart_name)?;
        Ok(())
    })
}

/// Cumulative repeat purchases of the summary's customers over time,
/// actual against the model (lifetimes'
/// `plot_cumulative_transactions`): the lines should run together before
/// the calibration end (the fit) and after it (the forecast).
///
/// ```
/// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog, plots};
/// # use customer_lifecycle::chrono::NaiveDate;
/// # use customer_lifecycle::clv::BetaGeo;
/// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
/// let log = TransactionLog::cdnow_sample()?;
/// let summary = log.summarize(&SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)))?;
/// let svg = plots::cumulative_tracking(&log, &summary, &BetaGeo::fit(&summary)?)?;
/// assert!(svg.contains("Cumulative"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] for calendar months (no fixed length);
/// [`Error::Empty`]; as the model's predictions; [`Error::Plot`].
pub fn cumulative_tracking(
    log: &TransactionLog,
    summary: &PurchaseSummary,
    model: &dyn PurchaseModel,
) -> Result<String> {
    let (actual, predicted) = tracking_curves(log, summary, model, 160)?;
    tracking_chart(
        "cumulative tracking",
        &format!("Cumulative repeat purchases, actual vs {}", model.name()),
        "repeat purchases so far",
        summary,
        model.name(),
        actual,
        predicted,
    )
}

/// Repeat purchases per step of time (80 steps from the first purchase
/// to the window's end), actual against the model (lifetimes'
/// `plot_incremental_transactions`): seasonality and trend the model does
/// not know show as gaps between the lines.
///
/// ```
/// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog, plots};
/// # use customer_lifecycle::chrono::NaiveDate;
/// # use customer_lifecycle::clv::BetaGeo;
/// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
/// let log = TransactionLog::cdnow_sample()?;
/// let summary = log.summarize(&SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)))?;
/// let svg = plots::incremental_tracking(&log, &summary, &BetaGeo::fit(&summary)?)?;
/// assert!(svg.contains("per"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`cumulative_tracking`].
pub fn incremental_tracking(
    log: &TransactionLog,
    summary: &PurchaseSummary,
    model: &dyn PurchaseModel,
) -> Result<String> {
    let steps = 80;
    let (actual, predicted) = tracking_curves(log, summary, model, steps)?;
    let width = actual.get(1).map_or(1.0, |p| p.0) - actual.first().map_or(0.0, |p| p.0);
    let increments =
        |curve: &[(f64, f64)]| -> Vec<(f64, f64)> { curve.windows(2).map(|w| (w[1].0, w[1].1 - w[0].1)).collect() };
    let unit = summary.periods().unit().name();
    tracking_chart(
        "incremental tracking",
        &format!("Repeat purchases per {width:.1} {unit}s, actual vs {}", model.name()),
        &format!("repeat purchases per {width:.1} {unit}s"),
        summary,
        model.name(),
        increments(&actual),
        increments(&predicted),
    )
}

/// One customer's P(alive) over time, from their first purchase to `until`
/// (lifetimes' `plot_history_alive`): `purchases` are the times of their
/// repeat purchases in the model's unit after the first (which is at 0).
/// P(alive) jumps back up at each purchase (marked) and decays between.
///
/// ```
/// use customer_lifecycle::{TimeUnit, plots};
/// use customer_lifecycle::clv::BetaGeo;
/// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
/// let svg = plots::probability_alive_history(&model, &[3.0, 9.5, 12.0], 40.0, TimeUnit::Week)?;
/// assert!(svg.contains("P(alive)"));
/// assert!(plots::probability_alive_history(&model, &[50.0], 40.0, TimeUnit::Week).is_err()); // after `until`
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] for purchase times that are not finite, are
/// negative or after `until`, or an `until` that is not positive; as the
/// model's P(alive); [`Error::Plot`].
pub fn probability_alive_history(
    model: &dyn PurchaseModel,
    purchases: &[f64],
    until: f64,
    unit: crate::domain::time::TimeUnit,
) -> Result<String> {
    let chart_name = "P(alive) history";
    let err = failed(chart_name);
    if !(until.is_finite() && until > 0.0) {
        return Err(Error::InvalidArgument { name: "until", reason: format!("{until} must be finite and positive") });
    }
    let mut times = purchases.to_vec();
    if let Some(bad) = times.iter().find(|t| !(t.is_finite() && **t > 0.0 && **t <= until)) {
        return Err(Error::InvalidArgument {
            name: "purchase times",
            reason: format!("{bad} is not within (0, {until}] after the first purchase"),
        });
    }
    times.sort_by(f64::total_cmp);
    let steps = 400;
    let mut line = Vec::with_capacity(steps + 1);
    for k in 0..=steps {
        let t = until * k as f64 / steps as f64;
        let seen = times.partition_point(|&p| p <= t);
        let t_x = if seen == 0 { 0.0 } else { times[seen - 1] };
        line.push((t, model.probability_alive(seen as f64, t_x, t)?));
    }
    let unit = unit.name();
    svg_chart(WIDE, chart_name, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("P(alive) of one customer over time ({}; purchases marked)", model.name()),
                ("sans-serif", 17),
            )
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..until, 0.0..1.05)
            .map_err(&err)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13))
            .x_label_formatter(&|v| round_label(*v))
            .y_label_formatter(&|v| round_label(*v))
            .x_desc(format!("{unit}s since the first purchase"))
            .y_desc("P(alive)")
            .draw()
            .map_err(&err)?;
        let blue = RGBColor(33, 102, 172);
        chart
            .draw_series(LineSeries::new(line, blue.stroke_width(2)))
            .map_err(&err)?
            .label("P(alive)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], blue.stroke_width(2)));
        chart
            .draw_series(
                std::iter::once(0.0)
                    .chain(times.iter().copied())
                    .map(|t| PathElement::new(vec![(t, 0.0), (t, 1.05)], RED.mix(0.5))),
            )
            .map_err(&err)?
            .label("purchase")
            .legend(|(x, y)| PathElement::new(vec![(x + 9, y - 6), (x + 9, y + 6)], RED.mix(0.5)));
        legend(&mut chart, chart_name)?;
        Ok(())
    })
}

/// The cohort retention heat map: each acquisition cohort (rows, newest at
/// the bottom) by periods since acquisition (columns), the share of the
/// cohort buying in that period, with a colour bar. Period 0 is 100 % by
/// definition and is drawn apart, so the colours span the later periods;
/// periods not yet complete are grey.
///
/// ```
/// use customer_lifecycle::{CohortAnalysis, CohortOptions, TimeUnit, TransactionLog, plots};
/// let cohorts = CohortAnalysis::compute(&TransactionLog::cdnow_sample()?, &CohortOptions::new(TimeUnit::Month))?;
/// let svg = plots::cohort_heat_map(&cohorts)?;
/// assert!(svg.contains("Retention by month cohort"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Empty`] without cohorts; [`Error::Plot`].
pub fn cohort_heat_map(cohorts: &CohortAnalysis) -> Result<String> {
    let chart_name = "cohort heat map";
    let err = failed(chart_name);
    let retention = cohorts.retention(RetentionMode::OnPeriod);
    let rows = cohorts.cohorts().len();
    let columns = cohorts.columns();
    if rows == 0 || columns == 0 {
        return Err(Error::Empty { what: "cohorts to plot" });
    }
    // The colours span the later periods up to their 98th percentile, so
    // that one small cohort's outlier does not wash out the rest (cells
    // above take the darkest colour).
    let mut later: Vec<f64> = (0..rows)
        .flat_map(|r| (1..columns).map(move |n| (r, n)))
        .filter_map(|(r, n)| cohorts.get(&retention, r, n))
        .collect();
    later.sort_by(f64::total_cmp);
    let top = later.get((later.len() * 98 / 100).min(later.len().saturating_sub(1))).copied().unwrap_or(0.0).max(1e-9);
    let unit = cohorts.periods().unit().name();
    let height = (140 + 24 * rows as u32).clamp(360, 1400);
    svg_chart((980, height), chart_name, |root| {
        let (left, right) = root.split_horizontally(980 - BAR);
        let mut chart = ChartBuilder::on(&left)
            .caption(
                format!(
                    "Retention by {unit} cohort: % of each cohort buying in its Nth {unit} ({unit} 0 = 100 %, grey: not \
                     complete)"
                ),
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(84)
            .build_cartesian_2d(-0.5..columns as f64 - 0.5, -0.5..rows as f64 - 0.5)
            .map_err(&err)?;
        let labels: Vec<String> = (0..rows).map(|r| cohorts.label(r).unwrap_or_default()).collect();
        let step = rows.div_ceil(40).max(1);
        let whole = |v: f64| (v - v.round()).abs() < 1e-9;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13))
            .disable_mesh()
            .x_desc(format!("{unit}s since acquisition"))
            .y_desc(format!("cohort (first purchase in the {unit})"))
            .x_labels(columns.min(25))
            .x_label_formatter(&|x| if whole(*x) { format!("{:.0}", x.round()) } else { String::new() })
            .y_labels(0)
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13))
            .draw()
            .map_err(&err)?;
        // Cohort labels beside their rows (every `step`-th when there are many).
        for (r, label) in labels.iter().enumerate().filter(|(r, _)| r.is_multiple_of(step)) {
            let (px, py) = chart.backend_coord(&(-0.5, (rows - 1 - r) as f64));
            left.draw(&Text::new(label.clone(), (px - 60, py - 6), ("sans-serif", 12))).map_err(&err)?;
        }
        let neutral = RGBColor(150, 150, 150);
        chart
            .draw_series((0..rows).flat_map(|r| (0..columns).map(move |n| (r, n))).map(|(r, n)| {
                let (x, y) = (n as f64, (rows - 1 - r) as f64);
                let color = match cohorts.get(&retention, r, n) {
                    Some(_) if n == 0 => neutral,
                    Some(v) => shade(v / top),
                    None => RGBColor(228, 228, 228),
                };
                Rectangle::new([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)], color.filled())
            }))
            .map_err(&err)?;
        if columns <= 30 {
            chart
                .draw_series((0..rows).flat_map(|r| (0..columns).map(move |n| (r, n))).filter_map(|(r, n)| {
                    let v = cohorts.get(&retention, r, n)?;
                    let (x, y) = (n as f64, (rows - 1 - r) as f64);
                    let color = if n == 0 || v / top > 0.55 { WHITE } else { BLACK };
                    Some(Text::new(
                        format!("{:.0}", 100.0 * v),
                        (x - 0.3, y + 0.15),
                        ("sans-serif", 11).into_font().color(&color),
                    ))
                }))
                .map_err(&err)?;
        }
        colour_bar(&right, 0.0, 100.0 * top, &format!("% buying (from {unit} 1; darkest: this or more)"))?;
        Ok(())
    })
}

/// Retention curves: each cohort's share buying in its Nth period (thin
/// lines, light for the oldest) and the average over the cohorts complete
/// at each period (thick), so that better and worse cohorts stand out.
///
/// ```
/// use customer_lifecycle::{CohortAnalysis, CohortOptions, TimeUnit, TransactionLog, plots};
/// let cohorts = CohortAnalysis::compute(&TransactionLog::cdnow_sample()?, &CohortOptions::new(TimeUnit::Month))?;
/// let svg = plots::retention_curves(&cohorts)?;
/// assert!(svg.contains("average"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Empty`] without cohorts; [`Error::Plot`].
pub fn retention_curves(cohorts: &CohortAnalysis) -> Result<String> {
    let chart_name = "retention curves";
    let err = failed(chart_name);
    let retention = cohorts.retention(RetentionMode::OnPeriod);
    let rows = cohorts.cohorts().len();
    let columns = cohorts.columns();
    if rows == 0 || columns < 2 {
        return Err(Error::Empty { what: "cohorts with two periods to plot" });
    }
    let average = cohorts.average_retention(RetentionMode::OnPeriod);
    let curve = |r: usize| -> Vec<(f64, f64)> {
        (1..columns).filter_map(|n| cohorts.get(&retention, r, n).map(|v| (n as f64, 100.0 * v))).collect()
    };
    let top = (0..rows).flat_map(|r| curve(r).into_iter().map(|p| p.1)).fold(0.0, f64::max).max(1.0) * 1.1;
    let unit = cohorts.periods().unit().name();
    svg_chart(WIDE, chart_name, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(format!("Retention curves: % of each {unit} cohort buying in its Nth {unit}"), ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(1.0..(columns - 1).max(2) as f64, 0.0..top)
            .map_err(&err)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13))
            .x_label_formatter(&|v| round_label(*v))
            .y_label_formatter(&|v| round_label(*v))
            .x_desc(format!("{unit}s since acquisition"))
            .y_desc("% of the cohort buying")
            .draw()
            .map_err(&err)?;
        for r in 0..rows {
            let age = r as f64 / rows.max(2) as f64; // 0 oldest … 1 newest
            let color = shade(0.25 + 0.6 * age).mix(0.7);
            let drawn = chart.draw_series(LineSeries::new(curve(r), color.stroke_width(1))).map_err(&err)?;
            if r == 0 {
                drawn
                    .label("one cohort (darker: newer)")
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(1)));
            }
        }
        let points: Vec<(f64, f64)> =
            average.rate.iter().enumerate().skip(1).map(|(n, v)| (n as f64, 100.0 * v)).collect();
        chart
            .draw_series(LineSeries::new(points, BLACK.stroke_width(3)))
            .map_err(&err)?
            .label("average over complete cohorts")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(3)));
        legend_at(&mut chart, chart_name, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

/// The Kaplan–Meier curve of customer lifetime (first to last purchase,
/// a customer counted as lapsed after the curve's lapse without a
/// purchase), with a band of ±2 standard errors: read the share of
/// customers still buying after t.
///
/// ```
/// use customer_lifecycle::{LifetimeSurvival, SummaryOptions, TimeUnit, TransactionLog, plots};
/// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
/// let curve = LifetimeSurvival::kaplan_meier(&summary, 26.0)?;
/// let svg = plots::lifetime_curve(&curve, TimeUnit::Week)?;
/// assert!(svg.contains("Kaplan"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Plot`].
pub fn lifetime_curve(curve: &LifetimeSurvival, unit: crate::domain::time::TimeUnit) -> Result<String> {
    let chart_name = "lifetime curve";
    let err = failed(chart_name);
    let steps = curve.steps();
    let end = steps.last().map_or(1.0, |s| s.time).max(1.0);
    let mut line = vec![(0.0, 1.0)];
    let mut upper = vec![(0.0, 1.0)];
    let mut lower = vec![(0.0, 1.0)];
    let mut previous = (1.0, 0.0);
    for s in steps {
        line.push((s.time, previous.0));
        line.push((s.time, s.survival));
        upper.push((s.time, (previous.0 + 2.0 * previous.1).min(1.0)));
        upper.push((s.time, (s.survival + 2.0 * s.standard_error).min(1.0)));
        lower.push((s.time, (previous.0 - 2.0 * previous.1).max(0.0)));
        lower.push((s.time, (s.survival - 2.0 * s.standard_error).max(0.0)));
        previous = (s.survival, s.standard_error);
    }
    let unit = unit.name();
    svg_chart(WIDE, chart_name, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Customer lifetime (Kaplan–Meier): share of customers buying for longer than t",
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..end, 0.0..1.0)
            .map_err(&err)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13))
            .x_label_formatter(&|v| round_label(*v))
            .y_label_formatter(&|v| round_label(*v))
            .x_desc(format!(
                "t: first to last purchase ({unit}s); lapsed after {} {unit}s without one (one-time buyers: t = 0)",
                round_label(curve.lapse())
            ))
            .y_desc("share of customers, S(t)")
            .draw()
            .map_err(&err)?;
        let blue = RGBColor(33, 102, 172);
        chart
            .draw_series(LineSeries::new(upper, blue.mix(0.35)))
            .map_err(&err)?
            .label("±2 standard errors")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], blue.mix(0.35)));
        chart.draw_series(LineSeries::new(lower, blue.mix(0.35))).map_err(&err)?;
        chart
            .draw_series(LineSeries::new(line, blue.stroke_width(2)))
            .map_err(&err)?
            .label("S(t)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], blue.stroke_width(2)));
        legend_at(&mut chart, chart_name, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}
