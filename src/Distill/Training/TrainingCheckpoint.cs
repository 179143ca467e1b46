using System.Text.Json;
using BitDistill.Autograd;
using BitDistill.Models;

namespace BitDistill.Distill.Training;

/// <summary>The trainer's checkpoint: the model (Hugging Face layout), the optimizer state and the trainer's history in one
/// folder, written to a temporary name and swapped in, so an interrupted run resumes from the last complete one.</summary>
public static class TrainingCheckpoint
{
    /// <summary>The checkpoint folder's name inside the run's checkpoint directory.</summary>
    public const string FolderName = "checkpoint";

    /// <summary>Writes model, optimizer and trainer state to dir/checkpoint atomically (a temporary folder swapped in).</summary>
    public static void Save(string dir, CausalLanguageModel model, Optimizer opt, TrainingHistory h, long step)
    {
        Directory.CreateDirectory(dir);
        var final = Path.Combine(dir, FolderName);
        var tmp = Path.Combine(dir, FolderName + ".tmp");
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        model.SavePretrained(tmp);
        opt.Save(Path.Combine(tmp, "optimizer.safetensors"));
        var state = new CheckpointState(step, h.Loss.Select(l => new[] { l.Step, l.Loss }).ToArray(), h.Validation.Select(v => new[] { v.Step, v.Perplexity }).ToArray());
        File.WriteAllText(Path.Combine(tmp, "trainer.json"), JsonSerializer.Serialize(state));
        // swap in: the old checkpoint is removed only after the new one is complete
        var old = Path.Combine(dir, FolderName + ".old");
        if (Directory.Exists(old)) Directory.Delete(old, true);
        if (Directory.Exists(final)) Directory.Move(final, old);
        Directory.Move(tmp, final);
        if (Directory.Exists(old)) Directory.Delete(old, true);
    }

    internal sealed record CheckpointState(long Step, double[][] Loss, double[][] Validation);

    /// <summary>Restores the last checkpoint in dir (also one left as .old by a crash mid-swap); false when there is none.</summary>
    public static bool TryResume(string dir, CausalLanguageModel model, Optimizer opt, TrainingHistory h, out long step)
    {
        step = 0;
        var path = Path.Combine(dir, FolderName);
        if (!Directory.Exists(path))
        {
            // a crash between the two moves leaves only the .old copy, which is complete
            var old = Path.Combine(dir, FolderName + ".old");
            if (!Directory.Exists(old)) return false;
            Directory.Move(old, path);
        }
        var statePath = Path.Combine(path, "trainer.json");
        var state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(statePath))
            ?? throw new InvalidDataException($"{statePath}: empty trainer state");
        var saved = ModelRegistry.FromPretrained(path);
        model.LoadStateDict(saved.StateDict(), strict: true, source: path);
        opt.Load(Path.Combine(path, "optimizer.safetensors"));
        h.Loss.AddRange(state.Loss.Select(a => ((long)a[0], a[1])));
        h.Validation.AddRange(state.Validation.Select(a => ((long)a[0], a[1])));
        step = state.Step;
        return true;
    }
}
