"Headless runs: `steer run` and plain `papermill` on a parameterised notebook, failures, secrets, and the repo's pipeline notebooks"
import ast, json, os, re, subprocess, sys
from pathlib import Path
import nbformat, pytest
from nbformat.v4 import new_notebook, new_code_cell, new_markdown_cell
from steer.run import is_secret_name, notebook_parameters, parameters_cells, kernel_name

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FAKE_KEY = 'sk-test-' + 'a1b2c3d4e5f6' * 3


def _env(**extra):
    return {**os.environ, 'OPENAI_API_KEY': FAKE_KEY, 'PYTHONWARNINGS': 'ignore', **extra}


def _run(*args, cwd=None):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=_env(), timeout=300)


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    "A folder with a small parameterised notebook (with a plot, and a careless cell that prints the API key)"
    d = tmp_path_factory.mktemp('run')
    params = new_code_cell('n = 3\nscale = 0.5\nlabel = "squares"\nshow = False')
    params.metadata['tags'] = ['parameters']
    nb = new_notebook(cells=[
        new_markdown_cell('# Small\n> a parameterised notebook'),
        new_code_cell('import os\nimport matplotlib.pyplot as plt'),
        params,
        new_code_cell('values = [i * i * scale for i in range(n)]\nprint(label, values, type(n).__name__, type(scale).__name__, show)'),
        new_code_cell('fig, ax = plt.subplots()\nax.plot(values)\nplt.show()'),
        new_code_cell('print("using key", os.environ.get("OPENAI_API_KEY"))'),
    ])
    nbformat.write(nb, d/'small.ipynb')
    nb.cells.append(new_code_cell('#| export\nassert len(values) > 10, f"only {len(values)} values"'))
    nbformat.write(nb, d/'failing.ipynb')
    return d


def _cell(nb, start):
    "The code cell whose source starts with `start`"
    return next(c for c in nb.cells if c.cell_type == 'code' and c.source.startswith(start))


def _stdout(nb, start='values ='):
    return ''.join(o.get('text', '') for o in _cell(nb, start).outputs if o.output_type == 'stream')


def test_steer_run_executes_with_typed_parameters(work):
    out = _run(BIN/'steer', 'run', work/'small.ipynb', '-p', 'n', '5', '-p', 'scale', '2.0', '-p', 'label', 'sq',
               '-p', 'show', 'True', cwd=work)
    assert out.returncode == 0, out.stderr
    path = work/out.stdout.strip()
    assert path.parent == work/'runs' and re.fullmatch(r'small_\d{8}_\d{6}(_\d+)?\.ipynb', path.name), path
    nb = nbformat.read(path, as_version=4)
    # papermill's injected cell follows the parameters cell; the run section saw typed values
    assert 'injected-parameters' in nb.cells[3].metadata.tags
    assert _stdout(nb) == "sq [0.0, 2.0, 8.0, 18.0, 32.0] int float True\n"
    assert any('image/png' in o.get('data', {}) for o in _cell(nb, 'fig,').outputs), 'the plot is in the executed notebook'
    assert nb.metadata.papermill.parameters == {'n': 5, 'scale': 2.0, 'label': 'sq', 'show': True}
    assert nb.metadata.kernelspec.name == kernel_name()


def test_negative_and_list_values(work):
    "Values that start with '-' (multipliers '-4,0,4', layers '-1,-2') are values, not options"
    target = work/'runs'/'negative.ipynb'
    out = _run(BIN/'steer', 'run', work/'small.ipynb', '-p', 'label', '-4,0,4', '-p', 'scale', '-0.5', '-p', 'n', '2',
               '--output', target, cwd=work)
    assert out.returncode == 0, out.stderr
    assert _stdout(nbformat.read(target, as_version=4)) == "-4,0,4 [-0.0, -0.5] int float False\n"


def test_steer_run_output_option(work):
    target = work/'chosen'/'small_run.ipynb'
    out = _run(BIN/'steer', 'run', work/'small.ipynb', '--output', target, cwd=work)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == target and target.exists()
    nb = nbformat.read(target, as_version=4)
    assert _stdout(nb) == "squares [0.0, 0.5, 2.0] int float False\n"
    assert nb.metadata.papermill.output_path == str(target) and nb.metadata.papermill.parameters == {}


def test_papermill_directly(work):
    target = work/'runs'/'papermill_small.ipynb'
    out = _run(BIN/'papermill', work/'small.ipynb', target, '-k', kernel_name(), '--language', 'python', '-p', 'n', '4', '-p', 'label', 'pm', cwd=work)
    assert out.returncode == 0, out.stderr
    assert _stdout(nbformat.read(target, as_version=4)) == "pm [0.0, 0.5, 2.0, 4.5] int float False\n"


def test_list_parameters(work):
    out = _run(BIN/'steer', 'run', work/'small.ipynb', '--list-parameters', cwd=work)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ['-p n 3', '-p scale 0.5', '-p label "squares"', '-p show False']


def test_failing_cell_exits_nonzero_naming_the_cell(work):
    target = work/'runs'/'failing_run.ipynb'
    out = _run(BIN/'steer', 'run', work/'failing.ipynb', '--output', target, cwd=work)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    error = [l for l in lines if 'error:' in l]
    assert len(error) == 1 and 'Traceback' not in out.stderr, out.stderr
    assert "cell 6 ('assert len(values) > 10, f\"only {len(values)} values\"') failed: AssertionError: only 3 values" in error[0]
    assert target.exists(), 'the executed notebook is kept for reading'


def test_secret_parameter_refused(work):
    for name in ['openai_api_key', 'hf_token']:  # the naming rule itself is tested in nbs/91_run.ipynb
        out = _run(BIN/'steer', 'run', work/'small.ipynb', '-p', name, 'abc', '--output', work/'refused.ipynb', cwd=work)
        assert out.returncode == 2
        assert 'looks like a secret' in out.stderr and f'environment variable (e.g. {name.upper()})' in out.stderr
    out = _run(BIN/'steer', 'run', work/'small.ipynb', '-p', 'label', FAKE_KEY, '--output', work/'refused.ipynb', cwd=work)
    assert out.returncode == 2 and '$OPENAI_API_KEY' in out.stderr and FAKE_KEY not in out.stderr
    assert not (work/'refused.ipynb').exists()


def test_no_executed_notebook_contains_the_key(work):
    "Runs above had OPENAI_API_KEY set and a cell printing it: `steer run` outputs must not contain it"
    runs = [p for p in (work/'runs').glob('*.ipynb') if p.name != 'papermill_small.ipynb'] + [work/'chosen'/'small_run.ipynb']
    assert len(runs) >= 3
    for path in runs:
        text = path.read_text()
        assert FAKE_KEY not in text, path
        assert 'os.environ' in text
    assert '[redacted $OPENAI_API_KEY]' in (work/'chosen'/'small_run.ipynb').read_text()
    # plain papermill has no such guard: the same notebook leaks the key, which is why steer run scrubs it
    assert FAKE_KEY in (work/'runs'/'papermill_small.ipynb').read_text()


# The repository's pipeline notebooks: every notebook with a `parameters` cell, found afresh at each run.
PIPELINE = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if parameters_cells(p))


def _params_source(path):
    nb = json.loads(path.read_text())
    return ''.join(nb['cells'][parameters_cells(path)[0]]['source'])


@pytest.mark.parametrize('path', PIPELINE, ids=[p.stem for p in PIPELINE])
def test_pipeline_notebook_parameters(path):
    "One `parameters` cell after the exported code, only plain assignments, nothing derived, no secrets"
    assert len(parameters_cells(path)) == 1, f'{path.name}: more than one cell tagged parameters'
    params = notebook_parameters(path)
    assert params, f'{path.name}: papermill finds no parameters'
    for name in params: assert not is_secret_name(name), f'{path.name}: parameter {name} looks like a secret'
    tree = ast.parse('\n'.join(l for l in _params_source(path).splitlines() if not l.lstrip().startswith('#|')))
    for stmt in tree.body:
        assert isinstance(stmt, (ast.Assign, ast.AnnAssign)), f'{path.name}: parameters cell has a non-assignment: {ast.unparse(stmt)}'
        used = {n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)} if stmt.value else set()
        assert not used & set(params), f'{path.name}: {ast.unparse(stmt)} is computed from another parameter'
    nb = json.loads(path.read_text())
    exports = [i for i, c in enumerate(nb['cells']) if c['cell_type'] == 'code' and re.search(r'^#\|\s*export', ''.join(c['source']), re.M)]
    if exports: assert parameters_cells(path)[0] > max(exports), f'{path.name}: parameters cell comes before exported code'


def test_parameters_tag_survives_nbdev_clean(work, tmp_path):
    "nbdev_clean (run by check-sync) keeps the `parameters` tag papermill needs"
    copy = tmp_path/'small.ipynb'
    copy.write_text((work/'small.ipynb').read_text())
    out = subprocess.run([str(BIN/'nbdev_clean'), '--fname', str(copy)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert parameters_cells(copy) == [2]
