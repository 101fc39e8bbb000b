"""ImageNet-LT-style input pipeline, csa_nb against torchvision's ImageFolder + PIL transforms + DataLoader, in one run.

Both produce the authors' training batches (RandomResizedCrop 224, horizontal flip, ColorJitter(0.4, 0.4, 0.4, 0),
ImageNet normalisation) from the same generated folder of JPEGs of ImageNet-like sizes, with the same number of
worker processes, and are timed over the same number of images:

- csa_nb: `ImageFiles` (`01c_images`) planned for the epoch as `train_loop` does; its workers read, decode
  (torchvision's decoder) and square each image to 256 px; the augmentation (`imagenet_train_transform`) runs in the
  main process: on the CPU image by image while each is in the cache (uint8 resized crops, in-place jitter and
  normalisation), on a GPU as whole-batch calls (roi_align crops, batched jitter). With `--device cuda` the workers
  only read bytes and the JPEGs are decoded on the GPU in one call per batch.
- baseline: `torchvision.datasets.ImageFolder` with the PIL transforms (`RandomResizedCrop(224)`,
  `RandomHorizontalFlip()`, `ColorJitter(0.4, 0.4, 0.4, 0)`, `ToTensor()`, `Normalize`) and a `DataLoader`
  (`shuffle=True`, the same batch size and workers); batches moved to `--device`.

Not the same arithmetic: ours crops from the 256 px centre square (see `01c_images`), the baseline from the full
image. Images per second exclude the folder's generation; the first batch (worker start-up) is included in both.
Give it cores no other job uses (`taskset`): under contention the scheduler shares a core per busy process, and
csa_nb runs two busy processes (decoding worker, augmenting main) where the baseline runs one, which flatters csa_nb.
Writes outputs/benchmarks/input_pipeline.{json,md}; the JPEG folder goes to build/bench_input/ (reused if present).

    python benchmarks/bench_input_pipeline.py [--images 512] [--workers 4] [--batch 64] [--device cpu] [--repeats 1]
"""
import argparse, json, os, platform, time
from pathlib import Path
import numpy as np
import torch

from csa_nb.core import outputs_root, project_root, atomic_write_json, atomic_write_text, device_name, pick_device
from csa_nb.images import ImageFiles, imagenet_train_transform, load_size_for, IMAGENET_MEAN, IMAGENET_STD

def make_folder(root: Path, n: int, classes: int = 8, seed: int = 0) -> list:
    "n JPEGs of ImageNet-like sizes (sides 200-500 px, quality 90) in root/train/<class>/, smooth colour fields with noise."
    from PIL import Image
    rng = np.random.RandomState(seed); files = []
    for i in range(n):
        d = root / 'train' / f'class{i % classes}'; d.mkdir(parents=True, exist_ok=True)
        f = d / f'{i:05d}.jpg'; files.append(f)
        if f.exists(): continue
        h, w = rng.randint(200, 501, 2)
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(yy * rng.uniform(0.2, 1) + xx * rng.uniform(0.2, 1)) % 256 for _ in range(3)], -1)
        a = np.clip(base + rng.randint(-25, 26, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(a).save(f, quality=90)
    return files

def ours(files, batch: int, workers: int, dev: torch.device, seed: int = 0) -> float:
    src = ImageFiles(files, load_size_for(224), dev, workers=workers)
    prep = imagenet_train_transform(224)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(files), generator=g)
    t0 = time.perf_counter(); n = 0
    try:
        src.plan_epoch([idx], batch)
        for b in range(0, len(idx), batch):
            x = prep(src[idx[b:b + batch]], g); n += len(x)
        if dev.type == 'cuda': torch.cuda.synchronize()
        return n / (time.perf_counter() - t0)
    finally: src.close()

def baseline(root: Path, batch: int, workers: int, dev: torch.device, seed: int = 0) -> float:
    from torchvision import datasets, transforms as T
    tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ColorJitter(0.4, 0.4, 0.4, 0), T.ToTensor(),
                    T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    ds = datasets.ImageFolder(str(root / 'train'), transform=tf)
    dl = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                                     generator=torch.Generator().manual_seed(seed), pin_memory=dev.type == 'cuda')
    t0 = time.perf_counter(); n = 0
    for x, _ in dl:
        x = x.to(dev, non_blocking=True); n += len(x)
    if dev.type == 'cuda': torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--images', type=int, default=512)
    ap.add_argument('--workers', type=int, default=min(4, os.cpu_count() or 1))
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--repeats', type=int, default=1)
    ap.add_argument('--folder', default=None, help='where the generated JPEGs go (default build/bench_input)')
    ap.add_argument('--out', default=None, help='where input_pipeline.{json,md} go (default outputs/benchmarks)')
    a = ap.parse_args(argv)
    dev = pick_device(a.device)
    root = Path(a.folder) if a.folder else project_root() / 'build' / 'bench_input'
    files = make_folder(root, a.images)
    rows, load = [], os.getloadavg()[0]
    for r in range(a.repeats):
        o, b = ours(files, a.batch, a.workers, dev, r), baseline(root, a.batch, a.workers, dev, r)
        rows.append({'repeat': r, 'ours_img_s': round(o, 1), 'baseline_img_s': round(b, 1), 'ratio': round(o / b, 2)})
        print(f"repeat {r}: csa_nb {o:.1f} img/s, ImageFolder + PIL + DataLoader {b:.1f} img/s, ratio {o / b:.2f}", flush=True)
    med = lambda k: float(np.median([x[k] for x in rows]))
    res = dict(images=a.images, workers=a.workers, batch=a.batch, device=device_name(dev), cores=len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count(),
               torch=torch.__version__, python=platform.python_version(), rows=rows,
               load_average_at_start=round(load, 2), ours_img_s=med('ours_img_s'), baseline_img_s=med('baseline_img_s'), ratio=med('ratio'))
    out = Path(a.out) if a.out else outputs_root() / 'benchmarks'
    atomic_write_json(out / 'input_pipeline.json', res)
    atomic_write_text(out / 'input_pipeline.md', (
        "# Input pipeline: csa_nb vs ImageFolder + PIL + DataLoader\n\n"
        f"`python benchmarks/bench_input_pipeline.py --images {a.images} --workers {a.workers} --batch {a.batch} --device {a.device} --repeats {a.repeats}` "
        f"on {res['device']} ({res['cores']} cores available to it), torch {res['torch']}. {a.images} generated JPEGs of 200-500 px; "
        "both produce RandomResizedCrop(224) + flip + ColorJitter(0.4, 0.4, 0.4, 0) + normalised batches with the same number of "
        "worker processes (csa_nb crops from the 256 px centre square, the baseline from the full image). "
        f"On the CPU csa_nb's augmentation runs in the main process image by image (each image cropped, jittered and normalised while in the cache), beside its {a.workers} decoding workers; "
        f"the baseline augments in its workers. Load average when the benchmark started: {load:.2f}.\n\n"
        "| repeat | csa_nb (img/s) | ImageFolder + PIL + DataLoader (img/s) | ratio |\n| --- | --- | --- | --- |\n"
        + ''.join(f"| {x['repeat']} | {x['ours_img_s']} | {x['baseline_img_s']} | {x['ratio']} |\n" for x in rows)
        + f"\nmedian ratio: **{res['ratio']}** (csa_nb / baseline)\n"))
    print(json.dumps(res))
    return res

if __name__ == '__main__':
    main()
