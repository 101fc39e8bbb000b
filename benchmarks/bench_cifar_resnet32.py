"""ResNet-32 on CIFAR-10-LT: images per second of a CE step and a CSA step, csa_nb against a per-sample
DataLoader + PIL + torchvision-transforms implementation of the same step, in one run, on whatever device runs it.

- csa_nb: uint8 tensors on the device, batched crop/flip/normalise on the device (`random_crop_flip`, `normalize`).
- baseline: each image turned into a PIL image (as torchvision's CIFAR10 dataset does) and transformed by
  RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize, batched by a DataLoader (num_workers 0);
  CSA draws its uniform and class-balanced batches from two such loaders, as the authors' trainer does.
Both run the same model step (`csa_step` for CSA, with the bank pre-filled so both branches run every step).
Writes outputs/benchmarks/cifar_resnet32.{json,md}.

    python benchmarks/bench_cifar_resnet32.py [--images PATH] [--batches 30] [--repeats 3]
"""
import argparse, platform, time
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from csa_nb.core import outputs_root, atomic_write_json, atomic_write_text, device_name, pick_device, epoch_generator, prefer_memory_format
from csa_nb.data import build_dataset
from csa_nb.models import ResNet32
from csa_nb.sampling import ClassAwareSampler
from csa_nb.augment import random_crop_flip, normalize
from csa_nb.csa import CSANet, ContextBank, csa_step

class PILSet(Dataset):
    def __init__(self, x, y, tf): self.x, self.y, self.tf = x.permute(0, 2, 3, 1).cpu().numpy(), y.cpu().tolist(), tf
    def __len__(self): return len(self.y)
    def __getitem__(self, i): return self.tf(Image.fromarray(self.x[i])), self.y[i]

class Indices(torch.utils.data.Sampler):
    def __init__(self, idx): self.idx = idx.tolist()
    def __iter__(self): return iter(self.idx)
    def __len__(self): return len(self.idx)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--images', default=None, help='image-folder copy of CIFAR-10 (default: torchvision archive)')
    ap.add_argument('--batches', type=int, default=30); ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--device', default=None); ap.add_argument('--out', default=None)
    a = ap.parse_args()
    dev = pick_device(a.device)
    data = build_dataset('cifar10-lt', 0.01, dev, **({'images': a.images} if a.images else {}))
    mean, std, B, nb = data.info['mean'], data.info['std'], 128, a.batches
    n = B * nb
    uni = torch.randperm(len(data.train_y), generator=epoch_generator(0, 0))[:n]
    bal = ClassAwareSampler(data.train_y, 10, length=len(data.train_y)).epoch_indices(0, 0)[:n]
    tf = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor(), transforms.Normalize(mean, std)])
    pil = PILSet(data.train_x, data.train_y, tf)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == 'cuda' else (lambda: None)

    def fresh(ours: bool):
        "The same initial network; ours with the memory layout `fit` and `fit_csa` give it (channels-last on the CPU)."
        torch.manual_seed(0); net = CSANet(ResNet32(3), 10).to(dev)
        if ours: prefer_memory_format(net, dev)
        return net, torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=2e-4)

    def ce_ours():
        net, opt = fresh(True); g = torch.Generator().manual_seed(0); sync(); t = time.perf_counter()
        for b in range(nb):
            i = uni[b * B:(b + 1) * B].to(dev)
            x = normalize(random_crop_flip(data.train_x[i], g), mean, std)
            loss = F.cross_entropy(net(x), data.train_y[i]); opt.zero_grad(); loss.backward(); opt.step()
        sync(); return n / (time.perf_counter() - t)

    def ce_base():
        net, opt = fresh(False); sync(); t = time.perf_counter()
        for x, y in DataLoader(pil, batch_size=B, sampler=Indices(uni)):
            x, y = x.to(dev), y.to(dev)
            loss = F.cross_entropy(net(x), y); opt.zero_grad(); loss.backward(); opt.step()
        sync(); return n / (time.perf_counter() - t)

    def full_bank(net, x, y):
        bank = ContextBank(128, 0.0)
        while len(bank) < B: bank.add(x, torch.ones(len(x), 1, 32, 32, device=dev), torch.ones(len(x), device=dev))
        return bank

    def csa_ours():
        net, opt = fresh(True); g = torch.Generator().manual_seed(0)
        bank = full_bank(net, normalize(data.train_x[uni[:B].to(dev)], mean, std), None); sync(); t = time.perf_counter()
        for b in range(nb):
            iu, ib = uni[b * B:(b + 1) * B].to(dev), bal[b * B:(b + 1) * B].to(dev)
            xu = normalize(random_crop_flip(data.train_x[iu], g), mean, std); xb = normalize(random_crop_flip(data.train_x[ib], g), mean, std)
            csa_step(net, opt, xu, data.train_y[iu], xb, data.train_y[ib], bank, epoch=1, start_epoch=0, generator=g)
        sync(); return n / (time.perf_counter() - t)

    def csa_base():
        net, opt = fresh(False); g = torch.Generator().manual_seed(0)
        bank = full_bank(net, normalize(data.train_x[uni[:B].to(dev)], mean, std), None); sync(); t = time.perf_counter()
        for (xu, yu), (xb, yb) in zip(DataLoader(pil, batch_size=B, sampler=Indices(uni)), DataLoader(pil, batch_size=B, sampler=Indices(bal))):
            csa_step(net, opt, xu.to(dev), yu.to(dev), xb.to(dev), yb.to(dev), bank, epoch=1, start_epoch=0, generator=g)
        sync(); return n / (time.perf_counter() - t)

    ce_ours(); ce_base()   # warm-up (kernels, caches)
    res = {k: [] for k in ('ce_ours', 'ce_base', 'csa_ours', 'csa_base')}
    for r in range(a.repeats):
        for k, f in (('ce_ours', ce_ours), ('ce_base', ce_base), ('csa_ours', csa_ours), ('csa_base', csa_base)):
            res[k].append(f()); print(f'repeat {r + 1} {k:9s} {res[k][-1]:8.1f} img/s', flush=True)
    med = {k: float(np.median(v)) for k, v in res.items()}
    out = {'benchmark': f'ResNet-32, CIFAR-10-LT, batch 128, {nb} steps per measurement, median of {a.repeats}',
           'images_per_second': {k: round(v, 1) for k, v in med.items()},
           'ours_vs_dataloader': {'ce': round(med['ce_ours'] / med['ce_base'], 3), 'csa': round(med['csa_ours'] / med['csa_base'], 3)},
           'csa_epoch_over_ce_epoch': {'ours': round(med['ce_ours'] / med['csa_ours'], 3), 'dataloader': round(med['ce_base'] / med['csa_base'], 3)},
           'data': data.source, 'device': device_name(dev), 'torch': torch.__version__, 'python': platform.python_version(),
           'date': time.strftime('%Y-%m-%d %H:%M:%S'), 'all_runs': {k: [round(x, 1) for x in v] for k, v in res.items()}}
    dest = Path(a.out) if a.out else outputs_root() / 'benchmarks'
    atomic_write_json(dest / 'cifar_resnet32.json', out)
    md = ['# Benchmark: ResNet-32 steps on CIFAR-10-LT', '', f"{out['benchmark']}; {out['device']}, torch {out['torch']}, data: {out['data']}, {out['date']}.", '',
          '| step | csa_nb (img/s) | DataLoader + PIL + transforms (img/s) | ratio |', '| --- | --- | --- | --- |',
          f"| CE | {med['ce_ours']:.0f} | {med['ce_base']:.0f} | {out['ours_vs_dataloader']['ce']:.2f}x |",
          f"| CSA | {med['csa_ours']:.0f} | {med['csa_base']:.0f} | {out['ours_vs_dataloader']['csa']:.2f}x |", '',
          f"A CSA epoch costs {out['csa_epoch_over_ce_epoch']['ours']:.2f}x a CE epoch with csa_nb ({out['csa_epoch_over_ce_epoch']['dataloader']:.2f}x with the DataLoader version)."]
    atomic_write_text(dest / 'cifar_resnet32.md', '\n'.join(md) + '\n'); print('\n'.join(md))

if __name__ == '__main__':
    main()
