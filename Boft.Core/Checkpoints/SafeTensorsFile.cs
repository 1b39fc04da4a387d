// Reading and writing safetensors files, byte-compatible with the reference implementation.
//
// Format (huggingface/safetensors README.md, "Format"; safetensors/src/tensor.rs, snapshot 24b0b28):
//   8 bytes   N, unsigned little-endian 64-bit header length
//   N bytes   UTF-8 JSON: {"__metadata__": {str: str}, NAME: {"dtype": "F32", "shape": [..], "data_offsets": [BEGIN, END]}, ...}
//             starting with '{', padded at the end with spaces (0x20) so that N is a multiple of 8 (tensor.rs `prepare`)
//   rest      the byte buffer; offsets are relative to its start, END is one past the last byte.
//
// Reader checks (tensor.rs `read_metadata` and `Metadata::validate`, which this mirrors; messages are ours):
//   file shorter than 8 bytes (HeaderTooSmall); N > 100,000,000 (HeaderTooLarge); 8 + N beyond the file
//   (InvalidHeaderLength); header not UTF-8 (InvalidHeader); header not JSON or not of the schema
//   (InvalidHeaderDeserialization: unknown dtype, negative or non-integer sizes, data_offsets not a pair, __metadata__
//   values that are not strings); tensors sorted by data_offsets must tile the buffer: each BEGIN equals the previous END
//   and END >= BEGIN (InvalidOffset: an overlap or a hole); END - BEGIN equals the element count times the element size
//   (TensorInvalidInfo; sub-byte totals are MisalignedSlice, size overflow ValidationOverflow); and the last END must be
//   the end of the file (MetadataIncompleteBuffer: "The byte buffer needs to be entirely indexed, and cannot contain
//   holes", README). Stricter than the reference: duplicate tensor names are rejected (README: "Duplicate keys are
//   disallowed. Not all parsers may respect this."; serde_json silently keeps the last one) and the header must begin
//   with '{' (README "MUST"; serde_json would skip leading whitespace). Like the reference, unknown fields inside a
//   tensor entry are ignored.
//
// Writer layout (tensor.rs `prepare`): tensors sorted by dtype descending in the Dtype enum's alignment order, then by
// name (byte-wise); offsets assigned in that order without gaps; header serialized compactly by serde_json with
// "__metadata__" first and each entry's fields in the order dtype, shape, data_offsets; padded with spaces to a
// multiple of 8. serde_json escapes only '"', '\\' and control characters (\b \t \n \f \r, else \u00xx), never
// non-ASCII. The __metadata__ map is a Rust HashMap (unspecified order); we write its keys sorted (ordinal), which
// matches the reference whenever it has one entry, as PEFT's {"format": "pt"} does.

using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Boft.Checkpoints;

/// <summary>The tensors and metadata of one safetensors file, in the file's data order.</summary>
public sealed class SafeTensorsContent
{
    private readonly Dictionary<string, SafeTensor> byName;

    /// <summary>Creates the content from tensors (names must be unique) and optional metadata.</summary>
    /// <param name="tensors">The tensors.</param>
    /// <param name="metadata">The <c>__metadata__</c> map, or null when the file has none.</param>
    /// <exception cref="ArgumentException">Two tensors have the same name.</exception>
    public SafeTensorsContent(IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        byName = new Dictionary<string, SafeTensor>(tensors.Count, StringComparer.Ordinal);
        foreach (SafeTensor tensor in tensors)
            if (!byName.TryAdd(tensor.Name, tensor))
                throw new ArgumentException($"Two tensors are named '{tensor.Name}'.", nameof(tensors));
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The tensors, in the order of their data in the file.</summary>
    public IReadOnlyList<SafeTensor> Tensors { get; }

    /// <summary>The <c>__metadata__</c> string map, or null when the header has none.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; }

    /// <summary>The tensor named <paramref name="name"/>.</summary>
    /// <param name="name">The tensor name.</param>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public SafeTensor this[string name] =>
        byName.TryGetValue(name, out SafeTensor? tensor) ? tensor : throw new KeyNotFoundException($"No tensor is named '{name}'.");

    /// <summary>Looks a tensor up by name.</summary>
    /// <param name="name">The tensor name.</param>
    /// <param name="tensor">The tensor, when found.</param>
    /// <returns>Whether the tensor exists.</returns>
    public bool TryGetTensor(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out SafeTensor? tensor) =>
        byName.TryGetValue(name, out tensor);
}

/// <summary>
/// Reads and writes the safetensors format (huggingface/safetensors): strict validation on read, the reference
/// implementation's exact byte layout on write, and atomic replacement of the destination file.
/// </summary>
public static class SafeTensorsFile
{
    /// <summary>The reserved header key of the string-to-string metadata map.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>The largest header the reference implementation accepts (<c>MAX_HEADER_SIZE</c>), in bytes.</summary>
    public const long MaxHeaderLength = 100_000_000;

    /// <summary>Reads and validates a safetensors file.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The tensors (in data order) and metadata.</returns>
    /// <exception cref="InvalidDataException">The file is not a valid safetensors file; the message names the file and the problem.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static SafeTensorsContent Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] bytes = File.ReadAllBytes(path);
        return Parse(bytes, path);
    }

    /// <summary>Parses and validates the bytes of a safetensors file.</summary>
    /// <param name="bytes">The whole file; the returned tensors refer to this memory, which must not change afterwards.</param>
    /// <param name="sourceName">A name for messages, e.g. the file path.</param>
    /// <returns>The tensors (in data order) and metadata.</returns>
    /// <exception cref="InvalidDataException">The bytes are not a valid safetensors file; the message names the source and the problem.</exception>
    public static SafeTensorsContent Parse(ReadOnlyMemory<byte> bytes, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(sourceName);
        ReadOnlySpan<byte> span = bytes.Span;
        if (span.Length < 8)
            throw Invalid(sourceName, $"the file is truncated: it has {span.Length} bytes, fewer than the 8-byte header length prefix");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(span);
        if (headerLength > MaxHeaderLength)
            throw Invalid(sourceName, $"the header length {headerLength} exceeds the reference implementation's limit of {MaxHeaderLength} bytes");
        if (8 + (long)headerLength > span.Length)
            throw Invalid(sourceName, $"the header length {headerLength} is larger than the file: only {span.Length - 8} bytes follow the length prefix (the file is truncated or not a safetensors file)");
        int n = (int)headerLength;
        ReadOnlySpan<byte> header = span.Slice(8, n);
        try
        {
            _ = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetCharCount(header);
        }
        catch (DecoderFallbackException exception)
        {
            throw Invalid(sourceName, $"the header is not valid UTF-8 ({exception.Message})");
        }
        if (n == 0 || header[0] != (byte)'{')
            throw Invalid(sourceName, "the header does not begin with '{' (0x7B)");

        var entries = new List<(string Name, SafeTensorsElementType Type, long[] Shape, long Begin, long End)>();
        Dictionary<string, string>? metadata = null;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes.Slice(8, n));
        }
        catch (JsonException exception)
        {
            throw Invalid(sourceName, $"the header is not valid JSON: {exception.Message}");
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Invalid(sourceName, $"the header is a JSON {root.ValueKind}, not an object");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in root.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw Invalid(sourceName, property.Name == MetadataKey
                        ? $"the header has '{MetadataKey}' twice"
                        : $"the header names tensor '{property.Name}' twice (duplicate names are not allowed)");
                if (property.Name == MetadataKey)
                    metadata = ParseMetadata(property.Value, sourceName);
                else
                    entries.Add(ParseEntry(property.Name, property.Value, sourceName));
            }
        }

        // Metadata::validate: sorted by (BEGIN, END), the offsets must tile [0, buffer end) exactly.
        var ordered = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long position = 0;
        foreach (var entry in ordered)
        {
            if (entry.End < entry.Begin)
                throw Invalid(sourceName, $"tensor '{entry.Name}' has data_offsets [{entry.Begin}, {entry.End}] with END before BEGIN");
            if (entry.Begin < position)
                throw Invalid(sourceName, $"tensor '{entry.Name}' has data_offsets [{entry.Begin}, {entry.End}], which overlap the previous tensor's data ending at {position}");
            if (entry.Begin > position)
                throw Invalid(sourceName, $"the byte buffer has a hole: bytes [{position}, {entry.Begin}) before tensor '{entry.Name}' belong to no tensor");
            long? size = SafeTensor.TryComputeByteLength(entry.Type, entry.Shape);
            string typeName = SafeTensorsElementTypes.GetName(entry.Type);
            if (size is null)
                throw Invalid(sourceName, $"tensor '{entry.Name}' of type {typeName} and shape {SafeTensor.FormatShape(entry.Shape)} overflows or is not a whole number of bytes");
            if (entry.End - entry.Begin != size)
                throw Invalid(sourceName, $"tensor '{entry.Name}' of type {typeName} and shape {SafeTensor.FormatShape(entry.Shape)} needs {size} bytes, but its data_offsets [{entry.Begin}, {entry.End}] span {entry.End - entry.Begin} bytes");
            position = entry.End;
        }
        long available = span.Length - 8L - n;
        if (position > available)
            throw Invalid(sourceName, $"the file is truncated: the tensors need {position} data bytes, but only {available} bytes follow the header");
        if (position < available)
            throw Invalid(sourceName, $"the byte buffer has a hole: its last {available - position} bytes (after offset {position}) belong to no tensor");

        int dataStart = 8 + n;
        var tensors = new List<SafeTensor>(ordered.Count);
        foreach (var entry in ordered)
            tensors.Add(new SafeTensor(entry.Name, entry.Type, entry.Shape, bytes.Slice(dataStart + (int)entry.Begin, (int)(entry.End - entry.Begin))));
        return new SafeTensorsContent(tensors, metadata);
    }

    /// <summary>Serializes tensors to the reference implementation's byte layout.</summary>
    /// <param name="tensors">The tensors; names must be unique. Deferred tensors are materialized.</param>
    /// <param name="metadata">The <c>__metadata__</c> map (PEFT writes <c>{"format": "pt"}</c>), or null for none.</param>
    /// <returns>The file bytes.</returns>
    /// <exception cref="ArgumentException">Two tensors share a name.</exception>
    /// <exception cref="InvalidDataException">A deferred tensor's callback wrote the wrong number of bytes.</exception>
    public static byte[] Serialize(IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        using var stream = new MemoryStream();
        WriteTo(tensors, metadata, stream);
        return stream.ToArray();
    }

    /// <summary>
    /// Writes a safetensors file atomically: a temporary file in the same folder is written and flushed to disk, then
    /// moved over <paramref name="path"/>. On any failure (including a deferred tensor whose callback throws or writes the
    /// wrong number of bytes) an existing file at <paramref name="path"/> is left untouched and no temporary file remains.
    /// </summary>
    /// <param name="tensors">The tensors; names must be unique.</param>
    /// <param name="metadata">The <c>__metadata__</c> map, or null for none.</param>
    /// <param name="path">The destination file.</param>
    /// <exception cref="ArgumentException">Two tensors share a name.</exception>
    /// <exception cref="InvalidDataException">A deferred tensor's callback wrote the wrong number of bytes.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void Write(IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata, string path)
    {
        List<SafeTensor> ordered = Order(tensors);
        AtomicFile.Write(path, stream => WriteOrdered(ordered, metadata, stream));
    }

    /// <summary>Writes the file layout to a stream (not atomic; see <see cref="Write"/> for files).</summary>
    /// <param name="tensors">The tensors; names must be unique.</param>
    /// <param name="metadata">The <c>__metadata__</c> map, or null for none.</param>
    /// <param name="destination">The stream to write to.</param>
    /// <exception cref="ArgumentException">Two tensors share a name.</exception>
    /// <exception cref="InvalidDataException">A deferred tensor's callback wrote the wrong number of bytes.</exception>
    public static void WriteTo(IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata, Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        WriteOrdered(Order(tensors), metadata, destination);
    }

    /// <summary>The header JSON (unpadded) the writer produces for these tensors, in the reference implementation's format.</summary>
    /// <param name="tensors">The tensors; names must be unique.</param>
    /// <param name="metadata">The <c>__metadata__</c> map, or null for none.</param>
    /// <returns>The compact JSON text.</returns>
    /// <exception cref="ArgumentException">Two tensors share a name.</exception>
    public static string CreateHeader(IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata) =>
        HeaderJson(Order(tensors), metadata);

    internal static List<SafeTensor> Order(IEnumerable<SafeTensor> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (SafeTensor tensor in list)
        {
            ArgumentNullException.ThrowIfNull(tensor, nameof(tensors));
            if (!names.Add(tensor.Name))
                throw new ArgumentException($"Two tensors are named '{tensor.Name}'; safetensors names must be unique.", nameof(tensors));
        }
        // tensor.rs `prepare`: descending dtype (alignment order), then ascending name (Rust String Ord: byte-wise UTF-8).
        list.Sort((left, right) =>
        {
            int byType = ((int)right.ElementType).CompareTo((int)left.ElementType);
            return byType != 0 ? byType : CompareUtf8(left.Name, right.Name);
        });
        return list;
    }

    private static void WriteOrdered(List<SafeTensor> ordered, IReadOnlyDictionary<string, string>? metadata, Stream destination)
    {
        byte[] header = Encoding.UTF8.GetBytes(HeaderJson(ordered, metadata));
        int padded = (header.Length + 7) / 8 * 8;
        if (padded > MaxHeaderLength)
            throw new ArgumentException($"The header would be {padded} bytes, more than the reference implementation's limit of {MaxHeaderLength}.", nameof(ordered));
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)padded);
        destination.Write(prefix);
        destination.Write(header);
        for (int i = header.Length; i < padded; i++)
            destination.WriteByte((byte)' ');
        foreach (SafeTensor tensor in ordered)
            tensor.WriteTo(destination);
    }

    private static string HeaderJson(List<SafeTensor> ordered, IReadOnlyDictionary<string, string>? metadata)
    {
        var json = new StringBuilder();
        json.Append('{');
        bool first = true;
        if (metadata is not null)
        {
            AppendString(json, MetadataKey);
            json.Append(":{");
            bool firstEntry = true;
            foreach (var pair in metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                ArgumentNullException.ThrowIfNull(pair.Value, nameof(metadata));
                if (!firstEntry)
                    json.Append(',');
                AppendString(json, pair.Key);
                json.Append(':');
                AppendString(json, pair.Value);
                firstEntry = false;
            }
            json.Append('}');
            first = false;
        }
        long offset = 0;
        foreach (SafeTensor tensor in ordered)
        {
            if (!first)
                json.Append(',');
            first = false;
            AppendString(json, tensor.Name);
            json.Append(":{\"dtype\":");
            AppendString(json, SafeTensorsElementTypes.GetName(tensor.ElementType));
            json.Append(",\"shape\":[");
            ReadOnlySpan<long> shape = tensor.Shape;
            for (int i = 0; i < shape.Length; i++)
            {
                if (i > 0)
                    json.Append(',');
                json.Append(shape[i].ToString(CultureInfo.InvariantCulture));
            }
            long end = offset + tensor.ByteLength;
            json.Append("],\"data_offsets\":[").Append(offset.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(end.ToString(CultureInfo.InvariantCulture)).Append("]}");
            offset = end;
        }
        json.Append('}');
        return json.ToString();
    }

    /// <summary>serde_json string escaping: '"', '\\', and control characters; everything else (non-ASCII too) verbatim.</summary>
    private static void AppendString(StringBuilder json, string value)
    {
        json.Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '"': json.Append("\\\""); break;
                case '\\': json.Append("\\\\"); break;
                case '\b': json.Append("\\b"); break;
                case '\t': json.Append("\\t"); break;
                case '\n': json.Append("\\n"); break;
                case '\f': json.Append("\\f"); break;
                case '\r': json.Append("\\r"); break;
                default:
                    if (c < 0x20)
                        json.Append("\\u00").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else
                        json.Append(c);
                    break;
            }
        }
        json.Append('"');
    }

    private static int CompareUtf8(string left, string right)
    {
        int byteOrder = Encoding.UTF8.GetBytes(left).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(right));
        return byteOrder;
    }

    private static Dictionary<string, string> ParseMetadata(JsonElement value, string sourceName)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Invalid(sourceName, $"'{MetadataKey}' is a JSON {value.ValueKind}, not an object of strings");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (JsonProperty property in value.EnumerateObject())
        {
            if (property.Value.ValueKind != JsonValueKind.String)
                throw Invalid(sourceName, $"'{MetadataKey}' entry '{property.Name}' is a JSON {property.Value.ValueKind}; all metadata values must be strings");
            if (!metadata.TryAdd(property.Name, property.Value.GetString()!))
                throw Invalid(sourceName, $"'{MetadataKey}' has the key '{property.Name}' twice");
        }
        return metadata;
    }

    private static (string Name, SafeTensorsElementType Type, long[] Shape, long Begin, long End) ParseEntry(string name, JsonElement value, string sourceName)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Invalid(sourceName, $"the entry of tensor '{name}' is a JSON {value.ValueKind}, not an object with dtype, shape and data_offsets");
        if (!value.TryGetProperty("dtype", out JsonElement dtype))
            throw Invalid(sourceName, $"tensor '{name}' has no 'dtype'");
        if (!value.TryGetProperty("shape", out JsonElement shapeElement))
            throw Invalid(sourceName, $"tensor '{name}' has no 'shape'");
        if (!value.TryGetProperty("data_offsets", out JsonElement offsets))
            throw Invalid(sourceName, $"tensor '{name}' has no 'data_offsets'");
        if (dtype.ValueKind != JsonValueKind.String || !SafeTensorsElementTypes.TryParse(dtype.GetString(), out SafeTensorsElementType type))
            throw Invalid(sourceName, $"tensor '{name}' has unknown dtype {dtype.GetRawText()}");
        if (shapeElement.ValueKind != JsonValueKind.Array)
            throw Invalid(sourceName, $"tensor '{name}' has shape {shapeElement.GetRawText()}, which is not an array of non-negative integers");
        var shape = new long[shapeElement.GetArrayLength()];
        int index = 0;
        foreach (JsonElement dimension in shapeElement.EnumerateArray())
        {
            if (dimension.ValueKind != JsonValueKind.Number || !dimension.TryGetInt64(out long size) || size < 0)
                throw Invalid(sourceName, $"tensor '{name}' has shape {shapeElement.GetRawText()}, which is not an array of non-negative integers");
            shape[index++] = size;
        }
        if (offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw Invalid(sourceName, $"tensor '{name}' has data_offsets {offsets.GetRawText()}, which is not a pair [BEGIN, END]");
        long begin = ParseOffset(offsets[0]), end = ParseOffset(offsets[1]);
        if (begin < 0 || end < 0)
            throw Invalid(sourceName, $"tensor '{name}' has data_offsets {offsets.GetRawText()}, which are not non-negative integers");
        return (name, type, shape, begin, end);
    }

    private static long ParseOffset(JsonElement element) =>
        element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out long value) ? value : -1;

    private static InvalidDataException Invalid(string sourceName, string problem) =>
        new($"Invalid safetensors file '{sourceName}': {problem}{(problem.EndsWith('.') ? "" : ".")}");
}
