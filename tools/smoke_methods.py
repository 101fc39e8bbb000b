"""Run methods in the `smoke` profile on CIFAR-10-LT (ratio 100) and write one line per method: did it finish, its All/Many/Medium/Few,
its wall time. A check that every method runs on real images end to end, not a result (2 epochs).

    python tools/smoke_methods.py --images PATH/cifar10-jpeg.tar.gz [--methods focal,ldam-drw,...] [--out build/smoke_methods]

With --methods, the rows of the other methods already in the report are kept; every row names the commit it ran at.
"""
import argparse, json, re, sys, time, traceback
from pathlib import Path
from csa_nb.core import atomic_write_text, git_commit
from csa_nb.experiments import RunSpec, ResultStore, run_experiment
from csa_nb.train import METHODS

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--images', default=None); ap.add_argument('--methods', default=None)
    ap.add_argument('--out', default='build/smoke_methods'); ap.add_argument('--report', default='outputs/reproducibility/smoke_methods.md')
    a = ap.parse_args(argv)
    names = a.methods.split(',') if a.methods else [m for m in METHODS if m != 'rs-gamma']
    bad = [n for n in names if n not in METHODS]
    if bad: sys.exit(f"unknown method {bad[0]!r}; valid choices: {', '.join(METHODS)}")
    store, rows, commit = ResultStore(Path(a.out) / 'runs'), [], git_commit()
    for n in names:
        t0 = time.perf_counter()
        try:
            r = run_experiment(RunSpec.for_profile('cifar10-lt', n, 'smoke', images=a.images), store)
            m = r['metrics']
            rows.append(f"| `{n}` | finished | {m['all']:.1f} | {m['many']:.1f} | {m['medium']:.1f} | {m['few']:.1f} | {r['wall_seconds']:.0f} | `{commit}` |")
        except Exception as e:   # a failure is a finding: record it and go on
            traceback.print_exc()
            rows.append(f"| `{n}` | **failed**: {type(e).__name__}: {str(e)[:120]} | | | | | {time.perf_counter() - t0:.0f} | `{commit}` |")
        print(rows[-1], flush=True)
    if a.methods and Path(a.report).exists():   # keep the other methods' rows, each with the commit it ran at
        old = Path(a.report).read_text(); at = re.search(r'at commit `([0-9a-f]+)`', old)
        kept = {}
        for line in old.splitlines():
            hit = re.match(r'\| `([^`]+)` \|', line)
            if hit and hit[1] not in names:
                kept[hit[1]] = line if line.count('|') == 9 else f"{line} `{at[1] if at else 'unknown'}` |"
        order = list(METHODS)
        rows = [r for _, r in sorted([*kept.items(), *zip(names, rows)], key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))]
    src = Path(a.images).name if a.images else "torchvision's CIFAR-10 archive"
    text = (f"# Every method on real images (smoke profile)\n\n`tools/smoke_methods.py`: CIFAR-10-LT ratio 100 "
            f"({src}), ResNet-32, 2 epochs (the smoke profile: a check that each method runs end to end, not a result), seed 0, "
            "one CPU process on two cores; each row names the commit it ran at.\n\n| method | status | All | Many | Medium | Few | wall s | commit |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n"
            + '\n'.join(rows) + '\n')
    atomic_write_text(a.report, text)
    print(text)

if __name__ == '__main__': main()
