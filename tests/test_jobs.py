"The job layer under SIGKILL: a real subprocess, killed early, mid-way and while writing its checkpoint, then re-run"
import json, sys
import pytest
from harness import Proc, kill_at, paused, read_rows, run, whole_lines
from steer.core import read_json

N = 40
# A job with no model: each item takes 30 ms, rows are written in chunks of 4, a checkpoint every 5 items.
TOY = f'''
import sys, time
from steer.jobs import run_job, Outcome
def work(ns):
    time.sleep(0.03 * len(ns))
    return [Outcome([{{"n": n, "square": n * n, "text": "x" * 2000}}]) for n in ns]
s = run_job(sys.argv[1], {{str(n): n for n in range({N})}}, work, key=lambda r: str(r["n"]), config={{"job": "toy"}},
            chunk_size=4, interval=5, progress=False)
print(s)
'''

def toy(out): return [sys.executable, '-c', TOY, str(out)]

def check_complete(out):
    rows = read_rows(out)
    assert sorted(r['n'] for r in rows) == list(range(N))          # exactly N, none twice, none lost
    assert all(r['square'] == r['n'] ** 2 and len(r['text']) == 2000 for r in rows)
    assert [r['n'] for r in rows] == list(range(N))                 # in item order
    ck = read_json(out.with_suffix('.checkpoint.json'))
    assert (ck['num_generated'], ck['complete']) == (N, True)
    assert not list(out.parent.glob('.*.tmp'))                      # no temporary file left by the killed write

@pytest.mark.parametrize('when', ['early', 'midway', 'checkpoint'])
def test_toy_job_killed_and_resumed(tmp_path, when):
    out = tmp_path/'toy.jsonl'
    if when == 'checkpoint':
        kill_at(toy(out), env=paused('checkpoint', 10), pause='checkpoint')
        assert out.with_suffix('.checkpoint.json').exists() and list(tmp_path.glob('.toy.checkpoint.json.*.tmp'))
    else:
        target = 2 if when == 'early' else N // 2
        kill_at(toy(out), lambda: whole_lines(out) >= target)
    left = whole_lines(out)
    assert 0 < left < N, left
    p = run(toy(out))
    assert p.proc.returncode == 0, p.output
    assert f'{N}/{N} items' in p.output
    check_complete(out)

def test_killed_twice_then_resumed(tmp_path):
    out = tmp_path/'toy.jsonl'
    kill_at(toy(out), lambda: whole_lines(out) >= 8)
    kill_at(toy(out), lambda: whole_lines(out) >= 24)
    assert run(toy(out)).proc.returncode == 0
    check_complete(out)
    summary = read_json(out.with_suffix('.summary.json'))
    assert summary['done'] == N and summary['resumed'] >= 24 and summary['written'] == N - summary['resumed']
