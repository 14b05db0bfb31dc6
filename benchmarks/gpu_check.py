"""GPU check of the byte-level layer: the Triton segment-sum kernel and `ByteLM` on CUDA.

CI and the development machines have no GPU; the tests run the Triton kernel in its interpreter on the CPU.
This script is what a machine with CUDA runs to check the compiled kernel and the CUDA path for real:

1. correctness: the Triton kernel against the float64 CPU reference on fresh random inputs of odd and large
   shapes (relative error ||out - ref|| / ||ref||, every output written);
2. speed: Triton against the torch reference on the same GPU, on SmolLM2-sized rows (256 rows x 49,152
   tokens, 512 queries x 257 segments taken from the real byte-sorted SmolLM2 vocabulary), timed with CUDA
   events (`triton.testing.do_bench`, median); the numba CPU kernel on one thread beside them for scale;
3. end to end: a pico Llama (float64) over the SmolLM2 tokenizer gives the same next-byte distributions and
   bits per byte on CUDA as on the CPU.

Run: python benchmarks/gpu_check.py --tokenizer PATH/tokenizer.json  (prints figures, writes JSON)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from results_file import write_results

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "gpu_check.json"
SHAPES = ((5, 1, 1, 1), (5, 7, 7, 3), (5, 1031, 257, 257), (64, 49152, 512, 257), (7, 100003, 33, 5))
PREFIXES = (b"", b"The ", b" th", b"The anacron da", "Déclaration univ".encode(), "日本語".encode()[:4])


def kernel_correctness(segment_sum) -> list[dict]:
    """Relative error of the compiled Triton kernel against the float64 CPU reference, per shape."""
    from tokwork.kernels.segment_sum.reference import random_segments

    found = []
    for seed, shape in enumerate(SHAPES):
        values, rows, offsets = random_segments(*shape, seed=1000 + seed)
        expected = segment_sum(values, rows, offsets, backend="reference")
        out = segment_sum(values.cuda(), rows.cuda(), offsets.cuda(), backend="triton").cpu()
        error = (torch.linalg.norm(out - expected) / torch.linalg.norm(expected).clamp_min(1e-300)).item()
        nonempty = (offsets[:, 1:] > offsets[:, :-1])
        written = bool((out[nonempty] != 0).all())
        found.append({"shape": dict(zip(("rows", "vocab", "queries", "segments"), shape, strict=True)),
                      "relative_error": error, "all_written": written, "finite": bool(torch.isfinite(out).all())})
    return found


def kernel_speed(segment_sum, vocab) -> dict:
    """Median milliseconds of Triton and the torch reference on CUDA, numba on one CPU thread."""
    import triton.testing

    generator = torch.Generator().manual_seed(0)
    values = torch.softmax(torch.randn((256, vocab.size), generator=generator) * 3, -1)
    prefixes = [b"", b" th", b" a", b"ing", b"e", b" the", b"\n", b" c"]
    offsets = torch.from_numpy(np.stack([vocab.offsets(prefixes[k % len(prefixes)]) for k in range(512)]))
    rows = torch.arange(512) % 256
    on_gpu = values.cuda(), rows.cuda(), offsets.cuda()
    timings = {}
    for name in ("reference", "triton"):
        timings[f"{name}_cuda_ms"] = triton.testing.do_bench(lambda n=name: segment_sum(*on_gpu, backend=n),
                                                             warmup=50, rep=300, return_mode="median")
    torch.set_num_threads(1)
    segment_sum(values, rows, offsets, backend="numba")
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        segment_sum(values, rows, offsets, backend="numba")
        runs.append(time.perf_counter() - start)
    timings["numba_cpu_1_thread_ms"] = statistics.median(runs) * 1e3
    timings["triton_speedup_over_reference_cuda"] = timings["reference_cuda_ms"] / timings["triton_cuda_ms"]
    timings["shape"] = {"rows": 256, "vocab": vocab.size, "queries": 512, "segments": 257}
    return timings


def end_to_end(tokenizer) -> dict:
    """Next-byte distributions and bits per byte of one pico model on CPU (numba) and CUDA (Triton)."""
    from tokwork.bytelevel import ByteLM
    from tokwork.pico import pico_model

    model = pico_model(tokenizer.vocab_size)
    cpu = ByteLM(model, tokenizer)
    gpu = ByteLM(pico_model(tokenizer.vocab_size).cuda(), tokenizer)
    worst = 0.0
    for prefix in PREFIXES:
        worst = max(worst, float(np.abs(cpu.next_byte_probs(prefix) - gpu.next_byte_probs(prefix)).max()))
    text = (REPO / "corpora" / "en" / "heldout.txt").read_bytes()[:300]
    text = text[:len(text.decode("utf-8", "ignore").encode())]
    cpu_bits, gpu_bits = cpu.score(text).bits_per_byte, gpu.score(text).bits_per_byte
    return {"prefixes": [p.decode("utf-8", "replace") for p in PREFIXES], "max_abs_prob_difference": worst,
            "text_bytes": len(text), "bits_per_byte_cpu": cpu_bits, "bits_per_byte_cuda": gpu_bits,
            "gpu_backend": gpu.backend, "gpu_device": str(gpu.device)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", required=True, help="SmolLM2's tokenizer.json (or any tokenizer)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device here; the CPU paths are covered by the test suite")
    from tokwork import load_tokenizer
    from tokwork.bytelevel.vocabulary import ByteVocabulary
    from tokwork.kernels.segment_sum import segment_sum

    tokenizer = load_tokenizer(args.tokenizer)
    report = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
    import triton

    report["triton"] = triton.__version__
    report["correctness"] = kernel_correctness(segment_sum)
    report["speed"] = kernel_speed(segment_sum, ByteVocabulary(tokenizer.byte_view, tokenizer.vocab_size))
    report["end_to_end"] = end_to_end(tokenizer)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_results(args.output, report, indent=2)
    print(f"device: {report['device']}, torch {report['torch']}, triton {report['triton']}")
    for case in report["correctness"]:
        print(f"triton vs float64 reference {case['shape']}: relative error {case['relative_error']:.2e}, "
              f"all written {case['all_written']}")
    s = report["speed"]
    print(f"segment sums {s['shape']}: triton {s['triton_cuda_ms']:.3f} ms, torch reference on CUDA "
          f"{s['reference_cuda_ms']:.3f} ms ({s['triton_speedup_over_reference_cuda']:.1f}x), numba on one CPU "
          f"thread {s['numba_cpu_1_thread_ms']:.1f} ms")
    e = report["end_to_end"]
    print(f"pico ByteLM CPU vs CUDA: max |dP| {e['max_abs_prob_difference']:.1e} over {len(PREFIXES)} prefixes; "
          f"bits/byte {e['bits_per_byte_cpu']:.6f} vs {e['bits_per_byte_cuda']:.6f}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
