"""Training-step peer: a small Qwen3 in PyTorch 1.13 (Debian python3-torch + OpenBLAS), the same model and step as
`BitDistill.Bench qwen-train`. Run it the fair way (see DESIGN.md, Peers):
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=N /usr/bin/python3 bench/peers/torch_qwen_train.py N

Model (written from modeling_qwen3.py, as tests/fixtures/make_qwen_fixtures.py): vocab 8192, hidden 256, 4 layers,
4 heads, 2 KV heads, head_dim 64, intermediate 768, RMSNorm, q_norm/k_norm before RoPE, GQA, SwiGLU, tied embeddings.
Step: random ids [8, 256], causal-LM cross-entropy (logits[:, :-1] vs ids[:, 1:]), backward, AdamW (lr 1e-4, wd 0.01).
Prints machine-readable lines:
  torch threads=N train_ms=<median> train_min_ms=<min> train_cpu_ms=<median process CPU time> steps=<n>
  torch threads=N prefill_tok_s=<tokens/s of a no-grad forward of [1, 256]>
  torch threads=N decode_tok_s=<tokens/s of 64 greedy steps with a KV cache after a 32-token prompt>"""
import math
import sys
import time

import torch
import torch.nn.functional as F

VOCAB, HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, INTER = 8192, 256, 4, 4, 2, 64, 768
EPS, THETA, BATCH, SEQ = 1e-6, 1_000_000.0, 8, 256
STEPS, WARMUP = 9, 3


class RMSNorm(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope_tables(n):
    inv_freq = 1.0 / (THETA ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.float64) / HEAD_DIM))
    freqs = torch.arange(n, dtype=torch.float64)[:, None] * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().float(), emb.sin().float()


class Attention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = torch.nn.Linear(HIDDEN, HEADS * HEAD_DIM, bias=False)
        self.k_proj = torch.nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=False)
        self.v_proj = torch.nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=False)
        self.o_proj = torch.nn.Linear(HEADS * HEAD_DIM, HIDDEN, bias=False)
        self.q_norm = RMSNorm(HEAD_DIM)
        self.k_norm = RMSNorm(HEAD_DIM)

    def forward(self, x, cos, sin, cache=None):
        b, t, _ = x.shape
        q = self.q_norm(self.q_proj(x).view(b, t, HEADS, HEAD_DIM)).transpose(1, 2)
        k = self.k_norm(self.k_proj(x).view(b, t, KV_HEADS, HEAD_DIM)).transpose(1, 2)
        v = self.v_proj(x).view(b, t, KV_HEADS, HEAD_DIM).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            if "k" in cache:
                k = torch.cat((cache["k"], k), dim=2)
                v = torch.cat((cache["v"], v), dim=2)
            cache["k"], cache["v"] = k, v
        s = k.shape[2]
        rep = HEADS // KV_HEADS
        k = k[:, :, None].expand(b, KV_HEADS, rep, s, HEAD_DIM).reshape(b, HEADS, s, HEAD_DIM)
        v = v[:, :, None].expand(b, KV_HEADS, rep, s, HEAD_DIM).reshape(b, HEADS, s, HEAD_DIM)
        scores = (q @ k.transpose(2, 3)) * (HEAD_DIM ** -0.5)
        if t > 1:
            mask = torch.ones(t, s, dtype=torch.bool).tril(diagonal=s - t)
            scores = scores.masked_fill(~mask, float("-inf"))
        a = torch.softmax(scores, dim=-1) @ v
        return self.o_proj(a.transpose(1, 2).reshape(b, t, HEADS * HEAD_DIM))


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gate_proj = torch.nn.Linear(HIDDEN, INTER, bias=False)
        self.up_proj = torch.nn.Linear(HIDDEN, INTER, bias=False)
        self.down_proj = torch.nn.Linear(INTER, HIDDEN, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layernorm = RMSNorm(HIDDEN)
        self.self_attn = Attention()
        self.post_attention_layernorm = RMSNorm(HIDDEN)
        self.mlp = Mlp()

    def forward(self, h, cos, sin, cache=None):
        h = h + self.self_attn(self.input_layernorm(h), cos, sin, cache)
        return h + self.mlp(self.post_attention_layernorm(h))


class Qwen3(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(VOCAB, HIDDEN)
        self.layers = torch.nn.ModuleList(Layer() for _ in range(LAYERS))
        self.norm = RMSNorm(HIDDEN)
        self.cos, self.sin = rope_tables(4096)
        for m in self.modules():  # Hugging Face's _init_weights: N(0, 0.02)
            if isinstance(m, (torch.nn.Linear, torch.nn.Embedding)):
                torch.nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, ids, caches=None):
        past = 0 if caches is None or "k" not in caches[0] else caches[0]["k"].shape[2]
        t = ids.shape[1]
        cos, sin = self.cos[past:past + t], self.sin[past:past + t]
        h = self.embed_tokens(ids)
        for i, layer in enumerate(self.layers):
            h = layer(h, cos, sin, None if caches is None else caches[i])
        return self.norm(h) @ self.embed_tokens.weight.T  # tied lm_head


def median(xs):
    return sorted(xs)[len(xs) // 2]


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = Qwen3()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    ids = torch.randint(0, VOCAB, (BATCH, SEQ))

    def step():
        opt.zero_grad(set_to_none=False)
        logits = model(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        return loss

    times, cpu = [], []
    for i in range(WARMUP + STEPS):
        c0, t0 = time.process_time(), time.perf_counter()
        step()
        if i >= WARMUP:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    print(f"torch threads={threads} train_ms={1000 * median(times):.2f} train_min_ms={1000 * min(times):.2f} "
          f"train_cpu_ms={1000 * median(cpu):.2f} steps={len(times)}", flush=True)

    with torch.no_grad():
        prompt = torch.randint(0, VOCAB, (1, SEQ))
        pt = []
        for i in range(3 + 7):
            t0 = time.perf_counter()
            model(prompt)
            if i >= 3:
                pt.append(time.perf_counter() - t0)
        print(f"torch threads={threads} prefill_tok_s={SEQ / median(pt):.1f}", flush=True)

        dt = []
        for _ in range(1 + 5):
            caches = [dict() for _ in range(LAYERS)]
            tok = model(prompt[:, :32], caches)[:, -1].argmax(-1, keepdim=True)
            t0 = time.perf_counter()
            for _ in range(64):
                tok = model(tok, caches)[:, -1].argmax(-1, keepdim=True)
            dt.append(time.perf_counter() - t0)
        print(f"torch threads={threads} decode_tok_s={64 / median(dt[1:]):.1f}", flush=True)


if __name__ == "__main__":
    main()
