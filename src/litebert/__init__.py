"""litebert: ALBERT (A Lite BERT) as a complete, fast PyTorch system."""

from litebert.config import PRESETS, AlbertConfig, ConfigError
from litebert.checkpoint import CheckpointError
from litebert.model import (
    AlbertForMaskedLM,
    AlbertForMultipleChoice,
    AlbertForPreTraining,
    AlbertForQuestionAnswering,
    AlbertForSequenceClassification,
    AlbertForSquadV2,
    AlbertForTokenClassification,
    AlbertModel,
)

# tokenizer
from litebert.textio import TextFileError, TextFileNotFoundError, iter_lines
from litebert.tokenizer import (
    BatchEncoding,
    Encoding,
    Tokenizer,
    TokenizerFileError,
    TokenizerNotFoundError,
    TokenizerTrainingError,
    TruncationError,
    WordPieceTokenizer,
    load_tokenizer,
    train_tokenizer,
)

__version__ = "0.1.0"
