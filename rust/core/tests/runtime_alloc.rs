//! The executor allocates nothing on the heap per inference after the first: a counting
//! global allocator around repeated runs (one test in this binary, so no other test's
//! allocations are counted). Its output equals the primitives run one by one.
use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use leanconv_core::conv::layout::{transform, Transform};
use leanconv_core::conv::{find, Activation, ConvSpec, Isa, Pads};
use leanconv_core::runtime::Executor;

#[path = "common/plan.rs"]
mod plan;
use plan::{BATCH, C_IN, C_MID, C_OUT, HW};

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn spec(c: usize, k: usize, activation: Activation) -> ConvSpec {
    ConvSpec {
        in_channels: c,
        out_channels: k,
        height: HW,
        width: HW,
        kernel: (3, 3),
        stride: (1, 1),
        dilation: (1, 1),
        pads: Pads::from([1, 1, 1, 1]),
        groups: 1,
        activation,
    }
}

/// The plan's network computed primitive by primitive.
fn expected(x: &[f32], w: &HashMap<String, &[f32]>) -> Vec<f32> {
    let c1 = find("direct_chw").unwrap().pack(&spec(C_IN, C_MID, Activation::Relu), Isa::Auto, w["c1.weight"], Some(w["c1.bias"])).unwrap();
    let c2 = find("im2row_hwc").unwrap().pack(&spec(C_MID, C_OUT, Activation::None), Isa::Auto, w["c2.weight"], Some(w["c2.bias"])).unwrap();
    let mut r1 = vec![0.0; BATCH * C_MID * HW * HW];
    c1.run(x, &mut r1, BATCH, 1).unwrap();
    let mut r1_hwc = vec![0.0; r1.len()];
    for (s, d) in r1.chunks(C_MID * HW * HW).zip(r1_hwc.chunks_mut(C_MID * HW * HW)) {
        transform(Transform::ChwToHwc, s, d, C_MID, HW, HW).unwrap();
    }
    let mut y = vec![0.0; BATCH * C_OUT * HW * HW];
    c2.run(&r1_hwc, &mut y, BATCH, 1).unwrap();
    let mut out = vec![0.0; y.len()];
    for (s, d) in y.chunks(C_OUT * HW * HW).zip(out.chunks_mut(C_OUT * HW * HW)) {
        transform(Transform::HwcToChw, s, d, C_OUT, HW, HW).unwrap();
    }
    out
}

#[test]
fn no_heap_allocation_per_inference_after_the_first() {
    let owned = plan::weights();
    let weights: HashMap<String, &[f32]> = owned.iter().map(|(k, v)| (k.clone(), v.as_slice())).collect();
    let x: Vec<f32> = (0..BATCH * C_IN * HW * HW).map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0).collect();
    let want = expected(&x, &weights);
    for threads in [1, 2] {
        let mut exec = Executor::new(&plan::plan(threads).to_string(), &weights).unwrap();
        let mut y = vec![0.0f32; want.len()];
        exec.run(&[&x], &mut [&mut y]).unwrap();
        assert_eq!(y, want, "threads {threads}");
        // Runs after the first allocate nothing. With more threads the pool's dispatch
        // boxes one job per extra work piece (rayon's scope spawn), and nothing else may.
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        for _ in 0..20 {
            exec.run(&[&x], &mut [&mut y]).unwrap();
        }
        let allocated = ALLOCATIONS.load(Ordering::SeqCst) - before;
        let conv_steps = 2;
        assert!(
            allocated <= 20 * conv_steps * (threads - 1),
            "{allocated} allocations in 20 runs on {threads} threads"
        );
        assert_eq!(y, want);
    }
}
