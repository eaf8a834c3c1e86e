//! The arena planner: no two tensors live at the same time overlap, the total is at least the
//! lower bound, in-place tensors share their root's memory; and the plan check refuses
//! placements that break those rules.
use leanconv_core::runtime::arena::{
    find_conflict, lower_bound, plan, ArenaTensor, Conflict, ALIGN,
};
use proptest::prelude::*;

fn tensors() -> impl Strategy<Value = Vec<ArenaTensor>> {
    prop::collection::vec(
        (
            1usize..5000,
            0usize..12,
            0usize..6,
            any::<bool>(),
            any::<prop::sample::Index>(),
        ),
        1..24,
    )
    .prop_map(|raw| {
        let mut out: Vec<ArenaTensor> = Vec::new();
        for (bytes, first, len, alias, pick) in raw {
            // An in-place tensor starts at the step where the tensor it overwrites is last
            // read (an element-wise step reading its input for the last time).
            let alias_of = if alias && !out.is_empty() {
                Some(pick.index(out.len()))
            } else {
                None
            };
            let first = alias_of.map_or(first, |a| out[a].last);
            out.push(ArenaTensor {
                bytes,
                first,
                last: first + len,
                alias_of,
            });
        }
        out
    })
}

fn intersect(a: &ArenaTensor, b: &ArenaTensor) -> bool {
    a.first <= b.last && b.first <= a.last
}

fn root(ts: &[ArenaTensor], mut i: usize) -> usize {
    while let Some(a) = ts[i].alias_of {
        i = a;
    }
    i
}

proptest! {
    #[test]
    fn placement_is_sound_and_above_the_lower_bound(ts in tensors()) {
        let arena = plan(&ts).unwrap();
        prop_assert_eq!(find_conflict(&ts, &arena.offsets, arena.total).unwrap(), None);
        for (i, a) in ts.iter().enumerate() {
            prop_assert_eq!(arena.offsets[i] % ALIGN, 0);
            prop_assert!(arena.offsets[i] + a.bytes <= arena.total);
            if ts[i].alias_of.is_some() {
                prop_assert_eq!(arena.offsets[i], arena.offsets[root(&ts, i)]);
            }
            for (j, b) in ts.iter().enumerate().skip(i + 1) {
                if root(&ts, i) == root(&ts, j) || !intersect(a, b) {
                    continue;
                }
                let (oa, ob) = (arena.offsets[i], arena.offsets[j]);
                prop_assert!(oa + a.bytes <= ob || ob + b.bytes <= oa, "tensors {} and {} overlap", i, j);
            }
        }
        prop_assert!(arena.total >= lower_bound(&ts).unwrap());
    }

    #[test]
    fn moving_a_tensor_onto_a_live_one_is_a_conflict(ts in tensors()) {
        let arena = plan(&ts).unwrap();
        let clash = (0..ts.len()).flat_map(|i| (0..ts.len()).map(move |j| (i, j))).find(|&(i, j)| {
            i != j && root(&ts, i) == i && root(&ts, j) == j && intersect(&ts[i], &ts[j])
        });
        if let Some((i, j)) = clash {
            let mut offsets = arena.offsets.clone();
            for (k, offset) in offsets.iter_mut().enumerate() {
                if root(&ts, k) == j {
                    *offset = arena.offsets[i];
                }
            }
            let total = arena.total + ts.iter().map(|t| t.bytes + ALIGN).sum::<usize>();
            let found = find_conflict(&ts, &offsets, total).unwrap();
            prop_assert!(matches!(found, Some(Conflict::Overlap(..))), "{:?}", found);
        }
    }
}

#[test]
fn disjoint_lifetimes_share_memory_and_in_place_reuses_it() {
    let t = |bytes, first, last, alias_of| ArenaTensor {
        bytes,
        first,
        last,
        alias_of,
    };
    // a chain a -> b -> c: a and c can share; b overwriting a in place takes a's offset.
    let ts = [
        t(1000, 0, 1, None),
        t(1000, 1, 2, None),
        t(1000, 2, 3, None),
    ];
    let arena = plan(&ts).unwrap();
    assert_eq!(arena.offsets[0], arena.offsets[2]);
    assert_eq!(arena.total, 2048);
    assert_eq!(lower_bound(&ts).unwrap(), 2048);
    let in_place = [t(1000, 0, 1, None), t(1000, 1, 2, Some(0))];
    let arena = plan(&in_place).unwrap();
    assert_eq!(arena.offsets, vec![0, 0]);
    assert_eq!(arena.total, 1024);
}

#[test]
fn malformed_tensors_are_errors() {
    let t = |first, last, alias_of| ArenaTensor {
        bytes: 8,
        first,
        last,
        alias_of,
    };
    assert!(plan(&[t(2, 1, None)]).is_err());
    assert!(plan(&[t(0, 1, Some(1)), t(0, 1, Some(0))]).is_err());
    assert!(plan(&[t(0, 1, Some(5))]).is_err());
    assert_eq!(
        find_conflict(&[t(0, 1, None)], &[32], 1024).unwrap(),
        Some(Conflict::Outside(0))
    );
}
