using System.Globalization;
using Parquet;
using Parquet.Schema;

namespace BitDistill.Distill.Data;

/// <summary>Parquet files through Parquet.Net: the schema is read first (columns), then one row group at a time, only the
/// flat scalar columns asked for (strings, integers, booleans, floating point); rows are located as "file: row N" (0-based).</summary>
public sealed class ParquetTableReader : TableReader
{
    /// <summary>Reads <paramref name="path"/>'s schema now.</summary>
    public ParquetTableReader(string path) : base(path, TableFormat.Parquet)
    {
        try
        {
            using var fs = File.OpenRead(path);
            _fields = ParquetReader.ReadSchemaAsync(fs).GetAwaiter().GetResult().GetDataFields();
        }
        catch (Exception e) when (e is not IOException and not UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: not a readable Parquet file ({e.Message})", e);
        }
    }

    private readonly DataField[] _fields;

    /// <inheritdoc/>
    public override IReadOnlyList<string> Columns => _fields.Select(f => f.Name).ToArray();

    /// <summary>Columns to read (null = all); set by callers that need only a few of a wide file.</summary>
    public IReadOnlyCollection<string>? Select { get; set; }

    /// <inheritdoc/>
    public override IEnumerable<TableRow> ReadRows()
    {
        var fields = _fields.Where(f => Select is null || Select.Contains(f.Name)).ToArray();
        using var fs = File.OpenRead(Path);
        var reader = Wrap(() => ParquetReader.CreateAsync(fs).GetAwaiter().GetResult(), "opening");
        try
        {
            long row = 0;
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                var columns = new string?[fields.Length][];
                int count = 0;
                using (var rg = reader.OpenRowGroupReader(g))
                {
                    count = checked((int)rg.RowCount);
                    for (int c = 0; c < fields.Length; c++)
                        columns[c] = Wrap(() => ReadColumn(rg, fields[c], count), $"row group {g}, column '{fields[c].Name}'");
                }
                for (int i = 0; i < count; i++, row++)
                {
                    var values = new Dictionary<string, string?>(StringComparer.Ordinal);
                    for (int c = 0; c < fields.Length; c++) values[fields[c].Name] = columns[c][i];
                    yield return new TableRow(values, $"{Path}: row {row}", null);
                }
            }
        }
        finally { reader.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
    }

    private T Wrap<T>(Func<T> f, string what)
    {
        try { return f(); }
        catch (Exception e) when (e is not InvalidDataException and not IOException)
        {
            throw new InvalidDataException($"{Path}: Parquet {what}: {e.Message}", e);
        }
    }

    private static string?[] ReadColumn(ParquetRowGroupReader rg, DataField f, int count)
    {
        if (f.IsArray || f.MaxRepetitionLevel > 0)
            throw new InvalidDataException($"column '{f.Path}' is a repeated (list) column; expected a flat scalar column");
        var t = f.ClrType;
        if (t == typeof(string) || t == typeof(ReadOnlyMemory<char>))
        {
            var s = new string?[count];
            rg.ReadAsync(f, s.AsMemory()).GetAwaiter().GetResult();
            return s;
        }
        if (t == typeof(int)) return Scalar<int>(rg, f, count);
        if (t == typeof(long)) return Scalar<long>(rg, f, count);
        if (t == typeof(short)) return Scalar<short>(rg, f, count);
        if (t == typeof(byte)) return Scalar<byte>(rg, f, count);
        if (t == typeof(sbyte)) return Scalar<sbyte>(rg, f, count);
        if (t == typeof(bool)) return Scalar<bool>(rg, f, count);
        if (t == typeof(float)) return Scalar<float>(rg, f, count);
        if (t == typeof(double)) return Scalar<double>(rg, f, count);
        throw new InvalidDataException($"column '{f.Name}' has type {t.Name}; expected a string, integer, boolean or floating-point column");
    }

    private static string?[] Scalar<T>(ParquetRowGroupReader rg, DataField f, int count) where T : struct
    {
        var result = new string?[count];
        if (f.IsNullable)
        {
            var v = new T?[count];
            rg.ReadAsync(f, v.AsMemory()).GetAwaiter().GetResult();
            for (int i = 0; i < count; i++) result[i] = v[i] is { } x ? Text(x) : null;
        }
        else
        {
            var v = new T[count];
            rg.ReadAsync(f, v.AsMemory()).GetAwaiter().GetResult();
            for (int i = 0; i < count; i++) result[i] = Text(v[i]);
        }
        return result;
    }

    private static string Text<T>(T x) where T : struct => x switch
    {
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => x.ToString() ?? "",
    };
}
