// rs::cross_entropy: F.cross_entropy over (N, C) logits and class indices, computed in float32
// (float64 for float64 logits) whatever the logits' dtype, as transformers' causal-LM loss
// upcasts them; with ignore_index, reduction ("none", "mean", "sum") and label_smoothing.
// The backward writes softmax − target straight into the logits-shaped gradient. Schemas and
// one kernel per dispatch key; the CPU kernels are Rust (src/ops/cross_entropy.rs).
#include "torch_rs.h"

namespace {

using namespace torch_rs;
using torch::autograd::Node;
using torch::autograd::SavedVariable;

constexpr const char* kForward = "rs::cross_entropy";
constexpr const char* kBackward = "rs::cross_entropy_backward";

// The codes of src/ops/cross_entropy.rs.
int reduction_code(c10::string_view reduction) {
  if (reduction == "none") return 0;
  if (reduction == "mean") return 1;
  if (reduction == "sum") return 2;
  TORCH_CHECK_VALUE(false, std::string(reduction), " is not a valid value for reduction");
}

void check_smoothing(double smoothing) {
  TORCH_CHECK(smoothing >= 0.0 && smoothing <= 1.0,
              "label_smoothing must be between 0.0 and 1.0. Got: ", smoothing);
}

// ---- CPU ------------------------------------------------------------------------------------

std::tuple<at::Tensor, at::Tensor> forward(const at::Tensor& input, const at::Tensor& target,
                                           int64_t ignore_index, c10::string_view reduction,
                                           double smoothing, bool want_lse) {
  const int code = reduction_code(reduction);
  check_smoothing(smoothing);
  at::Tensor* loss = nullptr;
  at::Tensor* lse = nullptr;
  throw_if_error(torch_rs_cross_entropy(&input, &target, ignore_index, code, smoothing, &loss,
                                        want_lse ? &lse : nullptr, at::get_num_threads()));
  return {adopt(loss), lse ? adopt(lse) : at::Tensor()};
}

at::Tensor cross_entropy_cpu(const at::Tensor& input, const at::Tensor& target,
                             int64_t ignore_index, c10::string_view reduction, double smoothing) {
  return std::get<0>(forward(input, target, ignore_index, reduction, smoothing, false));
}

std::tuple<at::Tensor, at::Tensor> cross_entropy_forward_cpu(const at::Tensor& input,
                                                             const at::Tensor& target,
                                                             int64_t ignore_index,
                                                             c10::string_view reduction,
                                                             double smoothing) {
  return forward(input, target, ignore_index, reduction, smoothing, true);
}

at::Tensor cross_entropy_backward_cpu(const at::Tensor& grad, const at::Tensor& input,
                                      const at::Tensor& target, const at::Tensor& lse,
                                      int64_t ignore_index, c10::string_view reduction,
                                      double smoothing) {
  const int code = reduction_code(reduction);
  check_smoothing(smoothing);
  at::Tensor out = at::empty(input.sizes(), input.options());
  throw_if_error(torch_rs_cross_entropy_backward(&grad, &input, &target, &lse, ignore_index, code,
                                                 smoothing, &out, at::get_num_threads()));
  return out;
}

// ---- CUDA: no kernel yet --------------------------------------------------------------------

at::Tensor cross_entropy_cuda(const at::Tensor& input, const at::Tensor&, int64_t,
                              c10::string_view, double) {
  no_kernel_for(kForward, input);
}
std::tuple<at::Tensor, at::Tensor> cross_entropy_forward_cuda(const at::Tensor& input,
                                                              const at::Tensor&, int64_t,
                                                              c10::string_view, double) {
  no_kernel_for(kForward, input);
}
at::Tensor cross_entropy_backward_cuda(const at::Tensor&, const at::Tensor& input,
                                       const at::Tensor&, const at::Tensor&, int64_t,
                                       c10::string_view, double) {
  no_kernel_for(kBackward, input);
}

// ---- Calls through the dispatcher ------------------------------------------------------------

using Forward = at::Tensor(const at::Tensor&, const at::Tensor&, int64_t, c10::string_view,
                           double);
using ForwardLse = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                      int64_t, c10::string_view, double);
using Backward = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            const at::Tensor&, int64_t, c10::string_view, double);

const c10::TypedOperatorHandle<Forward>& forward_op() {
  static const auto op = find_op<Forward>(kForward, "");
  return op;
}
const c10::TypedOperatorHandle<ForwardLse>& forward_lse_op() {
  static const auto op = find_op<ForwardLse>("rs::cross_entropy_forward", "");
  return op;
}
const c10::TypedOperatorHandle<Backward>& backward_op() {
  static const auto op = find_op<Backward>(kBackward, "");
  return op;
}

// ---- Autograd -------------------------------------------------------------------------------

struct CrossEntropyBackwardNode : public Node {
  SavedVariable input;
  SavedVariable target;
  SavedVariable lse;
  int64_t ignore_index = -100;
  std::string reduction;
  double smoothing = 0.0;

  std::string name() const override { return "CrossEntropyBackward"; }
  void release_variables() override {
    input.reset_data();
    target.reset_data();
    lse.reset_data();
  }

  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined() || !should_compute_output(0)) return {at::Tensor()};
    return {backward_op().call(grads[0], input.unpack(), target.unpack(), lse.unpack(),
                               ignore_index, reduction, smoothing)};
  }
};

// rs::cross_entropy_forward is autograd's internal overload, not differentiable itself.
struct NotDifferentiableNode : public Node {
  std::string name() const override { return "CrossEntropyForwardBackward"; }
  variable_list apply(variable_list&&) override {
    TORCH_CHECK_NOT_IMPLEMENTED(false,
                                "rs::cross_entropy_forward is not differentiable: call "
                                "rs::cross_entropy");
  }
};

at::Tensor cross_entropy_autograd(const at::Tensor& input, const at::Tensor& target,
                                  int64_t ignore_index, c10::string_view reduction,
                                  double smoothing) {
  check_no_forward_ad(kForward, input);
  auto node = make_node<CrossEntropyBackwardNode>(input);
  at::AutoDispatchBelowADInplaceOrView guard;
  if (!node) return forward_op().call(input, target, ignore_index, reduction, smoothing);
  auto [loss, lse] = forward_lse_op().call(input, target, ignore_index, reduction, smoothing);
  node->input = SavedVariable(input, false);
  node->target = SavedVariable(target, false);
  node->lse = SavedVariable(lse, false);
  node->ignore_index = ignore_index;
  node->reduction = std::string(reduction);
  node->smoothing = smoothing;
  torch::autograd::set_history(loss, node);
  return loss;
}

std::tuple<at::Tensor, at::Tensor> cross_entropy_forward_autograd(const at::Tensor& input,
                                                                  const at::Tensor& target,
                                                                  int64_t ignore_index,
                                                                  c10::string_view reduction,
                                                                  double smoothing) {
  auto node = make_node<NotDifferentiableNode>(input);
  std::tuple<at::Tensor, at::Tensor> result;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    result = forward_lse_op().call(input, target, ignore_index, reduction, smoothing);
  }
  if (node) {
    std::vector<at::Tensor> outputs{std::get<0>(result), std::get<1>(result)};
    torch::autograd::set_history(outputs, node);
  }
  return result;
}

// The backward written with aten's differentiable ops (torch_rs/_reference.py's formula),
// for when the backward is itself differentiated (create_graph=True): each kept row's share of
// the loss times softmax − (1 − ε)·onehot − ε/C, the softmax recomputed from the input so that
// the second derivative sees it.
at::Tensor cross_entropy_backward_composite(const at::Tensor& grad, const at::Tensor& input,
                                            const at::Tensor& target, int64_t ignore_index,
                                            c10::string_view reduction, double smoothing) {
  const at::Tensor x = input.to(input.scalar_type() == at::kDouble ? at::kDouble : at::kFloat);
  const at::Tensor kept = target != ignore_index;
  at::Tensor row = grad;
  if (reduction == "sum") {
    row = grad.expand(target.sizes());
  } else if (reduction == "mean") {
    row = grad / kept.sum().to(grad.scalar_type());
  }
  row = at::where(kept, row, at::zeros_like(row)).unsqueeze(-1);
  const int64_t classes = x.size(-1);
  const at::Tensor onehot = (at::arange(classes, target.options()) == target.unsqueeze(-1)).to(
      x.scalar_type());
  at::Tensor d = at::softmax(x, -1) - (1.0 - smoothing) * onehot;
  if (smoothing != 0.0) d = d - smoothing / static_cast<double>(classes);
  return (row * d).to(input.scalar_type());
}

at::Tensor cross_entropy_backward_autograd(const at::Tensor& grad, const at::Tensor& input,
                                           const at::Tensor& target, const at::Tensor& lse,
                                           int64_t ignore_index, c10::string_view reduction,
                                           double smoothing) {
  check_no_forward_ad(kBackward, grad);
  check_no_forward_ad(kBackward, input);
  if (torch::autograd::compute_requires_grad(grad, input)) {
    return cross_entropy_backward_composite(grad, input, target, ignore_index, reduction,
                                            smoothing);
  }
  at::AutoDispatchBelowADInplaceOrView guard;
  return backward_op().call(grad, input, target, lse, ignore_index, reduction, smoothing);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rs, m) {
  m.set_python_module(TORCH_RS_FAKE_MODULE);
  m.def(
      "cross_entropy(Tensor input, Tensor target, int ignore_index=-100, str reduction=\"mean\", "
      "float label_smoothing=0.0) -> Tensor");
  m.def(
      "cross_entropy_forward(Tensor input, Tensor target, int ignore_index, str reduction, "
      "float label_smoothing) -> (Tensor, Tensor)");
  m.def(
      "cross_entropy_backward(Tensor grad, Tensor input, Tensor target, Tensor lse, "
      "int ignore_index, str reduction, float label_smoothing) -> Tensor");
}

TORCH_LIBRARY_IMPL(rs, CPU, m) {
  m.impl("cross_entropy", &cross_entropy_cpu);
  m.impl("cross_entropy_forward", &cross_entropy_forward_cpu);
  m.impl("cross_entropy_backward", &cross_entropy_backward_cpu);
}

TORCH_LIBRARY_IMPL(rs, CUDA, m) {
  m.impl("cross_entropy", &cross_entropy_cuda);
  m.impl("cross_entropy_forward", &cross_entropy_forward_cuda);
  m.impl("cross_entropy_backward", &cross_entropy_backward_cuda);
}

TORCH_LIBRARY_IMPL(rs, Autograd, m) {
  m.impl("cross_entropy", &cross_entropy_autograd);
  m.impl("cross_entropy_forward", &cross_entropy_forward_autograd);
  m.impl("cross_entropy_backward", &cross_entropy_backward_autograd);
}
