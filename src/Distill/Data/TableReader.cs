using System.Text;

namespace BitDistill.Distill.Data;

/// <summary>Reads a table file (JSON array, JSONL, CSV, TSV, Parquet; the text formats optionally .gz) as a stream of
/// <see cref="TableRow"/>s with named columns. <see cref="Open"/> is the one place that picks the reader, by extension and,
/// when the extension says nothing, by content. Rows are streamed: nothing but the current record is held in memory.</summary>
public abstract class TableReader
{
    /// <summary>A reader over <paramref name="path"/> in <paramref name="format"/>.</summary>
    protected TableReader(string path, TableFormat format)
    {
        Path = path;
        Format = format;
    }

    /// <summary>The file read.</summary>
    public string Path { get; }
    /// <summary>Its format.</summary>
    public TableFormat Format { get; }
    /// <summary>The column names: the header (CSV/TSV), the schema (Parquet) or the keys of the first object (JSON). Known
    /// before any row is read, so missing fields are reported before anything large is allocated.</summary>
    public abstract IReadOnlyList<string> Columns { get; }

    /// <summary>The records in order. Malformed records come back with <see cref="TableRow.Problem"/> set; a file that
    /// cannot be read further (broken JSON array, truncated gzip, Parquet error) throws naming the file and position.</summary>
    public abstract IEnumerable<TableRow> ReadRows();

    /// <summary>Opens <paramref name="path"/> with the reader its format needs (<paramref name="format"/> forces one).</summary>
    public static TableReader Open(string path, TableFormat? format = null)
    {
        if (Directory.Exists(path)) throw new FileNotFoundException($"data file '{path}' is a folder; give a file", path);
        if (!File.Exists(path)) throw new FileNotFoundException($"data file '{path}' does not exist", path);
        var f = format ?? DetectFormat(path);
        return f switch
        {
            TableFormat.JsonLines => new JsonLinesTableReader(path),
            TableFormat.JsonArray => new JsonArrayTableReader(path),
            TableFormat.Csv => new DelimitedTableReader(path, TableFormat.Csv),
            TableFormat.Tsv => new DelimitedTableReader(path, TableFormat.Tsv),
            TableFormat.Parquet => new ParquetTableReader(path),
            _ => throw new ArgumentOutOfRangeException(nameof(format), f, "unknown table format"),
        };
    }

    /// <summary>The format of a file: by extension (.jsonl/.ndjson, .json, .csv, .tsv, .parquet, each text one optionally
    /// .gz), else by content: the Parquet magic "PAR1", a leading '[' (JSON array) or '{' (JSONL), a tab in the first line
    /// (TSV), otherwise CSV.</summary>
    public static TableFormat DetectFormat(string path)
    {
        var name = path.ToLowerInvariant();
        if (name.EndsWith(".gz", StringComparison.Ordinal)) name = name[..^3];
        var ext = System.IO.Path.GetExtension(name);
        switch (ext)
        {
            case ".jsonl" or ".ndjson": return TableFormat.JsonLines;
            case ".csv": return TableFormat.Csv;
            case ".tsv": return TableFormat.Tsv;
            case ".parquet": return TableFormat.Parquet;
        }
        using (var fs = File.OpenRead(path))
        {
            Span<byte> magic = stackalloc byte[4];
            if (fs.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("PAR1"u8)) return TableFormat.Parquet;
        }
        using var r = OpenText(path);
        int c;
        while ((c = r.Peek()) >= 0 && char.IsWhiteSpace((char)c)) r.Read();
        if (c == '[') return TableFormat.JsonArray;
        if (c == '{') return TableFormat.JsonLines;
        if (ext == ".json") throw new InvalidDataException($"{path}: a .json task file must hold a JSON array of objects or one object per line");
        var first = r.ReadLine() ?? "";
        return first.Contains('\t') ? TableFormat.Tsv : TableFormat.Csv;
    }

    /// <summary>A UTF-8 reader over the file, decompressing when it ends in .gz.</summary>
    public static StreamReader OpenText(string path)
    {
        // a truncated .gz is an error naming the file, not a shorter table (VerifiedGzipStream checks the trailer)
        Stream s = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? VerifiedGzipStream.Open(path) : File.OpenRead(path);
        return new StreamReader(s, new UTF8Encoding(false, true), detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
    }
}
