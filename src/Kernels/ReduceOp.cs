namespace BitDistill.Kernels;

/// <summary>Reductions over axes.</summary>
public enum ReduceOp { Sum, Mean, Max, Min }
