using System.Text.Json;
using BitDistill.Autograd;
using BitDistill.Cli;
using BitDistill.Kernels;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Generation;
using BitDistill.Models.Qwen;
using BitDistill.Runtime;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;
using Xunit.Abstractions;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Runtime;

/// <summary>`bitdistill export` → the runtime's loader → its forward: an exported ternary model gives the quantisation-aware
/// training model's logits and greedy tokens (committed tiny Qwen3/Qwen2 checkpoints refined by BitNetTransform, SubLN weights
/// randomised so they matter), i2 and t1.6 give identical logits, FP16/INT8 tables stay close, and a mismatched, truncated or
/// tampered file is refused with a message naming the tensor.</summary>
public sealed class PackedExportTests(ITestOutputHelper output)
{
    private static readonly int[] Prompt = [5, 17, 33, 2, 60, 11, 7, 90, 41];

    /// <summary>A QAT checkpoint of a committed fixture in a temporary folder (deleted by the caller).</summary>
    private static string QatFolder(string fixture, BitNetConfig settings)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"bitdistill-export-qat-{Guid.NewGuid():N}");
        var student = Refiner.Refine(QwenModel.FromPretrained(FixturePath("qwen", fixture)), settings);
        ulong seed = 11;
        foreach (var (name, p) in student.NamedParameters())
            if (name.Contains("sub_norm", StringComparison.Ordinal)) p.Value.CopyFrom(Rand(p.Value.ShapeArray, seed++, 0.5f, 1.5f));
        student.SavePretrained(dir);
        return dir;
    }

    private static string Export(string model, string format, string lmHead = "fp32", string embeddings = "fp32")
    {
        var outDir = Path.Combine(Path.GetTempPath(), $"bitdistill-export-out-{Guid.NewGuid():N}");
        var o = new StringWriter(); var e = new StringWriter();
        int code = ExportCommand.Run(new ExportCommand.Args { Model = model, Format = format, LmHead = lmHead, Embeddings = embeddings, Output = outDir }, o, e);
        Assert.True(code == 0, e.ToString());
        return outDir;
    }

    private static float[] QatLogits(string dir)
    {
        var model = QwenModel.FromPretrained(dir);
        using (GradMode.NoGrad()) return model.Forward(Tensor.FromArray(Prompt.Select(x => (long)x).ToArray(), [1, Prompt.Length])).Value.ToFloatArray();
    }

    private static float[] RuntimeLogits(RuntimeModel runtime, int chunk = 128)
    {
        var session = runtime.CreateSession(32, chunk);
        var all = Tensor.Zeros([Prompt.Length, runtime.Config.VocabSize]);
        session.Append(Prompt, all);
        return all.ToFloatArray();
    }

    private static int[] Greedy(RuntimeModel runtime, int n) =>
        new RuntimeGenerator(runtime).Generate(Prompt, new RuntimeGenerationOptions { MaxNewTokens = n, Sampling = new() { Greedy = true }, StopTokenIds = [] }).GeneratedIds;

    private static void Delete(params string[] dirs)
    {
        foreach (var d in dirs) if (Directory.Exists(d)) Directory.Delete(d, recursive: true);
    }

    public static TheoryData<string, string, string> Models() => new()
    {
        { "qwen3-tied", "paper", "per_tensor" },
        { "qwen3-untied-bias", "paper", "per_channel" },
        { "qwen2-tied", "all", "per_tensor" },
        { "qwen3-tied", "none", "per_channel" },
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void AnExportedModelGivesTheQuantisationAwareModelsLogitsAndGreedyTokens(string fixture, string subln, string scale)
    {
        var settings = new BitNetConfig
        {
            SubLn = subln switch { "paper" => SubLnPlacement.Paper, "all" => SubLnPlacement.All, _ => SubLnPlacement.None },
            WeightScale = scale == "per_channel" ? WeightScaleMode.PerChannel : WeightScaleMode.PerTensor,
        };
        var qat = QatFolder(fixture, settings);
        var packed = Export(qat, "i2");
        try
        {
            var expected = QatLogits(qat);
            var runtime = RuntimeModel.Load(packed);
            Assert.True(runtime.IsTernary);
            foreach (int chunk in new[] { 128, 3 })
            {
                double e = RelErr(RuntimeLogits(runtime, chunk), expected);
                output.WriteLine($"{fixture} subln={subln} {scale} chunk {chunk}: logits relative error {e:E2}");
                Assert.True(e <= 1e-4, $"prefill chunk {chunk}: logits relative error {e:E3}");
            }
            const int n = 12;
            var want = new TextGenerator(QwenModel.FromPretrained(qat)).Generate(Prompt, new GenerationOptions
            {
                MaxNewTokens = n, Sampling = new() { Greedy = true }, StopTokenIds = [],
            });
            Assert.Equal(want.GeneratedIds, Greedy(runtime, n));
        }
        finally { Delete(qat, packed); }
    }

    [Fact]
    public void I2AndT16PackingsGiveIdenticalLogits()
    {
        var qat = QatFolder("qwen3-untied-bias", new BitNetConfig { SubLn = SubLnPlacement.Paper });
        var i2 = Export(qat, "i2", "fp16", "fp16");
        var t16 = Export(qat, "t1.6", "fp16", "fp16");
        try
        {
            var a = RuntimeLogits(RuntimeModel.Load(i2));
            var b = RuntimeLogits(RuntimeModel.Load(t16));
            Assert.Equal(a, b);
            Assert.True(new FileInfo(Path.Combine(t16, PackedExportInfo.FileName)).Length < new FileInfo(Path.Combine(i2, PackedExportInfo.FileName)).Length);
        }
        finally { Delete(qat, i2, t16); }
    }

    [Theory]
    [InlineData("fp16", "fp16", 5e-3)]
    [InlineData("int8", "fp16", 3e-2)]
    [InlineData("int8", "int8", 5e-2)]
    public void Fp16AndInt8TablesStayCloseAndKeepTheGreedyTokens(string lmHead, string embeddings, double tolerance)
    {
        var qat = QatFolder("qwen3-tied", new BitNetConfig { SubLn = SubLnPlacement.Paper });
        var exact = Export(qat, "i2");
        var small = Export(qat, "i2", lmHead, embeddings);
        try
        {
            var r0 = RuntimeModel.Load(exact);
            var r1 = RuntimeModel.Load(small);
            double e = RelErr(RuntimeLogits(r1), RuntimeLogits(r0));
            output.WriteLine($"lm_head {lmHead}, embeddings {embeddings}: logits relative error {e:E2} against fp32 tables (tolerance {tolerance:E0})");
            Assert.True(e <= tolerance, $"relative error {e:E3} > {tolerance:E0}");
            Assert.Equal(Greedy(r0, 6), Greedy(r1, 6));
        }
        finally { Delete(qat, exact, small); }
    }

    [Fact]
    public void GenerateRunsAnExportedFolderOnTheRuntimeWithTheTrainingModelsTokens()
    {
        var qat = QatFolder("qwen3-tied", new BitNetConfig { SubLn = SubLnPlacement.Paper });
        var packed = Export(qat, "t1.6");
        try
        {
            JsonElement Run(string dir)
            {
                var o = new StringWriter(); var e = new StringWriter();
                Assert.Equal(0, GenerateCommand.Run(new GenerateCommand.Args { Model = dir, PromptIds = "5,17,33,60", MaxNewTokens = 10, Greedy = true, Json = true }, o, e));
                return JsonDocument.Parse(o.ToString()).RootElement.Clone();
            }
            var want = Run(qat).GetProperty("generated_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            var got = Run(packed).GetProperty("generated_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            Assert.Equal(want, got);
        }
        finally { Delete(qat, packed); }
    }

    // ---- refusals

    /// <summary>Rewrites the container of <paramref name="dir"/> with <paramref name="edit"/> applied to its tensors and metadata.</summary>
    private static void Rewrite(string dir, Action<Dictionary<string, Tensor>, Dictionary<string, string>> edit)
    {
        string path = Path.Combine(dir, PackedExportInfo.FileName);
        Dictionary<string, Tensor> tensors;
        Dictionary<string, string> meta;
        using (var st = SafeTensorsFile.Open(path))
        {
            tensors = st.Names.ToDictionary(n => n, n => st.Load(n, null, Device.Cpu));
            meta = new Dictionary<string, string>(st.Metadata);
        }
        edit(tensors, meta);
        SafeTensorsWriter.Write(path, tensors, meta);
    }

    private static RuntimeModelException Refused(string dir)
    {
        var e = Assert.Throws<RuntimeModelException>(() => RuntimeModel.Load(dir));
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void TamperedContainersAreRefusedNamingTheTensorAndWhatWasExpected()
    {
        var qat = QatFolder("qwen3-tied", new BitNetConfig { SubLn = SubLnPlacement.Paper });
        var good = Export(qat, "i2");
        var work = Path.Combine(Path.GetTempPath(), $"bitdistill-export-tamper-{Guid.NewGuid():N}");
        const string q = "model.layers.1.self_attn.q_proj.weight";
        try
        {
            void Fresh()
            {
                Delete(work);
                Directory.CreateDirectory(work);
                foreach (var f in Directory.GetFiles(good)) File.Copy(f, Path.Combine(work, Path.GetFileName(f)));
            }

            // a wrong byte count: one packed row missing
            Fresh();
            Rewrite(work, (t, _) => { var w = t[q]; t[q] = Tensor.FromArray(w.ToArray<byte>()[..^w.Shape[1]], [w.Shape[0] - 1, w.Shape[1]]); });
            var e = Refused(work);
            Assert.Equal(q, e.Name);
            Assert.Contains("expected U8 [64, 32]", e.Message);

            // a metadata version this build does not read
            Fresh();
            Rewrite(work, (_, m) => m["format_version"] = "2");
            e = Refused(work);
            Assert.Equal("format_version", e.Name);
            Assert.Contains("\"2\"", e.Message);

            // packing in the file disagreeing with config.json
            Fresh();
            Rewrite(work, (_, m) => m["packing"] = "t1.6");
            Assert.Equal("packing", Refused(work).Name);

            // a NaN scale
            Fresh();
            Rewrite(work, (t, _) => t["model.layers.0.mlp.up_proj.weight_scale"] = Tensor.FromArray([float.NaN], [1]));
            e = Refused(work);
            Assert.Equal("model.layers.0.mlp.up_proj.weight_scale", e.Name);
            Assert.Contains("finite", e.Message);

            // a 2-bit code that never occurs (3)
            Fresh();
            Rewrite(work, (t, _) => { var b = t[q].ToArray<byte>(); b[7] = 0xFF; t[q] = Tensor.FromArray(b, t[q].ShapeArray); });
            Assert.Equal(q, Refused(work).Name);

            // a base-3 byte above 242 (not 5 trits) in a t1.6 export
            var t16 = Export(qat, "t1.6");
            try
            {
                Rewrite(t16, (t, _) => { var b = t[q].ToArray<byte>(); b[3] = 250; t[q] = Tensor.FromArray(b, t[q].ShapeArray); });
                e = Refused(t16);
                Assert.Equal(q, e.Name);
                Assert.Contains("243", e.Message);
            }
            finally { Delete(t16); }

            // a truncated file
            Fresh();
            var path = Path.Combine(work, PackedExportInfo.FileName);
            var bytes = File.ReadAllBytes(path);
            File.WriteAllBytes(path, bytes[..^100]);
            e = Refused(work);
            Assert.NotNull(e.Name);
            Assert.Contains("truncated", e.Message);
        }
        finally { Delete(qat, good, work); }
    }

    [Fact]
    public void ExportRefusesItsInputFolderAsOutputAndFullPrecisionModels()
    {
        var qat = QatFolder("qwen3-tied", new BitNetConfig { SubLn = SubLnPlacement.Paper });
        try
        {
            var o = new StringWriter(); var e = new StringWriter();
            Assert.Equal(ErrorPolicy.BadInput, ExportCommand.Run(new ExportCommand.Args { Model = qat, Format = "i2", Output = qat }, o, e));
            Assert.Contains("would overwrite the input", e.ToString());
            Assert.Single(e.ToString().TrimEnd().Split('\n'));

            var fp = FixturePath("qwen", "qwen3-tied");
            var outDir = Path.Combine(Path.GetTempPath(), $"bitdistill-export-fp-{Guid.NewGuid():N}");
            e = new StringWriter();
            Assert.Equal(ErrorPolicy.BadInput, ExportCommand.Run(new ExportCommand.Args { Model = fp, Format = "t1.6", Output = outDir }, o, e));
            Assert.Contains("full-precision", e.ToString());
            Assert.Single(e.ToString().TrimEnd().Split('\n'));
            Assert.False(Directory.Exists(outDir) && Directory.EnumerateFiles(outDir, "*.safetensors").Any());
            Delete(outDir);
        }
        finally { Delete(qat); }
    }

    /// <summary>A refined student saved after one training forward, so a GPTQ/AWQ training quantiser has solved (its forward is the
    /// solution, not the pre-solve absmean).</summary>
    private static string SolvedQatFolder(BitNetConfig settings)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"bitdistill-export-qat-{Guid.NewGuid():N}");
        var student = Refiner.Refine(QwenModel.FromPretrained(FixturePath("qwen", "qwen3-tied")), settings);
        var ids = Enumerable.Range(0, 24).Select(i => (long)((i * 37 + 5) % 90)).ToArray();
        student.Forward(Tensor.FromArray(ids, [2, 12])); // a training-mode forward with gradients recorded: the first solve
        Assert.All(Refiner.BitLinears(student), l => Assert.True(l.Layer.QuantizerSolves > 0));
        student.SavePretrained(dir);
        return dir;
    }

    [Fact]
    public void AGptqTrainedStudentExportsWithItsSolvedCodesAndScales()
    {
        // GPTQ's forward is ternarise((W + D) / r)·t: codes × one scale per row, which the packed format holds exactly
        var qat = SolvedQatFolder(new BitNetConfig { SubLn = SubLnPlacement.Paper, WeightQuant = WeightQuantizer.Gptq });
        string? outDir = null;
        try
        {
            outDir = Export(qat, "t1.6");
            var runtime = RuntimeModel.Load(outDir);
            var expected = QatLogits(qat);
            var got = RuntimeLogits(runtime);
            double worst = 0;
            for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - got[i]));
            output.WriteLine($"GPTQ-trained student: max |runtime − QAT| = {worst:G3}");
            Assert.True(worst < 1e-4, $"max difference {worst}");
            // the per-row GPTQ scales made it into the file, not a per-tensor absmean
            Assert.True(runtime.Config.Export!.PerRowScales);
        }
        finally { Delete(qat); if (outDir is not null) Delete(outDir); }
    }

    public static TheoryData<string, string> Unexportable() => new()
    {
        { "awq-training", "weight_quant 'awq'" },
        { "awq-calibration", "calibration 'awq'" },
        { "per-group", "per_group" },
        { "score-head", "score-head" },
    };

    [Theory]
    [MemberData(nameof(Unexportable))]
    public void ExportRefusesWhatThePackedRuntimeCannotComputeFaithfullyInOneLineBeforeWriting(string kind, string named)
    {
        var qat = kind switch
        {
            "awq-training" => SolvedQatFolder(new BitNetConfig { SubLn = SubLnPlacement.Paper, WeightQuant = WeightQuantizer.Awq }),
            "awq-calibration" => WithBitNetField(QatFolder("qwen3-tied", new BitNetConfig { SubLn = SubLnPlacement.Paper }), "calibration", "awq"),
            "per-group" => QatFolder("qwen3-tied", new BitNetConfig { SubLn = SubLnPlacement.Paper, WeightScale = WeightScaleMode.PerGroup, GroupSize = 32 }),
            _ => ScoreHeadFolder(),
        };
        var outDir = Path.Combine(Path.GetTempPath(), $"bitdistill-export-refused-{Guid.NewGuid():N}");
        try
        {
            var e = new StringWriter();
            Assert.Equal(ErrorPolicy.BadInput, ExportCommand.Run(new ExportCommand.Args { Model = qat, Format = "i2", Output = outDir }, new StringWriter(), e));
            output.WriteLine(e.ToString());
            Assert.Contains(named, e.ToString());
            Assert.Contains("config.json", e.ToString());
            Assert.Single(e.ToString().TrimEnd().Split('\n'));
            Assert.False(Directory.Exists(outDir));
        }
        finally { Delete(qat, outDir); }
    }

    // the folder with one field of its config's "bitnet" object changed (as `quantize --method awq` records it)
    private static string WithBitNetField(string dir, string field, string value)
    {
        var path = Path.Combine(dir, "config.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!;
        json["bitnet"]![field] = value;
        File.WriteAllText(path, json.ToJsonString());
        return dir;
    }

    // a ternary student with a score head (Qwen3ForSequenceClassification), saved as distill --head score saves it
    private static string ScoreHeadFolder()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"bitdistill-export-score-{Guid.NewGuid():N}");
        var lm = QwenModel.FromPretrained(FixturePath("qwen", "qwen3-tied"));
        var student = Refiner.Refine(ModelRegistry.WithScoreHead(lm, ["negative", "positive"], new Generator(5), padTokenId: 0), new BitNetConfig { SubLn = SubLnPlacement.Paper });
        student.SavePretrained(dir);
        return dir;
    }

    [Fact]
    public void T16LinearWeightsAreAtLeast9Point5TimesSmallerThanFp16()
    {
        // 256 × 1280: a multiple of 128 (no i2 padding) and of 5 (no base-3 padding); the per-tensor scale is 4 bytes
        const int n = 256, k = 1280;
        var w = PackedTernaryMatrix.Pack(Rand([n, k], 3).ToFloatArray(), n, k, TernaryScaleMode.PerTensor);
        long fp16 = 2L * n * k;
        var t16 = new PackedModelWriter(new PackedExportInfo { Packing = TernaryPacking.T16 });
        t16.AddTernary("p", w);
        var i2 = new PackedModelWriter(new PackedExportInfo { Packing = TernaryPacking.I2 });
        i2.AddTernary("p", w);
        output.WriteLine($"FP16 {fp16} bytes; t1.6 {t16.TernaryBytes} ({(double)fp16 / t16.TernaryBytes:F2}×); i2 {i2.TernaryBytes} ({(double)fp16 / i2.TernaryBytes:F2}×)");
        Assert.True((double)fp16 / t16.TernaryBytes >= 9.5);
        Assert.True((double)fp16 / i2.TernaryBytes >= 7.9);
    }
}
