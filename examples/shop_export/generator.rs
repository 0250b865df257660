//! A seeded generator of realistic shop exports, to test the whole batch
//! path on the data shops have rather than on CDNOW alone.
//!
//! A Berlin shop that has been growing for four years:
//! * customers join on every day up to the last one (acquisition grows
//!   over time), so some have their first order on the calibration end and
//!   on the observation end;
//! * each buys as a BG/NBD customer does: a personal rate λ ~ Gamma and a
//!   drop-out chance p ~ Beta after every order;
//! * ids are e-mail addresses written with case and whitespace variants
//!   (`Anna.Schmidt@Web.de`, ` anna.schmidt@web.de `);
//! * timestamps are local Berlin times across daylight-saving changes
//!   (with the offset written out, or as local times for `--time-zone`),
//!   including the hour that happens twice in October;
//! * about one order in fourteen is refunded (in part or whole) days later;
//! * Swiss customers pay in CHF, the others in EUR;
//! * about one order in a hundred is exported twice (same order id);
//! * a decimal-comma variant (`;`-separated, `1.234,50 €`, `CHF 99,90`);
//! * duplicate identities ([`with_second_addresses`]): people whose first
//!   orders were guest checkouts under another address, and the links
//!   (`id_a,id_b`) that join the two.
//!
//! The generator also returns what it knows to be true (customers, orders,
//! refunds), so that tests can check what the loader read.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use customer_lifecycle::chrono::{Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone};
use customer_lifecycle::chrono_tz::Europe::Berlin;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Exp, Gamma};
use rand_xoshiro::Xoshiro256PlusPlus;

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct ShopConfig {
    /// The seed: the same seed gives the same export.
    pub seed: u64,
    /// Customers acquired from `first_day` to `last_day`.
    pub customers: usize,
    /// The shop's first day.
    pub first_day: NaiveDate,
    /// The export's last day (the observation end).
    pub last_day: NaiveDate,
}

impl Default for ShopConfig {
    /// 12,000 customers and about 61,000 orders over 2021–2024.
    fn default() -> ShopConfig {
        ShopConfig {
            seed: 2024,
            customers: 12_000,
            first_day: NaiveDate::from_ymd_opt(2021, 1, 1).unwrap_or_default(),
            last_day: NaiveDate::from_ymd_opt(2024, 12, 31).unwrap_or_default(),
        }
    }
}

/// One exported row.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportRow {
    /// The e-mail address as the shop wrote it (case and blanks vary).
    pub email: String,
    /// The local Berlin time, and its offset from UTC in seconds.
    pub local: NaiveDateTime,
    /// Seconds east of UTC at that instant (3600 or 7200).
    pub offset_seconds: i32,
    /// The amount in cents of `currency`.
    pub cents: i64,
    /// `EUR` or `CHF`.
    pub currency: &'static str,
    /// The order id (a refund carries its order's id).
    pub order_id: String,
    /// True for a refund row.
    pub refund: bool,
}

/// The generated export and what is true of it.
#[derive(Clone, Debug)]
pub struct ShopExport {
    /// The rows, in time order (with repeated rows where the shop exported
    /// an order twice).
    pub rows: Vec<ExportRow>,
    /// Distinct customers (case-folded e-mail addresses).
    pub customers: BTreeSet<String>,
    /// Distinct orders.
    pub orders: usize,
    /// Refund rows.
    pub refunds: usize,
    /// Customers whose first order is on the last day.
    pub acquired_on_last_day: usize,
}

/// How the file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportStyle {
    /// `email,created_at,total,currency,order_id,kind`; RFC 3339 times
    /// with the Berlin offset; `1234.50`.
    Iso,
    /// `;`-separated, local Berlin times without offset (`--time-zone
    /// Europe/Berlin`), amounts with a decimal comma, digit grouping and a
    /// symbol (`1.234,50 €`, `CHF 99,90`).
    DecimalComma,
}

const FIRST_NAMES: [&str; 16] = [
    "Anna", "Lukas", "Mia", "Leon", "Emma", "Finn", "Sofia", "Jonas", "Lena", "Elias", "Marie", "Noah", "Lea", "Paul",
    "Laura", "Ben",
];
const LAST_NAMES: [&str; 12] = [
    "Schmidt", "Müller", "Meier", "Weber", "Fischer", "Wagner", "Becker", "Hoffmann", "Koch", "Richter", "Wolf",
    "Klein",
];
const DOMAINS_DE: [&str; 4] = ["web.de", "gmx.de", "t-online.de", "posteo.de"];
const DOMAINS_CH: [&str; 2] = ["bluewin.ch", "gmx.ch"];

/// Relative weights of the local hour of an order (quiet at night, busy in
/// the evening; some orders after midnight, which are the previous day in
/// UTC).
const HOUR_WEIGHTS: [u32; 24] = [3, 2, 2, 1, 1, 1, 2, 4, 6, 7, 8, 8, 9, 8, 8, 8, 9, 10, 12, 14, 14, 12, 9, 5];

fn hour(rng: &mut Xoshiro256PlusPlus) -> u32 {
    let total: u32 = HOUR_WEIGHTS.iter().sum();
    let mut pick = rng.random_range(0..total);
    for (h, w) in HOUR_WEIGHTS.iter().enumerate() {
        if pick < *w {
            return h as u32;
        }
        pick -= w;
    }
    23
}

/// A local time on `day`, as an instant that exists in Berlin: a time in
/// the spring gap moves an hour on; a time in the autumn fold takes either
/// offset.
fn local_time(rng: &mut Xoshiro256PlusPlus, day: NaiveDate) -> (NaiveDateTime, i32) {
    let time = NaiveTime::from_hms_opt(hour(rng), rng.random_range(0..60), rng.random_range(0..60)).unwrap_or_default();
    let mut local = day.and_time(time);
    loop {
        match Berlin.from_local_datetime(&local) {
            LocalResult::Single(t) => {
                return (local, customer_lifecycle::chrono::Offset::fix(t.offset()).local_minus_utc());
            }
            LocalResult::Ambiguous(a, b) => {
                let t = if rng.random::<bool>() { a } else { b };
                return (local, customer_lifecycle::chrono::Offset::fix(t.offset()).local_minus_utc());
            }
            LocalResult::None => local += TimeDelta::hours(1),
        }
    }
}

fn email(rng: &mut Xoshiro256PlusPlus, k: usize, swiss: bool) -> String {
    let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
    let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
    let domain = if swiss {
        DOMAINS_CH[rng.random_range(0..DOMAINS_CH.len())]
    } else {
        DOMAINS_DE[rng.random_range(0..DOMAINS_DE.len())]
    };
    format!("{first}.{last}{k}@{domain}")
}

/// The address as one row writes it: mostly lower case, sometimes as the
/// customer typed it, sometimes with blanks around.
fn written(rng: &mut Xoshiro256PlusPlus, proper: &str) -> String {
    let text = if rng.random::<f64>() < 0.7 { proper.to_lowercase() } else { proper.to_string() };
    match rng.random_range(0..20) {
        0 => format!(" {text}"),
        1 => format!("{text}  "),
        2 => text.to_uppercase(),
        _ => text,
    }
}

/// Generates an export (the same for the same configuration).
pub fn generate(config: &ShopConfig) -> ShopExport {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
    let span = (config.last_day - config.first_day).num_days().max(1);
    let rate = Gamma::new(0.9, 1.0 / 45.0).ok();
    let dropout = Beta::new(0.8, 4.0).ok();
    let spend = Gamma::new(3.0, 15.0).ok();
    let mut rows = Vec::new();
    let mut customers = BTreeSet::new();
    let (mut orders, mut refunds, mut acquired_on_last_day) = (0, 0, 0);
    for k in 0..config.customers {
        let swiss = rng.random::<f64>() < 0.12;
        let proper = email(&mut rng, k, swiss);
        customers.insert(proper.to_lowercase());
        // Someone joins on every day (the first customers, one a day while
        // they last); the others as the shop grows, the density of
        // acquisition rising linearly up to the last day.
        let day = if (k as i64) <= span {
            k as i64
        } else {
            ((rng.random::<f64>().sqrt() * (span + 1) as f64) as i64).min(span)
        };
        let mut day = config.first_day + TimeDelta::days(day);
        if day == config.last_day {
            acquired_on_last_day += 1;
        }
        let lambda: f64 = rate.map_or(0.02, |g| g.sample(&mut rng));
        let p: f64 = dropout.map_or(0.2, |b| b.sample(&mut rng));
        let mean_cents = spend.map_or(45.0_f64, |g| g.sample(&mut rng)).max(5.0) * 100.0;
        let currency = if swiss { "CHF" } else { "EUR" };
        loop {
            let (local, offset_seconds) = local_time(&mut rng, day);
            let order_gamma = Gamma::new(4.0, mean_cents / 4.0).ok();
            let cents = (order_gamma.map_or(mean_cents, |g| g.sample(&mut rng)).round() as i64).max(100);
            orders += 1;
            let order_id = format!("SO-{orders:07}");
            let row = ExportRow {
                email: written(&mut rng, &proper),
                local,
                offset_seconds,
                cents,
                currency,
                order_id: order_id.clone(),
                refund: false,
            };
            if rng.random::<f64>() < 0.01 {
                rows.push(row.clone());
            }
            rows.push(row);
            if rng.random::<f64>() < 0.07 {
                let later = day + TimeDelta::days(rng.random_range(2..21));
                if later <= config.last_day {
                    let (local, offset_seconds) = local_time(&mut rng, later);
                    let part = if rng.random::<bool>() { cents } else { (cents / 2).max(1) };
                    refunds += 1;
                    rows.push(ExportRow {
                        email: written(&mut rng, &proper),
                        local,
                        offset_seconds,
                        cents: part,
                        currency,
                        order_id,
                        refund: true,
                    });
                }
            }
            if rng.random::<f64>() < p {
                break; // drops out after this order
            }
            let gap = Exp::new(lambda.max(1e-6)).map_or(365.0, |e| e.sample(&mut rng));
            let next = day + TimeDelta::days(gap.ceil().clamp(1.0, 10_000.0) as i64);
            if next > config.last_day {
                break;
            }
            day = next;
        }
    }
    // Exports list rows by time; a refund of a same-day order after it.
    rows.sort_by(|a, b| {
        let utc = |r: &ExportRow| r.local - TimeDelta::seconds(i64::from(r.offset_seconds));
        utc(a).cmp(&utc(b)).then(a.refund.cmp(&b.refund))
    });
    ShopExport { rows, customers, orders, refunds, acquired_on_last_day }
}

/// `cents` as text: `1234.50`, or `1.234,50` with a decimal comma.
fn amount_text(cents: i64, comma: bool) -> String {
    let units = (cents / 100).to_string();
    if !comma {
        return format!("{units}.{:02}", cents % 100);
    }
    let mut grouped = String::new();
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(c);
    }
    format!("{grouped},{:02}", cents % 100)
}

/// The export as CSV text in `style`.
pub fn to_csv(export: &ShopExport, style: ExportStyle) -> String {
    let mut out = String::new();
    let kind = |r: &ExportRow| if r.refund { "refund" } else { "order" };
    match style {
        ExportStyle::Iso => {
            out.push_str("email,created_at,total,currency,order_id,kind\n");
            for r in &export.rows {
                let sign = if r.offset_seconds >= 0 { '+' } else { '-' };
                let off = r.offset_seconds.abs();
                let _ = writeln!(
                    out,
                    "{},{}{sign}{:02}:{:02},{},{},{},{}",
                    r.email,
                    r.local.format("%Y-%m-%dT%H:%M:%S"),
                    off / 3600,
                    off % 3600 / 60,
                    amount_text(r.cents, false),
                    r.currency,
                    r.order_id,
                    kind(r)
                );
            }
        }
        ExportStyle::DecimalComma => {
            out.push_str("email;created_at;total;currency;order_id;kind\n");
            for r in &export.rows {
                let amount = amount_text(r.cents, true);
                let amount = if r.currency == "EUR" { format!("{amount} €") } else { format!("CHF {amount}") };
                let _ = writeln!(
                    out,
                    "{};{};{amount};{};{};{}",
                    r.email,
                    r.local.format("%Y-%m-%d %H:%M:%S"),
                    r.currency,
                    r.order_id,
                    kind(r)
                );
            }
        }
    }
    out
}

/// The same orders with duplicate identities: about a third of the people
/// with orders at two or more times placed their orders before the second
/// as guest checkouts under a second address (`name.checkoutN@domain`),
/// with the refunds of those orders; and the links that join each second
/// address to the first, as `(second, first)` (case-folded, as the loader's
/// `--normalize-ids email` reads them). Resolved through the links, the
/// export is the original one again, person by person.
pub fn with_second_addresses(export: &ShopExport, seed: u64) -> (ShopExport, Vec<(String, String)>) {
    let key = |r: &ExportRow| r.email.trim().to_lowercase();
    let instant = |r: &ExportRow| r.local - TimeDelta::seconds(i64::from(r.offset_seconds));
    let mut times: BTreeMap<String, BTreeSet<NaiveDateTime>> = BTreeMap::new();
    for r in export.rows.iter().filter(|r| !r.refund) {
        times.entry(key(r)).or_default().insert(instant(r));
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x1d);
    let mut second: BTreeMap<String, (String, NaiveDateTime)> = BTreeMap::new();
    for (n, (email, t)) in times.iter().enumerate() {
        if let Some(&at) = t.iter().nth(1) {
            if rng.random_bool(1.0 / 3.0) {
                let (local, domain) = email.split_once('@').unwrap_or((email, "shop.example"));
                second.insert(email.clone(), (format!("{local}.checkout{n}@{domain}"), at));
            }
        }
    }
    // The guest's orders: those before the second order time; refunds go
    // with their order.
    let mut guest_orders: BTreeSet<&str> = BTreeSet::new();
    for r in export.rows.iter().filter(|r| !r.refund) {
        if second.get(&key(r)).is_some_and(|(_, at)| instant(r) < *at) {
            guest_orders.insert(&r.order_id);
        }
    }
    let mut customers = export.customers.clone();
    let rows = export
        .rows
        .iter()
        .map(|r| match second.get(&key(r)) {
            Some((address, _)) if guest_orders.contains(r.order_id.as_str()) => {
                customers.insert(address.clone());
                ExportRow { email: address.clone(), ..r.clone() }
            }
            _ => r.clone(),
        })
        .collect();
    let links = second.into_iter().map(|(first, (address, _))| (address, first)).collect();
    (ShopExport { rows, customers, ..export.clone() }, links)
}

/// The links as a CSV file: `id_a,id_b`, one observed link per row.
pub fn links_csv(links: &[(String, String)]) -> String {
    let mut out = String::from("id_a,id_b\n");
    for (a, b) in links {
        let _ = writeln!(out, "{a},{b}");
    }
    out
}

/// The calibration end the README's command uses: half a year before the
/// last day.
pub fn calibration_end(config: &ShopConfig) -> NaiveDate {
    let last = config.last_day;
    NaiveDate::from_ymd_opt(last.year(), 6, 30).filter(|d| *d < last).unwrap_or(config.first_day)
}
