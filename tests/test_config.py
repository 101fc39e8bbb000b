"Project configuration: environment.yml agrees with settings.ini; notebooks carry what papermill and Colab need."
import configparser, json, re, shlex
from pathlib import Path
from conftest import ROOT

CONDA_NAMES = {'torch': 'pytorch'}

def _settings():
    c = configparser.ConfigParser(delimiters=['=']); c.read(ROOT / 'settings.ini'); return c['DEFAULT']

def _split(req):
    m = re.match(r'^([A-Za-z0-9_.\-]+)\s*(.*)$', req.strip()); return m.group(1).lower(), m.group(2).replace(' ', '')

def test_environment_yml_matches_settings_ini():
    cfg = _settings()
    want = dict(_split(r) for r in shlex.split(cfg['requirements']) + shlex.split(cfg['dev_requirements']))
    want = {CONDA_NAMES.get(k, k): v for k, v in want.items()}
    got = {}
    for line in (ROOT / 'environment.yml').read_text().splitlines():
        m = re.match(r'^\s+-\s+(.+?)\s*$', line)
        if not m or m.group(1) in ('pip', '-e .') or m.group(1).endswith(':') or m.group(1) == 'conda-forge': continue
        name, spec = _split(m.group(1))
        if name == 'python': continue
        got[name] = spec
    assert got == want, f'environment.yml and settings.ini disagree: only in yml {set(got.items()) - set(want.items())}, only in ini {set(want.items()) - set(got.items())}'

def test_settings_keep_papermill_tags_and_nbdev_pins():
    cfg = _settings()
    assert cfg['lib_name'] == 'csa_nb' and cfg['allowed_cell_metadata_keys'].strip() == 'tags'
    assert 'slow' in cfg['tst_flags']
    dev = cfg['dev_requirements']
    for pin in ('nbdev==2.4.14', 'execnb<0.2', 'ghapi<2'): assert pin in dev
    assert 'torch>=2.1' in cfg['requirements'] and 'fastcore<2' in cfg['requirements']   # the library uses fastcore's @patch

def _cells(nb): return json.loads(Path(nb).read_text())['cells']

def test_parameterised_notebooks_have_parameters_cell_and_colab_cell():
    nbs = [ROOT / 'run_all.ipynb', *sorted((ROOT / 'nbs' / 'experiments').glob('*.ipynb'))]
    assert len(nbs) >= 5
    for nb in nbs:
        cells = _cells(nb)
        tagged = [c for c in cells if 'parameters' in c.get('metadata', {}).get('tags', [])]
        assert len(tagged) == 1, f'{nb.name}: needs exactly one cell tagged parameters'
        assert any("'google.colab' in sys.modules" in ''.join(c['source']) for c in cells), f'{nb.name}: no Colab install cell'
        assert all(not c.get('outputs') for c in cells if c['cell_type'] == 'code'), f'{nb.name}: not clean'

STUDY_NOTEBOOKS = {'07_resampling.ipynb'}

def test_library_notebooks_export_one_module_each():
    mods = {}
    for nb in sorted((ROOT / 'nbs').glob('[0-9]*.ipynb')):
        src = ''.join(''.join(c['source']) for c in _cells(nb))
        m = re.search(r'#\|\s*default_exp\s+(\w+)', src)
        if nb.name in STUDY_NOTEBOOKS:   # reads committed results and the library; defines nothing
            assert not m and not re.search(r'#\|\s*export', src), f'{nb.name} is a study notebook and must not export'
            continue
        assert m, f'{nb.name} exports nothing'
        mods[m.group(1)] = nb.name
        assert (ROOT / 'csa_nb' / f'{m.group(1)}.py').exists()
    assert {'core', 'data', 'sampling', 'replay', 'models', 'metrics', 'train', 'experiments', 'plots', 'pipeline'} <= set(mods)

def test_readme_has_the_two_commands_and_a_colab_badge():
    text = (ROOT / 'README.md').read_text()
    assert 'make reproduce' in text and 'make test' in text
    assert 'colab.research.google.com/github/' in text
    assert (ROOT / '.ci' / 'run').read_text().count('make test') == 1

def test_readme_own_data_loop_is_the_tested_notebook_code():
    "The README's hand-written CSA loop is taken from nbs/08b_own_data.ipynb, where it runs under nbdev_test."
    import json, re
    readme = (ROOT / 'README.md').read_text()
    block = readme.split('### CSA on your own data', 1)[1].split('```python', 1)[1].split('```', 1)[0]
    nb = '\n'.join(''.join(c['source']) for c in json.loads((ROOT / 'nbs' / '08b_own_data.ipynb').read_text())['cells'])
    lines = [l.strip() for l in block.strip().splitlines()]
    assert len(lines) >= 5 and all(l in nb for l in lines), [l for l in lines if l not in nb]

def test_readme_run_counts_are_the_planned_ones():
    "The README's count of the `cpu` profile's runs is the planner's, so the text cannot go stale."
    import re
    from collections import Counter
    from csa_nb.pipeline import plan_runs
    text = (ROOT / 'README.md').read_text()
    m = re.search(r"The `cpu` profile plans (\d+) runs: (\d+) LeNet runs \((\d+) for the MNIST-family study, (\d+) for Figure 1's "
                  r"MNIST-LT sweep; minutes each\) and (\d+) ResNet-32 runs", text)
    assert m, "the README's sentence on the cpu profile's runs changed: update this test with it"
    specs = plan_runs('cpu')
    arch = Counter(s.arch for s in specs)
    sweep = sum(1 for s in specs if s.arch == 'lenet2' and s.method == 'rs-gamma')
    assert [int(g) for g in m.groups()] == [len(specs), arch['lenet2'], arch['lenet2'] - sweep, sweep, arch['resnet32']]

PICTURE_NOTEBOOKS = ('01_data', '01a_cifar', '01c_images', '04_augment', '07_resampling', '08_csa', '11_plots')   # the notebooks that draw

def test_library_notebooks_are_committed_executed_and_small():
    "`make notebooks` executed them: the pictures show on GitHub, and no notebook's outputs exceed 250 KB."
    import sys; sys.path.insert(0, str(ROOT / 'tools'))
    from execute_notebooks import library_notebooks, output_bytes
    sizes = {p.stem: output_bytes(json.loads(p.read_text())) for p in library_notebooks()}
    assert set(PICTURE_NOTEBOOKS) <= set(sizes)
    assert all(n <= 250 * 1024 for n in sizes.values()), {k: v // 1024 for k, v in sizes.items() if v > 250 * 1024}
    for name in PICTURE_NOTEBOOKS:
        nb = json.loads((ROOT / 'nbs' / f'{name}.ipynb').read_text())
        assert any(k.startswith('image/') for c in nb['cells'] for o in c.get('outputs', []) for k in o.get('data', {})), name
    executed = [k for k in sizes if any(c.get('outputs') for c in json.loads((ROOT / 'nbs' / f'{k}.ipynb').read_text())['cells'])]
    assert len(executed) >= len(sizes) - 3, sorted(set(sizes) - set(executed))   # a few have no printed output at all

def test_committed_notebook_outputs_hold_no_local_paths():
    "make notebooks scrubs the project, mirror and temporary paths from what the notebooks printed."
    bad = re.compile(r'(?<![\w.<$])/(?:tmp|work|home|Users|root)/')
    for p in sorted((ROOT / 'nbs').glob('*.ipynb')):
        for c in json.loads(p.read_text())['cells']:
            for o in c.get('outputs', []):
                text = ''.join(o.get('text', [])) + ''.join(''.join(v) for k, v in o.get('data', {}).items() if k.startswith('text/'))
                assert not bad.search(text), (p.name, bad.search(text).group(0), text[:200])
