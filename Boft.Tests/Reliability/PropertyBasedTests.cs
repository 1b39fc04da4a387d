// Property-based tests (CsCheck): the safetensors reader and writer (round trips; random mutations of valid files are read
// or refused with the reader's own InvalidDataException, never another exception), configuration resolution against an
// independent transcription of PEFT's rules (reference/boft_ref.py resolve_boft, resolve_oft), and the checkpoint key
// mapping. Iteration counts are fixed and the samples run on one thread, so each test takes about a second in CI.

using System.Buffers.Binary;
using System.Text;
using Boft.Checkpoints;
using CsCheck;

namespace Boft.Tests.Reliability;

[TestFixture]
[Category("Property")]
public sealed class PropertyBasedTests
{
    private const int Threads = 1;

    private static readonly SafeTensorsElementType[] ByteSizedTypes =
        Enum.GetValues<SafeTensorsElementType>().Where(t => SafeTensorsElementTypes.GetBitSize(t) % 8 == 0).ToArray();

    private static readonly Gen<SafeTensor[]> Tensors =
        Gen.Select(Gen.Int[0, ByteSizedTypes.Length - 1], Gen.Int[0, 4].Array[0, 3], Gen.Int)
            .Array[0, 5]
            .Select(specs => specs.Select((spec, i) =>
            {
                var (typeIndex, dims, seed) = spec;
                SafeTensorsElementType type = ByteSizedTypes[typeIndex];
                long[] shape = Array.ConvertAll(dims, d => (long)d);
                long count = shape.Aggregate(1L, (a, b) => a * b);
                var data = new byte[count * SafeTensorsElementTypes.GetBitSize(type) / 8];
                new Random(seed).NextBytes(data);
                return new SafeTensor($"layer.{i}.{(char)('a' + (seed & 15))}", type, shape, data);
            }).ToArray());

    private static readonly Gen<Dictionary<string, string>?> Metadata =
        Gen.Select(Gen.Bool, Gen.String[Gen.Char["abcxyz_.é\"\\ "], 1, 6].Array[0, 3])
            .Select(t => t.Item1 ? null : t.Item2.Distinct().ToDictionary(k => k, k => k + "=v"));

    [Test]
    public void SafeTensors_RoundTrip_PreservesNamesTypesShapesBytesAndMetadata()
    {
        Gen.Select(Tensors, Metadata).Sample((tensors, metadata) =>
        {
            byte[] bytes = SafeTensorsFile.Serialize(tensors, metadata);
            SafeTensorsContent content = SafeTensorsFile.Parse(bytes, "generated");
            var byName = content.Tensors.ToDictionary(t => t.Name);
            if (byName.Count != tensors.Length)
                throw new AssertionException($"{tensors.Length} tensors written, {byName.Count} read");
            foreach (SafeTensor written in tensors)
            {
                SafeTensor read = byName[written.Name];
                if (read.ElementType != written.ElementType || !read.Shape.SequenceEqual(written.Shape) || !read.GetBytes().Span.SequenceEqual(written.GetBytes().Span))
                    throw new AssertionException($"'{written.Name}' changed in the round trip: {written} → {read}");
            }
            bool sameMetadata = metadata is null || metadata.Count == 0
                ? content.Metadata is null || content.Metadata.Count == 0
                : content.Metadata is not null && metadata.All(kv => content.Metadata.TryGetValue(kv.Key, out string? v) && v == kv.Value) && content.Metadata.Count == metadata.Count;
            if (!sameMetadata)
                throw new AssertionException("metadata changed in the round trip");
        }, iter: 300, threads: Threads);
    }

    /// <summary>Mutations: 0 flip a byte, 1 truncate, 2 overwrite the header length, 3 insert a byte, 4 delete a byte, 5 overwrite a
    /// header byte with JSON punctuation.</summary>
    private static readonly Gen<(int Kind, int Position, int Value)[]> Mutations =
        Gen.Select(Gen.Int[0, 5], Gen.Int[0, int.MaxValue], Gen.Int).Array[1, 4];

    [Test]
    public void SafeTensors_MutatedFiles_AreReadOrRefusedWithInvalidDataException_Only()
    {
        int refused = 0, read = 0;
        Gen.Select(Tensors, Mutations).Sample((tensors, mutations) =>
        {
            var bytes = new List<byte>(SafeTensorsFile.Serialize(tensors, new Dictionary<string, string> { ["format"] = "pt" }));
            foreach (var (kind, position, value) in mutations)
                Mutate(bytes, kind, position, value);
            try
            {
                SafeTensorsContent content = SafeTensorsFile.Parse(bytes.ToArray(), "mutated");
                foreach (SafeTensor tensor in content.Tensors)
                    _ = tensor.GetBytes().Length; // every accepted tensor's data must be addressable
                Interlocked.Increment(ref read);
            }
            catch (InvalidDataException)
            {
                Interlocked.Increment(ref refused);
            }
        }, iter: 3000, threads: Threads);
        Assert.That(refused, Is.GreaterThan(100), "most mutations are refused");
        TestContext.Out.WriteLine($"{read} mutated files read, {refused} refused");
    }

    private static void Mutate(List<byte> bytes, int kind, int position, int value)
    {
        if (bytes.Count == 0)
            return;
        int at = position % bytes.Count;
        int headerEnd = bytes.Count >= 8 ? (int)Math.Min((long)BinaryPrimitives.ReadUInt64LittleEndian(bytes.Take(8).ToArray()) + 8, bytes.Count) : bytes.Count;
        switch (kind)
        {
            case 0:
                bytes[at] ^= (byte)(1 << (value & 7));
                break;
            case 1:
                bytes.RemoveRange(at, bytes.Count - at);
                break;
            case 2 when bytes.Count >= 8:
                ulong length = (value & 3) switch { 0 => (ulong)value, 1 => (ulong)(value & 0xFFF), 2 => ulong.MaxValue - (ulong)(value & 0xFF), _ => (ulong)Math.Max(0, headerEnd - 8 + (value % 5)) };
                var prefix = new byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(prefix, length);
                for (int i = 0; i < 8; i++)
                    bytes[i] = prefix[i];
                break;
            case 3:
                bytes.Insert(at, (byte)value);
                break;
            case 4:
                bytes.RemoveAt(at);
                break;
            default:
                byte[] punctuation = Encoding.ASCII.GetBytes("{}[]:,\"-09e.\\ ");
                int inHeader = 8 + (position % Math.Max(1, headerEnd - 8));
                if (inHeader < bytes.Count)
                    bytes[inHeader] = punctuation[(value & int.MaxValue) % punctuation.Length];
                break;
        }
    }

    // ---------- configuration resolution against PEFT's rules (transcribed from reference/boft_ref.py) ----------

    private static (int K, int B)? PeftResolveBoft(int d, int b, int k, int m, out string? error)
    {
        error = null;
        if (b == 0 && k == 0) { error = "Either `boft_block_size` or `boft_block_num` must be non-zero."; return null; }
        if (b != 0 && k != 0) { error = "You can only specify either boft_block_size or boft_block_num, but not both simultaneously"; return null; }
        int n = m - 1;
        if (n < 0) { error = $"You can only specify boft_n_butterfly_factor {m} to be a positive integer number."; return null; }
        if (b == 0)
        {
            if (d % k != 0) { error = $"in_features ({d}) must be divisible by boft_block_num ({k})!"; return null; }
            if (n != 0)
            {
                if (n > (int)Math.Floor(Math.Log2(k))) { error = $"Invalid combination of boft_n_butterfly_factor ({m}) and boft_block_num ({k})!"; return null; }
                if (k % (1L << n) != 0) { error = $"boft_block_num ({k}) must be a multiple of 2 raised to the power of boft_n_butterfly_factor ({m})!"; return null; }
            }
            b = d / k;
        }
        else
        {
            if (d % b != 0) { error = $"in_features ({d}) must be divisible by boft_block_size ({b})!"; return null; }
            if (n != 0 && (d < (long)b << n || d % ((long)b << n) != 0)) { error = $"Invalid combination of in_features ({d}), boft_n_butterfly_factor ({m}) and boft_block_size ({b})!"; return null; }
            k = d / b;
        }
        if (n != 0)
        {
            if (k % 2 != 0) { error = $"boft_block_num ({k}) must be an even number!"; return null; }
            if (b % 2 != 0) { error = $"boft_block_size ({b}) must be an even number!"; return null; }
        }
        return (k, b);
    }

    private static readonly Gen<int> Sizes = Gen.OneOf(Gen.Int[0, 40], Gen.Int[0, 9].Select(e => 1 << e), Gen.Int[1, 6].Select(e => 3 << e));

    [Test]
    public void BoftConfigResolution_FollowsPeftsRules_AndCountsIn64Bits()
    {
        Gen.Select(Gen.Int[1, 9].Select(e => 1 << e).Select(Gen.Int[1, 5], (p, f) => p * f), Sizes, Sizes, Gen.Int[0, 6], Gen.Bool).Sample((d, b, k, m, bySize) =>
        {
            if (bySize) k = 0; else b = 0;
            (int K, int B)? expected = PeftResolveBoft(d, b, k, m, out string? error);
            BoftShape? shape = null;
            string? message = null;
            try
            {
                shape = new BoftConfig(d, b, k, m).Resolve();
            }
            catch (ArgumentException exception)
            {
                message = exception.Message;
            }
            string config = $"d={d} b={b} k={k} m={m}";
            if (expected is null)
            {
                if (message is null || !message.Contains(error!, StringComparison.Ordinal))
                    throw new AssertionException($"{config}: PEFT refuses with '{error}', Boft gave {(message is null ? shape!.ToString() : $"'{message}'")}");
                return;
            }
            if (shape is null)
                throw new AssertionException($"{config}: PEFT accepts (k={expected.Value.K}, b={expected.Value.B}), Boft refused: {message}");
            if ((shape.BlockCount, shape.BlockSize, shape.FactorCount, shape.FeatureCount) != (expected.Value.K, expected.Value.B, m, d))
                throw new AssertionException($"{config}: PEFT resolves k={expected.Value.K}, b={expected.Value.B}; Boft {shape}");
            if (shape.RawParameterCount != (long)m * shape.BlockCount * shape.BlockSize * shape.BlockSize ||
                shape.EffectiveParameterCount != (long)m * shape.BlockCount * shape.BlockSize * (shape.BlockSize - 1) / 2 ||
                shape.StoredParameterCount(int.MaxValue) != (long)shape.RawParameterCount + int.MaxValue)
                throw new AssertionException($"{config}: counts differ from the 64-bit formulas");
        }, iter: 3000, threads: Threads);
    }

    private static int PeftOftAdjust(int d, int value)
    {
        if (value >= d)
            return d;
        int higher = value;
        while (higher <= d && d % higher != 0)
            higher++;
        int lower = value;
        while (lower > 1 && d % lower != 0)
            lower--;
        return value - lower <= higher - value ? lower : higher;
    }

    [Test]
    public void OftConfigResolution_WithAdjustment_FollowsPeftsRules()
    {
        Gen.Select(Gen.Int[1, 300], Sizes, Gen.Bool).Sample((d, size, bySize) =>
        {
            int b = bySize ? size : 0, r = bySize ? 0 : size;
            string config = $"d={d} b={b} r={r}";
            if (size == 0)
            {
                if (!Throws(() => new OftConfig(d, b, r, AdjustInvalidBlockSize: true).Resolve()))
                    throw new AssertionException($"{config}: PEFT refuses r = oft_block_size = 0");
                return;
            }
            int expectedR, expectedB;
            if (r == 0)
            {
                expectedB = d % b != 0 || b > d ? PeftOftAdjust(d, b) : b;
                expectedR = d / expectedB;
            }
            else
            {
                expectedR = d % r != 0 || r > d ? PeftOftAdjust(d, r) : r;
                expectedB = d / expectedR;
            }
            OftShape shape = new OftConfig(d, b, r, AdjustInvalidBlockSize: true).Resolve();
            if ((shape.BlockCount, shape.BlockSize) != (expectedR, expectedB))
                throw new AssertionException($"{config}: PEFT resolves r={expectedR}, b={expectedB}; Boft {shape}");
            bool exact = d % size == 0 && size <= d;
            if (exact == Throws(() => new OftConfig(d, b, r).Resolve()))
                throw new AssertionException($"{config}: without adjustment Boft must accept exactly the divisors of d");
        }, iter: 2000, threads: Threads);
    }

    private static bool Throws(Action action)
    {
        try
        {
            action();
            return false;
        }
        catch (ArgumentException)
        {
            return true;
        }
    }

    // ---------- checkpoint key mapping ----------

    private static readonly Gen<string> ModulePaths =
        Gen.String[Gen.Char["abcdefghijklmnopqrstuvwxyz_0123456789"], 1, 6].Array[1, 5].Select(segments => string.Join('.', segments));

    [Test]
    public void CheckpointKeys_ParseBackToTheirModuleAndKind_AndTheAdapterNameRoundTrips()
    {
        PeftParameterKind[] kinds = [PeftParameterKind.BoftRotation, PeftParameterKind.BoftScale, PeftParameterKind.OftRotationWeight];
        Gen.Select(ModulePaths, Gen.Int[0, kinds.Length - 1], Gen.String[Gen.Char["abcdefgh_"], 1, 8]).Sample((path, kindIndex, adapter) =>
        {
            PeftParameterKind kind = kinds[kindIndex];
            string key = PeftStateDictKeys.Create(path, kind);
            if (!key.StartsWith("base_model.model." + path + ".", StringComparison.Ordinal))
                throw new AssertionException($"'{key}' does not start with PEFT's prefix and the module path '{path}'");
            if (!PeftStateDictKeys.TryParse(key, out PeftParameterKey parsed) || parsed.ModulePath != path || parsed.Kind != kind)
                throw new AssertionException($"'{key}' parsed as {parsed}, expected ({path}, {kind})");
            string modelKey = PeftStateDictKeys.InsertAdapterName(key, adapter);
            if (PeftStateDictKeys.RemoveAdapterName(modelKey, adapter) != key)
                throw new AssertionException($"'{key}' → '{modelKey}' → '{PeftStateDictKeys.RemoveAdapterName(modelKey, adapter)}'");
        }, iter: 2000, threads: Threads);
    }
}
