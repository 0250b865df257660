//! RFM: recency, frequency and monetary scores, and the segments built on them.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::customer::CustomerId;
use crate::domain::table::CustomerTable;
use crate::error::{Error, Result};
use crate::log::summary::PurchaseSummary;
use crate::math::parallel::{cores, join};
use crate::math::sort::{f64_from_order_key, f64_order_key};

/// From this many customers, the three RFM dimensions are scored at the
/// same time (below it, the threads cost more than they save).
const PARALLEL_CUSTOMERS: usize = 65_536;

/// What the M score measures.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RfmMonetary {
    /// Net spend: gross − returns.
    #[default]
    NetSpend,
    /// Net spend ÷ orders.
    AverageOrderValue,
}

/// How tied values are scored.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TiePolicy {
    /// Bins of equal size by rank: the customer at rank i (0-based, sorted by
    /// value then customer id) of n scores ⌊i·k/n⌋ + 1. Tied values may
    /// straddle a bin boundary, so two customers with the same value can get
    /// different scores, decided by their ids: an explicit choice only.
    EqualSizedBins,
    /// The default: cut points at the population's j/k quantiles
    /// (j = 1..k−1, the value at sorted position ⌈j·n/k⌉ − 1); a value
    /// scores 1 + the number of cut points it exceeds, so tied values always
    /// share a bin (and a bin between two equal cut points stays empty).
    #[default]
    ValueBased,
}

/// RFM settings.
///
/// ```
/// use customer_lifecycle::metrics::{RfmMonetary, RfmOptions, TiePolicy};
///
/// let options = RfmOptions::new().bins(4).ties(TiePolicy::ValueBased).monetary(RfmMonetary::AverageOrderValue);
/// assert_eq!(options.bin_count(), 4);
/// ```
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct RfmOptions {
    bins: u8,
    ties: TiePolicy,
    monetary: RfmMonetary,
    weights: [f64; 3],
}

impl Default for RfmOptions {
    fn default() -> Self {
        RfmOptions { bins: 5, ties: TiePolicy::ValueBased, monetary: RfmMonetary::NetSpend, weights: [1.0; 3] }
    }
}

impl RfmOptions {
    /// Five bins cut at value quantiles (equal values, equal scores), net
    /// spend, equal weights.
    ///
    /// ```
    /// use customer_lifecycle::metrics::{RfmMonetary, RfmOptions, TiePolicy};
    /// assert_eq!(RfmOptions::new().bin_count(), 5);
    /// ```
    pub fn new() -> RfmOptions {
        RfmOptions::default()
    }

    /// Number of bins k (2..=9, so that the combined code R·100 + F·10 + M
    /// keeps one digit per score).
    ///
    /// ```
    /// use customer_lifecycle::metrics::{RfmMonetary, RfmOptions, TiePolicy};
    /// assert_eq!(RfmOptions::new().bins(4).bin_count(), 4);
    /// ```
    pub fn bins(mut self, k: u8) -> RfmOptions {
        self.bins = k;
        self
    }

    /// The tie policy.
    ///
    /// ```
    /// use customer_lifecycle::metrics::{RfmMonetary, RfmOptions, TiePolicy};
    /// let options = RfmOptions::new().ties(TiePolicy::ValueBased);
    /// # let _ = options;
    /// ```
    pub fn ties(mut self, ties: TiePolicy) -> RfmOptions {
        self.ties = ties;
        self
    }

    /// What M measures.
    ///
    /// ```
    /// use customer_lifecycle::metrics::{RfmMonetary, RfmOptions, TiePolicy};
    /// let options = RfmOptions::new().monetary(RfmMonetary::AverageOrderValue);
    /// # let _ = options;
    /// ```
    pub fn monetary(mut self, monetary: RfmMonetary) -> RfmOptions {
        self.monetary = monetary;
        self
    }

    /// Weights of R, F and M in [`RfmScores::weighted_score`].
    ///
    /// ```
    /// use customer_lifecycle::metrics::{RfmMonetary, RfmOptions, TiePolicy};
    /// let options = RfmOptions::new().weights(0.5, 0.3, 0.2);
    /// # let _ = options;
    /// ```
    pub fn weights(mut self, recency: f64, frequency: f64, monetary: f64) -> RfmOptions {
        self.weights = [recency, frequency, monetary];
        self
    }

    /// The number of bins.
    ///
    /// ```
    /// use customer_lifecycle::metrics::{RfmMonetary, RfmOptions, TiePolicy};
    /// assert_eq!(RfmOptions::new().bins(3).bin_count(), 3);
    /// ```
    pub fn bin_count(&self) -> u8 {
        self.bins
    }

    fn validate(&self) -> Result<()> {
        if !(2..=9).contains(&self.bins) {
            return Err(Error::InvalidArgument {
                name: "RFM bins",
                reason: format!("k = {} must lie in 2..=9", self.bins),
            });
        }
        if self.weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || self.weights.iter().sum::<f64>() <= 0.0 {
            return Err(Error::InvalidArgument {
                name: "RFM weights",
                reason: format!("{:?} must be finite, ≥ 0 and not all 0", self.weights),
            });
        }
        Ok(())
    }
}

/// The cut points of one dimension: `k − 1` values; see [`TiePolicy`].
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct CutPoints {
    /// Recency (time since the last purchase) cut points, ascending.
    pub recency: Vec<f64>,
    /// Frequency (orders) cut points, ascending.
    pub frequency: Vec<f64>,
    /// Monetary cut points, ascending.
    pub monetary: Vec<f64>,
}

impl CutPoints {
    /// One customer's value-based scores (1..=k) from these cut points:
    /// the scores [`RfmScores::compute`] gives with
    /// [`TiePolicy::ValueBased`] (the default) to a customer with these
    /// values — the time since the last purchase (`T − recency`, scored
    /// inversely), the order count and the monetary value (net spend or
    /// average order value, as the options chose). Scores a customer
    /// outside the scored summary, in a query engine say.
    ///
    /// ```
    /// use customer_lifecycle::{RfmOptions, RfmScores, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let rfm = RfmScores::compute(&summary, &RfmOptions::new())?;
    /// let row = summary.row(7).unwrap();
    /// let since = row.age - row.recency;
    /// let net: f64 = row.net.try_into()?;
    /// assert_eq!(rfm.cut_points().scores_of(since, f64::from(row.orders), net)?, rfm.scores(7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a value that is not finite, or cut
    /// points of different lengths per dimension or more than 254.
    pub fn scores_of(&self, since_last_purchase: f64, orders: f64, monetary: f64) -> Result<(u8, u8, u8)> {
        let n = self.recency.len();
        if self.frequency.len() != n || self.monetary.len() != n || n > 254 {
            return Err(Error::InvalidArgument {
                name: "RFM cut points",
                reason: format!("{n}, {} and {} cut points", self.frequency.len(), self.monetary.len()),
            });
        }
        for (name, v) in
            [("time since the last purchase", since_last_purchase), ("orders", orders), ("monetary value", monetary)]
        {
            if !v.is_finite() {
                return Err(Error::InvalidArgument { name: "RFM value", reason: format!("{name} {v} is not finite") });
            }
        }
        // As the scoring pass of `score`: 1 + the cut points strictly below.
        let score =
            |cuts: &[f64], v: f64| 1 + cuts.iter().filter(|&&c| f64_order_key(v) > f64_order_key(c)).count() as u8;
        let k = n as u8 + 1;
        Ok((
            k + 1 - score(&self.recency, since_last_purchase),
            score(&self.frequency, orders),
            score(&self.monetary, monetary),
        ))
    }
}

validated_serde! {
/// RFM scores of every customer of a summary, in the summary's row order.
#[derive(Clone, PartialEq, Debug)]
pub struct RfmScores {
    options: RfmOptions,
    ids: Arc<Vec<CustomerId>>,
    recency: Vec<u8>,
    frequency: Vec<u8>,
    monetary: Vec<u8>,
    cut_points: CutPoints,
}
}

impl RfmScores {
    /// Loaded scores are ones [`RfmScores::compute`] could have made: valid
    /// options, one score per customer and dimension in 1..=k, distinct
    /// customers, and k − 1 finite ascending cut points per dimension.
    fn check_consistent(&self) -> Result<()> {
        self.options.validate()?;
        let bad = |reason: String| Error::InvalidArgument { name: "saved RFM scores", reason };
        let k = self.options.bins;
        let n = self.ids.len();
        for (name, scores) in [("recency", &self.recency), ("frequency", &self.frequency), ("monetary", &self.monetary)]
        {
            if scores.len() != n {
                return Err(bad(format!("{} {name} scores for {n} customers", scores.len())));
            }
            if let Some(s) = scores.iter().find(|s| !(1..=k).contains(*s)) {
                return Err(bad(format!("a {name} score of {s} outside 1..={k}")));
            }
        }
        let c = &self.cut_points;
        for (name, cuts) in [("recency", &c.recency), ("frequency", &c.frequency), ("monetary", &c.monetary)] {
            let ascending = cuts.windows(2).all(|w| w[0] <= w[1]);
            if cuts.len() != usize::from(k) - 1 || !ascending || cuts.iter().any(|v| !v.is_finite()) {
                return Err(bad(format!("{name} cut points {cuts:?} are not {} finite ascending values", k - 1)));
            }
        }
        let mut seen = std::collections::HashSet::with_capacity(n);
        if let Some(twice) = self.ids.iter().find(|id| !seen.insert(*id)) {
            return Err(bad(format!("customer {twice} appears twice")));
        }
        Ok(())
    }
    /// Scores a summary (its calibration period when split).
    ///
    /// ```
    /// use customer_lifecycle::metrics::{RfmOptions, RfmScores};
    /// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    ///
    /// let log = TransactionLog::cdnow_sample()?;
    /// let summary = log.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let rfm = RfmScores::compute(&summary, &RfmOptions::new())?;
    /// let (r, f, m) = rfm.scores(0);
    /// assert!((1..=5).contains(&r) && (1..=5).contains(&f) && (1..=5).contains(&m));
    /// assert_eq!(rfm.code(0), u16::from(r) * 100 + u16::from(f) * 10 + u16::from(m));
    /// assert_eq!(rfm.cut_points().recency.len(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for k outside 2..=9 or bad weights;
    /// [`Error::Empty`] for an empty summary.
    pub fn compute(summary: &PurchaseSummary, options: &RfmOptions) -> Result<RfmScores> {
        options.validate()?;
        if summary.is_empty() {
            return Err(Error::Empty { what: "customers to score" });
        }
        let k = options.bins;
        // The three dimensions are scored independently (on two cores
        // from PARALLEL_CUSTOMERS customers: the same scores either way).
        // Keys are the f64 values' order-preserving bit patterns.
        let (age, recency) = (summary.age(), summary.recency());
        let recency_keys =
            || -> Vec<u64> { age.iter().zip(recency.iter()).map(|(t, r)| f64_order_key(t - r)).collect() };
        let frequency_keys = || -> Vec<u64> { summary.orders().iter().map(|&o| f64_order_key(f64::from(o))).collect() };
        let monetary_keys = || -> Vec<u64> {
            match options.monetary {
                RfmMonetary::NetSpend => summary.net_spend_iter().map(f64_order_key).collect(),
                RfmMonetary::AverageOrderValue => summary
                    .net_spend_iter()
                    .zip(summary.orders())
                    .map(|(v, &o)| f64_order_key(v / f64::from(o.max(1))))
                    .collect(),
            }
        };
        let parallel = summary.len() >= PARALLEL_CUSTOMERS && cores() > 1;
        let ((r_raw, r_cuts), ((frequency, f_cuts), (monetary, m_cuts))) = join(
            parallel,
            || score(&recency_keys(), k, options.ties),
            || {
                join(
                    parallel,
                    || score(&frequency_keys(), k, options.ties),
                    || score(&monetary_keys(), k, options.ties),
                )
            },
        );
        // Recency is scored inversely: the shortest time since the last purchase scores k.
        let recency = r_raw.iter().map(|s| k + 1 - s).collect();
        Ok(RfmScores {
            options: *options,
            ids: summary.shared_ids(),
            recency,
            frequency,
            monetary,
            cut_points: CutPoints { recency: r_cuts, frequency: f_cuts, monetary: m_cuts },
        })
    }

    /// Number of customers.
    ///
    /// ```
    /// # use customer_lifecycle::{RfmOptions, RfmScores, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let mut rfm = RfmScores::compute(&summary, &RfmOptions::new())?;
    /// assert_eq!(rfm.len(), summary.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Removes a customer's scores (right to erasure; the cut points, which
    /// describe the population, stay); `true` when there were some.
    ///
    /// ```
    /// # use customer_lifecycle::{RfmOptions, RfmScores, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let mut rfm = RfmScores::compute(&summary, &RfmOptions::new())?;
    /// let id = rfm.ids()[0].clone();
    /// assert!(rfm.erase(&id));
    /// assert_eq!(rfm.len(), summary.len() - 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn erase(&mut self, customer: &CustomerId) -> bool {
        let Some(k) = self.ids.iter().position(|id| id == customer) else { return false };
        Arc::make_mut(&mut self.ids).remove(k);
        self.recency.remove(k);
        self.frequency.remove(k);
        self.monetary.remove(k);
        true
    }

    /// True when there are none (never, for computed scores).
    ///
    /// ```
    /// # use customer_lifecycle::{RfmOptions, RfmScores, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let mut rfm = RfmScores::compute(&summary, &RfmOptions::new())?;
    /// assert!(!rfm.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The customers, in row order.
    ///
    /// ```
    /// # use customer_lifecycle::{RfmOptions, RfmScores, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let mut rfm = RfmScores::compute(&summary, &RfmOptions::new())?;
    /// assert_eq!(rfm.ids(), summary.ids());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ids(&self) -> &[CustomerId] {
        &self.ids
    }

    /// (R, F, M) of row `k`.
    ///
    /// ```
    /// # use customer_lifecycle::{RfmOptions, RfmScores, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let mut rfm = RfmScores::compute(&summary, &RfmOptions::new())?;
    /// let (r, f, m) = rfm.scores(0);
    /// assert!((1..=5).contains(&r) && (1..=5).contains(&f) && (1..=5).contains(&m));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// When `k` is not below [`RfmScores::len`], as slice indexing does.
    pub fn scores(&self, k: usize) -> (u8, u8, u8) {
        (self.recency[k], self.frequency[k], self.monetary[k])
    }

    /// The combined code R·100 + F·10 + M of row `k` (e.g. 545).
    ///
    /// ```
    /// # use customer_lifecycle::{RfmOptions, RfmScores, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let mut rfm = RfmScores::compute(&summary, &RfmOptions::new())?;
    /// let (r, f, m) = rfm.scores(0);
    /// assert_eq!(rfm.code(0), u16::from(r) * 100 + u16::from(f) * 10 + u16::from(m));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// When `k` is not below [`RfmScores::len`], as slice indexing does.
    pub fn code(&self, k: usize) -> u16 {
        let (r, f, m) = self.scores(k);
        u16::from(r) * 100 + u16::from(f) * 10 + u16::from(m)
    }

    /// The weighted score (w_R·R + w_F·F + w_M·M) / (w_R + w_F + w_M) of row `k`.
    ///
    /// ```
    /// # use customer_lifecycle::{RfmOptions, RfmScores, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let mut rfm = RfmScores::compute(&summary, &RfmOptions::new())?;
    /// let w = rfm.weighted_score(0);
    /// assert!((1.0..=5.0).contains(&w));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// When `k` is not below [`RfmScores::len`], as slice indexing does.
    pub fn weighted_score(&self, k: usize) -> f64 {
        let (r, f, m) = self.scores(k);
        let w = self.options.weights;
        (w[0] * f64::from(r) + w[1] * f64::from(f) + w[2] * f64::from(m)) / (w[0] + w[1] + w[2])
    }

    /// The scores as a table keyed by customer: columns `recency`,
    /// `frequency`, `monetary` (1..k), `code` (R·100 + F·10 + M) and
    /// `weighted_score`.
    ///
    /// ```
    /// use customer_lifecycle::metrics::{RfmOptions, RfmScores};
    /// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let table = RfmScores::compute(&summary, &RfmOptions::new())?.table()?;
    /// assert_eq!(table.names(), ["recency", "frequency", "monetary", "code", "weighted_score"]);
    /// let first = &summary.ids()[0];
    /// assert!((1.0..=5.0).contains(&table.value(first, "recency").unwrap()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// None in practice (scores are finite); the table's checks are passed on.
    pub fn table(&self) -> Result<CustomerTable> {
        let n = self.len();
        let column = |f: &dyn Fn(usize) -> f64| (0..n).map(f).collect::<ndarray::Array1<f64>>();
        CustomerTable::over(Arc::clone(&self.ids))
            .with_column("recency", column(&|k| f64::from(self.recency[k])))?
            .with_column("frequency", column(&|k| f64::from(self.frequency[k])))?
            .with_column("monetary", column(&|k| f64::from(self.monetary[k])))?
            .with_column("code", column(&|k| f64::from(self.code(k))))?
            .with_column("weighted_score", column(&|k| self.weighted_score(k)))
    }

    /// The cut points used.
    ///
    /// ```
    /// # use customer_lifecycle::{RfmOptions, RfmScores, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let mut rfm = RfmScores::compute(&summary, &RfmOptions::new())?;
    /// let cuts = rfm.cut_points();
    /// # let _ = cuts;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cut_points(&self) -> &CutPoints {
        &self.cut_points
    }

    /// The options used.
    ///
    /// ```
    /// # use customer_lifecycle::{RfmOptions, RfmScores, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let mut rfm = RfmScores::compute(&summary, &RfmOptions::new())?;
    /// assert_eq!(rfm.options().bin_count(), 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn options(&self) -> &RfmOptions {
        &self.options
    }
}

/// Scores the values whose order keys are `keys` into 1..=k; returns the
/// scores and the k − 1 cut points.
///
/// Both policies need only a few order statistics, not a sort: with
/// `q_j = ⌈j·n/k⌉` (the first rank of bin j + 1), the cut point `C_j` is the
/// value at rank `q_j − 1`, and under equal-sized bins a value `v` at rank
/// `r` (ties ranked in row order) has `r ≥ q_j` exactly when `v > B_j`, or
/// `v = B_j` and at least `q_j − less(B_j)` rows of value `B_j` come before
/// it, where `B_j` is the value at rank `q_j` and `less(B_j)` counts the
/// values below it. The order statistics come from a histogram of the keys'
/// top 16 bits and a selection inside the few buckets that hold them.
fn score(keys: &[u64], k: u8, ties: TiePolicy) -> (Vec<u8>, Vec<f64>) {
    let n = keys.len();
    let kf = usize::from(k);
    let q: Vec<usize> = (1..kf).map(|j| (j * n).div_ceil(kf)).collect();
    let mut ranks: Vec<usize> = q.iter().flat_map(|&p| [p - 1, p]).filter(|&p| p < n).collect();
    ranks.sort_unstable();
    ranks.dedup();
    let stats = order_statistics(keys, &ranks);
    // Every rank looked up here (q_j − 1, and q_j when < n) is in `ranks`, so the search always finds it.
    let stat = |rank: usize| stats[ranks.binary_search(&rank).unwrap_or_else(|i| i.min(stats.len() - 1))];
    let cut_keys: Vec<u64> = q.iter().map(|&p| stat(p - 1).0).collect();
    let cuts = cut_keys.iter().map(|&c| f64_from_order_key(c)).collect();
    let mut scores = vec![0u8; n];
    match ties {
        TiePolicy::ValueBased => {
            for (s, &key) in scores.iter_mut().zip(keys) {
                *s = 1 + cut_keys.iter().map(|&c| u8::from(key > c)).sum::<u8>();
            }
        }
        TiePolicy::EqualSizedBins => {
            // (B_j, rows of value B_j to skip before the bin starts), for the
            // bins that exist (q_j < n).
            let thresholds: Vec<(u64, usize)> =
                q.iter().filter(|&&p| p < n).map(|&p| (stat(p).0, p - stat(p).1)).collect();
            let mut seen = vec![0usize; thresholds.len()];
            for (s, &key) in scores.iter_mut().zip(keys) {
                let mut score = 1u8;
                for (j, &(b, skip)) in thresholds.iter().enumerate() {
                    if key > b {
                        score += 1;
                    } else if key == b {
                        score += u8::from(seen[j] >= skip);
                        seen[j] += 1;
                    }
                }
                *s = score;
            }
        }
    }
    (scores, cuts)
}

/// The keys at sorted positions `ranks` (ascending, each < n), each with
/// the number of keys strictly below it.
fn order_statistics(keys: &[u64], ranks: &[usize]) -> Vec<(u64, usize)> {
    const BITS: u32 = 16;
    let bucket = |key: u64| (key >> (64 - BITS)) as usize;
    let mut start = vec![0usize; (1 << BITS) + 1];
    for &key in keys {
        start[bucket(key) + 1] += 1;
    }
    for b in 0..1 << BITS {
        start[b + 1] += start[b];
    }
    // The bucket of each rank, and the keys of those buckets.
    let of_rank: Vec<usize> = ranks.iter().map(|&r| start.partition_point(|&s| s <= r) - 1).collect();
    let mut slot = vec![u8::MAX; 1 << BITS];
    let mut members: Vec<Vec<u64>> = Vec::new();
    for &b in &of_rank {
        if slot[b] == u8::MAX {
            slot[b] = members.len() as u8;
            members.push(Vec::with_capacity(start[b + 1] - start[b]));
        }
    }
    for &key in keys {
        let s = slot[bucket(key)];
        if s != u8::MAX {
            members[usize::from(s)].push(key);
        }
    }
    ranks
        .iter()
        .zip(&of_rank)
        .map(|(&r, &b)| {
            let bucket_keys = &mut members[usize::from(slot[b])];
            let (_, &mut key, _) = bucket_keys.select_nth_unstable(r - start[b]);
            let below = start[b] + bucket_keys.iter().filter(|&&x| x < key).count();
            (key, below)
        })
        .collect()
}

/// A named segment: inclusive score ranges for R, F and M.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SegmentRule {
    /// The label, as written to CSV (e.g. `champions`).
    pub label: String,
    /// Inclusive R range.
    pub recency: (u8, u8),
    /// Inclusive F range.
    pub frequency: (u8, u8),
    /// Inclusive M range.
    pub monetary: (u8, u8),
}

impl SegmentRule {
    fn new(label: &str, recency: (u8, u8), frequency: (u8, u8), monetary: (u8, u8)) -> SegmentRule {
        SegmentRule { label: label.to_string(), recency, frequency, monetary }
    }

    fn matches(&self, (r, f, m): (u8, u8, u8)) -> bool {
        let inside = |v: u8, (lo, hi): (u8, u8)| lo <= v && v <= hi;
        inside(r, self.recency) && inside(f, self.frequency) && inside(m, self.monetary)
    }
}

/// Label of customers no rule matches.
pub const OTHER_SEGMENT: &str = "other";

/// An ordered list of segment rules: the first rule that matches a
/// customer's scores names the segment; no match is [`OTHER_SEGMENT`].
///
/// ```
/// use customer_lifecycle::metrics::SegmentMap;
///
/// let map = SegmentMap::standard();
/// assert_eq!(map.segment((5, 5, 5)), "champions");
/// assert_eq!(map.segment((1, 5, 5)), "cant_lose_them");
/// assert_eq!(map.segment((1, 1, 1)), "lost");
/// assert_eq!(map.segment((2, 1, 1)), "hibernating");
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(try_from = "SegmentMapData", into = "SegmentMapData")]
pub struct SegmentMap {
    bins: u8,
    rules: Vec<SegmentRule>,
}

/// The saved form of a [`SegmentMap`], checked by [`SegmentMap::new`] on load.
#[derive(Serialize, Deserialize)]
struct SegmentMapData {
    bins: u8,
    rules: Vec<SegmentRule>,
}

impl TryFrom<SegmentMapData> for SegmentMap {
    type Error = Error;

    fn try_from(d: SegmentMapData) -> Result<SegmentMap> {
        SegmentMap::new(d.bins, d.rules)
    }
}

impl From<SegmentMap> for SegmentMapData {
    fn from(m: SegmentMap) -> SegmentMapData {
        SegmentMapData { bins: m.bins, rules: m.rules }
    }
}

impl SegmentMap {
    /// A user-defined map for scores in 1..=`bins`.
    ///
    /// ```
    /// use customer_lifecycle::metrics::{SegmentMap, SegmentRule};
    /// let best = SegmentRule { label: "best".into(), recency: (5, 5), frequency: (5, 5), monetary: (1, 5) };
    /// let map = SegmentMap::new(5, vec![best])?;
    /// assert_eq!(map.segment((5, 5, 3)), "best");
    /// assert_eq!(map.segment((1, 1, 1)), customer_lifecycle::metrics::OTHER_SEGMENT);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty rule list, bins outside
    /// 2..=9, a range outside 1..=bins or with low > high, an empty label.
    pub fn new(bins: u8, rules: Vec<SegmentRule>) -> Result<SegmentMap> {
        let bad = |reason: String| Err(Error::InvalidArgument { name: "segment map", reason });
        if !(2..=9).contains(&bins) {
            return bad(format!("bins = {bins} must lie in 2..=9"));
        }
        if rules.is_empty() {
            return bad("no segments".into());
        }
        for rule in &rules {
            if rule.label.is_empty() {
                return bad("a segment without a label".into());
            }
            for (name, (lo, hi)) in [("R", rule.recency), ("F", rule.frequency), ("M", rule.monetary)] {
                if lo < 1 || hi > bins || lo > hi {
                    return bad(format!("{}: {name} range {lo}..={hi} is not inside 1..={bins}", rule.label));
                }
            }
        }
        Ok(SegmentMap { bins, rules })
    }

    /// The common 11-segment table for five bins, ordered so that every
    /// segment is reachable with first-match-wins. The usual table overlaps
    /// and, in its usual order, hides segments: "can't lose them" (R ≤ 1,
    /// F and M 4–5) lies inside "at risk" (R ≤ 2, F and M 2–5), "new
    /// customers" (R 4–5, F and M ≤ 1) inside "potential loyalist" (R 3–5,
    /// F and M 1–3), "need attention", "promising" and "about to sleep" are
    /// covered by earlier rows too, and "lost" (R, F, M ≤ 2) is identical to
    /// "hibernating" (R, F, M 1–2). Here narrower segments come first, and
    /// "lost" is the R = 1 part of the low corner, "hibernating" the R = 2
    /// part (its R = 1 cells go to "lost"):
    ///
    /// | order | label | R | F | M |
    /// |---|---|---|---|---|
    /// | 1 | champions | 4–5 | 4–5 | 4–5 |
    /// | 2 | cant_lose_them | 1 | 4–5 | 4–5 |
    /// | 3 | need_attention | 2–3 | 2–3 | 2–3 |
    /// | 4 | at_risk | 1–2 | 2–5 | 2–5 |
    /// | 5 | loyal_customers | 2–5 | 3–5 | 3–5 |
    /// | 6 | new_customers | 4–5 | 1 | 1 |
    /// | 7 | promising | 3–4 | 1 | 1 |
    /// | 8 | lost | 1 | 1–2 | 1–2 |
    /// | 9 | hibernating | 1–2 | 1–2 | 1–2 |
    /// | 10 | about_to_sleep | 2–3 | 1–2 | 1–2 |
    /// | 11 | potential_loyalist | 3–5 | 1–3 | 1–3 |
    ///
    /// Everything else is `other`; a test checks that each of the eleven
    /// labels is the first match of at least one (R, F, M) triple.
    ///
    /// ```
    /// use customer_lifecycle::metrics::SegmentMap;
    /// let map = SegmentMap::standard();
    /// assert_eq!(map.rules().len(), 11);
    /// ```
    pub fn standard() -> SegmentMap {
        let rule = SegmentRule::new;
        SegmentMap {
            bins: 5,
            rules: vec![
                rule("champions", (4, 5), (4, 5), (4, 5)),
                rule("cant_lose_them", (1, 1), (4, 5), (4, 5)),
                rule("need_attention", (2, 3), (2, 3), (2, 3)),
                rule("at_risk", (1, 2), (2, 5), (2, 5)),
                rule("loyal_customers", (2, 5), (3, 5), (3, 5)),
                rule("new_customers", (4, 5), (1, 1), (1, 1)),
                rule("promising", (3, 4), (1, 1), (1, 1)),
                rule("lost", (1, 1), (1, 2), (1, 2)),
                rule("hibernating", (1, 2), (1, 2), (1, 2)),
                rule("about_to_sleep", (2, 3), (1, 2), (1, 2)),
                rule("potential_loyalist", (3, 5), (1, 3), (1, 3)),
            ],
        }
    }

    /// The common 10-cell grid on R and F alone (five bins; M is ignored):
    ///
    /// | label | R | F |
    /// |---|---|---|
    /// | champions | 5 | 4–5 |
    /// | loyal_customers | 3–4 | 4–5 |
    /// | potential_loyalist | 4–5 | 2–3 |
    /// | new_customers | 5 | 1 |
    /// | promising | 4 | 1 |
    /// | need_attention | 3 | 3 |
    /// | about_to_sleep | 3 | 1–2 |
    /// | cant_lose_them | 1–2 | 5 |
    /// | at_risk | 1–2 | 3–4 |
    /// | hibernating | 1–2 | 1–2 |
    ///
    /// The cells tile the 5 × 5 grid: every (R, F) pair has exactly one.
    ///
    /// ```
    /// use customer_lifecycle::metrics::SegmentMap;
    /// assert_eq!(SegmentMap::rf_grid().rules().len(), 10);
    /// ```
    pub fn rf_grid() -> SegmentMap {
        let rule = |label: &str, r: (u8, u8), f: (u8, u8)| SegmentRule::new(label, r, f, (1, 5));
        SegmentMap {
            bins: 5,
            rules: vec![
                rule("champions", (5, 5), (4, 5)),
                rule("loyal_customers", (3, 4), (4, 5)),
                rule("potential_loyalist", (4, 5), (2, 3)),
                rule("new_customers", (5, 5), (1, 1)),
                rule("promising", (4, 4), (1, 1)),
                rule("need_attention", (3, 3), (3, 3)),
                rule("about_to_sleep", (3, 3), (1, 2)),
                rule("cant_lose_them", (1, 2), (5, 5)),
                rule("at_risk", (1, 2), (3, 4)),
                rule("hibernating", (1, 2), (1, 2)),
            ],
        }
    }

    /// The rules, in order.
    ///
    /// ```
    /// use customer_lifecycle::metrics::SegmentMap;
    /// let map = SegmentMap::standard();
    /// assert!(map.rules().iter().all(|r| !r.label.is_empty()));
    /// ```
    pub fn rules(&self) -> &[SegmentRule] {
        &self.rules
    }

    /// The segment of one (R, F, M) triple.
    ///
    /// ```
    /// use customer_lifecycle::metrics::SegmentMap;
    /// let map = SegmentMap::standard();
    /// assert_eq!(map.segment((5, 5, 5)), "champions");
    /// ```
    pub fn segment(&self, scores: (u8, u8, u8)) -> &str {
        self.rules.iter().find(|r| r.matches(scores)).map_or(OTHER_SEGMENT, |r| r.label.as_str())
    }

    /// The segment of every customer.
    ///
    /// ```
    /// use customer_lifecycle::{RfmOptions, RfmScores, SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::metrics::SegmentMap;
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let scores = RfmScores::compute(&summary, &RfmOptions::new())?;
    /// let map = SegmentMap::standard();
    /// let labels = map.assign(&scores)?;
    /// assert_eq!(labels.len(), summary.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the scores use another number of bins.
    pub fn assign<'a>(&'a self, scores: &RfmScores) -> Result<Vec<&'a str>> {
        if scores.options.bins != self.bins {
            return Err(Error::InvalidArgument {
                name: "segment map",
                reason: format!("the map is for {} bins, the scores have {}", self.bins, scores.options.bins),
            });
        }
        Ok((0..scores.len()).map(|k| self.segment(scores.scores(k))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_usual_order_hides_segments() {
        // The table in its usual order, first match wins: several labels never win.
        let rule = SegmentRule::new;
        let usual = SegmentMap::new(
            5,
            vec![
                rule("champions", (4, 5), (4, 5), (4, 5)),
                rule("loyal_customers", (2, 5), (3, 5), (3, 5)),
                rule("potential_loyalist", (3, 5), (1, 3), (1, 3)),
                rule("new_customers", (4, 5), (1, 1), (1, 1)),
                rule("promising", (3, 4), (1, 1), (1, 1)),
                rule("need_attention", (2, 3), (2, 3), (2, 3)),
                rule("about_to_sleep", (2, 3), (1, 2), (1, 2)),
                rule("at_risk", (1, 2), (2, 5), (2, 5)),
                rule("cant_lose_them", (1, 1), (4, 5), (4, 5)),
                rule("hibernating", (1, 2), (1, 2), (1, 2)),
                rule("lost", (1, 2), (1, 2), (1, 2)),
            ],
        )
        .unwrap();
        let mut seen = BTreeSet::new();
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    seen.insert(usual.segment((r, f, m)).to_string());
                }
            }
        }
        for hidden in ["new_customers", "cant_lose_them", "lost"] {
            assert!(!seen.contains(hidden), "{hidden}");
        }
    }

    #[test]
    fn every_standard_segment_is_reachable() {
        let map = SegmentMap::standard();
        let mut seen = BTreeSet::new();
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    seen.insert(map.segment((r, f, m)).to_string());
                }
            }
        }
        for rule in map.rules() {
            assert!(seen.contains(&rule.label), "{} is unreachable", rule.label);
        }
        assert!(seen.contains(OTHER_SEGMENT));
        assert_eq!(map.rules().len(), 11);
    }

    #[test]
    fn rf_grid_tiles_the_grid() {
        let map = SegmentMap::rf_grid();
        for r in 1..=5u8 {
            for f in 1..=5u8 {
                let matching = map.rules().iter().filter(|rule| rule.matches((r, f, 3))).count();
                assert_eq!(matching, 1, "({r}, {f}) matches {matching} cells");
            }
        }
    }

    fn keys(values: &[f64]) -> Vec<u64> {
        values.iter().map(|&v| f64_order_key(v)).collect()
    }

    /// The definitions, by sorting (rank ties broken by row).
    fn reference_score(values: &[f64], k: u8, ties: TiePolicy) -> (Vec<u8>, Vec<f64>) {
        let n = values.len();
        let kf = usize::from(k);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
        let cuts: Vec<f64> = (1..kf).map(|j| values[order[(j * n).div_ceil(kf) - 1]]).collect();
        let mut scores = vec![0u8; n];
        for (rank, &i) in order.iter().enumerate() {
            scores[i] = match ties {
                TiePolicy::EqualSizedBins => (rank * kf / n) as u8 + 1,
                TiePolicy::ValueBased => 1 + cuts.iter().filter(|&&c| values[i] > c).count() as u8,
            };
        }
        (scores, cuts)
    }

    #[test]
    fn selection_matches_sorting() {
        let mut state = 7u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for n in [1usize, 2, 3, 4, 5, 7, 9, 10, 11, 100, 1000, 20_000] {
            for spread in [1u64, 3, 50, 1 << 40] {
                // Few distinct values (heavy ties), or many; negative and positive.
                let values: Vec<f64> =
                    (0..n).map(|_| (next() % spread) as f64 * 0.37 - (spread as f64) * 0.1).collect();
                for k in 2..=9u8 {
                    for ties in [TiePolicy::EqualSizedBins, TiePolicy::ValueBased] {
                        assert_eq!(
                            score(&keys(&values), k, ties),
                            reference_score(&values, k, ties),
                            "n {n}, spread {spread}, k {k}, {ties:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn equal_sized_bins_and_value_based_cut_points() {
        let values = keys(&[1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let (equal, cuts) = score(&values, 5, TiePolicy::EqualSizedBins);
        assert_eq!(equal, vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5]); // two per bin, ties split
        assert_eq!(cuts, vec![1.0, 1.0, 3.0, 5.0]);
        let (by_value, _) = score(&values, 5, TiePolicy::ValueBased);
        // Ties share bin 1; the repeated cut point 1.0 leaves bin 2 empty.
        assert_eq!(by_value, vec![1, 1, 1, 1, 3, 3, 4, 4, 5, 5]);
    }

    #[test]
    fn invalid_maps_and_options() {
        assert!(SegmentMap::new(5, vec![]).is_err());
        assert!(SegmentMap::new(5, vec![SegmentRule::new("x", (0, 2), (1, 5), (1, 5))]).is_err());
        assert!(SegmentMap::new(5, vec![SegmentRule::new("x", (3, 2), (1, 5), (1, 5))]).is_err());
        assert!(SegmentMap::new(5, vec![SegmentRule::new("x", (1, 6), (1, 5), (1, 5))]).is_err());
        assert!(SegmentMap::new(5, vec![SegmentRule::new("", (1, 2), (1, 5), (1, 5))]).is_err());
        assert!(SegmentMap::new(10, vec![SegmentRule::new("x", (1, 2), (1, 5), (1, 5))]).is_err());
        assert!(SegmentMap::new(3, vec![SegmentRule::new("x", (1, 2), (1, 3), (1, 3))]).is_ok());
        assert!(RfmOptions::new().bins(1).validate().is_err());
        assert!(RfmOptions::new().bins(10).validate().is_err());
        assert!(RfmOptions::new().weights(0.0, 0.0, 0.0).validate().is_err());
        assert!(RfmOptions::new().weights(1.0, f64::NAN, 0.0).validate().is_err());
    }
}
