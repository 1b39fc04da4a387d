// Argument checks shared by the reference ops: lengths are validated before any arithmetic.

namespace Boft.Reference;

internal static class Check
{
    public static int Blocks(int length, int blockLength, string name, string? what = null)
    {
        if (blockLength <= 0)
            throw new ArgumentOutOfRangeException(name, $"block length must be positive, got {blockLength}.");
        if (length % blockLength != 0)
            throw new ArgumentException($"{name} has {length} elements, which is not a whole number of blocks of {what ?? blockLength.ToString(System.Globalization.CultureInfo.InvariantCulture)} elements.", name);
        return length / blockLength;
    }

    public static void SameLength(int actual, int expected, string name, string otherName)
    {
        if (actual != expected)
            throw new ArgumentException($"{name} has {actual} elements but {otherName} implies {expected}.", name);
    }

    public static int Rows(int length, int featureCount, string name)
    {
        if (featureCount <= 0 || length % featureCount != 0)
            throw new ArgumentException($"{name} has {length} elements, which is not a whole number of rows of {featureCount}.", name);
        return length / featureCount;
    }
}
