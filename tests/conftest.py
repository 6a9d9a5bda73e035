import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

@pytest.fixture(scope='session')
def root() -> Path: return ROOT

@pytest.fixture(scope='session')
def steer_bin() -> str:
    "The `steer` console script of the environment running the tests"
    exe = BIN/'steer'
    assert exe.exists(), f'{exe} missing: install the project with `make install`'
    return str(exe)

@pytest.fixture(scope='session')
def smollm():
    "The embedded default model (cached dequantized weights)"
    from steer.models import load_model
    return load_model()

@pytest.fixture(scope='session')
def steer_server(tmp_path_factory):
    "`steer serve` over the embedded model on 127.0.0.1 for the whole session (vector `random10` in its folder): API paths run against it"
    import torch
    from harness import start_server, stop_server
    from steer.vectors import SteeringVector, save_vector
    folder = tmp_path_factory.mktemp('served-vectors')
    save_vector(SteeringVector({10: torch.randn(576, generator=torch.Generator().manual_seed(0)) * 20 / 24}), folder/'random10', pickle_copy=False)
    base, proc = start_server('--vectors-dir', str(folder))
    yield base
    stop_server(proc)
