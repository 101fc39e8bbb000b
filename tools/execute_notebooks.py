"""Execute the library notebooks in place, so that their pictures and tables show on GitHub and in Colab.

    python tools/execute_notebooks.py [NAME ...]     # default: every nbs/*.ipynb except index.ipynb

Each notebook runs top to bottom in a fresh `python3` kernel, with its folder as working directory, progress bars off
(`CSA_PROGRESS=off`) and data from the mirror when `CSA_DATA_MIRROR` is set. A notebook that fails is left as it was
(the executed copy is written only after every cell ran). Cells marked `#| eval: false` are skipped, as `nbdev_test`
skips them. Afterwards `nbdev_clean` strips ids and metadata, keeping
the outputs, and the size of each notebook's outputs is printed; more than `--max-kb` (default 250) is an error, since
such a notebook is slow to open on GitHub.
"""
from __future__ import annotations
import argparse, base64, json, os, re, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
SKIP = re.compile(r'^#\|\s*eval:\s*false', re.M)   # nbdev's directive for a cell that is shown, not run

def library_notebooks(names=()) -> list[Path]:
    "The notebooks to execute: `names` (with or without `.ipynb`) or every top-level notebook but the README's."
    if names: return [NBS / (n if n.endswith('.ipynb') else n + '.ipynb') for n in names]
    return sorted(p for p in NBS.glob('*.ipynb') if p.name != 'index.ipynb' and not p.name.startswith('_'))

def output_bytes(nb: dict) -> int:
    "Bytes the outputs of `nb` take in its JSON (images counted decoded)."
    n = 0
    for c in nb['cells']:
        for o in c.get('outputs', []):
            for k, v in o.get('data', {}).items():
                s = ''.join(v) if isinstance(v, list) else str(v)
                n += len(base64.b64decode(s)) if k.startswith('image/') and k != 'image/svg+xml' else len(s)
            n += sum(len(t) for t in o.get('text', []))
    return n

def scrub(text):
    "`text` (a string or a list of them) with this machine's paths replaced: the project, the data mirror, temporary folders."
    if isinstance(text, list): return [scrub(t) for t in text]
    import tempfile
    mirror = os.environ.get('CSA_DATA_MIRROR')
    for path, name in ((str(ROOT), '<project>'), *(((str(Path(mirror).resolve()), '$CSA_DATA_MIRROR'), (mirror, '$CSA_DATA_MIRROR')) if mirror else ())):
        text = text.replace(path, name)
    return re.sub(re.escape(tempfile.gettempdir()) + r'/[\w.-]+', '<tmp>', text)

def execute(path: Path, timeout: int = 1800) -> float:
    "Run `path` in a fresh kernel and write it back with its outputs; return the seconds it took."
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    run = nbformat.reads(nbformat.writes(nb), as_version=4)   # what runs: cells marked `#| eval: false` emptied, as nbdev_test skips them
    for c in run.cells:
        if c.cell_type == 'code' and SKIP.search(c.source): c.source = ''
    t0 = time.perf_counter()
    NotebookClient(run, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}}).execute()
    for c, r in zip(nb.cells, run.cells):
        if c.cell_type == 'code': c.outputs, c.execution_count = (r.outputs, r.execution_count) if r.source else ([], None)
    for c in nb.cells:   # committed outputs hold no path of the machine that made them
        for o in c.get('outputs', []):
            if 'text' in o: o['text'] = scrub(o['text'])
            for k in [k for k in o.get('data', {}) if k.startswith('text/')]: o['data'][k] = scrub(o['data'][k])
            if 'evalue' in o: o['evalue'] = scrub(o['evalue'])
    from csa_nb.core import atomic_write_text
    atomic_write_text(path, nbformat.writes(nb) + '\n')   # the project's atomic write: a failed run never leaves half a notebook
    return time.perf_counter() - t0

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('names', nargs='*', help='notebooks to execute (default: all library notebooks)')
    p.add_argument('--max-kb', type=float, default=250, help='largest allowed outputs per notebook, in KB')
    args = p.parse_args(argv)
    os.environ.setdefault('CSA_PROGRESS', 'off')
    paths = library_notebooks(args.names)
    missing = [str(q.relative_to(ROOT)) for q in paths if not q.exists()]
    if missing: print(f"execute_notebooks: no such notebook: {', '.join(missing)}", file=sys.stderr); return 2
    failed = []
    for q in paths:
        try: print(f'{q.name}: executed in {execute(q):.0f} s', flush=True)
        except Exception as e:   # keep going: one broken notebook should not stop the others
            failed.append(q.name); print(f'{q.name}: FAILED: {str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__}', flush=True)
    subprocess.run([str(Path(sys.executable).with_name('nbdev_clean'))], cwd=ROOT, check=True)
    big = []
    for q in paths:
        kb = output_bytes(json.loads(q.read_text())) / 1024
        print(f'{q.name}: outputs {kb:.0f} KB')
        if kb > args.max_kb: big.append(f'{q.name} ({kb:.0f} KB)')
    if failed: print(f"execute_notebooks: failed: {', '.join(failed)}", file=sys.stderr)
    if big: print(f"execute_notebooks: outputs over {args.max_kb:.0f} KB: {', '.join(big)}", file=sys.stderr)
    return 1 if failed or big else 0

if __name__ == '__main__': sys.exit(main())
