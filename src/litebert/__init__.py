"""litebert: ALBERT (A Lite BERT) as a complete, fast PyTorch system.

The public names below are imported on first use (PEP 562), so `import litebert.data.create` or
`import litebert.tokenizer` does not load torch: data-creation worker processes stay ~4x smaller.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    # model and checkpoints
    "PRESETS": "litebert.config", "AlbertConfig": "litebert.config", "ConfigError": "litebert.config",
    "CheckpointError": "litebert.checkpoint",
    "AlbertModel": "litebert.model", "AlbertForPreTraining": "litebert.model", "AlbertForMaskedLM": "litebert.model",
    "AlbertForSequenceClassification": "litebert.model", "AlbertForTokenClassification": "litebert.model",
    "AlbertForQuestionAnswering": "litebert.model", "AlbertForMultipleChoice": "litebert.model",
    "AlbertForSquadV2": "litebert.model",
    # tokenizer
    "TextFileError": "litebert.textio", "TextFileNotFoundError": "litebert.textio", "iter_lines": "litebert.textio",
    "BatchEncoding": "litebert.tokenizer", "Encoding": "litebert.tokenizer", "Tokenizer": "litebert.tokenizer",
    "TokenizerFileError": "litebert.tokenizer", "TokenizerNotFoundError": "litebert.tokenizer",
    "TokenizerTrainingError": "litebert.tokenizer", "TruncationError": "litebert.tokenizer",
    "WordPieceTokenizer": "litebert.tokenizer", "load_tokenizer": "litebert.tokenizer",
    "train_tokenizer": "litebert.tokenizer",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'litebert' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # for type checkers and IDEs
    from litebert.checkpoint import CheckpointError
    from litebert.config import PRESETS, AlbertConfig, ConfigError
    from litebert.model import (AlbertForMaskedLM, AlbertForMultipleChoice, AlbertForPreTraining,
                                AlbertForQuestionAnswering, AlbertForSequenceClassification, AlbertForSquadV2,
                                AlbertForTokenClassification, AlbertModel)
    from litebert.textio import TextFileError, TextFileNotFoundError, iter_lines
    from litebert.tokenizer import (BatchEncoding, Encoding, Tokenizer, TokenizerFileError, TokenizerNotFoundError,
                                    TokenizerTrainingError, TruncationError, WordPieceTokenizer, load_tokenizer,
                                    train_tokenizer)
