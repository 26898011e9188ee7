"""The architectures trained in the experiments: an MLP and 1-D / 2-D (VGG-style) CNNs.

Layer names do not depend on depth (``conv1``, ``conv2``, ..., ``fc``, ``out``), so the
members of a depth series share the names of their common layers.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from .datasets import N_CLASSES

__all__ = ["ARCHITECTURES", "CNN_HEAD_WIDTH", "MNIST_SIDE", "build_cnn1d", "build_mlp", "build_vgg2d"]

ARCHITECTURES: tuple[str, ...] = ("mlp", "cnn1d", "vgg2d")

def build_mlp(in_features: int, width: int, n_classes: int = N_CLASSES) -> nn.Sequential:
    """Build the MLP ``in_features -> width -> width -> n_classes`` with ReLU activations.

    Parameters
    ----------
    in_features : int
        Input dimension.
    width : int
        Hidden width; the ``width x width`` layer has ``width`` eigenvalues.
    n_classes : int, default 10
        Number of output logits.

    Returns
    -------
    torch.nn.Sequential
        Three ``nn.Linear`` layers separated by ``nn.ReLU``.
    """
    return nn.Sequential(
        nn.Linear(in_features, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, n_classes),
    )


#: Output width of the first fully connected layer of both CNNs (``fc``, before ``out``).
CNN_HEAD_WIDTH = 64
#: Side of the square MNIST images the VGG-style CNN reshapes its input to.
MNIST_SIDE = 28


def build_cnn1d(in_features: int, depth: int, width: int, n_classes: int = N_CLASSES) -> nn.Sequential:
    """Build a 1-D CNN: ``depth`` convolutions, global average pooling, two linear layers.

    ``conv1`` maps the one input channel to ``width`` channels, ``conv2 .. conv<depth>`` map
    ``width`` to ``width`` channels; every convolution has kernel 5 and padding 2, and is
    followed by a ReLU and, while the signal is at least 2 long, a max pooling by 2 (so depth
    also widens the receptive field).  Convolutions get He-normal weights (fan-out) and zero
    biases, linear layers PyTorch's default initialisation.  Then ``fc`` (``width -> 64``, ReLU) and ``out``
    (``64 -> n_classes``).  Layer names do not depend on ``depth``: a deeper model has the
    same ``conv1``, ``conv2``, ``fc`` and ``out`` plus more convolutions.

    Parameters
    ----------
    in_features : int
        Length of the input signal (40 for MNIST-1D); inputs arrive flat, ``(n, in_features)``.
    depth : int
        Number of convolution layers, at least 1.
    width : int
        Channels of every convolution.
    n_classes : int, default 10
        Number of output logits.

    Returns
    -------
    torch.nn.Sequential

    Raises
    ------
    ValueError
        If ``depth < 1`` or ``width < 1``.
    """
    _check_cnn(depth, width)
    layers: dict[str, nn.Module] = {"reshape": nn.Unflatten(1, (1, in_features))}
    length, channels = in_features, 1
    for i in range(1, depth + 1):
        layers[f"conv{i}"] = nn.Conv1d(channels, width, kernel_size=5, padding=2)
        layers[f"relu{i}"] = nn.ReLU()
        if length >= 2:
            layers[f"pool{i}"] = nn.MaxPool1d(2)
            length //= 2
        channels = width
    layers |= _head(nn.AdaptiveAvgPool1d(1), width, n_classes)
    return _he_init(nn.Sequential(OrderedDict(layers)))


def build_vgg2d(in_features: int, depth: int, width: int, n_classes: int = N_CLASSES) -> nn.Sequential:
    """Build a VGG-style 2-D CNN: ``depth`` 3x3 convolutions, most at 7x7 resolution.

    ``conv1`` (one input channel to ``width``, stride 2: 28x28 to 14x14) is followed by a ReLU
    and a 2x2 max pooling to 7x7; ``conv2 .. conv<depth>`` (``width -> width``, each with a ReLU) work at
    7x7, as VGG deepens a stage by stacking 3x3 convolutions; then a 2x2 max pooling to 3x3,
    flattening, ``fc`` (``9 * width -> 64``, ReLU) and ``out`` (``64 -> n_classes``).  Layer
    names and shapes of ``conv1``, ``conv2``, ``fc`` and ``out`` do not depend on ``depth``.
    Initialisation as :func:`build_cnn1d`.

    Parameters
    ----------
    in_features : int
        784: flat 28x28 images.
    depth, width, n_classes : int
        As for :func:`build_cnn1d`.

    Returns
    -------
    torch.nn.Sequential
        Initialised as :func:`build_cnn1d`'s.

    Raises
    ------
    ValueError
        If ``in_features != 784``, ``depth < 1`` or ``width < 1``.
    """
    _check_cnn(depth, width)
    if in_features != MNIST_SIDE**2:
        raise ValueError(f"build_vgg2d needs 28x28 images (784 features), got {in_features}")
    layers: dict[str, nn.Module] = {
        "reshape": nn.Unflatten(1, (1, MNIST_SIDE, MNIST_SIDE)),
        "conv1": nn.Conv2d(1, width, kernel_size=3, stride=2, padding=1),
        "relu1": nn.ReLU(),
        "pool1": nn.MaxPool2d(2),
    }
    for i in range(2, depth + 1):
        layers[f"conv{i}"] = nn.Conv2d(width, width, kernel_size=3, padding=1)
        layers[f"relu{i}"] = nn.ReLU()
    layers["pool_last"] = nn.MaxPool2d(2)
    layers |= _head(nn.Flatten(), 9 * width, n_classes)
    return _he_init(nn.Sequential(OrderedDict(layers)))


def _he_init(model: nn.Sequential) -> nn.Sequential:
    """He-normal convolution weights (fan-out, ReLU gain) and zero biases, as torchvision's VGG."""
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)
    return model


def _check_cnn(depth: int, width: int) -> None:
    if depth < 1 or width < 1:
        raise ValueError(f"a CNN needs depth >= 1 and width >= 1, got depth={depth}, width={width}")


def _head(reduce: nn.Module, in_features: int, n_classes: int) -> dict[str, nn.Module]:
    """``reduce`` (pooling or flattening), then ``fc`` (-> 64, ReLU) and ``out`` (-> classes)."""
    head: dict[str, nn.Module] = {"reduce": reduce}
    if not isinstance(reduce, nn.Flatten):
        head["flatten"] = nn.Flatten()
    return head | {
        "fc": nn.Linear(in_features, CNN_HEAD_WIDTH),
        "relu_fc": nn.ReLU(),
        "out": nn.Linear(CNN_HEAD_WIDTH, n_classes),
    }
