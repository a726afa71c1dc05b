"""Decode speed of a random-weight preset against the memory roofline, with torch alone.

For a GPU machine that has Python and torch but not this workspace's other
dependencies (typer, rich, tiktoken, transformers). Run it from a checkout::

    PYTHONPATH=packages/mltk-core/src:packages/llama3-core/src \\
        python -m llama3_core.roofline_check --preset llama3-8b --device cuda --compile

It prints one JSON object: decode tokens/s at batch 1, the weight bytes read
per step, the device's read and copy bandwidth measured in the same run, and
the roofline fraction (effective bandwidth / read bandwidth).
"""

from __future__ import annotations

import argparse
import json

import torch

from llama3_core.bandwidth import measure_bandwidth
from llama3_core.bench import OursRunner, add_roofline, decode_weight_bytes, run_interleaved
from llama3_core.config import PRESETS, ModelConfig
from llama3_core.model import Transformer


def build_random_model(config: ModelConfig, device: torch.device, dtype: torch.dtype) -> Transformer:
    """Build ``config`` with random weights directly on ``device`` in ``dtype``, with fused projections."""
    torch.manual_seed(0)
    previous_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Transformer(config).eval()
    finally:
        torch.set_default_dtype(previous_dtype)
    return model.fuse_projections()


def run_roofline_check(
    config: ModelConfig,
    device: torch.device,
    dtype: torch.dtype,
    prompt_tokens: int = 128,
    new_tokens: int = 64,
    compile_decode: bool = False,
    repeats: int = 3,
) -> dict:
    """Time batch-1 decode of random weights with ``config``'s shapes; return the report as a dict."""
    model = build_random_model(config, device, dtype)
    bandwidth = measure_bandwidth(device)
    generator = torch.Generator().manual_seed(0)
    prompt_ids = torch.randint(0, config.vocab_size, (1, prompt_tokens), generator=generator)
    runner = OursRunner(model, prompt_ids, new_tokens, compile_decode)
    result = run_interleaved([runner], repeats, device)["ours"]
    weight_bytes = decode_weight_bytes(model)
    add_roofline(result, 1, weight_bytes, bandwidth.read_bytes_per_s)
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": str(dtype).removeprefix("torch."),
        "compile": compile_decode,
        "weight_bytes_per_decode_step": weight_bytes,
        "bandwidth": bandwidth.to_dict(),
        "ours": result.to_dict(),
        "roofline_fraction_of_read_bandwidth": result.roofline_fraction,
        "roofline_fraction_of_copy_bandwidth": result.effective_bandwidth_bytes_per_s / bandwidth.copy_bytes_per_s,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="llama3-8b", choices=sorted(PRESETS))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="torch.compile the decode step")
    args = parser.parse_args(argv)

    config = PRESETS[args.preset].with_overrides(max_seq_len=args.prompt_tokens + args.new_tokens)
    report = run_roofline_check(
        config,
        torch.device(args.device),
        getattr(torch, args.dtype),
        args.prompt_tokens,
        args.new_tokens,
        args.compile,
        args.repeats,
    )
    report["preset"] = args.preset
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
