namespace BitDistill.Kernels;

/// <summary>Elementwise functions of one argument.</summary>
public enum UnaryOp { Neg, Abs, Exp, Log, Sqrt, Rsqrt, Tanh, Sigmoid, Silu, GeluTanh, GeluErf, Relu, ReluSquared, Square, Reciprocal, Sign, Erf }
