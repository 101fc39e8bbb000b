"""Bring the runs of a device session (`benchmarks/gpu_table2.sh`) back into `outputs/runs/`, without losing anything.

The device tool returns the session's store as `runs.tgz.NN` pieces (`cat runs.tgz.* | tar xz`). For each run in it:
- finished there (`result.json`): its result, features, Grad-CAM maps, spec and model are copied in, and the local
  checkpoint is dropped, as a run finished here would do; unless a result of that name is already here (e.g. the
  committed CPU run of the same spec): then nothing is copied, and the line says so;
- unfinished there (`stage1.ckpt`): its checkpoint replaces the local one only if it is further on; the run resumes here
  with the same `csa-run train` command;
- nothing saved: skipped.
Files are written to a temporary name and renamed, so a failed import leaves no half-copied run.

Usage: python tools/import_device_runs.py FOLDER [--runs DIR] [--dry-run]
  FOLDER  where the device tool put runs.tgz.NN, or an already unpacked folder holding runs/
  --runs  the store's runs folder to import into (default: outputs/runs of this repository)
"""
import argparse, io, shutil, sys, tarfile, tempfile
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]
FINISHED_FILES = ('result.json', 'test_features.npz', 'gradcam.npz', 'spec.json', 'model.pt')

def _epoch(ckpt: Path) -> int:
    "The last finished epoch (0-based) of a checkpoint; -1 when there is none."
    return torch.load(ckpt, map_location='cpu', weights_only=False)['epoch'] if ckpt.is_file() else -1

def _copy(src: Path, dst: Path):
    tmp = dst.with_name(dst.name + '.importing')
    shutil.copyfile(src, tmp); tmp.replace(dst)

def unpack(folder: Path, into: Path) -> Path:
    "The `runs/` folder of a device session: `folder/runs` if unpacked, else the `runs.tgz.NN` pieces joined and unpacked into `into`."
    if (folder / 'runs').is_dir(): return folder / 'runs'
    parts = sorted(folder.glob('runs.tgz.*'))
    if not parts: sys.exit(f"no runs.tgz.NN pieces and no runs/ folder in {folder}")
    with tarfile.open(fileobj=io.BytesIO(b''.join(p.read_bytes() for p in parts)), mode='r:gz') as t:
        t.extractall(into, filter='data')
    return into / 'runs'

def import_runs(remote: Path, local: Path, dry_run: bool = False) -> list[str]:
    "Import every run of `remote` into `local` by the rules above; one line per run saying what was done."
    lines = []
    for d in sorted(p for p in remote.iterdir() if p.is_dir()):
        here = local / d.name
        if (d / 'result.json').is_file():
            if (here / 'result.json').is_file():
                lines.append(f"{d.name}: finished there, but a result of that name is here already: kept ours, not imported"); continue
            if not dry_run:
                here.mkdir(parents=True, exist_ok=True)
                for f in FINISHED_FILES:
                    if (d / f).is_file(): _copy(d / f, here / f)
                (here / 'stage1.ckpt').unlink(missing_ok=True)
            lines.append(f"{d.name}: finished, imported"); continue
        if (d / 'stage1.ckpt').is_file():
            there, ours = _epoch(d / 'stage1.ckpt'), _epoch(here / 'stage1.ckpt')
            if (here / 'result.json').is_file() or there <= ours:
                lines.append(f"{d.name}: unfinished there (after epoch {there + 1}); ours is "
                             f"{'finished' if (here / 'result.json').is_file() else f'after epoch {ours + 1}'}: kept ours"); continue
            if not dry_run:
                here.mkdir(parents=True, exist_ok=True)
                for f in ('spec.json', 'stage1.ckpt'):
                    if (d / f).is_file(): _copy(d / f, here / f)
            lines.append(f"{d.name}: unfinished, checkpoint after epoch {there + 1} imported (ours: {ours + 1 if ours >= 0 else 'none'})"); continue
        lines.append(f"{d.name}: nothing saved there, skipped")
    return lines

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('folder', type=Path); ap.add_argument('--runs', type=Path, default=ROOT / 'outputs' / 'runs')
    ap.add_argument('--dry-run', action='store_true', help='say what would be imported, change nothing')
    a = ap.parse_args()
    if not a.folder.is_dir(): sys.exit(f"no such folder: {a.folder}")
    with tempfile.TemporaryDirectory() as tmp:
        for line in import_runs(unpack(a.folder, Path(tmp)), a.runs, a.dry_run): print(line)
