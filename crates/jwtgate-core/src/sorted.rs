//! Sorting short lists (provider indices, managed header names) without the slice sorts: each
//! element type `sort_unstable` is used with links its own quicksort, heapsort and small-sort
//! network (~4 KB of the filter per type), and these lists hold a handful of items.

/// Sorts `v` and drops repeated items, by insertion into a sorted prefix (quadratic: for short
/// lists only).
pub(crate) fn sort_dedup<T: Ord>(v: &mut Vec<T>) {
    // v[..kept] is sorted and holds no repeats; v[kept..i] holds the repeats met so far.
    let mut kept = 0;
    for i in 0..v.len() {
        let place = match (v.get(..kept), v.get(i)) {
            (Some(sorted), Some(item)) => sorted.binary_search(item),
            _ => break,
        };
        if let Err(at) = place {
            // kept <= i < v.len(): both swaps are in bounds.
            v.swap(kept, i);
            for j in (at..kept).rev() {
                v.swap(j, j + 1);
            }
            kept += 1;
        }
    }
    v.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::sort_dedup;

    #[test]
    fn sorts_and_drops_repeats_like_sort_unstable_and_dedup() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for len in 0..40 {
            for _ in 0..20 {
                let mut v: Vec<u64> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed % 12
                    })
                    .collect();
                let mut want = v.clone();
                want.sort_unstable();
                want.dedup();
                sort_dedup(&mut v);
                assert_eq!(v, want);
            }
        }
        let mut names = vec![
            "b".to_string(),
            "a".into(),
            "b".into(),
            "c".into(),
            "a".into(),
        ];
        sort_dedup(&mut names);
        assert_eq!(names, ["a", "b", "c"]);
    }
}
