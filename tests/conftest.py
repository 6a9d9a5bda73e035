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
