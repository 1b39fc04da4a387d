// The vendored scikit-learn digits file: count, label histogram, known samples, and the loader's error paths.
// Expected values from /usr/bin/python3 -c "from sklearn.datasets import load_digits; ..." (scikit-learn 1.2.1).

using System.IO.Compression;
using System.Text;
using Boft.Data;

namespace Boft.Tests.Data;

[TestFixture]
[Category("Data")]
public sealed class DigitsDatasetTests
{
    /// <summary>Boft.Experiments/Data/digits.csv.gz, found from the test assembly by walking up to the repository root (Boft.sln).</summary>
    private static string VendoredFile()
    {
        for (DirectoryInfo? folder = new(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
            if (File.Exists(Path.Combine(folder.FullName, "Boft.sln")))
                return Path.Combine(folder.FullName, "Boft.Experiments", "Data", DigitsDataset.FileName);
        throw new FileNotFoundException($"No Boft.sln above {AppContext.BaseDirectory}.");
    }

    private static DigitsDataset? loaded;

    private static DigitsDataset Dataset => loaded ??= DigitsDataset.Load(VendoredFile());

    [Test]
    public void HasScikitLearnsCountAndLabelHistogram()
    {
        Assert.That(Dataset.Count, Is.EqualTo(1797));
        Assert.That(Dataset.Features.Length, Is.EqualTo(1797 * 64));
        Assert.That(Dataset.LabelHistogram(), Is.EqualTo(new[] { 178, 182, 177, 183, 181, 182, 181, 179, 174, 180 }));
    }

    [Test]
    public void FirstAndLastSamplesMatchScikitLearn()
    {
        float[] first =
        [
            0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0, 8, 8, 0,
            0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0,
        ];
        float[] last =
        [
            0, 0, 10, 14, 8, 1, 0, 0, 0, 2, 16, 14, 6, 1, 0, 0, 0, 0, 15, 15, 8, 15, 0, 0, 0, 0, 5, 16, 16, 10, 0, 0,
            0, 0, 12, 15, 15, 12, 0, 0, 0, 4, 16, 6, 4, 16, 6, 0, 0, 8, 16, 10, 8, 16, 8, 0, 0, 1, 8, 12, 14, 12, 1, 0,
        ];
        Assert.That(Dataset.GetSample(0).ToArray(), Is.EqualTo(first));
        Assert.That(Dataset.Labels[0], Is.Zero);
        Assert.That(Dataset.GetSample(1796).ToArray(), Is.EqualTo(last));
        Assert.That(Dataset.Labels[1796], Is.EqualTo(8));
    }

    [Test]
    public void PixelsAreIntegersIn0To16WithScikitLearnsSum()
    {
        double sum = 0;
        foreach (float pixel in Dataset.Features)
        {
            Assert.That(pixel, Is.InRange(0f, 16f));
            sum += pixel;
        }
        Assert.That(sum, Is.EqualTo(561718.0), "load_digits().data.sum()");
    }

    [Test]
    public void GetSample_ThrowsForIndexOutOfRange() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Dataset.GetSample(1797));

    private static MemoryStream Gzip(string text)
    {
        var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
            gzip.Write(Encoding.ASCII.GetBytes(text));
        buffer.Position = 0;
        return buffer;
    }

    [Test]
    public void ThrowsForLineWithWrongFieldCount() =>
        Assert.That(Assert.Throws<InvalidDataException>(() => DigitsDataset.Read(Gzip("1,2,3\n"), "bad.csv.gz"))!.Message,
            Does.Contain("bad.csv.gz").And.Contain("line 1 has 3 fields"));

    [Test]
    public void ThrowsForPixelOutOfRange()
    {
        string line = string.Join(',', Enumerable.Repeat("0", 63).Append("17").Append("3"));
        Assert.That(Assert.Throws<InvalidDataException>(() => DigitsDataset.Read(Gzip(line + "\n"), "bad"))!.Message,
            Does.Contain("field 64 is '17', not an integer in 0..16"));
    }

    [Test]
    public void ThrowsForLabelOutOfRange()
    {
        string line = string.Join(',', Enumerable.Repeat("1", 64).Append("10"));
        Assert.That(Assert.Throws<InvalidDataException>(() => DigitsDataset.Read(Gzip(line), "bad"))!.Message, Does.Contain("field 65 is '10'"));
    }

    [Test]
    public void ThrowsForDataThatIsNotGzip() =>
        Assert.That(Assert.Throws<InvalidDataException>(() => DigitsDataset.Read(new MemoryStream(Encoding.ASCII.GetBytes("0,0,0\n")), "plain.csv"))!.Message,
            Does.Contain("plain.csv"));
}
