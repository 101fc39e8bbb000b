"Runs at once (`--jobs N`, a process pool) and as submitit jobs (`--launcher slurm`, checked with submitit's local executor)."
import contextlib, io, json
import pytest
from csa_nb.experiments import RunSpec, ResultStore
from csa_nb.pipeline import run_plan, reproduce, main, job_layout, layout_text, target, TARGETS

SPECS = [RunSpec.for_profile('mnist-lt', m, 'smoke') for m in ('ce', 'cb-rs', 'crt')]   # cRT reuses the CE run: it waits for it

def metrics(root, spec): return json.loads((root / 'runs' / spec.name / 'result.json').read_text())['metrics']

@pytest.fixture(scope='module')
def one_and_two(tmp_path_factory):
    """The same three smoke runs with jobs=1 (`run_plan`, in this process) and jobs=2 (`reproduce`, two spawned workers),
    the latter for a target registered here that reads them and records which runs were finished when it was built."""
    root = tmp_path_factory.mktemp('jobs')
    seen = []
    @target('jobs_probe', lambda profile, cifar10_images=None: {s.method: s for s in SPECS}, {})
    def build(profile, out=None):
        seen.extend(sorted(p.parent.name for p in (root / 'j2' / 'runs').glob('*/result.json')))
    logs = {1: [], 2: []}
    try:
        run_plan(SPECS, root / 'j1', engine='python', device='cpu', jobs=1, log=logs[1].append)
        report = reproduce('smoke', 'jobs_probe', root / 'j2', engine='python', device='cpu', jobs=2, log=logs[2].append)
        yield root, logs, report, seen
    finally: TARGETS.pop('jobs_probe', None)   # other test files plan every registered target

def test_two_jobs_give_bit_identical_metrics(one_and_two):
    root, logs, _, _ = one_and_two
    for s in SPECS:
        m1, m2 = metrics(root / 'j1', s), metrics(root / 'j2', s)
        assert m1 == m2 and m1['all'] > 10, (s.name, m1, m2)          # exact equality: the replay runs on one thread either way
    crt = json.loads((root / 'j2' / 'runs' / SPECS[2].name / 'result.json').read_text())
    assert crt['stage1_from'] == f'reused from run {SPECS[0].name}'     # cRT waited for its CE run in the pool
    assert sum(': running' in l for l in logs[2]) == 3 and sum(': finished' in l for l in logs[2]) == 3
    assert logs[2].index(next(l for l in logs[2] if l.startswith(f'{SPECS[0].name}: finished'))) < \
        logs[2].index(next(l for l in logs[2] if SPECS[2].name in l and ': running' in l))

def test_target_waits_for_its_runs_and_report_records_layout(one_and_two):
    root, logs, report, seen = one_and_two
    assert seen == sorted(s.name for s in SPECS)                         # built once, with all three runs finished
    assert max(i for i, l in enumerate(logs[2]) if ': finished' in l) < logs[2].index('building jobs_probe')
    text = report.read_text()
    assert 'Job layout: 2 jobs at once in a process pool (spawn): CPU only' in text and 'bit-identical' in text
    logs[2].clear()                                                      # again: everything is done, nothing runs
    reproduce('smoke', 'jobs_probe', root / 'j2', engine='python', device='cpu', jobs=2, log=logs[2].append)
    assert sum('done, skipped' in l for l in logs[2]) == 3 and not any(': running' in l for l in logs[2])

@pytest.mark.parametrize('jobs', ['0', '-3'])
def test_jobs_must_be_positive(jobs, tmp_path):
    err = io.StringIO()
    with contextlib.redirect_stderr(err): code = main(['reproduce', '--profile', 'smoke', '--jobs', jobs, '--out', str(tmp_path)])
    lines = err.getvalue().strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert lines[0] == f'csa-run: error: --jobs must be a positive integer: 1 runs one run at a time, N runs N at once; got {jobs}'
    assert not list(tmp_path.rglob('result.json'))

def test_slurm_launcher_through_submitit_local_executor(one_and_two, tmp_path):
    pytest.importorskip('submitit')
    root, logs = one_and_two[0], []
    spec = SPECS[1]
    res = run_plan([spec], tmp_path, engine='python', device='cpu', launcher='slurm',
                   slurm=dict(cluster='local', gpus=0, cpus=1, time=10), log=logs.append)
    assert res[spec.name]['metrics'] == metrics(tmp_path, spec) == metrics(root / 'j1', spec)
    assert list((tmp_path / 'slurm').glob('*_log.out'))                      # submitit's job logs
    assert any('finished' in l for l in logs)
    assert 'time limit 10 min' in layout_text(job_layout(None, launcher='slurm', slurm=dict(cluster='local', time=10)))

def test_missing_submitit_is_one_clear_line(monkeypatch, tmp_path):
    import builtins
    real = builtins.__import__
    def fake(name, *a, **kw):
        if name == 'submitit': raise ImportError('No module named submitit')
        return real(name, *a, **kw)
    monkeypatch.setattr(builtins, '__import__', fake)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(['reproduce', '--profile', 'smoke', '--only', 'fig2', '--launcher', 'slurm', '--out', str(tmp_path)])
    assert code == 3 and err.getvalue().strip() == \
        "csa-run: error: --launcher slurm needs submitit: pip install submitit (or pip install -e '.[dev]')"
