"""Golden values for TimeEmbedding with nn.Embedding and autograd.

The ids repeat (id 3 three times, id 0 twice) and id 5 never occurs, so dW
checks the scatter-add and the untouched rows.
"""
import torch

import golden

g = torch.Generator().manual_seed(3)
N, T, V, D = 2, 4, 6, 3
ids = torch.tensor([[3, 0, 3, 1], [2, 3, 0, 4]])
W = golden.randn(g, V, D)
dy = golden.randn(g, N, T, D)

emb = torch.nn.Embedding(V, D)
with torch.no_grad():
    emb.weight.copy_(W)
y = emb(ids)
y.backward(dy)

golden.write("embedding", [("ids", ids), ("W", W), ("dy", dy), ("y", y),
                           ("dW", emb.weight.grad)],
             "TimeEmbedding N=2 T=4 V=6 D=3")
