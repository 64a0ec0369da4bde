"""Just enough of the ONNX protobuf format to read a model's weights and write a new graph.

The encoder graph is rebuilt at load time (see :mod:`bot.intents.encoder_graph`). Doing that
with the ``onnx`` package would add a ~30 MB dependency for a few dozen message fields, so
the wire format is written out here (field numbers from onnx/onnx.proto3). Only what the
rebuild needs is covered: tensors stored as ``raw_data``, node inputs/outputs, and int,
float and int-list attributes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: TensorProto.DataType values used here.
FLOAT, UINT8, INT8, INT32, INT64 = 1, 2, 3, 6, 7
_DTYPES: dict[int, type[np.generic]] = {
    FLOAT: np.float32, UINT8: np.uint8, INT8: np.int8, INT32: np.int32, INT64: np.int64,
}
_CODES = {np.dtype(t): code for code, t in _DTYPES.items()}
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5

Attribute = int | float | Sequence[int]


class ProtoError(ValueError):
    """The bytes are not the protobuf message this module expects."""


@dataclass(frozen=True)
class Node:
    """The parts of a NodeProto that the rebuild looks at."""

    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


# -- reading -------------------------------------------------------------------------------


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtoError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """(field number, value) pairs: ints for scalar wire types, slices for length-delimited."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
            yield field, value
        elif wire == _BYTES:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ProtoError("truncated field")
            yield field, buf[pos : pos + size]
            pos += size
        elif wire in (_FIXED64, _FIXED32):
            width = 8 if wire == _FIXED64 else 4
            yield field, int.from_bytes(buf[pos : pos + width], "little")
            pos += width
        else:
            raise ProtoError(f"unsupported wire type {wire}")


def _text(value: int | memoryview) -> str:
    if isinstance(value, int):
        raise ProtoError("expected a string field")
    return bytes(value).decode()


def _tensor(buf: memoryview) -> tuple[str, npt.NDArray[np.generic] | None]:
    dims: list[int] = []
    name, dtype, raw = "", 0, None
    for field, value in _fields(buf):
        if field == 1:  # dims: repeated int64, packed or not
            if isinstance(value, int):
                dims.append(value)
            else:
                pos = 0
                while pos < len(value):
                    dim, pos = _varint(value, pos)
                    dims.append(dim)
        elif field == 2 and isinstance(value, int):
            dtype = value
        elif field == 8:
            name = _text(value)
        elif field == 9 and not isinstance(value, int):
            raw = value
    if dtype not in _DTYPES or raw is None:
        return name, None
    array = np.frombuffer(raw, dtype=np.dtype(_DTYPES[dtype]).newbyteorder("<"))
    return name, array.reshape(dims).astype(_DTYPES[dtype])  # astype: own, native-order copy


def _node(buf: memoryview) -> Node:
    inputs: list[str] = []
    outputs: list[str] = []
    op_type = ""
    for field, value in _fields(buf):
        if field == 1:
            inputs.append(_text(value))
        elif field == 2:
            outputs.append(_text(value))
        elif field == 4:
            op_type = _text(value)
    return Node(op_type, tuple(inputs), tuple(outputs))


def read_model(data: bytes) -> tuple[dict[str, npt.NDArray[np.generic]], list[Node]]:
    """The initializers (by name) and the nodes (in graph order) of a serialised ModelProto.

    Initializers of other types than those in ``_DTYPES``, or not stored as raw data, are
    left out.
    """
    graph = next((v for f, v in _fields(memoryview(data)) if f == 7), None)
    if graph is None or isinstance(graph, int):
        raise ProtoError("no graph in the model")
    tensors: dict[str, npt.NDArray[np.generic]] = {}
    nodes: list[Node] = []
    for field, value in _fields(graph):
        if isinstance(value, int):
            continue
        if field == 1:
            nodes.append(_node(value))
        elif field == 5:
            name, array = _tensor(value)
            if array is not None:
                tensors[name] = array
    return tensors, nodes


# -- writing -------------------------------------------------------------------------------


def _enc_varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 as ten-byte two's complement, as protobuf does
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _enc_varint(field << 3 | _VARINT) + _enc_varint(value)


def _bytes(field: int, payload: bytes) -> bytes:
    return _enc_varint(field << 3 | _BYTES) + _enc_varint(len(payload)) + payload


def _str(field: int, value: str) -> bytes:
    return _bytes(field, value.encode())


def tensor(name: str, array: npt.NDArray[np.generic]) -> bytes:
    """A TensorProto holding ``array`` as little-endian raw data."""
    dtype = np.dtype(array.dtype)
    if dtype not in _CODES:
        raise ProtoError(f"{name}: unsupported dtype {dtype}")
    raw = np.ascontiguousarray(array, dtype=dtype.newbyteorder("<")).tobytes()
    dims = b"".join(_int(1, d) for d in array.shape)
    return dims + _int(2, _CODES[dtype]) + _str(8, name) + _bytes(9, raw)


def _attribute(name: str, value: Attribute) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int | float | Sequence):
        raise ProtoError(f"attribute {name}: unsupported value {value!r}")
    if isinstance(value, int):
        return _str(1, name) + _int(3, value) + _int(20, 2)  # type INT
    if isinstance(value, float):
        fixed = _enc_varint(2 << 3 | _FIXED32) + struct.pack("<f", value)
        return _str(1, name) + fixed + _int(20, 1)  # type FLOAT
    return _str(1, name) + b"".join(_int(8, int(v)) for v in value) + _int(20, 7)  # INTS


def node(
    op_type: str, inputs: Sequence[str], outputs: Sequence[str], *, domain: str = "",
    **attributes: Attribute,
) -> bytes:
    """A NodeProto; an empty input name skips an optional input."""
    out = b"".join(_str(1, i) for i in inputs) + b"".join(_str(2, o) for o in outputs)
    out += _str(3, outputs[0]) + _str(4, op_type)
    out += b"".join(_bytes(5, _attribute(k, v)) for k, v in attributes.items())
    return out + (_str(7, domain) if domain else b"")


def value_info(name: str, elem_type: int, dims: Sequence[int | str]) -> bytes:
    """A ValueInfoProto for a tensor; string dimensions are symbolic (e.g. "batch")."""
    shape = b"".join(
        _bytes(1, _str(2, d) if isinstance(d, str) else _int(1, d)) for d in dims
    )
    tensor_type = _int(1, elem_type) + _bytes(2, shape)
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))


def model(
    nodes: Sequence[bytes],
    initializers: Sequence[bytes],
    inputs: Sequence[bytes],
    outputs: Sequence[bytes],
    opsets: Mapping[str, int],
    *,
    name: str = "graph",
    ir_version: int = 8,
) -> bytes:
    """A serialised ModelProto that onnxruntime can load from bytes."""
    graph = b"".join(_bytes(1, n) for n in nodes) + _str(2, name)
    graph += b"".join(_bytes(5, t) for t in initializers)
    graph += b"".join(_bytes(11, i) for i in inputs) + b"".join(_bytes(12, o) for o in outputs)
    opset_ids = b"".join(
        _bytes(8, (_str(1, domain) if domain else b"") + _int(2, version))
        for domain, version in opsets.items()
    )
    return _int(1, ir_version) + _str(2, "messaging-bot") + _bytes(7, graph) + opset_ids
