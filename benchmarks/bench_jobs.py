"""Local concurrency: the `cpu`-profile MNIST-family study with `--jobs 2` against `--jobs 1`, in one run.

The runs are those of `plan_runs('cpu')` on MNIST-LT, Fashion-LT and CMNIST-LT (Table 1's 45 runs, Figure 1's
rs-gamma sweep on MNIST-LT, Figures 2 and 4), all of them replays of the authors' notebook streams on one thread
each. `--jobs 1` runs them one after another in this process (as `csa-run reproduce` always did), which leaves
all but one core idle; `--jobs 2` runs two at once in a process pool (`run_plan`, the code path of
`reproduce --jobs 2`). Each goes into a fresh scratch folder under `build/bench_jobs/` (deleted first), so
nothing is skipped. The runs are independent except cRT, which waits for its CE run in both.

Checks: every run's metrics (All, Many, Medium, Few and the rest of `metrics`) are identical between the two,
and the wall ratio jobs2 / jobs1 (target: at most 0.6 on 2 cores). Writes outputs/benchmarks/jobs.{json,md}.
The whole study takes about an hour on a 2-core machine and needs the machine to itself; `--limit N` runs only
the first N runs of the plan (a check that the benchmark works, not a measurement: `jobs.md` is then not written
unless `--write` is given).

    python benchmarks/bench_jobs.py [--jobs 2] [--limit N] [--write] [--keep]
"""
import argparse, json, os, platform, shutil, sys, time
from pathlib import Path
from csa_nb.core import project_root, outputs_root, atomic_write_json, atomic_write_text, git_commit
from csa_nb.pipeline import plan_runs, run_plan, job_layout, layout_text, TABLE1_DATASETS

def mnist_family(limit=None) -> list:
    "The `cpu` profile's runs on the MNIST family, in plan order (CE before its cRT)."
    specs = [s for s in plan_runs('cpu') if s.dataset in TABLE1_DATASETS]
    return specs[:limit] if limit else specs

def timed(specs, out: Path, jobs: int) -> tuple:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    res = run_plan(specs, out, engine='python', device='cpu', jobs=jobs, log=lambda m: print(f'[jobs {jobs}] {m}', file=sys.stderr, flush=True))
    return time.perf_counter() - t0, {k: v['metrics'] for k, v in res.items()}

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--jobs', type=int, default=2, help='jobs of the concurrent side (default 2)')
    p.add_argument('--limit', type=int, default=None, help='only the first N runs of the plan (a quick check)')
    p.add_argument('--write', action='store_true', help='write outputs/benchmarks/jobs.{json,md} even with --limit')
    p.add_argument('--keep', action='store_true', help='keep the scratch folders under build/bench_jobs/')
    a = p.parse_args(argv)
    specs = mnist_family(a.limit)
    scratch = project_root() / 'build' / 'bench_jobs'
    print(f'{len(specs)} runs; {layout_text(job_layout(a.jobs, "cpu"))}', file=sys.stderr)
    wall_n, m_n = timed(specs, scratch / f'jobs{a.jobs}', a.jobs)   # the concurrent side first: its workers start cold
    wall_1, m_1 = timed(specs, scratch / 'jobs1', 1)
    diff = sorted(k for k in m_1 if m_1[k] != m_n.get(k))
    ratio = wall_n / wall_1
    cores = job_layout(a.jobs, 'cpu')['cores']
    res = dict(runs=len(specs), limit=a.limit, jobs=a.jobs, cores=cores, wall_jobs1_s=round(wall_1, 1),
               **{f'wall_jobs{a.jobs}_s': round(wall_n, 1)}, ratio=round(ratio, 3), target_ratio=0.6, meets_target=ratio <= 0.6,
               identical_metrics=not diff, runs_with_different_metrics=diff, layout=layout_text(job_layout(a.jobs, 'cpu')),
               machine=platform.processor() or platform.machine(), python=platform.python_version(), commit=git_commit())
    print(json.dumps(res, indent=1))
    if not a.keep: shutil.rmtree(scratch, ignore_errors=True)
    if a.limit is None or a.write:
        d = outputs_root() / 'benchmarks'
        atomic_write_json(d / 'jobs.json', res)
        atomic_write_text(d / 'jobs.md', '\n'.join([
            '# Local concurrency: `--jobs` on the MNIST-family `cpu` study', '',
            f'`python benchmarks/bench_jobs.py{" --limit " + str(a.limit) if a.limit else ""}` at commit `{res["commit"]}`, '
            f'{cores} cores ({res["machine"]}), Python {res["python"]}.', '',
            f'| runs | wall, --jobs 1 | wall, --jobs {a.jobs} | ratio | target | metrics identical |',
            '| --- | --- | --- | --- | --- | --- |',
            f'| {len(specs)} | {wall_1:.0f} s | {wall_n:.0f} s | {ratio:.2f} | <= 0.6 | {"yes" if not diff else "NO: " + ", ".join(diff)} |', '',
            f'Job layout of the concurrent side: {res["layout"]}', '']))
    return 0 if not diff else 1

if __name__ == '__main__': sys.exit(main())
