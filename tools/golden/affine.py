"""Golden values for TimeAffine: y = x·W + b with nn.Linear and autograd."""
import torch

import golden

g = torch.Generator().manual_seed(1)
N, T, D, M = 2, 3, 4, 5
x = golden.randn(g, N, T, D).requires_grad_()
W = golden.randn(g, D, M)
b = golden.randn(g, M)
dy = golden.randn(g, N, T, M)

lin = torch.nn.Linear(D, M)
with torch.no_grad():
    lin.weight.copy_(W.t())   # nn.Linear stores (out, in)
    lin.bias.copy_(b)
y = lin(x)
y.backward(dy)

golden.write("affine", [("x", x), ("W", W), ("b", b), ("dy", dy), ("y", y),
                        ("dx", x.grad), ("dW", lin.weight.grad.t()), ("db", lin.bias.grad)],
             "TimeAffine N=2 T=3 D=4 M=5")
