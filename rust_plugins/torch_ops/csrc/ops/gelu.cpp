// rs::fast_gelu (tanh GELU) with its out= overload, backward and second derivative: schemas and
// one kernel per dispatch key. The CPU kernels are Rust (src/ops/gelu.rs).
#include "torch_rs.h"

namespace {

using namespace torch_rs;
using torch::autograd::Node;
using torch::autograd::SavedVariable;

constexpr const char* kForward = "rs::fast_gelu";
constexpr const char* kForwardOut = "rs::fast_gelu.out";
constexpr const char* kBackward = "rs::fast_gelu_backward";
constexpr const char* kSecond = "rs::fast_gelu_second_derivative";

// ---- CPU ------------------------------------------------------------------------------------

at::Tensor fast_gelu_cpu(const at::Tensor& x) { return call_rust(torch_rs_fast_gelu, x); }

at::Tensor& fast_gelu_out_cpu(const at::Tensor& x, at::Tensor& out) {
  prepare_elementwise_out(kForwardOut, x, out);
  throw_if_error(torch_rs_fast_gelu_into(&x, &out, at::get_num_threads()));
  return out;
}

at::Tensor fast_gelu_backward_cpu(const at::Tensor& grad, const at::Tensor& x) {
  return call_rust(torch_rs_fast_gelu_backward, grad, x);
}

at::Tensor fast_gelu_second_derivative_cpu(const at::Tensor& x) {
  return call_rust(torch_rs_fast_gelu_second_derivative, x);
}

// ---- CUDA: no kernel yet --------------------------------------------------------------------

at::Tensor fast_gelu_cuda(const at::Tensor& x) { no_kernel_for(kForward, x); }
at::Tensor& fast_gelu_out_cuda(const at::Tensor& x, at::Tensor&) { no_kernel_for(kForwardOut, x); }
at::Tensor fast_gelu_backward_cuda(const at::Tensor&, const at::Tensor& x) {
  no_kernel_for(kBackward, x);
}
at::Tensor fast_gelu_second_derivative_cuda(const at::Tensor& x) { no_kernel_for(kSecond, x); }

// ---- Calls through the dispatcher ------------------------------------------------------------

using Unary = at::Tensor(const at::Tensor&);
using Binary = at::Tensor(const at::Tensor&, const at::Tensor&);
using UnaryOut = at::Tensor&(const at::Tensor&, at::Tensor&);

const c10::TypedOperatorHandle<Unary>& fast_gelu_op() {
  static const auto op = find_op<Unary>(kForward, "");
  return op;
}
const c10::TypedOperatorHandle<UnaryOut>& fast_gelu_out_op() {
  static const auto op = find_op<UnaryOut>(kForward, "out");
  return op;
}
const c10::TypedOperatorHandle<Binary>& fast_gelu_backward_op() {
  static const auto op = find_op<Binary>(kBackward, "");
  return op;
}
const c10::TypedOperatorHandle<Unary>& fast_gelu_second_derivative_op() {
  static const auto op = find_op<Unary>(kSecond, "");
  return op;
}

// ---- Autograd -------------------------------------------------------------------------------

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

at::Tensor fast_gelu_autograd(const at::Tensor& x) {
  return differentiable<FastGeluBackwardNode>(
      kForward, [&] { return fast_gelu_op().call(x); },
      [&](FastGeluBackwardNode& node) { node.x = SavedVariable(x, /*is_output=*/false); }, x);
}

at::Tensor fast_gelu_backward_autograd(const at::Tensor& grad, const at::Tensor& x) {
  return differentiable<FastGeluDoubleBackwardNode>(
      kBackward, [&] { return fast_gelu_backward_op().call(grad, x); },
      [&](FastGeluDoubleBackwardNode& node) {
        node.grad = SavedVariable(grad, false);
        node.x = SavedVariable(x, false);
      },
      grad, x);
}

at::Tensor fast_gelu_second_derivative_autograd(const at::Tensor& x) {
  return differentiable<FastGeluThirdDerivativeNode>(
      kSecond, [&] { return fast_gelu_second_derivative_op().call(x); },
      [](FastGeluThirdDerivativeNode&) {}, x);
}

at::Tensor& fast_gelu_out_autograd(const at::Tensor& x, at::Tensor& out) {
  return out_not_differentiable(
      kForward, [&]() -> at::Tensor& { return fast_gelu_out_op().call(x, out); }, x, out);
}

at::Tensor& fast_gelu_out_inplace_or_view(const at::Tensor& x, at::Tensor& out) {
  return out_bumps_version([&]() -> at::Tensor& { return fast_gelu_out_op().call(x, out); }, out);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rs, m) {
  m.set_python_module(TORCH_RS_FAKE_MODULE);
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
  m.impl("fast_gelu", &fast_gelu_cuda);
  m.impl("fast_gelu.out", &fast_gelu_out_cuda);
  m.impl("fast_gelu_backward", &fast_gelu_backward_cuda);
  m.impl("fast_gelu_second_derivative", &fast_gelu_second_derivative_cuda);
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
