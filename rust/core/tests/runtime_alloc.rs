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
    let c1 = find("direct_chw")
        .unwrap()
        .pack(
            &spec(C_IN, C_MID, Activation::Relu),
            Isa::Auto,
            w["c1.weight"],
            Some(w["c1.bias"]),
        )
        .unwrap();
    let c2 = find("im2row_hwc")
        .unwrap()
        .pack(
            &spec(C_MID, C_OUT, Activation::None),
            Isa::Auto,
            w["c2.weight"],
            Some(w["c2.bias"]),
        )
        .unwrap();
    let mut r1 = vec![0.0; BATCH * C_MID * HW * HW];
    c1.run(x, &mut r1, BATCH, 1).unwrap();
    let mut r1_hwc = vec![0.0; r1.len()];
    for (s, d) in r1
        .chunks(C_MID * HW * HW)
        .zip(r1_hwc.chunks_mut(C_MID * HW * HW))
    {
        transform(Transform::ChwToHwc, s, d, C_MID, HW, HW).unwrap();
    }
    let mut y = vec![0.0; BATCH * C_OUT * HW * HW];
    c2.run(&r1_hwc, &mut y, BATCH, 1).unwrap();
    let mut out = vec![0.0; y.len()];
    for (s, d) in y
        .chunks(C_OUT * HW * HW)
        .zip(out.chunks_mut(C_OUT * HW * HW))
    {
        transform(Transform::HwcToChw, s, d, C_OUT, HW, HW).unwrap();
    }
    out
}

/// Channels of the transposed convolution's output (depthwise-transposed, multiplier 2).
const C_UP: usize = 2 * C_OUT;

/// The common plan followed by op kernel steps: maxpool, sigmoid, a transposed convolution
/// with a fused relu (over the shared workspace), global average pooling, a flatten view and
/// a linear head (offsets placed by hand, lifetimes in the comments).
fn plan_with_ops() -> serde_json::Value {
    use serde_json::json;
    let mut p = plan::plan(1);
    let t = |shape: &[usize], layout: &str, offset: usize| {
        json!({"shape": shape, "layout": layout, "offset": offset, "bytes": 4 * shape.iter().product::<usize>(),
               "view_of": null})
    };
    let tensors = p["tensors"].as_object_mut().unwrap();
    tensors.insert("p".into(), t(&[BATCH, C_OUT, 4, 4], "chw", 0)); // steps 4-5, over dead c2
    tensors.insert("s".into(), t(&[BATCH, C_OUT, 4, 4], "chw", 1024)); // steps 5-6
    tensors.insert("ur".into(), t(&[BATCH, C_UP, 8, 8], "chw", 2048)); // steps 6-7
    tensors.insert("g".into(), t(&[BATCH, C_UP, 1, 1], "chw", 0)); // steps 7-9, over dead p
    let mut fl = t(&[BATCH, C_UP], "flat", 0);
    fl["view_of"] = json!({"tensor": "g", "channel_offset": 0});
    tensors.insert("fl".into(), fl);
    tensors.insert("lin".into(), t(&[BATCH, 3], "flat", 2048)); // step 9 to the end, over dead ur
    let layer = |name: &str,
                 op: &str,
                 kernel: &str,
                 input: &str,
                 attrs: serde_json::Value,
                 weights: serde_json::Value| {
        json!({"kind": "layer", "layer": name, "op": op, "kernel": kernel, "layout": "chw", "isa": "auto",
               "inputs": [input], "output": name, "fused": [], "activation": "none", "attrs": attrs,
               "weights": weights, "workspace_bytes": 0, "packed_bytes": 0})
    };
    let pool = json!({"kernel": [2, 2], "stride": [2, 2], "padding": [0, 0, 0, 0], "dilation": [1, 1], "ceil_mode": false});
    let steps = p["steps"].as_array_mut().unwrap();
    steps.push(layer(
        "p",
        "maxpool",
        "maxpool_chw",
        "c2@chw",
        pool,
        json!({}),
    ));
    steps.push(layer(
        "s",
        "sigmoid",
        "activation",
        "p",
        json!({}),
        json!({}),
    ));
    let mut up = layer(
        "u",
        "conv_transpose",
        "deconv_chw",
        "s",
        json!({"stride": [2, 2], "padding": [1, 1], "output_padding": [1, 1], "dilation": [1, 1],
               "groups": C_OUT}),
        json!({"weight": [C_OUT, 2, 3, 3], "bias": [C_UP]}),
    );
    up["output"] = json!("ur");
    up["fused"] = json!(["ur"]);
    up["activation"] = json!("relu");
    steps.push(up);
    steps.push(layer(
        "g",
        "global_avgpool",
        "global_avgpool_chw",
        "ur",
        json!({}),
        json!({}),
    ));
    steps.push(layer(
        "fl",
        "flatten",
        "reshape_view",
        "g",
        json!({"axis": 1}),
        json!({}),
    ));
    steps.push(layer(
        "lin",
        "linear",
        "linear",
        "fl",
        json!({}),
        json!({"weight": [3, C_UP], "bias": [3]}),
    ));
    p["outputs"] = json!(["lin"]);
    p["arena_bytes"] = json!(8192);
    p
}

#[test]
fn no_heap_allocation_per_inference_after_the_first() {
    let owned = plan::weights();
    let weights: HashMap<String, &[f32]> = owned
        .iter()
        .map(|(k, v)| (k.clone(), v.as_slice()))
        .collect();
    let x: Vec<f32> = (0..BATCH * C_IN * HW * HW)
        .map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0)
        .collect();
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
    // op kernel steps too
    let mut owned_ops = owned.clone();
    owned_ops.push((
        "u.weight".into(),
        (0..C_OUT * 2 * 9)
            .map(|i| (i % 7) as f32 / 7.0 - 0.4)
            .collect(),
    ));
    owned_ops.push((
        "u.bias".into(),
        (0..C_UP).map(|i| i as f32 / 20.0).collect(),
    ));
    owned_ops.push((
        "lin.weight".into(),
        (0..3 * C_UP).map(|i| i as f32 / 10.0).collect(),
    ));
    owned_ops.push(("lin.bias".into(), vec![0.5, -0.5, 0.0]));
    let weights: HashMap<String, &[f32]> = owned_ops
        .iter()
        .map(|(k, v)| (k.clone(), v.as_slice()))
        .collect();
    let mut exec = Executor::new(&plan_with_ops().to_string(), &weights).unwrap();
    let mut first = vec![0.0f32; BATCH * 3];
    exec.run(&[&x], &mut [&mut first]).unwrap();
    let mut y = vec![0.0f32; BATCH * 3];
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..20 {
        exec.run(&[&x], &mut [&mut y]).unwrap();
    }
    assert_eq!(
        ALLOCATIONS.load(Ordering::SeqCst) - before,
        0,
        "allocations in 20 runs with op kernels"
    );
    assert_eq!(y, first);
    assert!(y.iter().all(|v| v.is_finite()) && y.iter().any(|&v| v != 0.0));
}
