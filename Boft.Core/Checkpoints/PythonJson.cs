// Writes JSON exactly as Python's json.dumps(obj, indent=2, sort_keys=True) does, which is how PEFT writes
// adapter_config.json (huggingface/peft src/peft/config.py, PeftConfigMixin.save_pretrained:
// `writer.write(json.dumps(output_dict, indent=2, sort_keys=True))`, no trailing newline).
// Python specifics reproduced: item separator "," + newline, key separator ": ", empty containers as [] and {},
// ensure_ascii (non-ASCII as \uxxxx, lowercase hex, surrogate pairs), floats by float.__repr__ (shortest
// round-trip digits; exponent form when the decimal exponent is < -4 or >= 16, e.g. 6e-05, 1e+16; ".0" appended to
// integral values), NaN/Infinity/-Infinity literals, keys sorted by code point.

using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Boft.Checkpoints;

internal static class PythonJson
{
    public static string Dumps(JsonNode? node)
    {
        var output = new StringBuilder();
        Write(output, node, 0);
        return output.ToString();
    }

    private static void Write(StringBuilder output, JsonNode? node, int depth)
    {
        switch (node)
        {
            case null:
                output.Append("null");
                break;
            case JsonObject obj:
                if (obj.Count == 0)
                {
                    output.Append("{}");
                    break;
                }
                output.Append('{');
                bool firstProperty = true;
                foreach (var pair in obj.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    output.Append(firstProperty ? "\n" : ",\n");
                    firstProperty = false;
                    Indent(output, depth + 1);
                    AppendString(output, pair.Key);
                    output.Append(": ");
                    Write(output, pair.Value, depth + 1);
                }
                output.Append('\n');
                Indent(output, depth);
                output.Append('}');
                break;
            case JsonArray array:
                if (array.Count == 0)
                {
                    output.Append("[]");
                    break;
                }
                output.Append('[');
                for (int i = 0; i < array.Count; i++)
                {
                    output.Append(i == 0 ? "\n" : ",\n");
                    Indent(output, depth + 1);
                    Write(output, array[i], depth + 1);
                }
                output.Append('\n');
                Indent(output, depth);
                output.Append(']');
                break;
            case JsonValue value:
                WriteValue(output, value);
                break;
            default:
                throw new ArgumentException($"Unsupported JSON node {node.GetType().Name}.", nameof(node));
        }
    }

    private static void WriteValue(StringBuilder output, JsonValue value)
    {
        if (value.TryGetValue(out string? text))
        {
            AppendString(output, text);
            return;
        }
        if (value.TryGetValue(out bool flag))
        {
            output.Append(flag ? "true" : "false");
            return;
        }
        if (value.TryGetValue(out int small))
        {
            output.Append(small.ToString(CultureInfo.InvariantCulture));
            return;
        }
        if (value.TryGetValue(out long integer))
        {
            output.Append(integer.ToString(CultureInfo.InvariantCulture));
            return;
        }
        if (value.TryGetValue(out double real))
        {
            output.Append(FloatRepr(real));
            return;
        }
        if (value.TryGetValue(out JsonElement element))
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.String: AppendString(output, element.GetString()!); return;
                case JsonValueKind.True: output.Append("true"); return;
                case JsonValueKind.False: output.Append("false"); return;
                case JsonValueKind.Null: output.Append("null"); return;
                case JsonValueKind.Number:
                    string raw = element.GetRawText();
                    // Python parses a literal without '.', 'e' or 'E' as int (arbitrary precision), else as float.
                    output.Append(raw.IndexOfAny(['.', 'e', 'E']) < 0 ? raw : FloatRepr(element.GetDouble()));
                    return;
                default:
                    Write(output, JsonNode.Parse(element.GetRawText()), 0);
                    return;
            }
        }
        throw new ArgumentException($"Unsupported JSON value {value}.", nameof(value));
    }

    /// <summary>Python's <c>float.__repr__</c> (and json.dumps's NaN/Infinity spellings).</summary>
    public static string FloatRepr(double value)
    {
        if (double.IsNaN(value))
            return "NaN";
        if (double.IsPositiveInfinity(value))
            return "Infinity";
        if (double.IsNegativeInfinity(value))
            return "-Infinity";
        if (value == 0)
            return double.IsNegative(value) ? "-0.0" : "0.0";

        // .NET's "R" is the shortest round-trip string, the same digits as Python's repr; only the layout differs.
        string roundTrip = Math.Abs(value).ToString("R", CultureInfo.InvariantCulture);
        (string digits, int pointPosition) = Decompose(roundTrip);
        var result = new StringBuilder();
        if (value < 0)
            result.Append('-');
        // Python (format_float_short): value = 0.DIGITS × 10^pointPosition; exponent form when pointPosition <= -4 or > 16.
        if (pointPosition <= -4 || pointPosition > 16)
        {
            result.Append(digits[0]);
            if (digits.Length > 1)
                result.Append('.').Append(digits, 1, digits.Length - 1);
            int exponent = pointPosition - 1;
            result.Append('e').Append(exponent < 0 ? '-' : '+').Append(Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture));
        }
        else if (pointPosition <= 0)
        {
            result.Append("0.").Append('0', -pointPosition).Append(digits);
        }
        else if (pointPosition < digits.Length)
        {
            result.Append(digits, 0, pointPosition).Append('.').Append(digits, pointPosition, digits.Length - pointPosition);
        }
        else
        {
            result.Append(digits).Append('0', pointPosition - digits.Length).Append(".0");
        }
        return result.ToString();
    }

    /// <summary>Splits a .NET number string ("123.45", "1E-05", "1.5E+20") into significant digits and the point position.</summary>
    private static (string Digits, int PointPosition) Decompose(string text)
    {
        int exponent = 0;
        int e = text.IndexOfAny(['E', 'e']);
        string mantissa = text;
        if (e >= 0)
        {
            exponent = int.Parse(text.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            mantissa = text[..e];
        }
        int dot = mantissa.IndexOf('.', StringComparison.Ordinal);
        string integerPart = dot < 0 ? mantissa : mantissa[..dot];
        string fraction = dot < 0 ? string.Empty : mantissa[(dot + 1)..];
        string all = integerPart + fraction;
        int point = integerPart.Length + exponent;
        int leading = 0;
        while (leading < all.Length - 1 && all[leading] == '0')
            leading++;
        all = all[leading..];
        point -= leading;
        all = all.TrimEnd('0');
        return (all.Length == 0 ? "0" : all, point);
    }

    /// <summary>json.dumps string escaping with ensure_ascii=True.</summary>
    private static void AppendString(StringBuilder output, string value)
    {
        output.Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '"': output.Append("\\\""); break;
                case '\\': output.Append("\\\\"); break;
                case '\n': output.Append("\\n"); break;
                case '\r': output.Append("\\r"); break;
                case '\t': output.Append("\\t"); break;
                case '\b': output.Append("\\b"); break;
                case '\f': output.Append("\\f"); break;
                default:
                    if (c < 0x20 || c > 0x7E)
                        output.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        output.Append(c);
                    break;
            }
        }
        output.Append('"');
    }

    private static void Indent(StringBuilder output, int depth) => output.Append(' ', depth * 2);
}
