"""PyTorch reference for `npm run bench:train`: the same character transformer as dtrain's
(src/train/model.ts: pre-norm blocks, learned positions, no bias on qkv/proj/head, sigmoid-GELU,
one-hot embedding as a matmul), the same batch, AdamW with global-norm clipping; prints one JSON
line with tokens/s, the torch version, its BLAS and the thread count."""
import json
import math
import sys
import time

try:
    import torch
except Exception as err:  # noqa: BLE001 - report any import failure as "skipped"
    print(json.dumps({"skipped": f"import torch failed: {err}"}))
    sys.exit(0)

cfg = json.loads(sys.argv[1])
threads = int(cfg.get("threads", 2))
torch.set_num_threads(threads)
torch.manual_seed(0)
V, T, D, H, L, M = cfg["vocab"], cfg["context"], cfg["dModel"], cfg["heads"], cfg["layers"], cfg["mlp"]
B, steps = cfg["batch"], cfg["steps"]


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(D, eps=1e-5)
        self.qkv = torch.nn.Linear(D, 3 * D, bias=False)
        self.proj = torch.nn.Linear(D, D, bias=False)
        self.ln2 = torch.nn.LayerNorm(D, eps=1e-5)
        self.fc = torch.nn.Linear(D, M)
        self.out = torch.nn.Linear(M, D)
        self.register_buffer("mask", torch.triu(torch.full((T, T), -1e9), diagonal=1))

    def forward(self, x):
        b = x.shape[0]
        q, k, v = self.qkv(self.ln1(x)).view(b, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // H) + self.mask, dim=-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, T, D))
        h = self.fc(self.ln2(x))
        return x + self.out(h * torch.sigmoid(1.702 * h))


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = torch.nn.Parameter(torch.randn(V, D) * 0.02)
        self.pos = torch.nn.Parameter(torch.randn(T, D) * 0.02)
        self.blocks = torch.nn.ModuleList(Block() for _ in range(L))
        self.lnf = torch.nn.LayerNorm(D, eps=1e-5)
        self.head = torch.nn.Linear(D, V, bias=False)

    def forward(self, tokens):
        x = torch.nn.functional.one_hot(tokens, V).float() @ self.tok + self.pos
        for block in self.blocks:
            x = block(x)
        return self.head(self.lnf(x))


model = Model()
opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.01)
gen = torch.Generator().manual_seed(1)
data = torch.randint(0, V, (steps + 3, B, T + 1), generator=gen)


def step(batch):
    logits = model(batch[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), batch[:, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


for i in range(3):
    step(data[i])
start = time.perf_counter()
for i in range(steps):
    step(data[3 + i])
seconds = time.perf_counter() - start
config = torch.__config__.show()
blas = next((part.split("=")[1] for part in config.replace(",", " ").split() if part.startswith("BLAS_INFO=")), "unknown")
print(json.dumps({
    "tokensPerSec": steps * B * T / seconds,
    "seconds": seconds,
    "steps": steps,
    "threads": threads,
    "torch": torch.__version__,
    "blas": blas,
    "parameters": sum(p.numel() for p in model.parameters()),
}))
