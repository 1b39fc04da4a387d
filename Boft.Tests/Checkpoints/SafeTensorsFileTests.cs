// safetensors reader/writer: round trips, the reference byte layout, every validation error, atomic writes.

using System.Buffers.Binary;
using System.Text;
using Boft.Checkpoints;

namespace Boft.Tests.Checkpoints;

[TestFixture]
[Category("Checkpoints")]
public sealed class SafeTensorsFileTests
{
    private string directory = null!;

    [SetUp]
    public void SetUp() => directory = CheckpointTestFiles.NewDirectory();

    [TearDown]
    public void TearDown() => CheckpointTestFiles.Delete(directory);

    // ---------- round trips ----------

    [Test]
    public void WriteThenRead_RoundTripsF32F64I64AndMetadata()
    {
        float[] single = [1.5f, -2.25f, float.Epsilon, float.MaxValue, -0.0f, 3.1415927f];
        double[] wide = [Math.PI, -1e-300, 1e300];
        long[] integers = [long.MinValue, -1, 0, long.MaxValue];
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "é \"quoted\"\n" };
        string path = Path.Combine(directory, "model.safetensors");

        SafeTensorsFile.Write(
            [SafeTensor.FromSingle("w", [2, 3], single), SafeTensor.FromDouble("d", [3], wide), SafeTensor.FromInt64("i", [2, 2], integers)],
            metadata, path);
        SafeTensorsContent content = SafeTensorsFile.Read(path);

        Assert.That(content.Tensors.Select(t => t.Name), Is.EqualTo(new[] { "i", "d", "w" }), "data order: I64, F64, F32 (descending alignment)");
        Assert.That(content["w"].ElementType, Is.EqualTo(SafeTensorsElementType.Float32));
        Assert.That(content["w"].Shape.ToArray(), Is.EqualTo(new long[] { 2, 3 }));
        Assert.That(content["w"].ToSingleArray(), Is.EqualTo(single));
        Assert.That(BitConverter.SingleToInt32Bits(content["w"].ToSingleArray()[4]), Is.EqualTo(BitConverter.SingleToInt32Bits(-0.0f)), "negative zero kept");
        Assert.That(content["d"].ToDoubleArray(), Is.EqualTo(wide));
        Assert.That(content["i"].ToInt64Array(), Is.EqualTo(integers));
        Assert.That(content.Metadata, Is.EqualTo(metadata));
    }

    [Test]
    public void Read_ConvertsF16AndBF16Exactly()
    {
        Half[] halves = [(Half)0.5f, (Half)(-3.75f), Half.MaxValue, Half.Epsilon];
        var halfBytes = new byte[halves.Length * 2];
        for (int i = 0; i < halves.Length; i++)
            BinaryPrimitives.WriteHalfLittleEndian(halfBytes.AsSpan(2 * i), halves[i]);
        float[] bfloats = [1.0f, -2.5f, 3.0e38f, 1.0e-38f];
        var bfloatBytes = new byte[bfloats.Length * 2];
        for (int i = 0; i < bfloats.Length; i++)
            BinaryPrimitives.WriteUInt16LittleEndian(bfloatBytes.AsSpan(2 * i), (ushort)(BitConverter.SingleToUInt32Bits(bfloats[i]) >> 16));

        byte[] file = SafeTensorsFile.Serialize(
            [new SafeTensor("h", SafeTensorsElementType.Float16, [4], halfBytes), new SafeTensor("b", SafeTensorsElementType.BFloat16, [2, 2], bfloatBytes)],
            null);
        SafeTensorsContent content = SafeTensorsFile.Parse(file, "memory");

        Assert.That(content["h"].ToSingleArray(), Is.EqualTo(halves.Select(h => (float)h).ToArray()));
        Assert.That(content["h"].ToDoubleArray(), Is.EqualTo(halves.Select(h => (double)h).ToArray()));
        float[] truncated = bfloats.Select(f => BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(f) & 0xFFFF0000u)).ToArray();
        Assert.That(content["b"].ToSingleArray(), Is.EqualTo(truncated));
        Assert.That(content.Metadata, Is.Null);
    }

    [Test]
    public void RoundTrip_EmptyAndScalarTensors()
    {
        byte[] file = SafeTensorsFile.Serialize(
            [SafeTensor.FromSingle("empty", [0, 4], []), SafeTensor.FromSingle("scalar", [], [42f]), SafeTensor.FromSingle("x", [1], [1f])], null);
        SafeTensorsContent content = SafeTensorsFile.Parse(file, "memory");
        Assert.That(content["empty"].Shape.ToArray(), Is.EqualTo(new long[] { 0, 4 }));
        Assert.That(content["empty"].ToSingleArray(), Is.Empty);
        Assert.That(content["scalar"].Shape.Length, Is.Zero);
        Assert.That(content["scalar"].ToSingleArray(), Is.EqualTo(new[] { 42f }));
        Assert.That(SafeTensorsFile.Serialize(content.Tensors, content.Metadata), Is.EqualTo(file), "re-serialization is byte-identical");
    }

    // ---------- exact layout ----------

    [Test]
    public void Serialize_ProducesTheReferenceByteLayout()
    {
        var tensors = new[]
        {
            SafeTensor.FromSingle("b", [2], [1f, -2f]),
            new SafeTensor("a", SafeTensorsElementType.Float16, [1], new byte[] { 0x00, 0x38 }), // 0.5 as F16
            SafeTensor.FromInt64("c", [], [7]),
            SafeTensor.FromSingle("a2", [1], [0.25f]),
        };
        byte[] actual = SafeTensorsFile.Serialize(tensors, new Dictionary<string, string> { ["format"] = "pt" });

        // tensor.rs `prepare`: descending dtype order (I64 > F32 > F16), then by name; compact serde_json; space padding to 8.
        const string header =
            "{\"__metadata__\":{\"format\":\"pt\"}," +
            "\"c\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}," +
            "\"a2\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}," +
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}," +
            "\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[20,22]}}";
        int padded = (header.Length + 7) / 8 * 8;
        var expected = new List<byte>();
        expected.AddRange(BitConverter.GetBytes((ulong)padded));
        expected.AddRange(Encoding.UTF8.GetBytes(header));
        expected.AddRange(Enumerable.Repeat((byte)' ', padded - header.Length));
        expected.AddRange(BitConverter.GetBytes(7L));
        expected.AddRange(BitConverter.GetBytes(0.25f));
        expected.AddRange(BitConverter.GetBytes(1f));
        expected.AddRange(BitConverter.GetBytes(-2f));
        expected.AddRange(new byte[] { 0x00, 0x38 });

        Assert.That(padded % 8, Is.Zero);
        Assert.That(padded, Is.GreaterThan(header.Length), "this header needs padding, so the test covers it");
        Assert.That(actual, Is.EqualTo(expected.ToArray()));
        Assert.That(SafeTensorsFile.CreateHeader(tensors, new Dictionary<string, string> { ["format"] = "pt" }), Is.EqualTo(header));
    }

    [Test]
    public void Serialize_OrdersNamesByUtf8BytesAndEscapesLikeSerdeJson()
    {
        // Byte-wise order: "B" (0x42) < "a" (0x61) < "é" (0xC3 0xA9); ordinal UTF-16 order agrees here, culture order would not.
        string header = SafeTensorsFile.CreateHeader(
            [SafeTensor.FromSingle("é", [], [1f]), SafeTensor.FromSingle("a\"\\\n\u0001", [], [1f]), SafeTensor.FromSingle("B", [], [1f])], null);
        Assert.That(header, Does.StartWith("{\"B\":"));
        Assert.That(header, Does.Contain("\"a\\\"\\\\\\n\\u0001\":"), "serde_json escapes quote, backslash, \\n and other controls as \\u00xx");
        Assert.That(header, Does.Contain("\"é\":"), "non-ASCII stays verbatim");
        Assert.That(header.IndexOf("\"a", StringComparison.Ordinal), Is.LessThan(header.IndexOf("\"é", StringComparison.Ordinal)));
    }

    // ---------- validation errors ----------

    private static byte[] Build(string header, byte[] buffer, ulong? headerLength = null, bool pad = true)
    {
        byte[] headerBytes = Encoding.UTF8.GetBytes(header);
        int length = pad ? (headerBytes.Length + 7) / 8 * 8 : headerBytes.Length;
        var bytes = new byte[8 + length + buffer.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, headerLength ?? (ulong)length);
        headerBytes.CopyTo(bytes, 8);
        for (int i = headerBytes.Length; i < length; i++)
            bytes[8 + i] = (byte)' ';
        buffer.CopyTo(bytes, 8 + length);
        return bytes;
    }

    private static string ParseError(byte[] bytes) =>
        Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Parse(bytes, "bad.safetensors"))!.Message;

    private const string OneF32 = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

    [Test]
    public void Parse_AcceptsTheValidBaseCase() =>
        Assert.That(SafeTensorsFile.Parse(Build(OneF32, new byte[8]), "ok").Tensors, Has.Count.EqualTo(1));

    [Test]
    public void ThrowsForFileShorterThanTheLengthPrefix() =>
        Assert.That(ParseError([1, 2, 3, 4, 5]), Does.Contain("bad.safetensors").And.Contain("truncated").And.Contain("5 bytes"));

    [Test]
    public void ThrowsForHeaderLengthLargerThanFile() =>
        Assert.That(ParseError(Build(OneF32, new byte[8], headerLength: 4096)), Does.Contain("header length 4096 is larger than the file"));

    [Test]
    public void ThrowsForHeaderLengthAboveTheReferenceLimit() =>
        Assert.That(ParseError(Build(OneF32, new byte[8], headerLength: 100_000_001)), Does.Contain("exceeds").And.Contain("100000000"));

    [Test]
    public void ThrowsForHeaderThatIsNotUtf8()
    {
        byte[] bytes = Build("{\"x\":1}", []);
        bytes[9] = 0xFF;
        Assert.That(ParseError(bytes), Does.Contain("not valid UTF-8"));
    }

    [Test]
    public void ThrowsForHeaderNotStartingWithBrace() =>
        Assert.That(ParseError(Build(" " + OneF32, new byte[8])), Does.Contain("does not begin with '{'"));

    [Test]
    public void ThrowsForInvalidJson() =>
        Assert.That(ParseError(Build("{\"x\":{\"dtype\":\"F32\",", new byte[8])), Does.Contain("not valid JSON"));

    [Test]
    public void ThrowsForUnknownDtype() =>
        Assert.That(ParseError(Build(OneF32.Replace("F32", "F12", StringComparison.Ordinal), new byte[8])),
            Does.Contain("tensor 'x' has unknown dtype \"F12\""));

    [Test]
    public void ThrowsForLowercaseDtype() =>
        Assert.That(ParseError(Build(OneF32.Replace("F32", "f32", StringComparison.Ordinal), new byte[8])), Does.Contain("unknown dtype \"f32\""));

    [Test]
    public void ThrowsForMissingShape() =>
        Assert.That(ParseError(Build("{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", new byte[8])), Does.Contain("tensor 'x' has no 'shape'"));

    [Test]
    public void ThrowsForNegativeOrFractionalDimension()
    {
        Assert.That(ParseError(Build(OneF32.Replace("[2]", "[-2]", StringComparison.Ordinal), new byte[8])), Does.Contain("non-negative integers"));
        Assert.That(ParseError(Build(OneF32.Replace("[2]", "[2.0]", StringComparison.Ordinal), new byte[8])), Does.Contain("non-negative integers"));
    }

    [Test]
    public void ThrowsForDataOffsetsThatAreNotAPair() =>
        Assert.That(ParseError(Build(OneF32.Replace("[0,8]", "[0,4,8]", StringComparison.Ordinal), new byte[8])), Does.Contain("not a pair"));

    [Test]
    public void ThrowsForShapeOffsetSizeMismatch() =>
        Assert.That(ParseError(Build(OneF32.Replace("[2]", "[3]", StringComparison.Ordinal), new byte[8])),
            Does.Contain("tensor 'x' of type F32 and shape [3] needs 12 bytes, but its data_offsets [0, 8] span 8 bytes"));

    [Test]
    public void ThrowsForOverlappingOffsets()
    {
        const string header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
        Assert.That(ParseError(Build(header, new byte[8])), Does.Contain("tensor 'y'").And.Contain("overlap"));
    }

    [Test]
    public void ThrowsForHoleBetweenTensors()
    {
        const string header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
        Assert.That(ParseError(Build(header, new byte[12])), Does.Contain("hole").And.Contain("[4, 8)").And.Contain("'y'"));
    }

    [Test]
    public void ThrowsForTrailingBytesNotCoveredByAnyTensor() =>
        Assert.That(ParseError(Build(OneF32, new byte[12])), Does.Contain("hole").And.Contain("last 4 bytes"));

    [Test]
    public void ThrowsForTruncatedData() =>
        Assert.That(ParseError(Build(OneF32, new byte[5])), Does.Contain("truncated").And.Contain("need 8 data bytes, but only 5"));

    [Test]
    public void ThrowsForOffsetsOutOfRange()
    {
        const string header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1000,1008]}}";
        Assert.That(ParseError(Build(header, new byte[8])), Does.Contain("hole").And.Contain("[0, 1000)"));
    }

    [Test]
    public void ThrowsForEndBeforeBegin()
    {
        const string header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},\"y\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}";
        Assert.That(ParseError(Build(header, new byte[8])), Does.Contain("END before BEGIN"));
    }

    [Test]
    public void ThrowsForDuplicateNames()
    {
        const string header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
        Assert.That(ParseError(Build(header, new byte[8])), Does.Contain("names tensor 'x' twice"));
    }

    [Test]
    public void ThrowsForNonStringMetadata() =>
        Assert.That(ParseError(Build("{\"__metadata__\":{\"step\":3}," + OneF32[1..], new byte[8])), Does.Contain("must be strings"));

    [Test]
    public void ThrowsForSubByteTotal()
    {
        const string header = "{\"x\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,1]}}";
        Assert.That(ParseError(Build(header, new byte[1])), Does.Contain("not a whole number of bytes"));
    }

    [Test]
    public void Read_NamesTheFileInTheMessage()
    {
        string path = Path.Combine(directory, "broken.safetensors");
        System.IO.File.WriteAllBytes(path, [1, 2, 3]);
        Assert.That(Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Read(path))!.Message, Does.Contain(path));
    }

    [Test]
    public void Parse_IgnoresUnknownFieldsInsideAnEntryLikeTheReference() =>
        Assert.That(SafeTensorsFile.Parse(Build("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", new byte[8]), "m")["x"].ElementCount,
            Is.EqualTo(2));

    // ---------- argument errors ----------

    [Test]
    public void ThrowsForValueCountNotMatchingShape()
    {
        var exception = Assert.Throws<ArgumentException>(() => SafeTensor.FromSingle("w", [2, 3], new float[5]))!;
        Assert.That(exception.ParamName, Is.EqualTo("values"));
        Assert.That(exception.Message, Does.Contain("[2, 3]").And.Contain("6 elements").And.Contain("5"));
    }

    [Test]
    public void ThrowsForRawBytesNotMatchingShape()
    {
        var exception = Assert.Throws<ArgumentException>(() => new SafeTensor("w", SafeTensorsElementType.Float32, [2], new byte[7]))!;
        Assert.That(exception.ParamName, Is.EqualTo("data"));
        Assert.That(exception.Message, Does.Contain("needs 8 bytes").And.Contain("7 bytes"));
    }

    [Test]
    public void ThrowsForDuplicateNamesOnWrite() =>
        Assert.That(Assert.Throws<ArgumentException>(() => SafeTensorsFile.Serialize([SafeTensor.FromSingle("x", [], [1f]), SafeTensor.FromSingle("x", [], [2f])], null))!.Message,
            Does.Contain("'x'"));

    [Test]
    public void ThrowsForReservedMetadataName() =>
        Assert.Throws<ArgumentException>(() => SafeTensor.FromSingle("__metadata__", [], [1f]));

    // ---------- atomic writes ----------

    private string ExistingFile(out byte[] original)
    {
        string path = Path.Combine(directory, "adapter_model.safetensors");
        SafeTensorsFile.Write([SafeTensor.FromSingle("old", [3], [1f, 2f, 3f])], null, path);
        original = System.IO.File.ReadAllBytes(path);
        return path;
    }

    [Test]
    public void Write_FailingMidWriteOnShortTensorData_LeavesOldFileAndNoTemporary()
    {
        string path = ExistingFile(out byte[] original);
        var tensors = new[]
        {
            SafeTensor.FromSingle("a", [2], [1f, 2f]),
            new SafeTensor("b", SafeTensorsElementType.Float32, [4], stream => stream.Write(new byte[12])), // 12 of 16 bytes
        };

        var exception = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Write(tensors, null, path))!;

        Assert.That(exception.Message, Does.Contain("'b'").And.Contain("needs 16 bytes").And.Contain("wrote 12 bytes"));
        Assert.That(System.IO.File.ReadAllBytes(path), Is.EqualTo(original), "the old file is intact");
        Assert.That(CheckpointTestFiles.Entries(directory), Is.EqualTo(new[] { "adapter_model.safetensors" }), "no temporary file remains");
    }

    [Test]
    public void Write_FailingWhenTheDataSourceThrows_LeavesOldFileAndNoTemporary()
    {
        string path = ExistingFile(out byte[] original);
        var tensors = new[]
        {
            new SafeTensor("a", SafeTensorsElementType.Float32, [2], stream =>
            {
                stream.Write(new byte[4]);
                throw new IOException("device read failed");
            }),
        };

        Assert.That(Assert.Throws<IOException>(() => SafeTensorsFile.Write(tensors, null, path))!.Message, Is.EqualTo("device read failed"));
        Assert.That(System.IO.File.ReadAllBytes(path), Is.EqualTo(original));
        Assert.That(CheckpointTestFiles.Entries(directory), Is.EqualTo(new[] { "adapter_model.safetensors" }));
    }

    [Test]
    public void Write_FailingAtTheFinalRename_LeavesNoTemporary()
    {
        string path = Path.Combine(directory, "taken");
        Directory.CreateDirectory(path);
        System.IO.File.WriteAllText(Path.Combine(path, "inside.txt"), "keep");

        Assert.Catch<Exception>(() => SafeTensorsFile.Write([SafeTensor.FromSingle("a", [1], [1f])], null, path));

        Assert.That(CheckpointTestFiles.Entries(directory), Is.EqualTo(new[] { "taken" }));
        Assert.That(System.IO.File.ReadAllText(Path.Combine(path, "inside.txt")), Is.EqualTo("keep"));
    }

    [Test]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void Write_IntoReadOnlyFolder_LeavesOldFileAndNoTemporary()
    {
        if (OperatingSystem.IsWindows())
            Assert.Ignore("Unix permission bits are needed to make a folder read-only.");
        string path = ExistingFile(out byte[] original);
        File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            string probe = Path.Combine(directory, "probe");
            try
            {
                System.IO.File.WriteAllText(probe, "x");
                System.IO.File.Delete(probe);
                Assert.Ignore("This process can write into a read-only folder (it runs as root), so the read-only case cannot be produced here.");
            }
            catch (UnauthorizedAccessException)
            {
                // Expected: the folder is read-only for this user.
            }

            Assert.Throws<UnauthorizedAccessException>(() => SafeTensorsFile.Write([SafeTensor.FromSingle("new", [1], [9f])], null, path));

            Assert.That(System.IO.File.ReadAllBytes(path), Is.EqualTo(original));
            Assert.That(CheckpointTestFiles.Entries(directory), Is.EqualTo(new[] { "adapter_model.safetensors" }));
        }
        finally
        {
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Test]
    public void Write_ReplacesAnExistingFile()
    {
        string path = ExistingFile(out _);
        SafeTensorsFile.Write([SafeTensor.FromSingle("new", [1], [9f])], null, path);
        Assert.That(SafeTensorsFile.Read(path)["new"].ToSingleArray(), Is.EqualTo(new[] { 9f }));
        Assert.That(CheckpointTestFiles.Entries(directory), Is.EqualTo(new[] { "adapter_model.safetensors" }));
    }
}
