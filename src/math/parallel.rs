//! The crate's one way of using a second core: work split in fixed,
//! contiguous parts whose results come back in order, so that every result
//! is the same whether the parts run on one thread or several.

/// The machine's cores (1 when unknown).
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `(a(), b())`, with `b` on another thread when `parallel`.
pub(crate) fn join<A: Send, B: Send>(
    parallel: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if !parallel {
        return (a(), b());
    }
    std::thread::scope(|scope| {
        let second = scope.spawn(b);
        let first = a();
        (first, second.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
    })
}

/// `f` of every item, in order, the items dealt out in `threads`
/// contiguous runs (one thread for 0 or 1).
pub(crate) fn map_in_runs<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let per_thread = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            items.chunks(per_thread).map(|run| scope.spawn(move || run.iter().map(f).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
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
