"""Golden values for one LSTM cell step from a nonzero (h, c).

torch.nn.LSTMCell orders the gate blocks i, f, g, o and stores the weights
transposed: weight_ih (4H, D), weight_hh (4H, H), with two biases that add up.
Our layout is Wx (D, 4H), Wh (H, 4H), b (4H) in the order f, g, i, o, so
block j of PyTorch's is our block TO_TORCH[j] (semantics.md), bias_ih = b and
bias_hh = 0. Gradients by autograd from random dh' and dc', mapped back with
the inverse permutation. The script asserts that the permuted nn.LSTMCell
agrees with the formulas of semantics.md written out in torch ops.
"""
import torch

import golden

TO_TORCH = [2, 0, 1, 3]    # PyTorch block j (i, f, g, o) = our block TO_TORCH[j]
FROM_TORCH = [1, 2, 0, 3]  # our block j (f, g, i, o) = PyTorch block FROM_TORCH[j]


def permute_cols(w, order, H):
    """Reorder the four H-wide column blocks of w (..., 4H)."""
    return torch.cat([w[..., k * H:(k + 1) * H] for k in order], dim=-1)


def main():
    gen = torch.Generator().manual_seed(12)
    N, D, H = 3, 4, 5
    x = golden.randn(gen, N, D)
    h = golden.randn(gen, N, H)
    c = golden.randn(gen, N, H)
    Wx = golden.randn(gen, D, 4 * H, scale=0.5)
    Wh = golden.randn(gen, H, 4 * H, scale=0.5)
    b = golden.randn(gen, 4 * H)
    dh_next = golden.randn(gen, N, H)
    dc_next = golden.randn(gen, N, H)

    cell = torch.nn.LSTMCell(D, H)
    with torch.no_grad():
        cell.weight_ih.copy_(permute_cols(Wx, TO_TORCH, H).t())
        cell.weight_hh.copy_(permute_cols(Wh, TO_TORCH, H).t())
        cell.bias_ih.copy_(permute_cols(b, TO_TORCH, H))
        cell.bias_hh.zero_()
    xt = x.clone().requires_grad_()
    ht = h.clone().requires_grad_()
    ct = c.clone().requires_grad_()
    h_next, c_next = cell(xt, (ht, ct))
    torch.autograd.backward([h_next, c_next], [dh_next, dc_next])

    # The permutation is right only if nn.LSTMCell now computes our formulas.
    A = x @ Wx + h @ Wh + b
    f, g, i, o = (A[:, k * H:(k + 1) * H] for k in range(4))
    c_ours = torch.sigmoid(f) * c + torch.tanh(g) * torch.sigmoid(i)
    assert torch.allclose(c_next, c_ours)
    assert torch.allclose(h_next, torch.sigmoid(o) * torch.tanh(c_ours))

    golden.write("lstm_cell", [
        ("x", x), ("h", h), ("c", c), ("Wx", Wx), ("Wh", Wh), ("b", b),
        ("dh_next", dh_next), ("dc_next", dc_next),
        ("h_next", h_next), ("c_next", c_next),
        ("dx", xt.grad), ("dh_prev", ht.grad), ("dc_prev", ct.grad),
        ("dWx", permute_cols(cell.weight_ih.grad.t(), FROM_TORCH, H)),
        ("dWh", permute_cols(cell.weight_hh.grad.t(), FROM_TORCH, H)),
        ("db", permute_cols(cell.bias_ih.grad, FROM_TORCH, H)),
    ], "LSTM cell step N=3 D=4 H=5 from nonzero (h, c), nn.LSTMCell, gates permuted to f, g, i, o")


if __name__ == "__main__":
    main()
