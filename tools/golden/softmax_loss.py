"""Golden values for TimeSoftmaxWithLoss with nn.CrossEntropyLoss and autograd.

(N, T, V) scores with two ignored targets (-1): the mean over counted tokens
(CrossEntropyLoss(ignore_index=-1), TL_LOSS_MEAN) and the CS231n form (sum
over counted tokens divided by N, TL_LOSS_CS231N). Also an (N, V) batch with
(N,) targets. Gradients are d loss / d scores.
"""
import torch

import golden

g = torch.Generator().manual_seed(5)
N, T, V = 2, 4, 5
scores = golden.randn(g, N, T, V, scale=2.0)
targets = torch.tensor([[1, -1, 4, 0], [2, 2, -1, 3]])

arrays = [("scores", scores), ("targets", targets)]
for name, reduction, divisor in [("mean", "mean", 1), ("cs231n", "sum", N)]:
    x = scores.clone().requires_grad_()
    ce = torch.nn.CrossEntropyLoss(ignore_index=-1, reduction=reduction)
    loss = ce(x.reshape(-1, V), targets.reshape(-1)) / divisor
    loss.backward()
    arrays += [(name + "_loss", loss), (name + "_dscores", x.grad)]

B = 3
scores2 = golden.randn(g, B, V, scale=2.0).requires_grad_()
targets2 = torch.tensor([4, 0, 2])
loss2 = torch.nn.CrossEntropyLoss(ignore_index=-1)(scores2, targets2)
loss2.backward()
arrays += [("scores2", scores2), ("targets2", targets2), ("loss2", loss2),
           ("dscores2", scores2.grad)]

golden.write("softmax_loss", arrays, "TimeSoftmaxWithLoss N=2 T=4 V=5; (N, V) with N=3")
