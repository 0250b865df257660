//! The crate's one way of using several cores: work split in fixed,
//! contiguous parts whose results come back in order, so that every result
//! is the same whether the parts run on one thread or several. With the
//! `parallel` feature (on by default) the parts run on rayon's thread pool
//! (as many threads as cores, or `RAYON_NUM_THREADS`); without it, on the
//! calling thread.

/// The threads work is shared out to: the rayon pool's size with the
/// `parallel` feature, else 1.
pub(crate) fn cores() -> usize {
    #[cfg(feature = "parallel")]
    {
        rayon::current_num_threads().max(1)
    }
    #[cfg(not(feature = "parallel"))]
    {
        1
    }
}

/// `(a(), b())`, possibly at the same time when `parallel`.
pub(crate) fn join<A: Send, B: Send>(
    parallel: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    #[cfg(feature = "parallel")]
    if parallel {
        return rayon::join(a, b);
    }
    let _ = parallel;
    (a(), b())
}

/// `f` of every item, in order, the items dealt out in `threads`
/// contiguous runs (one run for 0 or 1).
pub(crate) fn map_in_runs<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let per_run = items.len().div_ceil(threads);
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        let runs: Vec<Vec<R>> = items.par_chunks(per_run).map(|run| run.iter().map(&f).collect()).collect();
        runs.into_iter().flatten().collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        items.chunks(per_run).flat_map(|run| run.iter().map(&f).collect::<Vec<R>>()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_come_back_in_order() {
        let items: Vec<u64> = (0..1_001).collect();
        let square = |v: &u64| v * v;
        let one = map_in_runs(&items, 1, square);
        for threads in [0, 2, 3, 7, 5_000] {
            assert_eq!(map_in_runs(&items, threads, square), one);
        }
        assert!(map_in_runs(&[] as &[u64], 4, square).is_empty());
        assert_eq!(join(true, || 1, || 2), (1, 2));
        assert_eq!(join(false, || "a", || "b"), ("a", "b"));
        assert!(cores() >= 1);
    }
}
