"""Train a tiny model for a few steps, as one process or under torchrun, and
write each arm's losses to the JSON file named by the first argument (rank 0)."""

import json
import sys

import torch
from llama3_core.config import ModelConfig
from llama3_core.model import Transformer
from lora_study.arms import ALL_LINEAR_MODULES, ArmSpec, build_arm_model
from lora_study.distributed import close_world, init_world
from lora_study.token_rows import TokenRows
from lora_study.training import TrainConfig, train

ARMS = {
    "full": ArmSpec("full", "full FT", "full"),
    "lora": ArmSpec("lora-mid", "LoRA r=4", "lora", rank=4, alpha=8, targets=ALL_LINEAR_MODULES),
}


def main(out: str) -> None:
    torch.set_num_threads(1)
    device = torch.device("cpu")
    world = init_world(device)
    torch.manual_seed(0)
    config = ModelConfig(
        dim=32,
        n_layers=2,
        n_heads=4,
        n_kv_heads=2,
        vocab_size=128,
        hidden_dim=64,
        max_seq_len=32,
        rope_theta=10000.0,
    )
    base = Transformer(config)
    generator = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, 128, (64, 17), generator=generator)
    # Uneven masks, so that a per-process mean would differ from the global one.
    mask = torch.rand(64, 16, generator=generator) < 0.6
    rows = TokenRows(tokens, mask)

    losses = {}
    for name, arm in ARMS.items():
        torch.manual_seed(2)
        model = build_arm_model(base, arm)
        if arm.is_lora:
            # peft starts lora_B at zero; give it values so the first steps move the loss.
            for key, parameter in model.named_parameters():
                if "lora_B" in key:
                    torch.nn.init.normal_(parameter, std=0.02)
        stats = train(model, rows, TrainConfig(steps=4, batch_size=8, lr=1e-3), device, world)
        losses[name] = stats.losses
    if world.is_main:
        with open(out, "w") as stream:
            json.dump({"world_size": world.world_size, "losses": losses}, stream)
    close_world(world)


if __name__ == "__main__":
    main(sys.argv[1])
