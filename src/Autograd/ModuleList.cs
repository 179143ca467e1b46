namespace BitDistill.Autograd;

/// <summary>An indexed list of modules named 0, 1, 2, … (as nn.ModuleList).</summary>
public sealed class ModuleList<T> : Module where T : Module
{
    private readonly List<T> _items = new();

    /// <summary>Creates a list from modules.</summary>
    public ModuleList(IEnumerable<T> items) { foreach (var m in items) Add(m); }

    /// <summary>Appends a module named by its index.</summary>
    public void Add(T m) { Child(_items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), m); _items.Add(m); }

    public T this[int i] => _items[i];
    public int Count => _items.Count;
    public IEnumerable<T> Items => _items;

    protected override void OnChildReplaced(string name, Module module) => _items[int.Parse(name, System.Globalization.CultureInfo.InvariantCulture)] = (T)module;
}
