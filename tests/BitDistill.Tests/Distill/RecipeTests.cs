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
}
