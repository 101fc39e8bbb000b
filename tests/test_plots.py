"The figures as the pipeline draws them from the committed runs: one colour per method, the paper's points, CAM colormaps, signs."
import os
from pathlib import Path
import numpy as np
import pytest
import matplotlib
matplotlib.use('Agg')
from csa_nb import plots, pipeline
from csa_nb.experiments import PAPER_TABLE1

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / 'outputs'
IMAGES = Path(os.environ.get('CSA_DATA_MIRROR') or '/nonexistent') / 'cifar10-jpeg.tar.gz'
cifar = pytest.mark.skipif(not IMAGES.exists(), reason='the committed CIFAR runs name the image-folder copy of CIFAR-10 in the data mirror')

@pytest.fixture
def drawn(monkeypatch):
    "Build a pipeline figure from the committed runs and return the figure object instead of writing the PNG."
    figs = []
    monkeypatch.setattr(plots, 'save_figure', lambda fig, path, dpi=120: figs.append(fig) or Path(path))
    def build(name, **kw):
        figs.clear(); pipeline.TARGETS[name].build('cpu', OUT, **kw); return list(figs)
    return build

def stars(ax): return [(float(l.get_xdata()[0]), float(l.get_ydata()[0])) for l in ax.lines if l.get_marker() == '*']

def test_fig4_colours_by_method_and_references(drawn):
    fig, = drawn('fig4')
    for ax in fig.axes[:2]:   # per-class panels: CE, cRT, CB-RS in their own colours
        assert [l.get_color() for l in ax.lines] == [plots.METHOD_COLOUR[m] for m in ('ce', 'crt', 'cb-rs')]
        assert ax.get_legend() is None                          # the legend sits below the panels
    ref = sorted(y for _, y in stars(fig.axes[2]))
    want = sorted([*(v[0] for v in PAPER_TABLE1['mnist-lt'].values()), 39.07, 52.19, 31.40])   # CMNIST-LT: the authors' notebook
    assert ref == pytest.approx(want)

@cifar
def test_same_method_same_colour_in_fig1_fig9(drawn):
    f1, = drawn('fig1', cifar10_images=str(IMAGES)); f9, = drawn('fig9', cifar10_images=str(IMAGES))
    rs = plots.METHOD_COLOUR['rs-gamma']
    assert {l.get_color() for ax in f1.axes for l in ax.lines if l.get_marker() != '*'} == {rs}
    curves = [l for l in f9.axes[0].lines if l.get_marker() != '*']
    assert [l.get_color() for l in curves] == [rs, plots.METHOD_COLOUR['csa'], plots.METHOD_COLOUR['csa']]
    assert [l.get_linestyle() for l in curves] == ['-', '-', '--']   # the ensemble of both heads is dashed
    # CSA is drawn in the same colour by the per-class figure as by Figure 9
    pc = plots.fig_methods_per_class({'x': {'csa': [[50, 60]]}}, {'x': {'csa': [55]}}, methods=('csa',), refs=False)
    assert pc.axes[0].lines[0].get_color() == curves[1].get_color()
    # the paper's points: MNIST-LT All at gamma 0 (CE) and 1 (CB-RS); the CIFAR-10-LT panels of the `cpu` profile are
    # 30-epoch runs, and the paper's Table 2 values (200 epochs) are not drawn beside them
    assert stars(f1.axes[0]) == [(0.0, 65.8), (1.0, 90.8)] and stars(f1.axes[1]) == []
    assert '30 epochs' in f9.axes[0].get_title() + f9._suptitle.get_text() and stars(f9.axes[0]) == [] and stars(f9.axes[2]) == []

@cifar
def test_fig3_cam_colormap_and_signs(drawn):
    fig, = drawn('fig3', cifar10_images=str(IMAGES))
    overlays = [im for ax in fig.axes for im in ax.images[1:]]
    assert len(overlays) == 30 and {im.get_cmap().name for im in overlays} == {plots.CAM_CMAP} and plots.CAM_CMAP != 'jet'
    assert fig.axes[-1]._colorbar.cmap.name == plots.CAM_CMAP
    spec = pipeline.fig_models_runs('cpu', str(IMAGES))['ce']
    z = np.load(pipeline._store(OUT).run_dir(spec) / 'gradcam.npz')
    first = np.unique(z['labels'], return_index=True)[1]
    right = z['uniform_pred'][first] == z['labels'][first]
    titles = [fig.axes[10 + i].get_title() for i in range(10)]   # the CE row
    assert [t.startswith(plots.RIGHT) for t in titles] == list(right) and all(t[0] in (plots.RIGHT, plots.WRONG) for t in titles)

@cifar
def test_csa_examples_mask_colormap(drawn):
    fig, = drawn('csa_examples', cifar10_images=str(IMAGES))
    n = len([ax for ax in fig.axes if ax.images]) // 5
    assert {ax.images[0].get_cmap().name for ax in fig.axes[n:2 * n]} == {plots.CAM_CMAP}
    assert fig.axes[-1]._colorbar.cmap.name == plots.CAM_CMAP

def test_committed_figures_complete_and_small():
    pngs = {p.stem: p.stat().st_size for p in (OUT / 'figures').glob('*.png')}
    assert set(pngs) == set(pipeline.figure_captions())
    assert max(pngs.values()) < 300_000, pngs
