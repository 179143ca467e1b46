namespace BitDistill.Distill.Data;

/// <summary>The container formats a task file or corpus can come in (see <see cref="TableReader.DetectFormat"/>).</summary>
public enum TableFormat
{
    /// <summary>One JSON object per line (.jsonl, .ndjson).</summary>
    JsonLines,
    /// <summary>A JSON array of objects (.json), streamed element by element.</summary>
    JsonArray,
    /// <summary>Comma-separated values with a header row, quoted fields per RFC 4180 (embedded commas, quotes, newlines).</summary>
    Csv,
    /// <summary>Tab-separated values with a header row, one record per line, no quoting (the GLUE files' convention).</summary>
    Tsv,
    /// <summary>Apache Parquet (read with Parquet.Net), one row group at a time.</summary>
    Parquet,
}
