//! Compiles the portable C kernels in `kernels_c/` into this crate (orjson-style `cc` build).
//! Warnings are errors: the kernels must stay clean under -Wall -Wextra.
use std::path::PathBuf;

fn main() {
    // Read when the script runs, not when it is compiled: a build script binary reused from
    // another checkout of the crate must compile this checkout's kernels.
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = PathBuf::from(manifest_dir).join("../../kernels_c");
    let src = root.join("src");
    println!("cargo:rerun-if-changed={}", root.display());

    let mut sources: Vec<PathBuf> = std::fs::read_dir(&src)
        .expect("kernels_c/src must exist")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort(); // deterministic builds
    for s in &sources {
        println!("cargo:rerun-if-changed={}", s.display());
    }

    cc::Build::new()
        .files(&sources)
        .include(root.join("include"))
        .std("c99")
        .opt_level(3)
        .flag_if_supported("-Wall")
        .flag_if_supported("-Wextra")
        .warnings_into_errors(true)
        .compile("leanconv_kernels");
}
