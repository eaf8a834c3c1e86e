//! The executor's plan check: a plan that does not fit is a CoreError::Plan naming what is
//! wrong, never a run over overlapping memory; bad inputs are shape errors.
use std::collections::HashMap;

use leanconv_core::runtime::Executor;
use leanconv_core::CoreError;
use serde_json::{json, Value};

#[path = "common/plan.rs"]
mod plan;

fn build(p: &Value) -> Result<Executor, CoreError> {
    let owned = plan::weights();
    let weights: HashMap<String, &[f32]> = owned
        .iter()
        .map(|(k, v)| (k.clone(), v.as_slice()))
        .collect();
    Executor::new(&p.to_string(), &weights)
}

fn plan_error(p: &Value, needle: &str) {
    match build(p) {
        Err(CoreError::Plan(m)) => assert!(m.contains(needle), "{m:?} should mention {needle:?}"),
        Err(e) => panic!("expected a plan error about {needle:?}, got {e:?}"),
        Ok(_) => panic!("expected a plan error about {needle:?}"),
    }
}

#[test]
fn the_hand_placed_plan_builds() {
    let exec = build(&plan::plan(1)).unwrap();
    assert_eq!(exec.arena_bytes(), 8192);
    assert!(exec.workspace_bytes() > 0 && exec.packed_bytes() > 0);
}

#[test]
fn live_tensors_overlapping_in_the_arena_are_refused() {
    let mut p = plan::plan(1);
    // r1@hwc is written while r1 is read: at r1's offset it would overwrite its own input.
    p["tensors"]["r1@hwc"]["offset"] = json!(0);
    plan_error(&p, "over its input");
    // c2 writing r1@hwc's bytes while its own step reads r1@hwc.
    let mut p = plan::plan(1);
    p["tensors"]["c2"]["offset"] = json!(4096);
    plan_error(&p, "over its input");
    // r1 made a graph output lives to the end; c2 at offset 0 would overwrite it at a step
    // that does not read it.
    let mut p = plan::plan(1);
    p["outputs"] = json!(["c2@chw", "r1"]);
    plan_error(&p, "overlap");
}

#[test]
fn misfits_are_plan_errors() {
    let mut p = plan::plan(1);
    p["steps"][0]["kernel"] = json!("no_such_primitive");
    plan_error(&p, "unknown kernel");
    let mut p = plan::plan(1);
    p["steps"][2]["inputs"] = json!(["missing"]);
    plan_error(&p, "\"missing\"");
    let mut p = plan::plan(1);
    p["version"] = json!(2);
    plan_error(&p, "version");
    let mut p = plan::plan(1);
    p["tensors"]["c2@chw"]["offset"] = json!(8192);
    plan_error(&p, "outside");
    let mut p = plan::plan(1);
    p["steps"][2]["kernel"] = json!("direct_chw");
    plan_error(&p, "layout");
    let mut p = plan::plan(1);
    p["steps"][0]["attrs"]["padding"] = json!([1, 1]);
    plan_error(&p, "padding");
    let mut p = plan::plan(1);
    p["tensors"]["r1"]["bytes"] = json!(4);
    plan_error(&p, "bytes");
}

#[test]
fn a_missing_weight_is_a_plan_error_and_bad_inputs_are_shape_errors() {
    let p = plan::plan(1);
    let owned = plan::weights();
    let weights: HashMap<String, &[f32]> = owned
        .iter()
        .filter(|(k, _)| k != "c2.bias")
        .map(|(k, v)| (k.clone(), v.as_slice()))
        .collect();
    assert!(
        matches!(Executor::new(&p.to_string(), &weights), Err(CoreError::Plan(m)) if m.contains("c2.bias"))
    );
    let mut exec = build(&p).unwrap();
    let x = vec![0.0f32; 10];
    let mut y = vec![0.0f32; exec.output_lens()[0]];
    assert!(matches!(
        exec.run(&[&x], &mut [&mut y]),
        Err(CoreError::Shape(_))
    ));
    assert!(matches!(
        exec.run(&[], &mut [&mut y]),
        Err(CoreError::Shape(_))
    ));
}
