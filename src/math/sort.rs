//! Stable LSD radix sort on 64-bit keys, for the batch paths that order a
//! million rows (customer ids in the summary, values in RFM).

/// Sorts `items` by `key(item)`'s bits `from..to`, stably (equal keys keep
/// their order), with 11-bit digits. A digit that is the same for every
/// item is skipped, so keys that vary in few bits cost few passes.
pub(crate) fn radix_sort_by_key<T: Copy + Default>(items: &mut Vec<T>, key: impl Fn(&T) -> u64, from: u32, to: u32) {
    const DIGIT: u32 = 11;
    const MASK: u64 = (1 << DIGIT) - 1;
    let n = items.len();
    let mut spare = vec![T::default(); n];
    let mut shift = from;
    while shift < to.min(64) {
        let mut counts = vec![0usize; (1 << DIGIT) + 1];
        for item in items.iter() {
            counts[((key(item) >> shift) & MASK) as usize + 1] += 1;
        }
        if counts.contains(&n) {
            shift += DIGIT;
            continue;
        }
        for d in 0..(1 << DIGIT) {
            counts[d + 1] += counts[d];
        }
        for item in items.iter() {
            let d = ((key(item) >> shift) & MASK) as usize;
            spare[counts[d]] = *item;
            counts[d] += 1;
        }
        std::mem::swap(items, &mut spare);
        shift += DIGIT;
    }
}

/// A u64 whose unsigned order is the total order of the f64 (negative
/// values below positive, −0 just below +0).
pub(crate) fn f64_order_key(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits >> 63 == 1 { !bits } else { bits | (1 << 63) }
}

/// The f64 of an [`f64_order_key`].
pub(crate) fn f64_from_order_key(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 { key & !(1 << 63) } else { !key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_stably_and_like_the_standard_sort() {
        let values = [3.5, -1.0, 0.0, 3.5, 1e300, -1e-300, 2.0, 3.5, 0.5, -7.25];
        let mut keyed: Vec<(u64, u32)> =
            values.iter().enumerate().map(|(i, &v)| (f64_order_key(v), i as u32)).collect();
        radix_sort_by_key(&mut keyed, |&(k, _)| k, 0, 64);
        let mut expected: Vec<usize> = (0..values.len()).collect();
        expected.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
        let got: Vec<usize> = keyed.iter().map(|&(_, i)| i as usize).collect();
        assert_eq!(got, expected);
        for v in values {
            assert_eq!(f64_from_order_key(f64_order_key(v)).to_bits(), v.to_bits());
        }
    }

    #[test]
    fn partial_bit_ranges() {
        let mut v: Vec<u64> = vec![(5 << 32) | 1, (2 << 32) | 2, (5 << 32) | 3, 2 << 32];
        radix_sort_by_key(&mut v, |&x| x, 32, 40);
        assert_eq!(v, vec![(2 << 32) | 2, 2 << 32, (5 << 32) | 1, (5 << 32) | 3]);
    }
}
