"""Golden values for TimeAttention (tests/test_seq2seq.c) computed with PyTorch.

Dot-product attention of decoder states h (N, T, H) over encoder states hs
(N, S, H): a = softmax(h·hsᵀ) over S, context = a·hs; the gradients of
L = Σ context ⊙ R with respect to h and hs come from autograd.
"""
import torch

from golden import write

torch.manual_seed(8)
N, T, S, H = 2, 3, 4, 5
h = torch.randn(N, T, H, requires_grad=True)
hs = torch.randn(N, S, H, requires_grad=True)
R = torch.randn(N, T, H)
a = torch.softmax(torch.bmm(h, hs.transpose(1, 2)), dim=2)
context = torch.bmm(a, hs)
(context * R).sum().backward()
write("attention", [("h", h), ("hs", hs), ("R", R), ("a", a), ("context", context),
                    ("dh", h.grad), ("dhs", hs.grad)],
      "TimeAttention: weights, context and gradients of sum(context * R)")
