namespace BitDistill.Kernels;

/// <summary>Elementwise functions of one argument.</summary>
public enum UnaryOp { Neg, Abs, Exp, Log, Sqrt, Rsqrt, Tanh, Sigmoid, Silu, GeluTanh, GeluErf, Relu, ReluSquared, Square, Reciprocal, Sign, Erf }

/// <summary>Elementwise functions of two broadcast arguments.</summary>
public enum BinaryOp { Add, Sub, Mul, Div, Pow, Maximum, Minimum }

/// <summary>Elementwise comparisons (result is Bool).</summary>
public enum CompareOp { Eq, Ne, Lt, Le, Gt, Ge }

/// <summary>Reductions over axes.</summary>
public enum ReduceOp { Sum, Mean, Max, Min }

