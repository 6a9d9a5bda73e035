"`steer serve` under load and without trust: many clients, an API key, refusals, and a batch that survives SIGKILL"
import importlib.util, json, time
import httpx, openai, pytest
from harness import STEER, Proc, run, start_server, stop_server, whole_lines

MODEL = 'smollm2-135m-instruct'

def load_benchmark(root):
    spec = importlib.util.spec_from_file_location('serve_load', root/'benchmarks'/'serve_load.py')
    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
    return module

def test_eight_clients_for_ten_seconds_get_no_errors(root, steer_server):
    "The load benchmark's driver, shortened: mixed chat/completions, streamed and not, real openai clients"
    result = load_benchmark(root).drive(steer_server, clients=8, seconds=10, max_tokens=8)
    print(result)
    assert result['errors'] == 0, result['error_samples']
    assert result['requests'] >= 8 and result['completion_tokens'] > 0

def test_api_key_guards_every_route_and_never_shows(tmp_path):
    key = 'sk-steer-test-7f3a9c'
    base, proc = start_server(env={'STEER_SERVE_API_KEY': key})
    try:
        for path in ('/v1/models', '/stats', '/v1/files', '/v1/batches', '/docs', '/openapi.json'):
            assert httpx.get(base + path).status_code == 401, path
            assert httpx.get(base + path, headers={'Authorization': 'Bearer wrong'}).status_code == 401, path
        denied = httpx.post(base + '/v1/chat/completions', json={'model': MODEL, 'messages': [{'role': 'user', 'content': 'Hi'}]})
        assert denied.status_code == 401 and denied.json()['error']['code'] == 'invalid_api_key'
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=base + '/v1', api_key='EMPTY', max_retries=0).models.list()
        client = openai.OpenAI(base_url=base + '/v1', api_key=key, max_retries=0)
        assert client.chat.completions.create(model=MODEL, messages=[{'role': 'user', 'content': 'Hi'}], max_tokens=4).choices[0].message.content
        stats = httpx.get(base + '/stats', headers={'Authorization': f'Bearer {key}'})
        assert stats.status_code == 200 and key not in stats.text
    finally: stop_server(proc)
    assert key not in proc.output                             # nor in what the server printed

def test_exposed_host_without_key_is_refused():
    p = run(STEER + ['serve', '--host', '0.0.0.0', '--port', '1'], env={'STEER_SERVE_API_KEY': ''})
    assert p.proc.returncode == 2 and 'Traceback' not in p.output
    assert p.output.strip().splitlines() == ["steer serve: error: refusing to serve on 0.0.0.0 without an API key: set STEER_SERVE_API_KEY "
                                             "(or --api-key), or pass --allow-unauthenticated to expose the model to anyone who can reach this port"]

def wait_batch(client, bid, status, timeout=600):
    start = time.time()
    while (b := client.batches.retrieve(bid)).status != status:
        assert b.status not in ('failed', 'cancelled', 'expired') or b.status == status, b
        assert time.time() - start < timeout, f'batch still {b.status}'
        time.sleep(0.2)
    return b

def test_batch_survives_sigkill_with_files_dir(tmp_path):
    "Killed in the middle of a batch, the server comes back on the same --files-dir and finishes it: every request answered once"
    files = tmp_path/'files'
    base, proc = start_server('--files-dir', str(files), '--batch-size', '2')
    n = 10
    lines = [{'custom_id': f'q{i}', 'method': 'POST', 'url': '/v1/chat/completions',
              'body': {'model': MODEL, 'messages': [{'role': 'user', 'content': f'Tell me a story about the number {i}.'}],
                       'max_tokens': 24, 'temperature': 0}} for i in range(n)]
    (tmp_path/'requests.jsonl').write_text(''.join(json.dumps(l) + '\n' for l in lines))
    client = openai.OpenAI(base_url=base + '/v1', api_key='EMPTY', max_retries=2)
    try:
        upload = client.files.create(file=open(tmp_path/'requests.jsonl', 'rb'), purpose='batch')
        batch = client.batches.create(input_file_id=upload.id, endpoint='/v1/chat/completions', completion_window='24h')
        results = files/'batches'/f'{batch.id}.results.jsonl'
        proc.wait_for(lambda: whole_lines(results) >= 2, what='two answered requests')
        proc.kill9()
        answered_before = whole_lines(results)
        assert answered_before < n, 'the batch finished before the kill; make it longer'
        state = json.loads((files/'batches'/f'{batch.id}.json').read_text())
        assert state['status'] == 'in_progress'
        base, proc = start_server('--files-dir', str(files), '--batch-size', '2')      # the same folder, a new server
        client = openai.OpenAI(base_url=base + '/v1', api_key='EMPTY', max_retries=2)
        done = wait_batch(client, batch.id, 'completed')
        assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (n, n, 0)
        out = [json.loads(l) for l in client.files.content(done.output_file_id).text.splitlines()]
        assert [o['custom_id'] for o in out] == [f'q{i}' for i in range(n)]           # each request once, in input order
        assert all(o['response']['status_code'] == 200 and o['response']['body']['choices'][0]['message']['content'] for o in out)
        assert client.files.retrieve(upload.id).filename == 'requests.jsonl'          # the upload survived too
        print(f'{answered_before} of {n} answered before the kill, the rest after the restart')
    finally: stop_server(proc)
    assert (files/'files'/upload.id).exists()

def test_refusals_are_openai_400s(steer_server):
    ask = {'model': MODEL, 'messages': [{'role': 'user', 'content': 'Hi'}]}
    cases = [({**ask, 'max_tokens': 10**6}, 'max_tokens'), ({**ask, 'n': 99}, 'n must be'),
             ({'model': MODEL, 'prompt': ['x'] * 1000}, 'texts this server takes at once')]
    for body, words in cases:
        endpoint = '/v1/completions' if 'prompt' in body else '/v1/chat/completions'
        r = httpx.post(steer_server + endpoint, json=body)
        assert r.status_code == 400 and words in r.json()['error']['message'], (body.keys(), r.text)
    big = httpx.post(steer_server + '/v1/chat/completions', content=b'{"pad": "' + b'x' * (5 * 2**20) + b'"}', headers={'content-type': 'application/json'})
    assert big.status_code == 400 and big.json()['error']['code'] == 'body_too_large'
    for fid in ('..%2F..%2Fetc%2Fpasswd', 'file-' + '0' * 24, '.', 'file-../x'):
        assert httpx.get(f'{steer_server}/v1/files/{fid}/content').status_code == 404, fid
