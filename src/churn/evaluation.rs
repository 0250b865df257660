//! How good is a churn score: ranking, probability and lift metrics.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

fn check(scores: &[f64], labels: &[bool]) -> Result<(usize, usize)> {
    if scores.len() != labels.len() {
        return Err(Error::InvalidArgument {
            name: "evaluation",
            reason: format!("{} scores for {} labels", scores.len(), labels.len()),
        });
    }
    if let Some(k) = scores.iter().position(|s| !s.is_finite()) {
        return Err(Error::NonFinite { field: "score", value: scores[k] });
    }
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0 || positives == labels.len() {
        return Err(Error::InvalidArgument {
            name: "evaluation",
            reason: format!("labels of one class only ({positives} churned of {})", labels.len()),
        });
    }
    Ok((positives, labels.len() - positives))
}

/// Indices sorted by score, descending (ties in input order).
fn by_score_descending(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

/// Area under the ROC curve: the probability that a random churner scores
/// above a random non-churner, ties counting one half (the Mann–Whitney
/// statistic with mid-ranks).
///
/// ```
/// use customer_lifecycle::churn::roc_auc;
///
/// // Churners (true) at 0.9 and 0.4; stayers at 0.4 and 0.1:
/// // pairs (0.9 > 0.4), (0.9 > 0.1), (0.4 = 0.4: ½), (0.4 > 0.1) → 3.5 / 4.
/// assert_eq!(roc_auc(&[0.9, 0.4, 0.4, 0.1], &[true, true, false, false])?, 0.875);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// Lengths differ, a score is not finite, or the labels hold one class only.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Result<f64> {
    let (positives, negatives) = check(scores, labels)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the churners' mid-ranks (1-based).
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mid_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mid_rank * order[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Ok((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Area under the precision–recall curve as average precision:
/// `Σ (Rₖ − Rₖ₋₁) · Pₖ` over the distinct score thresholds, highest first
/// (tied scores enter together).
///
/// ```
/// use customer_lifecycle::churn::pr_auc;
///
/// // Ranked 0.9 (churn), 0.8 (stay), 0.7 (churn): AP = ½·1 + ½·⅔.
/// let ap = pr_auc(&[0.9, 0.8, 0.7], &[true, false, true])?;
/// assert!((ap - (0.5 + 1.0 / 3.0)).abs() < 1e-15);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`roc_auc`].
pub fn pr_auc(scores: &[f64], labels: &[bool]) -> Result<f64> {
    let (positives, _) = check(scores, labels)?;
    let order = by_score_descending(scores);
    let (mut tp, mut seen, mut ap, mut last_recall) = (0usize, 0usize, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            tp += usize::from(labels[order[j]]);
            seen += 1;
            j += 1;
        }
        let recall = tp as f64 / positives as f64;
        ap += (recall - last_recall) * tp as f64 / seen as f64;
        last_recall = recall;
        i = j;
    }
    Ok(ap)
}

fn check_probabilities(p: &[f64]) -> Result<()> {
    if let Some(&v) = p.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(Error::InvalidArgument { name: "probability", reason: format!("{v} is outside 0..=1") });
    }
    Ok(())
}

/// Brier score: the mean of `(p − y)²`, with `y` = 1 for churners.
///
/// # Errors
/// As [`roc_auc`], and probabilities outside `0..=1`.
pub fn brier_score(probabilities: &[f64], labels: &[bool]) -> Result<f64> {
    check(probabilities, labels)?;
    check_probabilities(probabilities)?;
    Ok(probabilities.iter().zip(labels).map(|(&p, &y)| (p - f64::from(u8::from(y))).powi(2)).sum::<f64>()
        / probabilities.len() as f64)
}

/// Log loss: the mean of `−[y ln p + (1 − y) ln(1 − p)]`, probabilities
/// clipped to `[1e-15, 1 − 1e-15]` so a confident mistake costs ~34.5, not ∞.
///
/// # Errors
/// As [`brier_score`].
pub fn log_loss(probabilities: &[f64], labels: &[bool]) -> Result<f64> {
    check(probabilities, labels)?;
    check_probabilities(probabilities)?;
    Ok(probabilities
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            if y { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum::<f64>()
        / probabilities.len() as f64)
}

/// One row of a calibration or lift table.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct ScoreBin {
    /// Customers in the bin.
    pub customers: usize,
    /// Lowest and highest score in it.
    pub score_range: (f64, f64),
    /// Mean score.
    pub mean_score: f64,
    /// Share of churners.
    pub churn_rate: f64,
    /// `churn_rate ÷` the overall churn rate.
    pub lift: f64,
}

/// Customers sorted by score (descending) and cut into `bins` groups of
/// sizes differing by at most one (the first `n mod bins` get one more);
/// bin 0 holds the highest scores.
///
/// # Errors
/// As [`roc_auc`], and `bins` outside `1..=n`.
pub fn score_bins(scores: &[f64], labels: &[bool], bins: usize) -> Result<Vec<ScoreBin>> {
    let (positives, _) = check(scores, labels)?;
    let n = scores.len();
    if bins == 0 || bins > n {
        return Err(Error::InvalidArgument { name: "bins", reason: format!("{bins} bins for {n} customers") });
    }
    let overall = positives as f64 / n as f64;
    let order = by_score_descending(scores);
    let mut out = Vec::with_capacity(bins);
    let mut start = 0;
    for b in 0..bins {
        let size = n / bins + usize::from(b < n % bins);
        let members = &order[start..start + size];
        let churners = members.iter().filter(|&&k| labels[k]).count();
        let mean_score = members.iter().map(|&k| scores[k]).sum::<f64>() / size as f64;
        let rate = churners as f64 / size as f64;
        out.push(ScoreBin {
            customers: size,
            score_range: (scores[members[size - 1]], scores[members[0]]),
            mean_score,
            churn_rate: rate,
            lift: rate / overall,
        });
        start += size;
    }
    Ok(out)
}

/// A scorer's results on labelled customers.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Evaluation {
    /// Customers.
    pub customers: usize,
    /// Share of churners.
    pub churn_rate: f64,
    /// [`roc_auc`].
    pub roc_auc: f64,
    /// [`pr_auc`].
    pub pr_auc: f64,
    /// [`brier_score`], when the scores are probabilities.
    pub brier: Option<f64>,
    /// [`log_loss`], when the scores are probabilities.
    pub log_loss: Option<f64>,
    /// Ten bins by score ([`score_bins`]): the decile table, which for
    /// probabilities is also the calibration table (mean score against
    /// churn rate).
    pub deciles: Vec<ScoreBin>,
    /// Lift of the top decile.
    pub top_decile_lift: f64,
}

/// What a scorer's numbers are, which decides the measures that apply.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreScale {
    /// Probabilities of the labelled event, in `[0, 1]`: ranking measures
    /// plus the Brier score and the log loss.
    Probability,
    /// Scores that only rank customers (e.g. days overdue): ranking measures only.
    Ranking,
}

impl Evaluation {
    /// Evaluates `scores` (higher = more likely to churn) against `labels`
    /// (true = churned). With [`ScoreScale::Probability`] the Brier score
    /// and the log loss are computed as well.
    ///
    /// ```
    /// use customer_lifecycle::churn::{Evaluation, ScoreScale};
    ///
    /// let scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05];
    /// let labels = [true, true, false, true, false, false, false, false, false, false];
    /// let e = Evaluation::compute(&scores, &labels, ScoreScale::Probability)?;
    /// assert!(e.roc_auc > 0.9 && e.brier.is_some());
    /// assert!(Evaluation::compute(&scores, &labels, ScoreScale::Ranking)?.brier.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`roc_auc`]; fewer than 10 customers for the deciles.
    pub fn compute(scores: &[f64], labels: &[bool], scale: ScoreScale) -> Result<Evaluation> {
        let probabilities = scale == ScoreScale::Probability;
        let (positives, _) = check(scores, labels)?;
        let deciles = score_bins(scores, labels, 10)?;
        Ok(Evaluation {
            customers: scores.len(),
            churn_rate: positives as f64 / scores.len() as f64,
            roc_auc: roc_auc(scores, labels)?,
            pr_auc: pr_auc(scores, labels)?,
            brier: if probabilities { Some(brier_score(scores, labels)?) } else { None },
            log_loss: if probabilities { Some(log_loss(scores, labels)?) } else { None },
            top_decile_lift: deciles[0].lift,
            deciles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_by_hand_with_ties_and_extremes() {
        let labels = [true, false, true, false, false];
        // Perfect, reversed, constant.
        assert_eq!(roc_auc(&[5.0, 1.0, 4.0, 2.0, 3.0], &labels).unwrap(), 1.0);
        assert_eq!(roc_auc(&[1.0, 5.0, 2.0, 4.0, 3.0], &labels).unwrap(), 0.0);
        assert_eq!(roc_auc(&[1.0; 5], &labels).unwrap(), 0.5);
        // Brute force over pairs on a tied example.
        let s = [0.3, 0.3, 0.7, 0.1, 0.7, 0.3];
        let y = [true, false, true, false, false, true];
        let mut wins = 0.0;
        let mut pairs = 0.0;
        for i in 0..6 {
            for j in 0..6 {
                if y[i] && !y[j] {
                    pairs += 1.0;
                    wins += if s[i] > s[j] {
                        1.0
                    } else if s[i] == s[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        assert!((roc_auc(&s, &y).unwrap() - wins / pairs).abs() < 1e-15);
    }

    #[test]
    fn average_precision_by_hand() {
        // Ranked: 0.9 T, 0.8 F, 0.7 T, 0.6 F: AP = 0.5·1 + 0.5·(2/3).
        let ap = pr_auc(&[0.9, 0.8, 0.7, 0.6], &[true, false, true, false]).unwrap();
        assert!((ap - (0.5 + 1.0 / 3.0)).abs() < 1e-15);
        // A tie of one churner and one stayer at the top enters together: precision ½ at recall ½.
        let ap = pr_auc(&[0.9, 0.9, 0.1], &[true, false, true]).unwrap();
        assert!((ap - (0.5 * 0.5 + 0.5 * (2.0 / 3.0))).abs() < 1e-15);
    }

    #[test]
    fn brier_log_loss_and_bins_by_hand() {
        let p = [0.8, 0.3, 0.6, 0.1];
        let y = [true, false, false, false];
        assert!((brier_score(&p, &y).unwrap() - (0.04 + 0.09 + 0.36 + 0.01) / 4.0).abs() < 1e-15);
        let expected = -(0.8f64.ln() + 0.7f64.ln() + 0.4f64.ln() + 0.9f64.ln()) / 4.0;
        assert!((log_loss(&p, &y).unwrap() - expected).abs() < 1e-15);
        assert!(log_loss(&[0.0, 1.0], &[true, false]).unwrap().is_finite());
        assert!(brier_score(&[1.2, 0.0], &[true, false]).is_err());
        // Bins of 2 and 2: top bin {0.8 T, 0.6 F} churn ½, lift ½ / ¼ = 2.
        let bins = score_bins(&p, &y, 2).unwrap();
        assert_eq!(bins[0].customers, 2);
        assert_eq!(bins[0].churn_rate, 0.5);
        assert_eq!(bins[0].lift, 2.0);
        assert_eq!(bins[0].score_range, (0.6, 0.8));
        assert_eq!(bins[1].lift, 0.0);
        // Uneven: 5 into 2 bins → 3 and 2.
        let bins = score_bins(&[0.5, 0.4, 0.3, 0.2, 0.1], &[true, false, false, true, false], 2).unwrap();
        assert_eq!((bins[0].customers, bins[1].customers), (3, 2));
    }

    #[test]
    fn bad_input() {
        assert!(roc_auc(&[0.1, 0.2], &[true, true]).is_err());
        assert!(roc_auc(&[0.1], &[true, false]).is_err());
        assert!(matches!(roc_auc(&[f64::NAN, 0.2], &[true, false]), Err(Error::NonFinite { .. })));
        assert!(score_bins(&[0.1, 0.2], &[true, false], 3).is_err());
        assert!(Evaluation::compute(&[0.1, 0.2], &[true, false], ScoreScale::Probability).is_err()); // fewer than 10
    }
}
