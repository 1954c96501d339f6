"""Golden values for TimeLSTM from a nonzero (h0, c0).

torch.nn.LSTM(batch_first=True) with our f, g, i, o weights permuted to its
i, f, g, o order and transposed (see lstm_cell.py), bias_ih_l0 = b,
bias_hh_l0 = 0. Gradients by autograd from a random dy; hT and cT are the
last state, dh0 and dc0 the gradients w.r.t. the initial state.
"""
import torch

import golden
from lstm_cell import FROM_TORCH, TO_TORCH, permute_cols

g = torch.Generator().manual_seed(22)
N, T, D, H = 2, 4, 3, 5
x = golden.randn(g, N, T, D)
h0 = golden.randn(g, N, H)
c0 = golden.randn(g, N, H)
Wx = golden.randn(g, D, 4 * H, scale=0.6)
Wh = golden.randn(g, H, 4 * H, scale=0.6)
b = golden.randn(g, 4 * H)
dy = golden.randn(g, N, T, H)

lstm = torch.nn.LSTM(D, H, batch_first=True)
with torch.no_grad():
    lstm.weight_ih_l0.copy_(permute_cols(Wx, TO_TORCH, H).t())
    lstm.weight_hh_l0.copy_(permute_cols(Wh, TO_TORCH, H).t())
    lstm.bias_ih_l0.copy_(permute_cols(b, TO_TORCH, H))
    lstm.bias_hh_l0.zero_()
xt = x.clone().requires_grad_()
ht = h0.clone().unsqueeze(0).requires_grad_()
ct = c0.clone().unsqueeze(0).requires_grad_()
y, (hT, cT) = lstm(xt, (ht, ct))
y.backward(dy)

golden.write("lstm", [
    ("x", x), ("h0", h0), ("c0", c0), ("Wx", Wx), ("Wh", Wh), ("b", b), ("dy", dy),
    ("y", y), ("hT", hT[0]), ("cT", cT[0]),
    ("dx", xt.grad), ("dh0", ht.grad[0]), ("dc0", ct.grad[0]),
    ("dWx", permute_cols(lstm.weight_ih_l0.grad.t(), FROM_TORCH, H)),
    ("dWh", permute_cols(lstm.weight_hh_l0.grad.t(), FROM_TORCH, H)),
    ("db", permute_cols(lstm.bias_ih_l0.grad, FROM_TORCH, H)),
], "TimeLSTM N=2 T=4 D=3 H=5 from nonzero (h0, c0), nn.LSTM with gates permuted to f, g, i, o")
