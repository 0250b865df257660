//! Descriptive metrics of the log and the summary: RFM, cohorts, the lifetime curve and KPIs.
//!
//! This floor imports only [`crate::log`] and [`crate::domain`].
//!
//! ## RFM
//!
//! RFM: recency, frequency and monetary scores, and the segments built on them.
//!
//! Each customer of a [`PurchaseSummary`](crate::PurchaseSummary) gets three scores in `1..=k`
//! (default 5), from the population's quantiles:
//!
//! * **R** — time since the last purchase (the summary's `age − recency`, in
//!   its unit), scored inversely: the most recent customers score `k`;
//! * **F** — number of orders;
//! * **M** — net spend (gross − returns), or the average order value (net
//!   spend ÷ orders): [`RfmMonetary`].
//!
//! Two tie policies ([`TiePolicy`]): value-based cut points, the default,
//! where tied values always share a bin (bins can be uneven), or
//! equal-sized bins by rank (ties broken by customer id, so bins hold n/k
//! customers each, and two one-order customers can score differently). The
//! cut points used are on the result ([`RfmScores::cut_points`]) either way.
//!
//! ## Cohorts
//!
//! Acquisition cohorts and their retention, revenue and order matrices.
//!
//! A customer's **cohort** is the calendar period (day, week or month, in
//! UTC or a fixed offset) of their first order. Each matrix has one row per
//! cohort that acquired at least one customer (rows labelled by the
//! period's first date, [`CohortAnalysis::cohorts`]) and one column per
//! period offset `N = 0, 1, …` since acquisition: column `N` of the
//! January cohort of a monthly analysis is the cohort's `N`-th month.
//!
//! **Incomplete cells.** A cell whose calendar period has not fully
//! elapsed at the observation end — the period in progress and every later
//! one — is *incomplete*: the `f64` matrices hold `NaN` there (never a
//! zero that could be mistaken for "nobody bought"), [`CohortAnalysis::get`]
//! returns `None`, and [`CohortAnalysis::complete_mask`] tells which cells
//! are final. Averages over cohorts ([`CohortAnalysis::average_retention`])
//! use complete cells only.
//!
//! **Retention modes** ([`RetentionMode`]): a customer of a cohort counts as
//! retained in column `N` when they ordered
//!
//! * [`OnPeriod`](RetentionMode::OnPeriod) — in period `N` itself (classic
//!   "N-month retention");
//! * [`OnOrAfter`](RetentionMode::OnOrAfter) — in period `N` or any later
//!   observed period (unbounded retention: not yet gone);
//! * [`Rolling`](RetentionMode::Rolling) — in every period `0..=N` (never
//!   skipped a period).
//!
//! Column 0 is the acquisition period: every mode counts the whole cohort.
//!
//! ```
//! use customer_lifecycle::{CohortAnalysis, CohortOptions, Currency, CustomerId, Money, RetentionMode, TimeUnit, Transaction, TransactionLog};
//! use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc};
//!
//! let mut log = TransactionLog::new(Currency::USD);
//! let mut order = |customer: i64, month: u32, day: u32, amount: &str| {
//!     let at = Utc.with_ymd_and_hms(2024, month, day, 12, 0, 0).unwrap();
//!     log.push(Transaction::order(CustomerId::from(customer), at, Money::parse(amount, Currency::USD)?))
//! };
//! order(1, 1, 5, "10")?; order(1, 2, 9, "20")?;   // January cohort, back in February
//! order(2, 1, 20, "15")?; order(2, 3, 2, "5")?;   // January cohort, back in March
//! order(3, 2, 14, "40")?;                          // February cohort
//! let options = CohortOptions::new(TimeUnit::Month).observation_end(NaiveDate::from_ymd_opt(2024, 3, 15).unwrap());
//! let cohorts = CohortAnalysis::compute(&log, &options)?;
//! assert_eq!(cohorts.cohorts(), [NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(), NaiveDate::from_ymd_opt(2024, 2, 1).unwrap()]);
//! assert_eq!(cohorts.sizes().to_vec(), [2, 1]);
//! let on_period = cohorts.retention(RetentionMode::OnPeriod);
//! assert_eq!(on_period[[0, 1]], 0.5);              // January cohort in February
//! assert!(on_period[[0, 2]].is_nan());             // March is still in progress on March 15
//! assert_eq!(cohorts.get(&on_period, 0, 2), None);
//! let on_or_after = cohorts.retention(RetentionMode::OnOrAfter);
//! assert_eq!(on_or_after[[0, 1]], 1.0);            // both bought again in February or later
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Customer lifetime
//!
//! How long customers stay: a Kaplan–Meier curve of customer lifetime.
//!
//! In a non-contractual business nobody announces that they left, so a
//! lapse window `L` defines it: a customer has **lapsed** once `L` has
//! passed without a purchase, and their lifetime is the time from the first
//! to the last purchase (the summary's recency `t_x`). A customer whose last
//! purchase is less than `L` before the observation end may still come back:
//! their lifetime is *censored* at `t_x` (known to be at least that long).
//!
//! The Kaplan–Meier estimate is `S(t) = Π_{tᵢ ≤ t} (1 − dᵢ / nᵢ)` over the
//! distinct lifetimes `tᵢ` of lapsed customers, with `dᵢ` lapsed customers of
//! lifetime `tᵢ` and `nᵢ` customers whose lifetime (lapsed or censored) is
//! at least `tᵢ` — customers censored at `tᵢ` are still at risk there. Its
//! standard error is Greenwood's, `S(t) · √(Σ dᵢ / (nᵢ (nᵢ − dᵢ)))` (taken as
//! 0 once `S(t) = 0`).
//!
//! ## KPIs
//!
//! Lifecycle KPIs, each with its formula.
//!
//! **From the transaction log, over a window `[from, to)`**
//! ([`PurchaseKpis::compute`]). *Buyers* are the customers with at least one
//! order in the window.
//!
//! | KPI | formula |
//! |---|---|
//! | repeat purchase rate | buyers with ≥ 2 orders in the window ÷ buyers |
//! | purchase frequency | orders in the window ÷ buyers |
//! | average order value | order revenue in the window ÷ orders in the window |
//! | return rate (count) | returns in the window ÷ orders in the window |
//! | return rate (value) | returned amount in the window ÷ order revenue in the window |
//! | retention rate | customers who ordered in the previous window of the same length, `[from − (to − from), from)`, and again in `[from, to)` ÷ customers who ordered in the previous window |
//! | churn rate | 1 − retention rate: the previous window's buyers who did not order in this one |
//! | reactivation rate | lapsed customers who ordered in the window ÷ lapsed customers, where *lapsed* means: ordered before `from`, but not in the lapse window `[from − L, from)` (`L` defaults to the window's length) |
//! | new customers | customers whose first order ever falls in the window |
//!
//! **From events, over a window** ([`EngagementKpis::compute`]):
//!
//! | KPI | formula |
//! |---|---|
//! | NPS | (promoters (9–10) − detractors (0–6)) ÷ respondents × 100, each customer's latest answer in the window |
//! | conversion rate | visitors who placed an order in the window ÷ visitors, a *visitor* being a customer with a visit, product view, cart addition or checkout in the window |
//! | cart abandonment rate | abandoned carts ÷ (abandoned + converted carts); a cart opens with an addition to cart, stays open while additions and checkouts follow, converts with an order, and is abandoned when `timeout` passes after its last activity without an order; carts still open at `to` within their timeout are counted apart (`open_carts`) |
//!
//! **From money** ([`customer_acquisition_cost`], [`clv_to_cac`]): CAC =
//! acquisition spend ÷ customers acquired; CLV:CAC = average CLV ÷ CAC.
//!
//! A rate whose denominator is zero (no previous buyers, no lapsed customers,
//! no respondents) is `None`, never NaN.

pub(crate) mod cohort;
pub(crate) mod kpi;
pub(crate) mod rfm;
pub(crate) mod survival;

pub use cohort::{
    COHORT_FORMAT_VERSION, CohortAnalysis, CohortOptions, MAX_COHORT_CELLS, RetentionCurve, RetentionMode,
};
pub use kpi::{EngagementKpis, PurchaseKpis, clv_to_cac, customer_acquisition_cost};
pub use rfm::{CutPoints, OTHER_SEGMENT, RfmMonetary, RfmOptions, RfmScores, SegmentMap, SegmentRule, TiePolicy};
pub use survival::{LifetimeSurvival, SurvivalStep};
