// rs::silu_mul and rs::gelu_tanh_mul, the gated activations of transformer MLPs, with their
// backward: schemas and one kernel per dispatch key. The CPU kernels are Rust (src/ops/glu.rs).
//
//   silu_mul(gate, up) = silu(gate) * up                      (SwiGLU: Llama, Mistral, Qwen)
//   gelu_tanh_mul(gate, up) = gelu(gate, approximate="tanh") * up   (GeGLU: Gemma)
//
// Half types are rounded as the models' two ops round them (the activation, then the product).
// The backward recomputes the activation from gate (nothing but the inputs is saved) and
// returns both gradients from one pass.
#include "torch_rs.h"

namespace {

using namespace torch_rs;
using torch::autograd::Node;
using torch::autograd::SavedVariable;

struct Names {
  const char* forward;
  const char* backward;
  int code;  // the activation code of src/ops/glu.rs
};

constexpr Names kSilu{"rs::silu_mul", "rs::silu_mul_backward", 0};
constexpr Names kGelu{"rs::gelu_tanh_mul", "rs::gelu_tanh_mul_backward", 1};

// ---- CPU ------------------------------------------------------------------------------------

template <const Names& N>
at::Tensor glu_cpu(const at::Tensor& gate, const at::Tensor& up) {
  at::Tensor* out = nullptr;
  throw_if_error(torch_rs_glu(&gate, &up, N.code, &out, at::get_num_threads()));
  return adopt(out);
}

template <const Names& N>
std::tuple<at::Tensor, at::Tensor> glu_backward_cpu(const at::Tensor& grad, const at::Tensor& gate,
                                                    const at::Tensor& up) {
  at::Tensor* d_gate = nullptr;
  at::Tensor* d_up = nullptr;
  throw_if_error(
      torch_rs_glu_backward(&grad, &gate, &up, N.code, &d_gate, &d_up, at::get_num_threads()));
  return {adopt(d_gate), adopt(d_up)};
}

// ---- CUDA: no kernel yet --------------------------------------------------------------------

template <const Names& N>
at::Tensor glu_cuda(const at::Tensor& gate, const at::Tensor&) {
  no_kernel_for(N.forward, gate);
}

template <const Names& N>
std::tuple<at::Tensor, at::Tensor> glu_backward_cuda(const at::Tensor&, const at::Tensor& gate,
                                                     const at::Tensor&) {
  no_kernel_for(N.backward, gate);
}

// ---- Calls through the dispatcher ------------------------------------------------------------

using Forward = at::Tensor(const at::Tensor&, const at::Tensor&);
using Backward = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                    const at::Tensor&);

template <const Names& N>
const c10::TypedOperatorHandle<Forward>& forward_op() {
  static const auto op = find_op<Forward>(N.forward, "");
  return op;
}

template <const Names& N>
const c10::TypedOperatorHandle<Backward>& backward_op() {
  static const auto op = find_op<Backward>(N.backward, "");
  return op;
}

// ---- Autograd -------------------------------------------------------------------------------

template <const Names& N>
struct GluBackwardNode : public Node {
  SavedVariable gate;
  SavedVariable up;

  std::string name() const override {
    return N.code == 0 ? "SiluMulBackward" : "GeluTanhMulBackward";
  }
  void release_variables() override {
    gate.reset_data();
    up.reset_data();
  }

  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor()};
    auto [d_gate, d_up] = backward_op<N>().call(grads[0], gate.unpack(), up.unpack());
    return {should_compute_output(0) ? d_gate : at::Tensor(),
            should_compute_output(1) ? d_up : at::Tensor()};
  }
};

template <const Names& N>
at::Tensor glu_autograd(const at::Tensor& gate, const at::Tensor& up) {
  return differentiable<GluBackwardNode<N>>(
      N.forward, [&] { return forward_op<N>().call(gate, up); },
      [&](GluBackwardNode<N>& node) {
        node.gate = SavedVariable(gate, false);
        node.up = SavedVariable(up, false);
      },
      gate, up);
}

// The backward written with aten's differentiable ops (torch_rs/_reference.py's formula),
// for when the backward is itself differentiated (create_graph=True): autograd then takes the
// second derivative through these ops, as it does for torch's own silu and gelu.
template <const Names& N>
std::tuple<at::Tensor, at::Tensor> glu_backward_composite(const at::Tensor& grad,
                                                          const at::Tensor& gate,
                                                          const at::Tensor& up) {
  if (N.code == kSilu.code) {
    // silu_backward has no derivative of its own; autograd's formula for silu under grad mode.
    const at::Tensor s = at::sigmoid(gate);
    return {grad * up * s * (1 + gate * (1 - s)), grad * at::silu(gate)};
  }
  return {at::gelu_backward(grad * up, gate, "tanh"), grad * at::gelu(gate, "tanh")};
}

template <const Names& N>
std::tuple<at::Tensor, at::Tensor> glu_backward_autograd(const at::Tensor& grad,
                                                         const at::Tensor& gate,
                                                         const at::Tensor& up) {
  check_no_forward_ad(N.backward, grad);
  if (torch::autograd::compute_requires_grad(grad, gate, up)) {
    return glu_backward_composite<N>(grad, gate, up);
  }
  at::AutoDispatchBelowADInplaceOrView guard;
  return backward_op<N>().call(grad, gate, up);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rs, m) {
  m.set_python_module(TORCH_RS_FAKE_MODULE);
  m.def("silu_mul(Tensor gate, Tensor up) -> Tensor");
  m.def("silu_mul_backward(Tensor grad, Tensor gate, Tensor up) -> (Tensor, Tensor)");
  m.def("gelu_tanh_mul(Tensor gate, Tensor up) -> Tensor");
  m.def("gelu_tanh_mul_backward(Tensor grad, Tensor gate, Tensor up) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(rs, CPU, m) {
  m.impl("silu_mul", &glu_cpu<kSilu>);
  m.impl("silu_mul_backward", &glu_backward_cpu<kSilu>);
  m.impl("gelu_tanh_mul", &glu_cpu<kGelu>);
  m.impl("gelu_tanh_mul_backward", &glu_backward_cpu<kGelu>);
}

TORCH_LIBRARY_IMPL(rs, CUDA, m) {
  m.impl("silu_mul", &glu_cuda<kSilu>);
  m.impl("silu_mul_backward", &glu_backward_cuda<kSilu>);
  m.impl("gelu_tanh_mul", &glu_cuda<kGelu>);
  m.impl("gelu_tanh_mul_backward", &glu_backward_cuda<kGelu>);
}

TORCH_LIBRARY_IMPL(rs, Autograd, m) {
  m.impl("silu_mul", &glu_autograd<kSilu>);
  m.impl("silu_mul_backward", &glu_backward_autograd<kSilu>);
  m.impl("gelu_tanh_mul", &glu_autograd<kGelu>);
  m.impl("gelu_tanh_mul_backward", &glu_backward_autograd<kGelu>);
}
