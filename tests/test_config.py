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
    for pin in ('nbdev==2.4.14', 'fastcore<2', 'execnb<0.2', 'ghapi<2'): assert pin in dev
    assert 'torch>=2.1' in cfg['requirements']

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
