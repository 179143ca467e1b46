namespace BitDistill.Models.Tokenization;

/// <summary>GPT-2's reversible byte → printable-character map used by byte-level BPE vocabularies.</summary>
public static class ByteLevel
{
    /// <summary>The character that stands for each byte value.</summary>
    public static IReadOnlyList<char> ByteToChar => Forward;

    static readonly char[] Forward = BuildForward();
    static readonly short[] Backward = BuildBackward();

    static char[] BuildForward()
    {
        var map = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)(256 + n++);
        }
        return map;
    }

    static short[] BuildBackward()
    {
        var back = new short[512];
        Array.Fill(back, (short)-1);
        for (int b = 0; b < 256; b++) back[Forward[b]] = (short)b;
        return back;
    }

    /// <summary>The byte a character stands for, or -1 when it is not one of the 256 byte characters.</summary>
    public static int CharToByte(char c) => c < Backward.Length ? Backward[c] : -1;

    /// <summary>Maps UTF-8 bytes to their byte-level string (as stored in vocab.json / merges).</summary>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        return string.Create(bytes.Length, bytes.ToArray(), static (span, arr) =>
        {
            for (int i = 0; i < arr.Length; i++) span[i] = Forward[arr[i]];
        });
    }

    /// <summary>Appends the bytes a token string stands for; tokens with characters outside the map contribute their UTF-8 bytes (as Hugging Face's ByteLevel decoder does).</summary>
    public static void AppendBytes(string token, List<byte> output)
    {
        int start = output.Count;
        foreach (char c in token)
        {
            int b = CharToByte(c);
            if (b < 0)
            {
                output.RemoveRange(start, output.Count - start);
                output.AddRange(System.Text.Encoding.UTF8.GetBytes(token));
                return;
            }
            output.Add((byte)b);
        }
    }
}
