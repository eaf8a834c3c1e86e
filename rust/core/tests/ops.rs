//! Drivers over the C op kernels against float64 references over random shapes and
//! parameters (1x1 images, one channel, ceil-mode windows past the edge, pads larger than half
//! the kernel, every broadcast form, both layouts), in place and out of place, and the error
//! paths.
use leanconv_core::conv::AlignedBuf;
use leanconv_core::ops::{
    kernels, Act, Affine, Binary, BinaryOp, Broadcast, ConvTranspose2d, Dims, GlobalPool, InPlace,
    Isa, Layout, Op, Pool2d, PoolKind, Unary,
};
use leanconv_core::CoreError;
use proptest::prelude::*;

/// `n` values in [-scale, scale) from a xorshift64 stream of `seed`.
fn data(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Index of element (image, channel, y, x) of `d` in `layout`.
fn at(d: &Dims, layout: Layout, i: usize, c: usize, y: usize, x: usize) -> usize {
    match layout {
        Layout::Chw => ((i * d.c + c) * d.h + y) * d.w + x,
        Layout::Hwc => ((i * d.h + y) * d.w + x) * d.c + c,
    }
}

fn ref_act(x: f64, a: &Act) -> f64 {
    match *a {
        Act::None => x,
        Act::Relu => x.max(0.0),
        Act::Relu6 => x.clamp(0.0, 6.0),
        Act::Clip { min, max } => x.clamp(f64::from(min), f64::from(max)),
        Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Act::HardSigmoid { alpha, beta } => {
            (f64::from(alpha) * x + f64::from(beta)).clamp(0.0, 1.0)
        }
        Act::HardSwish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
        Act::Silu => x / (1.0 + (-x).exp()),
        Act::Gelu => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
        Act::Tanh => x.tanh(),
        Act::LeakyRelu { alpha } => {
            if x >= 0.0 {
                x
            } else {
                f64::from(alpha) * x
            }
        }
    }
}

/// erf in float64 by its Taylor series (|x| < 3) and continued fraction of erfc (beyond), both
/// to well under float32 precision.
fn erf(x: f64) -> f64 {
    let a = x.abs();
    let r = if a < 3.0 {
        let (mut term, mut sum, mut k) = (a, a, 0.0);
        while term.abs() > 1e-17 * sum.abs() {
            k += 1.0;
            term *= -a * a / k;
            sum += term / (2.0 * k + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        let mut f = 0.0;
        for k in (1..60).rev() {
            f = f64::from(k) / 2.0 / (a + f);
        }
        1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / (a + f)
    };
    r.copysign(x)
}

fn act_strategy() -> impl Strategy<Value = Act> {
    prop_oneof![
        Just(Act::None),
        Just(Act::Relu),
        Just(Act::Relu6),
        (-2.0f32..1.0, 0.0f32..4.0).prop_map(|(min, d)| Act::Clip { min, max: min + d }),
        Just(Act::Sigmoid),
        (0.05f32..0.5, 0.2f32..0.8).prop_map(|(alpha, beta)| Act::HardSigmoid { alpha, beta }),
        Just(Act::HardSwish),
        Just(Act::Silu),
        Just(Act::Gelu),
        Just(Act::Tanh),
        (0.0f32..0.5).prop_map(|alpha| Act::LeakyRelu { alpha }),
    ]
}

fn layout_strategy() -> impl Strategy<Value = Layout> {
    prop_oneof![Just(Layout::Chw), Just(Layout::Hwc)]
}

fn isa_strategy() -> impl Strategy<Value = Isa> {
    prop_oneof![Just(Isa::Auto), Just(Isa::Scalar), Just(Isa::Avx2)]
}

/// Small batches of odd images, one channel and 1x1 images included.
fn dims_strategy() -> impl Strategy<Value = Dims> {
    prop_oneof![
        Just(Dims::new(1, 1, 1, 1)),
        (1usize..3, 1usize..5).prop_map(|(n, c)| Dims::new(n, c, 1, 1)),
        (1usize..3, 1usize..20, 1usize..9, 1usize..9)
            .prop_map(|(n, c, h, w)| Dims::new(n, c, h, w)),
    ]
}

fn assert_close(got: &[f32], want: &[f64], atol: f64, rtol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (f64::from(g) - w).abs() <= atol + rtol * w.abs()
            || (w.is_infinite() && f64::from(g) == w);
        assert!(ok, "{what}: [{i}] got {g}, want {w}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn activation_matches_reference(act in act_strategy(), len in 1usize..300, seed: u64,
                                    scale in prop_oneof![Just(1.0f32), Just(12.0), Just(100.0)],
                                    isa in isa_strategy()) {
        let x = data(len, seed, scale);
        let want: Vec<f64> = x.iter().map(|&v| ref_act(f64::from(v), &act)).collect();
        let op = Unary { len, act, isa };
        let mut out = vec![f32::NAN; len];
        op.run(&[&x], &mut out).unwrap();
        assert_close(&out, &want, 4e-7, 4e-6, act.name());
        let mut inplace = x.clone();
        op.run_in_place(&[], &mut inplace).unwrap();
        prop_assert_eq!(out, inplace);
    }

    #[test]
    fn binary_matches_reference(dims in dims_strategy(), layout in layout_strategy(),
                                op in prop_oneof![Just(BinaryOp::Add), Just(BinaryOp::Sub),
                                                  Just(BinaryOp::Mul), Just(BinaryOp::Div)],
                                broadcast in prop_oneof![Just(Broadcast::Same), Just(Broadcast::Scalar),
                                                         Just(Broadcast::Channel), Just(Broadcast::ImageChannel)],
                                reversed: bool, act in act_strategy(), isa in isa_strategy(), seed: u64) {
        let b = Binary { dims, layout, op, broadcast, reversed, act, isa };
        let n = dims.len().unwrap();
        // divisors kept away from zero
        let away = |v: Vec<f32>| v.into_iter().map(|e| if e < 0.0 { e - 0.5 } else { e + 0.5 }).collect::<Vec<_>>();
        let x = away(data(n, seed, 3.0));
        let y = away(data(b.y_len().unwrap(), seed ^ 0x55, 3.0));
        let mut want = vec![0.0; n];
        for i in 0..dims.n {
            for c in 0..dims.c {
                for yy in 0..dims.h {
                    for xx in 0..dims.w {
                        let k = at(&dims, layout, i, c, yy, xx);
                        let yv = f64::from(match broadcast {
                            Broadcast::Same => y[k],
                            Broadcast::Scalar => y[0],
                            Broadcast::Channel => y[c],
                            Broadcast::ImageChannel => y[i * dims.c + c],
                        });
                        let xv = f64::from(x[k]);
                        let (l, r) = if reversed { (yv, xv) } else { (xv, yv) };
                        let v = match op {
                            BinaryOp::Add => l + r,
                            BinaryOp::Sub => l - r,
                            BinaryOp::Mul => l * r,
                            BinaryOp::Div => l / r,
                        };
                        want[k] = ref_act(f64::from(v as f32), &act);
                    }
                }
            }
        }
        let mut out = vec![f32::NAN; n];
        b.run(&[&x, &y], &mut out).unwrap();
        assert_close(&out, &want, 1e-6, 4e-6, op.name());
        let mut inplace = x.clone();
        b.run_in_place(&[&y], &mut inplace).unwrap();
        prop_assert_eq!(out, inplace);
    }

    #[test]
    fn batch_norm_matches_reference(dims in dims_strategy(), layout in layout_strategy(),
                                    act in act_strategy(), seed: u64) {
        let c = dims.c;
        let (gamma, beta, mean) = (data(c, seed, 2.0), data(c, seed ^ 1, 1.0), data(c, seed ^ 2, 1.0));
        let var: Vec<f32> = data(c, seed ^ 3, 1.0).iter().map(|v| v.abs()).collect();
        let eps = 1e-5;
        let op = Affine::batch_norm(dims, layout, &gamma, &beta, &mean, &var, eps, act).unwrap();
        let n = dims.len().unwrap();
        let x = data(n, seed ^ 4, 3.0);
        let mut want = vec![0.0; n];
        for i in 0..dims.n {
            for ch in 0..c {
                for yy in 0..dims.h {
                    for xx in 0..dims.w {
                        let k = at(&dims, layout, i, ch, yy, xx);
                        let v = f64::from(gamma[ch]) * (f64::from(x[k]) - f64::from(mean[ch]))
                            / (f64::from(var[ch]) + f64::from(eps)).sqrt() + f64::from(beta[ch]);
                        want[k] = ref_act(v, &act);
                    }
                }
            }
        }
        let mut out = vec![f32::NAN; n];
        op.run(&[&x], &mut out).unwrap();
        // scale up to 2 / sqrt(1e-5): the tolerance follows the magnitude of the terms
        let big = 2.0 / f64::from(eps).sqrt();
        assert_close(&out, &want, 2e-6 * big, 1e-5, "batch_norm");
        let mut inplace = x.clone();
        op.run_in_place(&[], &mut inplace).unwrap();
        prop_assert_eq!(out, inplace);
    }

    #[test]
    fn pool_matches_reference(dims in dims_strategy(), layout in layout_strategy(),
                              max: bool, kernel in (1usize..5, 1usize..5), stride in (1usize..4, 1usize..4),
                              dilation in (1usize..3, 1usize..3), pads in proptest::array::uniform4(0usize..5),
                              ceil_mode: bool, count_include_pad: bool, isa in isa_strategy(), seed: u64) {
        let kind = if max { PoolKind::Max } else { PoolKind::Avg };
        let dilation = if max { dilation } else { (1, 1) };
        let p = Pool2d { kind, dims, layout, kernel, stride, dilation, pads, ceil_mode, count_include_pad, isa };
        let [pt, pl, pb, pr] = pads;
        let axis = |n: usize, k: usize, s: usize, d: usize, pa: usize, pz: usize| -> Option<(usize, bool)> {
            let ek = (k - 1) * d + 1;
            if n + pa + pz < ek { return None; }
            let mut o = (n + pa + pz - ek + if ceil_mode { s - 1 } else { 0 }) / s + 1;
            if ceil_mode && (o - 1) * s >= n + pa { o -= 1; }
            let empty = (0..o).any(|i| (0..k).all(|r| {
                let v = (i * s + r * d) as isize - pa as isize;
                v < 0 || v >= n as isize
            }));
            Some((o, empty))
        };
        let (ry, rx) = (axis(dims.h, kernel.0, stride.0, dilation.0, pt, pb),
                        axis(dims.w, kernel.1, stride.1, dilation.1, pl, pr));
        let (Some((oh, ey)), Some((ow, ex))) = (ry, rx) else {
            prop_assert!(matches!(p.output(), Err(CoreError::Shape(_))));
            return Ok(());
        };
        if (ey || ex) && !(kind == PoolKind::Avg && count_include_pad) {
            prop_assert!(matches!(p.output(), Err(CoreError::Shape(_))), "empty window accepted");
            return Ok(());
        }
        let od = p.output().unwrap();
        prop_assert_eq!(od, Dims::new(dims.n, dims.c, oh, ow));
        let x = data(dims.len().unwrap(), seed, 2.0);
        let mut want = vec![0.0; od.len().unwrap()];
        for i in 0..dims.n {
            for c in 0..dims.c {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let (mut acc, mut cnt) = (if max { f64::NEG_INFINITY } else { 0.0 }, 0usize);
                        for r in 0..kernel.0 {
                            for s in 0..kernel.1 {
                                let iy = (oy * stride.0 + r * dilation.0) as isize - pt as isize;
                                let ix = (ox * stride.1 + s * dilation.1) as isize - pl as isize;
                                if iy < 0 || ix < 0 || iy >= dims.h as isize || ix >= dims.w as isize { continue; }
                                let v = f64::from(x[at(&dims, layout, i, c, iy as usize, ix as usize)]);
                                acc = if max { acc.max(v) } else { acc + v };
                                cnt += 1;
                            }
                        }
                        if !max {
                            let hs = (oy * stride.0) as isize - pt as isize;
                            let ws = (ox * stride.1) as isize - pl as isize;
                            let he = (hs + kernel.0 as isize).min((dims.h + pb) as isize);
                            let we = (ws + kernel.1 as isize).min((dims.w + pr) as isize);
                            let div = if count_include_pad { ((he - hs) * (we - ws)) as f64 } else { cnt as f64 };
                            acc /= div;
                        }
                        want[at(&od, layout, i, c, oy, ox)] = acc;
                    }
                }
            }
        }
        let mut out = vec![f32::NAN; want.len()];
        p.run(&[&x], &mut out).unwrap();
        assert_close(&out, &want, 1e-6, 1e-6, kind_name(kind));
    }

    #[test]
    fn global_pool_matches_reference(dims in dims_strategy(), layout in layout_strategy(), max: bool,
                                     isa in isa_strategy(), seed: u64) {
        let kind = if max { PoolKind::Max } else { PoolKind::Avg };
        let p = GlobalPool { kind, dims, layout, isa };
        let x = data(dims.len().unwrap(), seed, 2.0);
        let mut want = vec![0.0; dims.n * dims.c];
        for i in 0..dims.n {
            for c in 0..dims.c {
                let vals = (0..dims.h).flat_map(|y| (0..dims.w).map(move |xx| (y, xx)))
                    .map(|(y, xx)| f64::from(x[at(&dims, layout, i, c, y, xx)]));
                want[i * dims.c + c] = if max { vals.fold(f64::NEG_INFINITY, f64::max) }
                                       else { vals.sum::<f64>() / dims.hw() as f64 };
            }
        }
        let mut out = vec![f32::NAN; want.len()];
        p.run(&[&x], &mut out).unwrap();
        assert_close(&out, &want, 1e-6, 1e-5, "global pool");
    }
}

fn kind_name(k: PoolKind) -> &'static str {
    match k {
        PoolKind::Max => "maxpool",
        PoolKind::Avg => "avgpool",
    }
}

#[test]
fn table_lists_every_kernel_once() {
    let names: Vec<&str> = kernels().iter().map(|k| k.name).collect();
    for want in [
        "activation",
        "binary_chw",
        "binary_hwc",
        "affine_chw",
        "affine_hwc",
        "maxpool_chw",
        "maxpool_hwc",
        "avgpool_chw",
        "avgpool_hwc",
        "global_avgpool_chw",
        "global_avgpool_hwc",
        "global_maxpool_chw",
        "global_maxpool_hwc",
    ] {
        assert_eq!(names.iter().filter(|&&n| n == want).count(), 1, "{want}");
    }
    let hwc = kernels().iter().find(|k| k.name == "maxpool_hwc").unwrap();
    assert_eq!(
        (hwc.op, hwc.layout, hwc.unit),
        ("maxpool", Some(Layout::Hwc), "output_row")
    );
    assert_eq!(
        kernels()
            .iter()
            .find(|k| k.name == "activation")
            .unwrap()
            .layout,
        None
    );
}

#[test]
fn activation_names_round_trip() {
    for name in Act::NAMES {
        assert_eq!(Act::parse(name, 0.0, 1.0).unwrap().name(), name);
    }
    assert!(matches!(
        Act::parse("swish2", 0.0, 0.0),
        Err(CoreError::InvalidArgument(_))
    ));
}

#[test]
fn bad_inputs_are_errors() {
    let d = Dims::new(2, 3, 4, 5);
    let n = d.len().unwrap();
    let x = vec![0.0f32; n];
    let mut out = vec![0.0f32; n];
    let add = Binary::new(d, Layout::Chw, BinaryOp::Add, Broadcast::Channel);
    // wrong y length, wrong number of inputs, short output
    assert!(matches!(
        add.run(&[&x, &x], &mut out),
        Err(CoreError::Shape(_))
    ));
    assert!(matches!(
        add.run(&[&x], &mut out),
        Err(CoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        add.run(&[&x, &x[..3]], &mut out[..5]),
        Err(CoreError::Shape(_))
    ));
    assert!(matches!(
        add.run_in_place(&[&x[..2]], &mut out),
        Err(CoreError::Shape(_))
    ));
    // zero and huge dimensions
    let zero = Binary::new(
        Dims::new(1, 0, 3, 3),
        Layout::Hwc,
        BinaryOp::Mul,
        Broadcast::Same,
    );
    assert!(matches!(
        zero.run(&[&[], &[]], &mut []),
        Err(CoreError::Shape(_))
    ));
    let huge = Unary {
        len: 1 << 41,
        act: Act::Relu,
        isa: Isa::Auto,
    };
    assert!(matches!(huge.validate(), Err(CoreError::Shape(_))));
    // activation parameters
    let clip = Unary {
        len: 4,
        act: Act::Clip { min: 2.0, max: 1.0 },
        isa: Isa::Auto,
    };
    assert!(matches!(
        clip.run(&[&x[..4]], &mut out[..4]),
        Err(CoreError::InvalidArgument(_))
    ));
    let nan = Unary {
        len: 4,
        act: Act::LeakyRelu { alpha: f32::NAN },
        isa: Isa::Auto,
    };
    assert!(matches!(nan.validate(), Err(CoreError::InvalidArgument(_))));
    // pooling: dilated average, zero stride, kernel larger than the padded input, a window
    // all in the padding, a wrong output length
    let mut p = Pool2d::new(PoolKind::Avg, d, Layout::Chw, (2, 2));
    p.dilation = (2, 1);
    assert!(matches!(p.validate(), Err(CoreError::InvalidArgument(_))));
    let mut p = Pool2d::new(PoolKind::Max, d, Layout::Hwc, (2, 2));
    p.stride = (0, 1);
    assert!(matches!(p.validate(), Err(CoreError::InvalidArgument(_))));
    let p = Pool2d::new(PoolKind::Max, d, Layout::Hwc, (7, 2));
    assert!(matches!(p.validate(), Err(CoreError::Shape(_))));
    let mut p = Pool2d::new(PoolKind::Max, Dims::new(1, 1, 2, 2), Layout::Chw, (2, 2));
    p.pads = [2, 0, 0, 0];
    p.stride = (1, 1);
    assert!(matches!(p.validate(), Err(CoreError::Shape(_))));
    p.kind = PoolKind::Avg;
    p.count_include_pad = true;
    assert_eq!(p.output().unwrap(), Dims::new(1, 1, 3, 1));
    let p = Pool2d::new(PoolKind::Max, d, Layout::Chw, (2, 2));
    assert!(matches!(p.run(&[&x], &mut out), Err(CoreError::Shape(_))));
    // batch-norm statistics of the wrong length or a non-positive variance
    let bn = Affine::batch_norm(
        d,
        Layout::Chw,
        &[1.0; 2],
        &[0.0; 3],
        &[0.0; 3],
        &[1.0; 3],
        1e-5,
        Act::None,
    );
    assert!(matches!(bn, Err(CoreError::Shape(_))));
    let bn = Affine::batch_norm(
        d,
        Layout::Chw,
        &[1.0; 3],
        &[0.0; 3],
        &[0.0; 3],
        &[0.0; 3],
        0.0,
        Act::None,
    );
    assert!(matches!(bn, Err(CoreError::InvalidArgument(_))));
}

#[test]
fn avgpool_count_include_pad_cuts_windows_at_the_padded_edge() {
    // 1x3 input, kernel 1x2, stride 2, right pad 0, ceil mode: the last window [2, 4) runs past
    // the input and its pad; PyTorch divides by 1 (the window within the padded input).
    let mut p = Pool2d::new(PoolKind::Avg, Dims::new(1, 1, 1, 3), Layout::Chw, (1, 2));
    p.ceil_mode = true;
    p.count_include_pad = true;
    let mut out = [0.0f32; 2];
    p.run(&[&[1.0, 3.0, 5.0]], &mut out).unwrap();
    assert_eq!(out, [2.0, 5.0]);
    // with a left pad of 1 (right pad 1 too): windows [-1, 1), [1, 3); divisors 2, 2
    p.pads = [0, 1, 0, 1];
    p.ceil_mode = false;
    p.run(&[&[1.0, 3.0, 5.0]], &mut out).unwrap();
    assert_eq!(out, [0.5, 4.0]);
}

mod group3 {
    use super::*;
    use leanconv_core::ops::{
        ChannelShuffle, CoordMode, CopyChannels, LayerNorm, Linear, Lrn, NearestMode, Pad, PadMode,
        Resize, ResizeMode, Softmax,
    };

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(150))]

        #[test]
        fn copy_shuffle_pad_match_reference(dims in dims_strategy(), layout in layout_strategy(),
                                            extra in (0usize..4, 0usize..4), groups in 1usize..4,
                                            pads in proptest::array::uniform4(0usize..4), mode in 0u8..3,
                                            seed: u64) {
            let Dims { n, c, h, w } = dims;
            // copy all c channels into the middle of a wider destination
            let (dc, off) = (c + extra.0 + extra.1, extra.0);
            let cp = CopyChannels { n, h, w, layout, channels: c, src_c: c, src_offset: 0, dst_c: dc, dst_offset: off };
            let x = data(dims.len().unwrap(), seed, 1.0);
            let dd = Dims::new(n, dc, h, w);
            let mut out = vec![7.0f32; dd.len().unwrap()];
            cp.run(&[&x], &mut out).unwrap();
            for i in 0..n { for ch in 0..dc { for y in 0..h { for xx in 0..w {
                let want = if ch >= off && ch < off + c { x[at(&dims, layout, i, ch - off, y, xx)] } else { 7.0 };
                prop_assert_eq!(out[at(&dd, layout, i, ch, y, xx)], want);
            }}}}
            // shuffle
            let sd = Dims::new(n, c * groups, h, w);
            let xs = data(sd.len().unwrap(), seed ^ 9, 1.0);
            let mut so = vec![f32::NAN; xs.len()];
            ChannelShuffle { dims: sd, layout, groups }.run(&[&xs], &mut so).unwrap();
            for i in 0..n { for g in 0..groups { for k in 0..c { for y in 0..h { for xx in 0..w {
                prop_assert_eq!(so[at(&sd, layout, i, k * groups + g, y, xx)], xs[at(&sd, layout, i, g * c + k, y, xx)]);
            }}}}}
            // pad
            let mode = match mode { 0 => PadMode::Constant(0.5), 1 => PadMode::Reflect, _ => PadMode::Edge };
            let p = Pad { dims, layout, pads, mode };
            let [pt, pl, _, _] = pads;
            match p.output() {
                Err(e) => {
                    prop_assert!(mode == PadMode::Reflect && matches!(e, CoreError::InvalidArgument(_)));
                }
                Ok(od) => {
                    let mut po = vec![f32::NAN; od.len().unwrap()];
                    p.run(&[&x], &mut po).unwrap();
                    let src = |o: usize, pad: usize, len: usize| -> Option<usize> {
                        let i = o as isize - pad as isize;
                        let last = len as isize - 1;
                        match mode {
                            PadMode::Constant(_) => (0..=last).contains(&i).then_some(i as usize),
                            PadMode::Edge => Some(i.clamp(0, last) as usize),
                            PadMode::Reflect => Some(if i < 0 { -i } else if i > last { 2 * last - i } else { i } as usize),
                        }
                    };
                    for i in 0..n { for ch in 0..c { for y in 0..od.h { for xx in 0..od.w {
                        let want = match (src(y, pt, h), src(xx, pl, w)) {
                            (Some(a), Some(b)) => x[at(&dims, layout, i, ch, a, b)],
                            _ => 0.5,
                        };
                        prop_assert_eq!(po[at(&od, layout, i, ch, y, xx)], want);
                    }}}}
                }
            }
        }

        #[test]
        fn softmax_layernorm_match_reference(dims in dims_strategy(), layout in layout_strategy(),
                                             scale in prop_oneof![Just(1.0f32), Just(40.0)],
                                             isa in isa_strategy(), seed: u64) {
            let x = data(dims.len().unwrap(), seed, scale);
            let (gamma, beta) = (data(dims.c, seed ^ 1, 1.0), data(dims.c, seed ^ 2, 1.0));
            let mut sm = vec![f32::NAN; x.len()];
            Softmax { dims, layout, isa }.run(&[&x], &mut sm).unwrap();
            let ln = LayerNorm { dims, layout, gamma: gamma.clone(), beta: beta.clone(), eps: 1e-5, isa };
            let mut lo = vec![f32::NAN; x.len()];
            ln.run(&[&x], &mut lo).unwrap();
            let (mut want_sm, mut want_ln) = (vec![0.0; x.len()], vec![0.0; x.len()]);
            for i in 0..dims.n { for y in 0..dims.h { for xx in 0..dims.w {
                let v: Vec<f64> = (0..dims.c).map(|c| f64::from(x[at(&dims, layout, i, c, y, xx)])).collect();
                let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = v.iter().map(|e| (e - m).exp()).sum();
                let mean = v.iter().sum::<f64>() / v.len() as f64;
                let var = v.iter().map(|e| (e - mean) * (e - mean)).sum::<f64>() / v.len() as f64;
                for c in 0..dims.c {
                    let k = at(&dims, layout, i, c, y, xx);
                    want_sm[k] = (v[c] - m).exp() / s;
                    want_ln[k] = (v[c] - mean) / (var + 1e-5).sqrt() * f64::from(gamma[c]) + f64::from(beta[c]);
                }
            }}}
            assert_close(&sm, &want_sm, 1e-7, 1e-5, "softmax");
            assert_close(&lo, &want_ln, 3e-5, 3e-5, "layernorm");
        }

        #[test]
        fn lrn_matches_reference(dims in dims_strategy(), layout in layout_strategy(), size in 1usize..12,
                                 alpha in 1e-4f32..4.0, beta in prop_oneof![Just(0.75f32), 0.1f32..2.0],
                                 bias in 0.5f32..3.0, scale in prop_oneof![Just(1.0f32), Just(20.0)],
                                 isa in isa_strategy(), seed: u64) {
            let x = data(dims.len().unwrap(), seed, scale);
            let mut y = vec![f32::NAN; x.len()];
            Lrn { dims, layout, size, alpha, beta, bias, isa }.run(&[&x], &mut y).unwrap();
            // PyTorch's window: size / 2 channels before, (size - 1) / 2 after
            let (before, after) = ((size / 2) as isize, ((size - 1) / 2) as isize);
            let mut want = vec![0.0; x.len()];
            for i in 0..dims.n { for c in 0..dims.c { for yy in 0..dims.h { for xx in 0..dims.w {
                let sum: f64 = (c as isize - before..=c as isize + after)
                    .filter(|&j| j >= 0 && (j as usize) < dims.c)
                    .map(|j| f64::from(x[at(&dims, layout, i, j as usize, yy, xx)]).powi(2))
                    .sum();
                let k = at(&dims, layout, i, c, yy, xx);
                let t = f64::from(bias) + f64::from(alpha) / size as f64 * sum;
                want[k] = f64::from(x[k]) * t.powf(-f64::from(beta));
            }}}}
            assert_close(&y, &want, 1e-6, 2e-5, "lrn");
        }

        #[test]
        fn bilinear_resize_matches_reference(dims in dims_strategy(), layout in layout_strategy(),
                                             out_hw in (1usize..13, 1usize..13),
                                             coord in prop_oneof![Just(CoordMode::HalfPixel), Just(CoordMode::PytorchHalfPixel),
                                                                  Just(CoordMode::Asymmetric), Just(CoordMode::AlignCorners)],
                                             isa in isa_strategy(), seed: u64) {
            let r = Resize { dims, layout, out_hw, mode: ResizeMode::Linear, coord, ratio: None, isa };
            let od = r.output().unwrap();
            let x = data(dims.len().unwrap(), seed, 1.0);
            let mut out = vec![f32::NAN; od.len().unwrap()];
            r.run(&[&x], &mut out).unwrap();
            let src = |o: usize, n: usize, on: usize| -> f64 {
                let ratio = n as f64 / on as f64;
                let v = match coord {
                    CoordMode::HalfPixel => (o as f64 + 0.5) * ratio - 0.5,
                    CoordMode::PytorchHalfPixel => if on > 1 { (o as f64 + 0.5) * ratio - 0.5 } else { 0.0 },
                    CoordMode::Asymmetric => o as f64 * ratio,
                    CoordMode::AlignCorners => if on > 1 { o as f64 * (n - 1) as f64 / (on - 1) as f64 } else { 0.0 },
                };
                v.clamp(0.0, (n - 1) as f64)
            };
            let mut want = vec![0.0; out.len()];
            for i in 0..dims.n { for c in 0..dims.c { for oy in 0..od.h { for ox in 0..od.w {
                let (vy, vx) = (src(oy, dims.h, od.h), src(ox, dims.w, od.w));
                let (y0, x0) = (vy.floor() as usize, vx.floor() as usize);
                let (y1, x1) = ((y0 + 1).min(dims.h - 1), (x0 + 1).min(dims.w - 1));
                let (ly, lx) = (vy - y0 as f64, vx - x0 as f64);
                let g = |y: usize, xx: usize| f64::from(x[at(&dims, layout, i, c, y, xx)]);
                want[at(&od, layout, i, c, oy, ox)] = (1.0 - ly) * ((1.0 - lx) * g(y0, x0) + lx * g(y0, x1))
                    + ly * ((1.0 - lx) * g(y1, x0) + lx * g(y1, x1));
            }}}}
            // the kernel's float coordinates differ from these float64 ones by ulps
            assert_close(&out, &want, 2e-5, 1e-5, "bilinear");
        }

        #[test]
        fn nearest_resize_by_integer_factors(dims in dims_strategy(), layout in layout_strategy(),
                                             f in (1usize..4, 1usize..4), seed: u64) {
            // PyTorch's nearest (asymmetric + floor): output pixel (y, x) reads (y / fh, x / fw)
            let r = Resize { dims, layout, out_hw: (dims.h * f.0, dims.w * f.1),
                             mode: ResizeMode::Nearest(NearestMode::Floor), coord: CoordMode::Asymmetric,
                             ratio: None, isa: Isa::Auto };
            let od = r.output().unwrap();
            let x = data(dims.len().unwrap(), seed, 1.0);
            let mut out = vec![f32::NAN; od.len().unwrap()];
            r.run(&[&x], &mut out).unwrap();
            for i in 0..dims.n { for c in 0..dims.c { for y in 0..od.h { for xx in 0..od.w {
                prop_assert_eq!(out[at(&od, layout, i, c, y, xx)], x[at(&dims, layout, i, c, y / f.0, xx / f.1)]);
            }}}}
        }

        #[test]
        fn linear_matches_reference(rows in 1usize..4, in_f in 1usize..70, out_f in 1usize..20,
                                    bias: bool, act in act_strategy(), isa in isa_strategy(), seed: u64) {
            let op = Linear { rows, in_features: in_f, out_features: out_f,
                              weight: data(in_f * out_f, seed, 1.0),
                              bias: if bias { data(out_f, seed ^ 3, 1.0) } else { vec![] }, act, isa };
            let x = data(rows * in_f, seed ^ 5, 1.0);
            let mut out = vec![f32::NAN; rows * out_f];
            op.run(&[&x], &mut out).unwrap();
            let mut want = vec![0.0; out.len()];
            for r in 0..rows { for j in 0..out_f {
                let mut s = if bias { f64::from(op.bias[j]) } else { 0.0 };
                for p in 0..in_f { s += f64::from(x[r * in_f + p]) * f64::from(op.weight[j * in_f + p]); }
                want[r * out_f + j] = ref_act(f64::from(s as f32), &act);
            }}
            assert_close(&out, &want, 1e-5, 1e-5, "linear");
        }
    }

    #[test]
    fn bad_parameters_are_errors() {
        let d = Dims::new(1, 4, 3, 3);
        let cp = CopyChannels {
            n: 1,
            h: 3,
            w: 3,
            layout: Layout::Chw,
            channels: 3,
            src_c: 4,
            src_offset: 2,
            dst_c: 8,
            dst_offset: 0,
        };
        assert!(matches!(cp.validate(), Err(CoreError::Shape(_))));
        let sh = ChannelShuffle {
            dims: d,
            layout: Layout::Hwc,
            groups: 3,
        };
        assert!(matches!(sh.validate(), Err(CoreError::InvalidArgument(_))));
        let p = Pad {
            dims: d,
            layout: Layout::Chw,
            pads: [3, 0, 0, 0],
            mode: PadMode::Reflect,
        };
        assert!(matches!(p.validate(), Err(CoreError::InvalidArgument(_))));
        let ln = LayerNorm {
            dims: d,
            layout: Layout::Chw,
            gamma: vec![1.0; 3],
            beta: vec![0.0; 4],
            eps: 1e-5,
            isa: Isa::Auto,
        };
        assert!(matches!(ln.validate(), Err(CoreError::Shape(_))));
        let r = Resize {
            dims: d,
            layout: Layout::Chw,
            out_hw: (0, 2),
            mode: ResizeMode::Linear,
            coord: CoordMode::HalfPixel,
            ratio: None,
            isa: Isa::Auto,
        };
        assert!(matches!(r.validate(), Err(CoreError::Shape(_))));
        let r = Resize {
            out_hw: (2, 2),
            ratio: Some((f32::NAN, 1.0)),
            ..r
        };
        assert!(matches!(r.validate(), Err(CoreError::InvalidArgument(_))));
        let l = Linear {
            rows: 1,
            in_features: 3,
            out_features: 2,
            weight: vec![0.0; 5],
            bias: vec![],
            act: Act::None,
            isa: Isa::Auto,
        };
        assert!(matches!(l.validate(), Err(CoreError::Shape(_))));
    }
}

/// A transposed convolution's parameters and a seed for its data.
fn deconv_strategy() -> impl Strategy<Value = (ConvTranspose2d, u64)> {
    let shape = (
        1usize..3,
        1usize..4,
        prop_oneof![
            (1usize..5, 1usize..5),
            (1usize..2, 1usize..2),
            (8usize..20, 8usize..20)
        ],
        (1usize..8, 1usize..8),
    );
    let window = (
        (1usize..5, 1usize..5),
        (1usize..4, 1usize..4),
        (1usize..3, 1usize..3),
        [0usize..4, 0usize..4, 0usize..4, 0usize..4],
        (0usize..3, 0usize..3),
    );
    (
        shape,
        window,
        layout_strategy(),
        act_strategy(),
        isa_strategy(),
        any::<u64>(),
    )
        .prop_filter_map(
            "output_padding at or past both stride and dilation, or pads cropping everything",
            |(
                (n, groups, (ig, og), (h, w)),
                (kernel, stride, dilation, pads, output_padding),
                layout,
                act,
                isa,
                seed,
            )| {
                let mut p = ConvTranspose2d::new(
                    Dims::new(n, groups * ig, h, w),
                    layout,
                    groups * og,
                    kernel,
                );
                p.stride = stride;
                p.dilation = dilation;
                p.pads = pads;
                p.output_padding = output_padding;
                p.groups = groups;
                p.act = act;
                p.isa = isa;
                p.output_hw().ok().map(|_| (p, seed))
            },
        )
}

/// float64 scatter: every input pixel times every tap, added where it lands.
fn ref_deconv(p: &ConvTranspose2d, out: &Dims, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f64> {
    let d = &p.dims;
    let (ig, og) = (d.c / p.groups, p.out_channels / p.groups);
    let (kh, kw) = p.kernel;
    let mut acc = vec![0.0f64; out.len().unwrap()];
    for i in 0..d.n {
        for ci in 0..d.c {
            for iy in 0..d.h {
                for ix in 0..d.w {
                    let xv = f64::from(x[at(d, p.layout, i, ci, iy, ix)]);
                    for o in 0..og {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let oy =
                                    (iy * p.stride.0 + ky * p.dilation.0) as i64 - p.pads[0] as i64;
                                let ox =
                                    (ix * p.stride.1 + kx * p.dilation.1) as i64 - p.pads[1] as i64;
                                if oy < 0 || ox < 0 || oy >= out.h as i64 || ox >= out.w as i64 {
                                    continue;
                                }
                                let oc = ci / ig * og + o;
                                let wv = f64::from(w[((ci * og + o) * kh + ky) * kw + kx]);
                                acc[at(out, p.layout, i, oc, oy as usize, ox as usize)] += xv * wv;
                            }
                        }
                    }
                }
            }
        }
    }
    for i in 0..out.n {
        for oc in 0..out.c {
            for y in 0..out.h {
                for xx in 0..out.w {
                    let j = at(out, p.layout, i, oc, y, xx);
                    let v = acc[j] + b.get(oc).map_or(0.0, |&v| f64::from(v));
                    acc[j] = ref_act(f64::from(v as f32), &p.act);
                }
            }
        }
    }
    acc
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn conv_transpose_matches_reference((p, seed) in deconv_strategy(), bias: bool) {
        let (oh, ow) = p.output_hw().unwrap();
        let out = p.pack(&[], &[]).map(|_| ()).unwrap_err();
        prop_assert!(matches!(out, CoreError::Shape(_)));
        let x = data(p.dims.len().unwrap(), seed, 1.0);
        let w = data(p.weight_dims().len().unwrap(), seed ^ 0x5555, 1.0);
        let b = if bias { data(p.out_channels, seed ^ 0xaaaa, 1.0) } else { vec![] };
        let packed = p.pack(&w, &b).unwrap();
        let od = packed.output().unwrap();
        prop_assert_eq!(od, Dims::new(p.dims.n, p.out_channels, oh, ow));
        // PyTorch's size: (in - 1)*s - pa - pb + d*(k - 1) + op + 1
        let size = |n: usize, s: usize, pa: usize, pb: usize, d: usize, k: usize, op: usize| {
            ((n - 1) * s + d * (k - 1) + op + 1) as i64 - (pa + pb) as i64
        };
        prop_assert_eq!(oh as i64, size(p.dims.h, p.stride.0, p.pads[0], p.pads[2], p.dilation.0, p.kernel.0, p.output_padding.0));
        prop_assert_eq!(ow as i64, size(p.dims.w, p.stride.1, p.pads[1], p.pads[3], p.dilation.1, p.kernel.1, p.output_padding.1));
        let mut got = vec![f32::NAN; od.len().unwrap()];
        packed.run(&[&x], &mut got).unwrap();
        assert_close(&got, &ref_deconv(&p, &od, &x, &w, &b), 2e-5, 2e-5, "conv_transpose");
    }
}

#[test]
fn conv_transpose_bad_parameters_are_errors() {
    let d = Dims::new(1, 4, 3, 3);
    let ok = ConvTranspose2d::new(d, Layout::Chw, 6, (3, 3));
    assert_eq!(ok.output_hw().unwrap(), (5, 5));
    let invalid = |f: &dyn Fn(&mut ConvTranspose2d)| {
        let mut p = ok;
        f(&mut p);
        p.output_hw().unwrap_err()
    };
    let arg = |e: CoreError| matches!(e, CoreError::InvalidArgument(_));
    assert!(arg(invalid(&|p| p.groups = 3)));
    assert!(arg(invalid(&|p| p.groups = 0)));
    assert!(arg(invalid(&|p| p.stride = (0, 1))));
    assert!(arg(invalid(&|p| p.kernel = (3, 0))));
    assert!(arg(invalid(&|p| p.out_channels = 0)));
    assert!(arg(invalid(&|p| p.output_padding = (1, 0))));
    assert!(arg(invalid(&|p| p.act = Act::Clip { min: 1.0, max: 0.0 })));
    // output padding below the dilation though not below the stride is PyTorch-legal
    let mut p = ok;
    p.dilation = (2, 1);
    p.output_padding = (1, 0);
    assert_eq!(p.output_hw().unwrap(), (8, 5));
    // pads cropping the whole output, a zero dimension
    assert!(matches!(
        invalid(&|p| p.pads = [3, 0, 2, 0]),
        CoreError::Shape(_)
    ));
    assert!(matches!(invalid(&|p| p.dims.h = 0), CoreError::Shape(_)));
    // wrong weight, bias, input, output and workspace sizes
    let w = vec![0.5f32; ok.weight_dims().len().unwrap()];
    assert!(matches!(ok.pack(&w[1..], &[]), Err(CoreError::Shape(_))));
    assert!(matches!(ok.pack(&w, &[0.0; 5]), Err(CoreError::Shape(_))));
    let packed = ok.pack(&w, &[]).unwrap();
    let x = vec![1.0f32; d.len().unwrap()];
    let mut out = vec![0.0f32; 6 * 25];
    assert!(matches!(
        packed.run(&[&x[1..]], &mut out),
        Err(CoreError::Shape(_))
    ));
    assert!(matches!(
        packed.run(&[&x], &mut out[1..]),
        Err(CoreError::Shape(_))
    ));
    assert!(matches!(
        packed.run(&[], &mut out),
        Err(CoreError::InvalidArgument(_))
    ));
    if packed.workspace_bytes() > 0 {
        let mut small = AlignedBuf::new(packed.workspace_bytes() - 1).unwrap();
        assert!(matches!(
            packed.run_with_workspace(&[&x], &mut out, &mut small),
            Err(CoreError::Shape(_))
        ));
    }
    packed.run(&[&x], &mut out).unwrap();
    // the centre pixel sees all 9 taps of all 4 input channels
    assert_eq!(out[12], 18.0);
}
