namespace BitDistill.Distill.Data;

/// <summary>One record of Debian's Translation-en: the package, its one-line summary and its long description (paragraphs
/// separated by "\n", the " ." lines of the source), and the line the record starts on.</summary>
public sealed record DebianDescription(string Package, string Summary, string Description, long Line);
