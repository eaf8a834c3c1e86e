//! A small hand-written plan shared by the runtime tests: conv (chw, fused relu) ->
//! chw_to_hwc -> conv (hwc) -> hwc_to_chw, batch 2, with the arena placed by hand so that
//! tensors whose lifetimes do not intersect share memory.
use serde_json::{json, Value};

pub const BATCH: usize = 2;
pub const C_IN: usize = 3;
pub const C_MID: usize = 8;
pub const C_OUT: usize = 5;
pub const HW: usize = 8;

pub fn weights() -> Vec<(String, Vec<f32>)> {
    let mut seed = 7u64;
    let mut vals = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    };
    vec![
        ("c1.weight".into(), vals(C_MID * C_IN * 9)),
        ("c1.bias".into(), vals(C_MID)),
        ("c2.weight".into(), vals(C_OUT * C_MID * 9)),
        ("c2.bias".into(), vals(C_OUT)),
    ]
}

/// A 3x3 conv step with pads 1 from `io` (input, output), `ck` (in, out) channels.
fn conv_step(
    layer: &str,
    kernel: &str,
    layout: &str,
    io: [&str; 2],
    ck: [usize; 2],
    act: &str,
) -> Value {
    let ([input, output], [c, k]) = (io, ck);
    json!({"kind": "layer", "layer": layer, "op": "conv", "kernel": kernel, "layout": layout, "isa": "auto",
           "inputs": [input], "output": output, "fused": if act == "none" { json!([]) } else { json!(["r1"]) },
           "activation": act,
           "attrs": {"stride": [1, 1], "padding": [1, 1, 1, 1], "dilation": [1, 1], "groups": 1},
           "weights": {"weight": [k, c, 3, 3], "bias": [k]}, "workspace_bytes": 0, "packed_bytes": 0})
}

pub fn plan(threads: usize) -> Value {
    let t = |c: usize, layout: &str, offset: Value| {
        json!({"shape": [BATCH, c, HW, HW], "layout": layout, "offset": offset,
               "bytes": 4 * BATCH * c * HW * HW, "view_of": null})
    };
    let mid = 4 * BATCH * C_MID * HW * HW; // 4096 bytes
    json!({
        "format": "leanconv-plan", "version": 1, "graph": {"name": "t", "digest": "0"},
        "threads": threads, "inputs": ["x"], "outputs": ["c2@chw"],
        "tensors": {
            "x": t(C_IN, "chw", Value::Null),
            "r1": t(C_MID, "chw", json!(0)),
            "r1@hwc": t(C_MID, "hwc", json!(mid)),
            "c2": t(C_OUT, "hwc", json!(0)),
            "c2@chw": t(C_OUT, "chw", json!(mid)),
        },
        "steps": [
            conv_step("c1", "direct_chw", "chw", ["x", "r1"], [C_IN, C_MID], "relu"),
            {"kind": "transform", "transform": "chw_to_hwc", "inputs": ["r1"], "output": "r1@hwc"},
            conv_step("c2", "im2row_hwc", "hwc", ["r1@hwc", "c2"], [C_MID, C_OUT], "none"),
            {"kind": "transform", "transform": "hwc_to_chw", "inputs": ["c2"], "output": "c2@chw"},
        ],
        "arena_bytes": 2 * mid, "workspace_bytes": 0, "packed_bytes": 0
    })
}
