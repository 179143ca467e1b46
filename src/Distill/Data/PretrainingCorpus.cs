using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace BitDistill.Distill.Data;

/// <summary>Derives the shipped base model's pretraining corpus from the real corpora in ../shared/data: Brown (tags
/// stripped, one document per file), the State of the Union addresses (one per address), Jane Austen's novels (one document
/// per paragraph) and Debian's package descriptions (summary line then long description, one per package). Each corpus is
/// split into train and held-out parts by seeded hash of its documents (files, addresses, packages; for Austen the last
/// paragraphs of each novel), written as paragraph-format <c>NAME.train.txt.gz</c> / <c>NAME.valid.txt.gz</c>, and described
/// in <c>manifest.json</c> (sources and outputs with sizes and SHA-256 of the text). Debian records of every package used by
/// the shipped tasks are left out of both parts, so the base model has never seen a task's test description.</summary>
public static partial class PretrainingCorpus
{
    /// <summary>The corpus names, in the order they are written.</summary>
    public static IReadOnlyList<string> Names { get; } = ["brown", "sotu", "austen", "debian"];

    /// <summary>Writes the four corpora under <paramref name="outDir"/> from <paramref name="sharedData"/>, leaving out the
    /// Debian packages named in <paramref name="tasksDir"/>'s task files; returns one line per corpus.</summary>
    public static IReadOnlyList<string> WriteAll(string sharedData, string tasksDir, string outDir, double heldOut = 0.05, ulong seed = 11)
    {
        if (!(heldOut > 0 && heldOut < 0.5)) throw new ArgumentOutOfRangeException(nameof(heldOut), "held-out fraction must be in (0, 0.5)");
        Directory.CreateDirectory(outDir);
        var corpus = Path.Combine(sharedData, "corpus");
        var debianPath = Path.Combine(sharedData, "summarization", "debian-descriptions.txt.gz");
        var sources = new[] { Path.Combine(corpus, "brown.tar.gz"), Path.Combine(corpus, "sotu.tar.gz"), Path.Combine(corpus, "janeausten.json.gz"), debianPath };
        foreach (var s in sources) if (!File.Exists(s)) throw new FileNotFoundException($"pretraining source '{s}' does not exist", s);
        var excluded = TaskPackages(tasksDir);

        var lines = new List<string>();
        var outputs = new JsonArray();
        void Emit(string name, IEnumerable<(string Key, string Text)> docs, Func<string, int, bool> isHeldOut)
        {
            var all = docs.ToList();
            var train = new List<string>(); var valid = new List<string>();
            for (int i = 0; i < all.Count; i++) (isHeldOut(all[i].Key, i) ? valid : train).Add(all[i].Text);
            foreach (var (part, list) in new[] { ("train", train), ("valid", valid) })
            {
                var file = $"{name}.{part}.txt.gz";
                var (chars, sha) = WriteParagraphs(Path.Combine(outDir, file), list);
                outputs.Add(new JsonObject { ["file"] = file, ["documents"] = list.Count, ["characters"] = chars, ["text_sha256"] = sha });
            }
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{name}: {train.Count:N0} train / {valid.Count:N0} held-out documents"));
        }
        bool ByHash(string key) => TaskSplitter.Hash(key, seed) % 10_000 < (ulong)(heldOut * 10_000);

        Emit("brown", Brown(sources[0]), (k, _) => ByHash(k));
        Emit("sotu", Sotu(sources[1]), (k, _) => ByHash(k));
        var austen = Austen(sources[2]).ToList();
        var perNovel = austen.GroupBy(d => d.Key.Split('#')[0]).ToDictionary(g => g.Key, g => g.Count());
        Emit("austen", austen, (k, _) =>
        {
            var parts = k.Split('#');
            int idx = int.Parse(parts[1], CultureInfo.InvariantCulture), n = perNovel[parts[0]];
            return idx >= n - (int)Math.Ceiling(n * heldOut);
        });
        Emit("debian", Debian(debianPath, excluded.Packages, excluded.Descriptions), (k, _) => ByHash(k));

        var manifest = new JsonObject
        {
            ["derived_by"] = "PretrainingCorpus.WriteAll (src/Distill/Data/PretrainingCorpus.cs)",
            ["held_out_fraction"] = heldOut,
            ["seed"] = seed,
            ["excluded_task_packages"] = excluded.Packages.Count,
            ["sources"] = new JsonArray(sources.Select(s => (JsonNode)new JsonObject
            {
                ["file"] = Path.GetRelativePath(sharedData, s).Replace('\\', '/'), ["bytes"] = new FileInfo(s).Length, ["sha256"] = FileSha256(s),
            }).ToArray()),
            ["outputs"] = outputs,
        };
        var tmp = Path.Combine(outDir, "manifest.json.tmp");
        File.WriteAllText(tmp, manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        File.Move(tmp, Path.Combine(outDir, "manifest.json"), overwrite: true);
        return lines;
    }

    /// <summary>A small sample of the <paramref name="part"/> ("train" or "valid") files written by <see cref="WriteAll"/> in
    /// <paramref name="corpusDir"/>: from each corpus, paragraphs (lines) in seeded-hash order until
    /// <paramref name="charsPerCorpus"/> characters, written in the paragraph format to <paramref name="outPath"/> (one
    /// corpus) or to one file for all when <paramref name="only"/> is null. Returns the characters written.</summary>
    public static long WriteSample(string corpusDir, string part, string outPath, int charsPerCorpus, string? only = null, ulong seed = 12)
    {
        var chosen = new List<string>();
        foreach (var name in only is null ? Names : [only])
        {
            var units = TextCorpus.ReadDocuments(Path.Combine(corpusDir, $"{name}.{part}.txt.gz"))
                .SelectMany(d => d.Split('\n')).Where(l => l.Trim().Length >= 20).Distinct(StringComparer.Ordinal)
                .OrderBy(l => TaskSplitter.Hash(l, seed)).ThenBy(l => l, StringComparer.Ordinal);
            long n = 0;
            foreach (var u in units)
            {
                if (n >= charsPerCorpus) break;
                chosen.Add(u);
                n += u.Length;
            }
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        return WriteParagraphs(outPath, chosen).Chars;
    }

    /// <summary>The Brown corpus: one document per file (key = file name), sentences de-tagged ("word/tag" → "word") and
    /// joined with spaces, with English spacing restored around punctuation and quotes.</summary>
    public static IEnumerable<(string Key, string Text)> Brown(string tarGz)
    {
        foreach (var (name, text) in TarTexts(tarGz))
        {
            if (!BrownFile().IsMatch(name)) continue;
            var sentences = new List<string>();
            foreach (var raw in text.Split('\n'))
            {
                var line = raw.Trim();
                if (line.Length == 0) continue;
                var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(t =>
                {
                    int slash = t.LastIndexOf('/');
                    var w = slash > 0 ? t[..slash] : t;
                    return w switch { "``" => "\"", "''" => "\"", _ => w };
                });
                sentences.Add(Detokenize(string.Join(' ', words)));
            }
            if (sentences.Count > 0) yield return (name, string.Join(' ', sentences));
        }
    }

    /// <summary>The State of the Union addresses: one document per address (key = file name), blank lines removed.</summary>
    public static IEnumerable<(string Key, string Text)> Sotu(string tarGz)
    {
        foreach (var (name, text) in TarTexts(tarGz))
        {
            if (!name.EndsWith(".txt", StringComparison.Ordinal)) continue;
            var body = string.Join('\n', text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0));
            if (body.Length > 0) yield return (name, body);
        }
    }

    /// <summary>Jane Austen's novels: one document per paragraph (lines joined with spaces), key = "novel#index".</summary>
    public static IEnumerable<(string Key, string Text)> Austen(string jsonGz)
    {
        using var s = VerifiedGzipStream.Open(jsonGz);
        using var doc = JsonDocument.Parse(s);
        foreach (var novel in doc.RootElement.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            int i = 0;
            var cur = new StringBuilder();
            foreach (var line in novel.Value.EnumerateArray().Select(l => l.GetString() ?? "").Append(""))
            {
                if (line.Trim().Length == 0)
                {
                    if (cur.Length > 0) { yield return ($"{novel.Name}#{i++}", cur.ToString()); cur.Clear(); }
                    continue;
                }
                if (cur.Length > 0) cur.Append(' ');
                cur.Append(line.Trim());
            }
        }
    }

    /// <summary>Debian descriptions: one document per package (key = package), "summary\nlong description", duplicates and
    /// the <paramref name="excludedPackages"/> (and any record with an excluded description) left out.</summary>
    public static IEnumerable<(string Key, string Text)> Debian(string path, IReadOnlySet<string> excludedPackages, IReadOnlySet<string> excludedDescriptions)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var d in SourceReaders.Debian(path))
        {
            if (excludedPackages.Contains(d.Package) || excludedDescriptions.Contains(d.Description) || !seen.Add(d.Package)) continue;
            yield return (d.Package, d.Summary + "\n" + d.Description);
        }
    }

    /// <summary>Packages (and descriptions) used by the shipped tasks under <paramref name="tasksDir"/>: every "package"
    /// field, every package named in a debian-match "negative" field, and every description.</summary>
    public static (HashSet<string> Packages, HashSet<string> Descriptions) TaskPackages(string tasksDir)
    {
        var packages = new HashSet<string>(StringComparer.Ordinal);
        var descriptions = new HashSet<string>(StringComparer.Ordinal);
        if (!Directory.Exists(tasksDir)) throw new DirectoryNotFoundException($"tasks folder '{tasksDir}' does not exist");
        foreach (var file in Directory.EnumerateFiles(tasksDir, "*.jsonl.gz", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            using var r = new StreamReader(VerifiedGzipStream.Open(file), Encoding.UTF8);
            string? line;
            while ((line = r.ReadLine()) is not null)
            {
                if (line.Length == 0) continue;
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                if (root.TryGetProperty("package", out var p) && p.GetString() is { } pkg) packages.Add(pkg);
                if (root.TryGetProperty("negative", out var n) && n.GetString() is { } neg && neg.IndexOf(':') is var c and > 0) packages.Add(neg[(c + 1)..]);
                if (root.TryGetProperty("package", out _))
                {
                    if (root.TryGetProperty("document", out var d) && d.GetString() is { } dd) descriptions.Add(dd);
                    if (root.TryGetProperty("text", out var t) && t.GetString() is { } tt) descriptions.Add(tt);
                }
            }
        }
        return (packages, descriptions);
    }

    private static IEnumerable<(string Name, string Text)> TarTexts(string tarGz)
    {
        using var s = VerifiedGzipStream.Open(tarGz);
        using var tar = new TarReader(s);
        var entries = new List<(string, string)>();
        TarEntry? e;
        while ((e = tar.GetNextEntry()) is not null)
        {
            if (e.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || e.DataStream is null) continue;
            using var r = new StreamReader(e.DataStream, Encoding.UTF8);
            entries.Add((Path.GetFileName(e.Name), r.ReadToEnd().Replace("\r\n", "\n")));
        }
        return entries.OrderBy(x => x.Item1, StringComparer.Ordinal);
    }

    private static string Detokenize(string s)
    {
        s = SpaceBeforePunct().Replace(s, "$1");
        s = SpaceAfterOpen().Replace(s, "$1");
        s = s.Replace(" n't", "n't", StringComparison.Ordinal);
        return QuotedSpan().Replace(s, m => "\"" + m.Groups[1].Value.Trim() + "\"");
    }

    /// <summary>Writes documents in the paragraph format <see cref="TextCorpus"/> reads (a blank line between documents;
    /// blank lines inside a document dropped), gzip, through a temporary file; returns the characters and the SHA-256 of
    /// the UTF-8 text (the gzip bytes may differ between .NET versions, the text may not).</summary>
    private static (long Chars, string Sha256) WriteParagraphs(string path, IReadOnlyList<string> docs)
    {
        var sb = new StringBuilder();
        foreach (var d in docs)
        {
            var body = string.Join('\n', d.Split('\n').Where(l => l.Trim().Length > 0));
            if (body.Length == 0) continue;
            sb.Append(body).Append("\n\n");
        }
        var bytes = Encoding.UTF8.GetBytes(sb.ToString());
        var tmp = path + ".tmp";
        using (var fs = File.Create(tmp))
        using (var gz = new GZipStream(fs, CompressionLevel.SmallestSize))
            gz.Write(bytes);
        File.Move(tmp, path, overwrite: true);
        return (sb.Length, Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    private static string FileSha256(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    [GeneratedRegex(@"^c[a-r]\d\d$")]
    private static partial Regex BrownFile();
    [GeneratedRegex(@" ([.,;:!?%)\]}]|'s\b|'re\b|'ll\b|'ve\b|'d\b|'m\b)")]
    private static partial Regex SpaceBeforePunct();
    [GeneratedRegex(@"([(\[{$]) ")]
    private static partial Regex SpaceAfterOpen();
    [GeneratedRegex("\"([^\"]*)\"")]
    private static partial Regex QuotedSpan();
}
