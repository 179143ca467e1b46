namespace BitDistill.Kernels;

/// <summary>Elementwise comparisons (result is Bool).</summary>
public enum CompareOp { Eq, Ne, Lt, Le, Gt, Ge }
