"""Extraction of layer weight matrices from PyTorch models, state dicts and weight files.

Which tensors are analyzed is decided from the state-dict key of each tensor, so a module, its
``state_dict()``, the saved ``.pth`` / ``.safetensors`` file and a Hugging Face checkpoint folder
give the same matrices (:mod:`htsr_utils.engine.checkpoint` reads files and folders):

- Only tensors whose key ends in ``.weight`` (or is ``weight``) are layer weights, as in
  weightwatcher 0.7.7.  A Linear weight gives one matrix; a Conv2d weight of shape
  ``(out, in, kh, kw)`` one ``(out, in)`` matrix per kernel position (or, for the pooled
  convention, one ESD per layer); a Conv1d weight one matrix per kernel position; an
  Embedding weight (only for conventions with ``embeddings=True``) one matrix.  The layer
  type comes from the module when there is one, else from the tensor's dimension.
- Recurrent weights (``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``: ``weight_ih_l<k>``,
  ``weight_hh_l<k>``, ``weight_hr_l<k>``, also ``_reverse``) hold the matrices of all gates
  stacked in one tensor; attention input projections (``nn.MultiheadAttention``:
  ``in_proj_weight``, ``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight``) stack the
  query, key and value matrices.  No convention analyzes them (weightwatcher 0.7.7 skips
  them too); the attention output projection ``out_proj.weight`` is an ``nn.Linear`` and is
  analyzed like any Linear layer.
- Mixture-of-experts weights stacked over the experts (a 3-D tensor whose key is
  ``...experts.<name>``, e.g. Mixtral's ``gate_up_proj``) give one matrix per expert.  A
  weight that is the same tensor as an earlier one (an output layer tied to the embedding)
  is counted once.  Integer and 8-bit weights (quantized or packed; their scales are stored
  apart) are not analyzed.
- Every weight not analyzed (1-D weights of normalization layers, the tensors above,
  layers the convention excludes) and every other tensor of two or more dimensions is
  listed in ``skipped`` with the reason; 0-D and 1-D tensors other than weights (biases,
  normalization statistics, counters) are never matrices and are not listed.

Every matrix is oriented so that ``N >= M``.  Only analyzed matrices are checked for NaN / Inf.
Layers come in state-dict order; a ``.safetensors`` file stores its keys sorted by name, so
from such a file the rows (and ``layer_index``, hence the "last layer" of alpha-hat*) follow
that order, while every per-matrix value is the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Union

import numpy as np
import torch
from torch import nn

from .checkpoint import Checkpoint, UnreadableTensorError, open_checkpoint
from .conventions import Convention, get_convention
from .esd import tall_stack
from .transformer_layouts import attention_heads, lora_factor, split_fused_qkv

ModelLike = Union[nn.Module, Mapping[str, torch.Tensor], str, Path]
"""A module, a state dict, or the path of a checkpoint file or folder."""


class NonFiniteWeightsError(ValueError):
    """A layer's weights contain NaN or Inf."""


class NoAnalyzableLayersError(ValueError):
    """A model has no layer that the convention analyzes."""


@dataclass(frozen=True)
class SkippedLayer:
    """A layer that is not analyzed, and why."""

    layer: str
    layer_type: str
    reason: str


@dataclass(frozen=True)
class LayerWeights:
    """All matrices of one layer, stacked: ``batch`` has shape ``(k, N, M)``, ``N >= M``.

    ``batch`` is a float32 / float64 NumPy array, or for bfloat16 / float16 weights a tensor
    of the stored dtype (converted exactly where its Gram matrix is formed; :meth:`float_batch`
    gives it as floats).  ``scale`` multiplies every matrix (convention scaling); ``pooled``
    means the ``k`` ESDs form one pooled ESD; ``below_min_dim`` marks matrices kept only for
    the log spectral norm (natcomm2021).
    """

    layer: str
    layer_type: str
    layer_index: int
    positions: tuple[tuple[int, ...] | None, ...]
    batch: np.ndarray | torch.Tensor
    scale: float
    pooled: bool
    below_min_dim: bool

    @property
    def shape(self) -> tuple[int, int]:
        """``(N, M)`` of each matrix."""
        return int(self.batch.shape[1]), int(self.batch.shape[2])

    @property
    def nbytes(self) -> int:
        """Bytes of ``batch`` as stored."""
        batch = self.batch
        return batch.nbytes if isinstance(batch, np.ndarray) else batch.numel() * batch.element_size()

    def float_batch(self) -> np.ndarray:
        """``batch`` as a float32 / float64 NumPy array (half precision converted exactly)."""
        if isinstance(self.batch, torch.Tensor):
            return self.batch.float().numpy()
        return self.batch


@dataclass(frozen=True)
class WeightMatrix:
    """One analyzed matrix: layer name and type, kernel position (None for Linear), N, M."""

    layer: str
    layer_type: str
    slice: tuple[int, ...] | None
    N: int
    M: int
    matrix: np.ndarray


class Extraction(NamedTuple):
    """Result of :func:`weight_matrices`: the matrices and the skipped layers."""

    matrices: list[WeightMatrix]
    skipped: list[SkippedLayer]


def weight_matrices(model: ModelLike, convention: str | Convention = "sdm2020", *,
                    split_qkv: bool = False, lora_product: bool = False) -> Extraction:
    """Return the weight matrices a convention analyzes, and the layers it skips.

    Parameters
    ----------
    model : nn.Module, state dict, or path of a checkpoint
        A checkpoint is a ``.safetensors`` / ``.pt`` / ``.pth`` / ``.bin`` file or a Hugging
        Face checkpoint folder (:func:`htsr_utils.engine.checkpoint.open_checkpoint`), read one
        tensor at a time.  The tensors are taken by state-dict key (see the module docstring),
        so every form gives the same matrices.  For a module the layer type is the owning
        module's: ``nn.Linear``, ``nn.Conv2d``, ``nn.Conv1d`` and Hugging Face GPT-2 style
        ``Conv1D`` are analyzed.  For a state dict or a checkpoint it is inferred from the
        tensor's dimension (2-D Linear, 3-D Conv1d, 4-D Conv2d; keys containing "embed" are
        embeddings).  Mixture-of-experts weights stacked over the experts (3-D, key
        ``...experts.<name>``) give one matrix per expert; a tensor that is the same as an
        earlier one (tied weights) is counted once; integer and 8-bit (quantized) weights are
        listed in ``skipped``.
    convention : str or Convention
        See :mod:`htsr_utils.engine.conventions`.
    split_qkv : bool, default False
        Split fused attention projections (``c_attn``, ``Wqkv``, ``qkv_proj``,
        ``query_key_value``) into their query, key and value matrices; by default each is one
        matrix, as stored (:mod:`htsr_utils.engine.transformer_layouts`).
    lora_product : bool, default False
        Analyze each LoRA adapter pair as its update ``B @ A``; by default the factors are
        listed in ``skipped``.

    Returns
    -------
    Extraction
        ``matrices``: one :class:`WeightMatrix` per matrix (``N >= M``, convention scale
        applied; pooled layers give one record per kernel position); ``skipped``: one
        :class:`SkippedLayer` per layer not analyzed.

    Raises
    ------
    NonFiniteWeightsError
        If an analyzed layer has NaN or Inf entries (the message names the layer).
    """
    matrices: list[WeightMatrix] = []
    skipped: list[SkippedLayer] = []
    for item in iter_layers(model, convention, split_qkv=split_qkv, lora_product=lora_product):
        if isinstance(item, SkippedLayer):
            skipped.append(item)
            continue
        if item.below_min_dim:
            continue
        n, m = item.shape
        for position, matrix in zip(item.positions, item.float_batch()):
            scaled = matrix * item.scale if item.scale != 1.0 else matrix
            matrices.append(WeightMatrix(item.layer, item.layer_type, position, n, m, scaled))
    return Extraction(matrices, skipped)


def iter_layers(
    model: ModelLike,
    convention: str | Convention = "sdm2020",
    *,
    split_qkv: bool = False,
    lora_product: bool = False,
) -> Iterator[LayerWeights | SkippedLayer]:
    """Yield, in state-dict order, each layer's stacked matrices or the reason it is skipped.

    ``split_qkv`` and ``lora_product``: see :mod:`htsr_utils.engine.transformer_layouts`.
    """
    conv = get_convention(convention)
    index = 0
    items = _named_weights(model)
    if split_qkv:
        items = _split_fused(items, attention_heads(model))
    for item in _lora_pairs(items, lora_product):
        if not isinstance(item, SkippedLayer):
            item = _layer_weights(*item, conv, index)
            if isinstance(item, LayerWeights) and not item.below_min_dim:
                index += 1
        yield item


def _split_fused(items: Iterator, heads: int | None) -> Iterator:
    """The items of :func:`_named_weights`, fused q/k/v projections split in three."""
    for item in items:
        parts = None if isinstance(item, SkippedLayer) else split_fused_qkv(item[0], item[2], heads)
        if parts is None:
            yield item
        else:
            yield from ((name, item[1], part, 1) for name, part in parts)


def _lora_pairs(items: Iterator, product: bool) -> Iterator:
    """The items of :func:`_named_weights`, LoRA factors listed as skipped or paired as ``B @ A``."""
    waiting: dict[tuple[str, str], tuple] = {}
    for item in items:
        factor = None if isinstance(item, SkippedLayer) else lora_factor(item[0])
        if factor is None:
            yield item
            continue
        layer, which = factor
        rank = min(item[2].shape)
        if not product:
            yield SkippedLayer(item[0], "LoRA", f"LoRA factor {which} (rank {rank}) of {layer!r}: "
                                                "analyzed as the product B @ A with lora_product=True")
            continue
        partner = waiting.pop((layer, "B" if which == "A" else "A"), None)
        if partner is None:
            waiting[(layer, which)] = item
            continue
        a, b = (item, partner) if which == "A" else (partner, item)
        yield f"{layer}.lora_BA", "LoRA", b[2].double() @ a[2].double(), 1
    for (layer, which), item in waiting.items():
        yield SkippedLayer(item[0], "LoRA", f"LoRA factor {which} of {layer!r} without its pair: not analyzed")


#: State-dict key endings of recurrent weights (all gates stacked in one tensor).
_RECURRENT_KEY = re.compile(r"weight_(ih|hh|hr)_l\d+(_reverse)?")
#: State-dict key endings of attention input projections (query, key, value stacked).
_ATTENTION_IN_KEY = re.compile(r"(in|q|k|v)_proj_weight")
#: Keys of mixture-of-experts weights stacked over the experts, ``(experts, out, in)``
#: (e.g. Mixtral's ``mlp.experts.gate_up_proj`` and ``mlp.experts.down_proj``).
_EXPERTS_KEY = re.compile(r"(^|\.)experts\.[^.]+$")


#: Keys of embedding weights in a state dict: "embed" anywhere, or GPT-2's ``wte`` / ``wpe``.
_EMBEDDING_KEY = re.compile(r"embed|(^|\.)(wte|wpe)\.weight$")


def _tie_key(tensor: torch.Tensor) -> tuple:
    """Identity of a tensor's values: its storage, offset, shape, strides and dtype."""
    return (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape),
            tuple(tensor.stride()), tensor.dtype)


def _named_weights(model: ModelLike) -> Iterator[tuple[str, str, torch.Tensor, int] | SkippedLayer]:
    """The tensors of ``model`` by state-dict key: ``(layer, type, weight, groups)`` for a
    layer weight, a :class:`SkippedLayer` for another tensor of two or more dimensions."""
    if isinstance(model, (str, Path)):
        checkpoint = open_checkpoint(model)
        try:
            yield from _checkpoint_weights(checkpoint)
        finally:
            checkpoint.close()
        return
    if isinstance(model, nn.Module):
        modules = dict(model.named_modules(remove_duplicate=False))
        state: Mapping = model.state_dict(keep_vars=True)
    elif isinstance(model, Mapping):
        modules, state = {}, model
    else:
        raise TypeError(
            f"model must be an nn.Module, a state dict or a weight file path, not {type(model).__name__}"
        )
    yield from _state_weights(modules, state, find_ties=True)


def _checkpoint_weights(
    checkpoint: Checkpoint,
) -> Iterator[tuple[str, str, torch.Tensor, int] | SkippedLayer]:
    """:func:`_named_weights` of a checkpoint, in its model's order where its folder names one.

    With the model built on the meta device (:meth:`Checkpoint.skeleton`), the keys come in
    the model's state-dict order with their modules' types, as from the module itself; a
    weight the model ties to another and the file stores once is listed as skipped.
    """
    skeleton = checkpoint.skeleton()
    if skeleton is None:
        # Tensors of a .safetensors file are read one at a time: a freed tensor's memory can be
        # reused by the next, so equal addresses do not mean tied weights there.
        has_safetensors = any(f.suffix == ".safetensors" for f in checkpoint.files)
        yield from _state_weights({}, checkpoint, find_ties=not has_safetensors)
        return
    first_key: dict[int, str] = {}
    tied: dict[str, str] = {}
    model_keys = skeleton.state_dict(keep_vars=True)
    for key, tensor in model_keys.items():
        tied_to = first_key.setdefault(id(tensor), key)
        if tied_to != key:
            tied[key] = tied_to
    ordered = {k: None for k in model_keys if k in checkpoint and k not in tied}
    ordered |= {k: None for k in checkpoint if k not in tied}  # keys the model lacks, in file order
    order = list(ordered)
    modules = dict(skeleton.named_modules(remove_duplicate=False))
    yield from _state_weights(modules, _Ordered(checkpoint, order), find_ties=False)
    for key, tied_to in tied.items():
        prefix, _, attr = key.rpartition(".")
        yield SkippedLayer(prefix if attr == "weight" else key, type(modules.get(prefix)).__name__,
                           f"the same tensor as {tied_to!r} (tied weights): counted once")


class _Ordered(Mapping):
    """The tensors of a mapping in a given key order."""

    def __init__(self, tensors: Mapping, order: list[str]) -> None:
        self._tensors, self._order = tensors, order

    def __getitem__(self, key: str) -> torch.Tensor:
        return self._tensors[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)


def _state_weights(
    modules: Mapping[str, nn.Module], state: Mapping, *, find_ties: bool
) -> Iterator[tuple[str, str, torch.Tensor, int] | SkippedLayer]:
    """:func:`_named_weights` of a state dict (``modules``: the owning modules, if known).

    With ``find_ties``, a weight that is the same tensor as an earlier one (an embedding tied
    to the output layer, ``b.weight = a.weight``) is skipped, so that it is counted once.
    """
    seen: dict[tuple, str] = {}
    for key in state:
        try:
            tensor = state[key]
        except UnreadableTensorError as exc:
            yield SkippedLayer(key, "tensor", str(exc))
            continue
        if not isinstance(tensor, torch.Tensor):
            continue
        prefix, _, attr = key.rpartition(".")
        module = modules.get(prefix)
        kind = type(module).__name__ if module is not None else f"{tensor.ndim}-D tensor"
        if find_ties and tensor.ndim >= 2 and tensor.untyped_storage().data_ptr():
            tie = _tie_key(tensor)
            if tie in seen:
                yield SkippedLayer(prefix if attr == "weight" else key, kind,
                                   f"the same tensor as {seen[tie]!r} (tied weights): counted once")
                continue
            seen[tie] = key
        if attr == "weight":
            if module is not None:
                yield prefix, _module_type(module), tensor, int(getattr(module, "groups", 1))
            else:
                yield prefix, _tensor_type(key, tensor), tensor, 1
            continue
        if tensor.ndim == 3 and _EXPERTS_KEY.search(key):
            yield key, "Experts", tensor, 1
            continue
        if tensor.ndim < 2:  # biases, normalization statistics, counters
            continue
        if _RECURRENT_KEY.fullmatch(attr):
            reason = "recurrent weight (the gates' matrices stacked in one tensor) is not analyzed"
        elif _ATTENTION_IN_KEY.fullmatch(attr):
            reason = "attention input projection (query, key and value stacked) is not analyzed"
        else:
            reason = f"{attr!r} is not a layer weight (only '<layer>.weight' tensors are analyzed)"
        yield SkippedLayer(key, kind, reason)


def _module_type(module: nn.Module) -> str:
    if isinstance(module, nn.Linear):
        return "Linear"
    if isinstance(module, nn.Conv2d):
        return "Conv2d"
    if isinstance(module, nn.Conv1d):
        return "Conv1d"
    if type(module).__name__ == "Conv1D" and module.weight.ndim == 2:
        return "Conv1D"
    return type(module).__name__


def _tensor_type(key: str, tensor: torch.Tensor) -> str:
    if tensor.ndim == 2 and _EMBEDDING_KEY.search(key.lower()):
        return "Embedding"
    if tensor.ndim == 3 and _EXPERTS_KEY.search(key):
        return "Experts"
    return {2: "Linear", 3: "Conv1d", 4: "Conv2d"}.get(tensor.ndim, f"{tensor.ndim}-D tensor")


_MATRIX_TYPES = {"Linear", "Conv1D", "Conv1d", "Conv2d", "Experts", "LoRA"}
_EMBEDDING_TYPES = {"Embedding"}


def _layer_weights(
    name: str,
    layer_type: str,
    weight: torch.Tensor,
    groups: int,
    conv: Convention,
    index: int,
) -> LayerWeights | SkippedLayer:
    if weight.ndim < 2:
        return SkippedLayer(name, layer_type, f"{weight.ndim}-D parameter (not a matrix)")
    if layer_type not in _MATRIX_TYPES and not (conv.embeddings and layer_type in _EMBEDDING_TYPES):
        return SkippedLayer(name, layer_type, f"layer type {layer_type} is not analyzed")
    if layer_type == "Conv1d" and not conv.conv1d:
        return SkippedLayer(name, layer_type, f"Conv1d layers are not analyzed under {conv.name}")
    if not weight.is_floating_point():
        return SkippedLayer(name, layer_type, f"{weight.dtype} weights are not floating point "
                                              "(quantized or packed): not analyzed")
    if weight.element_size() < 2:
        return SkippedLayer(name, layer_type, f"{weight.dtype} weights are quantized (their "
                                              "scales are stored apart): not analyzed")
    w = weight.detach().to("cpu")
    # A half-precision matrix is kept as stored (half the memory of float32) until its Gram
    # matrix is formed, in row blocks converted to float64 exactly (htsr_utils.engine.esd).
    if not (w.dtype in _HALF_INF_BITS and (w.ndim == 2 or layer_type == "Experts")):
        if w.dtype not in (torch.float32, torch.float64):
            w = w.float()
        # NumPy (single-threaded) rather than torch ops from here on: on busy cores, torch's
        # OpenMP pool and OpenBLAS's threads stall each other (benchmarks/bench_esd_backends.py).
        w = w.numpy()
    batch, positions = _stack_slices(w, layer_type, groups, conv)
    if batch is None:
        return SkippedLayer(name, layer_type, positions)
    batch = tall_stack(batch)
    n, m = int(batch.shape[1]), int(batch.shape[2])
    below = m < conv.min_dim and (conv.min_dim_scope == "all" or layer_type == "Conv2d")
    if below and not conv.small_in_spectral_norm:
        return SkippedLayer(name, layer_type, f"min(N, M) = {m} < {conv.min_dim}")
    count = batch.shape[0]
    n_evals = m * count if conv.conv_mode == "pooled" else m
    if conv.min_evals and n_evals < conv.min_evals:
        return SkippedLayer(name, layer_type, f"{n_evals} eigenvalues < min_evals = {conv.min_evals}")
    if conv.max_evals and n_evals > conv.max_evals:
        return SkippedLayer(name, layer_type, f"{n_evals} eigenvalues > max_evals = {conv.max_evals}")
    if conv.max_n and n > conv.max_n:
        return SkippedLayer(name, layer_type, f"N = {n} > max_n = {conv.max_n}")
    n_bad = _count_nonfinite(w)
    if n_bad:  # checked only on what is analyzed
        raise NonFiniteWeightsError(
            f"layer {name or '<root>'!r} ({layer_type}, shape {tuple(w.shape)}) has {n_bad} NaN/Inf entries"
        )
    return LayerWeights(
        layer=name,
        layer_type=layer_type,
        layer_index=index,
        positions=positions,
        batch=batch,
        scale=_scale(layer_type, count, n, conv),
        pooled=conv.conv_mode == "pooled" and layer_type in ("Conv2d", "Conv1d"),
        below_min_dim=below,
    )


#: Half-precision dtypes kept as stored, and the bits of +Inf (a larger magnitude is a NaN).
_HALF_INF_BITS = {torch.bfloat16: 0x7F80, torch.float16: 0x7C00}


def _count_nonfinite(w: np.ndarray | torch.Tensor) -> int:
    """NaN / Inf entries of a NumPy array, or of a half-precision tensor (read from its bits)."""
    if isinstance(w, np.ndarray):
        return w.size - int(np.count_nonzero(np.isfinite(w)))
    magnitude = np.bitwise_and(w.view(torch.int16).numpy(), 0x7FFF)  # sign bit cleared
    inf = _HALF_INF_BITS[w.dtype]
    return int(np.count_nonzero(magnitude >= inf)) if magnitude.size and magnitude.max() >= inf else 0


def _stack_slices(
    w: np.ndarray | torch.Tensor, layer_type: str, groups: int, conv: Convention
) -> tuple[np.ndarray | torch.Tensor | None, tuple | str]:
    """Stack a weight into ``(k, out, in)`` matrices, with their positions (or a skip reason)."""
    if w.ndim == 2:
        return w[None], (None,)
    if layer_type == "Experts":  # (experts, out, in): one matrix per expert
        return w, tuple((e,) for e in range(w.shape[0]))
    if groups > 1 and w.shape[1] == 1 and conv.depthwise_conv == "skip":
        return None, f"depthwise convolution ({groups} groups of 1 input channel): slices are vectors"
    kernel = tuple(w.shape[2:])
    positions = tuple(np.ndindex(*kernel))
    # (out, in, *kernel) -> (*kernel, out, in) -> (k, out, in)
    stacked = w.transpose(*range(2, w.ndim), 0, 1).reshape(-1, w.shape[0], w.shape[1])
    if groups > 1 and conv.grouped_conv == "per_group":
        per = w.shape[0] // groups
        stacked = stacked.reshape(len(positions), groups, per, w.shape[1]).reshape(-1, per, w.shape[1])
        positions = tuple((g, *p) for p in positions for g in range(groups))
    return np.ascontiguousarray(stacked), positions


def _scale(layer_type: str, count: int, n: int, conv: Convention) -> float:
    scale = 1.0
    if layer_type in ("Conv2d", "Conv1d") and conv.conv_scale == "sqrt_slices_over_2":
        scale = float(np.sqrt(count / 2.0))
    elif layer_type == "Conv2d" and conv.conv_scale == "sqrt_half_conv2d":
        scale = float(np.sqrt(0.5))
    elif layer_type in ("Linear", "Conv1D") and conv.linear_scale == "sqrt_half":
        scale = float(np.sqrt(0.5))
    if conv.divide_by_n:
        scale /= float(np.sqrt(n))
    return scale
