using BitDistill.Distill.Recipes;
using BitDistill.Models.BitNet;

namespace BitDistill.Tests.Distill;

/// <summary>Baselines and ablations are data: each ablation differs from BitDistill in exactly the field it names.</summary>
public class RecipeTests
{
    [Fact]
    public void AblationsDifferFromBitDistillInOneField()
    {
        var b = KnownRecipes.BitDistill;
        Assert.Equal(SubLnPlacement.Paper, b.BitNet!.SubLn);
        Assert.True(b.ContinuedPretraining && b.UsesTeacher);
        Assert.Equal((10.0, 1e5, 5.0), (b.LogitsDistillationWeight, b.AttentionDistillationWeight, b.Temperature));
        Assert.Equal(SubLnPlacement.None, KnownRecipes.NoSubLn.BitNet!.SubLn);
        Assert.Equal(b with { Name = "no-subln", Description = KnownRecipes.NoSubLn.Description, BitNet = KnownRecipes.NoSubLn.BitNet }, KnownRecipes.NoSubLn);
        Assert.Equal(b with { Name = "no-stage2", Description = KnownRecipes.NoStage2.Description, ContinuedPretraining = false }, KnownRecipes.NoStage2);
        Assert.Equal(0, KnownRecipes.LogitsOnly.AttentionDistillationWeight);
        Assert.Equal(0, KnownRecipes.AttentionOnly.LogitsDistillationWeight);
        Assert.Null(KnownRecipes.FpSft.BitNet);
        Assert.False(KnownRecipes.BitNetSft.UsesTeacher || KnownRecipes.BitNetSft.ContinuedPretraining);
        Assert.Equal(KnownRecipes.All.Count, KnownRecipes.All.Select(r => r.Name).Distinct().Count());
        foreach (var r in KnownRecipes.All) r.Validate();
        var s = KnownRecipes.ForSummarization(b);
        Assert.Equal((1.0, 1e3), (s.LogitsDistillationWeight, s.AttentionDistillationWeight));
    }

    [Fact]
    public void InvalidRecipesAreRefusedNamingTheField()
    {
        Assert.Contains("temperature", Assert.Throws<ArgumentException>(() => (KnownRecipes.BitDistill with { Temperature = 0 }).Validate()).Message);
        Assert.Contains("stage 2", Assert.Throws<ArgumentException>(() => (KnownRecipes.FpSft with { ContinuedPretraining = true }).Validate()).Message);
        Assert.Contains("unknown recipe", Assert.Throws<ArgumentException>(() => KnownRecipes.ByName("magic")).Message);
        Assert.Same(KnownRecipes.BitDistill, KnownRecipes.ByName("bitdistill"));
    }

    [Fact]
    public void RecipeFilesRoundTripAndChangeABaseFieldByField()
    {
        var dir = Directory.CreateTempSubdirectory("bitdistill-recipe").FullName;
        try
        {
            var path = Path.Combine(dir, "r.json");
            File.WriteAllText(path, """{"base": "bitdistill", "bitnet": {"subln": "all"}, "logits_distillation_weight": 5, "attention_layer": 3}""");
            var r = RecipeFile.Load(path);
            Assert.Equal(SubLnPlacement.All, r.BitNet!.SubLn);
            Assert.Equal((5.0, 1e5, 3), (r.LogitsDistillationWeight, r.AttentionDistillationWeight, r.AttentionLayer));
            Assert.True(r.ContinuedPretraining);
            var saved = Path.Combine(dir, RecipeFile.FileName);
            RecipeFile.Save(r, saved);
            Assert.Equal(r, RecipeFile.Load(saved));
            Assert.Equal(KnownRecipes.FpSft, RecipeFile.Parse(RecipeFile.ToJson(KnownRecipes.FpSft), "x"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("""{"base": "magic"}""", "base")]
    [InlineData("""{"base": "bitdistill", "temprature": 2}""", "temprature")]
    [InlineData("""{"base": "bitdistill", "temperature": "hot"}""", "temperature")]
    [InlineData("""{"base": "bitdistill", "bitnet": {"subln": "sideways"}}""", "bitnet.subln")]
    [InlineData("""{"base": "fp-sft", "continued_pretraining": true}""", "stage 2")]
    public void BadRecipeFilesNameTheField(string json, string field)
    {
        var e = Assert.Throws<BitDistill.Models.ModelConfigException>(() => RecipeFile.Parse((System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(json)!, "r.json"));
        Assert.Contains(field, e.Message);
        Assert.Contains("r.json", e.Message);
    }
}
