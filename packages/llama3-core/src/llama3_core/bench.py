"""Inference speed: time to first token, prefill and decode throughput, and the decode roofline.

Both sides of a comparison run greedy decoding of the same prompt tokens in the
same process: this model with its preallocated KV cache, and ``transformers``'
``LlamaForCausalLM.generate`` on a copy of the same weights in the same dtype.

Definitions, per run (each the best of ``repeats`` runs, since background load
only ever slows a run down):

- time to first token: the prefill forward pass over the prompt plus picking
  the first new token;
- prefill tokens/s: batch * prompt tokens / time to first token;
- decode tokens/s: batch * (new tokens - 1) / time of the decode steps, an
  aggregate over the batch. For ``transformers`` the decode time is
  ``generate(new_tokens)`` minus ``generate(1 token)``;
- effective bandwidth: weight bytes read per decode step * decode steps/s. At
  batch 1 a decode step reads every weight once, so this divided by the
  machine's copy bandwidth (measured in the same run) is the fraction of the
  memory roofline that decode reaches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial

import torch
from torch import nn

from llama3_core.model import KVCache, Transformer
from llama3_core.onednn_linear import OneDNNLinear
from llama3_core.quantize import Int8Linear
from mltk_core.devices import synchronize
from mltk_core.memory import peak_memory, reset_peak_memory

# Text of the benchmark prompt. It is tokenized and repeated to the requested
# length, so every run and both sides see the same ids.
BENCH_TEXT = (
    "The river runs past the old mill, where the miller keeps a ledger of every sack of grain "
    "brought in from the hills. In spring the water rises and the wheel turns faster, and the "
    "villagers count the days until the first flour of the year is baked into bread. "
)

# Prompts whose greedy continuations check that int8 weights keep the bfloat16 text:
# a chat prompt, two prose prompts and a code prompt.
QUALITY_PROMPTS: dict[str, dict[str, str | bool]] = {
    "chat-capital-of-france": {"text": "What is the capital of France?", "chat": True},
    "plain-photosynthesis": {"text": "Photosynthesis is the process by which plants", "chat": False},
    "plain-thermodynamics": {"text": "The first law of thermodynamics states that", "chat": False},
    "plain-python-function": {"text": "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n", "chat": False},
}
QUALITY_TOKENS = 32


@dataclass
class RunResult:
    """Speed of one implementation on one prompt batch."""

    time_to_first_token_s: float
    prefill_tokens_per_s: float
    decode_tokens_per_s: float
    decode_steps: int
    peak_memory: dict = field(default_factory=dict)
    compile_seconds: float | None = None
    effective_bandwidth_bytes_per_s: float | None = None
    roofline_fraction: float | None = None
    generated_ids: list[int] = field(default_factory=list)  # first row, for a side-by-side check

    def to_dict(self) -> dict:
        return asdict(self)


def bench_prompt_ids(encode: Callable[[str], list[int]], prompt_tokens: int, batch_size: int) -> torch.Tensor:
    """Return (batch_size, prompt_tokens) ids cut from ``BENCH_TEXT`` repeated; row b starts b tokens later."""
    if prompt_tokens < 1 or batch_size < 1:
        raise ValueError(f"prompt_tokens and batch_size must be >= 1, got {prompt_tokens} and {batch_size}")
    ids = encode(BENCH_TEXT)
    needed = prompt_tokens + batch_size
    stream = (ids * (needed // len(ids) + 1))[:needed]
    rows = [stream[row : row + prompt_tokens] for row in range(batch_size)]
    return torch.tensor(rows, dtype=torch.long)


def decode_weight_bytes(model: nn.Module) -> int:
    """Count the bytes of weights one decode step reads: every Linear weight (and int8 scales)
    and every norm weight, each shared tensor once. An embedding table counts only as the
    output projection it is tied to, because a step reads just one row of it."""
    seen: set[int] = set()
    total = 0

    def add(tensor: torch.Tensor) -> None:
        nonlocal total
        if tensor.data_ptr() in seen:
            return
        seen.add(tensor.data_ptr())
        total += tensor.numel() * tensor.element_size()

    for module in model.modules():
        if isinstance(module, nn.Linear):
            add(module.weight)
        elif isinstance(module, Int8Linear):
            add(module.weight)
            add(module.scales)
        elif isinstance(module, OneDNNLinear):
            total += module.weight_bytes  # an opaque oneDNN tensor, never shared
        elif isinstance(module, nn.Embedding):
            continue
        elif "norm" in type(module).__name__.lower():
            for parameter in module.parameters(recurse=False):
                add(parameter)
    return total


def add_roofline(result: RunResult, batch_size: int, weight_bytes: int, bandwidth_bytes_per_s: float) -> None:
    """Fill in the effective decode bandwidth and its fraction of ``bandwidth_bytes_per_s``."""
    steps_per_s = result.decode_tokens_per_s / batch_size
    result.effective_bandwidth_bytes_per_s = weight_bytes * steps_per_s
    result.roofline_fraction = result.effective_bandwidth_bytes_per_s / bandwidth_bytes_per_s


def _best(results: list[RunResult]) -> RunResult:
    best = max(results, key=lambda result: result.decode_tokens_per_s)
    best.prefill_tokens_per_s = max(result.prefill_tokens_per_s for result in results)
    best.time_to_first_token_s = min(result.time_to_first_token_s for result in results)
    return best


# ---------------------------------------------------------------- this model


DecodeStep = Callable[[torch.Tensor, torch.Tensor, object], torch.Tensor]


@torch.inference_mode()
def greedy_ours(
    model: Transformer,
    prompt_ids: torch.Tensor,
    new_tokens: int,
    decode_step: DecodeStep | None = None,
    cache: KVCache | None = None,
    on_logits: Callable[[torch.Tensor], None] | None = None,
) -> tuple[torch.Tensor, float, float]:
    """Decode ``new_tokens`` greedily after ``prompt_ids`` (batch, seq) with the KV cache.

    ``cache`` (default: a new one of seq + new_tokens slots) may be reused from an
    earlier call: the prefill overwrites its first slots and attention never reads
    a slot past the current position. A compiled step is specialised to the
    cache's shape. ``on_logits`` receives each step's logits (batch, vocab) before
    the argmax. Returns the new ids (batch, new_tokens), the seconds to the first
    token, and the seconds of the remaining ``new_tokens - 1`` decode steps.
    """
    decode_step = decode_step or model
    device = model.tok_embeddings.weight.device
    prompt_ids = prompt_ids.to(device)
    batch, seq = prompt_ids.shape
    if cache is None:
        cache = model.new_cache(batch, seq + new_tokens)
    elif cache.max_seq_len < seq + new_tokens or cache.batch_size < batch:
        raise ValueError(
            f"cache of {cache.batch_size} x {cache.max_seq_len} slots is too small for "
            f"{batch} x ({seq} + {new_tokens}) tokens: pass model.new_cache({batch}, {seq + new_tokens}) or none"
        )

    synchronize(device)
    start = time.perf_counter()
    logits = model(prompt_ids, torch.arange(seq, device=device), cache, last_only=True)
    if on_logits is not None:
        on_logits(logits[:, -1])
    next_ids = logits[:, -1].argmax(dim=-1, keepdim=True)  # (batch, 1)
    synchronize(device)
    first_token_seconds = time.perf_counter() - start

    generated = [next_ids]
    start = time.perf_counter()
    for position in range(seq, seq + new_tokens - 1):
        logits = decode_step(next_ids, torch.tensor([position], device=device), cache)
        if on_logits is not None:
            on_logits(logits[:, -1])
        next_ids = logits[:, -1].argmax(dim=-1, keepdim=True)
        generated.append(next_ids)
    synchronize(device)
    decode_seconds = time.perf_counter() - start
    return torch.cat(generated, dim=1).cpu(), first_token_seconds, decode_seconds


def static_decode_step(model: Transformer) -> DecodeStep:
    """Return a decode step whose tensor shapes do not change from one position to the next.

    The model's own cached forward slices the cache to the current length,
    so each position would be a new graph for ``torch.compile``. This step
    attends over the whole cache instead, with a mask that hides the slots
    after the current position, which gives the same result.
    """

    def step(tokens: torch.Tensor, positions: torch.Tensor, cache) -> torch.Tensor:
        cos_table, sin_table = model.rope(tokens.device)
        cos = cos_table[positions][None, :, None, :]  # (1, 1, 1, head_dim / 2)
        sin = sin_table[positions][None, :, None, :]
        kv_len = cache.max_seq_len
        slots = torch.arange(kv_len, device=tokens.device)
        # (n_rep, kv_len): the cached attention folds n_rep query heads into the query axis.
        mask = (slots[None, :] <= positions[:, None]).repeat(model.config.n_rep, 1)
        h = model.tok_embeddings(tokens)
        for layer in model.layers:
            h = layer(h, cos, sin, cache=cache, positions=positions, mask=mask, kv_len=kv_len)
        return model.output(model.norm(h))

    return step


class OursRunner:
    """Times this model: prefill with the KV cache, then greedy decode steps."""

    name = "ours"

    def __init__(self, model: Transformer, prompt_ids: torch.Tensor, new_tokens: int, compile_decode: bool = False):
        self.model = model
        self.prompt_ids = prompt_ids
        self.new_tokens = new_tokens
        self.device = model.tok_embeddings.weight.device
        self.decode_step: DecodeStep = model
        self.compile_decode = compile_decode
        self.compile_seconds: float | None = None
        batch, seq = prompt_ids.shape
        # One cache for every run: a compiled step is specialised to its shape, and
        # CUDA graphs to its addresses.
        self.cache = model.new_cache(batch, seq + new_tokens)

    def warm_up(self) -> None:
        """Run a short generation: allocator pools, kernel choice and, with ``compile_decode``, the compile."""
        if self.compile_decode:
            # Checking the guards on every module attribute took 0.9 ms of each
            # 14 ms int8 step on SmolLM2 (2 EPYC cores). The step never changes
            # the model, so only the guards on its inputs stay. Older torch
            # releases without this filter keep every guard.
            skip_module_guards = getattr(torch.compiler, "skip_guard_on_all_nn_modules_unsafe", None)
            options = {"guard_filter_fn": skip_module_guards} if skip_module_guards else {}
            mode = None
            if self.device.type == "cuda":
                # CUDA graphs replay a step's kernels without launching each one,
                # which is most of a batch-1 step's time on a fast GPU. The cache is
                # written in place, so its tensors must keep fixed addresses.
                # NOTE: this CUDA path has not been run on a GPU yet.
                for tensor in self.cache.keys + self.cache.values:
                    torch._dynamo.mark_static_address(tensor)
                mode = "reduce-overhead"
            self.decode_step = torch.compile(
                static_decode_step(self.model), dynamic=False, mode=mode, options=options
            )
        start = time.perf_counter()
        greedy_ours(self.model, self.prompt_ids, min(self.new_tokens, 4), self.decode_step, cache=self.cache)
        if self.compile_decode:
            self.compile_seconds = time.perf_counter() - start

    def run(self) -> RunResult:
        batch, seq = self.prompt_ids.shape
        ids, first_token_seconds, decode_seconds = greedy_ours(
            self.model, self.prompt_ids, self.new_tokens, self.decode_step, cache=self.cache
        )
        steps = self.new_tokens - 1
        return RunResult(
            time_to_first_token_s=first_token_seconds,
            prefill_tokens_per_s=batch * seq / first_token_seconds,
            decode_tokens_per_s=batch * steps / decode_seconds,
            decode_steps=steps,
            compile_seconds=self.compile_seconds,
            generated_ids=ids[0].tolist(),
        )


# ---------------------------------------------------------------- transformers


@torch.inference_mode()
def _hf_generate(hf_model, prompt_ids: torch.Tensor, new_tokens: int) -> tuple[torch.Tensor, float]:
    device = hf_model.device
    prompt_ids = prompt_ids.to(device)
    synchronize(device)
    start = time.perf_counter()
    output = hf_model.generate(
        prompt_ids,
        attention_mask=torch.ones_like(prompt_ids),
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        pad_token_id=0,
    )
    synchronize(device)
    return output[:, prompt_ids.shape[1] :].cpu(), time.perf_counter() - start


class TransformersRunner:
    """Times ``hf_model.generate`` greedily: one new token for prefill, ``new_tokens`` for the whole run."""

    name = "transformers"

    def __init__(self, hf_model, prompt_ids: torch.Tensor, new_tokens: int):
        self.hf_model = hf_model
        self.prompt_ids = prompt_ids
        self.new_tokens = new_tokens
        # Greedy decoding to exactly new_tokens: no stop token and no sampling settings.
        config = hf_model.generation_config
        config.eos_token_id = None
        config.temperature = None
        config.top_p = None
        config.top_k = None

    def warm_up(self) -> None:
        _hf_generate(self.hf_model, self.prompt_ids, min(self.new_tokens, 4))

    def run(self) -> RunResult:
        batch, seq = self.prompt_ids.shape
        _, first_token_seconds = _hf_generate(self.hf_model, self.prompt_ids, 1)
        ids, total_seconds = _hf_generate(self.hf_model, self.prompt_ids, self.new_tokens)
        steps = self.new_tokens - 1
        decode_seconds = max(total_seconds - first_token_seconds, 1e-9)
        return RunResult(
            time_to_first_token_s=first_token_seconds,
            prefill_tokens_per_s=batch * seq / first_token_seconds,
            decode_tokens_per_s=batch * steps / decode_seconds,
            decode_steps=steps,
            generated_ids=ids[0].tolist(),
        )


def run_interleaved(runners: list, repeats: int, device: torch.device, on_run: Callable[[], None] | None = None) -> dict[str, RunResult]:
    """Warm every runner up, then time them in turn ``repeats`` times; keep each one's best run.

    Taking turns exposes every side to the same background load.
    """
    for runner in runners:
        runner.warm_up()
    results: dict[str, list[RunResult]] = {runner.name: [] for runner in runners}
    peaks: dict[str, dict] = {}
    for _ in range(repeats):
        for runner in runners:
            reset_peak_memory(device)
            results[runner.name].append(runner.run())
            peaks[runner.name] = peak_memory(device).to_dict()
            if on_run is not None:
                on_run()
    best = {name: _best(runs) for name, runs in results.items()}
    for name, result in best.items():
        result.peak_memory = peaks[name]
    return best


# ---------------------------------------------------------------- int8 quality


@torch.inference_mode()
def mean_abs_logit_error(model: Transformer, reference_logits: torch.Tensor, prompt_ids: torch.Tensor) -> float:
    """Return mean |logits - reference_logits| over every position and vocabulary entry, in float32."""
    device = model.tok_embeddings.weight.device
    logits = model(prompt_ids.to(device)).float().cpu()
    return float((logits - reference_logits).abs().mean())


@torch.inference_mode()
def forward_logits(model: Transformer, prompt_ids: torch.Tensor) -> torch.Tensor:
    device = model.tok_embeddings.weight.device
    return model(prompt_ids.to(device)).float().cpu()


def greedy_texts(
    model: Transformer,
    prompts: dict[str, list[int]],
    decode: Callable[[Sequence[int]], str],
    tokens: int = QUALITY_TOKENS,
    decode_step: DecodeStep | None = None,
    cache: KVCache | None = None,
) -> dict[str, dict]:
    """Return, per named prompt, the first ``tokens`` greedy ids, their text, and each step's top-2 logit gap.

    The gap (top logit minus the runner-up) measures how close a step came to a
    tie. At a gap of 0 the argmax picked the lower token id.
    """
    results = {}
    for name, ids in prompts.items():
        gaps: list[float] = []
        record_gap = partial(_append_top2_gap, gaps)
        generated, _, _ = greedy_ours(
            model, torch.tensor([ids]), tokens, decode_step, cache=cache, on_logits=record_gap
        )
        row = generated[0].tolist()
        results[name] = {"ids": row, "text": decode(row), "top2_gaps": gaps}
    return results


def _append_top2_gap(gaps: list[float], logits: torch.Tensor) -> None:
    top2 = logits[0].float().topk(2).values
    gaps.append(float(top2[0] - top2[1]))


def compare_greedy(reference: dict[str, dict], candidate: dict[str, dict]) -> dict[str, dict]:
    """Compare two ``greedy_texts`` results prompt by prompt: equal ids, and the first differing index."""
    comparison = {}
    for name, expected in reference.items():
        got = candidate[name]["ids"]
        mismatch = next((index for index, (a, b) in enumerate(zip(expected["ids"], got)) if a != b), None)
        gaps = expected.get("top2_gaps")
        comparison[name] = {
            "equal": mismatch is None and len(got) == len(expected["ids"]),
            "first_difference": mismatch,
            # The reference's own top-2 gap where the texts part. Near 0, any rounding could flip it.
            "reference_gap_at_difference": gaps[mismatch] if gaps and mismatch is not None else None,
            "smallest_reference_gap": min(gaps) if gaps else None,
            "reference_text": expected["text"],
            "text": candidate[name]["text"],
        }
    return comparison
