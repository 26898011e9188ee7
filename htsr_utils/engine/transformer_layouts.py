"""Transformer weight layouts that hold several matrices in one tensor, or one matrix in two.

Two options of :func:`htsr_utils.engine.layers.iter_layers` (and of ``analyze``):

Fused attention projections (``split_qkv=True``)
    Some models store the query, key and value projections in one weight.  As stored, the
    fused weight is one matrix (the default, as weightwatcher 0.7.7 analyzes it); split,
    it gives three matrices, ``<layer>.q``, ``<layer>.k`` and ``<layer>.v``, each what an
    unfused model (``q_proj`` / ``k_proj`` / ``v_proj``) would store:

    ====================  ==========================================  ===========================
    layer name ends in    stored as                                   split
    ====================  ==========================================  ===========================
    ``c_attn``            GPT-2 ``Conv1D``, ``(hidden, 3 * hidden)``  the fused axis in thirds
    ``Wqkv``              Phi / MPT ``Linear``, ``(3 * hidden, hidden)``  the fused axis in thirds
    ``qkv_proj``          Phi-3 ``Linear``, ``(q + 2 * kv, hidden)``  q: the first ``hidden``
                                                                      rows; k, v: equal halves
                                                                      of the rest (grouped-query
                                                                      attention: ``kv < q``)
    ``query_key_value``   GPT-NeoX / BLOOM ``Linear``,                per head:
                          ``(3 * hidden, hidden)``, interleaved       ``(heads, 3, head_dim,
                          per head                                    hidden)``; needs the
                                                                      number of heads
    ====================  ==========================================  ===========================

    The fused axis of ``c_attn`` and ``Wqkv`` is the one three times the other, so a state
    dict (which has no module to say ``Conv1D`` or ``Linear``) splits the same way as the
    module.  ``query_key_value`` needs ``num_attention_heads`` (or ``n_head``) from the
    module's ``config`` or the checkpoint folder's ``config.json``; Falcon's multi-query
    layout (``(hidden + 2 * head_dim, hidden)``) is not split (an error says so).

LoRA adapters (``lora_product=True``)
    PEFT stores an adapted layer's update as two factors, ``<layer>.lora_A`` (``r x in``)
    and ``<layer>.lora_B`` (``out x r``).  By default each factor is listed in ``skipped``
    (a rank-``r`` factor alone is not a layer's matrix); with the option, the pair gives one
    matrix, the update ``B @ A`` (``out x in``, rank ``r``), named ``<layer>.lora_BA``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

__all__ = ["FUSED_QKV_NAMES", "attention_heads", "lora_factor", "split_fused_qkv"]

#: Last name component of the fused query-key-value projections :func:`split_fused_qkv` splits.
FUSED_QKV_NAMES = ("c_attn", "Wqkv", "qkv_proj", "query_key_value")

#: ``<layer>.lora_A`` / ``<layer>.lora_B``, optionally followed by an adapter name
#: (``.default`` in a PEFT module; absent in a saved adapter file).
_LORA_NAME = re.compile(r"^(?P<base>.*)\.lora_(?P<factor>[AB])(?P<adapter>\.[^.]+)?$")


def attention_heads(model: nn.Module | Mapping | str | Path) -> int | None:
    """The number of attention heads a model's configuration gives, or None.

    Read from ``model.config`` for a module (Hugging Face models carry it) or from
    ``config.json`` of a checkpoint folder: ``num_attention_heads``, else ``n_head``.
    """
    config: Mapping | None = None
    if isinstance(model, nn.Module):
        config = vars(model.config) if hasattr(model, "config") else None
    elif isinstance(model, (str, Path)) and Path(model, "config.json").is_file():
        try:
            config = json.loads(Path(model, "config.json").read_text())
        except (OSError, ValueError):
            config = None
    for key in ("num_attention_heads", "n_head"):
        if config and isinstance(config.get(key), int):
            return config[key]
    return None


def split_fused_qkv(layer: str, weight: torch.Tensor, heads: int | None
                    ) -> list[tuple[str, torch.Tensor]] | None:
    """The query, key and value matrices of a fused projection weight (views, no copy).

    Parameters
    ----------
    layer : str
        The layer's name; its last component decides the layout (:data:`FUSED_QKV_NAMES`).
    weight : Tensor
        Its 2-D weight, as stored.
    heads : int or None
        Attention heads (:func:`attention_heads`); needed for ``query_key_value`` only.

    Returns
    -------
    list of (str, Tensor) or None
        ``[(layer + ".q", q), (layer + ".k", k), (layer + ".v", v)]``, or None if ``layer``
        is not a fused projection.

    Raises
    ------
    ValueError
        The weight's shape does not fit the layout, or ``query_key_value`` without ``heads``;
        the message names the layer.
    """
    kind = layer.rpartition(".")[2]
    if kind not in FUSED_QKV_NAMES or weight.ndim != 2:
        return None
    rows, cols = weight.shape
    shape = f"{tuple(weight.shape)}"
    if kind in ("c_attn", "Wqkv"):
        if cols == 3 * rows:
            parts = weight.chunk(3, dim=1)
        elif rows == 3 * cols:
            parts = weight.chunk(3, dim=0)
        else:
            raise ValueError(f"layer {layer!r}: fused q/k/v weight of shape {shape} is not three "
                             "equal parts (neither axis is three times the other): cannot split")
    elif kind == "qkv_proj":
        fused_axis = 0 if rows > cols else 1
        hidden, fused = min(rows, cols), max(rows, cols)
        kv, odd = divmod(fused - hidden, 2)
        if kv <= 0 or odd:
            raise ValueError(f"layer {layer!r}: qkv_proj weight of shape {shape} is not q ({hidden}) "
                             "plus two equal k, v parts: cannot split")
        parts = weight.split([hidden, kv, kv], dim=fused_axis)
    else:  # query_key_value: (heads, 3, head_dim, hidden) interleaved
        if heads is None:
            raise ValueError(f"layer {layer!r}: splitting query_key_value needs the number of attention "
                             "heads (num_attention_heads in the model's config or config.json)")
        if rows != 3 * cols or cols % heads:
            raise ValueError(f"layer {layer!r}: query_key_value weight of shape {shape} is not "
                             f"{heads} heads of interleaved q, k, v (Falcon's multi-query layout "
                             "is not split)")
        per_head = weight.reshape(heads, 3, cols // heads, cols)
        parts = tuple(per_head[:, i].reshape(cols, cols) for i in range(3))
    return [(f"{layer}.{name}", part) for name, part in zip("qkv", parts)]


def lora_factor(layer: str) -> tuple[str, str] | None:
    """``(adapted layer, "A" or "B")`` for a LoRA factor's name, else None.

    The adapted layer's name keeps the adapter name, so two adapters of one layer pair apart:
    ``"x.q_proj.lora_A.default"`` gives ``("x.q_proj.default", "A")``.
    """
    match = _LORA_NAME.match(layer)
    if match is None:
        return None
    return match["base"] + (match["adapter"] or ""), match["factor"]
