#!/usr/bin/python3
"""Checks an adapter folder written by Boft (C#) the way PEFT and the safetensors library would read it.

Usage: /usr/bin/python3 read_checkpoint.py FOLDER EXPECTED_JSON
EXPECTED_JSON: {"tensors": {key: {"dtype", "shape", "values"}}, "config": {field: value}} written by the C# test.
Exit code 0 and a line starting with "OK" when everything matches, else 1 and lines starting with "FAIL".

Checks (torch only; no safetensors/peft packages):
  * adapter_model.safetensors parses under the reference reader's rules (peft_layout.parse_safetensors) and is
    byte-identical to what the reference writer produces for the same tensors (ordering, header, padding);
  * metadata is {"format": "pt"} as PeftModel.save_pretrained writes;
  * every tensor's key, dtype, shape and values (exactly) match EXPECTED_JSON, values read with torch from the bytes;
  * keys follow get_peft_model_state_dict's naming and shapes follow the config (boft_R [m,k,b,b], boft_s [n,1]
    or [1,n] for the Conv2d modules listed in EXPECTED_JSON's optional "conv_modules",
    oft_R.weight [r_param, b(b-1)/2]);
  * with EXPECTED_JSON's optional "float32_source" (float32 bit patterns), every listed tensor's bits equal torch's conversion
    of those float32 values to the stored dtype (BF16/F16 round to nearest even, as Tensor.to does);
  * adapter_config.json is exactly json.dumps(config, indent=2, sort_keys=True), has every field PEFT's dataclass has,
    and passes OFTConfig.check_kwargs / __post_init__ (oft_block_size present, one of r / block size non-zero,
    peft_version a version >= 0.18.0 when use_cayley_neumann is set) and holds the expected field values.
"""

import json
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peft_layout import (  # noqa: E402
    BOFT_DEFAULTS,
    SAME_SIZE_INT,
    COMMON_DEFAULTS,
    OFT_DEFAULTS,
    dumps_config,
    parse_safetensors,
    serialize_safetensors,
    tensor_from_bytes,
)

KEY = re.compile(r"^base_model\.model\.(?P<path>[^.]+(?:\.[^.]+)*)\.(?P<param>boft_R|boft_s|oft_R\.weight)$")


def version_tuple(text):
    text = text.partition("@")[0]
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)(.*)$", text)
    if not match:
        raise ValueError(f"unparseable version {text!r}")
    major, minor, patch, rest = match.groups()
    prerelease = bool(re.match(r"^(\.?dev|a|b|rc)", rest))
    return (int(major), int(minor), int(patch), 0 if prerelease else 1)


def main(folder, expected_path):
    failures = []
    with open(expected_path) as reader:
        expected = json.load(reader)

    # --- config ---
    with open(os.path.join(folder, "adapter_config.json")) as reader:
        config_text = reader.read()
    config = json.loads(config_text)
    if config_text != dumps_config(config):
        failures.append("adapter_config.json is not formatted as json.dumps(indent=2, sort_keys=True)")
    peft_type = config.get("peft_type")
    method_defaults = {"BOFT": BOFT_DEFAULTS, "OFT": OFT_DEFAULTS}.get(peft_type)
    if method_defaults is None:
        failures.append(f"peft_type {peft_type!r} is not BOFT or OFT")
        method_defaults = {}
    missing = sorted(set(COMMON_DEFAULTS) - {"peft_version"} | set(method_defaults)) if method_defaults else []
    missing = [field for field in missing if field not in config]
    if missing:
        failures.append(f"adapter_config.json lacks fields {missing}")
    if peft_type == "OFT":
        if "oft_block_size" not in config:
            failures.append("OFT config without oft_block_size (PEFT: 'OFT has been updated since PEFT 0.14.0')")
        if (config.get("r", 0) == 0) == (config.get("oft_block_size", 0) == 0):
            failures.append("exactly one of r and oft_block_size must be non-zero")
        if config.get("use_cayley_neumann") and "peft_version" in config:
            if version_tuple(config["peft_version"]) < (0, 18, 0, 1):
                failures.append(f"peft_version {config['peft_version']} < 0.18.0 with use_cayley_neumann")
    if peft_type == "BOFT" and (config.get("boft_block_size", 0) == 0) == (config.get("boft_block_num", 0) == 0):
        failures.append("exactly one of boft_block_size and boft_block_num must be non-zero")
    for field, value in expected.get("config", {}).items():
        if field == "__absent__":
            for absent in value:
                if absent in config:
                    failures.append(f"config field {absent} should be absent, is {config[absent]!r}")
        elif config.get(field, "<missing>") != value:
            failures.append(f"config field {field} is {config.get(field, '<missing>')!r}, expected {value!r}")

    # --- weights ---
    with open(os.path.join(folder, "adapter_model.safetensors"), "rb") as reader:
        data = reader.read()
    try:
        metadata, tensors, order, _ = parse_safetensors(data)
    except ValueError as error:
        print(f"FAIL: adapter_model.safetensors does not parse: {error}")
        return 1
    if metadata != {"format": "pt"}:
        failures.append(f"metadata is {metadata!r}, expected {{'format': 'pt'}}")
    rebuilt = {name: tensor_from_bytes(raw, dtype, shape) for name, (dtype, shape, raw) in tensors.items()}
    if serialize_safetensors(rebuilt, metadata) != data:
        failures.append("the file is not byte-identical to the reference writer's layout for the same tensors")

    expected_tensors = expected["tensors"]
    if sorted(tensors) != sorted(expected_tensors):
        failures.append(f"keys {sorted(tensors)} != expected {sorted(expected_tensors)}")
    for name, want in expected_tensors.items():
        if name not in tensors:
            continue
        dtype, shape, _ = tensors[name]
        if dtype != want["dtype"] or list(shape) != want["shape"]:
            failures.append(f"{name}: {dtype} {shape}, expected {want['dtype']} {want['shape']}")
            continue
        values = rebuilt[name].to(torch.float64).flatten()
        want_values = torch.tensor(want["values"], dtype=torch.float64)
        if values.shape != want_values.shape or not torch.equal(values, want_values):
            diff = (values - want_values).abs().max().item() if values.shape == want_values.shape else "shape"
            failures.append(f"{name}: values differ (max abs diff {diff})")

    # Optional "float32_source": {key: [float32 bit patterns as integers]}: the stored tensor must be exactly torch's own conversion of those float32
    # masters to the stored dtype (Tensor.to(bfloat16 / float16): round to nearest, ties to even), compared bit for bit.
    for name, source in expected.get("float32_source", {}).items():
        if name not in rebuilt:
            failures.append(f"{name}: float32_source given for a missing tensor")
            continue
        stored = rebuilt[name].flatten()
        import numpy

        masters = torch.from_numpy(numpy.array(source, dtype=numpy.uint32).view(numpy.float32).copy())
        converted = masters.to(stored.dtype)
        int_type = SAME_SIZE_INT[stored.element_size()][0]
        if converted.shape != stored.shape or not torch.equal(converted.view(int_type), stored.view(int_type)):
            mismatches = (converted.view(int_type) != stored.view(int_type)).nonzero().flatten().tolist() if converted.shape == stored.shape else "shape"
            failures.append(f"{name}: stored {stored.dtype} bits differ from torch's conversion of the float32 masters at {mismatches}")

    for name, (dtype, shape, _) in tensors.items():
        match = KEY.match(name)
        if not match:
            continue
        param = match.group("param")
        if peft_type == "BOFT" and param == "boft_R":
            b = config["boft_block_size"]
            m = config["boft_n_butterfly_factor"]
            if len(shape) != 4 or shape[0] != m or (b and (shape[2] != b or shape[3] != b)):
                failures.append(f"{name}: shape {shape} does not fit boft_block_size={b}, boft_n_butterfly_factor={m}")
        elif peft_type == "BOFT" and param == "boft_s" and match.group("path") in expected.get("conv_modules", []):
            if len(shape) != 2 or shape[0] != 1:
                failures.append(f"{name}: shape {shape} is not [1, n] (PEFT's BOFT Conv2d layout)")
        elif peft_type == "BOFT" and param == "boft_s":
            if len(shape) != 2 or shape[1] != 1:
                failures.append(f"{name}: shape {shape} is not [n, 1]")
        elif peft_type == "OFT" and param == "oft_R.weight":
            b = config["oft_block_size"]
            if len(shape) != 2 or (b and shape[1] != b * (b - 1) // 2) or (config["block_share"] and shape[0] != 1):
                failures.append(f"{name}: shape {shape} does not fit oft_block_size={b}, block_share={config['block_share']}")
        else:
            failures.append(f"{name}: a {param} key in a {peft_type} checkpoint")
    adapter_keys = [name for name in tensors if KEY.match(name)]
    if not adapter_keys:
        failures.append("no adapter keys")

    if failures:
        for failure in failures:
            print(f"FAIL: {failure}")
        return 1
    print(f"OK: {len(tensors)} tensors ({len(adapter_keys)} adapter parameters), order {order}, peft_type {peft_type}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
