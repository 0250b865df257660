//! The timing of the next purchase against simulation from each model:
//! futures drawn from the distribution of a customer's parameters given
//! their history (alive with P(alive); then, for BG/NBD and MBG/NBD,
//! λ ~ Gamma(r+x, α+T); for Pareto/NBD also μ ~ Gamma(s, β+T), buying
//! only before dropping out; for BG/BB p ~ Beta(α+x, β+n−x) and
//! θ ~ Beta(γ, δ+n), surviving and then buying opportunity by
//! opportunity). The model's P(next purchase within t), P(any further
//! purchase), quantiles and mean waiting time within a horizon must match
//! the simulated ones within four standard errors; P(any further
//! purchase) is also the limit of P(next purchase within t).

use customer_lifecycle::clv::{BetaGeo, BetaGeoBetaBinom, ParetoNbd, PurchaseModel};
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Exp, Gamma};
use rand_xoshiro::Xoshiro256PlusPlus;

const DRAWS: usize = 200_000;

/// Simulated waiting times (∞: no further purchase) for one history.
fn simulate(model: &Model, x: f64, t_x: f64, age: f64, seed: u64) -> Vec<f64> {
    let mut g = Xoshiro256PlusPlus::seed_from_u64(seed);
    let alive = model.as_dyn().probability_alive(x, t_x, age).unwrap();
    (0..DRAWS)
        .map(|_| {
            if g.random::<f64>() >= alive {
                return f64::INFINITY;
            }
            match model {
                Model::BetaGeo(m) => {
                    let (r, alpha, _, _) = m.parameters();
                    let lambda: f64 = Gamma::new(r + x, 1.0 / (alpha + age)).unwrap().sample(&mut g);
                    Exp::new(lambda).unwrap().sample(&mut g)
                }
                Model::Pareto(m) => {
                    let (r, alpha, s, beta) = m.parameters();
                    let lambda: f64 = Gamma::new(r + x, 1.0 / (alpha + age)).unwrap().sample(&mut g);
                    let mu: f64 = Gamma::new(s, 1.0 / (beta + age)).unwrap().sample(&mut g);
                    let (buy, die): (f64, f64) =
                        (Exp::new(lambda).unwrap().sample(&mut g), Exp::new(mu).unwrap().sample(&mut g));
                    if buy < die { buy } else { f64::INFINITY }
                }
                Model::BetaGeoBetaBinom(m) => {
                    let (a, b, gamma, delta) = m.parameters();
                    let p: f64 = Beta::new(a + x, b + age - x).unwrap().sample(&mut g);
                    let theta: f64 = Beta::new(gamma, delta + age).unwrap().sample(&mut g);
                    for k in 1..1_000_000u32 {
                        if g.random::<f64>() < theta {
                            return f64::INFINITY;
                        }
                        if g.random::<f64>() < p {
                            return f64::from(k);
                        }
                    }
                    f64::INFINITY
                }
            }
        })
        .collect()
}

enum Model {
    BetaGeo(BetaGeo),
    Pareto(ParetoNbd),
    BetaGeoBetaBinom(BetaGeoBetaBinom),
}

impl Model {
    fn as_dyn(&self) -> &dyn PurchaseModel {
        match self {
            Model::BetaGeo(m) => m,
            Model::Pareto(m) => m,
            Model::BetaGeoBetaBinom(m) => m,
        }
    }
}

/// A model, histories (x, t_x, T) and horizons.
type Case = (Model, Vec<(f64, f64, f64)>, Vec<f64>);

fn within(a: f64, b: f64, p: f64, what: &str) {
    let se = (p * (1.0 - p) / DRAWS as f64).sqrt();
    assert!((a - b).abs() <= 4.0 * se + 1e-4, "{what}: model {a}, simulated {b} (se {se})");
}

#[test]
fn timing_matches_simulation_for_every_model() {
    let cases: Vec<Case> = vec![
        (
            Model::BetaGeo(BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap()),
            vec![(2.0, 30.0, 39.0), (5.0, 10.0, 39.0), (0.0, 0.0, 20.0)],
            vec![4.0, 13.0, 52.0],
        ),
        (
            Model::BetaGeo(BetaGeo::modified(0.525, 6.183, 0.891, 1.614).unwrap()),
            vec![(2.0, 30.0, 39.0), (0.0, 0.0, 39.0)],
            vec![4.0, 13.0, 52.0],
        ),
        (
            Model::Pareto(ParetoNbd::new(0.5533, 10.5776, 0.6062, 11.6679).unwrap()),
            vec![(2.0, 30.0, 39.0), (10.0, 38.0, 39.0), (0.0, 0.0, 39.0)],
            vec![4.0, 13.0, 52.0, 300.0],
        ),
        (
            Model::BetaGeoBetaBinom(BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839).unwrap()),
            vec![(3.0, 4.0, 6.0), (6.0, 6.0, 6.0), (1.0, 1.0, 6.0)],
            vec![1.0, 2.0, 5.0, 20.0],
        ),
    ];
    for (k, (model, histories, horizons)) in cases.iter().enumerate() {
        let m = model.as_dyn();
        for (j, &(x, t_x, age)) in histories.iter().enumerate() {
            let what = format!("{} ({x}, {t_x}, {age})", m.name());
            let waits = simulate(model, x, t_x, age, (k * 10 + j) as u64);
            let share = |t: f64| waits.iter().filter(|&&w| w <= t).count() as f64 / DRAWS as f64;
            for &t in horizons {
                let f = m.probability_purchase_within(t, x, t_x, age).unwrap();
                within(f, share(t), f, &format!("{what}: P(next within {t})"));
            }
            let any = m.probability_any_purchase(x, t_x, age).unwrap();
            let simulated_any = waits.iter().filter(|w| w.is_finite()).count() as f64 / DRAWS as f64;
            within(any, simulated_any, any, &format!("{what}: P(any further purchase)"));
            // P(next within t) rises towards P(any further purchase) (the
            // tails are heavy: a gamma mixture of exponentials).
            let far = if m.discrete_time() { 9e4 } else { 1e9 };
            let (near, limit) = (
                m.probability_purchase_within(far / 1e3, x, t_x, age).unwrap(),
                m.probability_purchase_within(far, x, t_x, age).unwrap(),
            );
            assert!(near <= limit && limit <= any * (1.0 + 1e-9), "{what}: {near} ≤ {limit} ≤ {any}");
            assert!(any - limit < 0.05, "{what}: {limit} far from {any}");
            // Quantiles: F at the quantile reaches q, just below it does not.
            for q in [0.1, 0.25, 0.5] {
                match m.next_purchase_quantile(q, x, t_x, age).unwrap() {
                    Some(t) => {
                        assert!(q < any, "{what}: a {q}-quantile with P(any) {any}");
                        let f = m.probability_purchase_within(t, x, t_x, age).unwrap();
                        if m.discrete_time() {
                            assert!(f >= q && m.probability_purchase_within(t - 1.0, x, t_x, age).unwrap() < q);
                            assert_eq!(t.fract(), 0.0);
                        } else {
                            assert!((f - q).abs() < 1e-9, "{what}: F({t}) = {f} for q {q}");
                        }
                        within(f, share(t), f, &format!("{what}: simulated share by the {q}-quantile"));
                    }
                    None => assert!(q >= any, "{what}: none expected at {q} with P(any) {any}"),
                }
            }
            // The mean waiting time given a purchase within the last horizon.
            let h = *horizons.last().unwrap();
            let mean = m.expected_wait_within(h, x, t_x, age).unwrap().unwrap();
            let inside: Vec<f64> = waits.iter().copied().filter(|&w| w <= h).collect();
            let n = inside.len() as f64;
            let sample_mean = inside.iter().sum::<f64>() / n;
            let sd = (inside.iter().map(|w| (w - sample_mean).powi(2)).sum::<f64>() / n).sqrt();
            assert!(
                (mean - sample_mean).abs() <= 4.0 * sd / n.sqrt() + 1e-6,
                "{what}: E[τ | τ ≤ {h}] model {mean}, simulated {sample_mean} ± {}",
                sd / n.sqrt()
            );
        }
    }
}

#[test]
fn the_median_is_none_expected_below_one_half() {
    let model = ParetoNbd::new(0.5533, 10.5776, 0.6062, 11.6679).unwrap();
    for (x, t_x, age) in [(0.0, 0.0, 39.0), (1.0, 2.0, 78.0), (8.0, 37.0, 39.0), (3.0, 20.0, 39.0)] {
        let any = model.probability_any_purchase(x, t_x, age).unwrap();
        let median = model.next_purchase_quantile(0.5, x, t_x, age).unwrap();
        assert_eq!(median.is_none(), any <= 0.5, "({x}, {t_x}, {age}): P(any) {any}, median {median:?}");
    }
    // A new customer (x = t_x = T = 0): P(no purchase within t) is P(X(t) = 0).
    for t in [1.0, 10.0, 100.0] {
        let f = model.probability_purchase_within(t, 0.0, 0.0, 0.0).unwrap();
        assert!((f - (1.0 - model.probability_of_purchases(t, 0).unwrap())).abs() < 1e-12);
    }
    // Bad arguments are typed errors.
    assert!(model.next_purchase_quantile(1.0, 1.0, 2.0, 3.0).is_err());
    assert!(model.next_purchase_quantile(f64::NAN, 1.0, 2.0, 3.0).is_err());
    assert!(model.expected_wait_within(0.0, 1.0, 2.0, 3.0).is_err());
    assert!(model.next_purchase_quantile(0.5, 4.0, 5.0, 3.0).is_err()); // t_x > T
    let bgbb = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839).unwrap();
    assert!(bgbb.expected_wait_within(2.5, 1.0, 1.0, 6.0).is_err()); // not a whole number of opportunities
}

#[test]
fn any_purchase_matches_mpmath() {
    // tests/fixtures/generate_any_purchase.py: the Pareto/NBD share in closed
    // form (Euler's integral, 2F1), BG/BB's by 2-D quadrature, at 30 digits.
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/any_purchase.csv")).unwrap();
    let mut rows = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let v = |i: usize| f[i].parse::<f64>().unwrap();
        let model: Box<dyn PurchaseModel> = match f[0] {
            "pareto" => Box::new(ParetoNbd::new(v(1), v(2), v(3), v(4)).unwrap()),
            _ => Box::new(BetaGeoBetaBinom::new(v(1), v(2), v(3), v(4)).unwrap()),
        };
        let got = model.probability_any_purchase(v(5), v(6), v(7)).unwrap();
        assert!(((got - v(8)) / v(8)).abs() < 1e-9, "{line}: {got}");
        rows += 1;
    }
    assert_eq!(rows, 18);
}

/// A model, histories, the horizon and the largest count summed.
type CountCase = (Box<dyn PurchaseModel>, Vec<(f64, f64, f64)>, f64, u32);

#[test]
fn conditional_purchase_counts_sum_to_one_with_the_conditional_mean() {
    let models: Vec<CountCase> = vec![
        (
            Box::new(BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap()),
            vec![(2.0, 30.0, 39.0), (0.0, 0.0, 20.0), (12.0, 35.0, 39.0)],
            52.0,
            400,
        ),
        (
            Box::new(BetaGeo::modified(0.525, 6.183, 0.891, 1.614).unwrap()),
            vec![(2.0, 30.0, 39.0), (0.0, 0.0, 39.0)],
            52.0,
            400,
        ),
        (
            Box::new(ParetoNbd::new(0.5533, 10.5776, 0.6062, 11.6679).unwrap()),
            vec![(2.0, 30.0, 39.0), (0.0, 0.0, 39.0), (10.0, 38.0, 39.0)],
            39.0,
            400,
        ),
        (
            Box::new(BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839).unwrap()),
            vec![(3.0, 4.0, 6.0), (0.0, 0.0, 6.0), (6.0, 6.0, 6.0)],
            5.0,
            5,
        ),
    ];
    for (m, histories, t, top) in &models {
        for &(x, t_x, age) in histories {
            let p: Vec<f64> =
                (0..=*top).map(|k| m.conditional_probability_of_purchases(*t, k, x, t_x, age).unwrap()).collect();
            let what = format!("{} ({x}, {t_x}, {age})", m.name());
            assert!(p.iter().all(|v| (0.0..=1.0).contains(v)), "{what}");
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{what}: Σ {}", p.iter().sum::<f64>());
            let mean: f64 = p.iter().enumerate().map(|(k, p)| k as f64 * p).sum();
            let expected = m.conditional_expected_purchases(*t, x, t_x, age).unwrap();
            assert!((mean - expected).abs() < 1e-8 * expected.max(1.0), "{what}: mean {mean}, expected {expected}");
            let none = m.probability_no_purchase(*t, x, t_x, age).unwrap();
            assert!((p[0] - none).abs() < 1e-12, "{what}: P(0) {} against {none}", p[0]);
        }
    }
}
