using BitDistill.Autograd;
using BitDistill.Models;
using BitDistill.Models.BitNet;

namespace BitDistill.Distill.Training;

/// <summary>What <see cref="Trainer"/> does differently on several ranks (<see cref="DataParallel.Communicator"/>): the root
/// alone resumes from the checkpoint and hands the replicas its weights and optimizer state; each step's loss terms and the
/// stop request are summed over the ranks (so every rank takes the same decisions: diverged, interrupted); the gradient
/// all-reduce itself is <see cref="DataParallel.AllReduceGradients"/>. Micro-batch i of step s on rank r is the data's global
/// micro-batch s·(A·R) + i·R + r (A micro-batches per rank, R ranks): the ranks read disjoint rows, and a step covers the same
/// rows as one process accumulating A·R micro-batches, so a run resumes with any R for which A·R is unchanged.</summary>
internal static class DataParallelTraining
{
    /// <summary>Refuses what cannot train data-parallel yet: GPTQ-/AWQ-style training quantisers solve on statistics of each
    /// process's own batches, so the replicas would drift apart.</summary>
    public static void CheckSupported(CausalLanguageModel model, ICommunicator comm)
    {
        if (comm.Size == 1) return;
        foreach (var (name, l) in Refiner.BitLinears(model))
            if (l.Quantizer != WeightQuantizer.Absmean)
                throw new ArgumentException($"{name}: the {l.Quantizer} training quantiser is not supported in data-parallel training (its statistics are per process); train it in one process or use absmean / per-channel / group weights");
    }

    /// <summary>Brings every rank to the root's state: whether it resumed and at which step, its weights, and (when resumed)
    /// its optimizer state, sent from the checkpoint file the root loaded.</summary>
    public static (bool Resumed, long Start) Synchronize(CausalLanguageModel model, Optimizer opt, ICommunicator comm, bool resumed, long start, string? checkpointDir)
    {
        if (comm.Size == 1) return (resumed, start);
        var state = comm.Rank == 0 ? new double[] { resumed ? 1 : 0, start } : new double[2];
        comm.AllReduceSum(state);
        (resumed, start) = (state[0] != 0, (long)state[1]);
        DataParallel.BroadcastParameters(opt.Params.ToList(), comm);
        if (resumed)
        {
            var file = Path.Combine(checkpointDir ?? "", TrainingCheckpoint.FolderName, "optimizer.safetensors");
            var copy = comm.Rank == 0 ? file : Path.Combine(Path.GetTempPath(), $"bitdistill-optimizer-{Environment.ProcessId}.safetensors");
            DataParallel.BroadcastFile(file, copy, comm);
            if (comm.Rank != 0)
            {
                try { opt.Load(copy); }
                finally { File.Delete(copy); }
            }
        }
        return (resumed, start);
    }

    /// <summary>Sums the step's loss, its terms (each rank's already divided by A·R) and the stop requests over the ranks;
    /// returns whether any rank was asked to stop.</summary>
    public static bool ReduceStep(ICommunicator comm, ref double loss, SortedDictionary<string, double> terms, bool stopRequested)
    {
        if (comm.Size == 1) return stopRequested;
        var keys = terms.Keys.ToArray();
        var v = new double[keys.Length + 2];
        v[0] = loss;
        for (int i = 0; i < keys.Length; i++) v[i + 1] = terms[keys[i]];
        v[^1] = stopRequested ? 1 : 0;
        comm.AllReduceSum(v);
        loss = v[0];
        for (int i = 0; i < keys.Length; i++) terms[keys[i]] = v[i + 1];
        return v[^1] > 0;
    }
}
