#!/usr/bin/python3
"""timelayers against PyTorch on the reference configurations (see timelayers-bench --help).

The PyTorch side is the same model and loop: nn.Embedding -> nn.LSTM (1 layer, batch_first,
state carried across steps as in truncated BPTT; nn.RNN with tanh for A-RNN and B-RNN, nn.GRU
for A-GRU, B-GRU and C-GRU) -> nn.Linear, cross-entropy (mean), zero_grad,
backward, clip_grad_norm_(0.25), SGD step; generation at batch 1 feeds one token at a time and
draws the next with torch.multinomial(softmax(logits)).

Each measurement runs in a fresh process, PyTorch and timelayers-bench ALTERNATELY, --reps times
per configuration; the medians and the ratio timelayers / PyTorch (tokens/s, so > 1 means
timelayers is faster) are printed at the end. Needs Debian's python3-torch (/usr/bin/python3).

Usage: tools/bench/compare_pytorch.py [--bench build/tools/timelayers-bench] [--configs A,B,C]
           (also A-RNN, B-RNN, A-GRU, B-GRU, C-GRU)
           [--reps 3] [--steps 10] [--warmup 2] [--gen-tokens 1000] [--threads 2]
           [--torch-threads 1] [--gen-bf16] [--avx2-only] [--json]

--gen-bf16 also times timelayers' generation with bf16 weights (timelayers-bench --gen-bf16,
its runs alternated with the float ones in the same process) and prints a second table: the
bf16 rate against PyTorch's (float) and against timelayers' float rate. bf16 weights change
the numbers generated slightly (docs/semantics.md, "Generation").

--avx2-only stands in for an AVX2-only CPU on an AVX-512 one: timelayers runs its kernels at the
AVX2 level (timelayers-bench --simd avx2, its own GEMM included), both sides get OpenBLAS's
AVX2 (Haswell) kernels where they call it, and PyTorch's own kernels are held to AVX2
(ATEN_CPU_CAPABILITY=avx2; ONEDNN_MAX_CPU_ISA=AVX2 for oneDNN). The clock, caches and memory
stay those of the machine, so it is an approximation of a real AVX2 CPU, not a measurement of one.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

CONFIGS = {  # V, D, H, N, T
    'A': (10000, 100, 100, 20, 35),
    'B': (65, 64, 512, 32, 64),
    'C': (10000, 650, 650, 20, 35),
    'A-RNN': (10000, 100, 100, 20, 35),
    'B-RNN': (65, 64, 512, 32, 64),
    'A-GRU': (10000, 100, 100, 20, 35),
    'B-GRU': (65, 64, 512, 32, 64),
    'C-GRU': (10000, 650, 650, 20, 35),
}


def flop_per_token(V, D, H):
    return 2.0 * 4 * H * (D + H) + 2.0 * H * V


def torch_worker(args):
    """Measure one configuration in PyTorch; print one JSON line."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(args.torch_threads)
    torch.manual_seed(1234)
    V, D, H, N, T = CONFIGS[args.worker]
    rnn = args.worker.endswith('-RNN')
    gru = args.worker.endswith('-GRU')

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(V, D)
            self.lstm = (nn.RNN(D, H, batch_first=True, nonlinearity='tanh') if rnn
                         else nn.GRU(D, H, batch_first=True) if gru
                         else nn.LSTM(D, H, batch_first=True))
            self.affine = nn.Linear(H, V)

        def forward(self, x, state):
            y, state = self.lstm(self.embed(x), state)
            return self.affine(y), state

    model = LM()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    out = {'config': args.worker, 'torch_threads': torch.get_num_threads(),
           'torch_version': torch.__version__}
    state = None
    if args.steps:
        times = []
        for s in range(args.warmup + args.steps):
            x = torch.randint(V, (N, T))
            t = torch.randint(V, (N, T))
            t0 = time.perf_counter()
            if state is not None:
                state = state.detach() if rnn or gru else tuple(h.detach() for h in state)
            opt.zero_grad()
            logits, state = model(x, state)
            loss = F.cross_entropy(logits.reshape(-1, V), t.reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            opt.step()
            if s >= args.warmup:
                times.append(time.perf_counter() - t0)
        step = statistics.median(times)
        out['step_ms'] = step * 1e3
        out['train_tok_s'] = N * T / step
        out['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.gen_tokens:
        rates = []
        with torch.no_grad():
            for _ in range(args.gen_repeat):
                t0 = time.perf_counter()
                x = torch.zeros((1, 1), dtype=torch.long)
                state = None
                for _ in range(args.gen_tokens):
                    logits, state = model(x, state)
                    p = torch.softmax(logits[0, -1], dim=0)
                    x = torch.multinomial(p, 1).view(1, 1)
                rates.append(args.gen_tokens / (time.perf_counter() - t0))
        out['gen_tok_s'] = statistics.median(rates)
    print(json.dumps(out), flush=True)


def run_json(cmd, env):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"compare_pytorch: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    lines = [line for line in r.stdout.splitlines() if line.startswith('{')]
    if not lines:
        sys.exit(f"compare_pytorch: no JSON from {' '.join(cmd)}:\n{r.stdout}{r.stderr}")
    return json.loads(lines[-1])


def fmt(v, spec='.0f'):
    return '-' if v is None else format(v, spec)


def openblas_core_for_both(env):
    """The OpenBLAS kernels both sides get: the timelayers programs replace OpenBLAS's Prescott
    fallback on AVX-512/AVX2 CPUs it does not recognise (tools/cli/blas_core.h); PyTorch uses the
    same OpenBLAS and gets the same kernels, so that the comparison stays fair."""
    if 'OPENBLAS_CORETYPE' in env or 'TL_KEEP_OPENBLAS_CORE' in env:
        return
    import ctypes
    try:
        lib = ctypes.CDLL('libopenblas.so.0')
        lib.openblas_get_corename.restype = ctypes.c_char_p
        core = lib.openblas_get_corename().decode()
        with open('/proc/cpuinfo') as f:
            flags = next((l.split(':', 1)[1].split() for l in f if l.startswith('flags')), [])
    except (OSError, AttributeError):
        return
    if core != 'Prescott':
        return
    if all(f in flags for f in ('avx512f', 'avx512vl', 'avx512bw', 'avx512dq', 'avx512cd')):
        env['OPENBLAS_CORETYPE'] = 'SkylakeX'
    elif 'avx2' in flags and 'fma' in flags:
        env['OPENBLAS_CORETYPE'] = 'Haswell'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    here = os.path.dirname(os.path.abspath(__file__))
    default_bench = os.path.join(here, '..', '..', 'build', 'tools', 'timelayers-bench')
    ap.add_argument('--bench', default=os.path.normpath(default_bench),
                    help='path of timelayers-bench (default: build/tools/timelayers-bench)')
    ap.add_argument('--configs', default='A,B,C,A-RNN,B-RNN')
    ap.add_argument('--reps', type=int, default=3, help='alternating repetitions (default 3)')
    ap.add_argument('--steps', type=int, default=10, help='timed training steps per run (0: none)')
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--gen-tokens', type=int, default=1000, help='0: no generation')
    ap.add_argument('--gen-repeat', type=int, default=1, help='generation runs per process')
    ap.add_argument('--threads', type=int, default=os.cpu_count(),
                    help='timelayers (OpenBLAS) threads (default: all cores)')
    ap.add_argument('--torch-threads', type=int, default=1,
                    help='torch.set_num_threads (default 1: the fastest PyTorch setting here)')
    ap.add_argument('--gen-bf16', action='store_true',
                    help='also time timelayers generation with bf16 weights (a second table)')
    ap.add_argument('--avx2-only', action='store_true',
                    help='both sides held to AVX2 kernels: a stand-in for an AVX2-only CPU')
    ap.add_argument('--json', action='store_true', help='also print the medians as JSON')
    ap.add_argument('--worker', help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        torch_worker(args)
        return
    configs = [c.strip().upper() for c in args.configs.split(',') if c.strip()]
    for c in configs:
        if c not in CONFIGS:
            ap.error(f"unknown configuration '{c}' (expected {', '.join(CONFIGS)})")
    if not os.access(args.bench, os.X_OK):
        sys.exit(f"compare_pytorch: {args.bench} is not an executable; build it first "
                 "(ninja -C build) or pass --bench")
    env = dict(os.environ)
    if args.avx2_only:
        env.update(OPENBLAS_CORETYPE='Haswell', ATEN_CPU_CAPABILITY='avx2',
                   ONEDNN_MAX_CPU_ISA='AVX2', DNNL_MAX_CPU_ISA='AVX2')
    openblas_core_for_both(env)
    # The timelayers programs make OpenBLAS's idle threads sleep at once (tools/cli/blas_core.h);
    # PyTorch runs on the same OpenBLAS and gets the same setting.
    env.setdefault('OPENBLAS_THREAD_TIMEOUT', '4')
    print(f"OpenBLAS kernels (both sides): OPENBLAS_CORETYPE="
          f"{env.get('OPENBLAS_CORETYPE', '(unset: OpenBLAS chooses)')}")
    print(f"PyTorch: torch.set_num_threads({args.torch_threads}), "
          f"OMP_WAIT_POLICY={env.get('OMP_WAIT_POLICY', '(unset)')}, "
          f"OMP_NUM_THREADS={env.get('OMP_NUM_THREADS', '(unset)')}, "
          f"OPENBLAS_NUM_THREADS={env.get('OPENBLAS_NUM_THREADS', '(unset)')}, "
          f"OPENBLAS_THREAD_TIMEOUT={env['OPENBLAS_THREAD_TIMEOUT']}")
    simd = ['--simd', 'avx2'] if args.avx2_only else []
    print(f"timelayers: {args.bench} --threads {args.threads} {' '.join(simd)}".rstrip())
    if args.avx2_only:
        print("AVX2-only stand-in: ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2 (PyTorch), "
              "timelayers-bench --simd avx2")
    print(f"{args.reps} alternating repetitions; {args.steps} timed training steps after "
          f"{args.warmup} warm-up; generation {args.gen_tokens} tokens at batch 1", flush=True)

    me = os.path.abspath(__file__)
    results = {c: {'torch': [], 'tl': []} for c in configs}
    for rep in range(args.reps):
        for c in configs:
            common = ['--steps', str(max(args.steps, 1)), '--warmup', str(args.warmup)]
            tcmd = [sys.executable, me, '--worker', c, '--torch-threads', str(args.torch_threads),
                    '--gen-tokens', str(args.gen_tokens), '--gen-repeat', str(args.gen_repeat),
                    '--steps', str(args.steps), '--warmup', str(args.warmup)]
            bcmd = [args.bench, '--config', c, '--json', '--threads', str(args.threads),
                    '--repeat', str(args.gen_repeat)] + common + simd
            if args.steps == 0:
                bcmd.append('--no-train')
            if args.gen_tokens:
                bcmd += ['--gen-tokens', str(args.gen_tokens)]
                if args.gen_bf16:
                    bcmd.append('--gen-bf16')
            else:
                bcmd.append('--no-gen')
            # Alternate which side goes first so that neither always gets the warmer machine.
            order = [('torch', tcmd), ('tl', bcmd)]
            if rep % 2:
                order.reverse()
            for side, cmd in order:
                r = run_json(cmd, env)
                results[c][side].append(r)
                print(f"  rep {rep + 1} {c} {side:5s} " +
                      ' '.join(f"{k}={fmt(r.get(k), '.1f')}" for k in
                               ('step_ms', 'train_tok_s', 'gen_tok_s', 'peak_rss_mb') +
                               (('gen_bf16_tok_s',) if 'gen_bf16_tok_s' in r else ())),
                      flush=True)

    def med(rs, key):
        vals = [r[key] for r in rs if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    def ratio(a, b):
        return a / b if a and b else None

    print()
    print(f"{'config':6s} {'PyTorch tok/s':>14s} {'timelayers tok/s':>17s} {'ratio':>6s} "
          f"{'paired':>6s}   {'gen PyTorch':>11s} {'gen timelayers':>14s} {'ratio':>6s} "
          f"{'paired':>6s}   "
          f"{'RSS MB PyTorch':>14s} {'timelayers':>10s} {'baseline':>8s}")
    summary = {}
    for c in configs:
        t, b = results[c]['torch'], results[c]['tl']
        s = {'torch_train_tok_s': med(t, 'train_tok_s'), 'tl_train_tok_s': med(b, 'train_tok_s'),
             'torch_gen_tok_s': med(t, 'gen_tok_s'), 'tl_gen_tok_s': med(b, 'gen_tok_s'),
             'torch_rss_mb': med(t, 'peak_rss_mb'), 'tl_rss_mb': med(b, 'peak_rss_mb'),
             'tl_baseline_mb': med(b, 'baseline_mb'), 'tl_threads': med(b, 'threads'),
             'torch_threads': med(t, 'torch_threads')}
        s['train_ratio'] = ratio(s['tl_train_tok_s'], s['torch_train_tok_s'])
        s['gen_ratio'] = ratio(s['tl_gen_tok_s'], s['torch_gen_tok_s'])
        # Each repetition's pair ran back to back: the median of the pairs' ratios
        # is less exposed to a load that drifts over the whole run.
        for key, name in (('train_tok_s', 'train_ratio_paired'), ('gen_tok_s', 'gen_ratio_paired')):
            pairs = [ratio(y.get(key), x.get(key)) for x, y in zip(t, b)]
            pairs = [p for p in pairs if p is not None]
            s[name] = statistics.median(pairs) if pairs else None
        summary[c] = s
        print(f"{c:6s} {fmt(s['torch_train_tok_s']):>14s} {fmt(s['tl_train_tok_s']):>17s} "
              f"{fmt(s['train_ratio'], '.2f'):>6s} {fmt(s['train_ratio_paired'], '.2f'):>6s}   "
              f"{fmt(s['torch_gen_tok_s']):>11s} {fmt(s['tl_gen_tok_s']):>14s} "
              f"{fmt(s['gen_ratio'], '.2f'):>6s} {fmt(s['gen_ratio_paired'], '.2f'):>6s}   "
              f"{fmt(s['torch_rss_mb']):>14s} {fmt(s['tl_rss_mb']):>10s} "
              f"{fmt(s['tl_baseline_mb']):>8s}")
    print("ratio = timelayers / PyTorch tokens/s (of the medians); paired = median over the "
          "repetitions of each back-to-back pair's ratio; PyTorch's RSS includes the torch import "
          "itself.")
    if args.gen_bf16 and args.gen_tokens:
        print()
        print(f"{'config':6s} {'gen PyTorch':>11s} {'timelayers float':>16s} "
              f"{'timelayers bf16':>15s} {'bf16/PyTorch':>12s} {'paired':>6s} "
              f"{'bf16/float':>10s}")
        for c in configs:
            t, b, s = results[c]['torch'], results[c]['tl'], summary[c]
            s['tl_gen_bf16_tok_s'] = med(b, 'gen_bf16_tok_s')
            s['gen_bf16_ratio'] = ratio(s['tl_gen_bf16_tok_s'], s['torch_gen_tok_s'])
            pairs = [ratio(y.get('gen_bf16_tok_s'), x.get('gen_tok_s')) for x, y in zip(t, b)]
            pairs = [p for p in pairs if p is not None]
            s['gen_bf16_ratio_paired'] = statistics.median(pairs) if pairs else None
            s['bf16_over_float'] = med(b, 'gen_bf16_ratio')
            print(f"{c:6s} {fmt(s['torch_gen_tok_s']):>11s} {fmt(s['tl_gen_tok_s']):>16s} "
                  f"{fmt(s['tl_gen_bf16_tok_s']):>15s} {fmt(s['gen_bf16_ratio'], '.2f'):>12s} "
                  f"{fmt(s['gen_bf16_ratio_paired'], '.2f'):>6s} "
                  f"{fmt(s['bf16_over_float'], '.2f'):>10s}")
        print("bf16/float = timelayers' bf16 rate over its float rate (median over the "
              "repetitions of the in-process paired ratio).")
    if args.json:
        print(json.dumps(summary))


if __name__ == '__main__':
    main()
