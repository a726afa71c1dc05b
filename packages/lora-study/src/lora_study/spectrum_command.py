"""``ml-toolkit lora spectrum``: the rank analysis of any two checkpoints, or of a
base checkpoint and a saved peft LoRA adapter."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from mltk_core.errors import UserInputError

from lora_study.spectrum import analyse_updates, summarise
from lora_study.weights import adapter_updates

# Hugging Face Llama names → Meta names. Row permutations that the HF
# conversion applies to wq and wk leave singular values and intruder counts unchanged.
HF_NAMES = {
    "self_attn.q_proj": "attention.wq",
    "self_attn.k_proj": "attention.wk",
    "self_attn.v_proj": "attention.wv",
    "self_attn.o_proj": "attention.wo",
    "mlp.gate_proj": "feed_forward.w1",
    "mlp.down_proj": "feed_forward.w2",
    "mlp.up_proj": "feed_forward.w3",
}


def analyse_checkpoints(
    base: Path, finetuned: Path, top_k: int, threshold: float, out: Path | None
) -> dict:
    """Analyse ΔW for every block matrix and optionally write spectrum.json and plots to ``out``."""
    base_weights = read_weights(base)
    if (finetuned / "adapter_config.json").is_file():
        updates = adapter_updates(finetuned)
        unknown = sorted(set(updates) - set(base_weights))
        if unknown:
            raise UserInputError(
                f"adapter in {finetuned} adapts {unknown[0]}, which the base {base} lacks; "
                "pass the base model the adapter was trained on"
            )
        tuned_weights = dict(base_weights)
        for name, update in updates.items():
            tuned_weights[name] = base_weights[name] + update
    else:
        tuned_weights = read_weights(finetuned)
    spectra = analyse_updates(base_weights, tuned_weights, top_k=top_k, threshold=threshold)
    if not spectra:
        raise UserInputError(
            f"{base} and {finetuned} share no block matrices named layers.N.attention.* or "
            "layers.N.feed_forward.*; are both Llama checkpoints?"
        )
    payload = {
        "base": str(base),
        "finetuned": str(finetuned),
        "summary": summarise(spectra),
        "matrices": [s.to_dict() for s in spectra],
    }
    if out is not None:
        _write(payload, out)
    return payload


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read block weights (float32, Meta names) from a tiny-base or study folder, a state-dict
    file (.pt, .pth, .bin, .safetensors), a GGUF file, or a folder with one ``model.pt``,
    ``*.safetensors`` shards or a ``*.pth`` file."""
    if not path.exists():
        raise UserInputError(f"checkpoint {str(path)!r} does not exist")
    if path.is_dir():
        candidates = [
            path / "model.pt",
            *sorted(path.glob("*.safetensors")),
            *sorted(path.glob("*.pth")),
        ]
        files = [candidate for candidate in candidates if candidate.is_file()]
        if not files:
            raise UserInputError(
                f"{path} contains no model.pt, *.safetensors or *.pth; "
                "pass a checkpoint file or folder"
            )
        state: dict[str, torch.Tensor] = {}
        for file in files if files[0].suffix == ".safetensors" else files[:1]:
            state.update(_read_state(file))
    else:
        state = _read_state(path)
    return {_meta_name(name): tensor.float() for name, tensor in state.items() if tensor.ndim == 2}


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if path.suffix in (".pt", ".pth", ".bin"):
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
            state = state["model"]
        return state
    if path.suffix == ".gguf":
        from llama3_core.loading import load_model

        # GGUF weights may be quantized; load_model dequantizes them to float32.
        model = load_model(path, device="cpu", dtype=torch.float32, json_mode=True).model
        return dict(model.state_dict())
    raise UserInputError(
        f"unsupported checkpoint {path}: expected .pt, .pth, .bin, .safetensors or .gguf, "
        "a folder of them, or a peft adapter folder"
    )


def _meta_name(name: str) -> str:
    name = name.removeprefix("base_model.model.").removeprefix("model.")
    for hf, meta in HF_NAMES.items():
        name = re.sub(rf"\.{re.escape(hf)}\.", f".{meta}.", name)
    return name


def _write(payload: dict, out: Path) -> None:
    from mltk_core.atomic import atomic_write_json

    from lora_study.plots import plot_rank_heatmaps, plot_spectra

    matrices = payload["matrices"]
    label = Path(payload["finetuned"]).name
    plot_rank_heatmaps({"finetuned": (label, matrices)}, out / "rank-heatmap.png")
    plot_spectra({"finetuned": (label, matrices)}, out / "spectra.png")
    atomic_write_json(out / "spectrum.json", payload)
