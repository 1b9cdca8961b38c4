"""dtrain's PyTorch worker: trains the models of SPEC.md 7.2, 7.7 and 7.8 for a dtrain node.

The node starts it (src/train/torch-worker.ts) and talks to it over stdin and stdout with the
length-prefixed binary protocol of docs/torch-worker.md. The worker is a function of what it is
sent: weights, moments, batches (token ids or features), the learning rate and AdamW's step
counter. It never reads the dataset, draws no random numbers and keeps no state beyond the
weights and moments it holds. Anything it prints goes to stderr; stdout carries frames only.

`worker.py --probe` prints one JSON line (python, torch version, CUDA) and exits: the node's
backend selection runs it before it starts a worker.
"""
import json
import math
import os
import struct
import sys

# The oldest PyTorch the worker is tested with: Debian bookworm's python3-torch.
MIN_TORCH = (1, 13)

OP_INIT = 1
OP_SET_WEIGHTS = 2
OP_GET_WEIGHTS = 3
OP_SET_MOMENTS = 4
OP_GET_MOMENTS = 5
OP_STEP = 6
OP_EVAL = 7
OP_MEMORY = 8
OP_WRITE_CHECKPOINT = 9
OP_GET_MOMENT_RANGE = 10
OP_RELEASE_WEIGHTS = 11
# the operations that read the weights, refused while they are released (op 11)
READS_WEIGHTS = {
    OP_GET_WEIGHTS: "get weights",
    OP_STEP: "a step",
    OP_EVAL: "evaluate",
    OP_WRITE_CHECKPOINT: "write checkpoint",
}

STATUS_OK = 0
STATUS_ERROR = 1


def torch_version_tuple(version):
    parts = []
    for piece in version.split("+")[0].split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def probe():
    report = {"python": sys.version.split()[0], "executable": sys.executable}
    try:
        import torch
    except Exception as err:  # noqa: BLE001 - any import failure means "no torch here"
        report["error"] = f"import torch failed: {err}"
        print(json.dumps(report))
        return
    report["torch"] = torch.__version__
    report["supported"] = torch_version_tuple(torch.__version__) >= MIN_TORCH
    report["cuda"] = bool(torch.cuda.is_available())
    report["cudaDevices"] = torch.cuda.device_count() if report["cuda"] else 0
    if report["cuda"]:
        report["cudaName"] = torch.cuda.get_device_name(0)
        report["cudaMemory"] = torch.cuda.get_device_properties(0).total_memory
        report["cudaFree"] = torch.cuda.mem_get_info(0)[0]
        report["bf16"] = bool(torch.cuda.is_bf16_supported())
    report["sdpa"] = hasattr(torch.nn.functional, "scaled_dot_product_attention")
    print(json.dumps(report))


def die_with_parent():
    """Linux: receive SIGTERM when the node that started us dies, even mid-step."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:  # the parent died before prctl took effect
            sys.exit(0)
    except Exception:  # noqa: BLE001 - not Linux: stdin's EOF still ends the worker
        pass


class Worker:
    def __init__(self, config):
        import torch
        import torch.nn.functional as F

        self.torch = torch
        self.F = F
        self.spec = config["model"]
        self.kind = self.spec["kind"]
        self.optimizer = config["optimizer"]
        self.micro_batches = int(config["microBatches"])
        self.device = torch.device(config["device"])
        self.precision = config.get("precision", "fp32")
        threads = int(config.get("threads", 0))
        if threads > 0:
            torch.set_num_threads(threads)
        if config.get("deterministic"):
            # CUBLAS_WORKSPACE_CONFIG is set by the node before CUDA starts (docs/torch-worker.md).
            # warn_only: an op without a deterministic kernel warns (on stderr, in the node's log)
            # instead of failing the audit; the tolerance of SPEC.md 17.6 covers what it changes
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        if self.device.type == "cuda":
            # fp32 means fp32: no TF32 in matmuls, so replays compare with what the spec says.
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        self.layout = config["layout"]
        self.count = sum(math.prod(p["shape"]) for p in self.layout)
        # One flat tensor each for the weights, their gradient and the two moments, in the
        # parameter layout (SPEC.md 7.3). Each parameter is a leaf view into the flat weights, its
        # .grad a view into the flat gradient: backward accumulates in place, and the node's
        # weights and moments move in one copy each.
        # The gradient exists only while the node trains (grad_buffer): between rounds the worker
        # holds the weights and moments alone (issue 17: 4 d bytes fewer while the node encodes,
        # aggregates and writes its state). A large model's node also has the worker release its
        # weights from the end of its training to the next set weights (op 11).
        zeros = lambda: torch.zeros(self.count, dtype=torch.float32, device=self.device)  # noqa: E731
        self.zeros = zeros
        self.bind_weights(zeros())
        self.grad = None
        self.m = zeros()
        self.v = zeros()
        self.decayed = []
        offset = 0
        for p in self.layout:
            size = math.prod(p["shape"])
            if p["decay"]:
                self.decayed.append((offset, size))
            offset += size
        self.checked = False
        self.sdpa = hasattr(F, "scaled_dot_product_attention")
        if self.kind != "mlp-classifier":
            t = self.spec["contextLength"]
            # SPEC.md 7.2 adds -1e9 above the diagonal; SDPA's -inf gives the same softmax in fp32.
            self.mask = torch.triu(torch.full((t, t), -1e9, device=self.device), diagonal=1)

    # --- the models (SPEC.md 7.2, 7.7, 7.8), over views of the one flat weight tensor ---

    def grad_buffer(self):
        """The flat gradient, made at the first step after it was released: each parameter's .grad
        a view into it."""
        if self.grad is None:
            self.grad = self.zeros()
            for view, offset, size in self.slices:
                view.grad = self.grad[offset : offset + size].view(view.shape)
            self.checked = False
        return self.grad

    def release_grad(self):
        """Frees the flat gradient: at any request but a step, a checkpoint written or a memory
        figure. Training ends with a get weights; a snapshot's get weights within a round (no
        checkpoint files) costs one new gradient at the next step."""
        if self.grad is not None:
            for view, _, _ in self.slices:
                view.grad = None
            self.grad = None

    def bind_weights(self, weights):
        """Makes `weights` the flat weights: each parameter a leaf view into it."""
        self.weights = weights
        self.params = {}
        self.slices = []
        offset = 0
        for p in self.layout:
            size = math.prod(p["shape"])
            view = weights[offset : offset + size].view(tuple(p["shape"]))
            view.requires_grad_(True)
            self.params[p["name"]] = view
            self.slices.append((view, offset, size))
            offset += size
        self.checked = False

    def release_weights(self):
        """Frees the weights until the next set weights (op 11): a large model's node fetched the
        trained weights and sets new ones before the worker uses them again (issue 17: 4 d bytes
        fewer while the node aggregates and steps)."""
        self.release_grad()
        self.weights = None
        self.params = {}
        self.slices = []
        return b""

    def restore_weights(self):
        """New weights (their values undefined) after a release, before a set weights fills them."""
        if self.weights is None:
            self.bind_weights(self.torch.empty(self.count, dtype=self.torch.float32, device=self.device))

    def require_weights(self, what):
        if self.weights is None:
            raise ValueError(f"{what} needs the weights, which were released (op 11): set weights first")

    def param(self, name):
        return self.params[name]

    def gelu(self, x):
        if self.kind == "gpt":
            return self.F.gelu(x, approximate="tanh")
        return x * self.torch.sigmoid(1.702 * x)

    def logits(self, inputs):
        if self.kind == "mlp-classifier":
            x = inputs
            layers = len(self.layout) // 2
            for layer in range(layers):
                x = x @ self.param(f"fc{layer}.weight") + self.param(f"fc{layer}.bias")
                if layer + 1 < layers:
                    x = self.torch.relu(x)
            return x
        F = self.F
        spec = self.spec
        d, heads = spec["dModel"], spec["heads"]
        dh = d // heads
        batch, t = inputs.shape
        tok = self.param("tok_embedding")
        x = F.embedding(inputs, tok) + self.param("pos_embedding")
        for layer in range(spec["layers"]):
            p = f"layer{layer}."
            h = F.layer_norm(x, (d,), self.param(p + "ln1.gamma"), self.param(p + "ln1.beta"), 1e-5)
            qkv = (h @ self.param(p + "attn.qkv")).view(batch, t, 3, heads, dh).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            if self.sdpa:
                attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(dh)) + self.mask
                attended = self.torch.softmax(scores, dim=-1) @ v
            attended = attended.transpose(1, 2).reshape(batch, t, d)
            x = x + attended @ self.param(p + "attn.proj")
            h2 = F.layer_norm(x, (d,), self.param(p + "ln2.gamma"), self.param(p + "ln2.beta"), 1e-5)
            hidden = self.gelu(h2 @ self.param(p + "mlp.fc") + self.param(p + "mlp.fc_bias"))
            x = x + hidden @ self.param(p + "mlp.proj") + self.param(p + "mlp.proj_bias")
        x = F.layer_norm(x, (d,), self.param("ln_f.gamma"), self.param("ln_f.beta"), 1e-5)
        if self.kind == "gpt":
            return x @ tok.t()  # tied embeddings (SPEC.md 7.8)
        return x @ self.param("head")

    def loss(self, inputs, targets):
        with self.autocast():
            logits = self.logits(inputs)
        logits = logits.float()
        return self.F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    def autocast(self):
        if self.precision == "bf16" and self.device.type == "cuda":
            return self.torch.autocast("cuda", dtype=self.torch.bfloat16)
        import contextlib

        return contextlib.nullcontext()

    # --- batches from the wire ---

    def batch(self, payload, at, samples):
        torch = self.torch
        if self.kind == "mlp-classifier":
            width = self.spec["inputSize"]
            size = samples * width * 4
            inputs = torch.frombuffer(bytearray(payload[at : at + size]), dtype=torch.float32).view(samples, width)
            at += size
            targets = torch.frombuffer(bytearray(payload[at : at + samples * 4]), dtype=torch.int32)
            at += samples * 4
        else:
            t = self.spec["contextLength"]
            size = samples * t * 4
            inputs = torch.frombuffer(bytearray(payload[at : at + size]), dtype=torch.int32).view(samples, t)
            at += size
            targets = torch.frombuffer(bytearray(payload[at : at + size]), dtype=torch.int32).view(samples, t)
            at += size
        if at != len(payload):
            raise ValueError(f"batch payload of {len(payload)} bytes, expected {at}")
        inputs = inputs.to(self.device)
        if self.kind != "mlp-classifier":
            inputs = inputs.long()
        return inputs, targets.to(self.device).long()

    # --- one AdamW step (SPEC.md 7.5) ---

    def step(self, payload):
        torch = self.torch
        lr, t, samples = struct.unpack_from("<dII", payload, 0)
        inputs, targets = self.batch(payload, 16, samples)
        micro = self.micro_batches
        if samples % micro != 0:
            raise ValueError(f"a batch of {samples} samples does not split into {micro} micro-batches")
        part = samples // micro
        self.grad_buffer().zero_()
        losses = []
        for k in range(micro):
            loss = self.loss(inputs[k * part : (k + 1) * part], targets[k * part : (k + 1) * part])
            loss.backward()  # adds this micro-batch's gradient into self.grad, in order
            losses.append(loss.detach())
        self.check_grad_views()
        cfg = self.optimizer
        with torch.no_grad():
            # As few passes over the d values as the arithmetic allows: on a small model the step
            # is bound by the number of operations, not their size.
            g = self.grad
            if micro > 1:
                g.div_(micro)  # the sum of the micro-batch gradients, in order, over their number
            norm = torch.linalg.vector_norm(g)
            g.mul_(torch.clamp(cfg["gradClipNorm"] / (norm + 1e-6), max=1.0))
            beta1, beta2 = cfg["beta1"], cfg["beta2"]
            self.m.mul_(beta1).add_(g, alpha=1 - beta1)
            self.v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            # AdamW with decoupled weight decay (Loshchilov & Hutter 2019; SPEC.md 7.5):
            # w = w * (1 - lr * wd) on the matrices, then w - lr * (m / bc1) / (sqrt(v / bc2) + eps)
            # into the gradient's buffer, which the step needs no more (zeroed at the next step):
            # no temporary of d values (issue 17: 4 d bytes fewer while a large model trains)
            denominator = torch.div(self.v, 1 - beta2**t, out=g).sqrt_().add_(cfg["epsilon"])
            w = self.weights
            decay = 1 - lr * cfg["weightDecay"]
            for offset, size in self.decayed:
                w[offset : offset + size].mul_(decay)
            w.addcdiv_(self.m, denominator, value=-lr / (1 - beta1**t))
        return struct.pack("<d", float(torch.stack(losses).double().mean().item()))

    def check_grad_views(self):
        """Autograd must have accumulated into our views, not replaced them (it never should)."""
        if self.checked:
            return
        for view in self.params.values():
            if view.grad is None or view.grad.data_ptr() < self.grad.data_ptr() or (
                view.grad.data_ptr() >= self.grad.data_ptr() + 4 * self.count
            ):
                raise RuntimeError("a parameter's gradient left the flat gradient buffer")
        self.checked = True

    def evaluate(self, payload):
        torch = self.torch
        (samples,) = struct.unpack_from("<I", payload, 0)
        inputs, targets = self.batch(payload, 4, samples)
        with torch.no_grad():
            with self.autocast():
                logits = self.logits(inputs)
            logits = logits.float()
            loss = self.F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            correct = 0
            if self.kind == "mlp-classifier":
                correct = int((torch.argmax(logits, dim=1) == targets).sum().item())
        return struct.pack("<dI", float(loss.double().item()), correct)

    # --- state ---

    def set_flat(self, tensor, payload):
        if len(payload) != self.count * 4:
            raise ValueError(f"{len(payload)} bytes for {self.count} parameters")
        values = self.torch.frombuffer(payload, dtype=self.torch.float32)
        with self.torch.no_grad():
            tensor.copy_(values.to(self.device))

    def takes_weights_in_place(self, length):
        """Whether a set-weights payload of `length` bytes can be read into the weights' own memory:
        on the CPU, where get_flat is a view of it, and of the right size (else it is refused as
        any request is)."""
        return self.device.type == "cpu" and length == self.count * 4

    def get_flat(self, tensor):
        # a view of the CPU tensor's memory, written to the pipe without another copy
        return memoryview(tensor.detach().to("cpu").contiguous().numpy()).cast("B")

    def write_checkpoint(self, payload):
        """The checkpoint (SPEC.md 17.1) to a file: the node's 16-byte header, then the weights and
        both moments, written from the tensors without passing through the node (issue 17: a
        checkpoint is 12 d bytes). Not synced: the node fsyncs the file before it counts on it."""
        header = bytes(payload[:16])
        path = bytes(payload[16:]).decode("utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(header)
            for tensor in (self.weights, self.m, self.v):
                out.write(self.get_flat(tensor))
        return b""

    def moment_range(self, payload):
        """Values [start, end) of one moment (0: m, 1: v): a large model's state write reads them a
        block at a time, so the node never holds both moments (issue 17: 8 d bytes)."""
        moment, start, end = struct.unpack("<IQQ", bytes(payload))
        if moment not in (0, 1) or not start <= end <= self.count:
            raise ValueError(f"moment {moment} range [{start}, {end}) of {self.count} parameters")
        return self.get_flat((self.m, self.v)[moment][start:end])

    def memory(self):
        if self.device.type == "cuda":
            free, total = self.torch.cuda.mem_get_info()
            peak = self.torch.cuda.max_memory_allocated()
            return json.dumps({"free": free, "total": total, "peak": peak}).encode()
        return json.dumps({}).encode()

    def handle(self, op, payload):
        if op not in (OP_STEP, OP_WRITE_CHECKPOINT, OP_MEMORY):
            self.release_grad()
        if op == OP_SET_WEIGHTS:
            self.restore_weights()
            self.set_flat(self.weights, payload)
            return b""
        if op in READS_WEIGHTS:
            self.require_weights(READS_WEIGHTS[op])
        if op == OP_GET_WEIGHTS:
            return self.get_flat(self.weights)
        if op == OP_SET_MOMENTS:
            half = len(payload) // 2
            view = memoryview(payload)
            self.set_flat(self.m, view[:half])
            self.set_flat(self.v, view[half:])
            return b""
        if op == OP_GET_MOMENTS:
            return [self.get_flat(self.m), self.get_flat(self.v)]
        if op == OP_STEP:
            return self.step(payload)
        if op == OP_EVAL:
            return self.evaluate(payload)
        if op == OP_MEMORY:
            return self.memory()
        if op == OP_WRITE_CHECKPOINT:
            return self.write_checkpoint(payload)
        if op == OP_GET_MOMENT_RANGE:
            return self.moment_range(payload)
        if op == OP_RELEASE_WEIGHTS:
            return self.release_weights()
        raise ValueError(f"unknown operation {op}")


def read_into(stream, view):
    """Fills the writable memoryview `view` from the stream; False at EOF."""
    got = 0
    while got < len(view):
        n = stream.readinto(view[got:])
        if not n:
            return False
        got += n
    return True


def read_exact(stream, size):
    """`size` bytes into one writable buffer (torch.frombuffer views it without a copy); None at EOF."""
    buffer = bytearray(size)
    return buffer if read_into(stream, memoryview(buffer)) else None


def reply(out, status, payload):
    """One frame; `payload` is bytes, a memoryview, or a list of them written in order."""
    parts = payload if isinstance(payload, list) else [payload]
    out.write(struct.pack("<IB", sum(len(p) for p in parts), status))
    for part in parts:
        out.write(part)
    out.flush()


def serve():
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must never corrupt the frames
    die_with_parent()
    worker = None
    while True:
        header = read_exact(stdin, 5)
        if header is None:
            return  # the node closed the pipe: it stopped or died
        length, op = struct.unpack("<IB", header)
        if op == OP_SET_WEIGHTS and worker is not None and worker.takes_weights_in_place(length):
            # straight into the weights' memory: no buffer of 4 d bytes beside them (issue 17)
            worker.release_grad()
            worker.restore_weights()
            if not read_into(stdin, worker.get_flat(worker.weights)):
                return
            reply(stdout, STATUS_OK, b"")
            continue
        payload = read_exact(stdin, length)
        if payload is None:
            return
        try:
            if op == OP_INIT:
                import torch

                config = json.loads(payload.decode("utf-8"))
                worker = Worker(config)
                info = {
                    "torch": torch.__version__,
                    "device": str(worker.device),
                    "deviceName": torch.cuda.get_device_name(worker.device) if worker.device.type == "cuda" else "cpu",
                    "threads": torch.get_num_threads(),
                    "sdpa": worker.sdpa,
                    "parameters": worker.count,
                    "precision": worker.precision,
                }
                reply(stdout, STATUS_OK, json.dumps(info).encode())
            elif worker is None:
                raise ValueError("the first message must be init")
            else:
                reply(stdout, STATUS_OK, worker.handle(op, payload))
        except Exception as err:  # noqa: BLE001 - every failure goes back to the node, named
            kind = type(err).__name__
            if "out of memory" in str(err).lower():
                kind = "OutOfMemory"
            reply(stdout, STATUS_ERROR, json.dumps({"kind": kind, "message": str(err)}).encode())


if __name__ == "__main__":
    if "--probe" in sys.argv:
        probe()
    else:
        serve()
