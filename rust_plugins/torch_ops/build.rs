//! Compiles the C++ operator-registration shim (every `csrc/**/*.cpp`) against the installed
//! torch's headers, with the C++ ABI torch was built with, and links it whole into the module so
//! that its static `TORCH_LIBRARY` registrations run when Python imports it.
//!
//! The shim's declarations of the Rust entry points are generated here from the Rust sources
//! (`build/ffi_header.rs`), so they cannot drift from them.

#[path = "build/ffi_header.rs"]
mod ffi_header;

use std::collections::hash_map::DefaultHasher;
use std::env;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

const TORCH_DETAILS: &str = "\
import torch
from torch.utils import cpp_extension
print('VERSION', torch.__version__)
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

fn torch_details() -> String {
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
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn files_with_extension(dir: &Path, extension: &str, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("list csrc/").path();
        if path.is_dir() {
            files_with_extension(&path, extension, files);
        } else if path.extension().is_some_and(|e| e == extension) {
            files.push(path);
        }
    }
}

fn main() {
    // Directories: cargo reruns the script when anything below them changes.
    println!("cargo:rerun-if-changed=csrc");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-env-changed=VIRTUAL_ENV");
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let csrc = manifest_dir.join("csrc");

    let include_dir = out_dir.join("include");
    fs::create_dir_all(&include_dir).expect("create OUT_DIR/include");
    let header = ffi_header::generate(&manifest_dir.join("src"));
    fs::write(include_dir.join("torch_rs_ffi.h"), &header).expect("write torch_rs_ffi.h");

    let details = torch_details();
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .pic(true)
        .std("c++17")
        .warnings(false)
        .cargo_metadata(false)
        .include(&csrc)
        .include(&include_dir);
    for line in details.lines() {
        if let Some(abi) = line.strip_prefix("ABI ") {
            build.define("_GLIBCXX_USE_CXX11_ABI", abi);
        } else if let Some(path) = line.strip_prefix("INCLUDE ") {
            build.include(path);
        }
    }
    // -fopenmp: at::parallel_for is a header template whose OpenMP pragmas must be compiled in
    // (as torch.utils.cpp_extension does); the calls bind to the libgomp torch already loaded.
    build.flag("-fopenmp").define("GLOG_USE_GLOG_EXPORT", None);

    let mut sources = Vec::new();
    files_with_extension(&csrc, "cpp", &mut sources);
    let mut headers = Vec::new();
    files_with_extension(&csrc, "h", &mut headers);
    sources.sort();
    headers.sort();

    // Each translation unit takes tens of seconds against libtorch's headers, and this script
    // reruns on every change under src/: objects are reused while their inputs are unchanged.
    let mut shared = DefaultHasher::new();
    (&details, &header).hash(&mut shared);
    for path in &headers {
        (path, fs::read(path).expect("read a csrc header")).hash(&mut shared);
    }
    let cache = out_dir.join("objects");
    fs::create_dir_all(&cache).expect("create OUT_DIR/objects");
    let mut objects = Vec::new();
    let mut missing = Vec::new();
    for source in &sources {
        let mut hasher = shared.clone();
        (source, fs::read(source).expect("read a csrc source")).hash(&mut hasher);
        let stem = source.file_stem().unwrap().to_string_lossy();
        let object = cache.join(format!("{stem}-{:016x}.o", hasher.finish()));
        if !object.exists() {
            missing.push((source, object.clone()));
        }
        objects.push(object);
    }
    // The missing objects compile in one call: cc's "parallel" feature runs them as cargo's
    // jobserver allows (one job per core), and returns them in the order of the files.
    if !missing.is_empty() {
        let mut batch = build.clone();
        batch.files(missing.iter().map(|(source, _)| source));
        let compiled = batch.compile_intermediates();
        for (compiled, (_, object)) in compiled.iter().zip(&missing) {
            fs::rename(compiled, object).expect("cache an object file");
        }
    }
    for entry in fs::read_dir(&cache).expect("list OUT_DIR/objects") {
        let path = entry.expect("list OUT_DIR/objects").path();
        if !objects.contains(&path) {
            let _ = fs::remove_file(path); // an object of an older version of a source
        }
    }
    cc::Build::new()
        .cargo_metadata(false)
        .objects(&objects)
        .compile("torch_rs_ops");

    // Nothing in Rust references the registration objects, so the archive is linked whole.
    println!("cargo:rustc-link-search=native={}", out_dir.display());
    println!("cargo:rustc-link-lib=static:+whole-archive=torch_rs_ops");
    println!("cargo:rustc-link-lib=stdc++");
}
