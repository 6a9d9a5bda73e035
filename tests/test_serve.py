"The real openai client against `steer serve` running in a subprocess on 127.0.0.1"
import json, os, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
import httpx, openai, pytest, torch
from steer.core import SteerError
from steer.generate import OpenAIGenerator
import steer.batch   # adds OpenAIGenerator.batch_generate
from steer.serve import free_port
from steer.vectors import SteeringVector, save_vector

MODEL = 'smollm2-135m-instruct'
ASK = dict(model=MODEL, messages=[{'role': 'user', 'content': 'Tell me about your day.'}], max_tokens=16, temperature=0)

@pytest.fixture(scope='module')
def server(tmp_path_factory):
    "`steer serve` in a subprocess, with a random steering direction at layer 10 in its vectors folder"
    folder = tmp_path_factory.mktemp('vectors')
    direction = torch.randn(576, generator=torch.Generator().manual_seed(0)) * 20 / 24
    save_vector(SteeringVector({10: direction}), folder/'random10', pickle_copy=False)
    port = free_port()
    # PASSIVE: torch's OpenMP threads sleep instead of spinning while waiting, which matters on a shared CPU
    env = {**os.environ, 'OMP_WAIT_POLICY': os.environ.get('OMP_WAIT_POLICY', 'PASSIVE')}
    cmd = [sys.executable, '-c', 'from steer.cli import main; main()', 'serve', '--port', str(port),
           '--vectors_dir', str(folder), '--test_faults']
    start = time.time()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f'http://127.0.0.1:{port}'
    try:
        while True:
            try:
                if httpx.get(f'{base}/v1/models', timeout=1).status_code == 200: break
            except httpx.HTTPError: pass
            if proc.poll() is not None: pytest.fail(f'steer serve exited: {proc.stdout.read()}')
            if time.time() - start > 90: pytest.fail('steer serve did not answer within 90 s')
            time.sleep(0.1)
        print(f'steer serve answered after {time.time() - start:.1f}s')
        yield base
    finally:
        proc.terminate()
        try: proc.wait(timeout=15)
        except subprocess.TimeoutExpired: proc.kill()

@pytest.fixture(scope='module')
def client(server): return openai.OpenAI(base_url=f'{server}/v1', api_key='EMPTY', max_retries=0, timeout=120)

@pytest.fixture(scope='module')
def plain(client): return client.chat.completions.create(**ASK).choices[0].message.content

def test_models_and_chat(client, plain):
    assert [m.id for m in client.models.list().data] == [MODEL]
    reply = client.chat.completions.create(**ASK)
    assert reply.choices[0].message.content == plain and plain.strip()
    assert reply.usage.completion_tokens == 16 and reply.choices[0].finish_reason == 'length'
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 16
    with pytest.raises(openai.NotFoundError): client.chat.completions.create(**{**ASK, 'model': 'gpt-4o'})
    with pytest.raises(openai.BadRequestError, match='temperature'): client.chat.completions.create(**{**ASK, 'temperature': -1})

def test_streaming(client, plain):
    chunks = list(client.chat.completions.create(**ASK, stream=True, stream_options={'include_usage': True}))
    pieces = [c.choices[0].delta.content or '' for c in chunks if c.choices]
    assert ''.join(pieces) == plain and len([p for p in pieces if p]) > 3
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == 'length'
    assert chunks[-1].usage.completion_tokens == 16
    text = ''.join(c.choices[0].text for c in client.completions.create(model=MODEL, prompt='The capital of France is', max_tokens=8,
                                                                          temperature=0, stream=True) if c.choices)
    assert text == client.completions.create(model=MODEL, prompt='The capital of France is', max_tokens=8, temperature=0).choices[0].text

def test_concurrent_requests_share_a_batch(server, client):
    prompts = ['Name a colour.', 'Name a fruit.', 'Name a city.', 'Name an animal.', 'Name a planet.', 'Name a river.']
    alone = [client.chat.completions.create(**{**ASK, 'messages': [{'role': 'user', 'content': p}], 'max_tokens': 8}).choices[0].message.content
             for p in prompts]
    before = httpx.get(f'{server}/stats').json()
    gen = OpenAIGenerator(MODEL, base_url=f'{server}/v1', concurrency=6)
    together = gen(prompts, max_new_tokens=8, progress=False)
    after = httpx.get(f'{server}/stats').json()
    assert together == alone                                   # each answer went back to its own request
    assert after['requests'] - before['requests'] == 6
    assert after['runs'] - before['runs'] < 6 and after['largest_run'] > 1   # ... and they were generated together
    assert gen.usage.requests == 6 and gen.usage.completion_tokens > 0 and gen.usage.cost is None

def test_steering_field_changes_the_output(client, plain):
    steer = lambda m: client.chat.completions.create(**ASK, extra_body={'steering': {'vector': 'random10', 'multiplier': m}}).choices[0].message.content
    steered = steer(4.0)
    assert steered != plain
    assert steer(0) == plain
    with ThreadPoolExecutor(2) as pool:                        # steered and plain requests at once: each keeps its own steering
        both = list(pool.map(lambda m: steer(m), [4.0, 0.0]))
    assert both == [steered, plain]
    with pytest.raises(openai.BadRequestError, match='known vectors: random10'):
        client.chat.completions.create(**ASK, extra_body={'steering': {'vector': 'no-such-vector'}})

def test_batch_workflow(server, tmp_path):
    gen = OpenAIGenerator(MODEL, base_url=f'{server}/v1')
    prompts = ['Name a colour.', 'Name a fruit.', [{'role': 'system', 'content': 'Answer in French.'}, {'role': 'user', 'content': 'Say hello.'}]]
    direct = gen.generate(prompts, max_new_tokens=8, progress=False)
    outs = gen.batch_generate(prompts, tmp_path/'requests.jsonl', max_new_tokens=8, poll_interval=0.1, progress=False)
    assert [o.text for o in outs] == [d.text for d in direct]
    state = json.loads((tmp_path/'requests.batch.json').read_text())
    assert state['status'] == 'completed' and state['batch_id'] and state['output_file_id']
    lines = [json.loads(l) for l in (tmp_path/'requests.results.jsonl').read_text().splitlines()]
    assert sorted(l['custom_id'] for l in lines) == ['request-0', 'request-1', 'request-2']
    n_batches = len(httpx.get(f'{server}/v1/batches').json()['data'])
    again = gen.batch_generate(prompts, tmp_path/'requests.jsonl', max_new_tokens=8, poll_interval=0.1, progress=False)
    assert [o.text for o in again] == [o.text for o in outs]   # resumed from the state file: no new batch
    assert len(httpx.get(f'{server}/v1/batches').json()['data']) == n_batches
    state.pop('batch_id')                                      # as if interrupted between creating the batch and recording it
    (tmp_path/'requests.batch.json').write_text(json.dumps(state))
    (tmp_path/'requests.results.jsonl').unlink()
    again = gen.batch_generate(prompts, tmp_path/'requests.jsonl', max_new_tokens=8, poll_interval=0.1, progress=False)
    assert [o.text for o in again] == [o.text for o in outs]   # found by its input file: still no new batch
    assert len(httpx.get(f'{server}/v1/batches').json()['data']) == n_batches
    with pytest.raises(SteerError, match='different requests'):
        gen.batch_generate(prompts[:2], tmp_path/'requests.jsonl', max_new_tokens=8, poll_interval=0.1, progress=False)

def test_client_retries_injected_429_and_500(server, plain):
    faults = lambda **kw: httpx.post(f'{server}/_test/faults', json=kw).json()
    gen = OpenAIGenerator(MODEL, base_url=f'{server}/v1', max_retries=3)
    ask = dict(max_new_tokens=16)
    faults(status=429, count=2, retry_after_ms=50)
    assert gen('Tell me about your day.', **ask) == plain
    assert httpx.get(f'{server}/_test/faults').json() == {'pending': 0, 'injected': 2}
    faults(status=500, count=2)                                # no Retry-After: the client's exponential backoff
    assert gen('Tell me about your day.', **ask) == plain
    assert httpx.get(f'{server}/_test/faults').json() == {'pending': 0, 'injected': 4}
    faults(status=500, count=3)
    with pytest.raises(SteerError, match='HTTP 500 after retries'):
        OpenAIGenerator(MODEL, base_url=f'{server}/v1', max_retries=1)('Tell me about your day.', **ask)
    assert httpx.get(f'{server}/_test/faults').json()['pending'] == 1
    faults(status=500, count=0)

def test_client_hanging_up_stops_its_rows(server, client, plain):
    "A streaming client that closes its connection frees the model: its row is cancelled, not generated to the end"
    stats = lambda: httpx.get(f'{server}/stats').json()
    before = stats()['cancelled_rows']
    story = {**ASK, 'max_tokens': 4096, 'messages': [{'role': 'user', 'content': 'Tell me a very long story about a lighthouse keeper.'}]}
    stream, pieces = client.chat.completions.create(**story, stream=True), 0
    for chunk in stream:
        pieces += bool(chunk.choices and chunk.choices[0].delta.content)
        if pieces >= 3: break
    stream.close()
    hung_up = time.time()
    while stats()['cancelled_rows'] == before:   # 4096 tokens would take minutes; the cancelled row stops at its next step
        assert time.time() - hung_up < 20, 'the abandoned row kept generating'
        time.sleep(0.1)
    print(f'row cancelled {time.time() - hung_up:.2f}s after the client hung up')
    assert client.chat.completions.create(**ASK).choices[0].message.content == plain   # and the server answers as before

def test_cli_error_is_one_line():
    out = subprocess.run([sys.executable, '-c', 'from steer.cli import main; main()', 'serve', '--vector', '/no/such.safetensors'],
                         capture_output=True, text=True)
    assert out.returncode == 2 and 'no such vector file' in out.stderr and 'Traceback' not in out.stderr
