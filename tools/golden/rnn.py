"""Golden values for TimeRNN, tanh and sigmoid, from a nonzero h0.

tanh: torch.nn.RNN(nonlinearity='tanh', batch_first=True), weights transposed
from our layout (weight_ih_l0 = Wxᵀ, weight_hh_l0 = Whᵀ), bias_ih_l0 = b,
bias_hh_l0 = 0. sigmoid: nn.RNN has no such option, so the time loop is
written with explicit torch ops. Gradients by autograd from a random dy;
hT is the last hidden state, dh0 the gradient w.r.t. h0.
"""
import torch

import golden

g = torch.Generator().manual_seed(21)
N, T, D, H = 2, 4, 3, 5
x = golden.randn(g, N, T, D)
h0 = golden.randn(g, N, H)
Wx = golden.randn(g, D, H, scale=0.6)
Wh = golden.randn(g, H, H, scale=0.6)
b = golden.randn(g, H)
dy = golden.randn(g, N, T, H)

arrays = [("x", x), ("h0", h0), ("Wx", Wx), ("Wh", Wh), ("b", b), ("dy", dy)]

rnn = torch.nn.RNN(D, H, nonlinearity="tanh", batch_first=True)
with torch.no_grad():
    rnn.weight_ih_l0.copy_(Wx.t())
    rnn.weight_hh_l0.copy_(Wh.t())
    rnn.bias_ih_l0.copy_(b)
    rnn.bias_hh_l0.zero_()
xt = x.clone().requires_grad_()
ht = h0.clone().unsqueeze(0).requires_grad_()
y, hT = rnn(xt, ht)
y.backward(dy)
arrays += [("tanh_y", y), ("tanh_hT", hT[0]), ("tanh_dx", xt.grad), ("tanh_dh0", ht.grad[0]),
           ("tanh_dWx", rnn.weight_ih_l0.grad.t()), ("tanh_dWh", rnn.weight_hh_l0.grad.t()),
           ("tanh_db", rnn.bias_ih_l0.grad)]

params = [p.clone().requires_grad_() for p in (Wx, Wh, b)]
xs = x.clone().requires_grad_()
hs = h0.clone().requires_grad_()
h = hs
steps = []
for t in range(T):
    h = torch.sigmoid(xs[:, t] @ params[0] + h @ params[1] + params[2])
    steps.append(h)
y = torch.stack(steps, dim=1)
y.backward(dy)
arrays += [("sigmoid_y", y), ("sigmoid_hT", h), ("sigmoid_dx", xs.grad), ("sigmoid_dh0", hs.grad),
           ("sigmoid_dWx", params[0].grad), ("sigmoid_dWh", params[1].grad),
           ("sigmoid_db", params[2].grad)]

golden.write("rnn", arrays, "TimeRNN N=2 T=4 D=3 H=5 from nonzero h0, tanh (nn.RNN) and sigmoid")
