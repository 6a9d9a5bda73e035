"JupyterLab as `make lab` starts it: notebooks listed over REST, one notebook executed through the server's kernel API"
import json, os, re, secrets, shlex, signal, socket, subprocess, sys, time, uuid
from pathlib import Path
from urllib.request import Request, urlopen
import pytest, websocket

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOTEBOOK = 'nbs/00_core.ipynb'  # small and fast; any notebook runs the same way


def _lab_command() -> list[str]:
    "The `lab` recipe of the Makefile, with $(BIN) expanded: the README's exploration command"
    make = (ROOT/'Makefile').read_text()
    recipe = re.search(r'^lab:.*\n\t(.+)$', make, re.M)
    assert recipe, 'Makefile has no lab target'
    return shlex.split(recipe.group(1).replace('$(BIN)', str(BIN)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


class Lab:
    "A running JupyterLab server and a small REST client for it"
    def __init__(self, proc, port, token): self.proc, self.base, self.token = proc, f'http://127.0.0.1:{port}', token

    def api(self, method, path, body=None, timeout=30):
        req = Request(self.base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                      headers={'Authorization': f'token {self.token}', 'Content-Type': 'application/json'})
        with urlopen(req, timeout=timeout) as r:
            data = r.read()
            return json.loads(data) if data else None


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    port, token = _free_port(), secrets.token_hex(16)
    cmd = _lab_command() + ['--no-browser', '--ServerApp.ip=127.0.0.1', f'--ServerApp.port={port}',
                            '--ServerApp.port_retries=0', f'--IdentityProvider.token={token}']
    if os.geteuid() == 0: cmd.append('--allow-root')  # CI containers run as root
    cfg = tmp_path_factory.mktemp('jupyter_config')
    env = {**{k: v for k, v in os.environ.items() if k != 'IN_TEST'}, 'JUPYTER_CONFIG_DIR': str(cfg)}
    log = open(cfg/'server.log', 'w')
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = Lab(proc, port, token)
    try:
        for _ in range(120):
            if proc.poll() is not None: pytest.fail(f'JupyterLab exited: {(cfg/"server.log").read_text()[-2000:]}')
            try: server.api('GET', '/api/status', timeout=2); break
            except OSError: time.sleep(0.5)
        else: pytest.fail('JupyterLab did not answer within 60 s')
        yield server
    finally:
        try: server.api('POST', '/api/shutdown', timeout=10)
        except OSError: pass
        try: proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM); proc.wait(timeout=10)
        log.close()


def test_lab_command_uses_the_project_kernel():
    cmd = _lab_command()
    assert cmd[:2] == [str(BIN/'jupyter'), 'lab']
    assert '--MappingKernelManager.default_kernel_name=steer' in cmd


def test_requires_the_token(lab):
    with pytest.raises(OSError) as e: urlopen(lab.base + '/api/contents/nbs', timeout=10)
    assert getattr(e.value, 'code', None) == 403


def test_contents_lists_the_notebooks(lab):
    listing = lab.api('GET', '/api/contents/nbs?content=1')
    assert listing['type'] == 'directory'
    listed = {item['name'] for item in listing['content'] if item['type'] == 'notebook'}
    on_disk = {p.name for p in (ROOT/'nbs').glob('*.ipynb')}
    assert listed == on_disk and len(listed) >= 5
    nb = lab.api('GET', '/api/contents/' + NOTEBOOK)
    assert nb['type'] == 'notebook' and nb['content']['cells']


def _execute(ws, session_id, code, timeout=120):
    "Run `code` on the kernel behind websocket `ws`; return (status, outputs)"
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        'header': {'msg_id': msg_id, 'username': 'test', 'session': session_id, 'msg_type': 'execute_request', 'version': '5.3'},
        'parent_header': {}, 'metadata': {}, 'channel': 'shell', 'buffers': [],
        'content': {'code': code, 'silent': False, 'store_history': True, 'user_expressions': {}, 'allow_stdin': False,
                    'stop_on_error': True}}))
    outputs, status, idle, deadline = [], None, False, time.time() + timeout
    while not (idle and status) and time.time() < deadline:
        msg = json.loads(ws.recv())
        if msg.get('parent_header', {}).get('msg_id') != msg_id: continue
        kind = msg['msg_type']
        if kind in ('stream', 'execute_result', 'display_data', 'error'): outputs.append((kind, msg['content']))
        elif kind == 'status' and msg['content']['execution_state'] == 'idle': idle = True
        elif kind == 'execute_reply': status = msg['content']['status']
    assert idle and status, f'no reply within {timeout} s for {code[:80]!r}'
    return status, outputs


def test_execute_a_notebook_through_the_kernel_api(lab):
    # what JupyterLab does when a notebook is opened: a session for its path, on the default (project) kernel
    session = lab.api('POST', '/api/sessions', {'path': NOTEBOOK, 'type': 'notebook', 'name': Path(NOTEBOOK).name})
    kernel = session['kernel']
    try:
        specs = lab.api('GET', '/api/kernelspecs')
        expected = 'steer' if 'steer' in specs['kernelspecs'] else specs['default']
        assert kernel['name'] == expected
        ws = websocket.create_connection(f"ws://127.0.0.1:{lab.base.rsplit(':', 1)[1]}/api/kernels/{kernel['id']}/channels"
                                         f"?session_id={session['id']}", header=[f'Authorization: token {lab.token}'], timeout=120)
        try:
            cells = lab.api('GET', '/api/contents/' + NOTEBOOK)['content']['cells']
            code_cells = [c['source'] for c in cells if c['cell_type'] == 'code' and not re.search(r'^#\|\s*eval:\s*false', c['source'], re.M)]
            for source in code_cells:
                status, outputs = _execute(ws, session['id'], source)
                errors = [o for k, o in outputs if k == 'error']
                assert status == 'ok' and not errors, f'cell {source[:80]!r} failed: {errors[:1]}'
            # the kernel runs in the project's environment, in the notebook's folder, with the notebook's state
            status, outputs = _execute(ws, session['id'], 'import sys, os, steer\n(sys.prefix, os.getcwd(), parse_layers("-1,-2", 30))')
            assert status == 'ok'
            result = eval(next(o['data']['text/plain'] for k, o in outputs if k == 'execute_result'))
            assert Path(result[0]).resolve() == Path(sys.prefix).resolve()
            assert Path(result[1]).resolve() == (ROOT/NOTEBOOK).parent.resolve()
            assert result[2] == [29, 28]
        finally: ws.close()
    finally:
        lab.api('DELETE', f"/api/sessions/{session['id']}")
    assert all(k['id'] != kernel['id'] for k in lab.api('GET', '/api/kernels'))


WIDGET_CELLS = [
    'import torch\nfrom steer.models import load_model\nfrom steer.vectors import SteeringVector\nfrom steer.interface import SteeringInterface',
    'model, tokenizer = load_model()\ntorch.manual_seed(0)\nd = model.config.hidden_size\n'
    'vec = SteeringVector({10: torch.randn(d), 12: 8 * torch.randn(d) / d ** 0.5})\n'
    'ui = SteeringInterface(model, tokenizer, vec, layers=[12], multiplier=4.0, max_new_tokens=8, prompt="Tell me about Mondays.")\nui',
]


@pytest.mark.skipif(not Path('/usr/bin/chromium').exists(), reason='Debian chromium is not installed at /usr/bin/chromium')
def test_widget_interface_renders_in_jupyterlab(lab, tmp_path):
    "Open a notebook showing steer.interface's panel in JupyterLab (headless Chromium), run it, press Generate"
    from playwright.sync_api import sync_playwright
    made_runs = not (ROOT/'runs').exists()
    if made_runs: lab.api('PUT', '/api/contents/runs', {'type': 'directory'})
    path = f'runs/lab_widget_check_{uuid.uuid4().hex[:8]}.ipynb'
    cells = [{'cell_type': 'code', 'source': s, 'metadata': {}, 'outputs': [], 'execution_count': None} for s in WIDGET_CELLS]
    nb = {'cells': cells, 'metadata': {'kernelspec': {'name': 'steer', 'display_name': 'steer (.venv)', 'language': 'python'}},
          'nbformat': 4, 'nbformat_minor': 5}
    lab.api('PUT', '/api/contents/' + path, {'type': 'notebook', 'format': 'json', 'content': nb})
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path='/usr/bin/chromium', args=['--no-sandbox', '--disable-gpu', '--disable-background-networking'])
            page = browser.new_page(viewport={'width': 1400, 'height': 1000})
            page.goto(f'{lab.base}/lab/tree/{path}?token={lab.token}')
            page.wait_for_selector('.jp-Notebook .jp-Cell', timeout=60_000)
            # the status bar shows the notebook's kernel, the project's, once it is up
            page.wait_for_selector('.jp-StatusBar-TextItem:has-text("steer (.venv) | Idle")', timeout=90_000)
            page.click('.lm-MenuBar-itemLabel:text-is("Run")')
            page.click('.lm-Menu-itemLabel:text-is("Run All Cells")')
            try: button = page.wait_for_selector('.jupyter-widgets button:has-text("Generate")', timeout=120_000)
            finally: page.screenshot(path=str(tmp_path/'jupyterlab_interface_ready.png'))
            assert page.query_selector('.widget-slider, .jupyter-widgets .slider-container, .widget-hslider'), 'no multiplier slider'
            assert 'at layer 12' not in page.inner_text('.jp-OutputArea'), 'the answers appear only after Generate'
            button.click()
            page.wait_for_selector('.jupyter-widgets :text("at layer 12")', timeout=120_000)
            page.screenshot(path=str(tmp_path/'jupyterlab_interface.png'), full_page=True)
            errors = page.query_selector_all('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
            assert not [e.inner_text() for e in errors if 'Error' in e.inner_text()]
            browser.close()
    finally:
        for s in lab.api('GET', '/api/sessions'):
            if s['path'].endswith(Path(path).name): lab.api('DELETE', f"/api/sessions/{s['id']}")
        lab.api('DELETE', '/api/contents/' + path)
        if made_runs: lab.api('DELETE', '/api/contents/runs')
