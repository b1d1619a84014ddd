// Registers the rs:: operators with PyTorch's dispatcher: schemas, CPU kernels that call the Rust
// entry points (src/ffi.rs), autograd (double backward included), and clear errors for devices
// without a kernel. Kept to one small file: compiling against libtorch's headers is slow.
#include <ATen/ATen.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/Parallel.h>
#include <ATen/native/Resize.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/library.h>

#include <string>

extern "C" {
struct TorchRsError {
  int32_t code;  // 0 RuntimeError, 1 TypeError, 2 NotImplementedError
  char* message;
};
TorchRsError* torch_rs_fast_gelu(const at::Tensor* x, at::Tensor** out, int64_t threads);
TorchRsError* torch_rs_fast_gelu_into(const at::Tensor* x, const at::Tensor* out, int64_t threads);
TorchRsError* torch_rs_fast_gelu_backward(const at::Tensor* grad, const at::Tensor* x,
                                          at::Tensor** out, int64_t threads);
TorchRsError* torch_rs_fast_gelu_second_derivative(const at::Tensor* x, at::Tensor** out,
                                                   int64_t threads);
void torch_rs_error_free(TorchRsError* error);

// Runs body(context, begin, end) over [0, n) on PyTorch's intra-op thread pool, so that Rust
// work shares torch's threads instead of competing with them. `body` never throws.
void torch_rs_parallel_for(int64_t n, int64_t grain, void (*body)(void*, int64_t, int64_t),
                           void* context) {
  at::parallel_for(0, n, grain, [&](int64_t begin, int64_t end) { body(context, begin, end); });
}
}

namespace {

using torch::autograd::variable_list;

void throw_if_error(TorchRsError* error) {
  if (error == nullptr) return;
  const std::string message = error->message;
  const int32_t code = error->code;
  torch_rs_error_free(error);
  TORCH_CHECK_TYPE(code != 1, message);
  TORCH_CHECK_NOT_IMPLEMENTED(code != 2, message);
  TORCH_CHECK(false, message);
}

// Takes ownership of a tensor that Rust allocated through tch.
at::Tensor adopt(at::Tensor* owned) {
  at::Tensor tensor = std::move(*owned);
  delete owned;
  return tensor;
}

// ---- CPU kernels --------------------------------------------------------------------------

at::Tensor fast_gelu_cpu(const at::Tensor& x) {
  at::Tensor* out = nullptr;
  throw_if_error(torch_rs_fast_gelu(&x, &out, at::get_num_threads()));
  return adopt(out);
}

at::Tensor& fast_gelu_out_cpu(const at::Tensor& x, at::Tensor& out) {
  TORCH_CHECK(out.device() == x.device(), "rs::fast_gelu.out: expected out on ", x.device(),
              " like the input, but got ", out.device());
  TORCH_CHECK_TYPE(out.scalar_type() == x.scalar_type(), "rs::fast_gelu.out: expected out to have dtype ",
                   x.scalar_type(), " like the input, but got ", out.scalar_type());
  // The same out= rules as torch's own ops: resize (warning if out had another non-empty
  // shape), refuse outputs whose elements overlap each other or partially overlap the input.
  at::native::resize_output(out, x.sizes());
  at::assert_no_internal_overlap(out);
  at::assert_no_partial_overlap(out, x);
  throw_if_error(torch_rs_fast_gelu_into(&x, &out, at::get_num_threads()));
  return out;
}

at::Tensor fast_gelu_backward_cpu(const at::Tensor& grad, const at::Tensor& x) {
  at::Tensor* out = nullptr;
  throw_if_error(torch_rs_fast_gelu_backward(&grad, &x, &out, at::get_num_threads()));
  return adopt(out);
}

at::Tensor fast_gelu_second_derivative_cpu(const at::Tensor& x) {
  at::Tensor* out = nullptr;
  throw_if_error(torch_rs_fast_gelu_second_derivative(&x, &out, at::get_num_threads()));
  return adopt(out);
}

// ---- Devices without a kernel ---------------------------------------------------------------

[[noreturn]] void no_kernel_for(const char* op, const at::Tensor& x) {
  TORCH_CHECK_NOT_IMPLEMENTED(false, op, " has no kernel for device '", x.device(),
                              "' yet (only CPU tensors are supported); move the tensor to the CPU");
}

at::Tensor fast_gelu_unsupported(const at::Tensor& x) { no_kernel_for("rs::fast_gelu", x); }
at::Tensor& fast_gelu_out_unsupported(const at::Tensor& x, at::Tensor&) {
  no_kernel_for("rs::fast_gelu.out", x);
}
at::Tensor fast_gelu_backward_unsupported(const at::Tensor&, const at::Tensor& x) {
  no_kernel_for("rs::fast_gelu_backward", x);
}
at::Tensor fast_gelu_second_derivative_unsupported(const at::Tensor& x) {
  no_kernel_for("rs::fast_gelu_second_derivative", x);
}

// ---- Calls through the dispatcher (so that autograd and other keys see them) ----------------

using Unary = at::Tensor(const at::Tensor&);
using Binary = at::Tensor(const at::Tensor&, const at::Tensor&);
using UnaryOut = at::Tensor&(const at::Tensor&, at::Tensor&);

template <typename Signature>
c10::TypedOperatorHandle<Signature> find_op(const char* name, const char* overload) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, overload).typed<Signature>();
}

const c10::TypedOperatorHandle<Unary>& fast_gelu_op() {
  static const auto op = find_op<Unary>("rs::fast_gelu", "");
  return op;
}
const c10::TypedOperatorHandle<UnaryOut>& fast_gelu_out_op() {
  static const auto op = find_op<UnaryOut>("rs::fast_gelu", "out");
  return op;
}
const c10::TypedOperatorHandle<Binary>& fast_gelu_backward_op() {
  static const auto op = find_op<Binary>("rs::fast_gelu_backward", "");
  return op;
}
const c10::TypedOperatorHandle<Unary>& fast_gelu_second_derivative_op() {
  static const auto op = find_op<Unary>("rs::fast_gelu_second_derivative", "");
  return op;
}

// ---- Autograd -------------------------------------------------------------------------------
//
// Written like PyTorch's generated VariableType kernels (a Node per op, no
// torch::autograd::Function), so that functorch transforms (grad, vmap of grad, jacrev) work too.
// Each backward calls rs:: operators through the dispatcher, so it is differentiable in turn.

using torch::autograd::Node;
using torch::autograd::SavedVariable;

void check_no_forward_ad(const char* op, const at::Tensor& x) {
  TORCH_CHECK_NOT_IMPLEMENTED(!x._fw_grad(/*level=*/0).defined(), op,
                              " does not support forward-mode automatic differentiation");
}

// d/dx gelu(x) applied to the incoming gradient.
struct FastGeluBackwardNode : public Node {
  SavedVariable x;

  std::string name() const override { return "FastGeluBackward"; }
  void release_variables() override { x.reset_data(); }

  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined() || !should_compute_output(0)) return {at::Tensor()};
    return {fast_gelu_backward_op().call(grads[0], x.unpack())};
  }
};

// fast_gelu_backward(grad, x) = grad * gelu'(x):
// d/d(grad) = ddx * gelu'(x), d/dx = ddx * grad * gelu''(x).
struct FastGeluDoubleBackwardNode : public Node {
  SavedVariable grad;
  SavedVariable x;

  std::string name() const override { return "FastGeluBackwardBackward"; }
  void release_variables() override {
    grad.reset_data();
    x.reset_data();
  }

  variable_list apply(variable_list&& grads) override {
    const at::Tensor& grad_grad = grads[0];
    at::Tensor d_grad;
    at::Tensor d_x;
    if (grad_grad.defined()) {
      const at::Tensor input = x.unpack();
      if (should_compute_output(0)) d_grad = fast_gelu_backward_op().call(grad_grad, input);
      if (should_compute_output(1)) {
        d_x = grad_grad * grad.unpack() * fast_gelu_second_derivative_op().call(input);
      }
    }
    return {d_grad, d_x};
  }
};

struct FastGeluThirdDerivativeNode : public Node {
  std::string name() const override { return "FastGeluSecondDerivativeBackward"; }

  variable_list apply(variable_list&&) override {
    TORCH_CHECK_NOT_IMPLEMENTED(false, "rs::fast_gelu: derivatives beyond the second are not implemented");
  }
};

// Records `node` as the creator of `result` when any input requires grad.
template <typename NodeType, typename... Inputs>
c10::intrusive_ptr<NodeType> make_node(const Inputs&... inputs) {
  if (!torch::autograd::compute_requires_grad(inputs...)) return nullptr;
  auto node = c10::make_intrusive<NodeType>();
  node->set_next_edges(torch::autograd::collect_next_edges(inputs...));
  return node;
}

at::Tensor fast_gelu_autograd(const at::Tensor& x) {
  check_no_forward_ad("rs::fast_gelu", x);
  auto node = make_node<FastGeluBackwardNode>(x);
  if (node) node->x = SavedVariable(x, /*is_output=*/false);
  at::Tensor result;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    result = fast_gelu_op().call(x);
  }
  if (node) torch::autograd::set_history(result, node);
  return result;
}

at::Tensor fast_gelu_backward_autograd(const at::Tensor& grad, const at::Tensor& x) {
  check_no_forward_ad("rs::fast_gelu_backward", grad);
  check_no_forward_ad("rs::fast_gelu_backward", x);
  auto node = make_node<FastGeluDoubleBackwardNode>(grad, x);
  if (node) {
    node->grad = SavedVariable(grad, false);
    node->x = SavedVariable(x, false);
  }
  at::Tensor result;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    result = fast_gelu_backward_op().call(grad, x);
  }
  if (node) torch::autograd::set_history(result, node);
  return result;
}

at::Tensor fast_gelu_second_derivative_autograd(const at::Tensor& x) {
  check_no_forward_ad("rs::fast_gelu_second_derivative", x);
  auto node = make_node<FastGeluThirdDerivativeNode>(x);
  at::Tensor result;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    result = fast_gelu_second_derivative_op().call(x);
  }
  if (node) torch::autograd::set_history(result, node);
  return result;
}

at::Tensor& fast_gelu_out_autograd(const at::Tensor& x, at::Tensor& out) {
  TORCH_CHECK(!(at::GradMode::is_enabled() && (x.requires_grad() || out.requires_grad())),
              "rs::fast_gelu(): functions with out=... arguments don't support automatic "
              "differentiation, but one of the arguments requires grad.");
  at::AutoDispatchBelowAutograd guard;
  return fast_gelu_out_op().call(x, out);
}

// Writing into `out` bumps its version counter, as torch's in-place and out= ops do.
at::Tensor& fast_gelu_out_inplace_or_view(const at::Tensor& x, at::Tensor& out) {
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    fast_gelu_out_op().call(x, out);
  }
  out.unsafeGetTensorImpl()->bump_version();
  return out;
}

}  // namespace

TORCH_LIBRARY(rs, m) {
  // Fake (meta) kernels live in this Python module, imported by torch_rs.
  m.set_python_module("torch_rs._meta");
  m.def("fast_gelu(Tensor x) -> Tensor");
  m.def("fast_gelu.out(Tensor x, *, Tensor(a!) out) -> Tensor(a!)");
  m.def("fast_gelu_backward(Tensor grad, Tensor x) -> Tensor");
  m.def("fast_gelu_second_derivative(Tensor x) -> Tensor");
}

TORCH_LIBRARY_IMPL(rs, CPU, m) {
  m.impl("fast_gelu", &fast_gelu_cpu);
  m.impl("fast_gelu.out", &fast_gelu_out_cpu);
  m.impl("fast_gelu_backward", &fast_gelu_backward_cpu);
  m.impl("fast_gelu_second_derivative", &fast_gelu_second_derivative_cpu);
}

TORCH_LIBRARY_IMPL(rs, CUDA, m) {
  m.impl("fast_gelu", &fast_gelu_unsupported);
  m.impl("fast_gelu.out", &fast_gelu_out_unsupported);
  m.impl("fast_gelu_backward", &fast_gelu_backward_unsupported);
  m.impl("fast_gelu_second_derivative", &fast_gelu_second_derivative_unsupported);
}

TORCH_LIBRARY_IMPL(rs, Autograd, m) {
  m.impl("fast_gelu", &fast_gelu_autograd);
  m.impl("fast_gelu.out", &fast_gelu_out_autograd);
  m.impl("fast_gelu_backward", &fast_gelu_backward_autograd);
  m.impl("fast_gelu_second_derivative", &fast_gelu_second_derivative_autograd);
}

TORCH_LIBRARY_IMPL(rs, ADInplaceOrView, m) {
  m.impl("fast_gelu.out", &fast_gelu_out_inplace_or_view);
}
