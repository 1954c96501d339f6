"""Golden values for the optimizers: five steps of each torch.optim class.

One parameter vector, a different gradient at every step (of varying scale,
with one element whose gradient is always zero); the parameters after each
step are written as <name>_p (5, n), the hyperparameters used as
<name>_hyper = [lr, momentum, rho, beta1, beta2, eps]. They differ from the
defaults so that a mixed-up field shows.

Momentum: the reference steps v = mu*v - lr*g; p += v, and torch.optim.SGD
with momentum steps b = mu*b + g; p -= lr*b. Starting from v = b = 0 with a
constant lr, v = -lr*b after every step (v' = mu*(-lr*b) - lr*g =
-lr*(mu*b + g) = -lr*b'), so both move the parameters identically and torch
serves as an independent implementation of the reference's formula.
Nesterov and Adam follow PyTorch's definitions by design (semantics.md).
AdaGrad and RMSprop use the reference's eps = 1e-7 and a zero initial
accumulator; RMSprop's rho is torch's alpha.
"""
import torch

import golden

g = torch.Generator().manual_seed(7)
n, steps = 10, 5
p0 = golden.randn(g, n)
scales = [1.0, 0.1, 3.0, 0.5, 2.0]
grads = torch.stack([golden.randn(g, n, scale=s) for s in scales])
grads[:, 3] = 0.0

# name: (hyper = [lr, momentum, rho, beta1, beta2, eps], torch constructor)
cases = {
    "sgd": ([0.1, 0, 0, 0, 0, 0],
            lambda ps, h: torch.optim.SGD(ps, lr=h[0])),
    "momentum": ([0.05, 0.8, 0, 0, 0, 0],
                 lambda ps, h: torch.optim.SGD(ps, lr=h[0], momentum=h[1])),
    "nesterov": ([0.05, 0.8, 0, 0, 0, 0],
                 lambda ps, h: torch.optim.SGD(ps, lr=h[0], momentum=h[1], nesterov=True)),
    "adagrad": ([0.1, 0, 0, 0, 0, 1e-7],
                lambda ps, h: torch.optim.Adagrad(ps, lr=h[0], eps=h[5],
                                                  initial_accumulator_value=0)),
    "rmsprop": ([0.02, 0, 0.9, 0, 0, 1e-7],
                lambda ps, h: torch.optim.RMSprop(ps, lr=h[0], alpha=h[2], eps=h[5])),
    "adam": ([0.05, 0, 0, 0.8, 0.99, 1e-8],
             lambda ps, h: torch.optim.Adam(ps, lr=h[0], betas=(h[3], h[4]), eps=h[5])),
}

arrays = [("p0", p0), ("grads", grads)]
for name, (hyper, make) in cases.items():
    p = torch.nn.Parameter(p0.clone())
    opt = make([p], hyper)
    after = []
    for t in range(steps):
        p.grad = grads[t].clone()
        opt.step()
        after.append(p.detach().clone())
    arrays += [(name + "_hyper", torch.tensor(hyper)), (name + "_p", torch.stack(after))]

golden.write("optim", arrays, "optimizers: 5 steps, n=10, torch.optim")
