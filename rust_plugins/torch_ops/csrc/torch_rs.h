// Helpers shared by the operator files in csrc/ops/: calling the Rust entry points (declared in
// the generated torch_rs_ffi.h), turning their errors into torch's exceptions, and the pieces
// of autograd support that every op repeats. Each op file holds its schemas and one kernel per
// dispatch key; fake kernels and vmap rules are Python (torch_rs/_meta.py).
#pragma once

#include <ATen/ATen.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/Parallel.h>
#include <ATen/native/Resize.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/library.h>

#include <string>

#include "torch_rs_ffi.h"

// The Python module holding the fake kernels. Every TORCH_LIBRARY_FRAGMENT must name it: torch
// records it per schema definition, and requires it for ops with Python fake kernels.
#define TORCH_RS_FAKE_MODULE "torch_rs._meta"

namespace torch_rs {

using torch::autograd::variable_list;

// Raises a Rust error as the C++ exception that becomes the matching Python exception.
inline void throw_if_error(TorchRsError* error) {
  if (error == nullptr) return;
  const std::string message = torch_rs_error_message(error);
  const TorchRsErrorKind kind = torch_rs_error_kind(error);
  torch_rs_error_free(error);
  TORCH_CHECK_TYPE(kind != TorchRsErrorKind::Type, message);
  TORCH_CHECK_NOT_IMPLEMENTED(kind != TorchRsErrorKind::NotImplemented, message);
  TORCH_CHECK(false, message);
}

// Takes ownership of a tensor that Rust allocated through tch.
inline at::Tensor adopt(at::Tensor* owned) {
  at::Tensor tensor = std::move(*owned);
  delete owned;
  return tensor;
}

// Calls a Rust entry point `entry(inputs..., &out, threads)` that returns a new tensor.
template <typename Entry, typename... Inputs>
at::Tensor call_rust(Entry entry, const Inputs&... inputs) {
  at::Tensor* out = nullptr;
  throw_if_error(entry(&inputs..., &out, at::get_num_threads()));
  return adopt(out);
}

[[noreturn]] inline void no_kernel_for(const char* op, const at::Tensor& x) {
  TORCH_CHECK_NOT_IMPLEMENTED(false, op, " has no kernel for device '", x.device(),
                              "' yet (only CPU tensors are supported); move the tensor to the CPU");
}

// The checks of torch's own out= ops for an elementwise result shaped like `x`: same device and
// dtype, resized (with torch's warning if out had another non-empty shape), no element of out
// overlapping another, no partial overlap with the input.
inline void prepare_elementwise_out(const char* op, const at::Tensor& x, at::Tensor& out) {
  TORCH_CHECK(out.device() == x.device(), op, ": expected out on ", x.device(),
              " like the input, but got ", out.device());
  // torch's own out= ops raise RuntimeError with this message (F.gelu(x, out=int_tensor)).
  TORCH_CHECK(out.scalar_type() == x.scalar_type(), "Found dtype ", out.scalar_type(),
              " but expected ", x.scalar_type());
  at::native::resize_output(out, x.sizes());
  at::assert_no_internal_overlap(out);
  at::assert_no_partial_overlap(out, x);
}

// ---- Calls through the dispatcher (so that autograd and other keys see them) ----------------

template <typename Signature>
c10::TypedOperatorHandle<Signature> find_op(const char* name, const char* overload) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, overload).typed<Signature>();
}

// ---- Autograd -------------------------------------------------------------------------------
//
// Written like PyTorch's generated VariableType kernels (a Node per op, no
// torch::autograd::Function), so that functorch transforms (grad, vmap of grad, jacrev) work too.
// Backward nodes call rs:: operators through the dispatcher, so they are differentiable in turn.

inline void check_no_forward_ad(const char* op, const at::Tensor& x) {
  TORCH_CHECK_NOT_IMPLEMENTED(!x._fw_grad(/*level=*/0).defined(), op,
                              " does not support forward-mode automatic differentiation");
}

// A new `NodeType` whose inputs are `inputs`, or null when none of them requires grad.
template <typename NodeType, typename... Inputs>
c10::intrusive_ptr<NodeType> make_node(const Inputs&... inputs) {
  if (!torch::autograd::compute_requires_grad(inputs...)) return nullptr;
  auto node = c10::make_intrusive<NodeType>();
  node->set_next_edges(torch::autograd::collect_next_edges(inputs...));
  return node;
}

// The Autograd kernel of a function op: refuses forward AD, records a `NodeType` (given its
// saved values by `save(node)`) when an input requires grad, and runs `compute()` below autograd.
template <typename NodeType, typename Compute, typename Save, typename... Inputs>
at::Tensor differentiable(const char* op, Compute compute, Save save, const Inputs&... inputs) {
  (check_no_forward_ad(op, inputs), ...);
  auto node = make_node<NodeType>(inputs...);
  if (node) save(*node);
  at::Tensor result;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    result = compute();
  }
  if (node) torch::autograd::set_history(result, node);
  return result;
}

// The Autograd kernel of an out= overload: torch's out= ops are not differentiable.
template <typename Compute>
at::Tensor& out_not_differentiable(const char* op, Compute compute, const at::Tensor& x,
                                   at::Tensor& out) {
  TORCH_CHECK(!(at::GradMode::is_enabled() && (x.requires_grad() || out.requires_grad())), op,
              "(): functions with out=... arguments don't support automatic differentiation, "
              "but one of the arguments requires grad.");
  at::AutoDispatchBelowAutograd guard;
  return compute();
}

// The ADInplaceOrView kernel of an out= overload: writing into `out` bumps its version counter,
// as torch's in-place and out= ops do.
template <typename Compute>
at::Tensor& out_bumps_version(Compute compute, at::Tensor& out) {
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    compute();
  }
  out.unsafeGetTensorImpl()->bump_version();
  return out;
}

}  // namespace torch_rs
