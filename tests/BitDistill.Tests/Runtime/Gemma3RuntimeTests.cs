using System.Text.Json;
using System.Text.Json.Nodes;
using BitDistill.Autograd;
using BitDistill.Cli;
using BitDistill.Kernels;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Gemma3;
using BitDistill.Models.Generation;
using BitDistill.Runtime;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;
using Xunit.Abstractions;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Runtime;

/// <summary>Gemma 3 on the runtime against Models' Gemma3Model: the committed BF16 fixture (sliding window 4, final soft-cap, linear
/// RoPE scaling) and a random model with attention soft-capping, both full precision, and the random model refined to ternary
/// (SubLN paper / all / none, per-tensor and per-row scales) and exported by `bitdistill export` (i2, t1.6): prefill logits at
/// every position (prompts longer than the window, in one chunk and in chunks small enough that the bounded sliding-window caches
/// move), each cached decode step, greedy tokens, batched generation, `generate` on the exported folder, zero allocation per
/// decode step, and refusals of tampered files and of the multimodal config.</summary>
public sealed class Gemma3RuntimeTests(ITestOutputHelper output)
{
    // 23 tokens: longer than both windows (4 in the fixture, 5 in the random model)
    private static readonly int[] Prompt = [5, 17, 33, 2, 60, 11, 7, 90, 41, 3, 28, 71, 8, 55, 19, 64, 12, 9, 77, 30, 44, 6, 81];

    private static Gemma3Config RandomConfig() => Gemma3Config.FromJson(JsonNode.Parse("""
        { "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "vocab_size": 97, "hidden_size": 64, "intermediate_size": 96,
          "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "query_pre_attn_scalar": 20,
          "sliding_window": 5, "layer_types": ["sliding_attention", "full_attention", "sliding_attention"],
          "attn_logit_softcapping": 4.0, "final_logit_softcapping": 8.0, "rope_scaling": { "rope_type": "linear", "factor": 2.0 },
          "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0, "max_position_embeddings": 256, "initializer_range": 0.1,
          "rms_norm_eps": 1e-6, "eos_token_id": 1, "torch_dtype": "bfloat16" }
        """)!.AsObject());

    /// <summary>A random Gemma 3 with random norm weights (so 1 + w matters) saved to a temporary folder.</summary>
    private static string RandomModel()
    {
        var model = new Gemma3Model(RandomConfig(), new Generator(42));
        ulong seed = 100;
        foreach (var (name, p) in model.NamedParameters())
            if (name.Contains("norm", StringComparison.Ordinal)) p.Value.CopyFrom(Rand(p.Value.ShapeArray, seed++, -0.5f, 0.5f));
        var dir = Path.Combine(Path.GetTempPath(), $"bitdistill-gemma-rt-{Guid.NewGuid():N}");
        model.SavePretrained(dir);
        return dir;
    }

    /// <summary>The random model refined to ternary with <paramref name="settings"/>, SubLN weights randomised, saved.</summary>
    private static string QatModel(BitNetConfig settings)
    {
        var fp = RandomModel();
        try
        {
            var student = Refiner.Refine(ModelRegistry.FromPretrained(fp), settings);
            ulong seed = 11;
            foreach (var (name, p) in student.NamedParameters())
                if (name.Contains("sub_norm", StringComparison.Ordinal)) p.Value.CopyFrom(Rand(p.Value.ShapeArray, seed++, 0.5f, 1.5f));
            var dir = fp + "-qat";
            student.SavePretrained(dir);
            return dir;
        }
        finally { Delete(fp); }
    }

    private static string Export(string model, string format, string tables = "fp32")
    {
        var outDir = Path.Combine(Path.GetTempPath(), $"bitdistill-gemma-export-{Guid.NewGuid():N}");
        var e = new StringWriter();
        int code = ExportCommand.Run(new ExportCommand.Args { Model = model, Format = format, LmHead = tables, Embeddings = tables, Output = outDir }, new StringWriter(), e);
        Assert.True(code == 0, e.ToString());
        return outDir;
    }

    private static void Delete(params string[] dirs)
    {
        foreach (var d in dirs) if (Directory.Exists(d)) Directory.Delete(d, recursive: true);
    }

    private static float[] ModelLogits(CausalLanguageModel model)
    {
        using (GradMode.NoGrad()) return model.Forward(Tensor.FromArray(Prompt.Select(x => (long)x).ToArray(), [1, Prompt.Length])).Value.ToFloatArray();
    }

    private static float[] RuntimeLogits(RuntimeModel runtime, int chunk, int maxLength = 64)
    {
        var session = runtime.CreateSession(maxLength, chunk);
        var all = Tensor.Zeros([Prompt.Length, runtime.Config.VocabSize]);
        session.Append(Prompt, all);
        return all.ToFloatArray();
    }

    private static int[] Greedy(RuntimeModel runtime, int n) =>
        new RuntimeGenerator(runtime).Generate(Prompt, new RuntimeGenerationOptions { MaxNewTokens = n, Sampling = new() { Greedy = true }, StopTokenIds = [] }).GeneratedIds;

    // Prefill at every position (one chunk; chunks of 3 with a short session, so the sliding layers' bounded caches move), then
    // each cached decode step against Models' KV-cached generation, then the generator's greedy tokens.
    private void AssertRuntimeMatches(CausalLanguageModel model, RuntimeModel runtime, string what, double tolerance)
    {
        var expected = ModelLogits(model);
        foreach (var (chunk, length) in new[] { (128, 64), (3, 40) })
        {
            double e = RelErr(RuntimeLogits(runtime, chunk, length), expected);
            output.WriteLine($"{what}, prefill chunk {chunk}: logits relative error {e:E2}");
            Assert.True(e <= tolerance, $"{what}, chunk {chunk}: prefill logits relative error {e:E3}");
        }
        const int n = 16;
        var want = new TextGenerator(model).Generate(Prompt, new GenerationOptions
        {
            MaxNewTokens = n, Sampling = new() { Greedy = true }, StopTokenIds = [], KeepStepLogits = true,
        });
        var session = runtime.CreateSession(Prompt.Length + n, 3);
        session.Append(Prompt);
        double worst = 0;
        for (int i = 0; i < n; i++)
        {
            double e = RelErr(session.Logits.ToFloatArray(), want.StepLogits![i]);
            worst = Math.Max(worst, e);
            Assert.True(e <= tolerance, $"{what}: decode step {i}: logits relative error {e:E3}");
            Assert.Equal(want.GeneratedIds[i], TokenSampler.ArgMax(session.Logits.ToFloatArray()));
            if (i < n - 1) session.Decode(want.GeneratedIds[i]);
        }
        output.WriteLine($"{what}: worst decode-step logits relative error over {n} steps {worst:E2}");
        Assert.Equal(want.GeneratedIds, Greedy(runtime, n));
    }

    [Fact]
    public void TheCommittedFixtureRunsOnTheRuntimeAsOnTheModel()
    {
        string dir = FixturePath("gemma3", "gemma3-text-kv1");
        var runtime = RuntimeModel.Load(dir);
        Assert.Equal(4, runtime.Config.SlidingWindow);
        Assert.Equal([true, false, true, false], runtime.Config.SlidingLayers);
        Assert.Equal(5f, runtime.Config.FinalLogitSoftcap);
        Assert.Equal(2, runtime.Config.RopeScalingFactor);
        AssertRuntimeMatches(ModelRegistry.FromPretrained(dir), runtime, "gemma3-text-kv1", 1e-5);
    }

    [Fact]
    public void ARandomModelWithAttentionSoftCappingRunsOnTheRuntimeAsOnTheModel()
    {
        var dir = RandomModel();
        try { AssertRuntimeMatches(ModelRegistry.FromPretrained(dir), RuntimeModel.Load(dir), "random gemma3 fp", 1e-5); }
        finally { Delete(dir); }
    }

    public static TheoryData<string, string, string> Exports() => new()
    {
        { "paper", "per_tensor", "i2" },
        { "paper", "per_channel", "t1.6" },
        { "all", "per_tensor", "t1.6" },
        { "none", "per_channel", "i2" },
    };

    [Theory]
    [MemberData(nameof(Exports))]
    public void AnExportedGemmaGivesTheQuantisationAwareModelsLogitsAndGreedyTokens(string subln, string scale, string format)
    {
        var qat = QatModel(new BitNetConfig
        {
            SubLn = subln switch { "paper" => SubLnPlacement.Paper, "all" => SubLnPlacement.All, _ => SubLnPlacement.None },
            WeightScale = scale == "per_channel" ? WeightScaleMode.PerChannel : WeightScaleMode.PerTensor,
        });
        var packed = Export(qat, format);
        try
        {
            var runtime = RuntimeModel.Load(packed);
            Assert.True(runtime.IsTernary);
            Assert.Equal("gemma3_text", runtime.Config.ModelType);
            AssertRuntimeMatches(ModelRegistry.FromPretrained(qat), runtime, $"gemma3 subln={subln} {scale} {format}", 1e-4);
        }
        finally { Delete(qat, packed); }
    }

    [Fact]
    public void I2AndT16GiveIdenticalLogitsAndFp16TablesStayClose()
    {
        var qat = QatModel(new BitNetConfig { SubLn = SubLnPlacement.Paper });
        var i2 = Export(qat, "i2");
        var t16 = Export(qat, "t1.6");
        var half = Export(qat, "i2", "fp16");
        try
        {
            var a = RuntimeModel.Load(i2);
            Assert.Equal(RuntimeLogits(a, 128), RuntimeLogits(RuntimeModel.Load(t16), 128));
            var h = RuntimeModel.Load(half);
            double e = RelErr(RuntimeLogits(h, 128), RuntimeLogits(a, 128));
            output.WriteLine($"fp16 tables: logits relative error {e:E2} against fp32 tables");
            // FP16 rounding of the embeddings (scaled by √hidden) moves a few INT8 activation codes, as an INT8 head does for Qwen
            Assert.True(e <= 3e-2, $"fp16 tables: relative error {e:E3}");
            Assert.Equal(Greedy(a, 8), Greedy(h, 8));
        }
        finally { Delete(qat, i2, t16, half); }
    }

    [Fact]
    public void BatchedGenerationGivesEachPromptsOwnTokens()
    {
        var qat = QatModel(new BitNetConfig { SubLn = SubLnPlacement.Paper });
        var packed = Export(qat, "i2");
        try
        {
            var gen = new RuntimeGenerator(RuntimeModel.Load(packed));
            int[][] prompts = [Prompt, Prompt[..3], Prompt[5..17]];
            var options = new RuntimeGenerationOptions { MaxNewTokens = 12, Sampling = new() { Temperature = 0.9f, TopK = 20, Seed = 4 }, StopTokenIds = [] };
            var batch = gen.GenerateBatch(prompts, options);
            for (int p = 0; p < prompts.Length; p++) Assert.Equal(gen.Generate(prompts[p], options).GeneratedIds, batch[p].GeneratedIds);
        }
        finally { Delete(qat, packed); }
    }

    [Fact]
    public void GenerateRunsAnExportedGemmaOnTheRuntimeWithTheTrainingModelsTokens()
    {
        var qat = QatModel(new BitNetConfig { SubLn = SubLnPlacement.Paper });
        var packed = Export(qat, "t1.6");
        try
        {
            int[] Run(string dir)
            {
                var o = new StringWriter(); var e = new StringWriter();
                Assert.True(GenerateCommand.Run(new GenerateCommand.Args { Model = dir, PromptIds = string.Join(',', Prompt), MaxNewTokens = 10, Greedy = true, Json = true }, o, e) == 0, e.ToString());
                return JsonDocument.Parse(o.ToString()).RootElement.GetProperty("generated_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            }
            Assert.Equal(Run(qat), Run(packed));
        }
        finally { Delete(qat, packed); }
    }

    [Fact]
    public void AnExportedGemmaCarriesTheGemmaTokenizerAndGeneratesTheTrainingModelsText()
    {
        // a tiny model over the real Gemma 3 vocabulary (262,144 SentencePiece-style entries, tokenizer.json.gz)
        var o = RandomConfig().ToJsonObject();
        o["vocab_size"] = 262_144; o["hidden_size"] = 16; o["intermediate_size"] = 32; o["num_hidden_layers"] = 2;
        o["num_attention_heads"] = 2; o["num_key_value_heads"] = 1; o["head_dim"] = 8; o["layer_types"] = new JsonArray("sliding_attention", "full_attention");
        var qat = Path.Combine(Path.GetTempPath(), $"bitdistill-gemma-tok-{Guid.NewGuid():N}");
        Refiner.Refine(new Gemma3Model(Gemma3Config.FromJson(o), new Generator(3)), new BitNetConfig { SubLn = SubLnPlacement.Paper }).SavePretrained(qat);
        foreach (var f in new[] { "tokenizer.json.gz", "tokenizer_config.json" }) File.Copy(Path.Combine(GemmaTokenizerFixture.Dir, f), Path.Combine(qat, f));
        var packed = Export(qat, "i2", "fp16");
        try
        {
            Assert.True(File.Exists(Path.Combine(packed, "tokenizer.json.gz")));
            JsonElement Run(string dir)
            {
                var w = new StringWriter(); var e = new StringWriter();
                Assert.True(GenerateCommand.Run(new GenerateCommand.Args { Model = dir, Prompt = "The quick brown fox jumps over the lazy dog", MaxNewTokens = 8, Greedy = true, Json = true }, w, e) == 0, e.ToString());
                return JsonDocument.Parse(w.ToString()).RootElement.Clone();
            }
            var want = Run(qat);
            var got = Run(packed);
            Assert.Equal(want.GetProperty("generated_ids").GetRawText(), got.GetProperty("generated_ids").GetRawText());
            Assert.Equal(want.GetProperty("text").GetString(), got.GetProperty("text").GetString());
        }
        finally { Delete(qat, packed); }
    }

    [Fact]
    public void DecodeStepsAllocateNothing()
    {
        using var threads = KernelContext.Override(degreeOfParallelism: Math.Max(2, KernelContext.Current.DegreeOfParallelism));
        var qat = QatModel(new BitNetConfig { SubLn = SubLnPlacement.Paper });
        var packed = Export(qat, "i2", "int8");
        try
        {
            var model = RuntimeModel.Load(packed);
            const int steps = 32, warmup = 4, promptLength = 30;
            var seen = new int[promptLength + warmup + 3 * steps + 1];
            for (int i = 0; i < promptLength; i++) seen[i] = (i * 7 + 3) % model.Config.VocabSize;
            // prefill chunks of 8: the sliding layers hold 2·5 + 8 positions and move their keys during the measured steps
            var session = model.CreateSession(seen.Length, 8);
            var sampler = new TokenSampler(new SamplerSettings { Temperature = 0.8f, TopK = 40, TopP = 0.9f, RepetitionPenalty = 1.2f, Seed = 5 });
            session.Append(seen.AsSpan(0, promptLength));
            int n = promptLength;
            void Step()
            {
                int next = InferenceOps.Sample(sampler, session.Logits, seen.AsSpan(0, n));
                seen[n++] = next;
                session.Decode(next);
            }
            for (int i = 0; i < warmup; i++) Step();
            long allocated = LeastThreadAllocation(3, () => { for (int i = 0; i < steps; i++) Step(); });
            output.WriteLine($"gemma3 i2/int8: {allocated} bytes over {steps} decode steps (fewest of up to 3 windows) ending at position {n - 1}");
            Assert.Equal(0, allocated);
        }
        finally { Delete(qat, packed); }
    }

    [Fact]
    public void TamperedGemmaFilesAndTheMultimodalConfigAreRefusedInOneLine()
    {
        var qat = QatModel(new BitNetConfig { SubLn = SubLnPlacement.Paper });
        var packed = Export(qat, "i2");
        try
        {
            string path = Path.Combine(packed, PackedExportInfo.FileName);
            Dictionary<string, Tensor> tensors;
            Dictionary<string, string> meta;
            using (var st = SafeTensorsFile.Open(path))
            {
                tensors = st.Names.ToDictionary(n => n, n => st.Load(n, null, Device.Cpu));
                meta = new Dictionary<string, string>(st.Metadata);
            }
            const string post = "model.layers.1.post_feedforward_layernorm.weight", sub = "model.layers.2.mlp.ffn_sub_norm.weight";
            void Refused(string name, string fragment, Action<Dictionary<string, Tensor>> edit)
            {
                var copy = new Dictionary<string, Tensor>(tensors);
                edit(copy);
                SafeTensorsWriter.Write(path, copy, meta);
                var e = Assert.Throws<RuntimeModelException>(() => RuntimeModel.Load(packed));
                Assert.DoesNotContain('\n', e.Message);
                Assert.Contains($"'{name}'", e.Message);
                Assert.Contains(fragment, e.Message);
            }
            Refused(post, "missing", t => t.Remove(post));
            Refused(post, "expected F32 [64]", t => t[post] = Tensor.Zeros([63]));
            Refused(sub, "expected finite values", t => t[sub] = Tensor.Full([96], float.NaN));
            SafeTensorsWriter.Write(path, tensors, meta);
            Assert.True(RuntimeModel.Load(packed).IsTernary);

            // the container cut short
            var bytes = File.ReadAllBytes(path);
            File.WriteAllBytes(path, bytes[..(bytes.Length - 100)]);
            var cut = Assert.Throws<RuntimeModelException>(() => RuntimeModel.Load(packed));
            Assert.DoesNotContain('\n', cut.Message);

            var mm = Assert.Throws<RuntimeModelException>(() => RuntimeModelConfig.Load(FixturePath("gemma3", "gemma3-mm-kv2", "config.json")));
            Assert.Contains("model_type", mm.Message);
            Assert.Contains("gemma3_text", mm.Message);
        }
        finally { Delete(qat, packed); }
    }
}
