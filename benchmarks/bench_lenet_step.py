"""Where the time of a LeNet training step goes on this machine, and whether a 3x end-to-end speed-up is in reach.

`bench_mnist_lt.py` compares csa_nb with a per-sample DataLoader + PIL implementation end to end. Only the data
pipeline differs between the two; the LeNet's forward and backward passes are the same arithmetic on both sides.
This script measures, in one run and on the same threads, the pieces of one training step at the paper's batch of
128 (MNIST-LT training images, cross-entropy, plain SGD; real images, since the NCHW max-pool kernel branches
on the data and runs far slower on random values):

- `step (csa_nb)`: a whole step as `fit` runs it (channels-last convolution weights on the CPU);
- `step (baseline)`: the same step with the default NCHW layout, as the straightforward implementation runs it;
- `convolutions only`: forward and backward of the two convolutions alone, in either layout (the faster one is
  kept), with nothing else: no pooling, ReLU, linear layers, loss or optimiser;
- `linear layers only`: forward and backward of the four linear layers (400-120-84-2 and the 2-10 head).

It also runs `bench_mnist_lt.py`'s baseline end to end (CE+cRT and CB-RS, about a minute per repeat) and works out the most
a step may take for csa_nb to be 3x faster: baseline total / 3 / number of backbone training steps, a generous
bound that treats everything outside the steps (data, evaluation, cRT on cached features) as free.
The convolutions and linear layers are the step's matrix work, the same in any implementation of the protocol;
what is left of the budget after them is what pooling, ReLU, loss and optimiser would have to fit in.
Writes outputs/benchmarks/lenet_step.{json,md}.

    python benchmarks/bench_lenet_step.py [--steps 200] [--repeats 5] [--e2e-repeats 3] [--threads 1]
"""
import argparse, platform, sys, time
from pathlib import Path
import torch
import torch.nn.functional as F

from csa_nb.core import outputs_root, atomic_write_json, atomic_write_text, device_name, prefer_memory_format
from csa_nb.data import build_dataset
from csa_nb.models import build_model
sys.path.insert(0, str(Path(__file__).parent))
import bench_mnist_lt

BATCH, TRAIN_STEPS = 128, {'ce+crt': 116 * 8, 'cb-rs': 463 * 8}   # MNIST-LT: 14,809 and 59,230 samples per epoch, 8 epochs

def batches(n=4):
    d = build_dataset('mnist-lt'); g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(d.train_y), generator=g)[:n * BATCH]
    return d.train_x[idx].float().div_(255.0).view(n, BATCH, 1, 28, 28), d.train_y[idx].view(n, BATCH)

def ms_per_step(step, steps: int) -> float:
    "Milliseconds per call of `step`, after 20 warm-up calls."
    for i in range(20): step(i)
    t = time.perf_counter()
    for i in range(steps): step(i)
    return (time.perf_counter() - t) / steps * 1e3

def train_step(xs, ys, channels_last: bool):
    "One SGD step of the LeNet as `fit` runs it (channels-last weights) or as the baseline does (NCHW)."
    model = build_model('lenet2', 1, 10, seed=0)
    if channels_last: prefer_memory_format(model, torch.device('cpu'))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    def step(i):
        loss = F.cross_entropy(model(xs[i % len(xs)]), ys[i % len(ys)]); opt.zero_grad(); loss.backward(); opt.step()
    return step

def conv_step(xs, channels_last: bool):
    "Forward and backward of the two convolutions alone, on the same inputs."
    mf = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(0)
    x1 = xs[0]
    w1 = torch.randn(6, 1, 5, 5).contiguous(memory_format=mf).requires_grad_(); b1 = torch.randn(6, requires_grad=True)
    x2 = F.max_pool2d(F.relu(F.conv2d(x1, torch.randn(6, 1, 5, 5) * 0.4, padding=2)), 2).contiguous(memory_format=mf).requires_grad_()
    w2 = torch.randn(16, 6, 5, 5).contiguous(memory_format=mf).requires_grad_(); b2 = torch.randn(16, requires_grad=True)
    g1 = torch.randn(BATCH, 6, 28, 28).contiguous(memory_format=mf); g2 = torch.randn(BATCH, 16, 10, 10).contiguous(memory_format=mf)
    def step(i):
        torch.autograd.grad(F.conv2d(x1, w1, b1, padding=2), (w1, b1), g1)        # first layer: no input gradient
        torch.autograd.grad(F.conv2d(x2, w2, b2), (x2, w2, b2), g2)
    return step

def linear_step():
    "Forward and backward of the four linear layers alone (400-120-84-2 and the 2-10 head)."
    torch.manual_seed(0)
    ws = [torch.randn(o, i).mul_(i ** -0.5).requires_grad_() for i, o in ((400, 120), (120, 84), (84, 2), (2, 10))]
    bs = [torch.zeros(w.shape[0], requires_grad=True) for w in ws]
    x, g = torch.rand(BATCH, 400), torch.randn(BATCH, 10)
    def step(i):
        h = x
        for w, b in zip(ws, bs): h = F.linear(h, w, b)
        torch.autograd.grad(h, ws + bs, g)
    return step

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--steps', type=int, default=200); ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--threads', type=int, default=1, help='CPU threads (default 1, as csa_nb runs the MNIST-family replays)')
    ap.add_argument('--e2e-repeats', type=int, default=3, help="end-to-end runs of bench_mnist_lt.py's baseline (about a minute each; the median is used)")
    ap.add_argument('--out', default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    xs, ys = batches()
    steps = {'step (csa_nb)': lambda: train_step(xs, ys, True), 'step (baseline)': lambda: train_step(xs, ys, False),
             'convolutions only, channels-last': lambda: conv_step(xs, True), 'convolutions only, NCHW': lambda: conv_step(xs, False),
             'linear layers only (with the head)': linear_step}
    times = {k: [] for k in steps}
    base_s = []
    for r in range(a.repeats):          # alternate, so that a noisy moment hits every piece alike
        for k, make in steps.items(): times[k].append(ms_per_step(make(), a.steps))
        if r < a.e2e_repeats:
            t = time.perf_counter()
            for method in TRAIN_STEPS: bench_mnist_lt.baseline(method, 8, 4, torch.device('cpu'))
            base_s.append(time.perf_counter() - t); print(f'baseline end to end: {base_s[-1]:.1f} s', flush=True)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    conv = min(med['convolutions only, channels-last'], med['convolutions only, NCHW'])
    floor = conv + med['linear layers only (with the head)']     # the matrix work of a step, in its fastest layout
    out = Path(a.out) if a.out else outputs_root() / 'benchmarks'
    result = {'benchmark': 'LeNet (2-D feature) training step, batch 128, 1x28x28, SGD: where the time goes',
              'ms_per_step': {k: round(v, 3) for k, v in med.items()}, 'all_ms': {k: [round(x, 3) for x in v] for k, v in times.items()},
              'conv_share_of_step': round(conv / med['step (csa_nb)'], 3), 'floor_ms': round(floor, 3),
              'steps': a.steps, 'repeats': a.repeats, 'device': device_name(torch.device('cpu')), 'torch': torch.__version__,
              'python': platform.python_version(), 'date': time.strftime('%Y-%m-%d %H:%M:%S')}
    md = ['# Benchmark: where a LeNet training step goes', '',
          f"Batch 128, one 28x28 channel, cross-entropy, SGD; median of {a.repeats} alternating repeats of {a.steps} steps, "
          f"on {result['device']}, torch {result['torch']}, {result['date']}.", '',
          '| piece | ms per step | share of a csa_nb step |', '| --- | --- | --- |']
    for k, v in med.items(): md.append(f"| {k} | {v:.2f} | {v / med['step (csa_nb)']:.2f} |")
    n = sum(TRAIN_STEPS.values())
    base = sorted(base_s)[len(base_s) // 2]
    budget = base / 3 / n * 1e3                 # generous: as if data, evaluation and cRT cost csa_nb nothing at all
    rest = med['step (csa_nb)'] - med['convolutions only, channels-last'] - med['linear layers only (with the head)']
    result['three_x'] = {'baseline_end_to_end_s': round(base, 2), 'baseline_all_s': [round(b, 2) for b in base_s], 'backbone_steps': n,
                         'step_budget_ms': round(budget, 3), 'floor_ms': round(floor, 3), 'rest_of_step_now_ms': round(rest, 3),
                         'reachable': bool(floor < budget)}
    md += ['', f"In the same run, the baseline of `bench_mnist_lt.py` (per-sample DataLoader + PIL, CE+cRT and CB-RS, paper protocol) "
           f"took {base:.1f} s end to end (median of {len(base_s)}), for {n} backbone training steps. Even if data, evaluation and cRT "
           f"cost csa_nb nothing, 3x needs at most **{budget:.2f} ms per step**. The convolutions and linear layers alone, each in "
           f"its faster layout, take **{floor:.2f} ms** ({'within' if floor < budget else 'over'} that), leaving {budget - floor:.2f} ms "
           f"for pooling, ReLU, loss and the optimiser, which take {rest:.2f} ms in csa_nb's step now."]
    atomic_write_json(out / 'lenet_step.json', result)
    atomic_write_text(out / 'lenet_step.md', '\n'.join(md) + '\n')
    print('\n'.join(md))

if __name__ == '__main__':
    main()
