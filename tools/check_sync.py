"""Fail when notebooks are not clean or csa_nb/ / README.md are out of sync with nbs/.

Snapshots the files, runs nbdev_clean, nbdev_export and tools/make_readme.py, and reports what changed."""
import hashlib, subprocess, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]
bin_ = Path(sys.executable).parent

def snapshot():
    files = [*root.glob('nbs/**/*.ipynb'), root / 'run_all.ipynb', *root.glob('csa_nb/**/*.py'), root / 'README.md']
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest() for p in files
            if p.exists() and '.ipynb_checkpoints' not in p.parts}

before = snapshot()
for cmd in ([bin_ / 'nbdev_clean'], [bin_ / 'nbdev_clean', '--fname', 'run_all.ipynb'], [bin_ / 'nbdev_export'],
            [sys.executable, 'tools/make_readme.py']):
    subprocess.run([str(c) for c in cmd], cwd=root, check=True)
after = snapshot()
changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
if changed:
    print('Out of sync (run `make export` and commit):', *changed, sep='\n  ')
    sys.exit(1)
print(f'notebooks clean, library and README in sync ({len(after)} files checked)')
