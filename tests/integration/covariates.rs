//! BG/NBD and MBG/NBD with time-invariant covariates: each customer's
//! likelihood against an independent mpmath computation, parameter
//! recovery on data simulated with known effects, a covariate without
//! effect, and the bad inputs.

use customer_lifecycle::clv::{
    BetaGeo, BetaGeoCovariates, BetaGeoVariant, CovariateOptions, Covariates, FitOptions, LikelihoodRatioTest,
    ParetoNbd, ParetoNbdCovariates, SimulatedCustomers,
};
use customer_lifecycle::ndarray::Array1;
use customer_lifecycle::{CustomerId, Error, SummaryOptions, TimeUnit, TransactionLog};

#[test]
fn likelihood_matches_mpmath() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bgnbd_covariates.csv")).unwrap();
    let mut rows = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let v = |i: usize| f[i].parse::<f64>().unwrap();
        let base = match f[0] {
            "classic" => BetaGeo::new(v(1), v(2), v(3), v(4)).unwrap(),
            _ => BetaGeo::modified(v(1), v(2), v(3), v(4)).unwrap(),
        };
        let model =
            BetaGeoCovariates::new(&base, vec![("p1".into(), v(5)), ("p2".into(), v(6))], vec![("d1".into(), v(7))])
                .unwrap();
        let customer = model.customer_model(&[v(11), v(12)], &[v(13)]).unwrap();
        let got = customer.log_likelihood(v(8), v(9), v(10)).unwrap();
        let expected = v(14);
        assert!(((got - expected) / expected).abs() < 1e-10, "{line}: {got}");
        rows += 1;
    }
    assert_eq!(rows, 64);
}

#[test]
fn pareto_likelihood_matches_mpmath() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pareto_nbd_covariates.csv"))
            .unwrap();
    let mut rows = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let v = |i: usize| f[i].parse::<f64>().unwrap();
        let base = ParetoNbd::new(v(0), v(1), v(2), v(3)).unwrap();
        let model =
            ParetoNbdCovariates::new(&base, vec![("p1".into(), v(4)), ("p2".into(), v(5))], vec![("d1".into(), v(6))])
                .unwrap();
        let customer = model.customer_model(&[v(10), v(11)], &[v(12)]).unwrap();
        let got = customer.log_likelihood(v(7), v(8), v(9)).unwrap();
        assert!(((got - v(13)) / v(13)).abs() < 1e-10, "{line}: {got}");
        rows += 1;
    }
    assert_eq!(rows, 32);
}

/// `n` customers with covariates income (−1, 0, 1), tier (basic/gold) and
/// app (0/1), simulated with known effects; their ids and columns.
struct Simulated {
    ids: Vec<CustomerId>,
    x: Array1<f64>,
    t_x: Array1<f64>,
    t: Array1<f64>,
    covariates: Covariates,
}

/// Simulates customers of given purchase and drop-out covariates, ages and seed.
type Simulator<'a> = &'a dyn Fn(&[f64], &[f64], &[f64], u64) -> SimulatedCustomers;

fn simulate(customer: Simulator<'_>, per_group: usize, seed: u64) -> Simulated {
    let (mut x, mut t_x, mut t) = (Vec::new(), Vec::new(), Vec::new());
    let (mut income, mut tier, mut app) = (Vec::new(), Vec::new(), Vec::new());
    let mut group = 0;
    for inc in [-1.0, 0.0, 1.0] {
        for gold in [0.0, 1.0] {
            for a in [0.0, 1.0] {
                group += 1;
                let ages: Vec<f64> = (0..per_group).map(|i| 26.0 + (i % 27) as f64).collect();
                let sim = customer(&[inc, gold], &[inc, a], &ages, seed * 1_000 + group);
                x.extend(sim.frequency.iter());
                t_x.extend(sim.recency.iter());
                t.extend(sim.age.iter());
                income.extend(std::iter::repeat_n(inc, per_group));
                tier.extend(std::iter::repeat_n(if gold == 1.0 { "gold" } else { "basic" }, per_group));
                app.extend(std::iter::repeat_n(a, per_group));
            }
        }
    }
    let ids: Vec<CustomerId> = (0..x.len() as i64).map(CustomerId::from).collect();
    let covariates = Covariates::builder(ids.clone())
        .numeric("income", income)
        .unwrap()
        .categorical("tier", &tier, Some("basic"))
        .unwrap()
        .numeric("app", app)
        .unwrap()
        .build()
        .unwrap();
    Simulated { ids, x: x.into(), t_x: t_x.into(), t: t.into(), covariates }
}

/// BG/NBD with covariates fitted to simulated customers.
fn fit_classic(sim: &Simulated, options: &CovariateOptions) -> customer_lifecycle::Result<BetaGeoCovariates> {
    BetaGeoCovariates::fit_columns(
        BetaGeoVariant::Classic,
        &sim.ids,
        sim.x.view(),
        sim.t_x.view(),
        sim.t.view(),
        &sim.covariates,
        options,
    )
}

/// Customer `i`'s log-likelihood under their own model, from their
/// purchase and drop-out covariates.
type OwnLogLikelihood<'a> = &'a dyn Fn(usize, &[f64], &[f64]) -> f64;

/// Checks a fit to simulated data: each of the eight parameters within
/// three standard errors of the truth and seven of eight within two, and
/// the fit's (grouped, chain-rule) log-likelihood equal to the sum of each
/// customer's own model's (`own_ll(i, z_P, z_D)`).
fn check_recovery(
    what: &str,
    report: &customer_lifecycle::clv::FitReport,
    true_values: [f64; 8],
    sim: &Simulated,
    own_ll: OwnLogLikelihood<'_>,
) {
    let mut within_two = 0;
    for (i, truth) in true_values.iter().enumerate() {
        let (estimate, se) = (report.parameters[i], report.standard_errors[i]);
        let z = (estimate - truth) / se;
        assert!(z.abs() < 3.0, "{what} {}: {estimate} ± {se} (truth {truth})", report.parameter_names[i]);
        within_two += usize::from(z.abs() < 2.0);
    }
    assert!(within_two >= 7, "{what}: {within_two} of 8 within two standard errors");
    let per_customer: f64 = (0..sim.ids.len())
        .map(|i| {
            let z = |n: &str| sim.covariates.value(&sim.ids[i], n).unwrap();
            own_ll(i, &[z("income"), z("tier=gold")], &[z("income"), z("app")])
        })
        .sum();
    assert!(((report.log_likelihood - per_customer) / per_customer).abs() < 1e-11);
}

#[test]
fn known_effects_are_recovered_within_their_standard_errors() {
    for (variant, base) in [
        (BetaGeoVariant::Classic, BetaGeo::new(0.9, 5.0, 0.8, 3.0).unwrap()),
        (BetaGeoVariant::Modified, BetaGeo::modified(0.9, 5.0, 0.8, 3.0).unwrap()),
    ] {
        // Income in both processes, gold in the purchase process only, the app
        // in the drop-out process only.
        let truth = BetaGeoCovariates::new(
            &base,
            vec![("income".into(), 0.4), ("tier=gold".into(), -0.5)],
            vec![("income".into(), -0.6), ("app".into(), 0.7)],
        )
        .unwrap();
        let sim = simulate(
            &|zp, zd, ages, seed| {
                let model = truth.customer_model(zp, zd).unwrap();
                assert_eq!(model.variant(), variant);
                model.simulate(ages, seed).unwrap()
            },
            700,
            7,
        );
        let options = CovariateOptions::new().purchase(&["income", "tier=gold"]).dropout(&["income", "app"]);
        let fitted = BetaGeoCovariates::fit_columns(
            variant,
            &sim.ids,
            sim.x.view(),
            sim.t_x.view(),
            sim.t.view(),
            &sim.covariates,
            &options,
        )
        .unwrap();
        let report = fitted.report().unwrap();
        let (r, alpha, a, b) = base.parameters();
        check_recovery(&format!("{variant:?}"), report, [r, alpha, a, b, 0.4, -0.5, -0.6, 0.7], &sim, &|i, zp, zd| {
            fitted.customer_model(zp, zd).unwrap().log_likelihood(sim.x[i], sim.t_x[i], sim.t[i]).unwrap()
        });
        // Against the fit without covariates, the effects are plain.
        let free =
            BetaGeo::fit_variant(variant, sim.x.view(), sim.t_x.view(), sim.t.view(), &FitOptions::default()).unwrap();
        let test = LikelihoodRatioTest::between(free.report().unwrap(), report).unwrap();
        assert!(test.degrees_of_freedom == 4 && test.p_value < 1e-6, "{test:?}");
    }
}

#[test]
fn known_pareto_effects_are_recovered_within_their_standard_errors() {
    let base = ParetoNbd::new(0.9, 5.0, 0.7, 9.0).unwrap();
    let truth = ParetoNbdCovariates::new(
        &base,
        vec![("income".into(), 0.4), ("tier=gold".into(), -0.5)],
        vec![("income".into(), -0.6), ("app".into(), 0.7)],
    )
    .unwrap();
    let sim =
        simulate(&|zp, zd, ages, seed| truth.customer_model(zp, zd).unwrap().simulate(ages, seed).unwrap(), 700, 11);
    let options = CovariateOptions::new().purchase(&["income", "tier=gold"]).dropout(&["income", "app"]);
    let fitted = ParetoNbdCovariates::fit_columns(
        &sim.ids,
        sim.x.view(),
        sim.t_x.view(),
        sim.t.view(),
        &sim.covariates,
        &options,
    )
    .unwrap();
    let report = fitted.report().unwrap();
    let (r, alpha, s, beta) = base.parameters();
    check_recovery("Pareto/NBD", report, [r, alpha, s, beta, 0.4, -0.5, -0.6, 0.7], &sim, &|i, zp, zd| {
        fitted.customer_model(zp, zd).unwrap().log_likelihood(sim.x[i], sim.t_x[i], sim.t[i]).unwrap()
    });
}

#[test]
fn a_covariate_without_effect_changes_little_and_the_fit_without_it_is_its_zero() {
    let truth = BetaGeoCovariates::new(&BetaGeo::new(0.9, 5.0, 0.8, 3.0).unwrap(), vec![], vec![]).unwrap();
    // No effects in the truth: the covariate columns are noise.
    let base_sim = simulate(&|_, _, ages, seed| truth.base().simulate(ages, seed).unwrap(), 400, 3);
    let options = CovariateOptions::new().purchase(&["income"]).dropout(&["app"]);
    let fitted = fit_classic(&base_sim, &options).unwrap();
    let free = BetaGeo::fit_columns(base_sim.x.view(), base_sim.t_x.view(), base_sim.t.view(), &FitOptions::default())
        .unwrap();
    let (with, without) = (fitted.report().unwrap().log_likelihood, free.report().unwrap().log_likelihood);
    // Nested fits: the richer one is at least as likely, and the likelihood-ratio
    // statistic of two null effects is below χ²(2)'s 99.9 % point (13.8).
    assert!(with >= without - 1e-6, "{with} < {without}");
    let test = LikelihoodRatioTest::between(free.report().unwrap(), fitted.report().unwrap()).unwrap();
    assert_eq!(test.degrees_of_freedom, 2);
    assert!(test.p_value > 0.001, "{test:?}");
    // The covariate model at zero effects is the model without covariates.
    let zero = BetaGeoCovariates::new(&free, vec![("income".into(), 0.0)], vec![("app".into(), 0.0)]).unwrap();
    let m = zero.customer_model(&[1.0], &[1.0]).unwrap();
    assert_eq!(m.parameters(), free.parameters());
}

#[test]
fn bad_covariates_are_typed_errors() {
    let summary = TransactionLog::cdnow_sample().unwrap().summarize(&SummaryOptions::new(TimeUnit::Week)).unwrap();
    let ids = summary.ids().to_vec();
    let n = ids.len();
    let fit = |covariates: &Covariates, options: &CovariateOptions| {
        BetaGeoCovariates::fit(BetaGeoVariant::Classic, &summary, covariates, options)
    };
    // A customer without covariates is named.
    let partial = Covariates::builder(ids[1..].to_vec())
        .numeric("z", (1..n).map(|i| (i % 3) as f64).collect())
        .unwrap()
        .build()
        .unwrap();
    match fit(&partial, &CovariateOptions::new().purchase(&["z"])) {
        Err(Error::InvalidModelInput { customer: Some(c), .. }) => assert_eq!(c, ids[0].to_string()),
        other => panic!("{other:?}"),
    }
    // A constant column, collinear columns, an unknown column.
    let z: Vec<f64> = (0..n).map(|i| (i % 3) as f64).collect();
    let covariates = Covariates::builder(ids.clone())
        .numeric("z", z.clone())
        .unwrap()
        .numeric("twice", z.iter().map(|v| 2.0 * v + 1.0).collect())
        .unwrap()
        .numeric("one", vec![1.0; n])
        .unwrap()
        .build()
        .unwrap();
    assert!(matches!(
        fit(&covariates, &CovariateOptions::new().purchase(&["one"])),
        Err(Error::NotIdentifiable { .. })
    ));
    let e = fit(&covariates, &CovariateOptions::new().dropout(&["z", "twice"])).unwrap_err();
    assert!(matches!(e, Error::NotIdentifiable { .. }) && e.to_string().contains("collinear"), "{e}");
    assert!(matches!(
        fit(&covariates, &CovariateOptions::new().purchase(&["nope"])),
        Err(Error::InvalidArgument { .. })
    ));
    // A customer twice, a NaN, a single level.
    let twice = vec![ids[0].clone(), ids[0].clone()];
    assert!(Covariates::builder(twice).numeric("z", vec![0.0, 1.0]).is_err());
    assert!(Covariates::builder(ids.clone()).numeric("z", vec![f64::NAN; n]).is_err());
    assert!(Covariates::builder(ids.clone()).categorical("c", &vec!["same"; n], None).is_err());
    // Separation: a covariate that marks exactly the customers without a
    // repeat purchase drives its drop-out effect without bound. Unpenalised,
    // the fit ends in a typed error or a finite estimate, never NaN; with
    // an L2 penalty it is a finite, regularised estimate.
    let marks: Vec<f64> = (0..n).map(|i| f64::from(u8::from(summary.frequency()[i] == 0.0))).collect();
    let separating = Covariates::builder(ids.clone()).numeric("never_back", marks).unwrap().build().unwrap();
    match fit(&separating, &CovariateOptions::new().purchase(&["never_back"])) {
        Ok(m) => assert!(m.purchase_effects()[0].1.is_finite()),
        Err(e) => assert!(matches!(e, Error::FitFailed { .. } | Error::NotIdentifiable { .. }), "{e}"),
    }
    let held = fit(&separating, &CovariateOptions::new().purchase(&["never_back"]).l2(1.0, 0.0)).unwrap();
    let effect = held.purchase_effects()[0].1;
    assert!(effect.is_finite() && effect.abs() < 20.0, "{effect}");
}

/// The constraints: one effect for both processes, and effects held at a
/// value. A likelihood-ratio test keeps a true equality (at about its
/// level across seeds) and rejects a false one.
#[test]
fn equality_and_fixed_constraints_and_their_tests() {
    let base = BetaGeo::new(0.9, 5.0, 0.8, 3.0).unwrap();
    let fit = |sim: &Simulated, options: &CovariateOptions| fit_classic(sim, options).unwrap();
    let free = CovariateOptions::new().purchase(&["income", "tier=gold"]).dropout(&["income", "app"]);
    let same = free.clone().same_effect(&["income"]);
    let (mut kept, mut rejected) = (0, 0);
    let seeds = 8;
    for seed in 0..seeds {
        for (equal, income_dropout) in [(true, 0.5), (false, -0.6)] {
            let truth = BetaGeoCovariates::new(
                &base,
                vec![("income".into(), 0.5), ("tier=gold".into(), -0.5)],
                vec![("income".into(), income_dropout), ("app".into(), 0.7)],
            )
            .unwrap();
            let sim = simulate(
                &|zp, zd, ages, s| truth.customer_model(zp, zd).unwrap().simulate(ages, s).unwrap(),
                300,
                100 + seed,
            );
            let (unrestricted, restricted) = (fit(&sim, &free), fit(&sim, &same));
            let names = &restricted.report().unwrap().parameter_names;
            assert_eq!(names[4..], ["both:income", "purchase:tier=gold", "dropout:app"]);
            // The shared parameter is both processes' effect.
            assert_eq!(restricted.purchase_effects()[0].1, restricted.dropout_effects()[0].1);
            let test =
                LikelihoodRatioTest::between(restricted.report().unwrap(), unrestricted.report().unwrap()).unwrap();
            assert_eq!(test.degrees_of_freedom, 1);
            match equal {
                true => kept += usize::from(test.p_value >= 0.05),
                false => rejected += usize::from(test.p_value < 0.001),
            }
        }
    }
    // A true equality is rejected at 5 % about once in twenty; three or more
    // rejections of eight would happen by chance about once in a hundred.
    assert!(kept >= seeds as usize - 2, "a true equality kept {kept} times of {seeds}");
    assert_eq!(rejected, seeds as usize, "a false equality rejected {rejected} times of {seeds}");

    // A fixed effect is not estimated and keeps its value.
    let truth = BetaGeoCovariates::new(
        &base,
        vec![("income".into(), 0.5), ("tier=gold".into(), -0.5)],
        vec![("income".into(), -0.6), ("app".into(), 0.7)],
    )
    .unwrap();
    let sim = simulate(&|zp, zd, ages, s| truth.customer_model(zp, zd).unwrap().simulate(ages, s).unwrap(), 300, 9);
    let held = fit(&sim, &free.clone().fix_dropout("app", 0.7));
    assert_eq!(held.dropout_effects()[1], ("app".to_string(), 0.7));
    assert_eq!(held.report().unwrap().parameters.len(), 7);
    let unrestricted = fit(&sim, &free);
    let test = LikelihoodRatioTest::between(held.report().unwrap(), unrestricted.report().unwrap()).unwrap();
    assert!(test.degrees_of_freedom == 1 && test.p_value > 0.001, "{test:?}");
    // Bad constraints are typed errors.
    let options = CovariateOptions::new().purchase(&["income"]).same_effect(&["income"]);
    let e = fit_classic(&sim, &options).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    let options = CovariateOptions::new().purchase(&["income"]).fix_purchase("app", 1.0);
    assert!(fit_classic(&sim, &options).is_err());
}

/// Standardising a covariate reparametrises the model: the same
/// likelihood, the effect scaled by the standard deviation.
#[test]
fn a_standardised_covariate_scales_its_effect_and_keeps_the_likelihood() {
    let base = BetaGeo::new(0.9, 5.0, 0.8, 3.0).unwrap();
    let truth = BetaGeoCovariates::new(
        &base,
        vec![("income".into(), 0.5), ("tier=gold".into(), -0.5)],
        vec![("income".into(), -0.4), ("app".into(), 0.7)],
    )
    .unwrap();
    let sim = simulate(&|zp, zd, ages, s| truth.customer_model(zp, zd).unwrap().simulate(ages, s).unwrap(), 300, 21);
    // Income in thousands rather than in the simulated units.
    let raw: Vec<f64> = sim.ids.iter().map(|id| 40.0 + 10.0 * sim.covariates.value(id, "income").unwrap()).collect();
    let n = raw.len() as f64;
    let mean = raw.iter().sum::<f64>() / n;
    let sd = (raw.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
    let plain = Covariates::builder(sim.ids.clone()).numeric("income", raw.clone()).unwrap().build().unwrap();
    let standard = Covariates::builder(sim.ids.clone()).numeric_standardised("income", raw).unwrap().build().unwrap();
    let options = CovariateOptions::new().purchase(&["income"]).dropout(&["income"]);
    let fit = |c: &Covariates| {
        BetaGeoCovariates::fit_columns(
            BetaGeoVariant::Classic,
            &sim.ids,
            sim.x.view(),
            sim.t_x.view(),
            sim.t.view(),
            c,
            &options,
        )
        .unwrap()
    };
    let (a, b) = (fit(&plain), fit(&standard));
    let (la, lb) = (a.report().unwrap().log_likelihood, b.report().unwrap().log_likelihood);
    assert!(((la - lb) / la).abs() < 1e-9, "{la} {lb}");
    for (x, y) in a
        .purchase_effects()
        .iter()
        .chain(a.dropout_effects())
        .zip(b.purchase_effects().iter().chain(b.dropout_effects()))
    {
        assert!((x.1 * sd - y.1).abs() < 1e-4 * y.1.abs().max(1e-3), "{} × {sd} against {}", x.1, y.1);
    }
    assert!(Covariates::builder(sim.ids.clone()).numeric_standardised("c", vec![3.0; sim.ids.len()]).is_err());
}

/// `lifecycle_report --covariates`: every column in both processes by
/// default, or chosen per process; a customer missing from the file is a
/// typed error naming them.
#[test]
fn the_report_fits_and_predicts_with_a_covariates_file() {
    use crate::lifecycle_report::run_cli;
    let summary = TransactionLog::cdnow_sample().unwrap().summarize(&SummaryOptions::new(TimeUnit::Week)).unwrap();
    let dir = std::env::temp_dir().join(format!("clm-covariates-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut csv = String::from("customer_id,age,channel\n");
    for (i, id) in summary.ids().iter().enumerate() {
        let channel = ["web", "store", "web", "app"][i % 4];
        csv.push_str(&format!("{id},{},{channel}\n", 20 + (i * 7) % 50));
    }
    let path = dir.join("covariates.csv");
    std::fs::write(&path, &csv).unwrap();
    let predictions = dir.join("predictions.csv");
    let p = path.to_str().unwrap();
    run_cli(&["--covariates", p, "--predictions-csv", predictions.to_str().unwrap()]).unwrap();
    let written = std::fs::read_to_string(&predictions).unwrap();
    assert_eq!(written.lines().count(), summary.len() + 1);
    run_cli(&[
        "--covariates",
        p,
        "--model",
        "pareto",
        "--covariates-purchase",
        "age",
        "--covariates-dropout",
        "channel=app",
    ])
    .unwrap();
    // One customer left out of the file.
    let short: String = csv.lines().take(csv.lines().count() - 1).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, short).unwrap();
    let e = run_cli(&["--covariates", p]).unwrap_err().to_string();
    let last = summary.ids().last().unwrap().to_string();
    assert!(e.contains(&last) && e.contains("no covariates"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
