//! One file per op family: its `extern "C"` entry points (called by csrc/ops/<family>.cpp) and
//! which kernel each one runs.

pub mod cross_entropy;
pub mod gelu;
pub mod glu;
pub mod rms_norm;
pub mod rope;
