using BitDistill.Autograd;
using BitDistill.Tensors;

namespace BitDistill.Models.Classification;

/// <summary>Picks each row's last real token, as Hugging Face's *ForSequenceClassification pools: the last position whose
/// attention mask is 1 (with right padding the last 1; with left padding the last position); without a mask, the last position.</summary>
public static class LastTokenPooling
{
    /// <summary>The pooled position of each of <paramref name="batch"/> rows of length <paramref name="time"/>; a row without
    /// any real token is an error naming it.</summary>
    public static int[] Positions(int batch, int time, Tensor? attentionMask)
    {
        var pos = new int[batch];
        if (attentionMask is null) { Array.Fill(pos, time - 1); return pos; }
        if (attentionMask.Rank != 2 || attentionMask.Shape[0] != batch || attentionMask.Shape[1] != time)
            throw new ArgumentException($"attention mask must be [{batch}, {time}], got {Tensor.ShapeString(attentionMask.Shape)}");
        var m = attentionMask.To(DType.Float32).Contiguous().ToArray<float>();
        for (int r = 0; r < batch; r++)
        {
            int last = -1;
            for (int j = 0; j < time; j++) if (m[r * time + j] != 0) last = j;
            pos[r] = last >= 0 ? last : throw new ArgumentException($"row {r} of the attention mask has no real token (all zeros)");
        }
        return pos;
    }

    /// <summary>hidden [B, T, H] → [B, H] at <see cref="Positions"/> (differentiable).</summary>
    public static Variable Pool(Variable hidden, Tensor? attentionMask)
    {
        if (hidden.Rank != 3) throw new ArgumentException($"hidden states must be [batch, time, hidden], got {Tensor.ShapeString(hidden.Shape)}");
        int b = hidden.Size(0), t = hidden.Size(1), h = hidden.Size(2);
        var pos = Positions(b, t, attentionMask);
        var flat = new long[b];
        for (int r = 0; r < b; r++) flat[r] = (long)r * t + pos[r];
        return hidden.Reshape(b * t, h).IndexSelect(0, Tensor.FromArray(flat, [b], hidden.Value.Device));
    }

    /// <summary>Class labels as an Int64 tensor [B], each checked against <paramref name="numLabels"/>.</summary>
    internal static Tensor Targets(IReadOnlyList<long> labels, int numLabels, Device device)
    {
        for (int i = 0; i < labels.Count; i++)
            if ((ulong)labels[i] >= (ulong)numLabels) throw new ArgumentOutOfRangeException(nameof(labels), labels[i], $"label {labels[i]} of row {i} is outside [0, {numLabels})");
        return Tensor.FromArray(labels.ToArray(), [labels.Count], device);
    }

    /// <summary>Row-wise argmax of scores [B, C].</summary>
    internal static int[] ArgMaxRows(Tensor scores)
    {
        int b = scores.Size(0), c = scores.Size(1);
        var s = scores.Contiguous().ToFloatArray();
        var r = new int[b];
        for (int i = 0; i < b; i++)
        {
            var row = s.AsSpan(i * c, c);
            // NaN/Inf scores would still yield an argmax (a meaningless class): stop instead, as generation does
            foreach (var v in row)
                if (!float.IsFinite(v)) throw new InvalidDataException($"the model's class scores are not finite (row {i}: {v}); its weights may be damaged");
            r[i] = Generation.Sampler.ArgMax(row);
        }
        return r;
    }
}
