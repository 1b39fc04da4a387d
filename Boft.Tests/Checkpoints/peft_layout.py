"""Hand-written safetensors and adapter_config.json layout, shared by make_peft_fixtures.py and read_checkpoint.py.

No `safetensors` or `peft` package is needed (neither is installed on the build machines); this reproduces what they do:

* safetensors (huggingface/safetensors, safetensors/src/tensor.rs `prepare` / `read_metadata` / `Metadata::validate`,
  README "Format"): 8-byte little-endian header length N, N bytes of JSON, then the byte buffer. The writer sorts
  tensors by dtype in *descending* order of the `Dtype` enum (its alignment order), then by name (byte-wise), assigns
  offsets without gaps, serializes the header compactly (serde_json: `__metadata__` first, then each tensor's
  {"dtype", "shape", "data_offsets"} in that order) and pads it with spaces to a multiple of 8.
* adapter_config.json (huggingface/peft src/peft/config.py, PeftConfigMixin.save_pretrained):
  json.dumps(asdict(config), indent=2, sort_keys=True), sets written as lists, no trailing newline.
"""

import json
import struct

import torch

# safetensors Dtype enum, in declaration (= increasing alignment) order.
DTYPE_ORDER = [
    "BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ",
    "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64",
]
TORCH_TO_DTYPE = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64", torch.int64: "I64"}
DTYPE_TO_TORCH = {v: k for k, v in TORCH_TO_DTYPE.items()}
DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8}
SAME_SIZE_INT = {2: (torch.int16, "<i2"), 4: (torch.int32, "<i4"), 8: (torch.int64, "<i8")}


def tensor_bytes(tensor):
    """Little-endian, row-major bytes of a tensor (viewed as a same-size integer type, so bfloat16 works on numpy)."""
    tensor = tensor.detach().contiguous().cpu()
    int_type, numpy_type = SAME_SIZE_INT[tensor.element_size()]
    return tensor.view(int_type).numpy().astype(numpy_type).tobytes()


def tensor_from_bytes(data, dtype, shape):
    size = DTYPE_SIZE[dtype]
    int_type, numpy_type = SAME_SIZE_INT[size]
    import numpy

    ints = torch.from_numpy(numpy.frombuffer(bytearray(data), dtype=numpy_type).astype(numpy_type[1:]).copy())
    return ints.view(DTYPE_TO_TORCH[dtype]).reshape(shape)


def serialize_safetensors(tensors, metadata):
    """The bytes the safetensors library writes for {name: tensor} and metadata."""
    items = sorted(
        tensors.items(),
        key=lambda item: (-DTYPE_ORDER.index(TORCH_TO_DTYPE[item[1].dtype]), item[0].encode("utf-8")),
    )
    header = {}
    if metadata is not None:
        header["__metadata__"] = dict(sorted(metadata.items()))
    blobs = []
    offset = 0
    for name, tensor in items:
        blob = tensor_bytes(tensor)
        header[name] = {
            "dtype": TORCH_TO_DTYPE[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        offset += len(blob)
        blobs.append(blob)
    header_bytes = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    return struct.pack("<Q", len(header_bytes)) + header_bytes + b"".join(blobs)


def parse_safetensors(data):
    """Parses and validates safetensors bytes as the reference reader does; returns (metadata, {name: (dtype, shape, bytes)}, order)."""
    if len(data) < 8:
        raise ValueError("header too small")
    (n,) = struct.unpack("<Q", data[:8])
    if n > 100_000_000 or 8 + n > len(data):
        raise ValueError(f"invalid header length {n}")
    header_bytes = data[8 : 8 + n]
    if not header_bytes.startswith(b"{"):
        raise ValueError("header does not start with '{'")
    names = []

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError(f"duplicate keys in {keys}")
        names.append(keys)
        return dict(pairs)

    header = json.loads(header_bytes.decode("utf-8"), object_pairs_hook=no_duplicates)
    metadata = header.pop("__metadata__", None)
    entries = sorted(header.items(), key=lambda item: tuple(item[1]["data_offsets"]))
    position = 0
    tensors = {}
    buffer = data[8 + n :]
    for name, info in entries:
        begin, end = info["data_offsets"]
        if begin != position or end < begin:
            raise ValueError(f"invalid offset for {name}")
        count = 1
        for dim in info["shape"]:
            count *= dim
        if end - begin != count * DTYPE_SIZE[info["dtype"]]:
            raise ValueError(f"invalid info for {name}")
        tensors[name] = (info["dtype"], info["shape"], buffer[begin:end])
        position = end
    if position != len(buffer):
        raise ValueError("incomplete metadata, file not fully covered")
    order = [name for name, _ in entries]
    return metadata, tensors, order, header_bytes


def dumps_config(config):
    """adapter_config.json text as PEFT writes it."""
    return json.dumps(config, indent=2, sort_keys=True)


# Every field asdict() gives for PEFT HEAD's configs (src/peft/config.py PeftConfigMixin + PeftConfig, then the method's).
COMMON_DEFAULTS = {
    "task_type": None,
    "peft_type": None,
    "auto_mapping": None,
    "peft_version": None,
    "base_model_name_or_path": None,
    "revision": None,
    "inference_mode": False,
    "target_modules": None,
    "exclude_modules": None,
    "fan_in_fan_out": False,
    "bias": "none",
    "modules_to_save": None,
    "init_weights": True,
    "layers_to_transform": None,
    "layers_pattern": None,
}
BOFT_DEFAULTS = {"boft_block_size": 4, "boft_block_num": 0, "boft_n_butterfly_factor": 1, "boft_dropout": 0.0}
OFT_DEFAULTS = {
    "r": 0,
    "oft_block_size": 32,
    "module_dropout": 0.0,
    "coft": False,
    "eps": 6e-5,
    "block_share": False,
    "use_cayley_neumann": True,
    "num_cayley_neumann_terms": 5,
}
