//! The models against the published CDNOW figures (../shared/DESIGN.md §6).
//! Tolerances: parameters within 1e-3 relative, log-likelihood within 0.01.

use customer_lifecycle::chrono::NaiveDate;
use customer_lifecycle::clv::{
    BetaGeo, BetaGeoBetaBinom, BetaGeoVariant, Clv, FitOptions, GammaGamma, ParetoNbd, ShiftedBetaGeometric, Span,
};
use customer_lifecycle::ndarray::Array1;
use customer_lifecycle::{PurchaseSummary, SummaryOptions, TimeUnit, TransactionLog};

fn cdnow_sample_summary() -> PurchaseSummary {
    let log =
        TransactionLog::from_cdnow_sample_path(concat!(env!("CARGO_MANIFEST_DIR"), "/data/CDNOW_sample.txt")).unwrap();
    log.summarize(
        &SummaryOptions::new(TimeUnit::Week)
            .calibration_end(NaiveDate::from_ymd_opt(1997, 9, 30).unwrap())
            .observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap()),
    )
    .unwrap()
}

/// The published summary file: ID, x, t_x, T (2 decimals), zbar.
fn published_columns() -> (Array1<f64>, Array1<f64>, Array1<f64>, Array1<f64>) {
    let text = include_str!("../fixtures/cdnow_customers_summary_with_transactions.csv");
    let rows: Vec<Vec<f64>> =
        text.lines().skip(1).map(|l| l.trim().split(',').map(|c| c.parse().unwrap()).collect()).collect();
    let col = |i: usize| rows.iter().map(|r| r[i]).collect::<Array1<f64>>();
    (col(1), col(2), col(3), col(4))
}

fn close(got: f64, expected: f64, rel: f64) -> bool {
    (got - expected).abs() <= rel * expected.abs()
}

#[test]
fn bgnbd_reproduces_the_published_fit() {
    let (x, t_x, t, _) = published_columns();
    let m = BetaGeo::fit_columns(x.view(), t_x.view(), t.view(), &FitOptions::default()).unwrap();
    let report = m.report().unwrap();
    println!("{report}");
    let (r, alpha, a, b) = m.parameters();
    for (got, expected) in [(r, 0.2426), (alpha, 4.4136), (a, 0.7929), (b, 2.4259)] {
        assert!(close(got, expected, 1e-3), "{report}");
    }
    assert!((report.log_likelihood - -9582.43).abs() < 0.01, "{report}");
    assert!(report.converged);
    // Standard errors as lifetimes 0.11.3 prints them for this fit (its
    // diagonal is right; its off-diagonals are not): within 1 %.
    for (got, expected) in report.standard_errors.iter().zip([0.012557, 0.378221, 0.185719, 0.705345]) {
        assert!(close(*got, expected, 1e-2), "{report}");
    }

    // Our own summary of the raw sample gives the same fit (unrounded t_x, T).
    let own = BetaGeo::fit(&cdnow_sample_summary()).unwrap();
    println!("{}", own.report().unwrap());
    let (r2, alpha2, a2, b2) = own.parameters();
    for (got, expected) in [(r2, r), (alpha2, alpha), (a2, a), (b2, b)] {
        assert!(close(got, expected, 2e-3), "{} vs {expected}", got);
    }
}

#[test]
fn gamma_gamma_reproduces_the_published_fit() {
    let (x, _, _, zbar) = published_columns();
    let m = GammaGamma::fit_columns(x.view(), zbar.view(), &FitOptions::default()).unwrap();
    let report = m.report().unwrap();
    println!("{report}");
    let (p, q, gamma) = m.parameters();
    for (got, expected) in [(p, 6.2488), (q, 3.7446), (gamma, 15.4477)] {
        assert!(close(got, expected, 1e-3), "{report}");
    }
    assert!((report.log_likelihood - -4055.92).abs() < 0.01, "{report}");
    let data = m.data().unwrap();
    assert_eq!((data.customers, data.excluded_zero_spend), (946, 0));
    // CDNOW's frequency and spend are nearly independent (Fader, Hardie & Lee: 0.11).
    assert!(data.frequency_spend_correlation.abs() < 0.2, "{}", data.frequency_spend_correlation);
    assert!(data.independence_warning().is_none());

    // On CDNOW_master's full calibration summary one repeat customer has zero
    // mean spend: left out and counted.
    let log =
        TransactionLog::from_cdnow_master_path(concat!(env!("CARGO_MANIFEST_DIR"), "/data/CDNOW_master.txt")).unwrap();
    let s = log
        .summarize(&SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap()))
        .unwrap();
    let full = GammaGamma::fit(&s).unwrap();
    assert_eq!(full.data().unwrap().excluded_zero_spend, 1);
}

#[test]
fn bgbb_reproduces_the_published_donations_fit() {
    let text = include_str!("../fixtures/donations.csv");
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    let col = |i: usize| rows.iter().map(|r| r[i]).collect::<Array1<f64>>();
    let (x, t_x, n, w) = (col(0), col(1), col(2), col(3));
    assert_eq!(w.sum(), 11_104.0);
    let m = BetaGeoBetaBinom::fit_grouped(x.view(), t_x.view(), n.view(), w.view(), &FitOptions::default()).unwrap();
    let report = m.report().unwrap();
    println!("{report}");
    let (a, b, g, d) = m.parameters();
    for (got, expected) in [(a, 1.2035), (b, 0.7498), (g, 0.6568), (d, 2.7839)] {
        assert!(close(got, expected, 1e-3), "{report}");
    }
    assert!((report.log_likelihood - -33225.58).abs() < 0.01, "{report}");
    // One row per donor (the grouping done by the crate) gives the same fit.
    let expand = |c: &Array1<f64>| -> Array1<f64> {
        c.iter().zip(w.iter()).flat_map(|(&v, &k)| std::iter::repeat_n(v, k as usize)).collect()
    };
    let (ex, et, en) = (expand(&x), expand(&t_x), expand(&n));
    assert_eq!(ex.len(), 11_104);
    let one_by_one = BetaGeoBetaBinom::fit_columns(ex.view(), et.view(), en.view(), &FitOptions::default()).unwrap();
    let (a2, b2, g2, d2) = one_by_one.parameters();
    for (got, grouped) in [(a2, a), (b2, b), (g2, g), (d2, d)] {
        assert!(close(got, grouped, 1e-6), "{got} vs {grouped}");
    }
    let p = m.probability_alive(3.0, 4.0, 6.0).unwrap();
    let se = m.standard_error(|b| b.probability_alive(3.0, 4.0, 6.0)).unwrap();
    assert!(se > 0.0 && se < 0.1 * p, "P(alive) {p} ± {se}");
}

#[test]
fn sbg_reproduces_the_published_cohort_fits() {
    let text = include_str!("../fixtures/sbg_fader_hardie_2007.csv");
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    // The published fits use years 0..=7.
    for (column, alpha, beta, ll) in [(1, 0.704, 1.182, -1680.27), (2, 0.668, 3.806, -1611.16)] {
        let survivors: Vec<f64> = rows.iter().take(8).map(|r| r[column]).collect();
        let m = ShiftedBetaGeometric::fit_survivors(&survivors).unwrap();
        let report = m.report().unwrap();
        println!("{report}");
        let (a, b) = m.parameters();
        assert!(close(a, alpha, 1e-3) && close(b, beta, 1e-3), "{report}");
        assert!((report.log_likelihood - ll).abs() < 0.01, "{report}");
        // α < 1 for both cohorts: the undiscounted expected lifetime is infinite.
        assert!(m.expected_lifetime().is_err());
        assert!(m.discounted_expected_residual_lifetime(1.0, 0.1).unwrap().is_finite());
        assert!(m.discounted_expected_lifetime(0.1).unwrap().is_finite());
    }
}

#[test]
fn pareto_nbd_reproduces_the_published_fit() {
    let (x, t_x, t, _) = published_columns();
    let m = ParetoNbd::fit_columns(x.view(), t_x.view(), t.view(), &FitOptions::default()).unwrap();
    let report = m.report().unwrap();
    println!("{report}");
    let (r, alpha, s, beta) = m.parameters();
    for (got, expected) in [(r, 0.5532), (alpha, 10.5763), (s, 0.6062), (beta, 11.6715)] {
        assert!(close(got, expected, 1e-3), "{report}");
    }
    assert!((report.log_likelihood - -9594.98).abs() < 0.01, "{report}");
}

#[test]
fn mbgnbd_reproduces_the_published_fit() {
    let (x, t_x, t, _) = published_columns();
    let m =
        BetaGeo::fit_variant(BetaGeoVariant::Modified, x.view(), t_x.view(), t.view(), &FitOptions::default()).unwrap();
    let report = m.report().unwrap();
    println!("{report}");
    let (r, alpha, a, b) = m.parameters();
    // Published to three decimals: within half a unit of the last digit.
    for (got, expected) in [(r, 0.525), (alpha, 6.183), (a, 0.891), (b, 1.614)] {
        assert!((got - expected).abs() <= 5e-4, "{report}");
    }
    assert!((report.log_likelihood - -9582.1).abs() < 0.05, "{report}");
}

/// Draws from N(mean, cov) through a Cholesky factor.
fn mvn_draws(mean: &[f64], cov: &customer_lifecycle::ndarray::Array2<f64>, n: usize, seed: u64) -> Vec<Vec<f64>> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    let k = mean.len();
    let mut l = vec![vec![0.0; k]; k];
    for i in 0..k {
        for j in 0..=i {
            let s: f64 = (0..j).map(|m| l[i][m] * l[j][m]).sum();
            l[i][j] = if i == j { (cov[[i, i]] - s).sqrt() } else { (cov[[i, j]] - s) / l[j][j] };
        }
    }
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let z: Vec<f64> = (0..k).map(|_| StandardNormal.sample(&mut rng)).collect();
            (0..k).map(|i| mean[i] + (0..=i).map(|j| l[i][j] * z[j]).sum::<f64>()).collect()
        })
        .collect()
}

#[test]
fn delta_method_agrees_with_a_parametric_bootstrap() {
    // Independent check of the delta-method standard errors: draw the
    // parameters from a normal distribution and take the spread of the
    // prediction. The delta method is a linearisation, so the check uses the
    // covariance scaled by 1/100, where the predictions are close to linear,
    // and expects agreement within 3 % (its SE scales exactly by 1/10). At
    // the full covariance the bootstrap spread is about 10 % larger (b's SE
    // is 30 % of b): that is the nonlinearity, printed for the record.
    let (x, t_x, t, _) = published_columns();
    let m = BetaGeo::fit_columns(x.view(), t_x.view(), t.view(), &FitOptions::default()).unwrap();
    let report = m.report().unwrap();
    type Prediction = Box<dyn Fn(&BetaGeo) -> customer_lifecycle::Result<f64>>;
    let predictions: [(&str, Prediction); 2] = [
        ("P(alive)", Box::new(|b: &BetaGeo| b.probability_alive(2.0, 30.43, 38.86))),
        ("E[Y(39)]", Box::new(|b: &BetaGeo| b.conditional_expected_purchases(39.0, 2.0, 30.43, 38.86))),
    ];
    for (name, g) in predictions {
        let delta = m.standard_error(&g).unwrap();
        let spread = |scale: f64| {
            let values: Vec<f64> = mvn_draws(&report.parameters, &(&report.covariance * scale), 8_000, 7)
                .into_iter()
                .filter(|p| p.iter().all(|v| *v > 0.0))
                .map(|p| g(&BetaGeo::new(p[0], p[1], p[2], p[3]).unwrap()).unwrap())
                .collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
        };
        let (small, full) = (spread(0.01), spread(1.0));
        println!(
            "{name}: delta {delta:.5}, bootstrap {full:.5}; at covariance/100: delta {:.6}, bootstrap {small:.6}",
            delta / 10.0
        );
        assert!((delta / 10.0 / small - 1.0).abs() < 0.03, "{name}: delta/10 {} vs bootstrap {small}", delta / 10.0);
    }
}

#[test]
fn clv_standard_error_combines_both_models() {
    let (x, t_x, t, zbar) = published_columns();
    let purchases = BetaGeo::fit_columns(x.view(), t_x.view(), t.view(), &FitOptions::default()).unwrap();
    let spend = GammaGamma::fit_columns(x.view(), zbar.view(), &FitOptions::default()).unwrap();
    let clv = Clv::new(&purchases, &spend).time_unit(TimeUnit::Week).horizon(Span::Weeks(52)).annual_discount_rate(0.1);
    let value = clv.customer(2.0, 30.43, 38.86, 22.35).unwrap();
    let se = clv.standard_error(2.0, 30.43, 38.86, 22.35).unwrap();
    // Each model's share, through the models' own delta method.
    let from_purchases = purchases
        .standard_error(|m| Clv::new(m, &spend).time_unit(TimeUnit::Week).customer(2.0, 30.43, 38.86, 22.35))
        .unwrap();
    let from_spend = spend
        .standard_error(|g| Clv::new(&purchases, g).time_unit(TimeUnit::Week).customer(2.0, 30.43, 38.86, 22.35))
        .unwrap();
    assert!((se - (from_purchases.powi(2) + from_spend.powi(2)).sqrt()).abs() < 1e-9 * se, "{se}");
    assert!(se > 0.0 && se < value, "CLV {value} ± {se}");
    // Models given by hand have no covariance.
    let unfitted = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap();
    assert!(Clv::new(&unfitted, &spend).time_unit(TimeUnit::Week).standard_error(2.0, 30.43, 38.86, 22.35).is_err());
}

#[test]
fn l2_penalty_shrinks_the_estimates() {
    let (x, t_x, t, _) = published_columns();
    let plain = BetaGeo::fit_columns(x.view(), t_x.view(), t.view(), &FitOptions::default()).unwrap();
    let penalised =
        BetaGeo::fit_columns(x.view(), t_x.view(), t.view(), &FitOptions::default().l2_penalty(10.0)).unwrap();
    let norm = |m: &BetaGeo| {
        let (r, alpha, a, b) = m.parameters();
        r * r + alpha * alpha + a * a + b * b
    };
    assert!(norm(&penalised) < norm(&plain));
    assert!(penalised.report().unwrap().log_likelihood < plain.report().unwrap().log_likelihood);
}

/// A fit from a histogram of distinct (x, t_x, T) and customer counts (what
/// `GROUP BY x, t_x, T` gives) is the fit from the columns, bit for bit
/// below the warm-start size, for each purchase model.
#[test]
fn histogram_fits_equal_column_fits() {
    use customer_lifecycle::clv::PurchaseHistogram;
    use std::collections::BTreeMap;
    let summary = cdnow_sample_summary();
    let (x, t_x, t) = (summary.frequency(), summary.recency(), summary.age());
    let mut counts: BTreeMap<(u64, u64, u64), u64> = BTreeMap::new();
    for i in (0..x.len()).rev() {
        *counts.entry((x[i].to_bits(), t_x[i].to_bits(), t[i].to_bits())).or_default() += 1;
    }
    // Split each count in two rows, as two partitions' group-bys would give.
    let (mut hx, mut htx, mut ht, mut hc) = (vec![], vec![], vec![], vec![]);
    for (&(a, b, c), &n) in &counts {
        for part in [n / 2, n - n / 2] {
            hx.push(f64::from_bits(a));
            htx.push(f64::from_bits(b));
            ht.push(f64::from_bits(c));
            hc.push(part);
        }
    }
    let histogram = PurchaseHistogram::from_counts(&hx, &htx, &ht, &hc).unwrap();
    assert_eq!(histogram, PurchaseHistogram::from_columns(x, t_x, t).unwrap());
    assert_eq!(histogram.customers(), summary.len() as u64);
    let options = FitOptions::default();
    for variant in [BetaGeoVariant::Classic, BetaGeoVariant::Modified] {
        let from_columns = BetaGeo::fit_variant(variant, x, t_x, t, &options).unwrap();
        let from_histogram = BetaGeo::fit_histogram(variant, &histogram, &options).unwrap();
        assert_eq!(from_columns.parameters(), from_histogram.parameters());
    }
    let from_columns = ParetoNbd::fit_columns(x, t_x, t, &options).unwrap();
    assert_eq!(from_columns.parameters(), ParetoNbd::fit_histogram(&histogram, &options).unwrap().parameters());
}
