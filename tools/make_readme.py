"""Write README.md from nbs/index.ipynb (markdown cells as they are, code cells as fenced Python).

nbdev's own `nbdev_readme` needs Quarto; this keeps README generation dependency-free."""
import json, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]

def render(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text())
    parts = []
    for c in nb['cells']:
        src = ''.join(c['source']).strip('\n')
        if not src or src.lstrip().startswith('#| hide'): continue
        if c['cell_type'] == 'markdown': parts.append(src)
        elif c['cell_type'] == 'code':
            lines = [l for l in src.split('\n') if not l.startswith('#|')]
            parts.append('```python\n' + '\n'.join(lines) + '\n```')
    head = '<!-- generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file -->\n\n'
    return head + '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    out = root / 'README.md'
    text = render(root / 'nbs' / 'index.ipynb')
    if not out.exists() or out.read_text() != text: out.write_text(text)
    sys.exit(0)
