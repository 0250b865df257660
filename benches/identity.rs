//! Identity resolution (one thread).
//!
//! * `identity/link/10M-links-1M-people`: 10,000,000 links over 1,000,000
//!   people, each known by a numeric customer id, an e-mail and two device
//!   ids; every link joins two of one person's identifiers drawn at random
//!   (so most are further evidence for people already joined), in a
//!   shuffled order across people, into an empty graph with the default
//!   policy. The identifiers are built before timing; the graph copies
//!   each once when it first sees it.
//!
//! Run: `cargo bench --bench identity`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use customer_lifecycle::chrono::{TimeZone, Utc};
use customer_lifecycle::{Identifier, IdentityGraph, IdentityPolicy, LinkSource};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const PEOPLE: usize = 1_000_000;
const LINKS: usize = 10_000_000;

fn links() -> Vec<(Identifier, Identifier)> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(19);
    let people: Vec<[Identifier; 4]> = (0..PEOPLE)
        .map(|p| {
            [
                Identifier::customer(p as i64 * 7 + 3),
                Identifier::email(&format!("person{p}@shop.example")).unwrap(),
                Identifier::device(&format!("cookie-{p}-a")).unwrap(),
                Identifier::device(&format!("cookie-{p}-b")).unwrap(),
            ]
        })
        .collect();
    (0..LINKS)
        .map(|_| {
            let person = &people[rng.random_range(0..PEOPLE)];
            let a = rng.random_range(0..4);
            let b = (a + rng.random_range(1..4)) % 4;
            (person[a].clone(), person[b].clone())
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let links = links();
    let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let mut g = c.benchmark_group("identity");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("link/10M-links-1M-people", |b| {
        b.iter(|| {
            let mut graph = IdentityGraph::new(IdentityPolicy::default());
            for (x, y) in &links {
                graph.link(x, y, LinkSource::Login, at).unwrap();
            }
            assert!(graph.people() >= PEOPLE);
            black_box(graph.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
