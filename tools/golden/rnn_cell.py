"""Golden values for one RNN cell step, tanh and sigmoid.

tanh: torch.nn.RNNCell(nonlinearity='tanh'), which stores the weights
transposed, weight_ih (H, D) = Wxᵀ and weight_hh (H, H) = Whᵀ, with two biases
that add up (bias_ih = b, bias_hh = 0). sigmoid: nn.RNNCell has no such
option, so the step is written with explicit torch ops. Gradients by autograd
from a random dh'.
"""
import torch

import golden

g = torch.Generator().manual_seed(11)
N, D, H = 3, 4, 5
x = golden.randn(g, N, D)
h = golden.randn(g, N, H)
Wx = golden.randn(g, D, H, scale=0.5)
Wh = golden.randn(g, H, H, scale=0.5)
b = golden.randn(g, H)
dh_next = golden.randn(g, N, H)

arrays = [("x", x), ("h", h), ("Wx", Wx), ("Wh", Wh), ("b", b), ("dh_next", dh_next)]

# tanh through the library class.
cell = torch.nn.RNNCell(D, H, nonlinearity="tanh")
with torch.no_grad():
    cell.weight_ih.copy_(Wx.t())
    cell.weight_hh.copy_(Wh.t())
    cell.bias_ih.copy_(b)
    cell.bias_hh.zero_()
xt = x.clone().requires_grad_()
ht = h.clone().requires_grad_()
out = cell(xt, ht)
out.backward(dh_next)
arrays += [("tanh_h_next", out), ("tanh_dx", xt.grad), ("tanh_dh_prev", ht.grad),
           ("tanh_dWx", cell.weight_ih.grad.t()), ("tanh_dWh", cell.weight_hh.grad.t()),
           ("tanh_db", cell.bias_ih.grad)]

# sigmoid with explicit ops.
params = [p.clone().requires_grad_() for p in (Wx, Wh, b)]
xs = x.clone().requires_grad_()
hs = h.clone().requires_grad_()
out = torch.sigmoid(xs @ params[0] + hs @ params[1] + params[2])
out.backward(dh_next)
arrays += [("sigmoid_h_next", out), ("sigmoid_dx", xs.grad), ("sigmoid_dh_prev", hs.grad),
           ("sigmoid_dWx", params[0].grad), ("sigmoid_dWh", params[1].grad),
           ("sigmoid_db", params[2].grad)]

golden.write("rnn_cell", arrays, "RNN cell step N=3 D=4 H=5, tanh (nn.RNNCell) and sigmoid")
