"""Golden values for gradient clipping: torch.nn.utils.clip_grad_norm_ and
clip_grad_value_ on two gradient tensors (the C side sees them as one flat
buffer, as a model's gradients are).

Cases: "big" (norm far above max_norm: scaled), "small" (max_norm above the
norm: unchanged), "edge" (g = [3, 4], norm exactly max_norm = 5: PyTorch
still scales by 5 / (5 + 1e-6)), and clamping by value.
"""
import torch

import golden

g = torch.Generator().manual_seed(11)
a = golden.randn(g, 3, 4, scale=2.0)
b = golden.randn(g, 5, scale=2.0)


def clip_norm(tensors, max_norm):
    ps = [torch.nn.Parameter(torch.zeros_like(t)) for t in tensors]
    for p, t in zip(ps, tensors):
        p.grad = t.clone()
    norm = torch.nn.utils.clip_grad_norm_(ps, max_norm)
    return norm, torch.cat([p.grad.reshape(-1) for p in ps])


def clip_value(tensors, c):
    ps = [torch.nn.Parameter(torch.zeros_like(t)) for t in tensors]
    for p, t in zip(ps, tensors):
        p.grad = t.clone()
    torch.nn.utils.clip_grad_value_(ps, c)
    return torch.cat([p.grad.reshape(-1) for p in ps])


flat = torch.cat([a.reshape(-1), b])
arrays = [("grads", flat)]
for name, tensors, max_norm in [("big", [a, b], 1.0), ("small", [a, b], 100.0),
                                ("edge", [torch.tensor([3.0, 4.0])], 5.0)]:
    norm, clipped = clip_norm(tensors, max_norm)
    if name == "edge":
        arrays.append(("edge_grads", torch.tensor([3.0, 4.0])))
    arrays += [(name + "_max_norm", torch.tensor([max_norm])), (name + "_norm", norm.reshape(1)),
               (name + "_clipped", clipped)]
arrays += [("value_c", torch.tensor([1.5])), ("value_clipped", clip_value([a, b], 1.5))]

golden.write("clip", arrays, "gradient clipping: torch.nn.utils, 17 gradients")
