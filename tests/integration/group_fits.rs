//! One model per group: the likelihood-ratio test of one model for all
//! rejects groups simulated from different models and keeps groups of one
//! population at the stated rate across seeds; each group's estimates
//! recover its own model; the empirical-Bayes shrinkage pulls a sparse
//! group further toward the pooled fit than a large one, and not at all
//! when the groups truly differ; acquisition months from the summary.

use customer_lifecycle::clv::{BetaGeo, FitOptions, GroupFits, ParetoNbd, PurchaseModel};
use customer_lifecycle::ndarray::Array1;
use customer_lifecycle::{CustomerId, SummaryOptions, TimeUnit, TransactionLog};

/// Columns of the groups' simulated customers, concatenated, with labels.
fn simulated(groups: &[(BetaGeo, usize)], seed: u64) -> (Vec<CustomerId>, [Array1<f64>; 3], Vec<String>) {
    let (mut x, mut t_x, mut age, mut labels) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (g, (model, n)) in groups.iter().enumerate() {
        let ages: Vec<f64> = (0..*n).map(|i| 20.0 + (i % 30) as f64).collect();
        let sim = model.simulate(&ages, seed * 10 + g as u64).unwrap();
        x.extend(sim.frequency.iter());
        t_x.extend(sim.recency.iter());
        age.extend(sim.age.iter());
        labels.extend(std::iter::repeat_n(format!("g{g}"), *n));
    }
    let ids = (0..labels.len() as i64).map(CustomerId::from).collect();
    (ids, [x.into(), t_x.into(), age.into()], labels)
}

fn fit_groups(ids: &[CustomerId], columns: &[Array1<f64>; 3], labels: &[String]) -> GroupFits {
    let views = [columns[0].view(), columns[1].view(), columns[2].view()];
    GroupFits::fit_columns(
        ids,
        views,
        |row, _| Some(labels[row].clone()),
        |x, t_x, t| BetaGeo::fit_columns(x, t_x, t, &FitOptions::default()),
    )
    .unwrap()
}

#[test]
fn different_groups_are_told_apart_and_recovered() {
    let truths = [
        BetaGeo::new(0.25, 4.0, 0.8, 2.4).unwrap(),
        BetaGeo::new(0.6, 4.0, 0.5, 3.0).unwrap(),
        BetaGeo::new(0.25, 12.0, 0.8, 2.4).unwrap(),
    ];
    let (ids, columns, labels) = simulated(&truths.iter().map(|m| (m.clone(), 4000)).collect::<Vec<_>>(), 1);
    let fits = fit_groups(&ids, &columns, &labels);
    assert_eq!(fits.test.degrees_of_freedom, 8);
    assert!(fits.test.p_value < 1e-10, "{fits}");
    for (g, truth) in fits.groups.iter().zip(&truths) {
        let (r, alpha, a, b) = truth.parameters();
        for ((value, se), t) in g.report.parameters.iter().zip(&g.report.standard_errors).zip([r, alpha, a, b]) {
            assert!((value - t).abs() < 3.0 * se, "{}: {value} ± {se} against {t}", g.group);
        }
        // Groups this different are barely shrunk.
        assert!(g.shrinkage[0] < 0.3 && g.shrinkage[1] < 0.3, "{}: {:?}", g.group, g.shrinkage);
    }
    // The table names every group and the test.
    let text = fits.to_string();
    assert!(text.contains("g2") && text.contains("one model for all"), "{text}");
}

#[test]
fn one_population_is_kept_and_a_sparse_group_shrinks_most() {
    let truth = BetaGeo::new(0.25, 4.0, 0.8, 2.4).unwrap();
    let mut rejections = 0;
    for seed in 0..8 {
        let (ids, columns, labels) =
            simulated(&[(truth.clone(), 3000), (truth.clone(), 3000), (truth.clone(), 150)], 100 + seed);
        let fits = fit_groups(&ids, &columns, &labels);
        if fits.test.p_value < 0.05 {
            rejections += 1;
        }
        let (big, sparse) = (&fits.groups[0], &fits.groups[2]);
        for j in 0..4 {
            assert!(sparse.shrinkage[j] >= big.shrinkage[j], "seed {seed}: {:?} {:?}", sparse.shrinkage, big.shrinkage);
            // Shrunk estimates lie between the group's own and the pooled.
            let (own, pooled, shrunk) = (sparse.report.parameters[j], fits.pooled.parameters[j], sparse.shrunk[j]);
            assert!(shrunk >= own.min(pooled) - 1e-12 && shrunk <= own.max(pooled) + 1e-12);
        }
    }
    // A true "one model for all" is rejected at 5 % in at most two of eight seeds.
    assert!(rejections <= 2, "{rejections} rejections of a true null");
}

#[test]
fn acquisition_months_of_a_log_and_a_group_too_small_to_fit() {
    use customer_lifecycle::chrono::Datelike;
    let summary = TransactionLog::cdnow_sample().unwrap().summarize(&SummaryOptions::new(TimeUnit::Week)).unwrap();
    let months: Vec<String> =
        summary.first_purchase_dates().iter().map(|d| format!("{}-{:02}", d.year(), d.month())).collect();
    let fits = GroupFits::fit(
        &summary,
        |row, _| Some(months[row].clone()),
        |x, t_x, t| ParetoNbd::fit_columns(x, t_x, t, &FitOptions::default()),
    )
    .unwrap();
    assert_eq!(fits.groups.iter().map(|g| g.group.as_str()).collect::<Vec<_>>(), ["1997-01", "1997-02", "1997-03"]);
    assert_eq!(fits.groups.iter().map(|g| g.customers).sum::<usize>(), summary.len());
    // A group of one customer cannot be fitted: the error names the group.
    let e = GroupFits::fit(
        &summary,
        |row, _| Some(if row == 7 { "alone".into() } else { "rest".into() }),
        |x, t_x, t| BetaGeo::fit_columns(x, t_x, t, &FitOptions::default()),
    )
    .unwrap_err();
    assert!(e.to_string().contains("alone"), "{e}");
    // The pooled fit is the model's own fit to everyone.
    let plain = BetaGeo::fit(&summary).unwrap();
    let pooled = GroupFits::fit(
        &summary,
        |row, _| Some(months[row].clone()),
        |x, t_x, t| BetaGeo::fit_columns(x, t_x, t, &FitOptions::default()),
    )
    .unwrap()
    .pooled;
    assert_eq!(pooled.parameters, plain.fit_report().unwrap().parameters);
}
