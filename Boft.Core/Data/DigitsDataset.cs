// The 8x8 hand-written digits data set (scikit-learn's load_digits, a copy of the test set of the UCI "Optical
// Recognition of Handwritten Digits" data), vendored unchanged as Boft.Experiments/Data/digits.csv.gz; see
// Boft.Experiments/Data/README.md for origin and licence. The file is gzip-compressed CSV without a header: 1797 lines,
// each 64 pixel counts in 0..16 (row-major 8x8 image) followed by the label 0..9 (sklearn/datasets/_base.py,
// load_digits, reads it the same way with np.loadtxt(delimiter=",")).

using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace Boft.Data;

/// <summary>
/// The scikit-learn 8×8 digits data set: <see cref="Count"/> samples of <see cref="FeatureCount"/> pixel counts in
/// 0..<see cref="MaxPixelValue"/> (an 8×8 image, row-major) and a label in 0..9.
/// </summary>
public sealed class DigitsDataset
{
    /// <summary>Pixels per sample (8×8).</summary>
    public const int FeatureCount = 64;

    /// <summary>Number of classes (digits 0–9).</summary>
    public const int ClassCount = 10;

    /// <summary>The largest pixel value (the number of set pixels in a 4×4 block of the original 32×32 bitmap).</summary>
    public const int MaxPixelValue = 16;

    /// <summary>The vendored file's name.</summary>
    public const string FileName = "digits.csv.gz";

    private readonly float[] features;
    private readonly int[] labels;

    private DigitsDataset(float[] features, int[] labels)
    {
        this.features = features;
        this.labels = labels;
    }

    /// <summary>Where the benchmarks project copies the file: <c>Data/digits.csv.gz</c> next to the running assembly.</summary>
    public static string DefaultPath => Path.Combine(AppContext.BaseDirectory, "Data", FileName);

    /// <summary>The number of samples (1797 for the vendored file).</summary>
    public int Count => labels.Length;

    /// <summary>All pixel values, row-major [<see cref="Count"/>, <see cref="FeatureCount"/>], each in 0..16.</summary>
    public ReadOnlySpan<float> Features => features;

    /// <summary>All labels, one per sample, each in 0..9.</summary>
    public ReadOnlySpan<int> Labels => labels;

    /// <summary>The 64 pixel values of sample <paramref name="index"/>.</summary>
    /// <param name="index">The sample index.</param>
    /// <returns>The pixels, row-major 8×8.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is outside [0, <see cref="Count"/>).</exception>
    public ReadOnlySpan<float> GetSample(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        return features.AsSpan(index * FeatureCount, FeatureCount);
    }

    /// <summary>How many samples have each label.</summary>
    /// <returns>A new array of <see cref="ClassCount"/> counts.</returns>
    public int[] LabelHistogram()
    {
        var histogram = new int[ClassCount];
        foreach (int label in labels)
            histogram[label]++;
        return histogram;
    }

    /// <summary>Loads the gzip-compressed CSV file.</summary>
    /// <param name="path">The file, e.g. <see cref="DefaultPath"/>.</param>
    /// <returns>The data set.</returns>
    /// <exception cref="InvalidDataException">The file is not gzip or a line is malformed; the message names the file and line.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static DigitsDataset Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using FileStream stream = File.OpenRead(path);
        return Read(stream, path);
    }

    /// <summary>Reads the gzip-compressed CSV from a stream.</summary>
    /// <param name="gzipStream">The compressed data.</param>
    /// <param name="sourceName">A name for messages.</param>
    /// <returns>The data set.</returns>
    /// <exception cref="InvalidDataException">The data is not gzip or a line is malformed.</exception>
    public static DigitsDataset Read(Stream gzipStream, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(gzipStream);
        ArgumentNullException.ThrowIfNull(sourceName);
        var features = new List<float>(1797 * FeatureCount);
        var labels = new List<int>(1797);
        using var gzip = new GZipStream(gzipStream, CompressionMode.Decompress, leaveOpen: true);
        using var reader = new StreamReader(gzip, Encoding.ASCII);
        int lineNumber = 0;
        string? line;
        while ((line = ReadLine(reader, sourceName)) is not null)
        {
            lineNumber++;
            if (line.Length == 0)
                continue;
            string[] fields = line.Split(',');
            if (fields.Length != FeatureCount + 1)
                throw Invalid(sourceName, lineNumber, $"has {fields.Length} fields, expected {FeatureCount} pixels and a label");
            for (int i = 0; i <= FeatureCount; i++)
            {
                int limit = i < FeatureCount ? MaxPixelValue : ClassCount - 1;
                if (!double.TryParse(fields[i], NumberStyles.Float, CultureInfo.InvariantCulture, out double value) ||
                    value != Math.Floor(value) || value < 0 || value > limit)
                    throw Invalid(sourceName, lineNumber, $"field {i + 1} is '{fields[i]}', not an integer in 0..{limit}");
                if (i < FeatureCount)
                    features.Add((float)value);
                else
                    labels.Add((int)value);
            }
        }
        if (labels.Count == 0)
            throw new InvalidDataException($"Invalid digits file '{sourceName}': it has no samples.");
        return new DigitsDataset(features.ToArray(), labels.ToArray());
    }

    private static string? ReadLine(StreamReader reader, string sourceName)
    {
        try
        {
            return reader.ReadLine();
        }
        catch (InvalidDataException exception)
        {
            throw new InvalidDataException($"Invalid digits file '{sourceName}': it is not valid gzip data ({exception.Message}).", exception);
        }
    }

    private static InvalidDataException Invalid(string sourceName, int lineNumber, string problem) =>
        new($"Invalid digits file '{sourceName}': line {lineNumber} {problem}.");
}
