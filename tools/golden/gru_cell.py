"""Golden values for one GRU cell step from a nonzero h, with nonzero biases.

torch.nn.GRUCell orders the gate blocks r, z, n, as we do, and stores the
weights transposed: weight_ih (3H, D), weight_hh (3H, H), with two biases
bias_ih, bias_hh (3H). Ours: Wx (D, 3H), Wh (H, 3H), b (3H), bhn (H), where
b = [b_ir + b_hr, b_iz + b_hz, b_in] and bhn = b_hn (the recurrent bias of n
stays apart because r multiplies it). Gradients by autograd from a random dh';
db is bias_ih's gradient (equal to bias_hh's in the r and z blocks) and dbhn
the n block of bias_hh's. The script asserts that nn.GRUCell agrees with the
formulas of docs/semantics.md written out in torch ops.
"""
import torch

import golden


def to_ours(weight_ih, weight_hh, bias_ih, bias_hh, H):
    """PyTorch's GRU parameters -> Wx, Wh, b, bhn."""
    b = bias_ih.clone()
    b[:2 * H] += bias_hh[:2 * H]
    return weight_ih.t(), weight_hh.t(), b, bias_hh[2 * H:]


def reference_step(x, h, Wx, Wh, b, bhn, H):
    """The GRU step of docs/semantics.md in torch ops."""
    A = x @ Wx + b
    hh = h @ Wh
    r = torch.sigmoid(A[:, :H] + hh[:, :H])
    z = torch.sigmoid(A[:, H:2 * H] + hh[:, H:2 * H])
    n = torch.tanh(A[:, 2 * H:] + r * (hh[:, 2 * H:] + bhn))
    return (1 - z) * n + z * h


def main():
    gen = torch.Generator().manual_seed(13)
    N, D, H = 3, 4, 5
    x = golden.randn(gen, N, D)
    h = golden.randn(gen, N, H)
    w_ih = golden.randn(gen, 3 * H, D, scale=0.5)
    w_hh = golden.randn(gen, 3 * H, H, scale=0.5)
    b_ih = golden.randn(gen, 3 * H)
    b_hh = golden.randn(gen, 3 * H)
    dh_next = golden.randn(gen, N, H)

    cell = torch.nn.GRUCell(D, H)
    with torch.no_grad():
        cell.weight_ih.copy_(w_ih)
        cell.weight_hh.copy_(w_hh)
        cell.bias_ih.copy_(b_ih)
        cell.bias_hh.copy_(b_hh)
    xt = x.clone().requires_grad_()
    ht = h.clone().requires_grad_()
    h_next = cell(xt, ht)
    h_next.backward(dh_next)

    Wx, Wh, b, bhn = to_ours(w_ih, w_hh, b_ih, b_hh, H)
    assert torch.allclose(h_next, reference_step(x, h, Wx, Wh, b, bhn, H))
    assert torch.allclose(cell.bias_ih.grad[:2 * H], cell.bias_hh.grad[:2 * H])

    golden.write("gru_cell", [
        ("x", x), ("h", h), ("Wx", Wx), ("Wh", Wh), ("b", b), ("bhn", bhn),
        ("dh_next", dh_next), ("h_next", h_next),
        ("dx", xt.grad), ("dh_prev", ht.grad),
        ("dWx", cell.weight_ih.grad.t()), ("dWh", cell.weight_hh.grad.t()),
        ("db", cell.bias_ih.grad), ("dbhn", cell.bias_hh.grad[2 * H:]),
    ], "GRU cell step N=3 D=4 H=5 from nonzero h, nn.GRUCell with nonzero bias_ih and bias_hh")


if __name__ == "__main__":
    main()
