"""Model FLOP utilisation of a pre-training step on a GPU (issue 6, target 6).

    python benchmarks/bench_gpu.py --peak-tflops 989 [--preset large] [--size 512] [--views 8] [--batch 2]

bf16 autocast, ``scaled_dot_product_attention`` restricted to the flash kernel, gradient checkpointing off
unless ``--checkpointing``. MFU = analytic FLOPs of the step (``muskie.model.flops``, 3x the forward) / step
time / the GPU's dense bf16 peak, which the user gives (``--peak-tflops``: e.g. 989 for an H100 SXM,
312 for an A100). Reports the median of ``--repeats`` steps after ``--warmup`` steps, and peak memory.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from muskie.model import create_model
from muskie.model.flops import TRAINING_STEP_FACTOR, forward_flops
from muskie.pretraining import MaskConfig, pretraining_loss


@contextlib.contextmanager
def bf16_flash_attention():
    with torch.autocast("cuda", dtype=torch.bfloat16), sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peak-tflops", type=float, required=True, help="the GPU's dense bf16 peak")
    parser.add_argument("--preset", default="large")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2, help="scenes per step")
    parser.add_argument("--checkpointing", action="store_true")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs a CUDA GPU")
    device = torch.device("cuda")
    model = create_model(args.preset, grad_checkpointing=args.checkpointing).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(args.batch, args.views, 3, args.size, args.size, device=device) * 2 - 1

    def step() -> None:  # the training task's step: view shuffle, masks, forward, loss, backward, AdamW
        loss = pretraining_loss(model, images, MaskConfig(), generator, bf16_flash_attention()).output.loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    seconds = statistics.median(times)
    flops = args.batch * forward_flops(model.config, args.views, args.size, args.size) * TRAINING_STEP_FACTOR
    print(
        f"{torch.cuda.get_device_name()}, torch {torch.__version__}, {args.preset} {args.batch}x{args.views} "
        f"views at {args.size}px, bf16 + flash attention" + (", gradient checkpointing" if args.checkpointing else "")
    )
    print(
        f"step {seconds:.3f} s (median of {args.repeats}), {flops / seconds / 1e12:.1f} TFLOP/s, "
        f"MFU {100 * flops / seconds / (args.peak_tflops * 1e12):.1f}% of {args.peak_tflops:.0f} TFLOP/s, "
        f"peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
    )


if __name__ == "__main__":
    main()
