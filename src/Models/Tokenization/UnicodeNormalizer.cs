using System.Text;

namespace BitDistill.Models.Tokenization;

/// <summary>Unicode NFC/NFD/NFKC/NFKD from embedded tables (string.Normalize is a no-op for non-ASCII under InvariantGlobalization).</summary>
public static class UnicodeNormalizer
{
    const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    sealed class Tables
    {
        public readonly Dictionary<int, int[]> Canonical = new();
        public readonly Dictionary<int, int[]> Compat = new();
        public readonly Dictionary<int, byte> Ccc = new();
        public readonly Dictionary<long, int> Compose = new();
        public string Version = "";
    }

    static readonly Lazy<Tables> Data = new(LoadTables);

    /// <summary>The Unicode version of the embedded tables.</summary>
    public static string UnicodeVersion => Data.Value.Version;

    static Tables LoadTables()
    {
        var t = new Tables();
        var asm = typeof(UnicodeNormalizer).Assembly;
        using var stream = asm.GetManifestResourceStream("BitDistill.Models.Tokenization.unicode-normalization.txt")
            ?? throw new InvalidOperationException("embedded resource unicode-normalization.txt is missing from BitDistill.Models");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        string? line;
        while ((line = reader.ReadLine()) != null)
        {
            if (line.Length == 0) continue;
            if (line[0] == '#')
            {
                var parts0 = line.Split(' ');
                if (parts0.Length > 2) t.Version = parts0[2];
                continue;
            }
            var p = line.Split(' ');
            int cp = Convert.ToInt32(p[1], 16);
            switch (p[0])
            {
                case "D": t.Canonical[cp] = p.Skip(2).Select(x => Convert.ToInt32(x, 16)).ToArray(); break;
                case "K": t.Compat[cp] = p.Skip(2).Select(x => Convert.ToInt32(x, 16)).ToArray(); break;
                case "C": t.Ccc[cp] = byte.Parse(p[2]); break;
                case "P": t.Compose[Key(cp, Convert.ToInt32(p[2], 16))] = Convert.ToInt32(p[3], 16); break;
            }
        }
        return t;
    }

    static long Key(int a, int b) => ((long)a << 21) | (uint)b;

    /// <summary>Normalizes <paramref name="s"/> to the given form.</summary>
    public static string Normalize(string s, NormalizationKind form)
    {
        // Code points below these bounds are stable under the form and never combine with what precedes them.
        char bound = form switch { NormalizationKind.Nfc => '\u0300', NormalizationKind.Nfd => '\u00C0', _ => '\u00A0' };
        int i = 0;
        while (i < s.Length && s[i] < bound) i++;
        if (i == s.Length) return s;

        var t = Data.Value;
        bool compat = form is NormalizationKind.Nfkc or NormalizationKind.Nfkd;
        var d = new List<int>(s.Length + 8);
        for (int k = 0; k < s.Length; k++)
        {
            int cp = s[k];
            if (char.IsHighSurrogate(s[k]) && k + 1 < s.Length && char.IsLowSurrogate(s[k + 1]))
            {
                cp = char.ConvertToUtf32(s[k], s[k + 1]);
                k++;
            }
            Decompose(t, cp, compat, d);
        }
        // Canonical ordering: stable sort of each run of non-starters by combining class.
        for (int k = 1; k < d.Count; k++)
        {
            int c = Ccc(t, d[k]);
            if (c == 0) continue;
            int j = k;
            while (j > 0 && Ccc(t, d[j - 1]) > c)
            {
                (d[j - 1], d[j]) = (d[j], d[j - 1]);
                j--;
            }
        }
        if (form is NormalizationKind.Nfc or NormalizationKind.Nfkc) ComposeInPlace(t, d);
        var sb = new StringBuilder(d.Count + 4);
        foreach (int cp in d)
        {
            if (cp < 0x10000) sb.Append((char)cp);
            else sb.Append(char.ConvertFromUtf32(cp));
        }
        return sb.ToString();
    }

    static int Ccc(Tables t, int cp) => cp < 0x300 ? 0 : t.Ccc.TryGetValue(cp, out var c) ? c : 0;

    static void Decompose(Tables t, int cp, bool compat, List<int> output)
    {
        if (cp >= SBase && cp < SBase + SCount)
        {
            int sIndex = cp - SBase;
            output.Add(LBase + sIndex / NCount);
            output.Add(VBase + sIndex % NCount / TCount);
            int tIndex = sIndex % TCount;
            if (tIndex != 0) output.Add(TBase + tIndex);
            return;
        }
        if (cp >= 0xC0 || (compat && cp >= 0xA0))
        {
            if (t.Canonical.TryGetValue(cp, out var dec) || (compat && t.Compat.TryGetValue(cp, out dec)))
            {
                foreach (int x in dec) Decompose(t, x, compat, output);
                return;
            }
        }
        output.Add(cp);
    }

    static int ComposePair(Tables t, int a, int b)
    {
        if (a >= LBase && a < LBase + LCount && b >= VBase && b < VBase + VCount)
            return SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
        if (a >= SBase && a < SBase + SCount && (a - SBase) % TCount == 0 && b > TBase && b < TBase + TCount)
            return a + (b - TBase);
        return t.Compose.TryGetValue(Key(a, b), out var c) ? c : -1;
    }

    static void ComposeInPlace(Tables t, List<int> d)
    {
        if (d.Count == 0) return;
        int starterIndex = 0;
        int starter = d[0];
        int lastClass = Ccc(t, starter);
        if (lastClass != 0) lastClass = 256; // a leading non-starter blocks composition
        int write = 1;
        for (int k = 1; k < d.Count; k++)
        {
            int ch = d[k];
            int chClass = Ccc(t, ch);
            int composite = ComposePair(t, starter, ch);
            if (composite >= 0 && (lastClass < chClass || lastClass == 0))
            {
                d[starterIndex] = composite;
                starter = composite;
                continue;
            }
            if (chClass == 0)
            {
                starterIndex = write;
                starter = ch;
            }
            lastClass = chClass;
            d[write++] = ch;
        }
        d.RemoveRange(write, d.Count - write);
    }
}
