//! Model fitting and prediction throughput.
//!
//! * `fit/*/cdnow`: fitting on the CDNOW sample's published summary (2,357
//!   customers, 39-week calibration);
//! * `fit/bgnbd/100k`, `fit/pareto_nbd/100k`: BG/NBD and Pareto/NBD on
//!   100,000 customers simulated from the CDNOW estimates (seed 1);
//! * `fit/pareto_nbd/100k-lopsided`: Pareto/NBD on 100,000 customers
//!   simulated with β = 60 α (many rows by quadrature);
//! * `fit/bgnbd_covariates/100k-3-categorical`: BG/NBD with three static
//!   covariates (income −1/0/1 in both processes, a gold tier in the
//!   purchase process, the app in the drop-out process: 12 distinct
//!   vectors) on 100,000 customers simulated with known effects (seed 5);
//!   `…/100k-3-continuous`: the same with income a continuous value, so
//!   every customer has a covariate vector of their own;
//!   `fit/pareto_nbd_covariates/100k-3-categorical`: Pareto/NBD with those
//!   three covariates at the same levels (same effects, on α and β);
//! * `fit/pareto_nbd_time_varying/100k-104w`: Pareto/NBD with three
//!   time-varying covariates (a season shared by everyone and a weekly
//!   campaign flag in the purchase process, a price that follows the
//!   season with noise in the drop-out process) on 100,000 customers
//!   acquired over the first year of a 104-week window with 104 weekly
//!   periods each, their log simulated from the model (seed 1);
//! * `fit/gamma_gamma/1M`: Gamma-Gamma on 1,000,000 customers, 81 % of
//!   them repeat buyers, spend simulated from the CDNOW estimates (seed 7);
//! * `predict/*/1M`: P(alive) + conditional expected purchases over 52 weeks
//!   for 1,000,000 customers, one thread, customer by customer;
//! * `predict/bgnbd/1M-columns`: the same through the column functions, for
//!   a million customers with calendar-day ages (43,800 distinct (x, T));
//! * `predict/next_purchase_median_*/1M-columns`: the median waiting time
//!   to the next purchase for those customers (BG/NBD, Pareto/NBD);
//! * `predict/intervals_bgnbd/1M-columns-200-draws`: the 5–95 % parameter
//!   intervals of P(alive) and of the expected purchases over 52 weeks for
//!   those customers from 200 draws of the CDNOW fit;
//! * `predict/clv_bgnbd/*`: BG/NBD + Gamma-Gamma CLV over 52 weekly periods,
//!   10 % a year, for those customers through `Clv::compute_columns`, and
//!   for 10,000 of them one by one through `Clv::customer`.
//!
//! Run: `cargo bench --bench models`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use customer_lifecycle::CustomerId;
use customer_lifecycle::TimeUnit;
use customer_lifecycle::chrono::{Duration, NaiveDate};
use customer_lifecycle::clv::{
    BetaGeo, BetaGeoCovariates, BetaGeoVariant, Clv, CovariateOptions, Covariates, FitOptions, GammaGamma,
    ParameterDraws, ParetoNbd, ParetoNbdCovariates, ParetoNbdTimeVarying, PurchaseModel, Span, TimeVaryingCovariates,
    TimeVaryingHistory,
};
use customer_lifecycle::ndarray::Array1;
use customer_lifecycle::{Currency, Money, SummaryOptions};

fn cdnow() -> (Array1<f64>, Array1<f64>, Array1<f64>, Array1<f64>) {
    let text = include_str!("../tests/fixtures/cdnow_customers_summary_with_transactions.csv");
    let rows: Vec<Vec<f64>> =
        text.lines().skip(1).map(|l| l.trim().split(',').map(|c| c.parse().unwrap()).collect()).collect();
    let col = |i: usize| rows.iter().map(|r| r[i]).collect::<Array1<f64>>();
    (col(1), col(2), col(3), col(4))
}

/// A million customers: x 0..9, t_x and T over a grid (no fitting involved).
fn population() -> Vec<(f64, f64, f64)> {
    (0..1_000_000u32)
        .map(|i| {
            let x = f64::from(i % 10);
            let age = 20.0 + f64::from(i % 30);
            let t_x = if x == 0.0 { 0.0 } else { age * f64::from(i % 7 + 1) / 8.0 };
            (x, t_x, age)
        })
        .collect()
}

/// A million customers whose ages are whole days over three years (in
/// weeks) and who made 0..39 repeat purchases: 43,800 distinct (x, T), as
/// when T comes from calendar dates.
fn calendar_population() -> (Array1<f64>, Array1<f64>, Array1<f64>) {
    let mut x = Array1::zeros(1_000_000);
    let mut t_x = Array1::zeros(1_000_000);
    let mut age = Array1::zeros(1_000_000);
    for i in 0..1_000_000u64 {
        let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
        let k = i as usize;
        x[k] = (h % 40) as f64;
        age[k] = (1 + (h / 40) % 1095) as f64 / 7.0;
        t_x[k] = if x[k] == 0.0 { 0.0 } else { age[k] * ((h / 43_800) % 8) as f64 / 8.0 };
    }
    (x, t_x, age)
}

/// A million customers' repeat purchases (0..=20, 81 % at least one) and
/// mean repeat spend drawn from Gamma-Gamma with the CDNOW estimates.
fn spend_population() -> (Array1<f64>, Array1<f64>) {
    use rand::SeedableRng;
    use rand_distr::{Distribution, Gamma};
    let (p, q, gamma) = (6.2488, 3.7446, 15.4477);
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
    let scale_of_nu = Gamma::new(q, 1.0 / gamma).unwrap();
    let mut x = Array1::zeros(1_000_000);
    let mut m = Array1::zeros(1_000_000);
    for i in 0..1_000_000usize {
        let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        x[i] = if h % 100 < 19 { 0.0 } else { (1 + h % 20) as f64 };
        if x[i] > 0.0 {
            let nu = scale_of_nu.sample(&mut rng);
            m[i] = Gamma::new(p * x[i], 1.0 / (x[i] * nu)).unwrap().sample(&mut rng);
        }
    }
    (x, m)
}

/// 100,000 customers with income (−1/0/1, or continuous in [−1, 1]),
/// gold (0/1) and app (0/1), simulated with known effects, from BG/NBD or
/// Pareto/NBD.
fn covariate_population(continuous: bool, pareto: bool) -> (Vec<CustomerId>, [Array1<f64>; 3], Covariates) {
    let purchase = vec![("income".into(), 0.4), ("gold".into(), -0.5)];
    let dropout = vec![("income".into(), -0.6), ("app".into(), 0.7)];
    let bgnbd =
        BetaGeoCovariates::new(&BetaGeo::new(0.9, 5.0, 0.8, 3.0).unwrap(), purchase.clone(), dropout.clone()).unwrap();
    let pnbd = ParetoNbdCovariates::new(&ParetoNbd::new(0.9, 5.0, 0.7, 9.0).unwrap(), purchase, dropout).unwrap();
    let n = 100_000;
    let (mut x, mut t_x, mut t) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut income, mut gold, mut app) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
        let inc = if continuous { (h % 2001) as f64 / 1000.0 - 1.0 } else { (h % 3) as f64 - 1.0 };
        let (g, a) = (((h >> 20) % 2) as f64, ((h >> 30) % 2) as f64);
        let (age, seed) = ([20.0 + (i % 20) as f64], 5 + i as u64);
        let sim = if pareto {
            pnbd.customer_model(&[inc, g], &[inc, a]).unwrap().simulate(&age, seed).unwrap()
        } else {
            bgnbd.customer_model(&[inc, g], &[inc, a]).unwrap().simulate(&age, seed).unwrap()
        };
        x.push(sim.frequency[0]);
        t_x.push(sim.recency[0]);
        t.push(sim.age[0]);
        income.push(inc);
        gold.push(g);
        app.push(a);
    }
    let ids: Vec<CustomerId> = (0..n as i64).map(CustomerId::from).collect();
    let covariates = Covariates::builder(ids.clone())
        .numeric("income", income)
        .unwrap()
        .numeric("gold", gold)
        .unwrap()
        .numeric("app", app)
        .unwrap()
        .build()
        .unwrap();
    (ids, [x.into(), t_x.into(), t.into()], covariates)
}

/// 100,000 customers acquired over a year, 104 weekly periods of season,
/// campaign and price each, their log simulated from known effects.
fn time_varying_history() -> TimeVaryingHistory {
    let monday = NaiveDate::from_ymd_opt(2023, 1, 2).unwrap();
    let mut builder = TimeVaryingCovariates::builder(&["season", "campaign", "price"], 7).unwrap();
    let mut acquisitions = Vec::with_capacity(100_000);
    let mut state = 12345u64;
    let mut uniform = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for c in 0..100_000i64 {
        let id = CustomerId::from(c);
        for w in 0..104i64 {
            let season = (2.0 * std::f64::consts::PI * w as f64 / 52.0).sin();
            let campaign = if uniform() < 0.25 { 1.0 } else { 0.0 };
            let price = 0.6 * season + 2.0 * (uniform() - 0.5);
            builder = builder.row(id.clone(), monday + Duration::weeks(w), &[season, campaign, price]).unwrap();
        }
        acquisitions.push((id, monday + Duration::days((uniform() * 364.0) as i64)));
    }
    let table = builder.build().unwrap();
    let options =
        SummaryOptions::new(TimeUnit::Week).observation_end(monday + Duration::weeks(104) - Duration::days(1));
    let truth = ParetoNbdTimeVarying::new(
        &ParetoNbd::new(0.9, 21.0, 0.6, 8.0).unwrap(),
        vec![("season".into(), 0.5), ("campaign".into(), 0.8)],
        vec![("price".into(), 0.9)],
    )
    .unwrap();
    let log = truth.simulate(&acquisitions, &table, &options, Money::parse("20", Currency::EUR).unwrap(), 1).unwrap();
    TimeVaryingHistory::new(&log, &options, &table).unwrap()
}

fn bench(c: &mut Criterion) {
    let (x, t_x, t, zbar) = cdnow();
    let options = FitOptions::default();
    let mut g = c.benchmark_group("fit");
    g.sample_size(10);
    g.bench_function("bgnbd/cdnow", |b| {
        b.iter(|| black_box(BetaGeo::fit_columns(x.view(), t_x.view(), t.view(), &options).unwrap()))
    });
    g.bench_function("pareto_nbd/cdnow", |b| {
        b.iter(|| black_box(ParetoNbd::fit_columns(x.view(), t_x.view(), t.view(), &options).unwrap()))
    });
    g.bench_function("gamma_gamma/cdnow", |b| {
        b.iter(|| black_box(GammaGamma::fit_columns(x.view(), zbar.view(), &options).unwrap()))
    });
    let (spend_x, spend_m) = spend_population();
    g.bench_function("gamma_gamma/1M", |b| {
        b.iter(|| black_box(GammaGamma::fit_columns(spend_x.view(), spend_m.view(), &options).unwrap()))
    });
    let truth = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap();
    let ages: Vec<f64> = (0..100_000).map(|i| 20.0 + f64::from(i % 20)).collect();
    let sim = truth.simulate(&ages, 1).unwrap();
    g.bench_function("bgnbd/100k", |b| {
        b.iter(|| {
            black_box(BetaGeo::fit_columns(sim.frequency.view(), sim.recency.view(), sim.age.view(), &options).unwrap())
        })
    });
    let covariate_options = CovariateOptions::new().purchase(&["income", "gold"]).dropout(&["income", "app"]);
    for (name, continuous) in
        [("bgnbd_covariates/100k-3-categorical", false), ("bgnbd_covariates/100k-3-continuous", true)]
    {
        let (ids, [cx, ctx, ct], covariates) = covariate_population(continuous, false);
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    BetaGeoCovariates::fit_columns(
                        BetaGeoVariant::Classic,
                        &ids,
                        cx.view(),
                        ctx.view(),
                        ct.view(),
                        &covariates,
                        &covariate_options,
                    )
                    .unwrap(),
                )
            })
        });
    }
    let (ids, [cx, ctx, ct], covariates) = covariate_population(false, true);
    g.bench_function("pareto_nbd_covariates/100k-3-categorical", |b| {
        b.iter(|| {
            black_box(
                ParetoNbdCovariates::fit_columns(
                    &ids,
                    cx.view(),
                    ctx.view(),
                    ct.view(),
                    &covariates,
                    &covariate_options,
                )
                .unwrap(),
            )
        })
    });
    let pareto_truth = ParetoNbd::new(0.5533, 10.5776, 0.6062, 11.6679).unwrap();
    let pareto_sim = pareto_truth.simulate(&ages, 1).unwrap();
    g.bench_function("pareto_nbd/100k", |b| {
        b.iter(|| {
            black_box(
                ParetoNbd::fit_columns(
                    pareto_sim.frequency.view(),
                    pareto_sim.recency.view(),
                    pareto_sim.age.view(),
                    &options,
                )
                .unwrap(),
            )
        })
    });
    let history = time_varying_history();
    let varying = CovariateOptions::new().purchase(&["season", "campaign"]).dropout(&["price"]);
    g.bench_function("pareto_nbd_time_varying/100k-104w", |b| {
        b.iter(|| black_box(ParetoNbdTimeVarying::fit(&history, &varying).unwrap()))
    });
    drop(history);
    // β sixty times α: the one-time buyers' rows (and others with small
    // t_x) take the drop-out integral by quadrature.
    let lopsided = ParetoNbd::new(0.8, 0.5, 0.4, 30.0).unwrap().simulate(&ages, 1).unwrap();
    g.bench_function("pareto_nbd/100k-lopsided", |b| {
        b.iter(|| {
            black_box(
                ParetoNbd::fit_columns(
                    lopsided.frequency.view(),
                    lopsided.recency.view(),
                    lopsided.age.view(),
                    &options,
                )
                .unwrap(),
            )
        })
    });
    g.finish();

    let people = population();
    let pareto = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715).unwrap();
    let mut g = c.benchmark_group("predict");
    g.sample_size(10);
    g.bench_function("bgnbd/1M", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for &(x, t_x, age) in &people {
                acc += truth.probability_alive(x, t_x, age).unwrap()
                    + truth.conditional_expected_purchases(52.0, x, t_x, age).unwrap();
            }
            black_box(acc)
        })
    });
    let (cx, ctx, cage) = calendar_population();
    g.bench_function("bgnbd/1M-columns", |b| {
        b.iter(|| {
            let alive = truth.probability_alive_columns(cx.view(), ctx.view(), cage.view()).unwrap();
            let expected =
                truth.conditional_expected_purchases_columns(52.0, cx.view(), ctx.view(), cage.view()).unwrap();
            black_box((alive, expected))
        })
    });
    g.bench_function("next_purchase_median_bgnbd/1M-columns", |b| {
        b.iter(|| black_box(truth.next_purchase_quantile_columns(0.5, cx.view(), ctx.view(), cage.view()).unwrap()))
    });
    let pareto_fit = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715).unwrap();
    g.bench_function("next_purchase_median_pareto_nbd/1M-columns", |b| {
        b.iter(|| {
            black_box(pareto_fit.next_purchase_quantile_columns(0.5, cx.view(), ctx.view(), cage.view()).unwrap())
        })
    });
    // Intervals over 200 parameter draws of the CDNOW fit, those 1M customers.
    let fitted = BetaGeo::fit_columns(x.view(), t_x.view(), t.view(), &options).unwrap();
    let draws = ParameterDraws::new(&fitted, 200, 1).unwrap();
    g.bench_function("intervals_bgnbd/1M-columns-200-draws", |b| {
        b.iter(|| {
            let alive = draws.probability_alive_interval_columns(cx.view(), ctx.view(), cage.view(), [0.05, 0.95]);
            let expected =
                draws.expected_purchases_interval_columns(52.0, cx.view(), ctx.view(), cage.view(), [0.05, 0.95]);
            black_box((alive.unwrap(), expected.unwrap()))
        })
    });
    g.bench_function("bgnbd/1M-p-alive-columns", |b| {
        b.iter(|| black_box(truth.probability_alive_columns(cx.view(), ctx.view(), cage.view()).unwrap()))
    });
    let spend = GammaGamma::new(6.2488, 3.7446, 15.4477).unwrap();
    let mean_spend: Array1<f64> = (0..1_000_000).map(|i| 10.0 + f64::from(i % 50)).collect();
    let clv = Clv::new(&truth, &spend).time_unit(TimeUnit::Week).horizon(Span::Weeks(52)).annual_discount_rate(0.1);
    g.bench_function("clv_bgnbd/1M-columns", |b| {
        b.iter(|| black_box(clv.compute_columns(cx.view(), ctx.view(), cage.view(), mean_spend.view()).unwrap()))
    });
    g.bench_function("clv_bgnbd/10k-one-by-one", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for i in 0..10_000 {
                acc += clv.customer(cx[i], ctx[i], cage[i], mean_spend[i]).unwrap();
            }
            black_box(acc)
        })
    });
    g.bench_function("pareto_nbd/1M", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for &(x, t_x, age) in &people {
                acc += pareto.probability_alive(x, t_x, age).unwrap()
                    + pareto.conditional_expected_purchases(52.0, x, t_x, age).unwrap();
            }
            black_box(acc)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
