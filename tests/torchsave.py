"""torchsave.py - reads and writes torch.save checkpoints (legacy and zip) without torch, for test inputs.

Tensors are kept as raw storage bytes plus the view (offset, shape, stride), so a checkpoint read
here and written back holds the same numbers; tests then change one thing to make a bad input.
"""
import collections
import io
import pickle
import struct
import sys
import types
import zipfile

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_ITEMSIZE = {
    "FloatStorage": 4, "DoubleStorage": 8, "HalfStorage": 2, "BFloat16Storage": 2,
    "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1,
    "BoolStorage": 1,
}


class Storage:
    def __init__(self, type_name, key, data):
        self.type_name, self.key, self.data = type_name, key, data

    @property
    def numel(self):
        return len(self.data) // STORAGE_ITEMSIZE[self.type_name]


class Tensor:
    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset = storage, offset
        self.shape, self.stride = tuple(shape), tuple(stride)


def float_tensor(key, values, shape):
    """A contiguous float32 tensor over a storage of its own."""
    stride, n = [], 1
    for d in reversed(shape):
        stride.insert(0, n)
        n *= d
    assert len(values) == n
    return Tensor(Storage("FloatStorage", key, struct.pack("<%df" % n, *values)), 0, shape, stride)


# ------------------------------------------------------------------------------------ reading
class _Unpickler(pickle.Unpickler):
    """Maps torch's globals onto the classes above; nothing from the file is imported."""

    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages  # key -> Storage (data filled in later for legacy files)

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return lambda storage, offset, size, stride, *rest: Tensor(storage, offset, size,
                                                                     stride)
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return lambda data, requires_grad, hooks: data
        if module == "torch" and name in STORAGE_ITEMSIZE:
            return name
        raise pickle.UnpicklingError("refused global %s.%s" % (module, name))

    def persistent_load(self, pid):
        _, type_name, key, _location, numel = pid[:5]
        if key not in self.storages:
            self.storages[key] = Storage(type_name, key, b"")
            self.storages[key].declared = numel
        return self.storages[key]


def read(path):
    """The state dict of a torch.save file: an OrderedDict of name -> Tensor."""
    with open(path, "rb") as f:
        raw = f.read()
    storages = {}
    if raw[:4] == b"PK\x03\x04":
        z = zipfile.ZipFile(io.BytesIO(raw))
        pkl = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        folder = pkl[: -len("/data.pkl")]
        state = _Unpickler(io.BytesIO(z.read(pkl)), storages).load()
        for key, s in storages.items():
            s.data = z.read("%s/data/%s" % (folder, key))
        return state
    f = io.BytesIO(raw)
    for _ in range(3):  # magic, protocol version, system info
        _Unpickler(f, storages).load()
    state = _Unpickler(f, storages).load()
    for key in _Unpickler(f, storages).load():
        (numel,) = struct.unpack("<q", f.read(8))
        s = storages[key]
        s.data = f.read(numel * STORAGE_ITEMSIZE[s.type_name])
    return state


# ------------------------------------------------------------------------------------ writing
def _fake_torch_modules():
    """Module objects named like torch's, so that pickle writes torch's global names."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    torch._utils = utils

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in STORAGE_ITEMSIZE:
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    return torch, utils


class _Pickler(pickle.Pickler):
    def __init__(self, f, torch, utils, storages):
        super().__init__(f, protocol=2)
        self.torch, self.utils, self.storages = torch, utils, storages
        self.dispatch_table = {Tensor: self._reduce_tensor}

    def _reduce_tensor(self, t):
        return (self.utils._rebuild_tensor_v2,
                (t.storage, t.offset, t.shape, t.stride, False, collections.OrderedDict()))

    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            self.storages[obj.key] = obj
            numel = getattr(obj, "declared", obj.numel)
            return ("storage", getattr(self.torch, obj.type_name), obj.key, "cpu", numel)
        return None


def _pickle_state(state):
    torch, utils = _fake_torch_modules()
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    try:
        buf, storages = io.BytesIO(), {}
        _Pickler(buf, torch, utils, storages).dump(state)
        return buf.getvalue(), storages
    finally:
        for k, v in saved.items():
            if v is None:
                del sys.modules[k]
            else:
                sys.modules[k] = v


def legacy_bytes(state):
    out = io.BytesIO()
    for obj in (LEGACY_MAGIC, 1001,
                {"protocol_version": 1001, "little_endian": True,
                 "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(obj, out, protocol=2)
    body, storages = _pickle_state(state)
    out.write(body)
    keys = sorted(storages)
    pickle.dump(keys, out, protocol=2)
    for key in keys:
        s = storages[key]
        out.write(struct.pack("<q", getattr(s, "declared", s.numel)))
        out.write(s.data)
    return out.getvalue()


def zip_bytes(state, folder="archive", skip_storage=None, compress=zipfile.ZIP_STORED):
    body, storages = _pickle_state(state)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compress) as z:
        def put(name, data):  # a fixed date, so that the same state gives the same bytes
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, compress)

        put(folder + "/data.pkl", body)
        put(folder + "/byteorder", "little")
        for key in sorted(storages):
            if key != skip_storage:
                put("%s/data/%s" % (folder, key), storages[key].data)
        put(folder + "/version", "3\n")
    return out.getvalue()
