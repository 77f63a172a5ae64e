"""Test set-up: an isolated FiftyOne database per test session, no telemetry, no progress bars."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

_DB_NAME = f"fer_curate_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
os.environ["FIFTYONE_DATABASE_NAME"] = _DB_NAME
os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
os.environ.setdefault("FIFTYONE_SHOW_PROGRESS_BARS", "false")
sys.path.insert(0, str(Path(__file__).parent))

SHARED_FER = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "fer2013" / \
    "fer2013.csv.gz"
FER_CSV = Path(os.environ.get("FER2013_CSV", SHARED_FER))


def pytest_collection_modifyitems(config, items):
    if FER_CSV.is_file():
        return
    skip = pytest.mark.skip(reason=f"real FER-2013 not found at {FER_CSV}")
    for item in items:
        if "fer2013" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fer_csv_real() -> Path:
    return FER_CSV


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test (training tests: steady timing, no oversubscription when
    tests run beside each other); the count is restored after."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def dataset_name(request) -> str:
    """A fresh dataset name, deleted after the test."""
    name = f"t_{request.node.name[:40]}_{uuid.uuid4().hex[:6]}"
    yield name
    from curate.core import store

    if store.fo().dataset_exists(name):
        store.fo().delete_dataset(name)


def pytest_sessionfinish(session, exitstatus):
    """Drop this session's database from the shared mongod."""
    if "fiftyone" not in sys.modules:
        return
    try:
        import fiftyone.core.odm.database as fodb

        fodb.get_db_client().drop_database(_DB_NAME)
    except Exception:  # noqa: BLE001 - the DB may be unreachable in the test that checks that
        pass
