//! Compiles the C++ operator-registration shim (csrc/ops.cpp) against the installed torch's
//! headers, with the C++ ABI torch was built with, and links it whole into the module so that its
//! static `TORCH_LIBRARY` registrations run when Python imports it.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const TORCH_DETAILS: &str = "\
import torch
from torch.utils import cpp_extension
print('ABI', int(torch._C._GLIBCXX_USE_CXX11_ABI))
for path in cpp_extension.include_paths():
    print('INCLUDE', path)
";

/// The interpreter whose torch we build against: the one maturin builds for, else the active
/// virtual environment's, else `python3` (the same search as torch-sys).
fn python() -> PathBuf {
    if let Some(python) = env::var_os("PYO3_PYTHON") {
        return python.into();
    }
    if let Some(venv) = env::var_os("VIRTUAL_ENV") {
        return PathBuf::from(venv).join("bin").join("python");
    }
    "python3".into()
}

fn main() {
    println!("cargo:rerun-if-changed=csrc/ops.cpp");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-env-changed=VIRTUAL_ENV");
    let python = python();
    let output = Command::new(&python)
        .args(["-c", TORCH_DETAILS])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        output.status.success(),
        "{} could not import torch: {}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .pic(true)
        .std("c++17")
        .warnings(false)
        .cargo_metadata(false);
    for line in stdout.lines() {
        if let Some(abi) = line.strip_prefix("ABI ") {
            build.define("_GLIBCXX_USE_CXX11_ABI", abi);
        } else if let Some(path) = line.strip_prefix("INCLUDE ") {
            build.include(path);
        }
    }
    // -fopenmp: at::parallel_for is a header template whose OpenMP pragmas must be compiled in
    // (as torch.utils.cpp_extension does); the calls bind to the libgomp torch already loaded.
    build
        .flag("-fopenmp")
        .define("GLOG_USE_GLOG_EXPORT", None)
        .file("csrc/ops.cpp")
        .compile("torch_rs_ops");

    // Nothing in Rust references the registration objects, so the archive is linked whole.
    let out_dir = env::var("OUT_DIR").expect("OUT_DIR");
    println!("cargo:rustc-link-search=native={out_dir}");
    println!("cargo:rustc-link-lib=static:+whole-archive=torch_rs_ops");
    println!("cargo:rustc-link-lib=stdc++");
}
