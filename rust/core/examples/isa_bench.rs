//! Checks and times the GEMM and convolution kernels once per instruction set this CPU runs
//! (scalar, AVX2, AVX-512 on x86-64; scalar, NEON on aarch64), without Python:
//!
//!     cargo run --release -p leanconv-core --example isa_bench [-- THREADS]
//!
//! For each ISA: GEMM (odd sizes) and every listed primitive on small layers must match the
//! scalar kernels (relative error per output element, scaled by the reduction length), then
//! GFLOP/s (median) of GEMM 2048^3 and of a few ResNet-18 layers. Exits 1 on any mismatch, so
//! an AVX-512 machine can run it as the first test of the never-executed AVX-512 paths.
use std::process::ExitCode;
use std::time::Instant;

use leanconv_core::conv::{find, resolve_isa, ConvSpec, Gemm, Isa, Pads};
use leanconv_core::Result;

const ISAS: [Isa; 4] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon];
const PRIMITIVES: [&str; 8] = [
    "direct_chw",
    "im2col_chw",
    "im2row_hwc",
    "kn2row_chw",
    "gemm1x1_hwc",
    "winograd2x2_chw",
    "winograd4x4_hwc",
    "depthwise3x3_hwc",
];

fn random(n: usize, seed: &mut u64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn layer(c: usize, hw: usize, k: usize, ks: usize, stride: usize, pad: usize) -> ConvSpec {
    ConvSpec {
        stride: (stride, stride),
        pads: Pads::symmetric(pad, pad),
        ..ConvSpec::new(c, k, hw, hw, (ks, ks))
    }
}

/// Median seconds of `f` over `reps` calls after one warm-up call.
fn median_secs(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t0 = Instant::now();
        f()?;
        t.push(t0.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

/// Largest |a - b| / (1 + |b|) divided by `scale` (the reduction length's square root).
fn worst_rel(a: &[f32], b: &[f32], scale: f64) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from((x - y).abs()) / (1.0 + f64::from(y.abs())) / scale)
        .fold(0.0, f64::max)
}

fn gemm_out(isa: Isa, m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Result<Vec<f32>> {
    let mut c = vec![0.0; m * n];
    Gemm::new(m, n, k, isa)?.run(a, b, &mut c, false)?;
    Ok(c)
}

fn conv_out(
    name: &str,
    p: &ConvSpec,
    isa: Isa,
    x: &[f32],
    w: &[f32],
    threads: usize,
) -> Result<Vec<f32>> {
    let prim = find(name)?;
    let packed = prim.pack(p, isa, w, None)?;
    let mut y = vec![0.0; packed.image_lens().1];
    packed.run(x, &mut y, 1, threads)?;
    Ok(y)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool> {
    let threads: usize = match std::env::args().nth(1) {
        Some(a) => a.parse().unwrap_or(0),
        None => 1,
    };
    if threads == 0 {
        eprintln!("usage: isa_bench [THREADS >= 1]");
        return Ok(false);
    }
    let mut seed = 1u64;
    let mut ok = true;
    let (gm, gn, gk) = (131, 97, 300);
    let (ga, gb) = (random(gm * gk, &mut seed), random(gk * gn, &mut seed));
    let gemm_ref = gemm_out(Isa::Scalar, gm, gn, gk, &ga, &gb)?;
    let small = [
        layer(19, 13, 21, 3, 1, 1),
        layer(24, 15, 40, 3, 2, 1),
        layer(40, 9, 33, 1, 1, 0),
        layer(3, 23, 16, 7, 2, 3),
        // TF-style SAME padding of a stride-2 layer: the odd pixel at the end
        ConvSpec {
            pads: Pads::from([0, 0, 1, 1]),
            ..layer(16, 14, 24, 3, 2, 0)
        },
    ];
    let bench_layers = [
        ("resnet18 64x56x56->64 3x3", layer(64, 56, 64, 3, 1, 1)),
        ("resnet18 64x56x56->128 3x3 s2", layer(64, 56, 128, 3, 2, 1)),
        ("resnet18 256x14x14->256 3x3", layer(256, 14, 256, 3, 1, 1)),
        (
            "resnet18 stem 3x224x224->64 7x7 s2",
            layer(3, 224, 64, 7, 2, 3),
        ),
    ];
    println!("leanconv isa_bench, {threads} thread(s) per convolution (GEMM: 1)");
    for isa in ISAS {
        if resolve_isa(isa)? != isa {
            println!("\n{}: not supported by this CPU, skipped", isa.as_str());
            continue;
        }
        println!("\n{}:", isa.as_str());
        let e = worst_rel(
            &gemm_out(isa, gm, gn, gk, &ga, &gb)?,
            &gemm_ref,
            (gk as f64).sqrt(),
        );
        let good = e < 1e-5;
        ok &= good;
        println!(
            "  check gemm {gm}x{gn}x{gk} vs scalar: rel err {e:.1e} {}",
            verdict(good)
        );
        for p in small {
            let mut dw = p;
            dw.groups = p.in_channels;
            dw.out_channels = p.in_channels;
            for name in PRIMITIVES {
                let p = if name.starts_with("depthwise") { dw } else { p };
                let prim = find(name)?;
                if !prim.applicable(&p)? {
                    continue;
                }
                let cg = p.in_channels / p.groups;
                let x = random(p.in_channels * p.height * p.width, &mut seed);
                let w = random(p.out_channels * cg * p.kernel.0 * p.kernel.1, &mut seed);
                let reference = conv_out(name, &p, Isa::Scalar, &x, &w, 1)?;
                let got = conv_out(name, &p, isa, &x, &w, threads)?;
                let red = (cg * p.kernel.0 * p.kernel.1) as f64;
                let e = worst_rel(&got, &reference, red.sqrt());
                let good = e < 1e-5;
                ok &= good;
                println!("  check {name:<16} {p}: rel err {e:.1e} {}", verdict(good));
            }
        }
        let n = 2048;
        let (a, b) = (random(n * n, &mut seed), random(n * n, &mut seed));
        let mut c = vec![0.0; n * n];
        let mut g = Gemm::new(n, n, n, isa)?;
        let reps = if isa == Isa::Scalar { 1 } else { 5 };
        let t = median_secs(reps, || g.run(&a, &b, &mut c, false))?;
        println!(
            "  gemm {n}^3: {:.1} GFLOP/s",
            2.0 * (n as f64).powi(3) / t / 1e9
        );
        for (label, p) in bench_layers {
            let flops = 2.0 * p.macs()? as f64;
            let cg = p.in_channels / p.groups;
            let x = random(p.in_channels * p.height * p.width, &mut seed);
            let w = random(p.out_channels * cg * p.kernel.0 * p.kernel.1, &mut seed);
            let mut best = (String::new(), 0.0f64);
            let mut cells = Vec::new();
            for name in PRIMITIVES {
                let prim = find(name)?;
                if !prim.applicable(&p)? {
                    continue;
                }
                let packed = prim.pack(&p, isa, &w, None)?;
                let mut y = vec![0.0; packed.image_lens().1];
                let reps = if isa == Isa::Scalar { 3 } else { 9 };
                let t = median_secs(reps, || packed.run(&x, &mut y, 1, threads))?;
                let gf = flops / t / 1e9;
                cells.push(format!("{name} {gf:.1}"));
                if gf > best.1 {
                    best = (name.to_string(), gf);
                }
            }
            println!(
                "  {label}: best {} {:.1} GFLOP/s ({})",
                best.0,
                best.1,
                cells.join(", ")
            );
        }
    }
    println!(
        "\n{}",
        if ok {
            "all checks passed"
        } else {
            "SOME CHECKS FAILED"
        }
    );
    Ok(ok)
}

fn verdict(good: bool) -> &'static str {
    if good {
        "ok"
    } else {
        "MISMATCH"
    }
}
