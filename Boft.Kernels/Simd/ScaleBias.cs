// Per-output scale and bias on the CPU: y = h ⊙ s + bias (s and bias broadcast over rows), forward and backward side by side.
// Shapes: input/output [rows, n]; scale [n] or [n, 1]; bias [n]. Either may be absent.
// Gradient semantics: gradInput OVERWRITTEN (=); gradScale and gradBias ACCUMULATED (+=).
// The column sums over rows run over fixed row chunks (boundaries depend on the row count only); each chunk sums in float
// over 64-row sub-blocks and in double across them; the chunk partials are added in chunk order: deterministic and
// accurate to ~1e-7 relative even for 65,536 rows.

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Boft.Kernels.Simd;

/// <summary>Scale-and-bias kernels.</summary>
internal static class ScaleBias
{
    private const int SubBlockRows = 64;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward<TS, TV>(SimdTensor input, SimdTensor? scale, SimdTensor? bias, SimdTensor output, int rows, int n, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        (int chunk, int chunks) = SimdParallel.Chunks(rows, Math.Max(1, Elementwise.SliceLength / Math.Max(n, 1)), 256, 1);
        SimdParallel.For(chunks, (long)rows * n, maxDegreeOfParallelism, c =>
        {
            int v = TS.Count;
            ref float s = ref scale is null ? ref Unsafe.NullRef<float>() : ref scale.Data;
            ref float bi = ref bias is null ? ref Unsafe.NullRef<float>() : ref bias.Data;
            for (int r = c * chunk, end = Math.Min(rows, r + chunk); r < end; r++)
            {
                ref float x = ref Unsafe.Add(ref input.Data, (nint)r * n);
                ref float y = ref Unsafe.Add(ref output.Data, (nint)r * n);
                int j = 0;
                for (; j + v <= n; j += v)
                {
                    TV value = TS.Load(ref Unsafe.Add(ref x, j));
                    if (scale is not null)
                        value = TS.Multiply(value, TS.Load(ref Unsafe.Add(ref s, j)));
                    if (bias is not null)
                        value = TS.Add(value, TS.Load(ref Unsafe.Add(ref bi, j)));
                    TS.Store(value, ref Unsafe.Add(ref y, j));
                }
                for (; j < n; j++)
                {
                    float value = Unsafe.Add(ref x, j);
                    if (scale is not null)
                        value *= Unsafe.Add(ref s, j);
                    if (bias is not null)
                        value += Unsafe.Add(ref bi, j);
                    Unsafe.Add(ref y, j) = value;
                }
            }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Backward<TS, TV>(SimdTensor input, SimdTensor? scale, SimdTensor gradOutput, SimdTensor? gradInput, SimdTensor? gradScale, SimdTensor? gradBias,
        int rows, int n, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        bool sums = gradScale is not null || gradBias is not null;
        (int chunk, int chunks) = SimdParallel.Chunks(rows, Math.Max(SubBlockRows, Elementwise.SliceLength / Math.Max(n, 1)), 64, 1);
        // Per chunk: double partials of Σ g·h (first n) and Σ g (next n).
        double[]? partials = sums ? new double[chunks * 2 * n] : null;
        SimdParallel.For(chunks, 2L * rows * n, maxDegreeOfParallelism, c =>
        {
            int first = c * chunk, end = Math.Min(rows, first + chunk);
            // Sums first: gradInput may alias gradOutput.
            if (partials is not null)
                ChunkSums<TS, TV>(input, gradOutput, gradScale is not null, gradBias is not null, first, end, n, partials.AsSpan(c * 2 * n, 2 * n));
            if (gradInput is not null)
            {
                for (int r = first; r < end; r++)
                {
                    Span<float> g = gradOutput.Span.Slice(r * n, n);
                    Span<float> o = gradInput.Span.Slice(r * n, n);
                    if (scale is null)
                        g.CopyTo(o);
                    else
                        Multiply<TS, TV>(ref MemoryMarshal.GetReference(g), ref scale.Data, ref MemoryMarshal.GetReference(o), n);
                }
            }
        });
        if (partials is null)
            return;
        for (int j = 0; j < n; j++)
        {
            double sumScale = 0, sumBias = 0;
            for (int c = 0; c < chunks; c++)
            {
                sumScale += partials[c * 2 * n + j];
                sumBias += partials[c * 2 * n + n + j];
            }
            if (gradScale is not null)
                gradScale.Span[j] += (float)sumScale;
            if (gradBias is not null)
                gradBias.Span[j] += (float)sumBias;
        }
    }

    /// <summary>partial[0, n) += Σ_rows g ⊙ h, partial[n, 2n) += Σ_rows g, over rows [first, end).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ChunkSums<TS, TV>(SimdTensor input, SimdTensor gradOutput, bool wantScale, bool wantBias, int first, int end, int n, Span<double> partial)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        Span<float> block = Scratch.Get(2 * n);
        Span<float> scaleSum = block[..n], biasSum = block.Slice(n, n);
        Span<double> totalScale = partial[..n], totalBias = partial.Slice(n, n);
        for (int r0 = first; r0 < end; r0 += SubBlockRows)
        {
            scaleSum.Clear();
            biasSum.Clear();
            for (int r = r0, r1 = Math.Min(end, r0 + SubBlockRows); r < r1; r++)
            {
                ref float g = ref Unsafe.Add(ref gradOutput.Data, (nint)r * n);
                if (wantScale)
                    MultiplyAdd<TS, TV>(ref g, ref Unsafe.Add(ref input.Data, (nint)r * n), ref MemoryMarshal.GetReference(scaleSum), n);
                if (wantBias)
                    Elementwise.AddInPlace<TS, TV>(ref g, ref MemoryMarshal.GetReference(biasSum), n);
            }
            for (int j = 0; j < n; j++)
            {
                totalScale[j] += scaleSum[j];
                totalBias[j] += biasSum[j];
            }
        }
    }

    /// <summary><c>o = x ⊙ y</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Multiply<TS, TV>(ref float x, ref float y, ref float o, int length)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count, i = 0;
        for (; i + v <= length; i += v)
            TS.Store(TS.Multiply(TS.Load(ref Unsafe.Add(ref x, i)), TS.Load(ref Unsafe.Add(ref y, i))), ref Unsafe.Add(ref o, i));
        for (; i < length; i++)
            Unsafe.Add(ref o, i) = Unsafe.Add(ref x, i) * Unsafe.Add(ref y, i);
    }

    /// <summary><c>o += x ⊙ y</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MultiplyAdd<TS, TV>(ref float x, ref float y, ref float o, int length)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count, i = 0;
        for (; i + v <= length; i += v)
            TS.Store(TS.Fma(TS.Load(ref Unsafe.Add(ref x, i)), TS.Load(ref Unsafe.Add(ref y, i)), TS.Load(ref Unsafe.Add(ref o, i))), ref Unsafe.Add(ref o, i));
        for (; i < length; i++)
            Unsafe.Add(ref o, i) = MathF.FusedMultiplyAdd(Unsafe.Add(ref x, i), Unsafe.Add(ref y, i), Unsafe.Add(ref o, i));
    }
}
