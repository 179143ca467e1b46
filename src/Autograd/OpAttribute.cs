namespace BitDistill.Autograd;

/// <summary>Marks a <see cref="Function"/> subclass as a registered differentiable op (the registry the gradient-check test walks).</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class OpAttribute(params string[] names) : Attribute
{
    /// <summary>The registry names of the ops this class implements.</summary>
    public string[] Names { get; } = names;
}
