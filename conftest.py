"""Root conftest: the repository root on sys.path (tests import bench.scenarios), and the ``corpus`` marker.

Tests marked ``@pytest.mark.corpus`` measure on named recordings of the development corpus
(``../shared/corpus`` beside the checkout, or ``$AUDIO3A_CORPUS``); where it is absent they are skipped
with that reason, and everything else runs on ``samples/`` and synthetic signals.
"""
import pytest

from bench.scenarios.corpus import corpus_dir


def pytest_configure(config):
    config.addinivalue_line("markers", "corpus: needs the development corpus (../shared/corpus or $AUDIO3A_CORPUS)")


def pytest_collection_modifyitems(config, items):
    if corpus_dir() is not None:
        return
    skip = pytest.mark.skip(reason="needs the development corpus: ../shared/corpus or $AUDIO3A_CORPUS")
    for item in items:
        if "corpus" in item.keywords:
            item.add_marker(skip)
