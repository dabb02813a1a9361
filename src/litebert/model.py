"""The ALBERT encoder family and its task heads, as plain single-device PyTorch.

    tokens -> word + position + token-type embeddings (E) -> LayerNorm -> dropout -> E->H projection
           -> L post-LN transformer layers whose weights come from G groups of `inner_group_num` blocks (layer i uses
              group int(i / (L / G)), as transformers) -> pooler (tanh dense on token 0)

BERT is E == H with one group per layer; an ELECTRA discriminator is one group per layer with E <= H. Attention runs
through `scaled_dot_product_attention` (FlashAttention / memory-efficient kernels on a GPU). Shapes: B batch, T tokens,
E embedding, H hidden, N heads, D head dim, V vocab, P masked positions, C choices.

No torch.distributed, no logging setup; the only I/O is `from_pretrained`/`save_pretrained`, which delegate to
checkpoint.py.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint as activation_checkpoint

from litebert import checkpoint as ckpt
from litebert.config import AlbertConfig, ConfigError

# ---------------------------------------------------------------------------------------------------------------------
# Building blocks

_ACTIVATIONS = {
    "gelu": F.gelu,  # erf
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),  # the original ALBERT/BERT TF formula
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
}


class Embeddings(nn.Module):
    def __init__(self, c: AlbertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.embedding_size)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.embedding_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.embedding_size)
        self.norm = nn.LayerNorm(c.embedding_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        T = input_ids.shape[1]
        if T > self.position_embeddings.num_embeddings:
            raise ValueError(f"input of {T} tokens is longer than the model's max_position_embeddings "
                             f"({self.position_embeddings.num_embeddings}); truncate it or split it into windows")
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)  # (B, T, E)
        x = x + self.position_embeddings.weight[:T]
        return self.dropout(self.norm(x))


@dataclass
class Unpadded:
    """Where the real tokens of a padded (B, T) batch sit once the padding is dropped: the varlen layout.

    Rows keep their order and each row's tokens stay contiguous, so row b is `cu_seqlens[b]:cu_seqlens[b+1]` of the
    (nnz, ...) tensors. Built once per batch (one host sync, for `max_len` and the token count); every layer reuses it.
    """

    indices: torch.Tensor  # (nnz,) positions of the real tokens in the flattened (B*T) batch
    cu_seqlens: torch.Tensor  # (B+1,) int32 offsets of each row in the unpadded layout
    max_len: int  # the longest row
    shape: tuple[int, int]  # (B, T)
    mask: torch.Tensor  # (B, 1, 1, T) bool, for the padded attention fallback

    @classmethod
    def from_mask(cls, attention_mask: torch.Tensor) -> "Unpadded":
        m = attention_mask.bool()
        lengths = m.sum(1, dtype=torch.int32)
        cu_seqlens = F.pad(lengths.cumsum(0, dtype=torch.int32), (1, 0))
        max_len = int(lengths.max()) if lengths.numel() else 0
        return cls(m.flatten().nonzero().squeeze(1), cu_seqlens, max_len, tuple(m.shape), m[:, None, None, :])

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, ...) -> (nnz, ...)."""
        return x.flatten(0, 1).index_select(0, self.indices)

    def rows(self, positions: torch.Tensor) -> torch.Tensor:
        """(B, K) positions of real tokens in the padded batch -> (B, K) their rows in the (nnz, ...) layout."""
        B, T = self.shape
        flat = torch.arange(B, device=positions.device)[:, None] * T + positions
        return torch.searchsorted(self.indices, flat.flatten()).view(B, -1)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """(nnz, ...) -> (B, T, ...), zeros at the padding."""
        B, T = self.shape
        return x.new_zeros(B * T, *x.shape[1:]).index_copy(0, self.indices, x).view(B, T, *x.shape[1:])


@dataclass
class RightPadded:
    """A padded (B, T) batch whose padding sits at the end of each row, laid out for varlen attention with static
    shapes: the B*T tokens as 2B segments, each row's real tokens then its padding (possibly empty), so real tokens
    attend to their own row's real tokens only (what the padding mask says) through FlashAttention, which takes no mask.
    Padded positions attend among themselves: their outputs are not the masked SDPA's, and nothing may read them.
    Built without a host sync (no data-dependent shape), so it runs under torch.compile and CUDA graphs."""

    mask: torch.Tensor  # (B, 1, 1, T) bool, for the SDPA fallback
    cu_seqlens: torch.Tensor  # (2B+1,) int32: offsets of [row 0 real, row 0 padding, row 1 real, ...] in (B*T)
    kernel: object  # varlen_attn(q, k, v, cu_q, cu_k, max_q, max_k), or None: SDPA with the mask
    half_only: bool = True  # FlashAttention takes fp16/bf16 only: other dtypes use the masked SDPA

    @classmethod
    def from_mask(cls, attention_mask: torch.Tensor, kernel, half_only: bool = True) -> "RightPadded":
        m = attention_mask.bool()
        B, T = m.shape
        lengths = m.sum(1, dtype=torch.int32)
        segments = torch.stack([lengths, T - lengths], 1).flatten()
        cu_seqlens = F.pad(segments.cumsum(0, dtype=torch.int32), (1, 0))
        return cls(m[:, None, None, :], cu_seqlens, kernel, half_only)

    def runs_varlen(self, qkv: torch.Tensor, dropout_p: float) -> bool:
        """Whether attention over these projections goes through `kernel` (else the masked SDPA): one is set, no
        attention dropout, and a half-precision CUDA tensor unless the kernel takes any dtype."""
        return self.kernel is not None and dropout_p == 0.0 and (
            not self.half_only or (qkv.is_cuda and qkv.dtype in (torch.float16, torch.bfloat16)))


@functools.lru_cache(maxsize=None)
def _flash_varlen(device_index: int):
    """torch's varlen FlashAttention where it can run on this GPU (torch >= 2.10 built with FlashAttention, an Ampere
    or newer device), else None. Imported on first use: the module pulls in torch._dynamo."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except Exception:  # older torch, or a build without it
        return None
    if not torch.backends.cuda.is_flash_attention_available() or torch.cuda.get_device_capability(device_index)[0] < 8:
        return None
    return varlen_attn


def _use_varlen(qkv: torch.Tensor, dropout_p: float, head_dim: int):
    """The varlen kernel for this call, or None for the SDPA fallback: FlashAttention has no attention dropout, wants
    fp16/bf16, head dims that are multiples of 8 up to 256, and flash not switched off (`sdpa_kernel`)."""
    if not (qkv.is_cuda and dropout_p == 0.0 and qkv.dtype in (torch.float16, torch.bfloat16)
            and head_dim % 8 == 0 and head_dim <= 256 and torch.backends.cuda.flash_sdp_enabled()):
        return None
    return _flash_varlen(qkv.device.index if qkv.device.index is not None else torch.cuda.current_device())


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused QKV projection (checkpoints store q, k, v apart; see checkpoint.py).

    Takes padded (B, T, H) input with a (B, 1, 1, T) mask, or unpadded (nnz, H) input with its `Unpadded` layout:
    then the projections run on real tokens only and attention is torch's varlen FlashAttention on a GPU in half
    precision without attention dropout, else SDPA on the re-padded q/k/v (same numbers, padding computed there only).
    """

    def __init__(self, c: AlbertConfig):
        super().__init__()
        self.num_heads = c.num_attention_heads
        self.qkv = nn.Linear(c.hidden_size, 3 * c.hidden_size)
        self.out = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout_p = c.attention_probs_dropout_prob

    def forward(self, x: torch.Tensor, mask: torch.Tensor | Unpadded | RightPadded | None,
                keep: torch.Tensor | None = None) -> torch.Tensor:
        """`keep` (B, K): the outputs at those positions only (see `Layer`)."""
        H = x.shape[-1]
        N, D = self.num_heads, H // self.num_heads
        p = self.dropout_p if self.training else 0.0
        qkv = self.qkv(x)
        if keep is not None:
            return self.out(self._attend_kept(qkv, mask, keep, p, N, D))
        if isinstance(mask, RightPadded):
            if mask.runs_varlen(qkv, p):
                B, T, _ = qkv.shape
                q, k, v = qkv.view(B * T, 3, N, D).unbind(1)  # (B*T, N, D)
                return self.out(mask.kernel(q, k, v, mask.cu_seqlens, mask.cu_seqlens, T, T).reshape(B, T, H))
            return self.out(self._attend(qkv, mask.mask, p, N, D))
        if isinstance(mask, Unpadded):
            varlen = _use_varlen(qkv, p, D)
            if varlen is not None:
                q, k, v = qkv.view(-1, 3, N, D).unbind(1)  # (nnz, N, D)
                cu, T = mask.cu_seqlens, mask.max_len
                return self.out(varlen(q, k, v, cu, cu, T, T).reshape(-1, H))
            return self.out(mask.unpad(self._attend(mask.pad(qkv), mask.mask, p, N, D)))
        return self.out(self._attend(qkv, mask, p, N, D))

    @staticmethod
    def _attend(qkv: torch.Tensor, mask: torch.Tensor | None, p: float, N: int, D: int) -> torch.Tensor:
        """(B, T, 3H) fused projections -> (B, T, H) attention output through SDPA."""
        B, T, _ = qkv.shape
        q, k, v = qkv.view(B, T, 3, N, D).permute(2, 0, 3, 1, 4)  # (B, N, T, D)
        return _sdpa(q, k, v, mask, p).transpose(1, 2).reshape(B, T, N * D)

    @staticmethod
    def _attend_kept(qkv: torch.Tensor, mask: torch.Tensor | Unpadded | RightPadded | None, keep: torch.Tensor,
                     p: float, N: int, D: int) -> torch.Tensor:
        """(B, T, 3H) fused projections, keep (B, K) -> (B, K, H): the queries at the kept positions only, against the
        keys and values of every token. Right-padded batches go through the varlen kernel with K queries per row
        (segments [K, 0] against each row's [real, padding]: the kept positions must be real tokens). Unpadded ones
        take (nnz, 3H) projections and keep's rows of them, and return (B*K, H)."""
        if isinstance(mask, Unpadded):
            B, K = keep.shape
            H = N * D
            varlen = _use_varlen(qkv, p, D)
            if varlen is not None:
                q, k, v = qkv[keep.flatten(), :H], qkv[:, H:2 * H], qkv[:, 2 * H:]
                cu_q = torch.arange(0, (B + 1) * K, K, device=qkv.device, dtype=torch.int32)
                return varlen(q.reshape(B * K, N, D), k.reshape(-1, N, D), v.reshape(-1, N, D), cu_q, mask.cu_seqlens,
                              K, mask.max_len).reshape(B * K, H)
            positions = mask.indices[keep] % mask.shape[1]  # (B, K) in the padded batch
            return SelfAttention._attend_kept(mask.pad(qkv), mask.mask, positions, p, N, D).reshape(B * K, H)
        B, T, _ = qkv.shape
        H, K = N * D, keep.shape[1]
        q, k, v = _gather(qkv[..., :H], keep), qkv[..., H:2 * H], qkv[..., 2 * H:]  # (B, K, H), (B, T, H) x 2
        if isinstance(mask, RightPadded):
            if mask.runs_varlen(qkv, p):
                cu_q = ((torch.arange(2 * B + 1, device=qkv.device) + 1) // 2 * K).to(torch.int32)
                y = mask.kernel(q.reshape(B * K, N, D), k.reshape(B * T, N, D), v.reshape(B * T, N, D), cu_q,
                                mask.cu_seqlens, K, T)
                return y.reshape(B, K, H)
            mask = mask.mask
        q, k, v = (t.reshape(B, n, N, D).transpose(1, 2) for t, n in ((q, K), (k, T), (v, T)))  # (B, N, K or T, D)
        return _sdpa(q, k, v, mask, p).transpose(1, 2).reshape(B, K, H)


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, p: float) -> torch.Tensor:
    """SDPA over (B, N, T, D) tensors."""
    if q.device.type == "cpu" and q.dtype != torch.float32:
        # CPU bf16/fp16 SDPA backward is ~3.7x slower than fp32 (torch 2.13, measured in docs/pretraining.md);
        # the matmuls around it keep the autocast dtype, attention itself runs in fp32
        with torch.autocast("cpu", enabled=False):
            y = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask, dropout_p=p)
        return y.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)


def add_norm(norm: nn.LayerNorm, x: torch.Tensor, y: torch.Tensor, fp32_residual: bool = False) -> torch.Tensor:
    """The post-LN residual step LN(x + y), y a sublayer's output.

    Under autocast y (a matmul's output) is in half precision, and so is the result: the sum and torch's native
    half-precision LayerNorm (fp32 statistics inside the kernel) keep the residual stream, and its gradient, in the
    compute dtype, as Megatron-LM does by default. CUDA autocast would run LayerNorm in fp32 and return fp32: each
    LayerNorm's output, the residual additions and their gradients then move twice the bytes, and every matmul that
    reads the stream needs a cast to half precision first (albert-base on an H100: these memory-bound kernels are
    over a quarter of the compiled step; Inductor counts a quarter fewer bytes in them with this policy,
    docs/benchmarks.md). `fp32_residual=True` is CUDA autocast's policy on every device: fp32 sum, fp32 LayerNorm,
    fp32 output (transformers' numbers under autocast, up to the first block, where CUDA autocast adds two bf16
    tensors in bf16). Without autocast (fp32 weights) both are the plain `norm(x + y)`."""
    if y.dtype == torch.float32:
        return norm(x + y)
    with torch.autocast(y.device.type, enabled=False):
        if fp32_residual:  # fp32 out under autocast (fp32 weights); half-precision weights get their dtype back
            out = F.layer_norm(x.float() + y.float(), norm.normalized_shape, norm.weight.float(), norm.bias.float(),
                               norm.eps)
            return out.to(norm.weight.dtype)
        dt = y.dtype
        return F.layer_norm(x.to(dt) + y, norm.normalized_shape, norm.weight.to(dt), norm.bias.to(dt), norm.eps)


class Layer(nn.Module):
    """One post-LN transformer block: x = LN(x + attn(x)); x = LN(x + ffn(x)) (see `add_norm` for the dtypes)."""

    fp32_residual = False  # PreTrainedModel.fp32_residual_enable

    def __init__(self, c: AlbertConfig):
        super().__init__()
        self.attn = SelfAttention(c)
        self.attn_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.ffn_in = nn.Linear(c.hidden_size, c.intermediate_size)
        self.ffn_out = nn.Linear(c.intermediate_size, c.hidden_size)
        self.ffn_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.act = _ACTIVATIONS[c.hidden_act]
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | Unpadded | RightPadded | None,
                keep: torch.Tensor | None = None) -> torch.Tensor:
        """`keep` (B, K) positions of a padded (B, T, H) x: the block's output at those positions only, (B, K, H);
        for an unpadded (nnz, H) x, (B, K) rows of it (`Unpadded.rows`) and a (B*K, H) result. Keys and values still
        come from every token, so the result is the full block's there, for about K/T of the block's other work
        (queries, attention, output projection, FFN)."""
        y = self.dropout(self.attn(x, mask, keep))
        if keep is not None:
            x = x[keep.flatten()] if isinstance(mask, Unpadded) else _gather(x, keep)
        x = add_norm(self.attn_norm, x, y, self.fp32_residual)
        return add_norm(self.ffn_norm, x, self.dropout(self.ffn_out(self.act(self.ffn_in(x)))), self.fp32_residual)


class Encoder(nn.Module):
    """E->H projection, then `num_hidden_layers` applications of layers drawn from the shared groups."""

    def __init__(self, c: AlbertConfig):
        super().__init__()
        self.config = c
        # ALBERT always projects (transformers' layout; the original skips it when E == H, which a TF import fills
        # with the identity); BERT/ELECTRA only when E != H.
        has_projection = c.model_type == "albert" or c.embedding_size != c.hidden_size
        self.embedding_projection = nn.Linear(c.embedding_size, c.hidden_size) if has_projection else None
        self.groups = nn.ModuleList(
            nn.ModuleList(Layer(c) for _ in range(c.inner_group_num)) for _ in range(c.num_hidden_groups)
        )
        self.gradient_checkpointing = False

    def forward(self, x: torch.Tensor, mask: torch.Tensor | Unpadded | RightPadded | None,
                hidden_states: list | None = None, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, E) with a padding mask, or unpadded (nnz, E) with its `Unpadded` layout; returns the same layout.
        `hidden_states`, when given, receives the input of the first layer (after the E -> H projection) and every
        block's output, as transformers' (5.x) `hidden_states`: L x inner_group_num + 1 tensors (L + 1 for every
        released model, whose groups hold one block). `keep` (B, K): the last block runs at those positions (rows,
        unpadded) only and the result is (B, K, H) ((B*K, H) unpadded; `Layer`)."""
        if self.embedding_projection is not None:
            x = self.embedding_projection(x)  # E -> H
        if hidden_states is not None:
            hidden_states.append(x)
        # the same modules, reused: cross-layer sharing
        blocks = [layer for i in range(self.config.num_hidden_layers) for layer in self.groups[self.config.group_index(i)]]
        for j, layer in enumerate(blocks):
            kept = keep if j == len(blocks) - 1 else None
            if self.gradient_checkpointing and self.training:
                x = activation_checkpoint(layer, x, mask, kept, use_reentrant=False)
            else:
                x = layer(x, mask, kept)
            if hidden_states is not None:
                hidden_states.append(x)
        return x


# ---------------------------------------------------------------------------------------------------------------------
# Outputs


@dataclass
class EncoderOutput:
    last_hidden_state: torch.Tensor  # (B, T, H), or (B, K, H) when keep_positions were given
    pooler_output: torch.Tensor | None = None  # (B, H)
    hidden_states: tuple[torch.Tensor, ...] | None = None  # (B, T, H) each, with output_hidden_states=True


@dataclass
class PreTrainingOutput:
    prediction_logits: torch.Tensor  # (B, T, V), or (B, P, V) when masked_positions were given
    sop_logits: torch.Tensor  # (B, 2)
    loss: torch.Tensor | None = None  # masked_lm_loss + sentence_order_loss
    masked_lm_loss: torch.Tensor | None = None
    sentence_order_loss: torch.Tensor | None = None


@dataclass
class MaskedLMOutput:
    logits: torch.Tensor  # (B, T, V) or (B, P, V)
    loss: torch.Tensor | None = None


@dataclass
class ClassifierOutput:
    logits: torch.Tensor  # (B, num_labels), (B, T, num_labels) for tokens, (B, C) for multiple choice
    loss: torch.Tensor | None = None


@dataclass
class QuestionAnsweringOutput:
    start_logits: torch.Tensor  # (B, T)
    end_logits: torch.Tensor  # (B, T)
    loss: torch.Tensor | None = None


@dataclass
class SquadV2Output:
    cls_logits: torch.Tensor  # (B,) answerability logit (higher: more likely unanswerable)
    start_log_probs: torch.Tensor | None = None  # (B, T) training
    end_log_probs: torch.Tensor | None = None  # (B, T) training (end conditioned on the gold start)
    start_top_log_probs: torch.Tensor | None = None  # (B, start_n_top) inference
    start_top_index: torch.Tensor | None = None  # (B, start_n_top)
    end_top_log_probs: torch.Tensor | None = None  # (B, start_n_top * end_n_top), row-major over (start, end)
    end_top_index: torch.Tensor | None = None  # (B, start_n_top * end_n_top)
    loss: torch.Tensor | None = None


# ---------------------------------------------------------------------------------------------------------------------
# Shared machinery: init, parameter counting, checkpoint I/O


_INIT_WEIGHTS = contextvars.ContextVar("litebert_init_weights", default=True)  # per thread: a load elsewhere never
# leaves a model built here uninitialised


@contextlib.contextmanager
def weights_to_be_loaded():
    """Build models without `init_weights` (seconds per pass for xxlarge on a CPU): their weights are about to be
    loaded. Whatever a checkpoint does not fill must then be initialised (`from_pretrained` does) or refused."""
    token = _INIT_WEIGHTS.set(False)
    try:
        yield
    finally:
        _INIT_WEIGHTS.reset(token)


class PreTrainedModel(nn.Module):
    """Base of every public class: config, weight init, `from_pretrained` / `save_pretrained` in the HF layout."""

    backbone_prefix = "albert."  # our attribute path to the encoder ("" for AlbertModel itself)
    hf_architecture = ""  # the transformers class name written to config.json

    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.config = config

    @torch.no_grad()
    def init_weights(self, only: Iterable[str] | None = None) -> None:
        """The original's init: truncated normal(0, initializer_range) cut at 2 std, zero biases, unit LayerNorms, in
        module order. `only`: just these parameters (those a checkpoint did not fill); without it, nothing happens
        inside weights_to_be_loaded()."""
        if only is None and not _INIT_WEIGHTS.get():
            return
        std, only = self.config.initializer_range, None if only is None else set(only)
        for name, p in self.named_parameters():
            if only is not None and name not in only:
                continue
            owner = self.get_submodule(name.rpartition(".")[0])
            if isinstance(owner, nn.LayerNorm) and name.endswith(".weight"):
                nn.init.ones_(p)
            elif name.endswith("bias") or p.dim() < 2:
                nn.init.zeros_(p)
            else:
                nn.init.trunc_normal_(p, std=std, a=-2 * std, b=2 * std)

    def num_parameters(self) -> int:
        """Distinct parameters: a layer shared by many applications counts once (module.parameters() dedups)."""
        return sum(p.numel() for p in self.parameters())

    # -- checkpoints --------------------------------------------------------------------------------------------------
    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        """This model's weights under the HF key names of its model_type (what save_pretrained writes)."""
        return ckpt.to_hf_state_dict(self.state_dict(), self.config, self.backbone_prefix)

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write `config.json` + `model.safetensors` readable by transformers' matching class and by litebert."""
        config = self.config.replace(architectures=[self.hf_architecture_name()])
        ckpt.write_checkpoint(directory, config, self.hf_state_dict())

    def hf_architecture_name(self) -> str:
        family = {"albert": "Albert", "bert": "Bert", "electra": "Electra"}[self.config.model_type]
        return self.hf_architecture.replace("Albert", family)

    def load_hf_state_dict(self, hf_state: dict[str, torch.Tensor], source: str = "checkpoint") -> tuple[list, list]:
        """Load HF-layout tensors; returns (missing, unexpected). Shape mismatches raise CheckpointError."""
        own = self.state_dict()
        state, missing, unexpected = ckpt.from_hf_state_dict(hf_state, self.config, own.keys(), self.backbone_prefix,
                                                             source=source)
        for k, v in state.items():
            if v.shape != own[k].shape:
                raise ckpt.CheckpointError(
                    f"{source}: tensor for {k} has shape {tuple(v.shape)}, the model expects {tuple(own[k].shape)}"
                )
        self.load_state_dict(state, strict=False)
        return missing, unexpected

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: str | os.PathLike,
        *,
        revision: str | None = None,
        cache_dir: str | None = None,
        **config_overrides,
    ):
        """Load from an HF-layout directory (ALBERT, BERT or ELECTRA discriminator) or a hub id.

        Weights of a head the checkpoint lacks are initialised and listed in one warning; tensors the model does not
        use are listed too (both also in `model.loading_info`). `config_overrides` (e.g. num_labels=3, id2label=...)
        change the loaded config first.
        """
        directory = ckpt.resolve(path_or_id, revision=revision, cache_dir=cache_dir)
        config = ckpt.read_config(directory)
        if config_overrides:
            if "num_labels" in config_overrides and "id2label" not in config_overrides:
                config_overrides["id2label"] = None
            config = config.replace(**config_overrides)
        with weights_to_be_loaded():  # the checkpoint fills the weights: init only what it lacks (below)
            model = cls(config)
        missing, unexpected = model.load_hf_state_dict(ckpt.read_state_dict(directory), source=str(directory))
        model.init_weights(only=missing)
        model.loading_info = {"missing": list(missing), "unexpected": list(unexpected)}  # as transformers reports it
        if missing or unexpected:
            msg = f"{cls.__name__}.from_pretrained({directory}):"
            if missing:
                msg += f" {len(missing)} weights not in the checkpoint were newly initialised: {', '.join(missing)}."
            if unexpected:
                msg += f" {len(unexpected)} checkpoint tensors were not used: {', '.join(unexpected)}."
            warnings.warn(msg, stacklevel=2)
        return model


    def gradient_checkpointing_enable(self, enabled: bool = True) -> None:
        """Recompute each layer in the backward pass instead of storing its activations (memory for compute)."""
        for m in self.modules():
            if isinstance(m, Encoder):
                m.gradient_checkpointing = enabled

    def fp32_residual_enable(self, enabled: bool = True) -> None:
        """Under autocast, keep the residual stream (every block's output) in fp32 as CUDA autocast's LayerNorm does
        (transformers' numbers) instead of the compute dtype (litebert's default; see `add_norm`)."""
        for m in self.modules():
            if isinstance(m, Layer):
                m.fp32_residual = enabled

    def unpadded_enable(self, enabled: bool = True) -> None:
        """Drop the padding of batches that have an attention_mask before the encoder: every dense layer then runs on
        real tokens only, attention on each row's own tokens (see `Unpadded`). Same outputs as the padded model at real
        positions (zeros at padded ones); shapes then vary per batch, which suits eager mode rather than compile."""
        for m in self.modules():
            if isinstance(m, AlbertModel):
                m.unpad_inputs = enabled

    def subset_last_layer_enable(self, enabled: bool = True) -> None:
        """Run the last block only where the head reads it (MosaicBERT's `subset_idx`): at the predicted positions
        and [CLS] with `masked_positions` (pretraining, MLM), at [CLS] for sequence classification and multiple
        choice. Its keys and values still come from every token, so the logits and losses are the full model's, for
        ~K/T of that block's other work (albert-base at seq 128 with 20 predictions: ~5% of the step's FLOPs; a
        classifier: nearly 1/L of the encoder). On by default; off runs the whole last block, then gathers."""
        for m in self.modules():
            if isinstance(m, AlbertModel):
                m.subset_last_layer = enabled

    def right_padded_enable(self, device: torch.device | str | None = None, kernel=None) -> bool:
        """Promise that every batch is padded at the end of its rows (as litebert's pretraining shards are), so that
        attention over a padded batch can run as varlen FlashAttention on static shapes (`RightPadded`): on an Ampere+
        GPU, in bf16/fp16, without attention dropout; elsewhere the masked SDPA as before. Outputs at padded positions
        then differ from the masked SDPA's (nothing in pretraining reads them: the MLM head gathers real positions, SOP
        reads [CLS]). `kernel` replaces FlashAttention, in any dtype (tests). Returns whether a varlen kernel is in
        use; `device=None` turns it off."""
        c = self.config
        head_dim = c.hidden_size // c.num_attention_heads
        half_only = kernel is None
        if kernel is None and device is not None and torch.device(device).type == "cuda" and head_dim % 8 == 0 \
                and head_dim <= 256 and c.attention_probs_dropout_prob == 0.0 \
                and torch.backends.cuda.flash_sdp_enabled():  # read here: torch.compile cannot trace it per call
            d = torch.device(device)
            kernel = _flash_varlen(d.index if d.index is not None else torch.cuda.current_device())
        for m in self.modules():
            if isinstance(m, AlbertModel):
                m.right_padded_kernel = (kernel, half_only) if kernel is not None else None
        return kernel is not None


def _attention_mask(attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    """(B, T) 1 = token, 0 = padding -> boolean (B, 1, 1, T) for SDPA (True = may attend). None means no padding."""
    if attention_mask is None:
        return None
    return attention_mask.bool()[:, None, None, :]


def _cls_only(input_ids: torch.Tensor) -> torch.Tensor:
    """(B, T) -> (B, 1) zeros: the positions a [CLS]-reading head needs, so the last block runs there alone."""
    return input_ids.new_zeros(input_ids.shape[0], 1)


def _gather(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """x (B, T, H), positions (B, P) -> (B, P, H): the original's gather_indexes."""
    return torch.gather(x, 1, positions.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


# ---------------------------------------------------------------------------------------------------------------------
# The encoder


class AlbertModel(PreTrainedModel):
    """The bare encoder: last hidden states and (optionally) the pooled [CLS] output."""

    backbone_prefix = ""
    hf_architecture = "AlbertModel"

    def __init__(self, config: AlbertConfig, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size) if add_pooling_layer else None
        self.unpad_inputs = False  # unpadded_enable()
        self.right_padded_kernel = None  # right_padded_enable()
        self.subset_last_layer = True  # subset_last_layer_enable()
        self.init_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        keep_positions: torch.Tensor | None = None,
    ) -> EncoderOutput:
        """input_ids (B, T) long; attention_mask (B, T) 1/0 (None: no padding); token_type_ids (B, T) (None: zeros).
        output_hidden_states: also return the encoder's hidden states as transformers does (the projected embeddings,
        then every block's output: L + 1 tensors when each group holds one block), e.g. for features from another
        layer than the last.
        keep_positions (B, K) long: return the last hidden states at these positions only, (B, K, H); the last block
        then computes only there (`Layer`), unless `subset_last_layer` is off or hidden states are asked for (then
        the full output is gathered; unpadded, also when a kept position is padding). In a right-padded varlen layout
        kept positions must be real tokens (nothing may read padded positions there). The pooler reads the first kept
        position: keep [CLS] (position 0) first for the usual pooled output."""
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids)
        states: list | None = [] if output_hidden_states else None
        keep = keep_positions if self.subset_last_layer and states is None else None
        layout = Unpadded.from_mask(attention_mask) if self.unpad_inputs and attention_mask is not None else None
        if layout is not None and 0 < layout.indices.numel() < input_ids.numel():  # (nnz, E) -> (nnz, H)
            if keep is not None and not bool(attention_mask.gather(1, keep).all()):
                keep = None  # a kept position on padding has no row: the whole block, then its zeros gathered
            if keep is not None:  # the last block on keep's rows only: (B*K, H) -> (B, K, H)
                x = self.encoder(layout.unpad(x), layout, None, layout.rows(keep)).view(*keep.shape, -1)
            else:  # -> (B, T, H)
                x = layout.pad(self.encoder(layout.unpad(x), layout, states))
                states = None if states is None else [layout.pad(h) for h in states]
        elif layout is None and self.right_padded_kernel is not None and attention_mask is not None:
            layout = RightPadded.from_mask(attention_mask, *self.right_padded_kernel)
            x = self.encoder(x, layout, states, keep)  # (B, T or K, H)
        else:  # padded, or unpadded with nothing to drop
            x = self.encoder(x, None if layout is not None else _attention_mask(attention_mask), states, keep)
        if keep_positions is not None and keep is None:
            x = _gather(x, keep_positions)  # (B, K, H)
        pooled = torch.tanh(self.pooler(x[:, 0])) if self.pooler is not None else None  # (B, H)
        return EncoderOutput(last_hidden_state=x, pooler_output=pooled,
                             hidden_states=None if states is None else tuple(states))


# ---------------------------------------------------------------------------------------------------------------------
# Heads


class MaskedLMHead(nn.Module):
    """H -> E dense, activation, LayerNorm, then logits against the tied word embeddings plus an output bias.
    ELECTRA (transformers' ElectraGeneratorPredictions) hard-codes erf GELU whatever hidden_act says."""

    def __init__(self, c: AlbertConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.embedding_size)
        self.act = F.gelu if c.model_type == "electra" else _ACTIVATIONS[c.hidden_act]
        self.norm = nn.LayerNorm(c.embedding_size, eps=c.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))

    def forward(self, x: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        """x (..., H), word_embeddings (V, E) -> logits (..., V)."""
        return F.linear(self.norm(self.act(self.dense(x))), word_embeddings, self.bias)


def _mlm_logits(model: nn.Module, sequence: torch.Tensor) -> torch.Tensor:
    return model.mlm(sequence, model.albert.embeddings.word_embeddings.weight)


def _mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over labels != -100 (padding of masked_positions carries -100 too)."""
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


class AlbertForPreTraining(PreTrainedModel):
    """MLM over the tied embeddings + the 2-way sentence-order head (BERT: the same shape serves NSP).

    Pass `masked_positions` (B, P) to run the MLM head only there (as the original does); `labels` then has shape
    (B, P), otherwise (B, T). Label -100 is ignored. loss = masked_lm_loss + sentence_order_loss.
    The SOP head has no dropout, as in the original (transformers adds classifier dropout there).
    """

    hf_architecture = "AlbertForPreTraining"

    def hf_architecture_name(self) -> str:
        # transformers' ElectraForPreTraining is the replaced-token discriminator, none of whose head weights this
        # model has; its MLM head is ElectraForMaskedLM's (the SOP head and its pooler are then unused)
        return "ElectraForMaskedLM" if self.config.model_type == "electra" else super().hf_architecture_name()

    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.albert = AlbertModel(config)
        self.mlm = MaskedLMHead(config)
        self.sop = nn.Linear(config.hidden_size, 2)
        self.init_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        masked_positions: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        sentence_order_label: torch.Tensor | None = None,
    ) -> PreTrainingOutput:
        if masked_positions is None:
            out = self.albert(input_ids, attention_mask, token_type_ids)
            logits = _mlm_logits(self, out.last_hidden_state)
        else:  # the last block and the MLM head at [CLS] and the P predicted positions only (`Layer`)
            keep = torch.cat([masked_positions.new_zeros(masked_positions.shape[0], 1), masked_positions], 1)
            out = self.albert(input_ids, attention_mask, token_type_ids, keep_positions=keep)
            logits = _mlm_logits(self, out.last_hidden_state[:, 1:])  # (B, P, V)
        sop_logits = self.sop(out.pooler_output)  # (B, 2)
        mlm_loss = _mlm_loss(logits, labels) if labels is not None else None
        sop_loss = F.cross_entropy(sop_logits.float(), sentence_order_label.view(-1)) if sentence_order_label is not None else None
        losses = [x for x in (mlm_loss, sop_loss) if x is not None]
        return PreTrainingOutput(logits, sop_logits, sum(losses) if losses else None, mlm_loss, sop_loss)


class AlbertForMaskedLM(PreTrainedModel):
    """MLM head only (no pooler, as transformers' AlbertForMaskedLM). `masked_positions`/`labels` as ForPreTraining."""

    hf_architecture = "AlbertForMaskedLM"

    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.albert = AlbertModel(config, add_pooling_layer=False)
        self.mlm = MaskedLMHead(config)
        self.init_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        masked_positions: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> MaskedLMOutput:
        out = self.albert(input_ids, attention_mask, token_type_ids, keep_positions=masked_positions)
        logits = _mlm_logits(self, out.last_hidden_state)
        return MaskedLMOutput(logits, _mlm_loss(logits, labels) if labels is not None else None)


class ElectraClassificationHead(nn.Module):
    """transformers' ElectraClassificationHead, on the [CLS] hidden state (ELECTRA has no pooler): dropout ->
    dense(H->H) -> erf GELU -> dropout -> out_proj(H->num_labels). Saved as classifier.{dense,out_proj}.*."""

    def __init__(self, c: AlbertConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout = nn.Dropout(c.classifier_dropout)
        self.out_proj = nn.Linear(c.hidden_size, c.num_labels)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h (B, T, H) -> logits (B, num_labels)."""
        return self.out_proj(self.dropout(F.gelu(self.dense(self.dropout(h[:, 0])))))


class ElectraSequenceSummary(nn.Module):
    """transformers' ElectraSequenceSummary as ELECTRA configures it (summary_type "first", summary_use_proj,
    summary_activation "gelu", summary_last_dropout 0.1; overridable through the config's `summary_*` keys):
    [CLS] hidden state -> dense(H->H) -> activation -> dropout. Saved as sequence_summary.summary.*."""

    def __init__(self, c: AlbertConfig):
        super().__init__()
        s = c.extra
        act = s.get("summary_activation", "gelu")
        if s.get("summary_type", "first") != "first" or s.get("summary_proj_to_labels") or (
                act is not None and act not in _ACTIVATIONS):
            raise ConfigError(f"ELECTRA multiple choice: only summary_type 'first', no summary_proj_to_labels and an "
                              f"activation of {sorted(_ACTIVATIONS)} are supported, got summary_type "
                              f"{s.get('summary_type')!r}, summary_proj_to_labels {s.get('summary_proj_to_labels')!r}, "
                              f"summary_activation {act!r}")
        self.first_dropout = nn.Dropout(s.get("summary_first_dropout") or 0.0)
        self.summary = nn.Linear(c.hidden_size, c.hidden_size) if s.get("summary_use_proj", True) else nn.Identity()
        self.act = _ACTIVATIONS[act] if act is not None else (lambda x: x)
        self.last_dropout = nn.Dropout(s.get("summary_last_dropout", 0.1) or 0.0)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h (B, T, H) -> (B, H)."""
        return self.last_dropout(self.act(self.summary(self.first_dropout(h[:, 0]))))


class AlbertForSequenceClassification(PreTrainedModel):
    """Pooled output -> dropout -> linear; ELECTRA: transformers' ElectraClassificationHead on [CLS] (no pooler).
    Loss by problem_type: regression (MSE), single-label (CE), multi-label (BCE with logits); when unset it is inferred
    as transformers does (num_labels 1 -> regression; integer labels -> single-label; float labels -> multi-label)."""

    hf_architecture = "AlbertForSequenceClassification"

    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.electra_head = config.model_type == "electra"
        self.albert = AlbertModel(config, add_pooling_layer=not self.electra_head)
        if self.electra_head:
            self.classifier = ElectraClassificationHead(config)
        else:
            self.dropout = nn.Dropout(config.classifier_dropout)
            self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.init_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> ClassifierOutput:
        out = self.albert(input_ids, attention_mask, token_type_ids, keep_positions=_cls_only(input_ids))
        if self.electra_head:
            logits = self.classifier(out.last_hidden_state)  # (B, num_labels)
        else:
            logits = self.classifier(self.dropout(out.pooler_output))  # (B, num_labels)
        loss = None
        if labels is not None:
            problem = self.config.problem_type or (
                "regression" if self.config.num_labels == 1
                else "single_label_classification" if not labels.is_floating_point()
                else "multi_label_classification"
            )
            if problem == "regression":
                loss = F.mse_loss(logits.float().squeeze(-1), labels.float().view(-1)) if self.config.num_labels == 1 \
                    else F.mse_loss(logits.float(), labels.float())
            elif problem == "single_label_classification":
                loss = F.cross_entropy(logits.float(), labels.view(-1))
            else:
                loss = F.binary_cross_entropy_with_logits(logits.float(), labels.float())
        return ClassifierOutput(logits, loss)


class AlbertForTokenClassification(PreTrainedModel):
    """Per-token dropout -> linear (no pooler). Labels (B, T); -100 ignored."""

    hf_architecture = "AlbertForTokenClassification"

    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.albert = AlbertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.init_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> ClassifierOutput:
        x = self.albert(input_ids, attention_mask, token_type_ids).last_hidden_state
        logits = self.classifier(self.dropout(x))  # (B, T, num_labels)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        return ClassifierOutput(logits, loss)


class AlbertForQuestionAnswering(PreTrainedModel):
    """SQuAD v1.1: start/end logits from one linear layer on every token. Loss: mean of the two cross-entropies;
    positions outside the sequence are ignored (clamped to T, as transformers). The softmax spans the padding, as in
    the original and transformers; unpadded (`unpadded_enable`) the padding has no hidden state, so its logits are the
    dtype's minimum and it leaves the softmax (the loss then no longer depends on how far a batch was padded)."""

    hf_architecture = "AlbertForQuestionAnswering"

    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.albert = AlbertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.init_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
    ) -> QuestionAnsweringOutput:
        x = self.albert(input_ids, attention_mask, token_type_ids).last_hidden_state
        logits = self.qa_outputs(x)
        if self.albert.unpad_inputs and attention_mask is not None:
            logits = logits.masked_fill(~attention_mask.bool()[..., None], torch.finfo(logits.dtype).min)
        start_logits, end_logits = logits.unbind(-1)  # (B, T) each
        loss = None
        if start_positions is not None and end_positions is not None:
            T = start_logits.shape[1]
            s, e = start_positions.view(-1).clamp(0, T), end_positions.view(-1).clamp(0, T)
            loss = (F.cross_entropy(start_logits.float(), s, ignore_index=T)
                    + F.cross_entropy(end_logits.float(), e, ignore_index=T)) / 2
        return QuestionAnsweringOutput(start_logits, end_logits, loss)


class AlbertForMultipleChoice(PreTrainedModel):
    """Each (context, choice) row is encoded; pooled -> dropout -> linear(H, 1) -> scores (B, C). Inputs (B, C, T).
    ELECTRA: transformers' sequence summary of [CLS] (no pooler) -> linear(H, 1), as ElectraForMultipleChoice."""

    hf_architecture = "AlbertForMultipleChoice"

    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.electra_head = config.model_type == "electra"
        self.albert = AlbertModel(config, add_pooling_layer=not self.electra_head)
        if self.electra_head:
            self.sequence_summary = ElectraSequenceSummary(config)
        else:
            self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.init_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> ClassifierOutput:
        B, C, T = input_ids.shape
        flat = lambda t: None if t is None else t.reshape(B * C, T)  # noqa: E731
        out = self.albert(flat(input_ids), flat(attention_mask), flat(token_type_ids),
                          keep_positions=_cls_only(flat(input_ids)))
        pooled = self.sequence_summary(out.last_hidden_state) if self.electra_head else self.dropout(out.pooler_output)
        logits = self.classifier(pooled).view(B, C)
        loss = F.cross_entropy(logits.float(), labels.view(-1)) if labels is not None else None
        return ClassifierOutput(logits, loss)


class SquadV2Head(nn.Module):
    """The original ALBERT SQuAD 2.0 head (XLNet-style; google-research/albert squad_utils.create_v2_model).

    start: dense(H->1) over tokens. end: dense_0(2H->H, tanh) on [h_t; h_start] -> LayerNorm -> dense_1(H->1), with
    h_start the gold start at training and each of the top `start_n_top` starts at inference. answer class:
    dense_0(2H->H, tanh) on [sum_t softmax(start)_t h_t; h_CLS] -> dropout -> dense_1(H->1, no bias).
    Positions with p_mask = 1 (question, separators, padding) get logit -1e30. Computed in fp32.
    """

    def __init__(self, c: AlbertConfig):
        super().__init__()
        H = c.hidden_size
        self.start_n_top, self.end_n_top = c.start_n_top, c.end_n_top
        self.start_dense = nn.Linear(H, 1)
        self.end_dense0 = nn.Linear(2 * H, H)
        self.end_norm = nn.LayerNorm(H, eps=1e-12)  # TF contrib layer_norm's epsilon
        self.end_dense1 = nn.Linear(H, 1)
        self.answer_dense0 = nn.Linear(2 * H, H)
        self.answer_dense1 = nn.Linear(H, 1, bias=False)
        self.dropout = nn.Dropout(c.classifier_dropout)

    def end_log_probs(self, h: torch.Tensor, start_features: torch.Tensor, invalid: torch.Tensor) -> torch.Tensor:
        """h (B, T, H), start_features (B, K, H), invalid (B, T) bool -> log-probs of the end (B, K, T)."""
        B, T, H = h.shape
        K = start_features.shape[1]
        x = torch.cat([h[:, None].expand(B, K, T, H), start_features[:, :, None].expand(B, K, T, H)], dim=-1)
        logits = self.end_dense1(self.end_norm(torch.tanh(self.end_dense0(x)))).squeeze(-1).float()  # (B, K, T)
        return F.log_softmax(logits.masked_fill(invalid[:, None], -1e30), dim=-1)

    def forward(self, h: torch.Tensor, invalid: torch.Tensor, start_positions: torch.Tensor | None) -> SquadV2Output:
        start_logits = self.start_dense(h).squeeze(-1).float().masked_fill(invalid, -1e30)  # (B, T)
        start_log_probs = F.log_softmax(start_logits, dim=-1)
        out = SquadV2Output(cls_logits=torch.empty(0))
        if start_positions is not None:  # teacher forcing: the end is conditioned on the gold start
            out.start_log_probs = start_log_probs
            out.end_log_probs = self.end_log_probs(h, _gather(h, start_positions.view(-1, 1)), invalid)[:, 0]
        else:  # beam: top starts, then the top ends of each
            k_start = min(self.start_n_top, h.shape[1])
            out.start_top_log_probs, out.start_top_index = start_log_probs.topk(k_start, dim=-1)  # (B, K)
            end_lp = self.end_log_probs(h, _gather(h, out.start_top_index), invalid)  # (B, K, T)
            top_lp, top_idx = end_lp.topk(min(self.end_n_top, h.shape[1]), dim=-1)  # (B, K, K2)
            out.end_top_log_probs, out.end_top_index = top_lp.flatten(1), top_idx.flatten(1)
        start_p = torch.softmax(start_logits, dim=-1).to(h.dtype)  # (B, T)
        start_feature = torch.einsum("bt,bth->bh", start_p, h)  # expected start representation
        answer = torch.tanh(self.answer_dense0(torch.cat([start_feature, h[:, 0]], dim=-1)))
        out.cls_logits = self.answer_dense1(self.dropout(answer)).squeeze(-1).float()  # (B,)
        return out


class AlbertForSquadV2(PreTrainedModel):
    """SQuAD 2.0 with the original ALBERT head (transformers has no equivalent).

    Training (start_positions given): start/end log-probs with the end conditioned on the gold start;
    loss = 0.5 * (CE_start + CE_end) + 0.5 * BCE(cls_logits, is_impossible) as in the original.
    Inference: the top `start_n_top` starts x top `end_n_top` ends, plus cls_logits (min over windows of an example
    is its no-answer score). p_mask (B, T): 1 where an answer cannot be (question, [SEP], padding), 0 at [CLS] and
    the paragraph; None masks padding only.
    """

    hf_architecture = "AlbertForSquadV2"

    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.albert = AlbertModel(config, add_pooling_layer=False)
        self.squad_v2 = SquadV2Head(config)
        self.init_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        p_mask: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
        is_impossible: torch.Tensor | None = None,
    ) -> SquadV2Output:
        h = self.albert(input_ids, attention_mask, token_type_ids).last_hidden_state
        if p_mask is None:
            p_mask = (attention_mask == 0) if attention_mask is not None else torch.zeros_like(input_ids)
        out = self.squad_v2(h, p_mask.bool(), start_positions)
        if start_positions is not None and end_positions is not None:
            start_loss = -out.start_log_probs.gather(1, start_positions.view(-1, 1)).mean()
            end_loss = -out.end_log_probs.gather(1, end_positions.view(-1, 1)).mean()
            out.loss = 0.5 * (start_loss + end_loss)
            if is_impossible is not None:
                out.loss = out.loss + 0.5 * F.binary_cross_entropy_with_logits(out.cls_logits, is_impossible.float().view(-1))
        return out


def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor | None, normalize: bool = False):
    """Average of the token vectors over real tokens: (B, T, H), (B, T) -> (B, H) in fp32 (half-precision states, as
    autocast gives, are summed and counted in fp32: bf16 cannot count 301 tokens); L2-normalised when asked (what
    sentence-transformers models such as all-MiniLM-L6-v2 are trained for)."""
    h = last_hidden_state.float()
    if attention_mask is None:
        pooled = h.mean(1)
    else:
        m = attention_mask.to(h.dtype).unsqueeze(-1)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return F.normalize(pooled, p=2, dim=-1) if normalize else pooled


MODEL_CLASSES = {
    cls.__name__: cls
    for cls in (AlbertModel, AlbertForPreTraining, AlbertForMaskedLM, AlbertForSequenceClassification,
                AlbertForTokenClassification, AlbertForQuestionAnswering, AlbertForMultipleChoice, AlbertForSquadV2)
}


def estimate_flops_per_token(c: AlbertConfig, seq_len: int, predictions_per_seq: float) -> float:
    """Training FLOPs per token (performance-anchors.md section 4): 6*N_c + 12*L*s*h + (p/s)*6*(h*E + E*V)."""
    h, L, f, E, V = c.hidden_size, c.num_hidden_layers * c.inner_group_num, c.intermediate_size, c.embedding_size, c.vocab_size
    n_c = L * (4 * h * h + 2 * h * f) + E * h
    return 6 * n_c + 12 * L * seq_len * h + (predictions_per_seq / seq_len) * 6 * (h * E + E * V)


__all__ = [*MODEL_CLASSES, "EncoderOutput", "PreTrainingOutput", "MaskedLMOutput", "ClassifierOutput",
           "QuestionAnsweringOutput", "SquadV2Output", "estimate_flops_per_token", "mean_pool"]
