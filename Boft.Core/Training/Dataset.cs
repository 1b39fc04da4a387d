// An in-memory data set of (features, targets) rows, served as mini-batches copied into preallocated tensors.

using System.Buffers;
using Boft.Backends;

namespace Boft.Training;

/// <summary>
/// Rows of features (shape [count, featureCount]) and targets (shape [count, targetWidth]; targetWidth 1 with class indices for
/// cross-entropy) held on the host and copied into batch tensors on demand.
/// </summary>
public sealed class Dataset
{
    private readonly float[] features;
    private readonly float[] targets;

    /// <summary>Creates the data set (the arrays are copied).</summary>
    /// <param name="features">Row-major features.</param>
    /// <param name="featureCount">Features per row.</param>
    /// <param name="targets">Row-major targets.</param>
    /// <param name="targetWidth">Targets per row (1 for class labels).</param>
    /// <exception cref="ArgumentException">The arrays do not hold the same number of rows.</exception>
    public Dataset(ReadOnlySpan<float> features, int featureCount, ReadOnlySpan<float> targets, int targetWidth)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(featureCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(targetWidth);
        if (features.Length % featureCount != 0)
            throw new ArgumentException($"features has {features.Length} values, not a whole number of rows of {featureCount}.", nameof(features));
        Count = features.Length / featureCount;
        if (targets.Length != (long)Count * targetWidth)
            throw new ArgumentException($"targets has {targets.Length} values but {Count} rows of {targetWidth} are needed.", nameof(targets));
        FeatureCount = featureCount;
        TargetWidth = targetWidth;
        this.features = features.ToArray();
        this.targets = targets.ToArray();
    }

    /// <summary>Number of rows.</summary>
    public int Count { get; }

    /// <summary>Features per row.</summary>
    public int FeatureCount { get; }

    /// <summary>Targets per row.</summary>
    public int TargetWidth { get; }

    /// <summary>The features of row <paramref name="row"/>.</summary>
    /// <param name="row">Row index.</param>
    /// <returns>A view of the row.</returns>
    public ReadOnlySpan<float> Features(int row) => features.AsSpan(row * FeatureCount, FeatureCount);

    /// <summary>The targets of row <paramref name="row"/>.</summary>
    /// <param name="row">Row index.</param>
    /// <returns>A view of the row.</returns>
    public ReadOnlySpan<float> Targets(int row) => targets.AsSpan(row * TargetWidth, TargetWidth);

    /// <summary>Copies the rows listed in <paramref name="rows"/> into the two tensors.</summary>
    /// <param name="rows">Row indices.</param>
    /// <param name="featureBatch">Shape: [rows.Length, FeatureCount].</param>
    /// <param name="targetBatch">Shape: [rows.Length, TargetWidth] or [rows.Length] when TargetWidth is 1.</param>
    public void CopyBatch(ReadOnlySpan<int> rows, Tensor featureBatch, Tensor targetBatch)
    {
        ArgumentNullException.ThrowIfNull(featureBatch);
        ArgumentNullException.ThrowIfNull(targetBatch);
        // Staging arrays come from the shared pool: a training step allocates nothing here.
        float[] f = ArrayPool<float>.Shared.Rent(rows.Length * FeatureCount);
        float[] t = ArrayPool<float>.Shared.Rent(rows.Length * TargetWidth);
        try
        {
            for (int i = 0; i < rows.Length; i++)
            {
                Features(rows[i]).CopyTo(f.AsSpan(i * FeatureCount));
                Targets(rows[i]).CopyTo(t.AsSpan(i * TargetWidth));
            }
            featureBatch.CopyFrom(f.AsSpan(0, rows.Length * FeatureCount));
            targetBatch.CopyFrom(t.AsSpan(0, rows.Length * TargetWidth));
        }
        finally
        {
            ArrayPool<float>.Shared.Return(f);
            ArrayPool<float>.Shared.Return(t);
        }
    }
}
