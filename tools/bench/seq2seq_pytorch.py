#!/usr/bin/python3
"""Training speed of the attention sequence-to-sequence model: timelayers against PyTorch.

Both sides train the same model on the same shapes (by default the date task's: vocabulary 59,
questions of 29 symbols, answers of 11 with the start symbol, wordvec 16, hidden 256, batch 128):
encoder Embedding -> LSTM, decoder Embedding -> LSTM from the encoder's last (h, c = 0), dot-product
attention over the encoder states, Linear on [context, h], cross-entropy (mean), Adam (lr 0.001),
global-norm clip 5. The data are random pairs of those lengths written to a file; timelayers runs
`timelayers seq2seq train --model attention` on it and its CSV log gives tokens/s, PyTorch runs the
loop below. Tokens per step = batch x (question length + answer length - 1) on both sides.

Each measurement is a fresh process, PyTorch and timelayers ALTERNATELY, --reps times; the medians
and the ratio timelayers / PyTorch (> 1: timelayers is faster) are printed. Needs python3-torch.

Usage: tools/bench/seq2seq_pytorch.py [--timelayers build/tools/timelayers] [--reps 3]
           [--steps 30] [--threads 1] [--vocab 59] [--qlen 29] [--alen 11] [--wordvec 16]
           [--hidden 256] [--batch 128]
"""
import argparse
import csv
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time


def torch_worker(a):
    import torch
    import torch.nn as nn
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    V, S, T, D, H, B = a.vocab, a.qlen, a.alen, a.wordvec, a.hidden, a.batch

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc_embed = nn.Embedding(V, D)
            self.enc = nn.LSTM(D, H, batch_first=True)
            self.dec_embed = nn.Embedding(V, D)
            self.dec = nn.LSTM(D, H, batch_first=True)
            self.out = nn.Linear(2 * H, V)

        def forward(self, q, a_in):
            hs, (h, _) = self.enc(self.enc_embed(q))
            hd, _ = self.dec(self.dec_embed(a_in), (h, torch.zeros_like(h)))
            w = torch.softmax(torch.bmm(hd, hs.transpose(1, 2)), dim=2)
            context = torch.bmm(w, hs)
            return self.out(torch.cat([context, hd], dim=2))

    m = Model()
    opt = torch.optim.Adam(m.parameters(), lr=0.001)
    loss_fn = nn.CrossEntropyLoss()
    q = torch.randint(0, V, (B, S))
    ans = torch.randint(0, V, (B, T))

    def step():
        opt.zero_grad()
        scores = m(q, ans[:, :-1])
        loss = loss_fn(scores.reshape(-1, V), ans[:, 1:].reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(m.parameters(), 5.0)
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = time.perf_counter() - t0
    print(a.steps * B * (S + T - 1) / dt)


def make_data(a, path):
    rng = random.Random(1)
    symbols = [chr(0x100 + i) for i in range(a.vocab - 1)]  # and '_', the start symbol
    with open(path, 'w', encoding='utf-8') as f:
        for _ in range(a.batch * (a.steps + 5)):
            qs = ''.join(rng.choice(symbols) for _ in range(a.qlen))
            ans = ''.join(rng.choice(symbols) for _ in range(a.alen - 1))
            f.write(qs + '_' + ans + '\n')


def timelayers_run(a, data, tmp):
    log = os.path.join(tmp, 'log.csv')
    subprocess.run([a.timelayers, 'seq2seq', 'train', '--train', data, '--model', 'attention',
                    '--wordvec', str(a.wordvec), '--hidden', str(a.hidden), '--batch',
                    str(a.batch), '--epochs', '1', '--clip', '5', '--report', '5', '--quiet',
                    '--threads', str(a.threads), '--out', os.path.join(tmp, 'm.st'),
                    '--log-csv', log], check=True)
    with open(log) as f:
        rows = list(csv.DictReader(f))
    rates = [float(r['tokens_per_s']) for r in rows[1:]]  # the first report holds the warm-up
    return statistics.median(rates)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--timelayers', default='build/tools/timelayers')
    p.add_argument('--reps', type=int, default=3)
    p.add_argument('--steps', type=int, default=30)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--vocab', type=int, default=59)
    p.add_argument('--qlen', type=int, default=29)
    p.add_argument('--alen', type=int, default=11)
    p.add_argument('--wordvec', type=int, default=16)
    p.add_argument('--hidden', type=int, default=256)
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        torch_worker(a)
        return
    tl, pt = [], []
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, 'pairs.txt')
        make_data(a, data)
        for rep in range(a.reps):
            out = subprocess.run([sys.executable, __file__, '--worker'] + sys.argv[1:], check=True,
                                 capture_output=True, text=True).stdout
            pt.append(float(out.strip().splitlines()[-1]))
            tl.append(timelayers_run(a, data, tmp))
            print('rep %d: PyTorch %.0f tokens/s, timelayers %.0f tokens/s' % (rep + 1, pt[-1], tl[-1]),
                  flush=True)
    mt, mp = statistics.median(tl), statistics.median(pt)
    print('median: PyTorch %.0f tokens/s, timelayers %.0f tokens/s, ratio %.2f' % (mp, mt, mt / mp))


if __name__ == '__main__':
    main()
