"""Record where the epochs of an unfinished run ran, in its checkpoint, for epochs saved before `train_loop` recorded it.

A run stopped on one machine resumes on another from its `stage1.ckpt`; since `06_train` each epoch's record names its
device, and the result counts them (`epochs_by_device`). Checkpoints written before that carry no device: this script
names one for those epochs, when it is known from the run's own log (e.g. the device tool's logs of
`benchmarks/gpu_table2.sh`). Epochs that already name a device are left as they are; a second pass changes nothing.

Usage: python tools/mark_epoch_device.py DEVICE CKPT [CKPT ...]     e.g. 'NVIDIA H200' outputs/runs/<run>/stage1.ckpt
"""
import sys
from pathlib import Path
import torch

def mark(path: Path, device: str) -> int:
    "Name `device` on the epochs of checkpoint `path` that name none; how many were marked (written atomically)."
    st = torch.load(path, map_location='cpu', weights_only=False)
    n = 0
    for rec in st['history']:
        if 'device' not in rec: rec['device'] = device; n += 1
    if n:
        tmp = path.with_name(path.name + '.tmp')
        torch.save(st, tmp); tmp.replace(path)
    return n

if __name__ == '__main__':
    if len(sys.argv) < 3: sys.exit(__doc__.strip().splitlines()[-1])
    device, paths = sys.argv[1], [Path(p) for p in sys.argv[2:]]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing: sys.exit(f"no checkpoint at: {', '.join(missing)}")
    for p in paths: print(f"{p}: {mark(p, device)} epochs marked {device!r}")
