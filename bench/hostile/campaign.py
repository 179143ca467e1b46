#!/usr/bin/env python3
"""The hostile-input campaign of issue 13, re-runnable: feeds corrupt model folders, corrupt data, abusive options and
SIGKILLs to every verb of a published `bitdistill`, and counts what a user would meet: stack traces, hangs, runs that
allocate gigabytes, hostile input accepted silently, errors longer than one line, odd exit codes and lost data.

    dotnet publish src/Cli -c Release -o /tmp/bd && python3 bench/hostile/campaign.py /tmp/bd/bitdistill [WORKDIR]

Prints a markdown table (per verb and in total) and writes WORKDIR/campaign.json with every run. Needs ~10 minutes on
2 cores. Exit code 1 when any run shows a defect.
"""
import gzip, hashlib, json, os, random, re, shutil, signal, struct, subprocess, sys, time

BIN = os.path.abspath(sys.argv[1])
WORK = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "/tmp/bitdistill-hostile")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 60           # seconds before a run counts as a hang
BIG_RSS_KB = 2 << 20   # 2 GiB peak resident memory counts as a multi-gigabyte allocation
TRACE = re.compile(r"^\s+at \S+.*\)|Unhandled exception", re.M)
ENV = dict(os.environ, DOTNET_gcServer="0")

runs = []


def run(verb, args, expect_fail=True, protect=(), timeout=TIMEOUT, case=""):
    """Runs bitdistill ARGS; records the outcome and its defects."""
    before = {p: tree_hash(p) for p in protect}
    t0 = time.time()
    p = subprocess.Popen([BIN, *verb.split(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=WORK, start_new_session=True)
    hung = False
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        hung = True
    # peak resident memory of this child alone (recorded by the wait4 patch below)
    rss = getattr(p, "_maxrss", 0)
    err_s, out_s = err.decode("utf-8", "replace"), out.decode("utf-8", "replace")
    err_lines = [l for l in err_s.splitlines() if l.strip() and not l.startswith("warning:")]
    r = {
        "verb": verb, "case": case, "args": [verb, *args], "exit": p.returncode, "seconds": round(time.time() - t0, 2),
        "stderr": err_s[-600:], "expect_fail": expect_fail, "max_rss_kb": rss,
        "trace": bool(TRACE.search(err_s) or TRACE.search(out_s)),
        "hang": hung,
        "big_alloc": rss > BIG_RSS_KB,
        "accepted": expect_fail is True and p.returncode == 0 and not hung,
        "multi_line": (p.returncode not in (0, None)) and not hung and len(err_lines) > 1,
        "odd_exit": (p.returncode not in (0, 1, 2, 130)) and not hung,
        "lost": [q for q in protect if tree_hash(q) != before[q]],
    }
    if expect_fail is False and p.returncode != 0 and not hung:
        r["failed_valid"] = True
    runs.append(r)
    flag = [k for k in ("trace", "hang", "big_alloc", "accepted", "multi_line", "odd_exit", "failed_valid") if r.get(k)] + (["lost"] if r["lost"] else [])
    print(f"{'!! ' if flag else '   '}{verb:10} {case:38} exit={p.returncode} {r['seconds']:5.1f}s {' '.join(flag)}"
          + (f"  | {err_lines[0][:110]}" if err_lines and flag else ""), flush=True)
    return r


# Per-child peak RSS: subprocess reaps children with waitpid, which drops rusage; patch it to use wait4.
_orig_try_wait = subprocess.Popen._try_wait


def _try_wait(self, wait_flags):
    try:
        pid, sts, ru = os.wait4(self.pid, wait_flags)
        if pid == self.pid:
            self._maxrss = ru.ru_maxrss
        return pid, sts
    except ChildProcessError:
        return self.pid, 0


subprocess.Popen._try_wait = _try_wait


def tree_hash(path):
    h = hashlib.sha256()
    if os.path.isfile(path):
        h.update(open(path, "rb").read())
    elif os.path.isdir(path):
        for root, dirs, files in sorted(os.walk(path)):
            dirs.sort()
            for f in sorted(files):
                q = os.path.join(root, f)
                h.update(q.encode())
                h.update(open(q, "rb").read())
    return h.hexdigest()


def must(args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True, cwd=WORK)
    if r.returncode != 0:
        sys.exit(f"setup failed: bitdistill {' '.join(args)}\n{r.stderr}")


def copy(src, name):
    dst = os.path.join(WORK, "cases", name)
    shutil.copytree(src, dst)
    return dst


# ---------------------------------------------------------------- setup: small valid models of every kind
def setup():
    if os.path.exists(WORK):
        shutil.rmtree(WORK)
    os.makedirs(os.path.join(WORK, "cases"))
    rows = [json.loads(l) for l in gzip.open(os.path.join(REPO, "data/tasks/sentiment/train.jsonl.gz"), "rt")][:96]
    with open(os.path.join(WORK, "train.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows[:80])
    with open(os.path.join(WORK, "test.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows[80:])
    W = lambda *p: os.path.join(WORK, *p)
    tiny = ["--steps", "4", "--batch", "2", "--seq-len", "16", "--hidden", "32", "--layers", "2", "--heads", "2",
            "--kv-heads", "1", "--head-dim", "16", "--intermediate", "48"]
    must(["pretrain", "--output", W("fp"), *tiny])
    must(["finetune", "--model", W("fp"), "--task", "classify", "--train", W("train.jsonl"), "--steps", "2", "--batch", "4", "--output", W("ft")])
    must(["distill", "--teacher", W("ft"), "--train", W("train.jsonl"), "--no-stage2", "--steps", "2", "--batch", "4", "--relation-heads", "4", "--output", W("st")])
    must(["export", "--model", W("st"), "--format", "i2", "--output", W("packed")])
    return W("fp"), W("ft"), W("st"), W("packed")


# ---------------------------------------------------------------- corruptions of a model folder
def st_file(d):
    return os.path.join(d, "model.safetensors")


def rewrite_header(d, fn):
    p = st_file(d)
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    h = fn(h)
    hb = json.dumps(h).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    open(p, "wb").write(struct.pack("<Q", len(hb)) + hb + b[8 + n:])


def first_tensor(h):
    return next(k for k in h if k != "__metadata__")


def edit_config(d, fn):
    p = os.path.join(d, "config.json")
    c = json.load(open(p))
    fn(c)
    json.dump(c, open(p, "w"))


def edit_tokenizer(d, fn):
    p = os.path.join(d, "tokenizer.json")
    c = json.load(open(p))
    fn(c)
    json.dump(c, open(p, "w"))


def set_path(c, path, v):
    for k in path[:-1]:
        c = c[k]
    c[path[-1]] = v


def nan_weights(d):
    p = st_file(d)
    b = bytearray(open(p, "rb").read())
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    for k, v in h.items():
        if k == "__metadata__" or v["dtype"] not in ("F32", "BF16", "F16"):
            continue
        s, e = v["data_offsets"]
        fill = {"F32": b"\x00\x00\xc0\x7f", "BF16": b"\xc0\x7f", "F16": b"\x00\x7e"}[v["dtype"]]
        b[8 + n + s:8 + n + e] = fill * ((e - s) // len(fill))
    open(p, "wb").write(bytes(b))


def hostile_regex(c):
    c["pre_tokenizer"] = {"type": "Split", "pattern": {"Regex": "(a+)+$"}, "behavior": "Isolated", "invert": False}


MODEL_DAMAGE = {
    "safetensors truncated": lambda d: open(st_file(d), "r+b").truncate(os.path.getsize(st_file(d)) // 2),
    "safetensors empty": lambda d: open(st_file(d), "wb").close(),
    "safetensors 7 bytes": lambda d: open(st_file(d), "wb").write(b"\x01\x02\x03\x04\x05\x06\x07"),
    "header length 2^62": lambda d: open(st_file(d), "r+b").write(struct.pack("<Q", 1 << 62)),
    "header length past end": lambda d: open(st_file(d), "r+b").write(struct.pack("<Q", os.path.getsize(st_file(d)))),
    "header not json": lambda d: open(st_file(d), "r+b").write(struct.pack("<Q", 16) + b"{not json at all"),
    "header is an array": lambda d: rewrite_header(d, lambda h: [1, 2, 3]),
    "unknown dtype": lambda d: rewrite_header(d, lambda h: (h[first_tensor(h)].__setitem__("dtype", "Q9"), h)[1]),
    "negative shape": lambda d: rewrite_header(d, lambda h: (h[first_tensor(h)].__setitem__("shape", [-4, 8]), h)[1]),
    "huge shape": lambda d: rewrite_header(d, lambda h: (h[first_tensor(h)].__setitem__("shape", [1 << 40, 1 << 40]), h)[1]),
    "offsets reversed": lambda d: rewrite_header(d, lambda h: (h[first_tensor(h)].__setitem__("data_offsets", list(reversed(h[first_tensor(h)]["data_offsets"]))), h)[1]),
    "offsets past end": lambda d: rewrite_header(d, lambda h: (h[first_tensor(h)].__setitem__("data_offsets", [0, 1 << 40]), h)[1]),
    "tensor missing": lambda d: rewrite_header(d, lambda h: {k: v for k, v in h.items() if "layers.0.mlp.down_proj" not in k}),
    "NaN weights": nan_weights,
    "config missing": lambda d: os.remove(os.path.join(d, "config.json")),
    "config empty": lambda d: open(os.path.join(d, "config.json"), "w").close(),
    "config not json": lambda d: open(os.path.join(d, "config.json"), "w").write('{"model_type": "qwen3", '),
    "config is an array": lambda d: open(os.path.join(d, "config.json"), "w").write("[1,2]"),
    "config deep nesting": lambda d: open(os.path.join(d, "config.json"), "w").write("[" * 100000 + "]" * 100000),
    "layers 1e6": lambda d: edit_config(d, lambda c: c.__setitem__("num_hidden_layers", 1000000)),
    "hidden -1": lambda d: edit_config(d, lambda c: c.__setitem__("hidden_size", -1)),
    "head_dim 2^30": lambda d: edit_config(d, lambda c: c.__setitem__("head_dim", 1 << 30)),
    "vocab 0": lambda d: edit_config(d, lambda c: c.__setitem__("vocab_size", 0)),
    "max positions -5": lambda d: edit_config(d, lambda c: c.__setitem__("max_position_embeddings", -5)),
    "eos -1": lambda d: edit_config(d, lambda c: c.__setitem__("eos_token_id", -1)),
    "model_type unknown": lambda d: edit_config(d, lambda c: c.__setitem__("model_type", "llama9")),
    "rope_theta a string": lambda d: edit_config(d, lambda c: c.__setitem__("rope_theta", "abc")),
    "heads not dividing": lambda d: edit_config(d, lambda c: c.__setitem__("num_key_value_heads", 3)),
    "shard path traversal": lambda d: (os.rename(st_file(d), os.path.join(d, "model-00001-of-00001.safetensors")),
                                       open(os.path.join(d, "model.safetensors.index.json"), "w").write(json.dumps(
                                           {"weight_map": {"model.embed_tokens.weight": "../../../../etc/passwd"}}))),
    "tokenizer missing": lambda d: os.remove(os.path.join(d, "tokenizer.json")),
    "tokenizer not json": lambda d: open(os.path.join(d, "tokenizer.json"), "w").write("{"),
    "tokenizer hostile regex": lambda d: edit_tokenizer(d, hostile_regex),
    "tokenizer id 2^31-1": lambda d: edit_tokenizer(d, lambda c: c["model"]["vocab"].__setitem__("zzzz", 2 ** 31 - 1)),
    "tokenizer merges garbage": lambda d: edit_tokenizer(d, lambda c: c["model"].__setitem__("merges", [42, None, "a"])),
}
TASK_DAMAGE = {
    "task.json missing": lambda d: os.remove(os.path.join(d, "task.json")),
    "task.json not json": lambda d: open(os.path.join(d, "task.json"), "w").write("{"),
    "task.json no labels": lambda d: (lambda p: json.dump({**json.load(open(p)), "labels": []}, open(p + ".x", "w")) or os.replace(p + ".x", p))(os.path.join(d, "task.json")),
}
STUDENT_DAMAGE = {
    "bitnet field a string": lambda d: edit_config(d, lambda c: c.__setitem__("bitnet", "x")),
    "bitnet weight_quant unknown": lambda d: edit_config(d, lambda c: c["bitnet"].__setitem__("weight_quant", "zzz")),
}


def must_refuse(damage, verb):
    """True: the verb reads what is damaged and must refuse; None: the verb need not read it (inspect's header view,
    generate from --prompt-ids without a tokenizer, quantize's fallback to the embedded tokenizer, export without the
    optional side files). A backtracking pre-tokenizer pattern is legal until text makes it backtrack: the cases with
    such text are run separately and must fail."""
    if damage == "tokenizer hostile regex" or (verb == "export" and damage in ("tokenizer missing", "task.json missing")):
        return None
    if damage.startswith("tokenizer"):
        return True if verb in ("classify", "evaluate", "finetune", "distill", "export") else None
    if damage.startswith("task.json"):
        return True if verb in ("classify", "evaluate", "distill", "export") else None
    if damage == "NaN weights" and verb == "inspect":
        return None
    return True


def model_cases(fp, ft, st, packed):
    T = os.path.join(WORK, "test.jsonl")
    tr = os.path.join(WORK, "train.jsonl")
    def verbs(m, kind, tag):
        o = lambda v: os.path.join(WORK, "out", f"{v}-{tag}")
        vs = [("inspect", [m]), ("generate", ["--model", m, "--prompt-ids", "1,2", "--max-new-tokens", "2", "--json"])]
        if kind in ("ft", "st"):
            vs += [("classify", ["--model", m, "--text", "fine"]), ("evaluate", ["--model", m, "--test", T])]
        if kind == "st":
            vs += [("export", ["--model", m, "--format", "i2", "--output", o("export")]),
                   ("quantize", ["--model", m, "--method", "gptq", "--calibration", T, "--output", o("quantize")])]
        if kind == "fp":
            vs += [("finetune", ["--model", m, "--task", "classify", "--train", tr, "--steps", "1", "--output", o("finetune")])]
        if kind == "ft":
            vs += [("distill", ["--teacher", m, "--train", tr, "--no-stage2", "--steps", "1", "--relation-heads", "4", "--output", o("distill")])]
        return vs
    i = 0
    for kind, src in (("fp", fp), ("ft", ft), ("st", st)):
        damages = dict(MODEL_DAMAGE)
        if kind != "fp":
            damages.update(TASK_DAMAGE)
        if kind == "st":
            damages.update(STUDENT_DAMAGE)
        for name, damage in damages.items():
            i += 1
            d = copy(src, f"{kind}-{i}")
            try:
                damage(d)
            except Exception as e:  # a damage that does not apply to this folder
                print(f"   (skip {name} on {kind}: {e})")
                continue
            for verb, args in verbs(d, kind, i):
                run(verb, args, expect_fail=must_refuse(name, verb), protect=[d], case=f"{kind}: {name}")
            if name == "tokenizer hostile regex":  # text that makes (a+)+$ backtrack for ever
                run("generate", ["--model", d, "--prompt", "a" * 40 + "!", "--max-new-tokens", "1"], protect=[d], case=f"{kind}: {name}, backtracking prompt")
    # the packed runtime folder
    for name, damage in {k: MODEL_DAMAGE[k] for k in ("safetensors truncated", "header length 2^62", "unknown dtype", "huge shape",
                                                       "offsets past end", "config not json", "layers 1e6", "head_dim 2^30",
                                                       "tokenizer hostile regex")}.items():
        i += 1
        d = copy(packed, f"packed-{i}")
        damage(d)
        for verb, args in (("inspect", [d]), ("generate", ["--model", d, "--prompt-ids", "1,2", "--max-new-tokens", "2", "--json"]),
                           ("classify", ["--model", d, "--text", "fine"])):
            run(verb, args, expect_fail=must_refuse(name, verb), protect=[d], case=f"packed: {name}")
        if name == "tokenizer hostile regex":
            run("generate", ["--model", d, "--prompt", "a" * 40 + "!", "--max-new-tokens", "1"], protect=[d], case=f"packed: {name}, backtracking prompt")


# ---------------------------------------------------------------- corrupt data files
def data_cases(fp, ft):
    D = lambda n: os.path.join(WORK, "data", n)
    os.makedirs(os.path.join(WORK, "data"), exist_ok=True)
    rows = open(os.path.join(WORK, "train.jsonl")).read()
    files = {
        "empty.jsonl": b"",
        "garbage.jsonl": bytes(random.Random(1).randrange(256) for _ in range(5000)),
        "invalid-utf8.jsonl": b'{"text": "\xff\xfe\xfd", "label": "positive"}\n' * 20,
        "nul-bytes.jsonl": rows.encode()[:2000] + b"\x00" * 100 + b"\n",
        "not-objects.json": b"[1, 2, 3]",
        "missing-label.jsonl": b'{"text": "good"}\n' * 30,
        "label-null.jsonl": b'{"text": "good", "label": null}\n' * 30,
        "one-label.jsonl": b'{"text": "good", "label": "positive"}\n' * 30,
        "truncated.jsonl.gz": gzip.compress(rows.encode())[:400],
        "missing-fields.csv": b"text,label\n\"a\n",
        "huge-line.jsonl": b'{"text": "' + b"a" * 20_000_000 + b'", "label": "positive"}\n',
        "deep.json": b"[" * 200000 + b"]" * 200000,
    }
    for n, b in files.items():
        open(D(n), "wb").write(b)
    for n in files:
        run("finetune", ["--model", fp, "--task", "classify", "--train", D(n), "--steps", "1", "--output", os.path.join(WORK, "out", "ft-" + n)],
            protect=[D(n), fp], case=f"train file: {n}")
        run("evaluate", ["--model", ft, "--test", D(n)], protect=[D(n)], case=f"test file: {n}")
    unseen = D("unseen-label.jsonl")
    open(unseen, "w").write('{"text": "meh", "label": "neutral"}\n' * 10)
    run("evaluate", ["--model", ft, "--test", unseen], case="test label never trained")
    for n in ("empty.jsonl", "garbage.jsonl", "truncated.jsonl.gz", "deep.json"):
        run("pretrain", ["--output", os.path.join(WORK, "out", "pt-" + n), "--corpus", D(n), "--steps", "1"], protect=[D(n)], case=f"corpus: {n}")
        run("tokenize", ["--tokenizer", fp, "--jsonl", D(n)], expect_fail=None if n == "empty.jsonl" else True, protect=[D(n)], case=f"jsonl: {n}")
    run("tokenizer train", [D("empty.jsonl"), "--vocab-size", "300", "--output", os.path.join(WORK, "out", "tok-empty")], case="tokenizer train on empty")
    run("tokenizer train", [D("garbage.jsonl"), "--vocab-size", "-5", "--output", os.path.join(WORK, "out", "tok-neg")], case="tokenizer train --vocab-size -5")


# ---------------------------------------------------------------- abusive options and paths
def option_cases(fp, ft, st):
    T = os.path.join(WORK, "test.jsonl")
    tr = os.path.join(WORK, "train.jsonl")
    out = lambda n: os.path.join(WORK, "out", n)
    gen = ["generate", "--model", fp, "--prompt-ids", "1,2"]
    corpus = os.path.join(WORK, "corpus.txt")
    with open(corpus, "w") as f:
        f.writelines(json.loads(l)["text"] + "\n\n" for l in open(tr))
    for opt, vals in {"--max-new-tokens": ["-1", "0x10", "2147483647"], "--temperature": ["0", "-1", "1e-38", "nan", "inf"],
                      "--top-p": ["0", "1.5", "nan"], "--top-k": ["-3"], "--repetition-penalty": ["0", "-2", "nan"],
                      "--threads": ["0", "-1", "100000"]}.items():
        for v in vals:
            # a tiny temperature is legitimate (it samples the argmax); the rest must be refused
            run("generate", gen[1:] + ["--do-sample", opt, v], expect_fail=(opt, v) != ("--temperature", "1e-38"), protect=[fp], case=f"{opt} {v}")
    run("generate", ["--model", fp, "--prompt-ids", ",".join(["5"] * 30000), "--max-new-tokens", "1"], case="prompt past max positions")
    run("generate", ["--model", fp, "--prompt-ids", "1,-4"], case="negative prompt id")
    run("generate", ["--model", fp, "--prompt-ids", "1,99999999"], case="prompt id past vocab")
    run("generate", ["--model", fp, "--prompt-ids", "abc"], case="prompt ids not numbers")
    run("generate", ["--model", fp], case="no prompt")
    train_opts = {"--steps": ["-1", "0"], "--batch": ["-1", "0", "99999999999"], "--lr": ["0", "-1", "nan", "inf"],
                  "--epochs": ["0", "-2"], "--warmup-ratio": ["-0.1", "2"], "--weight-decay": ["-1", "nan"],
                  "--max-length": ["0", "-1", "100000000"], "--eval-every": ["-1"], "--checkpoint-every": ["-5", "0"],
                  "--seed": ["-1", "abc"], "--label-words": ["negative=x", "negative=good,positive=good", "=,="], "--head": ["banana"],
                  "--task": ["translate"]}
    for opt, vals in train_opts.items():
        for v in vals:
            a = {"--model": fp, "--task": "classify", "--train": tr, "--steps": "1", "--output": out(f"o-{opt}{v}"), opt: v}
            run("finetune", [x for kv in a.items() for x in kv], protect=[fp, tr], case=f"finetune {opt} {v}")
    for opt, vals in {"--lambda": ["-1", "nan"], "--gamma": ["-1", "inf"], "--tau": ["0", "-1"], "--ad-layer": ["99", "-1"],
                      "--relation-heads": ["0", "7", "-1"], "--stage2-tokens": ["-1", "0"], "--stage2-seq-len": ["0", "1000000"],
                      "--subln": ["middle"], "--relation": ["cosine"], "--weight-quant": ["int4", "gptq:0", "awq:-3"]}.items():
        for v in vals:
            stage2 = ["--corpus", corpus] if opt.startswith("--stage2") else ["--no-stage2"]
            run("distill", ["--teacher", ft, "--train", tr, "--steps", "1", *stage2, "--output", out(f"d-{opt}{v}")] + (["--relation-heads", "4"] if opt != "--relation-heads" else []) + [opt, v], protect=[ft, tr], case=f"distill {opt} {v}")
    # paths
    run("finetune", ["--model", fp, "--task", "classify", "--train", tr, "--steps", "1", "--output", fp], protect=[fp], case="output is the input model")
    run("quantize", ["--model", st, "--method", "gptq", "--calibration", T, "--output", st], protect=[st], case="quantize output = model")
    run("export", ["--model", st, "--format", "i2", "--output", st], protect=[st], case="export output = model")
    run("finetune", ["--model", fp, "--task", "classify", "--train", tr, "--steps", "1", "--output", tr], protect=[tr], case="output is a file")
    run("finetune", ["--model", fp, "--task", "classify", "--train", WORK, "--steps", "1", "--output", out("dir-train")], case="train is a directory")
    run("finetune", ["--model", "/nonexistent", "--task", "classify", "--train", tr, "--output", out("nx")], case="model does not exist")
    run("pretrain", ["--output", out("pt-c"), "--corpus", WORK, "--steps", "1"], case="corpus is a directory")
    ro = out("readonly")
    os.makedirs(ro, exist_ok=True)
    os.chmod(ro, 0o555)
    if os.geteuid() != 0:  # root writes anywhere; the check only means something for a normal user
        run("pretrain", ["--output", os.path.join(ro, "x"), "--steps", "1"], case="read-only output")
    foreign = out("foreign")
    os.makedirs(foreign, exist_ok=True)
    open(os.path.join(foreign, "notes.txt"), "w").write("mine")
    run("pretrain", ["--output", foreign, "--steps", "1"], protect=[foreign], case="non-empty foreign output")
    for v in ("demo", "compare", "export", "classify", "evaluate", "inspect", "tokenize", "bench"):
        run(v, ["--no-such-option"], case="unknown option")
    run("demo", ["--seeds", "0"], case="demo --seeds 0")
    run("demo", ["--tasks", "nope"], case="demo unknown task")
    run("compare", ["--methods", "magic", "--report", out("cmp")], case="compare unknown method")
    run("compare", ["--budget", "huge", "--report", out("cmp2")], case="compare unknown budget")
    run("export", ["--model", st, "--format", "q4", "--output", out("ex-q4")], case="export unknown format")
    run("export", ["--model", fp, "--format", "i2", "--output", out("ex-fp")], case="export a full-precision model")
    run("classify", ["--model", fp, "--text", "x"], case="classify a model without a task")
    run("tokenize", ["--tokenizer", fp, "--jsonl", "/nonexistent.jsonl"], case="tokenize missing input")
    run("inspect", ["/nonexistent"], case="inspect missing folder")
    run("bench", ["gemm-peer", "x"], case="bench bad argument")


# ---------------------------------------------------------------- SIGKILL and resume
def kill_cases(n):
    args = lambda o: ["pretrain", "--output", o, "--steps", "300", "--batch", "2", "--seq-len", "16", "--hidden", "32", "--layers", "1",
                      "--heads", "2", "--kv-heads", "1", "--head-dim", "16", "--intermediate", "48", "--checkpoint-every", "7", "--seed", "5"]
    ref = os.path.join(WORK, "kill-ref")
    must(args(ref))
    want = tree_hash(os.path.join(ref, "model.safetensors"))
    rnd = random.Random(7)
    for k in range(n):
        o = os.path.join(WORK, f"kill-{k}")
        p = subprocess.Popen([BIN, *args(o)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=WORK, start_new_session=True)
        target = f"step {10 * rnd.randrange(2, 25)}/"
        for line in p.stdout:
            if target in line:
                break
        time.sleep(rnd.random() * 0.3)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        t0 = time.time()
        r = subprocess.run([BIN, *args(o)], capture_output=True, text=True, cwd=WORK)
        ok = r.returncode == 0 and tree_hash(os.path.join(o, "model.safetensors")) == want
        runs.append({"verb": "pretrain", "case": f"SIGKILL then resume ({target.strip()})", "args": args(o), "exit": r.returncode,
                     "seconds": round(time.time() - t0, 2), "stderr": r.stderr[-600:], "expect_fail": False, "max_rss_kb": 0,
                     "trace": bool(TRACE.search(r.stderr)), "hang": False, "big_alloc": False, "accepted": False, "multi_line": False,
                     "odd_exit": False, "lost": [] if ok else [o], "kill": True})
        print(f"{'   ' if ok else '!! '}pretrain   SIGKILL at {target:12} resumed {'bitwise equal' if ok else 'DIFFERENT or failed'}", flush=True)
        shutil.rmtree(o, ignore_errors=True)


def table():
    keys = [("trace", "stack traces"), ("hang", "hangs"), ("big_alloc", "≥2 GiB peak"), ("accepted", "accepted silently"),
            ("multi_line", "error over one line"), ("odd_exit", "odd exit code"), ("lost", "lost data")]
    verbs = sorted({r["verb"] for r in runs})
    lines = ["| verb | runs | " + " | ".join(k[1] for k in keys) + " |", "|---|---:|" + "---:|" * len(keys)]
    for v in verbs + ["**all**"]:
        rs = [r for r in runs if v == "**all**" or r["verb"] == v]
        lines.append(f"| {v} | {len(rs)} | " + " | ".join(str(sum(1 for r in rs if r[k])) for k, _ in keys) + " |")
    kills = [r for r in runs if r.get("kill")]
    lines.append(f"\nSIGKILLs: {len(kills)}, resumed to bitwise-identical weights: {sum(1 for r in kills if not r['lost'])}")
    return "\n".join(lines)


if __name__ == "__main__":
    load0 = os.getloadavg()
    fp, ft, st, packed = setup()
    model_cases(fp, ft, st, packed)
    data_cases(fp, ft)
    option_cases(fp, ft, st)
    kill_cases(int(os.environ.get("KILLS", "20")))
    json.dump(runs, open(os.path.join(WORK, "campaign.json"), "w"), indent=1)
    print()
    print(table())
    print(f"\nload average before {load0[0]:.2f}, after {os.getloadavg()[0]:.2f}; details: {os.path.join(WORK, 'campaign.json')}")
    bad = [r for r in runs if any(r[k] for k in ("trace", "hang", "big_alloc", "accepted", "multi_line", "odd_exit")) or r["lost"]]
    sys.exit(1 if bad else 0)
