//! Every core, the results of one: long columns of predictions (shared out
//! between rayon's threads, feature `parallel`) give the bits of a
//! one-thread pool and of the per-customer functions, and name the first
//! bad row.

use customer_lifecycle::Error;
use customer_lifecycle::clv::{BetaGeo, ParetoNbd, PurchaseModel};
use customer_lifecycle::ndarray::Array1;

/// Long columns (shared out between the cores) give the bits of one
/// thread and of the per-customer functions, and the first bad row.
#[test]
fn long_columns_are_the_same_on_any_number_of_threads() {
    let n = 150_000;
    let x: Array1<f64> = (0..n).map(|i| f64::from((i % 37) as u32)).collect();
    let age: Array1<f64> = (0..n).map(|i| 1.0 + f64::from((i % 1_001) as u32) * 0.25).collect();
    let t_x: Array1<f64> = (0..n).map(|i| if x[i] == 0.0 { 0.0 } else { age[i] * 0.6 }).collect();
    let models: Vec<Box<dyn PurchaseModel>> = vec![
        Box::new(BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap()),
        Box::new(ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715).unwrap()),
    ];
    let in_pool = |threads: usize, f: &(dyn Fn() -> Vec<u64> + Sync)| {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
    };
    for m in &models {
        let bits = || -> Vec<u64> {
            let alive = m.probability_alive_columns(x.view(), t_x.view(), age.view()).unwrap();
            let expected = m.conditional_expected_purchases_columns(13.0, x.view(), t_x.view(), age.view()).unwrap();
            alive.iter().chain(expected.iter()).map(|v| v.to_bits()).collect()
        };
        let one = in_pool(1, &bits);
        for threads in [2, 3] {
            assert_eq!(in_pool(threads, &bits), one, "{}", m.name());
        }
        for i in (0..n).step_by(9_973) {
            assert_eq!(m.probability_alive(x[i], t_x[i], age[i]).unwrap().to_bits(), one[i], "{}", m.name());
        }
        // Two bad rows in different runs: the first is named.
        let mut bad = t_x.clone();
        bad[140_000] = 1e9;
        bad[90_001] = 1e9;
        for threads in [1, 2] {
            let e = in_pool(threads, &|| {
                let e = m.probability_alive_columns(x.view(), bad.view(), age.view()).unwrap_err();
                vec![match e {
                    Error::InvalidModelInput { row, .. } => row as u64,
                    _ => u64::MAX,
                }]
            });
            assert_eq!(e, vec![90_001]);
        }
    }
}
