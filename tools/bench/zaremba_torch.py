#!/usr/bin/python3
"""The PyTorch twin of timelayers' Zaremba recipes, for a side-by-side run.

Same model, initialisation scheme, data order, dropout placement and rate, loss, clipping and
learning-rate schedule as `timelayers train` with the options of tools/recipes/zaremba-small.sh
(--hidden 200 --time 20 --dropout 0 --init 0.1 --hold 4 --factor 0.5 --epochs 13) or of the
medium model (the defaults: 2 x 650, dropout 0.5, U(-0.05, 0.05), lr 1 held 6 epochs then
x0.8, batch 20 x time 35, 39 epochs):

  Embedding(V, H) -> Dropout(p) -> LSTM(H, H) x L (dropout p between layers) -> Dropout(p)
    -> Linear(H, V); cross-entropy summed over the T steps and averaged over the B rows
    (timelayers --loss-norm cs231n, the paper's code; --loss-norm mean: over all B*T tokens)

  - words: white-space separated, a newline is the token <eos>; the vocabulary in order of
    first appearance in the training text (timelayers' tl_vocab);
  - batches: the textbook's stateful TBPTT batcher (include/timelayers/batcher.h): B rows
    jump = (len-1)//B apart, a time_idx that advances by T per batch and survives epochs;
    (h, c) carried across batches, detached; reset at every epoch end (the trainer resets
    the state around validation);
  - every parameter U(-a, a); PyTorch's second LSTM bias b_hh is zeroed so that
    b_ih + b_hh has timelayers' single bias's distribution U(-a, a);
  - SGD, global-norm clip (clip_grad_norm_), rate lr for `hold` epochs then x factor per epoch;
  - validation after each epoch (and every --eval-every steps) in the textbook's reference
    mode: batch 10 x time 35 over the first epoch of a fresh batcher, state reset before,
    dropout off.

The two runs draw different random numbers (initial values, dropout masks), so the curves
agree only statistically. Prints one line per validation and, with --log, writes a CSV
(epoch,step,valid_ppl,lr,tokens_per_sec,elapsed_sec).

Usage: tools/bench/zaremba_torch.py [PTB_DIR] [--epochs 39] [--max-steps N] [--eval-every N]
          [--loss-norm cs231n|mean]
          [--hidden 650] [--layers 2] [--dropout 0.5] [--init 0.05] [--lr 1] [--hold 6]
          [--factor 0.8] [--clip 5] [--batch 20] [--time 35] [--threads 1] [--seed 1]
          [--log FILE]
PTB_DIR defaults to $TIMELAYERS_DATA/ptb. Needs Debian's python3-torch (/usr/bin/python3).
"""
import argparse
import math
import os
import sys
import time


def load_words(path, vocab, grow):
    ids = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            for w in line.split() + ['<eos>']:
                if w not in vocab:
                    if not grow:
                        raise SystemExit(f'{path}: word {w!r} is not in the vocabulary')
                    vocab[w] = len(vocab)
                ids.append(vocab[w])
    return ids


class Batcher:
    """include/timelayers/batcher.h, in numpy-free Python over a torch tensor."""

    def __init__(self, data, B, T):
        import torch
        self.data, self.B, self.T = data, B, T
        self.L = len(data) - 1
        self.jump = self.L // B
        self.time_idx = 0
        self.rows = torch.arange(B).unsqueeze(1) * self.jump
        self.cols = torch.arange(T).unsqueeze(0)

    def iters(self):
        return self.L // (self.B * self.T)

    def next(self):
        p = (self.rows + self.time_idx + self.cols) % self.L
        self.time_idx += self.T
        return self.data[p], self.data[p + 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('data', nargs='?', default=None)
    for name, default, kind in [('epochs', 39, int), ('max-steps', 0, int), ('eval-every', 0, int),
                                ('hidden', 650, int), ('layers', 2, int), ('dropout', 0.5, float),
                                ('init', 0.05, float), ('lr', 1.0, float), ('hold', 6, int),
                                ('factor', 0.8, float), ('clip', 5.0, float), ('batch', 20, int),
                                ('time', 35, int), ('threads', 1, int), ('seed', 1, int)]:
        ap.add_argument('--' + name, type=kind, default=default)
    ap.add_argument('--log')
    ap.add_argument('--loss-norm', choices=['cs231n', 'mean'], default='cs231n')
    args = ap.parse_args()
    data = args.data or (os.environ.get('TIMELAYERS_DATA') and
                         os.path.join(os.environ['TIMELAYERS_DATA'], 'ptb'))
    if not data:
        raise SystemExit('usage: zaremba_torch.py PTB_DIR (or set TIMELAYERS_DATA)')

    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    vocab = {}
    train = torch.tensor(load_words(os.path.join(data, 'ptb.train.txt'), vocab, True))
    valid = torch.tensor(load_words(os.path.join(data, 'ptb.valid.txt'), vocab, False))
    V, H = len(vocab), args.hidden

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(V, H)
            self.drop = nn.Dropout(args.dropout)
            self.lstm = nn.LSTM(H, H, args.layers, batch_first=True,
                                dropout=args.dropout if args.layers > 1 else 0)
            self.affine = nn.Linear(H, V)

        def forward(self, x, state):
            y, state = self.lstm(self.drop(self.embed(x)), state)
            return self.affine(self.drop(y)), state

    model = LM()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith('lstm.bias_hh'):
                p.zero_()
            else:
                p.uniform_(-args.init, args.init)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    batcher = Batcher(train, args.batch, args.time)
    iters = batcher.iters()

    def evaluate():
        model.eval()
        b = Batcher(valid, 10, 35)
        total, state = 0.0, None
        with torch.no_grad():
            for _ in range(b.iters()):
                x, t = b.next()
                logits, state = model(x, state)
                total += F.cross_entropy(logits.reshape(-1, V), t.reshape(-1)).item()
        model.train()
        return math.exp(total / b.iters())

    log = open(args.log, 'w') if args.log else None
    if log:
        log.write('epoch,step,valid_ppl,lr,tokens_per_sec,elapsed_sec\n')
    print(f'torch {torch.__version__}, {torch.get_num_threads()} thread(s); vocabulary {V}; '
          f'{len(train)} training tokens, {iters} iterations per epoch', flush=True)
    step, train_time, t0 = 0, 0.0, time.perf_counter()

    def report(epoch, ppl):
        lr = opt.param_groups[0]['lr']
        tok_s = step * args.batch * args.time / train_time
        print(f'epoch {epoch} step {step}: valid ppl {ppl:.2f} | lr {lr:.4g} | {tok_s:.0f} tok/s '
              f'| {time.perf_counter() - t0:.0f} s', flush=True)
        if log:
            log.write(f'{epoch},{step},{ppl:.6g},{lr:.6g},{tok_s:.1f},'
                      f'{time.perf_counter() - t0:.3f}\n')
            log.flush()

    model.train()
    for epoch in range(1, args.epochs + 1):
        for g in opt.param_groups:
            g['lr'] = args.lr * args.factor ** max(0, epoch - args.hold)
        state = None
        for it in range(iters):
            if args.max_steps and step >= args.max_steps:
                return
            s0 = time.perf_counter()
            x, t = batcher.next()
            if state is not None:
                state = tuple(h.detach() for h in state)
            opt.zero_grad()
            logits, state = model(x, state)
            loss = F.cross_entropy(logits.reshape(-1, V), t.reshape(-1))
            if args.loss_norm == 'cs231n':
                loss = loss * args.time
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            train_time += time.perf_counter() - s0
            step += 1
            if it + 1 < iters and args.eval_every and step % args.eval_every == 0:
                report(epoch, evaluate())
        report(epoch, evaluate())


if __name__ == '__main__':
    sys.exit(main())
