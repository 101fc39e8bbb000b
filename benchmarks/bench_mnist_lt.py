"""MNIST-LT end to end, csa_nb against a straightforward implementation of the same training, in one run.

Both train the paper's protocol (LeNet with a 2-D feature, SGD lr 0.1, batch 128, 8 epochs with the cosine
schedule, test evaluation after every epoch) for CE followed by cRT (4 epochs) and for CB-RS, from seed 0 with
the authors' notebooks' random streams, so both should land on the authors' printed numbers (CE + cRT 82.55,
CB-RS 90.83 All).

- csa_nb: `run_experiment` on a fresh result store (data build, training, per-epoch test, result files):
  the dataset held as uint8 tensors, batches gathered by tensor indexing, `NotebookSampler` replaying the
  DataLoader's random stream, cRT on cached features, channels-last convolution weights on the CPU.
- baseline: what the authors' notebooks do: torchvision's MNIST dataset (a PIL image per sample) +
  `ToTensor`, a `Subset` with the same long-tail indices, a per-sample `DataLoader` (batch 128, `shuffle=True`
  for CE; the class-aware order for CB-RS and cRT), test through a `DataLoader` (batch 100) after every epoch,
  and cRT pushing every re-sampled image through the frozen backbone.

Same seeds, same batches, same mathematics up to float rounding: the accuracies must agree, and the ratio of
wall times is the speed-up. Both run on the same number of CPU threads (`--threads`, default 1: csa_nb runs the
MNIST-family replays single-threaded so that their rounding does not depend on the core count). Writes outputs/benchmarks/mnist_lt.{json,md}.

    python benchmarks/bench_mnist_lt.py [--epochs 8] [--crt-epochs 4] [--repeats 1] [--threads 1] [--device cpu]
"""
import argparse, copy, json, platform, random, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader, Subset, Sampler
from torchvision import transforms

from csa_nb.core import data_root, outputs_root, atomic_write_json, atomic_write_text, device_name, seed_everything, pick_device
from csa_nb.data import build_dataset, long_tail_counts, long_tail_subset
from csa_nb.experiments import RunSpec, ResultStore, run_experiment
from csa_nb.models import build_model
from csa_nb.replay import NotebookSampler
from csa_nb.train import cosine_lr

SEED = 0

def ours(method: str, epochs: int, crt_epochs: int, dev: torch.device) -> dict:
    t0 = time.perf_counter()
    spec = RunSpec.for_profile('mnist-lt', 'crt' if method == 'ce+crt' else 'cb-rs', 'cpu', epochs=epochs, crt_epochs=crt_epochs)
    with tempfile.TemporaryDirectory() as tmp:
        r = run_experiment(spec, ResultStore(tmp), device=dev)
    return {'seconds': time.perf_counter() - t0, 'all': r['metrics']['all']}

class FixedOrder(Sampler):
    "The class-aware order of the authors' sampler (Python `random`, cyclic iterators kept across epochs), epoch by epoch."
    def __init__(self, sampler): self.sampler, self.epoch = sampler, 0
    def __iter__(self):
        idx = self.sampler.epoch_indices(self.epoch).tolist(); self.epoch += 1
        return iter(idx)
    def __len__(self): return len(self.sampler)

def baseline(method: str, epochs: int, crt_epochs: int, dev: torch.device) -> dict:
    t0 = time.perf_counter()
    seed_everything(SEED)
    tf = transforms.ToTensor()
    train = torchvision.datasets.MNIST(str(data_root()), train=True, transform=tf, download=False)
    test = torchvision.datasets.MNIST(str(data_root()), train=False, transform=tf, download=False)
    y = train.targets.numpy()
    keep = long_tail_subset(y, long_tail_counts(6000, 10, 0.01, available=np.bincount(y)), np.random.RandomState(0))
    sub = Subset(train, keep.tolist())
    labels = torch.from_numpy(y[keep]).long()
    test_loader = DataLoader(test, batch_size=100, shuffle=False)
    model = build_model('lenet2', 1, 10, seed=SEED, notebook_init=True).to(dev)

    def evaluate(forward):
        correct = n = 0
        with torch.no_grad():
            for xb, yb in test_loader:
                correct += (forward(xb.to(dev)).argmax(1).cpu() == yb).sum().item(); n += len(yb)
        return 100.0 * correct / n

    if method == 'ce+crt': loader = DataLoader(sub, batch_size=128, shuffle=True, num_workers=0)
    else: loader = DataLoader(sub, batch_size=128, sampler=FixedOrder(NotebookSampler(labels, 10, 'class-aware', seed=SEED)), num_workers=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1); lr = cosine_lr(0.1, epochs)
    for epoch in range(epochs):
        for g in opt.param_groups: g['lr'] = lr(epoch)
        model.train()
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb.to(dev)), yb.to(dev)); opt.zero_grad(); loss.backward(); opt.step()
        model.eval(); acc = evaluate(model)
    if method == 'ce+crt':
        head = copy.deepcopy(model.head); opt = torch.optim.SGD(head.parameters(), lr=0.1)
        loader = DataLoader(sub, batch_size=128, sampler=FixedOrder(NotebookSampler(labels, 10, 'class-aware', seed=SEED)), num_workers=0)
        model.eval()
        for epoch in range(crt_epochs):
            for g in opt.param_groups: g['lr'] = lr(epoch)
            for xb, yb in loader:
                with torch.no_grad(): f = model.backbone(xb.to(dev))
                loss = F.cross_entropy(head(f), yb.to(dev)); opt.zero_grad(); loss.backward(); opt.step()
            acc = evaluate(lambda xb: head(model.backbone(xb)))
    return {'seconds': time.perf_counter() - t0, 'all': acc}

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--epochs', type=int, default=8); ap.add_argument('--crt-epochs', type=int, default=4)
    ap.add_argument('--repeats', type=int, default=1, help='alternate ours/baseline this many times; the median is kept')
    ap.add_argument('--out', default=None); ap.add_argument('--device', default=None, help='cpu, cuda (default: the GPU when there is one)')
    ap.add_argument('--threads', type=int, default=1, help='CPU threads for both implementations (default 1, as csa_nb runs the replay)')
    a = ap.parse_args()
    dev = pick_device(a.device)
    torch.set_num_threads(a.threads)   # both sides alike; csa_nb's notebook-replay runs use one CPU thread anyway
    build_dataset('mnist-lt')  # stage and unpack the archives once, outside the timings
    rows = {}
    for method in ('ce+crt', 'cb-rs'):
        runs = {'ours': [], 'baseline': []}
        for r in range(a.repeats):
            for impl, fn in (('ours', ours), ('baseline', baseline)):
                res = fn(method, a.epochs, a.crt_epochs, dev); runs[impl].append(res)
                print(f'{method:7s} {impl:8s} repeat {r + 1}: {res["seconds"]:7.1f} s  All {res["all"]:.2f}', flush=True)
        med = {k: sorted(v, key=lambda d: d['seconds'])[len(v) // 2] for k, v in runs.items()}
        rows[method] = {'ours_s': round(med['ours']['seconds'], 2), 'baseline_s': round(med['baseline']['seconds'], 2),
                        'speedup': round(med['baseline']['seconds'] / med['ours']['seconds'], 2),
                        'ours_all': med['ours']['all'], 'baseline_all': round(med['baseline']['all'], 2),
                        'all_seconds': {k: [round(d['seconds'], 2) for d in v] for k, v in runs.items()}}
    tot_o = sum(r['ours_s'] for r in rows.values()); tot_b = sum(r['baseline_s'] for r in rows.values())
    result = {'benchmark': 'MNIST-LT, paper protocol, CE+cRT and CB-RS, end to end (data build, training, per-epoch test), '
                           "seed 0 with the authors' notebook random streams",
              'epochs': a.epochs, 'crt_epochs': a.crt_epochs, 'repeats': a.repeats, 'rows': rows,
              'total': {'ours_s': round(tot_o, 2), 'baseline_s': round(tot_b, 2), 'speedup': round(tot_b / tot_o, 2)},
              'device': device_name(dev), 'torch': torch.__version__, 'python': platform.python_version(),
              'date': time.strftime('%Y-%m-%d %H:%M:%S')}
    out = Path(a.out) if a.out else outputs_root() / 'benchmarks'
    atomic_write_json(out / 'mnist_lt.json', result)
    md = ['# Benchmark: MNIST-LT end to end', '', result['benchmark'] + f"; {a.epochs} epochs (+{a.crt_epochs} cRT), "
          f"median of {a.repeats} alternating repeat(s), on {result['device']}, torch {result['torch']}, {result['date']}. "
          "The authors' notebooks printed 82.55 (CE + cRT) and 90.83 (CB-RS) for the full protocol.", '',
          '| method | csa_nb (s) | per-sample DataLoader + PIL (s) | speed-up | All csa_nb | All baseline |', '| --- | --- | --- | --- | --- | --- |']
    for m, r in rows.items():
        md.append(f"| {m} | {r['ours_s']:.1f} | {r['baseline_s']:.1f} | {r['speedup']:.2f}x | {r['ours_all']:.2f} | {r['baseline_all']:.2f} |")
    md.append(f"| **total** | {tot_o:.1f} | {tot_b:.1f} | **{tot_b / tot_o:.2f}x** | | |")
    atomic_write_text(out / 'mnist_lt.md', '\n'.join(md) + '\n')
    print('\n'.join(md))

if __name__ == '__main__':
    main()
