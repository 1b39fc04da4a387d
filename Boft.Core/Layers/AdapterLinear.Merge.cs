// Merge and unmerge of an adapter layer, safe by default (docs/08_Guarantees.md, "Merge safety"). Like PEFT's safe_merge,
// but on unless SafeMerge is false: before anything changes, both refuse (MergeRefusedException, nothing changed) when
//   * the scale (BOFT boft_s) has a zero or non-finite entry: W0 = diag(1/s) W' R would divide by zero, so a merge could
//     never be undone and an unmerge would turn rows of the frozen weight into NaN/Inf;
//   * a rotation block is non-finite, or further from orthogonal than MaxOrthogonalityError (δ = ‖CᵀC − I‖_F): OFT's unmerge
//     inverts the blocks (Cayley–Neumann blocks are only approximately orthogonal). Within the bound the singular values
//     of C lie in [√(1−δ), √(1+δ)], so the condition number is at most √((1+δ)/(1−δ)) ≈ 14 and the float rounding of W' is
//     amplified at most 14-fold in W0 (about 1e-6 relative); beyond δ = 1 nothing bounds it (C may be near singular).
//     (PEFT's own Neumann-2 golden case has δ = 0.89.)
//   * the result would hold a NaN or infinity (computed into scratch first, then copied over the weight).

using Boft.Backends;
using Boft.Training;

namespace Boft.Layers;

/// <summary>Thrown when a safe <see cref="AdapterLinear.Merge"/> or <see cref="AdapterLinear.Unmerge"/> refuses; nothing was changed.</summary>
public sealed class MergeRefusedException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What was refused, why, and what the user can do.</param>
    public MergeRefusedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public MergeRefusedException()
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public MergeRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

public abstract partial class AdapterLinear
{
    /// <summary>The largest <c>‖CᵀC − I‖_F</c> of a rotation block that a safe merge accepts (see the file comment for the reason).</summary>
    public const double MaxOrthogonalityError = 0.99;

    /// <summary>Merges the adapter into the base weight (<c>W' = diag(s) W0 Rᵀ</c>) for zero-overhead inference. The merged weight
    /// keeps the base weight's element type (<see cref="ActivationType"/>): computed in float32 and rounded once per element.</summary>
    /// <exception cref="InvalidOperationException">Already merged.</exception>
    /// <exception cref="MergeRefusedException">With <see cref="SafeMerge"/>: the merge could not be undone or would produce
    /// non-finite values; nothing was changed.</exception>
    public void Merge()
    {
        ThrowIfDisposed();
        EnterExclusive(nameof(Merge));
        try
        {
            if (IsMerged)
                throw new InvalidOperationException("The adapter is already merged.");
            BeforeForward();
            Backend.CayleyForward(Cayley, Rotations.Value, BuildMergeMask(), blocks);
            if (!SafeMerge)
            {
                Backend.Merge(Rotation, BaseWeight.Value, blocks, ScaleParameter?.Value, BaseWeight.Value);
            }
            else
            {
                ThrowIfUnsafeScale(nameof(Merge), "the merge could never be undone (Unmerge divides by s)",
                    "Keep the adapter unmerged (Forward works as it is), or give the zero entries of boft_s a non-zero value first");
                ThrowIfUnsafeBlocks(nameof(Merge));
                using Tensor merged = Backend.Allocate(ActivationType, OutFeatureCount, InFeatureCount);
                Backend.Merge(Rotation, BaseWeight.Value, blocks, ScaleParameter?.Value, merged);
                double sum = Backend.SumOfSquares(merged);
                if (!double.IsFinite(sum))
                    throw Refused(nameof(Merge), "the merged weight would hold NaN or infinite values",
                        "Check the base weight and the adapter parameters for huge or non-finite values");
                Backend.Copy(merged, BaseWeight.Value);
            }
            IsMerged = true;
            savedInput = null;
        }
        finally
        {
            Monitor.Exit(gate);
        }
    }

    /// <summary>
    /// Restores the base weight from the merged one with PEFT's formula (BOFT: <c>W0 = diag(1/s) W' R</c>; OFT: <c>W0 = W' R⁻ᵀ</c>).
    /// Computed in double precision on the host (a rare operation; one download and one upload of the weight) and rounded once to
    /// the base weight's element type.
    /// </summary>
    /// <exception cref="InvalidOperationException">Not merged.</exception>
    /// <exception cref="MergeRefusedException">With <see cref="SafeMerge"/>: the scale has a zero or non-finite entry, a block is too far
    /// from orthogonal to invert accurately, or the result would be non-finite; the merged weight is left as it was.</exception>
    public void Unmerge()
    {
        ThrowIfDisposed();
        EnterExclusive(nameof(Unmerge));
        try
        {
            if (!IsMerged)
                throw new InvalidOperationException("The adapter is not merged.");
            const string keep = "The layer stays merged and still gives the adapted outputs; to get the base weight back, build the layer again " +
                "from the original base weight and load the adapter (LayerCheckpoints.Load)";
            if (SafeMerge)
            {
                ThrowIfUnsafeScale(nameof(Unmerge), "W0 = diag(1/s)·W'·R would divide by zero and turn those rows of the frozen weight into NaN or infinity", keep);
                ThrowIfUnsafeBlocks(nameof(Unmerge));
            }
            double[] merged = Array.ConvertAll(BaseWeight.Value.ToArray(), v => (double)v);
            var restored = new double[merged.Length];
            UnmergeOnHost(merged, restored);
            // Rounded once from the double result to the base weight's type (docs/09_Mixed-precision.md); checked after the rounding,
            // because a float32-finite value can overflow float16.
            ElementType type = ActivationType;
            float[] values = Array.ConvertAll(restored, v => ElementConversions.Round(v, type));
            if (SafeMerge)
            {
                int bad = Array.FindIndex(values, v => !float.IsFinite(v));
                if (bad >= 0)
                    throw Refused(nameof(Unmerge), $"the restored base weight would hold {values[bad]} at flat index {bad}", keep);
            }
            BaseWeight.Value.CopyFrom(values);
            IsMerged = false;
        }
        finally
        {
            Monitor.Exit(gate);
        }
    }

    private void ThrowIfUnsafeScale(string operation, string consequence, string remedy)
    {
        if (ScaleParameter is null)
            return;
        float[] scale = ScaleParameter.Value.ToArray();
        int zeros = scale.Count(v => v == 0), nonFinite = scale.Count(v => !float.IsFinite(v));
        if (zeros + nonFinite == 0)
            return;
        int first = Array.FindIndex(scale, v => v == 0 || !float.IsFinite(v));
        throw Refused(operation,
            $"{ScaleParameter.Name} has {zeros} zero and {nonFinite} non-finite entries (first at index {first}: {scale[first]}), so {consequence}", remedy);
    }

    private void ThrowIfUnsafeBlocks(string operation)
    {
        int b = Cayley.BlockSize, bb = b * b;
        float[] values = blocks.ToArray();
        double worst = 0;
        int worstBlock = 0;
        for (int j = 0; j < Cayley.BlockCount; j++)
        {
            ReadOnlySpan<float> c = values.AsSpan(j * bb, bb);
            double sum = 0;
            for (int r = 0; r < b; r++)
            {
                for (int t = 0; t < b; t++)
                {
                    double dot = 0;
                    for (int i = 0; i < b; i++)
                        dot += (double)c[i * b + r] * c[i * b + t];
                    double e = dot - (r == t ? 1 : 0);
                    sum += e * e;
                }
            }
            double error = Math.Sqrt(sum);
            if (!(error <= worst))
            {
                worst = error;
                worstBlock = j;
                if (double.IsNaN(error))
                    break;
            }
        }
        if (!double.IsFinite(worst))
            throw Refused(operation, $"rotation block {worstBlock} holds NaN or infinite values",
                $"Check {Rotations.Name} for non-finite values (Optimizer.NonFiniteGradients, AnomalyDetection.Enable())");
        if (worst > MaxOrthogonalityError)
            throw Refused(operation,
                $"rotation block {worstBlock} is too far from orthogonal to invert accurately (‖CᵀC − I‖_F = {worst:G3} > {MaxOrthogonalityError})",
                operation == nameof(Merge)
                    ? "Keep the adapter unmerged, use the exact Cayley map (OftConfig without Cayley–Neumann) or more Neumann terms, or train with COFT to keep the parameters small"
                    : "The layer stays merged and still gives the adapted outputs; to get the base weight back, build the layer again from the original base weight and load the adapter");
    }

    private MergeRefusedException Refused(string operation, string reason, string remedy) =>
        new($"{Describe(operation)} refused: {reason}. Nothing was changed. {remedy}; or set SafeMerge = false to force it (PEFT's unchecked behaviour).");
}
