// rs::rms_norm and rs::add_rms_norm (RMSNorm over the last dimension, optionally after a fused
// residual add) with their backward: schemas and one kernel per dispatch key. The CPU kernels
// are Rust (src/ops/rms_norm.rs).
//
//   rms_norm(x, weight=None, eps=None, mode="llama") -> out
//   add_rms_norm(x, residual, weight=None, eps=None, mode="llama") -> (out, x + residual)
//
// `mode` picks the reference module whose cast order and output dtype are reproduced: "llama"
// (LlamaRMSNorm, also Mistral/Qwen2/Qwen3/Phi-3), "gemma" (GemmaRMSNorm: 1 + weight), "t5"
// (T5LayerNorm) or "torch" (torch.nn.RMSNorm). eps=None is torch's default, the machine epsilon
// of the compute precision. The *_forward overloads also return the inverse RMS that backward
// uses; autograd calls them, users call rms_norm / add_rms_norm.
#include <limits>

#include "torch_rs.h"

namespace {

using namespace torch_rs;
using torch::autograd::Node;
using torch::autograd::SavedVariable;

constexpr const char* kNorm = "rs::rms_norm";
constexpr const char* kAddNorm = "rs::add_rms_norm";
constexpr const char* kBackward = "rs::rms_norm_backward";

// The order is kernels::rms_norm::Mode's.
int mode_code(const char* op, c10::string_view mode) {
  static const char* const kModes[] = {"llama", "gemma", "t5", "torch"};
  for (int i = 0; i < 4; ++i) {
    if (mode == kModes[i]) return i;
  }
  TORCH_CHECK_VALUE(false, op, ": mode must be 'llama', 'gemma', 't5' or 'torch', but got '",
                    std::string(mode), "'");
}

double resolve_eps(const at::Tensor& x, std::optional<double> eps) {
  if (eps.has_value()) return *eps;
  return x.scalar_type() == at::kDouble ? std::numeric_limits<double>::epsilon()
                                        : std::numeric_limits<float>::epsilon();
}

const at::Tensor* optional_ptr(const std::optional<at::Tensor>& t) {
  return t.has_value() && t->defined() ? &*t : nullptr;
}

// ---- CPU ------------------------------------------------------------------------------------

std::tuple<at::Tensor, at::Tensor, at::Tensor> norm_cpu(const char* op, const at::Tensor& x,
                                                        const at::Tensor* residual,
                                                        const std::optional<at::Tensor>& weight,
                                                        std::optional<double> eps,
                                                        c10::string_view mode, bool inv_rms) {
  const int code = mode_code(op, mode);
  at::Tensor* out = nullptr;
  at::Tensor* sum = nullptr;
  at::Tensor* inv = nullptr;
  throw_if_error(torch_rs_rms_norm(&x, residual, optional_ptr(weight), resolve_eps(x, eps), code,
                                   &out, &sum, inv_rms ? &inv : nullptr, at::get_num_threads()));
  return {adopt(out), sum ? adopt(sum) : at::Tensor(), inv ? adopt(inv) : at::Tensor()};
}

at::Tensor rms_norm_cpu(const at::Tensor& x, const std::optional<at::Tensor>& weight,
                        std::optional<double> eps, c10::string_view mode) {
  return std::get<0>(norm_cpu(kNorm, x, nullptr, weight, eps, mode, false));
}

std::tuple<at::Tensor, at::Tensor> rms_norm_forward_cpu(const at::Tensor& x,
                                                        const std::optional<at::Tensor>& weight,
                                                        std::optional<double> eps,
                                                        c10::string_view mode) {
  auto [out, sum, inv] = norm_cpu(kNorm, x, nullptr, weight, eps, mode, true);
  return {out, inv};
}

std::tuple<at::Tensor, at::Tensor> add_rms_norm_cpu(const at::Tensor& x, const at::Tensor& residual,
                                                    const std::optional<at::Tensor>& weight,
                                                    std::optional<double> eps,
                                                    c10::string_view mode) {
  auto [out, sum, inv] = norm_cpu(kAddNorm, x, &residual, weight, eps, mode, false);
  return {out, sum};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> add_rms_norm_forward_cpu(
    const at::Tensor& x, const at::Tensor& residual, const std::optional<at::Tensor>& weight,
    std::optional<double> eps, c10::string_view mode) {
  return norm_cpu(kAddNorm, x, &residual, weight, eps, mode, true);
}

std::tuple<at::Tensor, at::Tensor> rms_norm_backward_cpu(
    const at::Tensor& grad, const at::Tensor& x, const std::optional<at::Tensor>& weight,
    const at::Tensor& inv_rms, const std::optional<at::Tensor>& grad_sum, c10::string_view mode,
    bool weight_grad) {
  const int code = mode_code(kBackward, mode);
  at::Tensor* dx = nullptr;
  at::Tensor* dweight = nullptr;
  throw_if_error(torch_rs_rms_norm_backward(&grad, &x, optional_ptr(weight), &inv_rms,
                                            optional_ptr(grad_sum), code, weight_grad, &dx,
                                            &dweight, at::get_num_threads()));
  // No weight gradient asked for (or no weight): an empty tensor stands in for it.
  at::Tensor dw = dweight ? adopt(dweight) : at::empty({0}, x.options());
  return {adopt(dx), dw};
}

// ---- CUDA: no kernel yet --------------------------------------------------------------------

at::Tensor rms_norm_cuda(const at::Tensor& x, const std::optional<at::Tensor>&,
                         std::optional<double>, c10::string_view) {
  no_kernel_for(kNorm, x);
}
std::tuple<at::Tensor, at::Tensor> rms_norm_forward_cuda(const at::Tensor& x,
                                                         const std::optional<at::Tensor>&,
                                                         std::optional<double>, c10::string_view) {
  no_kernel_for(kNorm, x);
}
std::tuple<at::Tensor, at::Tensor> add_rms_norm_cuda(const at::Tensor& x, const at::Tensor&,
                                                     const std::optional<at::Tensor>&,
                                                     std::optional<double>, c10::string_view) {
  no_kernel_for(kAddNorm, x);
}
std::tuple<at::Tensor, at::Tensor, at::Tensor> add_rms_norm_forward_cuda(
    const at::Tensor& x, const at::Tensor&, const std::optional<at::Tensor>&,
    std::optional<double>, c10::string_view) {
  no_kernel_for(kAddNorm, x);
}
std::tuple<at::Tensor, at::Tensor> rms_norm_backward_cuda(const at::Tensor&, const at::Tensor& x,
                                                          const std::optional<at::Tensor>&,
                                                          const at::Tensor&,
                                                          const std::optional<at::Tensor>&,
                                                          c10::string_view, bool) {
  no_kernel_for(kBackward, x);
}

// ---- Calls through the dispatcher ------------------------------------------------------------

using OptT = const std::optional<at::Tensor>&;
using Norm = at::Tensor(const at::Tensor&, OptT, std::optional<double>, c10::string_view);
using NormForward = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, OptT,
                                                       std::optional<double>, c10::string_view);
using AddNorm = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, OptT,
                                                   std::optional<double>, c10::string_view);
using AddNormForward = std::tuple<at::Tensor, at::Tensor, at::Tensor>(
    const at::Tensor&, const at::Tensor&, OptT, std::optional<double>, c10::string_view);
using NormBackward = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                        OptT, const at::Tensor&, OptT,
                                                        c10::string_view, bool);

const c10::TypedOperatorHandle<Norm>& rms_norm_op() {
  static const auto op = find_op<Norm>(kNorm, "");
  return op;
}
const c10::TypedOperatorHandle<NormForward>& rms_norm_forward_op() {
  static const auto op = find_op<NormForward>("rs::rms_norm_forward", "");
  return op;
}
const c10::TypedOperatorHandle<AddNorm>& add_rms_norm_op() {
  static const auto op = find_op<AddNorm>(kAddNorm, "");
  return op;
}
const c10::TypedOperatorHandle<AddNormForward>& add_rms_norm_forward_op() {
  static const auto op = find_op<AddNormForward>("rs::add_rms_norm_forward", "");
  return op;
}
const c10::TypedOperatorHandle<NormBackward>& rms_norm_backward_op() {
  static const auto op = find_op<NormBackward>(kBackward, "");
  return op;
}

// ---- Autograd -------------------------------------------------------------------------------

at::Tensor defined_or_empty(const std::optional<at::Tensor>& t) {
  return t.has_value() ? *t : at::Tensor();
}

std::optional<at::Tensor> as_optional(const at::Tensor& t) {
  return t.defined() ? std::optional<at::Tensor>(t) : std::nullopt;
}

// The gradient of x + residual reaching both.
struct SumBackwardNode : public Node {
  std::string name() const override { return "AddRmsNormSumBackward"; }
  variable_list apply(variable_list&& grads) override { return {grads[0], grads[0]}; }
};

// Gradients of x and weight (rms_norm) or of x, residual and weight (add_rms_norm, whose saved
// `x` is the sum and whose second output's gradient reaches the sum directly).
struct RmsNormBackwardNode : public Node {
  SavedVariable x;
  SavedVariable weight;
  SavedVariable inv_rms;
  std::string mode;
  bool fused_add = false;

  std::string name() const override {
    return fused_add ? "AddRmsNormBackward" : "RmsNormBackward";
  }
  void release_variables() override {
    x.reset_data();
    weight.reset_data();
    inv_rms.reset_data();
  }

  // add_rms_norm saves its sum without history (the sum is its own output: saving it with
  // history would keep this node alive through itself). A double backward (grad mode on during
  // backward) differentiates through the sum: this gives it a history that sends its gradient
  // to x and residual, as the addition would.
  at::Tensor sum_of_inputs(const at::Tensor& sum) {
    auto node = c10::make_intrusive<SumBackwardNode>();
    node->set_next_edges({next_edge(0), next_edge(1)});
    at::Tensor variable = sum.detach();
    torch::autograd::set_history(variable, node);
    return variable;
  }

  variable_list apply(variable_list&& grads) override {
    const at::Tensor& grad = grads[0];
    const at::Tensor grad_sum = fused_add ? grads[1] : at::Tensor();
    const size_t weight_index = fused_add ? 2 : 1;
    variable_list result(weight_index + 1);
    if (!grad.defined()) {
      // Only the sum's gradient: it reaches x and residual unchanged.
      if (grad_sum.defined()) {
        if (should_compute_output(0)) result[0] = grad_sum;
        if (should_compute_output(1)) result[1] = grad_sum;
      }
      return result;
    }
    const at::Tensor w = weight.unpack();
    const bool weight_grad = w.defined() && should_compute_output(weight_index);
    at::Tensor input = x.unpack();
    if (fused_add && at::GradMode::is_enabled()) input = sum_of_inputs(input);
    auto [dx, dw] = rms_norm_backward_op().call(grad, input, as_optional(w), inv_rms.unpack(),
                                                as_optional(grad_sum), mode, weight_grad);
    if (should_compute_output(0)) result[0] = dx;
    if (fused_add && should_compute_output(1)) result[1] = dx;
    if (weight_grad) result[weight_index] = dw;
    return result;
  }
};

// The *_forward overloads are autograd's internals, not differentiable themselves.
struct NotDifferentiableNode : public Node {
  std::string name() const override { return "RmsNormForwardBackward"; }
  variable_list apply(variable_list&&) override {
    TORCH_CHECK_NOT_IMPLEMENTED(false,
                                "rs::rms_norm_forward / rs::add_rms_norm_forward are not "
                                "differentiable: call rs::rms_norm / rs::add_rms_norm");
  }
};

at::Tensor rms_norm_autograd(const at::Tensor& x, const std::optional<at::Tensor>& weight,
                             std::optional<double> eps, c10::string_view mode) {
  const at::Tensor w = defined_or_empty(weight);
  check_no_forward_ad(kNorm, x);
  if (w.defined()) check_no_forward_ad(kNorm, w);
  auto node = make_node<RmsNormBackwardNode>(x, w);
  at::AutoDispatchBelowADInplaceOrView guard;
  if (!node) return rms_norm_op().call(x, weight, eps, mode);
  auto [out, inv] = rms_norm_forward_op().call(x, weight, eps, mode);
  node->x = SavedVariable(x, false);
  node->weight = SavedVariable(w, false);
  node->inv_rms = SavedVariable(inv, false);
  node->mode = std::string(mode);
  torch::autograd::set_history(out, node);
  return out;
}

std::tuple<at::Tensor, at::Tensor> add_rms_norm_autograd(const at::Tensor& x,
                                                         const at::Tensor& residual,
                                                         const std::optional<at::Tensor>& weight,
                                                         std::optional<double> eps,
                                                         c10::string_view mode) {
  const at::Tensor w = defined_or_empty(weight);
  check_no_forward_ad(kAddNorm, x);
  check_no_forward_ad(kAddNorm, residual);
  if (w.defined()) check_no_forward_ad(kAddNorm, w);
  auto node = make_node<RmsNormBackwardNode>(x, residual, w);
  at::AutoDispatchBelowADInplaceOrView guard;
  if (!node) return add_rms_norm_op().call(x, residual, weight, eps, mode);
  auto [out, sum, inv] = add_rms_norm_forward_op().call(x, residual, weight, eps, mode);
  node->fused_add = true;
  node->weight = SavedVariable(w, false);
  node->inv_rms = SavedVariable(inv, false);
  node->mode = std::string(mode);
  std::vector<at::Tensor> outputs{out, sum};
  torch::autograd::set_history(outputs, node);
  // The sum's data without its history (see sum_of_inputs), so the node does not keep itself
  // alive through its own output.
  node->x = SavedVariable(sum.detach(), false);
  return {out, sum};
}

// The forward overloads run under autograd only as its internals; called directly with inputs
// that require grad, their results raise when differentiated.
template <typename Result, typename Call, typename... Inputs>
Result below_autograd(const char* op, Call call, const Inputs&... inputs) {
  auto node = make_node<NotDifferentiableNode>(inputs...);
  Result result;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    result = call();
  }
  if (node) {
    std::apply([&](auto&... outputs) {
      std::vector<at::Tensor> list{outputs...};
      torch::autograd::set_history(list, node);
    }, result);
  }
  return result;
}

std::tuple<at::Tensor, at::Tensor> rms_norm_forward_autograd(const at::Tensor& x,
                                                             const std::optional<at::Tensor>& weight,
                                                             std::optional<double> eps,
                                                             c10::string_view mode) {
  return below_autograd<std::tuple<at::Tensor, at::Tensor>>(
      kNorm, [&] { return rms_norm_forward_op().call(x, weight, eps, mode); }, x,
      defined_or_empty(weight));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> add_rms_norm_forward_autograd(
    const at::Tensor& x, const at::Tensor& residual, const std::optional<at::Tensor>& weight,
    std::optional<double> eps, c10::string_view mode) {
  return below_autograd<std::tuple<at::Tensor, at::Tensor, at::Tensor>>(
      kAddNorm, [&] { return add_rms_norm_forward_op().call(x, residual, weight, eps, mode); }, x,
      residual, defined_or_empty(weight));
}

// The backward written with aten's differentiable ops (torch_rs/_reference.py's formula),
// for when the backward is itself differentiated (create_graph=True). The inverse RMS r enters
// as rsqrt(mean(x²) + c) with the constant c = 1/r² − mean(x²) (eps, which the backward is not
// given), so that r carries its dependence on x into the second derivative.
std::tuple<at::Tensor, at::Tensor> rms_norm_backward_composite(
    const at::Tensor& grad, const at::Tensor& x, const std::optional<at::Tensor>& weight,
    const at::Tensor& inv_rms, const std::optional<at::Tensor>& grad_sum, c10::string_view mode,
    bool weight_grad) {
  const auto dtype = x.scalar_type();
  const auto c = dtype == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor xc = x.to(c);
  const at::Tensor mean_square = xc.pow(2).mean(-1, /*keepdim=*/true);
  const at::Tensor offset = (inv_rms.unsqueeze(-1).to(c).pow(-2) - mean_square).detach();
  const at::Tensor r = at::rsqrt(mean_square + offset);
  const at::Tensor n = xc * r;
  const at::Tensor w = defined_or_empty(weight);
  const bool half_weight =
      w.defined() && (w.scalar_type() == at::kBFloat16 || w.scalar_type() == at::kHalf);
  // gn: the gradient reaching n through the mode's last steps; n_used: n as they multiply it.
  at::Tensor gn = grad.to(c);
  at::Tensor n_used = n;
  if (w.defined() && mode == "llama") {
    gn = (grad * w).to(dtype).to(c);
    n_used = n.to(dtype);
  } else if (w.defined() && mode == "gemma") {
    gn = gn * (w.to(c) + 1.0);
  } else if (w.defined() && mode == "t5" && half_weight) {
    gn = (grad * w).to(c);
    n_used = n.to(w.scalar_type());
  } else if (w.defined()) {
    gn = gn * w;
  }
  at::Tensor dx = (r * (gn - n * (gn * n).mean(-1, /*keepdim=*/true))).to(dtype);
  if (grad_sum.has_value() && grad_sum->defined()) dx = dx + *grad_sum;
  if (!w.defined() || !weight_grad) return {dx, at::empty({0}, x.options())};
  const bool in_compute_dtype = mode == "gemma" || mode == "torch";
  const at::Tensor product = in_compute_dtype ? grad.to(c) * n_used : grad * n_used;
  return {dx, product.reshape({-1, x.size(-1)}).sum(0).to(w.scalar_type())};
}

std::tuple<at::Tensor, at::Tensor> rms_norm_backward_autograd(
    const at::Tensor& grad, const at::Tensor& x, const std::optional<at::Tensor>& weight,
    const at::Tensor& inv_rms, const std::optional<at::Tensor>& grad_sum, c10::string_view mode,
    bool weight_grad) {
  check_no_forward_ad(kBackward, grad);
  if (torch::autograd::compute_requires_grad(grad, x, defined_or_empty(weight),
                                             defined_or_empty(grad_sum))) {
    return rms_norm_backward_composite(grad, x, weight, inv_rms, grad_sum, mode, weight_grad);
  }
  at::AutoDispatchBelowADInplaceOrView guard;
  return rms_norm_backward_op().call(grad, x, weight, inv_rms, grad_sum, mode, weight_grad);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rs, m) {
  m.set_python_module(TORCH_RS_FAKE_MODULE);
  m.def("rms_norm(Tensor x, Tensor? weight=None, float? eps=None, str mode=\"llama\") -> Tensor");
  m.def(
      "rms_norm_forward(Tensor x, Tensor? weight, float? eps, str mode) -> (Tensor, Tensor)");
  m.def(
      "add_rms_norm(Tensor x, Tensor residual, Tensor? weight=None, float? eps=None, "
      "str mode=\"llama\") -> (Tensor, Tensor)");
  m.def(
      "add_rms_norm_forward(Tensor x, Tensor residual, Tensor? weight, float? eps, str mode) -> "
      "(Tensor, Tensor, Tensor)");
  m.def(
      "rms_norm_backward(Tensor grad, Tensor x, Tensor? weight, Tensor inv_rms, "
      "Tensor? grad_sum, str mode, bool weight_grad) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(rs, CPU, m) {
  m.impl("rms_norm", &rms_norm_cpu);
  m.impl("rms_norm_forward", &rms_norm_forward_cpu);
  m.impl("add_rms_norm", &add_rms_norm_cpu);
  m.impl("add_rms_norm_forward", &add_rms_norm_forward_cpu);
  m.impl("rms_norm_backward", &rms_norm_backward_cpu);
}

TORCH_LIBRARY_IMPL(rs, CUDA, m) {
  m.impl("rms_norm", &rms_norm_cuda);
  m.impl("rms_norm_forward", &rms_norm_forward_cuda);
  m.impl("add_rms_norm", &add_rms_norm_cuda);
  m.impl("add_rms_norm_forward", &add_rms_norm_forward_cuda);
  m.impl("rms_norm_backward", &rms_norm_backward_cuda);
}

TORCH_LIBRARY_IMPL(rs, Autograd, m) {
  m.impl("rms_norm", &rms_norm_autograd);
  m.impl("rms_norm_forward", &rms_norm_forward_autograd);
  m.impl("add_rms_norm", &add_rms_norm_autograd);
  m.impl("add_rms_norm_forward", &add_rms_norm_forward_autograd);
  m.impl("rms_norm_backward", &rms_norm_backward_autograd);
}
