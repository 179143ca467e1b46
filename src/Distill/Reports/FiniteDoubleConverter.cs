using System.Text.Json;
using System.Text.Json.Serialization;

namespace BitDistill.Distill.Reports;

/// <summary>Writes a double that is NaN or infinite as JSON null (and reads null back as NaN), so serialized reports never
/// hold the strings "NaN" or "Infinity" nor fail to serialize.</summary>
public sealed class FiniteDoubleConverter : JsonConverter<double>
{
    /// <inheritdoc/>
    public override bool HandleNull => true;

    /// <inheritdoc/>
    public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Null ? double.NaN : reader.GetDouble();

    /// <inheritdoc/>
    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
    {
        if (double.IsFinite(value)) writer.WriteNumberValue(value);
        else writer.WriteNullValue();
    }
}
