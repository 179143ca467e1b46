namespace BitDistill.Kernels;

/// <summary>Elementwise functions of two broadcast arguments.</summary>
public enum BinaryOp { Add, Sub, Mul, Div, Pow, Maximum, Minimum }
