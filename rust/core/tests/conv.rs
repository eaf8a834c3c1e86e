//! Drivers over the C primitives: every primitive against a float64 reference (fixed shapes
//! and random specs with asymmetric pads), threads, and the error paths (bad sizes,
//! non-applicable primitives, invalid specs).
use leanconv_core::conv::{
    find, primitives, split_channels, split_work, Activation, ConvSpec, Gemm, Isa, Layout, Pads,
    Primitive,
};
use leanconv_core::CoreError;
use proptest::prelude::*;

fn lcg(seed: &mut u64) -> f32 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// Float64 reference; returns (out, magnitude) in the given layout.
fn reference(
    p: &ConvSpec,
    layout: Layout,
    x: &[f32],
    w: &[f32],
    b: &[f32],
) -> (Vec<f64>, Vec<f64>) {
    let (oh, ow) = p.output_hw().unwrap();
    let (c, h, wd, k) = (p.in_channels, p.height, p.width, p.out_channels);
    let (cg, kg) = (c / p.groups, k / p.groups);
    let mut out = vec![0.0; k * oh * ow];
    let mut mag = vec![0.0; k * oh * ow];
    for ko in 0..k {
        for oy in 0..oh {
            for ox in 0..ow {
                let (mut s, mut m) = (f64::from(b[ko]), f64::from(b[ko]).abs());
                for ci in 0..cg {
                    let ch = ko / kg * cg + ci;
                    for r in 0..p.kernel.0 {
                        for q in 0..p.kernel.1 {
                            let iy =
                                (oy * p.stride.0 + r * p.dilation.0) as isize - p.pads.top as isize;
                            let ix = (ox * p.stride.1 + q * p.dilation.1) as isize
                                - p.pads.left as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                continue;
                            }
                            let (iy, ix) = (iy as usize, ix as usize);
                            let xv = match layout {
                                Layout::Chw => x[(ch * h + iy) * wd + ix],
                                Layout::Hwc => x[(iy * wd + ix) * c + ch],
                            };
                            let wv = w[((ko * cg + ci) * p.kernel.0 + r) * p.kernel.1 + q];
                            s += f64::from(xv) * f64::from(wv);
                            m += (f64::from(xv) * f64::from(wv)).abs();
                        }
                    }
                }
                let s = match p.activation {
                    Activation::None => s,
                    Activation::Relu => s.max(0.0),
                    Activation::Relu6 => s.clamp(0.0, 6.0),
                };
                let i = match layout {
                    Layout::Chw => (ko * oh + oy) * ow + ox,
                    Layout::Hwc => (oy * ow + ox) * k + ko,
                };
                out[i] = s;
                mag[i] = m;
            }
        }
    }
    (out, mag)
}

/// Largest magnitude within each output's `t` x `t` tile: Winograd computes a tile's outputs
/// from the same transformed values, so their errors scale with the tile, not the element.
fn tile_max(mag: &[f64], layout: Layout, k: usize, (oh, ow): (usize, usize), t: usize) -> Vec<f64> {
    let at = |c: usize, y: usize, x: usize| match layout {
        Layout::Chw => (c * oh + y) * ow + x,
        Layout::Hwc => (y * ow + x) * k + c,
    };
    let mut out = vec![0.0f64; mag.len()];
    for c in 0..k {
        for y in 0..oh {
            for x in 0..ow {
                let (ty, tx) = (y / t * t, x / t * t);
                let mut m = 0.0f64;
                for yy in ty..(ty + t).min(oh) {
                    for xx in tx..(tx + t).min(ow) {
                        m = m.max(mag[at(c, yy, xx)]);
                    }
                }
                out[at(c, y, x)] = m;
            }
        }
    }
    out
}

/// Packs `p` for `prim`, runs `batch` random images with 1 thread and with 2, 3 and 16 (which
/// split images, output rows and output channels: each must give exactly the 1-thread result),
/// and checks every output against the float64 reference.
fn check_primitive(prim: Primitive, p: &ConvSpec, isa: Isa, batch: usize, seed: &mut u64) {
    let (oh, ow) = p.output_hw().unwrap();
    let wl = p.out_channels * p.in_channels / p.groups * p.kernel.0 * p.kernel.1;
    let il = p.in_channels * p.height * p.width;
    let x: Vec<f32> = (0..batch * il).map(|_| lcg(seed)).collect();
    let w: Vec<f32> = (0..wl).map(|_| lcg(seed)).collect();
    let b: Vec<f32> = (0..p.out_channels).map(|_| lcg(seed)).collect();
    let packed = prim.pack(p, isa, &w, Some(&b)).unwrap();
    let ol = p.out_channels * oh * ow;
    let mut y1 = vec![f32::NAN; batch * ol];
    packed.run(&x, &mut y1, batch, 1).unwrap();
    for threads in [2, 3, 16] {
        let mut yt = vec![f32::NAN; batch * ol];
        packed.run(&x, &mut yt, batch, threads).unwrap();
        assert_eq!(
            y1, yt,
            "{} differs between 1 and {threads} threads",
            prim.name
        );
    }
    let tile = match prim.family {
        "winograd2x2" => 2,
        "winograd4x4" => 4,
        _ => 1,
    };
    for n in 0..batch {
        let (r, m) = reference(p, prim.layout, &x[n * il..(n + 1) * il], &w, &b);
        let m = tile_max(&m, prim.layout, p.out_channels, (oh, ow), tile);
        for i in 0..ol {
            let e = (f64::from(y1[n * ol + i]) - r[i]).abs();
            assert!(
                e <= 1e-4 * (m[i] + 1e-3),
                "{} {isa:?} {p}: {} vs {}",
                prim.name,
                y1[n * ol + i],
                r[i]
            );
        }
    }
}

fn shapes() -> Vec<ConvSpec> {
    let mut v = Vec::new();
    let base = |c, h, w, k, ks: usize, s: usize, pads: [usize; 4], g: usize| ConvSpec {
        stride: (s, s),
        pads: Pads::from(pads),
        groups: g,
        ..ConvSpec::new(c, k, h, w, (ks, ks))
    };
    v.push(base(5, 7, 6, 9, 3, 1, [1; 4], 1));
    v.push(base(18, 9, 7, 20, 3, 2, [1; 4], 1));
    v.push(base(33, 5, 5, 17, 1, 1, [0; 4], 1));
    v.push(base(9, 4, 6, 7, 1, 1, [0; 4], 1));
    v.push(base(12, 8, 9, 12, 3, 1, [1; 4], 12));
    v.push(base(12, 9, 8, 12, 5, 2, [2; 4], 12));
    v.push(base(8, 6, 6, 6, 3, 1, [0; 4], 2));
    // asymmetric: TF-style SAME (odd pixel at the end) and lopsided pads
    v.push(base(6, 8, 7, 10, 3, 1, [0, 0, 2, 2], 1));
    v.push(base(12, 8, 7, 12, 3, 2, [0, 0, 1, 1], 12));
    v.push(base(7, 9, 10, 5, 3, 2, [2, 0, 1, 3], 1));
    v.push(base(10, 7, 9, 10, 5, 1, [1, 2, 3, 2], 10));
    // depthwise vector paths: 8-channel blocks and a tail, 4-pixel interior blocks (HWC),
    // 8-column vectors and stride-2 even lanes (CHW), split over rows by the threads
    v.push(base(20, 9, 21, 20, 3, 2, [1, 0, 0, 2], 20));
    v.push(base(19, 8, 17, 19, 5, 1, [2; 4], 19));
    v.push(base(16, 11, 26, 16, 3, 1, [1; 4], 16));
    // an RGB stem: im2row's interior runs and lowered border tiles
    v.push(base(3, 13, 31, 24, 3, 2, [1; 4], 1));
    let mut d = base(4, 9, 9, 5, 3, 1, [2; 4], 1);
    d.dilation = (2, 2);
    d.activation = Activation::Relu6;
    v.push(d);
    v
}

#[test]
fn every_primitive_matches_reference_with_threads() {
    assert!(primitives().len() >= 16);
    let mut seed = 7u64;
    for &prim in primitives() {
        let mut covered = 0;
        for p in shapes() {
            if prim.applicable(&p).unwrap() {
                covered += 1;
                check_primitive(prim, &p, Isa::Auto, 2, &mut seed);
            }
        }
        assert!(covered >= 2, "{} covered by {covered} shapes", prim.name);
    }
}

/// A random spec inside `prim`'s documented applicability, with independent pads on all four
/// sides; None when the kernel does not fit the padded input.
#[allow(clippy::too_many_arguments)]
fn spec_for(
    prim: Primitive,
    (h, w): (usize, usize),
    (cg, kg, g): (usize, usize, usize),
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    (dh, dw): (usize, usize),
    pads: [usize; 4],
    activation: Activation,
) -> Option<ConvSpec> {
    let mut p = ConvSpec {
        in_channels: cg * g,
        out_channels: kg * g,
        height: h,
        width: w,
        kernel: (kh, kw),
        stride: (sh, sw),
        dilation: (dh, dw),
        pads: Pads::from(pads),
        groups: g,
        activation,
    };
    match prim.family {
        "kn2row" => (p.groups, p.stride) = (1, (1, 1)),
        "gemm1x1" => {
            (p.groups, p.kernel, p.stride, p.pads) = (1, (1, 1), (1, 1), Pads::default());
        }
        "winograd2x2" | "winograd4x4" => {
            (p.groups, p.kernel, p.stride, p.dilation) = (1, (3, 3), (1, 1), (1, 1));
        }
        "depthwise" => {
            let ks = if prim.name.contains("5x5") { 5 } else { 3 };
            (p.in_channels, p.out_channels, p.groups) = (cg * g, cg * g, cg * g);
            (p.kernel, p.stride, p.dilation) = ((ks, ks), (sh.min(2), sh.min(2)), (1, 1));
        }
        _ => {}
    }
    p.output_hw().ok().map(|_| p)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn every_primitive_matches_reference_on_random_specs(
        which in 0usize..64, h in 1usize..12, w in 1usize..20,
        cg in 1usize..7, kg in 1usize..7, g in 1usize..4,
        kh in 1usize..5, kw in 1usize..5, sh in 1usize..3, sw in 1usize..3,
        dh in 1usize..3, dw in 1usize..3, pads in proptest::array::uniform4(0usize..4),
        act in 0usize..3, scalar in any::<bool>(), batch in 1usize..3, seed in any::<u64>(),
    ) {
        let prim = primitives()[which % primitives().len()];
        let activation = [Activation::None, Activation::Relu, Activation::Relu6][act];
        let spec = spec_for(prim, (h, w), (cg, kg, g), (kh, kw), (sh, sw), (dh, dw), pads, activation);
        prop_assume!(spec.is_some());
        let spec = spec.unwrap();
        prop_assert!(prim.applicable(&spec).unwrap(), "{} should apply to {}", prim.name, spec);
        let isa = if scalar { Isa::Scalar } else { Isa::Auto };
        check_primitive(prim, &spec, isa, batch, &mut seed.clone());
    }
}

#[test]
fn errors_are_reported_not_panics() {
    let auto = Isa::Auto;
    let wino = find("winograd4x4_chw").unwrap();
    let p5 = ConvSpec::new(4, 4, 8, 8, (5, 5));
    assert!(!wino.applicable(&p5).unwrap());
    assert!(matches!(
        wino.pack(&p5, auto, &[0.0; 400], None),
        Err(CoreError::Unsupported(_))
    ));
    assert!(matches!(
        wino.workspace_bytes(&p5, auto),
        Err(CoreError::Unsupported(_))
    ));
    let p3 = ConvSpec::new(4, 4, 8, 8, (3, 3));
    assert!(matches!(
        wino.pack(&p3, auto, &[0.0; 10], None),
        Err(CoreError::Shape(_))
    ));
    assert!(matches!(
        wino.pack(&p3, auto, &[0.0; 144], Some(&[0.0; 3])),
        Err(CoreError::Shape(_))
    ));
    let packed = wino.pack(&p3, auto, &[0.0; 144], None).unwrap();
    let mut out = vec![0.0; 4 * 6 * 6];
    assert!(matches!(
        packed.run(&[0.0; 5], &mut out, 1, 1),
        Err(CoreError::Shape(_))
    ));
    assert!(matches!(
        packed.run(&[0.0; 256], &mut out[..10], 1, 1),
        Err(CoreError::Shape(_))
    ));
    assert!(matches!(
        packed.run(&[0.0; 256], &mut out, 1, 0),
        Err(CoreError::InvalidArgument(_))
    ));
    packed.run(&[0.0; 256], &mut out, 1, 2).unwrap();
    // invalid specs
    let bad = ConvSpec {
        groups: 4,
        ..ConvSpec::new(6, 4, 4, 4, (3, 3))
    };
    assert!(matches!(wino.applicable(&bad), Err(CoreError::Shape(_))));
    let direct = find("direct_chw").unwrap();
    for spec in [
        ConvSpec::new(1 << 20, 1, 1 << 20, 1 << 20, (1, 1)),
        ConvSpec::new(4, 4, 2, 2, (3, 3)),
        ConvSpec::new(0, 4, 2, 2, (1, 1)),
    ] {
        assert!(matches!(direct.applicable(&spec), Err(CoreError::Shape(_))));
    }
    // the gemm1x1 primitives take no padding on any side
    let one = ConvSpec::new(4, 4, 3, 3, (1, 1));
    for pads in [[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]] {
        let padded = ConvSpec {
            pads: Pads::from(pads),
            ..one
        };
        assert!(!find("gemm1x1_hwc").unwrap().applicable(&padded).unwrap());
    }
    assert!(find("gemm1x1_hwc").unwrap().applicable(&one).unwrap());
    assert!(find("nope").is_err());
    assert!(Activation::parse("gelu").is_err());
    assert!(Isa::parse("sse").is_err());
}

#[test]
fn channel_split_covers_range() {
    for k in 1..100 {
        for t in 1..6 {
            let r = split_channels(k, t);
            assert!(!r.is_empty() && r.len() <= t);
            assert_eq!(r[0].0, 0);
            assert_eq!(r.last().unwrap().1, k);
            for w in r.windows(2) {
                assert_eq!(w[0].1, w[1].0);
                assert!(w[0].0 < w[0].1);
            }
        }
    }
}

#[test]
fn work_split_covers_every_output_once() {
    for batch in 1..5 {
        for k in [1, 3, 17, 40] {
            for oh in [1, 2, 5, 9, 30] {
                for t in 1..6 {
                    let pieces = split_work(batch, k, oh, t);
                    assert!(!pieces.is_empty() && pieces.len() <= t);
                    let mut seen = vec![0u8; batch * k * oh];
                    for p in &pieces {
                        assert!(p.images.0 < p.images.1 && p.images.1 <= batch, "{p:?}");
                        assert!(p.channels.0 < p.channels.1 && p.channels.1 <= k, "{p:?}");
                        assert!(p.rows.0 < p.rows.1 && p.rows.1 <= oh, "{p:?}");
                        for n in p.images.0..p.images.1 {
                            for c in p.channels.0..p.channels.1 {
                                for y in p.rows.0..p.rows.1 {
                                    seen[(n * k + c) * oh + y] += 1;
                                }
                            }
                        }
                    }
                    assert!(seen.iter().all(|&v| v == 1), "{batch} {k} {oh} {t}");
                    if t > 1 && oh >= t && batch % t != 0 {
                        assert_eq!(pieces.len(), t, "rows split over every thread");
                        assert!(pieces.iter().all(|p| p.channels == (0, k)));
                    }
                }
            }
        }
    }
}

#[test]
fn gemm_matches_naive() {
    let mut seed = 3u64;
    for &(m, n, k) in &[(1, 1, 1), (13, 70, 300), (70, 3, 17), (9, 40, 0)] {
        let a: Vec<f32> = (0..m * k).map(|_| lcg(&mut seed)).collect();
        let b: Vec<f32> = (0..k * n).map(|_| lcg(&mut seed)).collect();
        let mut c = vec![1.0f32; m * n];
        let mut g = Gemm::new(m, n, k, Isa::Auto).unwrap();
        g.run(&a, &b, &mut c, true).unwrap();
        for i in 0..m {
            for j in 0..n {
                let s: f64 = 1.0
                    + (0..k)
                        .map(|q| f64::from(a[i * k + q]) * f64::from(b[q * n + j]))
                        .sum::<f64>();
                assert!((f64::from(c[i * n + j]) - s).abs() < 1e-4 * (k as f64 + 1.0));
            }
        }
        assert!(g.run(&a, &b, &mut c[..0], false).is_err() || m * n == 0);
    }
}
