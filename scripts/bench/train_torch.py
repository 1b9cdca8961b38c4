"""A bare PyTorch training loop for `npm run bench:train`: the same model as dtrain's torch trainer
(the worker's own model code, src/train/torch/worker.py, so nothing differs but the loop), the
same batch, micro-batches and threads, with torch.optim.AdamW and clip_grad_norm_ on random tokens
generated in torch. What dtrain's trainer adds on top (the node's batches, the pipe, its AdamW
written out) is the difference between the two. Prints one JSON line: tokens/s, the torch version,
its BLAS, the thread count and, on CUDA, the peak memory.

Usage: python3 train_torch.py '<json: init config of the worker + batch, steps>'
"""
import importlib.util
import json
import os
import sys
import time

try:
    import torch
except Exception as err:  # noqa: BLE001 - report any import failure as "skipped"
    print(json.dumps({"skipped": f"import torch failed: {err}"}))
    sys.exit(0)

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
# from scripts/bench/ in the source tree, or dist/scripts/bench/ in the build
for candidate in (root, os.path.dirname(root)):
    path = os.path.join(candidate, "src", "train", "torch", "worker.py")
    if os.path.exists(path):
        break
spec = importlib.util.spec_from_file_location("dtrain_worker", path)
worker_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(worker_module)

cfg = json.loads(sys.argv[1])
worker = worker_module.Worker(cfg)
model = cfg["model"]
device = worker.device
batch, steps, micro = cfg["batch"], cfg["steps"], cfg["microBatches"]
opt = cfg["optimizer"]
params = list(worker.params.values())
with torch.no_grad():
    worker.weights.normal_(0, 0.02)
optimizer = torch.optim.AdamW(
    params, lr=opt["lr"], betas=(opt["beta1"], opt["beta2"]), eps=opt["epsilon"], weight_decay=opt["weightDecay"]
)
generator = torch.Generator().manual_seed(1)
if model["kind"] == "mlp-classifier":
    inputs = torch.randn(steps + 2, batch, model["inputSize"], generator=generator)
    targets = torch.randint(0, model["classes"], (steps + 2, batch), generator=generator)
else:
    windows = torch.randint(0, model["vocabSize"], (steps + 2, batch, model["contextLength"] + 1), generator=generator)
    inputs, targets = windows[:, :, :-1], windows[:, :, 1:]
inputs, targets = inputs.to(device), targets.to(device)
part = batch // micro


def step(i):
    for k in range(micro):
        loss = worker.loss(inputs[i, k * part : (k + 1) * part], targets[i, k * part : (k + 1) * part])
        (loss / micro).backward()
    torch.nn.utils.clip_grad_norm_(params, opt["gradClipNorm"])
    optimizer.step()
    optimizer.zero_grad(set_to_none=False)  # the gradients are views into one flat buffer


def sync():
    if device.type == "cuda":
        torch.cuda.synchronize()


for i in range(2):
    step(i)
sync()
start = time.perf_counter()
for i in range(steps):
    step(2 + i)
sync()
seconds = time.perf_counter() - start
config = torch.__config__.show()
blas = next((p.split("=")[1] for p in config.replace(",", " ").split() if p.startswith("BLAS_INFO=")), "unknown")
tokens = batch * (model["contextLength"] if model["kind"] != "mlp-classifier" else 1)
print(
    json.dumps(
        {
            "tokensPerSec": steps * tokens / seconds,
            "seconds": seconds,
            "steps": steps,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "blas": blas,
            "device": str(device),
            "peakMemory": torch.cuda.max_memory_allocated() if device.type == "cuda" else None,
        }
    )
)
