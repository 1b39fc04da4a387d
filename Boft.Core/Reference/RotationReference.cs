// The butterfly rotation applied input-centric, and its backward, double precision (docs/02_Ops/rotation.md).
// R = F_{m−1} … F_0, F_i = P_i D_i P_iᵀ, D_i = blockdiag(C[i, 0..k−1]). For one row z (start z = x), i = m−1 … 0:
//   w[t] = z[q_i[t]]                       (w = z P_i)
//   v[j·b + c] = Σ_t w[j·b + t] C[i,j][t,c]  (v = w D_i)
//   z[a] = v[p_i[a]]                       (z = v P_iᵀ)
// Rᵀ applies i = 0 … m−1 with Cᵀ. Backward (boft-spec §5), for i = 0 … m−1 with g = ∂L/∂z_i:
//   g_v[t] = g[q_i[t]];  ∂C[i,j] += w_iᵀ g_v (per block);  g_w = g_v D_iᵀ;  g_next[a] = g_w[p_i[a]].
// gradInput and gradBlocks are overwritten (=).

namespace Boft.Reference;

/// <summary>Reference input-centric rotation <c>x·R</c> / <c>x·Rᵀ</c> without forming R, its backward, and R itself when asked.</summary>
public static class RotationReference
{
    /// <summary><c>output = input · R</c> (or <c>input · Rᵀ</c>) row by row.</summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="input">Rows. Shape: [rowCount, featureCount].</param>
    /// <param name="blocks">Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="transpose">Apply Rᵀ.</param>
    /// <param name="output">Rows (may alias <paramref name="input"/>). Same shape as <paramref name="input"/>.</param>
    public static void Forward(RotationShape shape, ReadOnlySpan<double> input, ReadOnlySpan<double> blocks, bool transpose, Span<double> output)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int d = shape.FeatureCount;
        int rows = Check.Rows(input.Length, d, nameof(input));
        Check.SameLength(blocks.Length, shape.BlocksLength, nameof(blocks), shape.ToString());
        Check.SameLength(output.Length, input.Length, nameof(output), nameof(input));
        var z = new double[d];
        var w = new double[d];
        for (int row = 0; row < rows; row++)
        {
            input.Slice(row * d, d).CopyTo(z);
            for (int step = 0; step < shape.FactorCount; step++)
            {
                int i = transpose ? step : shape.FactorCount - 1 - step;
                ApplyFactor(shape, blocks, i, transpose, z, w);
            }
            z.CopyTo(output.Slice(row * d, d));
        }
    }

    /// <summary>Backward of <c>output = input · R</c>: <c>gradInput = gradOutput · Rᵀ</c> and <c>gradBlocks = ∂L/∂C</c> summed over rows.</summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="input">The forward's input. Shape: [rowCount, featureCount].</param>
    /// <param name="blocks">Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="gradOutput">∂L/∂output. Same shape as <paramref name="input"/>.</param>
    /// <param name="gradInput">Output ∂L/∂input. Same shape as <paramref name="input"/>.</param>
    /// <param name="gradBlocks">Output ∂L/∂C. Same shape as <paramref name="blocks"/>.</param>
    public static void Backward(RotationShape shape, ReadOnlySpan<double> input, ReadOnlySpan<double> blocks, ReadOnlySpan<double> gradOutput,
        Span<double> gradInput, Span<double> gradBlocks)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int d = shape.FeatureCount, m = shape.FactorCount, k = shape.BlockCount, b = shape.BlockSize;
        int rows = Check.Rows(input.Length, d, nameof(input));
        Check.SameLength(blocks.Length, shape.BlocksLength, nameof(blocks), shape.ToString());
        Check.SameLength(gradOutput.Length, input.Length, nameof(gradOutput), nameof(input));
        Check.SameLength(gradInput.Length, input.Length, nameof(gradInput), nameof(input));
        Check.SameLength(gradBlocks.Length, shape.BlocksLength, nameof(gradBlocks), shape.ToString());
        gradBlocks.Clear();
        var saved = new double[m * d]; // w_i per factor for the current row
        var z = new double[d];
        var scratch = new double[d];
        var g = new double[d];
        var gv = new double[d];
        for (int row = 0; row < rows; row++)
        {
            input.Slice(row * d, d).CopyTo(z);
            for (int i = m - 1; i >= 0; i--)
            {
                ReadOnlySpan<int> q = shape.Permutations.Inverse(i);
                Span<double> wi = saved.AsSpan(i * d, d);
                for (int t = 0; t < d; t++)
                    wi[t] = z[q[t]];
                ApplyFactor(shape, blocks, i, transpose: false, z, scratch);
            }
            gradOutput.Slice(row * d, d).CopyTo(g);
            for (int i = 0; i < m; i++)
            {
                ReadOnlySpan<int> p = shape.Permutations.Forward(i);
                ReadOnlySpan<int> q = shape.Permutations.Inverse(i);
                ReadOnlySpan<double> wi = saved.AsSpan(i * d, d);
                for (int t = 0; t < d; t++)
                    gv[t] = g[q[t]];
                for (int j = 0; j < k; j++)
                {
                    int blockOffset = ((i * k) + j) * b * b;
                    ReadOnlySpan<double> c = blocks.Slice(blockOffset, b * b);
                    Span<double> dc = gradBlocks.Slice(blockOffset, b * b);
                    for (int t = 0; t < b; t++)
                    {
                        double wt = wi[j * b + t];
                        double sum = 0;
                        for (int col = 0; col < b; col++)
                        {
                            dc[t * b + col] += wt * gv[j * b + col];
                            sum += gv[j * b + col] * c[t * b + col];
                        }
                        scratch[j * b + t] = sum; // g_w
                    }
                }
                for (int a = 0; a < d; a++)
                    g[a] = scratch[p[a]];
            }
            g.CopyTo(gradInput.Slice(row * d, d));
        }
    }

    /// <summary>Forms the dense d×d rotation R (row r of R is <c>e_r · R</c>). Only for tests, merges and small shapes.</summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="blocks">Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="rotation">Output R. Shape: [featureCount, featureCount].</param>
    public static void Dense(RotationShape shape, ReadOnlySpan<double> blocks, Span<double> rotation)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int d = shape.FeatureCount;
        Check.SameLength(rotation.Length, d * d, nameof(rotation), "featureCount²");
        rotation.Clear();
        for (int i = 0; i < d; i++)
            rotation[i * d + i] = 1;
        Forward(shape, rotation, blocks, transpose: false, rotation);
    }

    /// <summary>Applies one factor <c>F_i</c> (or <c>F_iᵀ</c>) to the row <paramref name="z"/> in place.</summary>
    private static void ApplyFactor(RotationShape shape, ReadOnlySpan<double> blocks, int i, bool transpose, Span<double> z, Span<double> scratch)
    {
        int d = shape.FeatureCount, k = shape.BlockCount, b = shape.BlockSize;
        ReadOnlySpan<int> p = shape.Permutations.Forward(i);
        ReadOnlySpan<int> q = shape.Permutations.Inverse(i);
        for (int t = 0; t < d; t++)
            scratch[t] = z[q[t]];
        Span<double> v = stackalloc double[b];
        for (int j = 0; j < k; j++)
        {
            ReadOnlySpan<double> c = blocks.Slice(((i * k) + j) * b * b, b * b);
            Span<double> w = scratch.Slice(j * b, b);
            for (int col = 0; col < b; col++)
            {
                double sum = 0;
                for (int t = 0; t < b; t++)
                    sum += w[t] * (transpose ? c[col * b + t] : c[t * b + col]);
                v[col] = sum;
            }
            v.CopyTo(w);
        }
        for (int a = 0; a < d; a++)
            z[a] = scratch[p[a]];
    }
}
