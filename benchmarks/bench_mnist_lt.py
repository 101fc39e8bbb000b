"""MNIST-LT end to end, csa_nb against a straightforward implementation of the same training, in one run.

Both train the paper's protocol (LeNet with a 2-D feature, SGD lr 0.1, batch 128, 8 epochs with the cosine
schedule, test evaluation after every epoch) for CE followed by cRT (4 epochs) and for CB-RS.

- csa_nb: the dataset held as uint8 tensors, batches gathered by tensor indexing, cRT on cached features.
- baseline: torchvision's MNIST dataset (a PIL image per sample) + `ToTensor`, a `Subset` with the same
  long-tail indices, a per-sample `DataLoader` (batch 128, num_workers 0) driven by the *same* index
  sequence as ours, test through a `DataLoader` (batch 100), and cRT pushing every re-sampled image
  through the frozen backbone, as the authors' notebooks do.

Same seeds, same batches, same mathematics: the accuracies must agree, and the ratio of wall times is the
speed-up. Writes outputs/benchmarks/mnist_lt.{json,md}.

    python benchmarks/bench_mnist_lt.py [--epochs 8] [--crt-epochs 4] [--repeats 1]
"""
import argparse, copy, json, platform, sys, time
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader, Subset, Sampler
from torchvision import transforms

from csa_nb.core import data_root, outputs_root, atomic_write_json, atomic_write_text, device_name, seed_everything
from csa_nb.data import build_dataset, long_tail_counts, long_tail_subset, stage_archives
from csa_nb.models import build_model
from csa_nb.sampling import make_sampler, ClassAwareSampler
from csa_nb.metrics import summarize, predict
from csa_nb.train import fit, retrain_classifier, cosine_lr, to_unit

SEED = 0

def ours(method: str, epochs: int, crt_epochs: int) -> dict:
    t0 = time.perf_counter()
    seed_everything(SEED)
    data = build_dataset('mnist-lt')
    model = build_model('lenet2', 1, 10, seed=SEED)
    ev = lambda m: summarize(predict(m, data.test_x, prepare=to_unit), data.test_y, data.counts, data.groups)
    sampler = make_sampler('uniform' if method == 'ce+crt' else 'class-aware', data.train_y, 10)
    h = fit(model, data.train_x, data.train_y, sampler, epochs=epochs, lr_fn=cosine_lr(0.1, epochs), seed=SEED, prepare=to_unit, evaluate=ev)
    acc = h[-1]['test']['all']
    if method == 'ce+crt':
        _, h2 = retrain_classifier(model, data, epochs=crt_epochs, lr_fn=cosine_lr(0.1, epochs), seed=SEED)
        acc = h2[-1]['test']['all']
    return {'seconds': time.perf_counter() - t0, 'all': acc}

class FixedOrder(Sampler):
    "Yields a precomputed index sequence for the current epoch (the same sequence our sampler draws)."
    def __init__(self, sampler, seed): self.sampler, self.seed, self.epoch = sampler, seed, 0
    def __iter__(self): return iter(self.sampler.epoch_indices(self.epoch, self.seed).tolist())
    def __len__(self): return len(self.sampler)

def baseline(method: str, epochs: int, crt_epochs: int) -> dict:
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
    model = build_model('lenet2', 1, 10, seed=SEED)

    def evaluate(forward):
        correct = n = 0
        with torch.no_grad():
            for xb, yb in test_loader:
                correct += (forward(xb).argmax(1) == yb).sum().item(); n += len(yb)
        return 100.0 * correct / n

    order = FixedOrder(make_sampler('uniform' if method == 'ce+crt' else 'class-aware', labels, 10), SEED)
    loader = DataLoader(sub, batch_size=128, sampler=order, num_workers=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1); lr = cosine_lr(0.1, epochs)
    for epoch in range(epochs):
        for g in opt.param_groups: g['lr'] = lr(epoch)
        order.epoch = epoch; model.train()
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb); opt.zero_grad(); loss.backward(); opt.step()
        model.eval(); acc = evaluate(model)
    if method == 'ce+crt':
        head = copy.deepcopy(model.head); opt = torch.optim.SGD(head.parameters(), lr=0.1)
        order = FixedOrder(ClassAwareSampler(labels, 10), SEED + 1_000_000)
        loader = DataLoader(sub, batch_size=128, sampler=order, num_workers=0)
        model.eval()
        for epoch in range(crt_epochs):
            for g in opt.param_groups: g['lr'] = lr(epoch)
            order.epoch = epoch
            for xb, yb in loader:
                with torch.no_grad(): f = model.backbone(xb)
                loss = F.cross_entropy(head(f), yb); opt.zero_grad(); loss.backward(); opt.step()
            acc = evaluate(lambda xb: head(model.backbone(xb)))
    return {'seconds': time.perf_counter() - t0, 'all': acc}

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--epochs', type=int, default=8); ap.add_argument('--crt-epochs', type=int, default=4)
    ap.add_argument('--repeats', type=int, default=1, help='alternate ours/baseline this many times; the median is kept')
    ap.add_argument('--out', default=None)
    a = ap.parse_args()
    build_dataset('mnist-lt')  # stage and unpack the archives once, outside the timings
    rows = {}
    for method in ('ce+crt', 'cb-rs'):
        runs = {'ours': [], 'baseline': []}
        for r in range(a.repeats):
            for impl, fn in (('ours', ours), ('baseline', baseline)):
                res = fn(method, a.epochs, a.crt_epochs); runs[impl].append(res)
                print(f'{method:7s} {impl:8s} repeat {r + 1}: {res["seconds"]:7.1f} s  All {res["all"]:.2f}', flush=True)
        med = {k: sorted(v, key=lambda d: d['seconds'])[len(v) // 2] for k, v in runs.items()}
        rows[method] = {'ours_s': round(med['ours']['seconds'], 2), 'baseline_s': round(med['baseline']['seconds'], 2),
                        'speedup': round(med['baseline']['seconds'] / med['ours']['seconds'], 2),
                        'ours_all': med['ours']['all'], 'baseline_all': round(med['baseline']['all'], 2),
                        'all_seconds': {k: [round(d['seconds'], 2) for d in v] for k, v in runs.items()}}
    tot_o = sum(r['ours_s'] for r in rows.values()); tot_b = sum(r['baseline_s'] for r in rows.values())
    result = {'benchmark': 'MNIST-LT, paper protocol, CE+cRT and CB-RS, end to end (data build, training, per-epoch test)',
              'epochs': a.epochs, 'crt_epochs': a.crt_epochs, 'repeats': a.repeats, 'rows': rows,
              'total': {'ours_s': round(tot_o, 2), 'baseline_s': round(tot_b, 2), 'speedup': round(tot_b / tot_o, 2)},
              'device': device_name(torch.device('cpu')), 'torch': torch.__version__, 'python': platform.python_version(),
              'date': time.strftime('%Y-%m-%d %H:%M:%S')}
    out = Path(a.out) if a.out else outputs_root() / 'benchmarks'
    atomic_write_json(out / 'mnist_lt.json', result)
    md = ['# Benchmark: MNIST-LT end to end', '', result['benchmark'] + f"; {a.epochs} epochs (+{a.crt_epochs} cRT), "
          f"median of {a.repeats} alternating repeat(s), on {result['device']}, torch {result['torch']}, {result['date']}.", '',
          '| method | csa_nb (s) | per-sample DataLoader + PIL (s) | speed-up | All csa_nb | All baseline |', '| --- | --- | --- | --- | --- | --- |']
    for m, r in rows.items():
        md.append(f"| {m} | {r['ours_s']:.1f} | {r['baseline_s']:.1f} | {r['speedup']:.2f}x | {r['ours_all']:.2f} | {r['baseline_all']:.2f} |")
    md.append(f"| **total** | {tot_o:.1f} | {tot_b:.1f} | **{tot_b / tot_o:.2f}x** | | |")
    atomic_write_text(out / 'mnist_lt.md', '\n'.join(md) + '\n')
    print('\n'.join(md))

if __name__ == '__main__':
    main()
