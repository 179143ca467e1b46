using System.Buffers.Binary;
using System.IO.Compression;

namespace BitDistill.Distill.Data;

/// <summary>A gzip file decompressed with a check at the end: .NET's GZipStream returns end-of-stream when a truncated file
/// runs out, so a cut-off corpus would be read as if complete. At the end the decompressed length must match the size in the
/// gzip trailer (ISIZE, modulo 2³²), else an <see cref="InvalidDataException"/> names the file.</summary>
public sealed class VerifiedGzipStream : Stream
{
    private readonly GZipStream _inner;
    private readonly string _path;
    private readonly uint _expected;
    private long _read;
    private bool _checked;

    private VerifiedGzipStream(string path, FileStream file, uint expected)
    {
        _path = path; _expected = expected;
        _inner = new GZipStream(file, CompressionMode.Decompress);
    }

    /// <summary>Opens <paramref name="path"/> for decompression; a file too short to be gzip is an error naming it.</summary>
    public static VerifiedGzipStream Open(string path)
    {
        var file = File.OpenRead(path);
        try
        {
            if (file.Length < 18) throw new InvalidDataException($"{path}: {file.Length} bytes is too short for a gzip file");
            Span<byte> tail = stackalloc byte[4];
            file.Seek(-4, SeekOrigin.End);
            file.ReadExactly(tail);
            file.Seek(0, SeekOrigin.Begin);
            return new VerifiedGzipStream(path, file, BinaryPrimitives.ReadUInt32LittleEndian(tail));
        }
        catch { file.Dispose(); throw; }
    }

    /// <inheritdoc/>
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <inheritdoc/>
    public override int Read(Span<byte> buffer)
    {
        int n;
        try { n = _inner.Read(buffer); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{_path}: corrupt gzip data ({e.Message})", e); }
        _read += n;
        if (n == 0 && buffer.Length > 0 && !_checked)
        {
            _checked = true;
            if ((uint)_read != _expected)
                throw new InvalidDataException($"{_path}: the compressed file ends early (decompressed {_read:N0} bytes, its gzip trailer says {_expected:N0} mod 2^32): it is truncated or damaged");
        }
        return n;
    }

    /// <inheritdoc/>
    public override bool CanRead => true;
    /// <inheritdoc/>
    public override bool CanSeek => false;
    /// <inheritdoc/>
    public override bool CanWrite => false;
    /// <inheritdoc/>
    public override long Length => throw new NotSupportedException();
    /// <inheritdoc/>
    public override long Position { get => _read; set => throw new NotSupportedException(); }
    /// <inheritdoc/>
    public override void Flush() { }
    /// <inheritdoc/>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    /// <inheritdoc/>
    public override void SetLength(long value) => throw new NotSupportedException();
    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) _inner.Dispose();
        base.Dispose(disposing);
    }
}
