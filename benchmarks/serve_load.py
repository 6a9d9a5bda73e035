"""`steer serve` under load: many real openai clients at once, for a fixed time.

Starts `steer serve` on 127.0.0.1 (a subprocess, the embedded model, a random steering vector in its vectors
folder), then drives N concurrent clients — each its own `openai.OpenAI` — for S seconds with a seeded mix of
requests: chat and text completions, streamed and not, greedy and sampled, about one in eight steered. Prints
requests served, errors (target 0), p50/p95/p99 latency, generated tokens/s, 429s the clients absorbed by
retrying, and the server's RSS at 10 s and at the end (target: growth < 10%).

Usage: .venv/bin/python benchmarks/serve_load.py [--clients 32] [--seconds 60] [--max-tokens 16] [--json out.json]
"""
import argparse, json, os, random, statistics, sys, tempfile, threading, time
from pathlib import Path
import httpx, openai, torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tests'))
from harness import start_server, stop_server   # the same launcher the tests use
from steer.vectors import SteeringVector, save_vector

MODEL = 'smollm2-135m-instruct'
TOPICS = ['the sea', 'coffee', 'rain', 'a library', 'trains', 'the moon', 'bread', 'a violin', 'winter', 'chess', 'owls', 'maps']

def rss_mb(pid:int) -> float:
    "Resident memory of a process, MB"
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'): return int(line.split()[1]) / 1024
    return float('nan')

def one_request(client, rng:random.Random, max_tokens:int) -> int:
    "Send one request of a random kind; return the completion tokens it got"
    topic, kind = rng.choice(TOPICS), rng.random()
    sampling = {'temperature': 0} if rng.random() < 0.7 else {'temperature': 0.8, 'seed': rng.randrange(1000)}
    extra = {'extra_body': {'steering': {'vector': 'random10', 'multiplier': 2.0}}} if rng.random() < 0.125 else {}
    if kind < 0.5:
        reply = client.chat.completions.create(model=MODEL, messages=[{'role': 'user', 'content': f'Write one sentence about {topic}.'}],
                                               max_tokens=max_tokens, **sampling, **extra)
        return reply.usage.completion_tokens
    if kind < 0.75:
        stream = client.chat.completions.create(model=MODEL, messages=[{'role': 'user', 'content': f'What do you like about {topic}?'}],
                                                max_tokens=max_tokens, stream=True, stream_options={'include_usage': True}, **sampling, **extra)
        return [c for c in stream][-1].usage.completion_tokens
    if kind < 0.9:
        return client.completions.create(model=MODEL, prompt=f'A short note about {topic}:', max_tokens=max_tokens, **sampling, **extra).usage.completion_tokens
    stream = client.completions.create(model=MODEL, prompt=f'The best thing about {topic} is', max_tokens=max_tokens, stream=True,
                                       stream_options={'include_usage': True}, **sampling, **extra)
    return [c for c in stream][-1].usage.completion_tokens

def drive(base:str, clients:int, seconds:float, max_tokens:int=16, seed:int=0, on_tick=None) -> dict:
    "Run `clients` threads sending requests to `base` for `seconds`; latencies, tokens and errors"
    latencies, tokens, errors, lock = [], [0], [], threading.Lock()
    stop_at = time.time() + seconds
    def worker(i):
        client = openai.OpenAI(base_url=f'{base}/v1', api_key=os.environ.get('STEER_SERVE_API_KEY', 'EMPTY'), max_retries=20, timeout=300)
        rng = random.Random(seed * 1000 + i)
        while time.time() < stop_at:
            start = time.perf_counter()
            try: n = one_request(client, rng, max_tokens)
            except Exception as e:
                with lock: errors.append(f'{type(e).__name__}: {str(e)[:200]}')
                continue
            with lock: latencies.append(time.perf_counter() - start); tokens[0] += n
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    start = time.time()
    for t in threads: t.start()
    while any(t.is_alive() for t in threads):
        if on_tick: on_tick(time.time() - start)
        time.sleep(0.5)
    wall = time.time() - start
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float('nan')] * 99
    return {'clients': clients, 'seconds': round(wall, 1), 'requests': len(latencies), 'errors': len(errors), 'error_samples': errors[:5],
            'p50_s': round(q[49], 3), 'p95_s': round(q[94], 3), 'p99_s': round(q[98], 3),
            'completion_tokens': tokens[0], 'tokens_per_s': round(tokens[0] / wall, 1)}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--clients', type=int, default=32)
    ap.add_argument('--seconds', type=float, default=60)
    ap.add_argument('--max-tokens', type=int, default=16)
    ap.add_argument('--json', help='also write the figures here')
    args = ap.parse_args()
    vectors = Path(tempfile.mkdtemp())
    save_vector(SteeringVector({10: torch.randn(576, generator=torch.Generator().manual_seed(0)) * 20 / 24}), vectors/'random10', pickle_copy=False)
    base, proc = start_server('--vectors-dir', str(vectors))
    pid, rss = proc.proc.pid, {}
    def tick(elapsed):
        if elapsed >= 10 and 'at_10s' not in rss: rss['at_10s'] = rss_mb(pid)
    try:
        print(f'steer serve pid {pid}, RSS {rss_mb(pid):.0f} MB at start; {args.clients} clients for {args.seconds:.0f} s', flush=True)
        result = drive(base, args.clients, args.seconds, args.max_tokens, on_tick=tick)
        rss['at_end'] = rss_mb(pid)
        stats = httpx.get(f'{base}/stats').json()
    finally: stop_server(proc)
    result.update(rss_mb_at_10s=round(rss.get('at_10s', float('nan')), 1), rss_mb_at_end=round(rss['at_end'], 1),
                  rss_growth=round(rss['at_end'] / rss['at_10s'] - 1, 4) if rss.get('at_10s') else None,
                  refused_429=stats.get('refused'), engine_runs=stats.get('runs'), largest_run=stats.get('largest_run'))
    for k, v in result.items(): print(f'{k:>18}: {v}')
    ok = result['errors'] == 0 and result['rss_growth'] is not None and result['rss_growth'] < 0.10
    print('targets (0 errors, RSS growth < 10%):', 'met' if ok else 'NOT met')
    if args.json: Path(args.json).write_text(json.dumps(result, indent=2))

if __name__ == '__main__': main()
