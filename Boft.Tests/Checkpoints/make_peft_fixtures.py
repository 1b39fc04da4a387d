#!/usr/bin/python3
"""Writes the PEFT-layout adapter folders under Fixtures/ that Boft's C# tests load (CheckpointFixtureTests).

Run from anywhere with Debian's Python and torch:   /usr/bin/python3 Boft.Tests/Checkpoints/make_peft_fixtures.py
The output is deterministic (seeded torch.Generator, fixed layouts), so rerunning it must leave `git status` clean.

Each fixture folder holds what PeftModel.save_pretrained writes for the adapter, byte for byte in layout:
  adapter_model.safetensors  keys as get_peft_model_state_dict returns them (adapter name removed), metadata {"format": "pt"}
  adapter_config.json        every field of the config dataclass, json.dumps(indent=2, sort_keys=True)
plus expected.json (not a PEFT file): every tensor's dtype, shape and values widened to float64 (Python float repr,
so the C# test can compare exactly).

PEFT facts used (huggingface/peft HEAD 5d602fd):
  BOFT  src/peft/tuners/boft/layer.py: boft_R ParameterDict [m, k, b, b], boft_s [n, 1] (Conv2d: [1, n]); boft_P non-persistent since
        PEFT 0.13 (0.11-0.12 saved it as `<path>.boft_P`, a plain layer buffer without adapter name).
  OFT   src/peft/tuners/oft/layer.py: oft_R ModuleDict of OFTRotationModule with parameter `weight` [r_param, b(b-1)/2].
  keys  src/peft/tuners/tuners_utils.py _remove_adapter_name_from_state_dict_key: `...boft_R.default` -> `...boft_R`,
        `...oft_R.default.weight` -> `...oft_R.weight`; with bias="<method>_only" the layer's `base_layer.bias` is saved.
  peft_version is written since 0.18.0; PEFT 0.16/0.17 OFT configs have none (OFTConfig.check_kwargs).
"""

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peft_layout import BOFT_DEFAULTS, COMMON_DEFAULTS, OFT_DEFAULTS, dumps_config, serialize_safetensors  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "Fixtures")
PREFIX = "base_model.model."


def config(defaults, **fields):
    result = dict(COMMON_DEFAULTS)
    result.update(defaults)
    result.update(fields)
    return result


def write_fixture(name, adapter_config, tensors, include_peft_version=True):
    folder = os.path.join(FIXTURES, name)
    os.makedirs(folder, exist_ok=True)
    if not include_peft_version:
        adapter_config = {k: v for k, v in adapter_config.items() if k != "peft_version"}
    with open(os.path.join(folder, "adapter_config.json"), "w") as writer:
        writer.write(dumps_config(adapter_config))
    with open(os.path.join(folder, "adapter_model.safetensors"), "wb") as writer:
        writer.write(serialize_safetensors(tensors, {"format": "pt"}))
    expected = {
        key: {
            "dtype": {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}[t.dtype],
            "shape": list(t.shape),
            "values": t.to(torch.float64).flatten().tolist(),
        }
        for key, t in sorted(tensors.items())
    }
    with open(os.path.join(folder, "expected.json"), "w") as writer:
        writer.write(json.dumps(expected, indent=1, sort_keys=True) + "\n")


def boft_tensors(generator, path, m, k, b, n, dtype):
    return {
        f"{PREFIX}{path}.boft_R": (0.1 * torch.randn(m, k, b, b, generator=generator, dtype=torch.float64)).to(dtype),
        f"{PREFIX}{path}.boft_s": (1.0 + 0.1 * torch.randn(n, 1, generator=generator, dtype=torch.float64)).to(dtype),
    }


def oft_tensors(generator, path, r_param, b, dtype):
    packed = b * (b - 1) // 2
    return {f"{PREFIX}{path}.oft_R.weight": (0.1 * torch.randn(r_param, packed, generator=generator, dtype=torch.float64)).to(dtype)}


def main():
    generator = torch.Generator().manual_seed(20240611)

    # 1. BOFT as PEFT >= 0.18 saves it: b=4, m=2 on q_proj (16 -> 16) and v_proj (16 -> 8), bias="boft_only".
    tensors = {}
    for path, n in [("model.layers.0.self_attn.q_proj", 16), ("model.layers.0.self_attn.v_proj", 8)]:
        tensors.update(boft_tensors(generator, path, m=2, k=4, b=4, n=n, dtype=torch.float32))
        tensors[f"{PREFIX}{path}.base_layer.bias"] = torch.randn(n, generator=generator, dtype=torch.float64).to(torch.float32)
    boft_b4_m2_config = config(
        BOFT_DEFAULTS,
        peft_type="BOFT",
        peft_version="0.20.0",
        task_type="CAUSAL_LM",
        base_model_name_or_path="boft-tests/tiny-model",
        inference_mode=True,
        target_modules=["q_proj", "v_proj"],
        bias="boft_only",
        boft_block_size=4,
        boft_n_butterfly_factor=2,
        boft_dropout=0.1,
    )
    write_fixture("boft_b4_m2_f32", boft_b4_m2_config, tensors)

    # 1b. The same adapter saved in bfloat16, as PEFT saves a model trained (or cast with model.to(torch.bfloat16)) in bf16:
    #     every tensor of fixture 1 converted by torch's Tensor.to(torch.bfloat16) (round to nearest, ties to even). Draws no
    #     random numbers, so the fixtures after it are unchanged. The C# tests load it into float32 masters and compare them with
    #     fixture 1's float32 values, and check that Boft's own bf16 save of fixture 1 writes these bytes.
    write_fixture("boft_b4_m2_bf16", boft_b4_m2_config, {key: t.to(torch.bfloat16) for key, t in tensors.items()})

    # 2. OFT as PEFT >= 0.18 saves it: oft_block_size=4, Cayley-Neumann, regex target_modules; q_proj d=16, v_proj d=12.
    tensors = {}
    for path, d in [("model.layers.1.self_attn.q_proj", 16), ("model.layers.1.self_attn.v_proj", 12)]:
        tensors.update(oft_tensors(generator, path, r_param=d // 4, b=4, dtype=torch.float32))
    write_fixture(
        "oft_b4_v020_f32",
        config(
            OFT_DEFAULTS,
            peft_type="OFT",
            peft_version="0.20.0.dev0@5d602fdbff04c33c1c4de55cda9d4ae1d7cb7e40",
            base_model_name_or_path="boft-tests/tiny-model",
            inference_mode=True,
            target_modules=r".*\.(q_proj|v_proj)$",
            oft_block_size=4,
            layers_to_transform=[1],
        ),
        tensors,
    )

    # 3. OFT as PEFT 0.16/0.17 saved it (no peft_version: old Cayley-Neumann coefficients), block_share, r=2, bfloat16.
    tensors = oft_tensors(generator, "encoder.dense", r_param=1, b=8, dtype=torch.bfloat16)
    write_fixture(
        "oft_shared_v017_bf16",
        config(
            OFT_DEFAULTS,
            peft_type="OFT",
            inference_mode=True,
            target_modules=["dense"],
            r=2,
            oft_block_size=0,
            block_share=True,
            eps=6e-5,
        ),
        tensors,
        include_peft_version=False,
    )

    # 4. BOFT as PEFT 0.11-0.12 saved it in float16: with the (then persistent) boft_P buffer, no peft_version.
    path = "fc"
    tensors = boft_tensors(generator, path, m=2, k=4, b=2, n=6, dtype=torch.float16)
    tensors[f"{PREFIX}{path}.boft_P"] = torch.eye(8, dtype=torch.float16).repeat(2, 1, 1)
    write_fixture(
        "boft_legacy_p_f16",
        config(BOFT_DEFAULTS, peft_type="BOFT", inference_mode=True, target_modules=["fc"], boft_block_size=2, boft_n_butterfly_factor=2),
        tensors,
        include_peft_version=False,
    )

    # 5. BOFT on a small CNN as PEFT's boft.layer.Conv2d saves it: conv1 (C_in=4, 3x3 kernel: conv_filter_dim d = 36,
    #    boft_s [1, 6], the Conv2d layout) and the linear head fc (d = 12, boft_s [4, 1]); b=6, m=2 (36 and 12 are multiples of 12).
    tensors = {
        f"{PREFIX}conv1.boft_R": (0.1 * torch.randn(2, 6, 6, 6, generator=generator, dtype=torch.float64)).to(torch.float32),
        f"{PREFIX}conv1.boft_s": (1.0 + 0.1 * torch.randn(1, 6, generator=generator, dtype=torch.float64)).to(torch.float32),
    }
    tensors.update(boft_tensors(generator, "fc", m=2, k=2, b=6, n=4, dtype=torch.float32))
    write_fixture(
        "boft_conv_b6_m2_f32",
        config(
            BOFT_DEFAULTS,
            peft_type="BOFT",
            peft_version="0.20.0",
            inference_mode=True,
            target_modules=["conv1", "fc"],
            boft_block_size=6,
            boft_n_butterfly_factor=2,
        ),
        tensors,
    )


if __name__ == "__main__":
    main()
