// Registers the rs:: operators with PyTorch's dispatcher: schemas, CPU kernels that call the Rust
// entry points (src/ffi.rs), autograd (double backward included), and clear errors for devices
// without a kernel. Kept to one small file: compiling against libtorch's headers is slow.
#include <ATen/ATen.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/Parallel.h>
#include <ATen/native/Resize.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <string>

extern "C" {
struct TorchRsError {
  int32_t code;  // 0 RuntimeError, 1 TypeError, 2 NotImplementedError, 3 ValueError
  char* message;
};
TorchRsError* torch_rs_fast_gelu(const at::Tensor* x, at::Tensor** out, int64_t threads);
TorchRsError* torch_rs_fast_gelu_into(const at::Tensor* x, const at::Tensor* out, int64_t threads);
TorchRsError* torch_rs_fast_gelu_backward(const at::Tensor* grad, const at::Tensor* x,
                                          at::Tensor** out, int64_t threads);
TorchRsError* torch_rs_fast_gelu_second_derivative(const at::Tensor* x, at::Tensor** out,
                                                   int64_t threads);
void torch_rs_error_free(TorchRsError* error);
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void throw_if_error(TorchRsError* error) {
  if (error == nullptr) return;
  const std::string message = error->message;
  const int32_t code = error->code;
  torch_rs_error_free(error);
  TORCH_CHECK_TYPE(code != 1, message);
  TORCH_CHECK_NOT_IMPLEMENTED(code != 2, message);
  TORCH_CHECK_VALUE(code != 3, message);
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

// y = gelu(x); dx = fast_gelu_backward(dy, x), itself differentiable.
class FastGelu : public torch::autograd::Function<FastGelu> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x) {
    ctx->save_for_backward({x});
    at::AutoDispatchBelowADInplaceOrView guard;
    return fast_gelu_op().call(x);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    return {fast_gelu_backward_op().call(grads[0], x)};
  }
};

// dx = dy * gelu'(x); its derivatives: d(dy) = ddx * gelu'(x), d(x) = ddx * dy * gelu''(x).
class FastGeluBackward : public torch::autograd::Function<FastGeluBackward> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& x) {
    ctx->save_for_backward({grad, x});
    at::AutoDispatchBelowADInplaceOrView guard;
    return fast_gelu_backward_op().call(grad, x);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& grad = saved[0];
    const at::Tensor& x = saved[1];
    const at::Tensor& grad_grad = grads[0];
    at::Tensor d_grad;
    at::Tensor d_x;
    if (ctx->needs_input_grad(0)) d_grad = fast_gelu_backward_op().call(grad_grad, x);
    if (ctx->needs_input_grad(1)) d_x = grad_grad * grad * fast_gelu_second_derivative_op().call(x);
    return {d_grad, d_x};
  }
};

class FastGeluSecondDerivative : public torch::autograd::Function<FastGeluSecondDerivative> {
 public:
  static at::Tensor forward(AutogradContext*, const at::Tensor& x) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return fast_gelu_second_derivative_op().call(x);
  }

  static variable_list backward(AutogradContext*, variable_list) {
    TORCH_CHECK_NOT_IMPLEMENTED(false, "rs::fast_gelu: derivatives beyond the second are not implemented");
  }
};

at::Tensor fast_gelu_autograd(const at::Tensor& x) { return FastGelu::apply(x); }

at::Tensor fast_gelu_backward_autograd(const at::Tensor& grad, const at::Tensor& x) {
  return FastGeluBackward::apply(grad, x);
}

at::Tensor fast_gelu_second_derivative_autograd(const at::Tensor& x) {
  return FastGeluSecondDerivative::apply(x);
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
