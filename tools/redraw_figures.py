"""Redraw the figures in `outputs/figures` from the committed runs, never training anything.

Each figure is built by the pipeline's own target (`csa_nb.pipeline.TARGETS`: the same run plan and the same `make_*`
function that `csa-run reproduce` uses). A target whose runs are not all finished is reported and skipped: this script
only reads `result.json` and the small `.npz` files saved beside each run.

    python tools/redraw_figures.py                      # every figure of the `cpu` profile
    python tools/redraw_figures.py --only fig1,fig9     # some of them
"""
from __future__ import annotations
import argparse, os, sys, time
from pathlib import Path
import matplotlib
matplotlib.use('Agg')
from csa_nb.core import outputs_root
from csa_nb.pipeline import TARGETS, finished_runs, parse_only, _store

def figure_targets(only=None) -> list[str]:
    "The chosen targets that write figures (tables are left alone)."
    return [t for t in parse_only(only) if TARGETS[t].writes]

def default_cifar10_images() -> str | None:
    "The image-folder copy of CIFAR-10 the committed CIFAR runs name, if the data mirror holds it."
    p = Path(os.environ.get('CSA_DATA_MIRROR', 'data')) / 'cifar10-jpeg.tar.gz'
    return str(p) if p.exists() else None

def redraw(profile: str = 'cpu', out=None, cifar10_images=None, only=None) -> dict:
    "{target: what it wrote, or the reason it was skipped}."
    out = Path(out or outputs_root()); store = _store(out); done = {}
    for t in figure_targets(only):
        T = TARGETS[t]; img = cifar10_images if T.cifar else None
        try: finished_runs(t, profile, store, img)          # every run must be finished: nothing is trained here
        except FileNotFoundError as e: done[t] = f'skipped: {e}'; continue
        t0 = time.time()
        done[t] = T.build(profile, out, img) if T.cifar else T.build(profile, out)
        print(f'{t}: {done[t]} ({time.time() - t0:.0f} s)', flush=True)
    return done

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--profile', default='cpu'); ap.add_argument('--out', default=None)
    ap.add_argument('--cifar10-images', default=default_cifar10_images())
    ap.add_argument('--only', default=None, help='comma-separated figure targets (default: all)')
    a = ap.parse_args(argv)
    done = redraw(a.profile, a.out, a.cifar10_images, a.only)
    skipped = {t: r for t, r in done.items() if isinstance(r, str) and r.startswith('skipped')}
    for t, r in skipped.items(): print(f'{t}: {r}', file=sys.stderr)
    return 1 if skipped else 0

if __name__ == '__main__': sys.exit(main())
