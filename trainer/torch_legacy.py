"""Read a PyTorch state dict saved in the legacy (non-zip) format, without PyTorch.

The legacy file is four pickles (magic number, protocol version, system info, the state
dict) then a pickled list of storage keys, then each storage as an 8-byte little-endian
element count followed by its raw little-endian bytes, in that key order. Tensors in the
state dict refer to storages by key through pickle's persistent ids.

Only the names a state dict needs are allowed, so a hostile file cannot run code.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .errors import WeightsError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclass
class _StorageRef:
    key: str
    dtype: type


@dataclass
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, offset, shape, stride, *_ignored) -> _TensorRef:
    return _TensorRef(storage, offset, tuple(shape), tuple(stride))


class _Unpickler(pickle.Unpickler):
    """Resolves only OrderedDict, tensor rebuilding and storage types; refuses the rest."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise WeightsError(f"refusing to load {module}.{name} from a weights file")

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel, view_metadata)
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise WeightsError(f"unexpected persistent id in weights file: {pid!r}")
        return _StorageRef(key=str(pid[2]), dtype=pid[1])


def load_legacy_state_dict(data: bytes) -> dict[str, np.ndarray]:
    """Parse a legacy-format state dict into name -> numpy array (copies, C order).

    Example:
        >>> weights = load_legacy_state_dict(Path("model.pth").read_bytes())
        >>> weights["_fc.weight"].shape
        (1000, 1280)
    """
    stream = io.BytesIO(data)
    try:
        header = [_Unpickler(stream).load() for _ in range(3)]
        if header[0] != MAGIC_NUMBER or header[1] != PROTOCOL_VERSION:
            raise WeightsError("not a legacy PyTorch state dict (bad magic number or protocol)")
        if not header[2].get("little_endian", False):
            raise WeightsError("big-endian PyTorch files are not supported")
        state = _Unpickler(stream).load()
        keys = _Unpickler(stream).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, IndexError) as exc:
        raise WeightsError(f"cannot parse the PyTorch weights file: {exc}") from exc
    storages = _read_storages(stream, keys, _storage_dtypes(state))
    return {name: _materialise(ref, storages) for name, ref in state.items()}


def _storage_dtypes(state: dict) -> dict[str, type]:
    return {ref.storage.key: ref.storage.dtype for ref in state.values()}


def _read_storages(
    stream: io.BytesIO, keys: list[str], dtypes: dict[str, type]
) -> dict[str, np.ndarray]:
    storages = {}
    for key in keys:
        count = int(np.frombuffer(stream.read(8), "<i8")[0])
        dtype = np.dtype(dtypes[key]).newbyteorder("<")
        raw = stream.read(count * dtype.itemsize)
        if len(raw) != count * dtype.itemsize:
            raise WeightsError("the PyTorch weights file is truncated")
        storages[key] = np.frombuffer(raw, dtype)
    return storages


def _materialise(ref: _TensorRef, storages: dict[str, np.ndarray]) -> np.ndarray:
    # Tensors may be non-contiguous views (this file's were converted from TF layouts),
    # so honour the stride rather than assume C order.
    flat = storages[ref.storage.key]
    itemsize = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[ref.offset :], shape=ref.shape, strides=[s * itemsize for s in ref.stride]
    )
    return np.array(view, dtype=flat.dtype.newbyteorder("="), order="C")
