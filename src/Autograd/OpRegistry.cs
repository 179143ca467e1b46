namespace BitDistill.Autograd;

/// <summary>The list of registered differentiable ops (from the [Op] attributes on Function subclasses).</summary>
public static class OpRegistry
{
    /// <summary>Every registered op name.</summary>
    public static IReadOnlyList<string> Names { get; } = typeof(Function).Assembly.GetTypes()
        .Where(t => t.IsSubclassOf(typeof(Function)))
        .SelectMany(t => t.GetCustomAttributes(typeof(OpAttribute), false).Cast<OpAttribute>().SelectMany(a => a.Names))
        .Order().ToArray();

    /// <summary>Registry names of ops defined in other assemblies (e.g. BitLinear's straight-through estimator).</summary>
    public static IEnumerable<string> NamesIn(System.Reflection.Assembly asm) => asm.GetTypes()
        .Where(t => t.IsSubclassOf(typeof(Function)))
        .SelectMany(t => t.GetCustomAttributes(typeof(OpAttribute), false).Cast<OpAttribute>().SelectMany(a => a.Names));
}
