//! Churn scoring and training (one thread).
//!
//! * `score/1M`: the learned scorer's probabilities for 1,000,000 customers
//!   × 12 features (`LogisticRegression::predict`);
//! * `train/100k`: fitting it on 100,000 customers × 12 features (Newton /
//!   IRLS with an L2 penalty, to convergence).
//!
//! Features are drawn from a fixed seed; labels from a known logistic model.
//! Run: `cargo bench --bench churn`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use customer_lifecycle::churn::{LogisticOptions, LogisticRegression};
use customer_lifecycle::ndarray::Array2;

struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

const FEATURES: usize = 12;

fn data(rows: usize, seed: u64) -> (Array2<f64>, Vec<bool>) {
    let mut rng = Rng(seed);
    let x = Array2::from_shape_fn((rows, FEATURES), |(_, j)| rng.uniform() * (j + 1) as f64);
    let y = (0..rows)
        .map(|i| {
            let eta: f64 = (0..FEATURES).map(|j| x[[i, j]] * if j % 2 == 0 { 0.2 } else { -0.15 }).sum::<f64>() - 0.5;
            rng.uniform() < 1.0 / (1.0 + (-eta).exp())
        })
        .collect();
    (x, y)
}

fn bench(c: &mut Criterion) {
    let names: Vec<String> = (0..FEATURES).map(|j| format!("f{j}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (train_x, train_y) = data(100_000, 3);
    let model = LogisticRegression::fit(train_x.view(), &train_y, &names, &LogisticOptions::new()).unwrap();
    let (score_x, _) = data(1_000_000, 5);
    let mut g = c.benchmark_group("churn");
    g.sample_size(10);
    g.bench_function("score/1M", |b| b.iter(|| black_box(model.predict(score_x.view()).unwrap())));
    g.bench_function("train/100k", |b| {
        b.iter(|| {
            black_box(LogisticRegression::fit(train_x.view(), &train_y, &names, &LogisticOptions::new()).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
