using System.CommandLine;
using BitDistill.Distill.Recipes;
using BitDistill.Models;

namespace BitDistill.Cli;

/// <summary>The `finetune` verb: FP-SFT of a model on a task (the teacher for distillation), or with --bitnet the BitNet-SFT
/// baseline (the same base with BitLinear, no SubLN, no stage 2, no distillation).</summary>
public static class FinetuneCommand
{
    /// <summary>`bitdistill finetune --model DIR --task classify|summarize --train FILE [data and training flags] --output DIR [--bitnet]`.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "the base model folder (Hugging Face layout with its tokenizer)", Required = true };
        var output = new Option<string>("--output") { Description = "folder for the fine-tuned model (with tokenizer, task.json, recipe.json, metrics and plots)", Required = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer.json or its folder (default: the model folder)" };
        var bitnet = new Option<bool>("--bitnet") { Description = "the BitNet-SFT baseline: ternary BitLinear projections, no SubLN, no stage 2, no distillation" };
        var overwrite = new Option<bool>("--overwrite") { Description = "write into a non-empty --output folder that another verb wrote" };
        var task = new TaskArguments(); var training = new TrainingArguments();
        var cmd = new Command("finetune", "Fine-tune a model on a classification or summarization task (FP-SFT: the teacher; --bitnet: the BitNet-SFT baseline); evaluates on the test rows.");
        foreach (var o in new Option[] { model, output, tokenizer, bitnet, overwrite }) cmd.Options.Add(o);
        task.AddTo(cmd); training.AddTo(cmd);
        cmd.SetAction(p => ErrorPolicy.Run("finetune", p, () =>
        {
            var recipe = p.GetValue(bitnet) ? KnownRecipes.BitNetSft : KnownRecipes.FpSft;
            var run = TaskRun.Prepare(p, task, training, p.GetValue(model)!, p.GetValue(tokenizer), p.GetValue(output)!, "finetune", p.GetValue(overwrite));
            using var claimed = run.Output;
            using var interrupt = new Interruption();
            var baseModel = ModelRegistry.FromPretrained(run.ModelDir);
            var result = RecipeRunner.Run(recipe, baseModel, null, run.Train, run.Validation, run.Encoder, run.RunOptions(interrupt.Token));
            run.Save(result, recipe, baseModel: run.ModelDir);
            return 0;
        }));
        return cmd;
    }
}
