"""Shared test harness: start `steer serve` on 127.0.0.1, and kill long jobs with SIGKILL at chosen points.

Every long job (dataset builders, batch workflows, train, run) is tested the same way: start it in a
subprocess, SIGKILL it early, mid-way or while it writes its checkpoint, re-run the same command, and check
the output holds exactly the rows asked for, each whole and valid, none twice."""
import json, os, signal, subprocess, sys, threading, time
from pathlib import Path
import httpx

STEER = [sys.executable, '-c', 'from steer.cli import main; main()']

class Proc:
    "A command in a subprocess whose combined output is collected as it runs"
    def __init__(self, cmd, env=None, cwd=None):
        env = {**os.environ, 'OMP_WAIT_POLICY': os.environ.get('OMP_WAIT_POLICY', 'PASSIVE'), 'PYTHONUNBUFFERED': '1', **(env or {})}
        self.proc = subprocess.Popen([str(c) for c in cmd], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self.reader.start()

    @property
    def output(self) -> str: return ''.join(self.lines)

    def wait_for(self, condition, timeout:float=600, what:str='the condition') -> None:
        "Wait until `condition()` holds while the process runs (fails if it exits first or time runs out)"
        start = time.time()
        while not condition():
            if self.proc.poll() is not None:
                self.reader.join(5)
                raise AssertionError(f'process exited ({self.proc.returncode}) before {what}:\n{self.output[-3000:]}')
            if time.time() - start > timeout: self.kill9(); raise AssertionError(f'{what} not reached in {timeout}s:\n{self.output[-3000:]}')
            time.sleep(0.05)

    def kill9(self) -> None:
        "SIGKILL, as the OOM killer or a pulled plug would"
        if self.proc.poll() is None: os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30); self.reader.join(5)

    def finish(self, timeout:float=900) -> int:
        try: self.proc.wait(timeout)
        except subprocess.TimeoutExpired: self.kill9(); raise AssertionError(f'did not finish in {timeout}s:\n{self.output[-3000:]}')
        self.reader.join(5)
        return self.proc.returncode

def run(cmd, env=None, cwd=None, timeout:float=900) -> Proc:
    "Run a command to the end; its `Proc` (returncode in `.proc.returncode`)"
    p = Proc(cmd, env, cwd); p.finish(timeout); return p

def whole_lines(path) -> int:
    "Newline-terminated lines in a file (0 if missing)"
    path = Path(path)
    return path.read_bytes().count(b'\n') if path.exists() else 0

def paused(point:str, at_least:int=0) -> dict:
    "Environment that makes a job stop at `point` (e.g. 'checkpoint') once its count reaches `at_least`, to be killed there"
    return {'STEER_TEST_PAUSE': f'{point}:{at_least}', 'STEER_TEST_PAUSE_SECONDS': '120'}

def kill_at(cmd, condition=None, env=None, cwd=None, pause:str|None=None, timeout:float=600) -> Proc:
    "Start `cmd`, wait for `condition()` (or for the job to announce it paused at `pause`), then SIGKILL it"
    p = Proc(cmd, env, cwd)
    if pause is not None: p.wait_for(lambda: f'STEER_TEST_PAUSE {pause}' in p.output, timeout, f'the pause at {pause}')
    else: p.wait_for(condition, timeout)
    p.kill9()
    return p

def read_rows(path) -> list[dict]:
    "Rows of a JSONL file, asserting every line is whole (newline-terminated) and a JSON object"
    data = Path(path).read_bytes()
    assert data.endswith(b'\n') or not data, f'{path}: last line is cut'
    rows = [json.loads(l) for l in data.decode('utf-8').splitlines() if l.strip()]
    assert all(isinstance(r, dict) for r in rows)
    return rows

def start_server(*args, env=None, timeout:float=120):
    "`steer serve` on a free 127.0.0.1 port with extra `args`; returns (base URL, Proc)"
    from steer.serve import free_port
    port = free_port()
    p = Proc(STEER + ['serve', '--port', str(port), *args], env)
    base, start = f'http://127.0.0.1:{port}', time.time()
    while True:
        try:
            if httpx.get(f'{base}/v1/models', timeout=1).status_code in (200, 401): return base, p   # 401: up, and keyed
        except httpx.HTTPError: pass
        if p.proc.poll() is not None: raise AssertionError(f'steer serve exited:\n{p.output}')
        if time.time() - start > timeout: p.kill9(); raise AssertionError(f'steer serve did not answer within {timeout}s')
        time.sleep(0.1)

def stop_server(p:Proc) -> None:
    p.proc.terminate()
    try: p.proc.wait(15)
    except subprocess.TimeoutExpired: p.kill9()
