#!/usr/bin/env python3
"""Matrix-product throughput of PyTorch on the CPU, for bench:train's GFLOP/s comparison.

Same environment rules as ../shared/bench/torch_reference.py: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
are dropped for this process (a forced old kernel makes products ~10x slower), and torch and OpenBLAS
run one thread unless --threads says otherwise.

Usage: python3 torch_matmul.py --shapes 128x784x256,512x512x512 [--threads N] [--seconds S]
Prints one JSON object: {"engine": "torch", "threads", "blas", "gflops": {"MxKxN": value}}.
"""
import json, os, sys, time

threads = next((sys.argv[i + 1] for i, x in enumerate(sys.argv[:-1]) if x == '--threads'), '1')
if ('OPENBLAS_CORETYPE' in os.environ or 'OPENBLAS_L2_SIZE' in os.environ
        or os.environ.get('OPENBLAS_NUM_THREADS') != threads):
    env = {k: v for k, v in os.environ.items() if k not in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE')}
    env['OPENBLAS_NUM_THREADS'] = threads
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import argparse
import torch

p = argparse.ArgumentParser()
p.add_argument('--shapes', default='128x784x256')
p.add_argument('--threads', type=int, default=1)
p.add_argument('--seconds', type=float, default=1.0)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)


def gflops(m, k, n):
    x, w = torch.randn(m, k), torch.randn(k, n)
    for _ in range(3):
        torch.mm(x, w)  # warm-up
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < a.seconds:
        torch.mm(x, w)
        reps += 1
    return 2.0 * m * k * n * reps / (time.perf_counter() - start) / 1e9


def blas():
    try:
        import threadpoolctl
        info = [i for i in threadpoolctl.threadpool_info() if i.get('user_api') == 'blas']
        return {k: info[0].get(k) for k in ('internal_api', 'architecture', 'num_threads')} if info else None
    except ImportError:
        return None


shapes = [tuple(int(d) for d in s.split('x')) for s in a.shapes.split(',') if s]
print(json.dumps({'engine': 'torch', 'version': torch.__version__, 'threads': torch.get_num_threads(), 'blas': blas(),
                  'gflops': {'x'.join(map(str, s)): round(gflops(*s), 2) for s in shapes}}))
