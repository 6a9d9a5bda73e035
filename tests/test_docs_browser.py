"The docs site as a reader sees it: built by the README's docs command, served on 127.0.0.1, read in headless Chromium"
import functools, http.server, json, os, re, shutil, subprocess, sys, threading
from pathlib import Path
from urllib.parse import urljoin, urlparse
import nbformat, pytest
from steer.docs import flat_pages, front_matter, page_name, sidebar_entries

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM = Path('/usr/bin/chromium')
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason='Debian chromium is not installed at /usr/bin/chromium')


def _notebooks(site):
    "The notebooks the site was built from (each one is a page); those with `#| default_exp` are module pages"
    out = {}
    for p in sorted((site.parent/'nbs').glob('*.ipynb')):
        src = '\n'.join(''.join(c['source']) for c in json.loads(p.read_text())['cells'] if c['cell_type'] == 'code')
        m = re.search(r'^#\|\s*default_exp\s+(\S+)', src, re.M)
        out[p.name] = m.group(1) if m else None
    return out


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "Build the docs with `steer docs` (what `make docs` runs) in a copy of the repository's notebooks and settings"
    if os.environ.get('STEER_DOCS_SITE'): return Path(os.environ['STEER_DOCS_SITE'])
    repo = tmp_path_factory.mktemp('docs_repo')
    for name in ['settings.ini', '_quarto.yml', 'setup.py']: shutil.copy2(ROOT/name, repo/name)
    shutil.copytree(ROOT/'nbs', repo/'nbs', symlinks=True, ignore=shutil.ignore_patterns('.ipynb_checkpoints', 'runs'))
    (repo/'data').symlink_to(ROOT/'data')  # cells executed for the docs read the repository's data
    env = {k: v for k, v in os.environ.items() if k != 'IN_TEST'}
    out = subprocess.run([str(BIN/'steer'), 'docs'], cwd=repo, capture_output=True, text=True, env=env, timeout=900)
    if out.returncode != 0:
        error = [l for l in out.stderr.splitlines() if l.startswith('steer docs: error')] or [out.stderr[-2000:]]
        mixed = re.findall(r'Found cells containing imports and other code. See FAQ.\n---\n(.*)\n', out.stderr)
        pytest.fail(f"{error[0]}\n(nbdev executes every cell with an import while building the docs; cells mixing "
                    f"imports with other code: {sorted(set(mixed))})")
    return repo/'_docs'


@pytest.fixture(scope='module')
def server(site):
    handler = functools.partial(type('Quiet', (http.server.SimpleHTTPRequestHandler,), {'log_message': lambda *a: None}), directory=str(site))
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{srv.server_address[1]}/'
    srv.shutdown(); srv.server_close()


@pytest.fixture(scope='module')
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=['--no-sandbox', '--disable-gpu', '--disable-background-networking'])
        yield b
        b.close()


@pytest.fixture(scope='module')
def pages(site, server, browser, tmp_path_factory):
    "Every page reached from the index's sidebar: what the reader sees on it, and a screenshot"
    shots = tmp_path_factory.mktemp('screenshots')
    page = browser.new_page(viewport={'width': 1280, 'height': 900})
    problems = []
    page.on('pageerror', lambda e: problems.append(f'{page.url}: {e}'))
    # offline, a CDN script (the widgets' html-manager) cannot load: only local failures count
    local = lambda url: urlparse(url).hostname == '127.0.0.1'
    page.on('console', lambda m: m.type == 'error' and not m.text.startswith('Failed to load resource: net::ERR_NAME')
            and problems.append(f'{page.url}: console: {m.text}'))
    page.on('requestfailed', lambda r: local(r.url) and problems.append(f'{page.url}: request failed: {r.url}'))
    page.on('response', lambda r: local(r.url) and r.status >= 400 and problems.append(f'{page.url}: {r.status} {r.url}'))
    resp = page.goto(server + 'index.html')
    assert resp.status == 200
    nav = page.eval_on_selector_all('nav.sidebar li:not(.section) > a', 'els => els.map(a => [a.textContent.trim(), a.getAttribute("href")])')
    seen = {}
    for title, href in nav:
        resp = page.goto(urljoin(server, href))
        assert resp.status == 200, href
        page.screenshot(path=str(shots/f'{Path(href).stem}.png'), full_page=True)
        seen[href] = page.evaluate('''() => ({
            title: document.querySelector('h1.title')?.textContent.trim(),
            nav: [...document.querySelectorAll('nav.sidebar li:not(.section) > a')].map(a => a.getAttribute('href')),
            active: [...document.querySelectorAll('nav.sidebar li.active > a')].map(a => a.getAttribute('href')),
            text: document.body.innerText,
            signatures: [...document.querySelectorAll('.jp-RenderedMarkdown pre')].map(p => p.textContent)
                        .filter(t => /^\\s*(async\\s+)?(def|class)\\s+\\w+/.test(t)),
            plots: [...document.querySelectorAll('.jp-OutputArea-output img')]
                        .filter(i => i.src.startsWith('data:image/') && i.complete && i.naturalWidth > 50).length,
            prompts: document.querySelectorAll('.jp-InputPrompt, .jp-OutputPrompt').length,
            errors: [...document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.innerText)
                        .filter(t => /Traceback|^\\w*(Error|Exception)\\b/m.test(t)),
            code: [...document.querySelectorAll('.jp-InputArea pre')].map(p => p.textContent),
            outputs: [...document.querySelectorAll('.jp-OutputArea')].map(o => o.innerText),
            links: [...document.querySelectorAll('main a[href]')].map(a => a.getAttribute('href')),
            ids: [...document.querySelectorAll('[id]')].map(e => e.id),
        })''')
    page.close()
    return {'nav': nav, 'pages': seen, 'problems': problems, 'shots': shots}


def test_navigation_lists_every_page_in_sidebar_order(pages, site):
    notebooks = _notebooks(site)
    hrefs = [h for _, h in pages['nav']]
    assert len(hrefs) == len(notebooks), f'{len(notebooks)} notebooks in nbs/, sidebar lists {hrefs}'
    assert hrefs[0] == 'index.html' or 'index.ipynb' not in notebooks
    proc = site.parent/'_proc'
    if (proc/'sidebar.yml').exists():  # the order of nbdev's sidebar.yml, pages named by their front matter
        order = [page_name(f, front_matter(nbformat.read(f, as_version=4))) for f in flat_pages(sidebar_entries(proc))]
        assert hrefs == order
    for href, seen in pages['pages'].items():
        assert seen['nav'] == hrefs, f'{href}: its sidebar differs from the index page'
        assert seen['active'] == [href], f'{href}: the current page is not marked'
        assert seen['title'], f'{href}: no title'


def test_titles_from_front_matter_and_no_raw_markup(pages):
    titles = [t for t, _ in pages['nav']]
    assert len(set(titles)) == len(titles), titles
    for href, seen in pages['pages'].items():
        text = seen['text']
        assert seen['prompts'] == 0 and not re.search(r'^\s*(In|Out)\s*\[\s*\d*\s*\]:', text, re.M), f'{href}: shows prompts'
        for code in seen['code']:
            assert not re.search(r'^\s*#\|', code, re.M), f'{href}: shows #| directives in {code[:80]!r}'
            assert not code.lstrip().startswith('show_doc('), f'{href}: shows a show_doc call'
        assert not re.search(r'^(output-file|title|description):', text, re.M), f'{href}: shows the raw front matter'


def test_every_module_page_has_a_signature(pages, site):
    modules = {nb: m for nb, m in _notebooks(site).items() if m}
    by_title = {}
    for href, seen in pages['pages'].items(): by_title[href] = seen
    assert len(modules) >= 1
    for nb, module in modules.items():
        matches = [h for h, s in by_title.items() if h in (f'{module}.html', f'{Path(nb).stem}.html')]
        assert matches, f'{nb}: no page for module {module}'
        sigs = by_title[matches[0]]['signatures']
        assert sigs, f'{matches[0]}: no function signature (show_doc) on the page of steer.{module}'


def test_at_least_one_plot(pages):
    plots = {h: s['plots'] for h, s in pages['pages'].items() if s['plots']}
    assert plots, ('no page shows a plot: notebooks in nbs/ are stored without outputs, so a plot reaches the docs '
                   'when nbdev executes its cell while processing; mark a small plotting example `#| exec_doc`')


def test_no_errors_or_tracebacks(pages):
    for href, seen in pages['pages'].items():
        assert not seen['errors'], f'{href}: error output {seen["errors"][0][:300]}'
        assert not any('Traceback (most recent call last)' in o for o in seen['outputs']), href
    assert not pages['problems'], pages['problems'][:5]


def test_internal_links_resolve(pages):
    ids = {h: set(s['ids']) for h, s in pages['pages'].items()}
    for href, seen in pages['pages'].items():
        for link in seen['links']:
            u = urlparse(link)
            if u.scheme or u.netloc or link.startswith('mailto:'): continue
            target = u.path or href
            if not target.endswith('.html'): continue
            assert target in ids, f'{href}: link to missing page {link}'
            # nbdev links every exported name (`Class.method` too), but only names with a show_doc heading have an
            # anchor: where a heading exists, in any case, the link must land on it
            if u.fragment and u.fragment.lower() in {i.lower() for i in ids[target]}:
                assert u.fragment in ids[target], f'{href}: link {link} misses the anchor of its heading'


def test_screenshots_saved(pages):
    shots = sorted(pages['shots'].glob('*.png'))
    assert len(shots) == len(pages['nav']) and all(p.stat().st_size > 5000 for p in shots)
