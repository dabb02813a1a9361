"""Shared fixtures: a random-init tiny ALBERT saved with the real English ALBERT SentencePiece model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from litebert import AlbertConfig, AlbertForPreTraining

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def make_pretrained(directory: Path, **config) -> Path:
    """A tiny pretraining checkpoint (seed 0, vocab 30k) with spiece.model, as `glue`/`finetune` take one."""
    torch.manual_seed(0)
    AlbertForPreTraining(AlbertConfig.from_preset("tiny", vocab_size=30000, **config)).save_pretrained(directory)
    shutil.copy(DATA / "spm" / "albert_en_30k-clean.RECONSTRUCTED.model", directory / "spiece.model")
    return directory


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    return make_pretrained(tmp_path_factory.mktemp("pre") / "model")
