// rs::rope, transformers' apply_rotary_pos_emb (rotate_half form) for q and k in one call,
// with its backward: schemas and one kernel per dispatch key. The CPU kernels are Rust
// (src/ops/rope.rs).
//
//   rope(q, k, cos, sin, unsqueeze_dim=1) -> (q·cos + rotate_half(q)·sin, same for k)
//
// cos and sin (dtype of q and k) are unsqueezed at `unsqueeze_dim` and broadcast against q and
// k as the reference does, so q and k may have different head counts (grouped-query attention)
// and cos/sin a batch of 1 or B. Their last size r may be smaller than the head dimension:
// then only the first r elements rotate and the rest pass through (partial rotary). q and k
// may be any views (transposed from (B, S, H, D) layouts included). No gradient flows to cos
// and sin.
#include "torch_rs.h"

namespace {

using namespace torch_rs;
using torch::autograd::Node;
using torch::autograd::SavedVariable;

constexpr const char* kRope = "rs::rope";
constexpr const char* kBackward = "rs::rope_backward";

// cos or sin as the reference broadcasts it against x (rotary part only).
at::Tensor broadcast(const char* op, const at::Tensor& t, const at::Tensor& x, int64_t dim) {
  TORCH_CHECK(x.dim() >= 1, op, ": expected q and k to have at least one dimension");
  TORCH_CHECK(t.dim() >= 1, op, ": expected cos and sin to have at least one dimension");
  std::vector<int64_t> sizes(x.sizes().begin(), x.sizes().end());
  sizes.back() = t.size(-1);
  return t.unsqueeze(dim).expand(sizes);
}

// An output laid out as x when x is dense with a contiguous last dimension (as x·cos is), else
// contiguous.
at::Tensor output_for(const at::Tensor& x) {
  if (x.is_non_overlapping_and_dense() && (x.dim() == 0 || x.stride(-1) == 1 || x.size(-1) <= 1)) {
    return at::empty_like(x);
  }
  return at::empty(x.sizes(), x.options());
}

at::Tensor rope_one(const char* op, const at::Tensor& x, const at::Tensor& cos,
                    const at::Tensor& sin, int64_t dim, bool backward) {
  const at::Tensor c = broadcast(op, cos, x, dim);
  const at::Tensor s = broadcast(op, sin, x, dim);
  at::Tensor out = output_for(x);
  throw_if_error(torch_rs_rope(&x, &c, &s, backward, &out, at::get_num_threads()));
  return out;
}

// ---- CPU ------------------------------------------------------------------------------------

std::tuple<at::Tensor, at::Tensor> rope_cpu(const at::Tensor& q, const at::Tensor& k,
                                            const at::Tensor& cos, const at::Tensor& sin,
                                            int64_t dim) {
  return {rope_one(kRope, q, cos, sin, dim, false), rope_one(kRope, k, cos, sin, dim, false)};
}

at::Tensor rope_backward_cpu(const at::Tensor& grad, const at::Tensor& cos, const at::Tensor& sin,
                             int64_t dim) {
  return rope_one(kBackward, grad, cos, sin, dim, true);
}

// ---- CUDA: no kernel yet --------------------------------------------------------------------

std::tuple<at::Tensor, at::Tensor> rope_cuda(const at::Tensor& q, const at::Tensor&,
                                             const at::Tensor&, const at::Tensor&, int64_t) {
  no_kernel_for(kRope, q);
}
at::Tensor rope_backward_cuda(const at::Tensor& grad, const at::Tensor&, const at::Tensor&,
                              int64_t) {
  no_kernel_for(kBackward, grad);
}

// ---- Calls through the dispatcher ------------------------------------------------------------

using Rope = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                const at::Tensor&, const at::Tensor&, int64_t);
using RopeBackward = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t);

const c10::TypedOperatorHandle<Rope>& rope_op() {
  static const auto op = find_op<Rope>(kRope, "");
  return op;
}
const c10::TypedOperatorHandle<RopeBackward>& rope_backward_op() {
  static const auto op = find_op<RopeBackward>(kBackward, "");
  return op;
}

// ---- Autograd -------------------------------------------------------------------------------

// The rotation is linear in q and k: their gradients need only cos and sin.
struct RopeBackwardNode : public Node {
  SavedVariable cos;
  SavedVariable sin;
  int64_t dim = 1;

  std::string name() const override { return "RopeBackward"; }
  void release_variables() override {
    cos.reset_data();
    sin.reset_data();
  }

  variable_list apply(variable_list&& grads) override {
    variable_list result(2);
    const at::Tensor c = cos.unpack();
    const at::Tensor s = sin.unpack();
    for (size_t i = 0; i < 2; ++i) {
      if (grads[i].defined() && should_compute_output(i)) {
        result[i] = rope_backward_op().call(grads[i], c, s, dim);
      }
    }
    return result;
  }
};

// rope_backward is linear in grad as well: its derivative is itself.
struct RopeBackwardBackwardNode : public Node {
  SavedVariable cos;
  SavedVariable sin;
  int64_t dim = 1;

  std::string name() const override { return "RopeBackwardBackward"; }
  void release_variables() override {
    cos.reset_data();
    sin.reset_data();
  }
  variable_list apply(variable_list&& grads) override;
};

void check_no_table_grad(const char* op, const at::Tensor& cos, const at::Tensor& sin) {
  TORCH_CHECK_NOT_IMPLEMENTED(
      !(at::GradMode::is_enabled() && (cos.requires_grad() || sin.requires_grad())), op,
      ": gradients with respect to cos and sin are not implemented (they come from the "
      "rotary embedding's buffers, which do not require grad)");
}

std::tuple<at::Tensor, at::Tensor> rope_autograd(const at::Tensor& q, const at::Tensor& k,
                                                 const at::Tensor& cos, const at::Tensor& sin,
                                                 int64_t dim) {
  check_no_forward_ad(kRope, q);
  check_no_forward_ad(kRope, k);
  check_no_table_grad(kRope, cos, sin);
  auto node = make_node<RopeBackwardNode>(q, k);
  std::tuple<at::Tensor, at::Tensor> result;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    result = rope_op().call(q, k, cos, sin, dim);
  }
  if (node) {
    node->cos = SavedVariable(cos, false);
    node->sin = SavedVariable(sin, false);
    node->dim = dim;
    std::vector<at::Tensor> outputs{std::get<0>(result), std::get<1>(result)};
    torch::autograd::set_history(outputs, node);
  }
  return result;
}

at::Tensor rope_backward_autograd(const at::Tensor& grad, const at::Tensor& cos,
                                  const at::Tensor& sin, int64_t dim) {
  check_no_table_grad(kBackward, cos, sin);
  return differentiable<RopeBackwardBackwardNode>(
      kBackward, [&] { return rope_backward_op().call(grad, cos, sin, dim); },
      [&](RopeBackwardBackwardNode& node) {
        node.cos = SavedVariable(cos, false);
        node.sin = SavedVariable(sin, false);
        node.dim = dim;
      },
      grad);
}

// d/d(grad) of rope_backward(grad) applied to gg is rope(gg) (the transpose of the transpose).
variable_list RopeBackwardBackwardNode::apply(variable_list&& grads) {
  if (!grads[0].defined() || !should_compute_output(0)) return {at::Tensor()};
  const at::Tensor gg = grads[0];
  return {std::get<0>(rope_op().call(gg, gg, cos.unpack(), sin.unpack(), dim))};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rs, m) {
  m.set_python_module(TORCH_RS_FAKE_MODULE);
  m.def("rope(Tensor q, Tensor k, Tensor cos, Tensor sin, int unsqueeze_dim=1) -> (Tensor, Tensor)");
  m.def("rope_backward(Tensor grad, Tensor cos, Tensor sin, int unsqueeze_dim) -> Tensor");
}

TORCH_LIBRARY_IMPL(rs, CPU, m) {
  m.impl("rope", &rope_cpu);
  m.impl("rope_backward", &rope_backward_cpu);
}

TORCH_LIBRARY_IMPL(rs, CUDA, m) {
  m.impl("rope", &rope_cuda);
  m.impl("rope_backward", &rope_backward_cuda);
}

TORCH_LIBRARY_IMPL(rs, Autograd, m) {
  m.impl("rope", &rope_autograd);
  m.impl("rope_backward", &rope_backward_autograd);
}
