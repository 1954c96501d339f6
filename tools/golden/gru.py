"""Golden values for TimeGRU from a nonzero h0, with nonzero biases.

torch.nn.GRU(batch_first=True) with random weight_ih_l0, weight_hh_l0,
bias_ih_l0 and bias_hh_l0, mapped to our Wx, Wh, b, bhn as in gru_cell.py.
Gradients by autograd from a random dy; hT is the last state, dh0 the
gradient w.r.t. the initial state.
"""
import torch

import golden
from gru_cell import to_ours

g = torch.Generator().manual_seed(23)
N, T, D, H = 2, 4, 3, 5
x = golden.randn(g, N, T, D)
h0 = golden.randn(g, N, H)
w_ih = golden.randn(g, 3 * H, D, scale=0.6)
w_hh = golden.randn(g, 3 * H, H, scale=0.6)
b_ih = golden.randn(g, 3 * H)
b_hh = golden.randn(g, 3 * H)
dy = golden.randn(g, N, T, H)

gru = torch.nn.GRU(D, H, batch_first=True)
with torch.no_grad():
    gru.weight_ih_l0.copy_(w_ih)
    gru.weight_hh_l0.copy_(w_hh)
    gru.bias_ih_l0.copy_(b_ih)
    gru.bias_hh_l0.copy_(b_hh)
xt = x.clone().requires_grad_()
ht = h0.clone().unsqueeze(0).requires_grad_()
y, hT = gru(xt, ht)
y.backward(dy)

Wx, Wh, b, bhn = to_ours(w_ih, w_hh, b_ih, b_hh, H)
golden.write("gru", [
    ("x", x), ("h0", h0), ("Wx", Wx), ("Wh", Wh), ("b", b), ("bhn", bhn), ("dy", dy),
    ("y", y), ("hT", hT[0]),
    ("dx", xt.grad), ("dh0", ht.grad[0]),
    ("dWx", gru.weight_ih_l0.grad.t()), ("dWh", gru.weight_hh_l0.grad.t()),
    ("db", gru.bias_ih_l0.grad), ("dbhn", gru.bias_hh_l0.grad[2 * H:]),
], "TimeGRU N=2 T=4 D=3 H=5 from nonzero h0, nn.GRU with nonzero bias_ih and bias_hh")
