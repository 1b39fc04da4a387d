// Batched Cayley map on the CPU: forward and backward side by side, plus the COFT projection. docs/02_Ops/simd-backend.md.
//
// Shapes: parameters [parameterBlockCount, b²] (BOFT, S = (A − Aᵀ)/2) or [parameterBlockCount, b(b−1)/2] (OFT, Q = U − Uᵀ);
//         blocks and gradBlocks [blockCount, b, b]; identityMask [blockCount] (non-zero = identity block).
// Gradient semantics: CayleyBackward ACCUMULATES into gradParameters (+=). Masked blocks contribute nothing; with a
// shared block the copies' gradients are summed (in block order) before the one VJP.
//
// Exact map C = (I − S)(I + S)⁻¹ = 2(I + S)⁻¹ − I: Gauss–Jordan inversion of (I + S)/2 WITHOUT pivoting (in place, b³
// multiply-adds; for b > 32 on [I + S | I − S]). That is stable here: I + S has symmetric part I, and the Schur complement
// of a matrix with symmetric part H ⪰ I and skew part K has symmetric part (Schur complement of H) + k kᵀ/h11 ⪰ I again,
// so by induction every pivot (a diagonal entry of a symmetric part) is ≥ 1 (≥ ½ for the halved matrix): no small pivots, multipliers no larger than
// the entries. Without pivoting there is no data-dependent control flow, so 16 blocks run in the 16 lanes of a vector in
// lock-step.
// Backward: ∂L/∂S = −2 Mᵀ G Mᵀ with M = (I + S)⁻¹ = (C + I)/2 read from the forward's blocks.
// Cayley–Neumann C = Σ_p c_p Q^p: powers by block products; backward by two Horner recursions:
//   B_{P−1} = c_P I, B_j = c_{j+1} I + Qᵀ B_{j+1};   ∂L/∂Q = Σ_j (Qᵀ)^j G B_j = G B_0 + Qᵀ(G B_1 + Qᵀ(…)).
// Layouts: b ≤ 32: "blocks in lanes" (element (r, c) of 16 blocks is one Vector512); b > 32: one block at a time with
// rows vectorised along columns (few blocks, each large enough to fill vectors).

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Boft.Kernels.Simd;

/// <summary>The Cayley kernels (see the file header).</summary>
internal static class Cayley
{
    /// <summary>Largest block size computed with blocks in lanes (measured: at b = 32 lanes beat one-block-at-a-time 1.8× forward, 2.7× backward).</summary>
    public const int LanesMaxBlockSize = 32;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward<TS, TV>(CayleyShape shape, SimdTensor parameters, SimdTensor? identityMask, SimdTensor blocks, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int b = shape.BlockSize, bb = b * b;
        float[] coefficients = Coefficients(shape);
        if (shape.Shared)
        {
            var single = new float[bb];
            ForwardBatch<TS, TV>(shape, coefficients, parameters.Array, parameters.Offset, single, 0, 1, maxDegreeOfParallelism);
            for (int j = 0; j < shape.BlockCount; j++)
                single.CopyTo(blocks.Span.Slice(j * bb, bb));
        }
        else
        {
            ForwardBatch<TS, TV>(shape, coefficients, parameters.Array, parameters.Offset, blocks.Array, blocks.Offset, shape.BlockCount, maxDegreeOfParallelism);
        }
        if (identityMask is not null)
        {
            ReadOnlySpan<float> mask = identityMask.Span;
            for (int j = 0; j < shape.BlockCount; j++)
            {
                if (mask[j] == 0)
                    continue;
                Span<float> block = blocks.Span.Slice(j * bb, bb);
                block.Clear();
                for (int r = 0; r < b; r++)
                    block[r * b + r] = 1;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Backward<TS, TV>(CayleyShape shape, SimdTensor parameters, SimdTensor blocks, SimdTensor gradBlocks, SimdTensor? identityMask, SimdTensor gradParameters, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int b = shape.BlockSize, bb = b * b;
        float[] coefficients = Coefficients(shape);
        bool[]? skip = null;
        if (identityMask is not null)
        {
            ReadOnlySpan<float> mask = identityMask.Span;
            skip = new bool[shape.BlockCount];
            for (int j = 0; j < skip.Length; j++)
                skip[j] = mask[j] != 0;
        }
        if (shape.Shared)
        {
            // Sum the copies' gradients in block order, then one VJP (M from block 0: a mask is rejected with the exact map).
            var summed = new float[bb];
            bool any = false;
            for (int j = 0; j < shape.BlockCount; j++)
            {
                if (skip is not null && skip[j])
                    continue;
                any = true;
                Elementwise.AddInPlace<TS, TV>(ref gradBlocks.Span[j * bb], ref summed[0], bb);
            }
            if (any)
                BackwardBatch<TS, TV>(shape, coefficients, parameters.Array, parameters.Offset, blocks.Array, blocks.Offset, summed, 0, null,
                    gradParameters.Array, gradParameters.Offset, 1, maxDegreeOfParallelism);
            return;
        }
        BackwardBatch<TS, TV>(shape, coefficients, parameters.Array, parameters.Offset, blocks.Array, blocks.Offset, gradBlocks.Array, gradBlocks.Offset, skip,
            gradParameters.Array, gradParameters.Offset, shape.BlockCount, maxDegreeOfParallelism);
    }

    /// <summary>COFT: per packed block, if ‖Q‖_F = sqrt(2 Σ w²) &gt; radius then w := radius · w / ‖Q‖_F (norms in double).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void CoftProject(CayleyShape shape, double radius, SimdTensor parameters, int maxDegreeOfParallelism)
    {
        int length = shape.ParameterBlockLength;
        if (length == 0)
            return;
        SimdParallel.For(shape.ParameterBlockCount, (long)shape.ParametersLength * 4, maxDegreeOfParallelism, blk =>
        {
            Span<float> w = parameters.Span.Slice(blk * length, length);
            double sum = 0;
            foreach (float value in w)
                sum += (double)value * value;
            double norm = Math.Sqrt(2 * sum);
            if (norm <= radius)
                return;
            for (int t = 0; t < length; t++)
                w[t] = (float)(radius * (w[t] / norm));
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float[] Coefficients(CayleyShape shape)
    {
        ReadOnlySpan<double> c = shape.NeumannCoefficients;
        var result = new float[c.Length];
        for (int i = 0; i < c.Length; i++)
            result[i] = (float)c[i];
        return result;
    }

    /// <summary>C for parameter blocks 0 … count−1 into output blocks 0 … count−1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardBatch<TS, TV>(CayleyShape shape, float[] coefficients, float[] parameters, int parametersOffset, float[] blocks, int blocksOffset,
        int count, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int b = shape.BlockSize, v = TS.Count;
        long workPerBlock = 2L * b * b * b * Math.Max(1, coefficients.Length);
        if (b == 2)
        {
            // Closed form: a block-count loop of a few FLOPs each, where the lane path took about 300 cycles per 8 blocks
            // (gathering, a b-generic Gauss–Jordan, scattering; 6 µs for 512 blocks: 7–13 % of an OFT(2) forward).
            (int chunk, int chunks) = SimdParallel.Chunks(count, 4096, 64, 1);
            SimdParallel.For(chunks, 16L * count, maxDegreeOfParallelism, c =>
                PairsForward(shape, coefficients, parameters.AsSpan(parametersOffset), blocks.AsSpan(blocksOffset), c * chunk, Math.Min(count, (c + 1) * chunk)));
            return;
        }
        if (b <= LanesMaxBlockSize)
        {
            int groups = (count + v - 1) / v;
            SimdParallel.For(groups, workPerBlock * count, maxDegreeOfParallelism, group =>
            {
                int first = group * v, lanes = Math.Min(v, count - first);
                LanesForward<TS, TV>(shape, coefficients, ref parameters[parametersOffset], ref blocks[blocksOffset], first, lanes);
            });
        }
        else
        {
            SimdParallel.For(count, workPerBlock * count, maxDegreeOfParallelism, blk =>
                RowsForward<TS, TV>(shape, coefficients, ref parameters[parametersOffset], ref blocks[blocksOffset], blk));
        }
    }

    /// <summary>
    /// b = 4 in lanes, in closed form. A 4 × 4 skew S satisfies S⁴ + a·S² + p²·I = 0 (its characteristic polynomial), with
    /// a = Σ_{i&lt;j} s_ij² and p = s01·s23 − s02·s13 + s03·s12 (the Pfaffian), so every power series in S is a cubic:
    /// exact C = [(1 + a − p²)·I − 2(1 + a)·S + 2·S² − 2·S³] / (1 + a + p²) (from (I + S)⁻¹ = [(1 + a)(I − S) + S² − S³] / (1 +
    /// a + p²)); Cayley–Neumann Σ_q c_q S^q by Horner on the cubic's coefficients, reducing S⁴ as it goes. One division per 8
    /// blocks, no elimination chain (the Gauss–Jordan path took about 300 cycles per 8 blocks; 256 blocks 10.6–13.0 → 3.6–5.4 µs).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Lanes4Forward<TS, TV>(CayleyShape shape, float[] coefficients, ref float parameters, ref float blocks, int first, int lanes)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        const int b = 4;
        int v = TS.Count;
        Span<float> scratch = Scratch.Get(2 * 16 * v);
        ref float q = ref scratch[0];
        ref float temp = ref scratch[16 * v];
        LoadSkewLanes<TS, TV>(shape, ref parameters, first, lanes, ref q, ref temp);
        TV s01 = TS.Load(ref At(ref q, b, 0, 1, v)), s02 = TS.Load(ref At(ref q, b, 0, 2, v)), s03 = TS.Load(ref At(ref q, b, 0, 3, v));
        TV s12 = TS.Load(ref At(ref q, b, 1, 2, v)), s13 = TS.Load(ref At(ref q, b, 1, 3, v)), s23 = TS.Load(ref At(ref q, b, 2, 3, v));
        // S² (symmetric; with s_ji = −s_ij): (S²)_ij = Σ_k s_ik·s_kj.
        TV zero = TS.Zero;
        TV q00 = TS.Subtract(zero, TS.Fma(s01, s01, TS.Fma(s02, s02, TS.Multiply(s03, s03))));
        TV q11 = TS.Subtract(zero, TS.Fma(s01, s01, TS.Fma(s12, s12, TS.Multiply(s13, s13))));
        TV q22 = TS.Subtract(zero, TS.Fma(s02, s02, TS.Fma(s12, s12, TS.Multiply(s23, s23))));
        TV q33 = TS.Subtract(zero, TS.Fma(s03, s03, TS.Fma(s13, s13, TS.Multiply(s23, s23))));
        TV q01 = TS.Subtract(zero, TS.Fma(s02, s12, TS.Multiply(s03, s13)));     // s02·s21 + s03·s31
        TV q02 = TS.Subtract(TS.Multiply(s01, s12), TS.Multiply(s03, s23));     // s01·s12 + s03·s32
        TV q03 = TS.Fma(s01, s13, TS.Multiply(s02, s23));                         // s01·s13 + s02·s23
        TV q12 = TS.Subtract(zero, TS.Fma(s01, s02, TS.Multiply(s13, s23)));     // s10·s02 + s13·s32
        TV q13 = TS.Subtract(TS.Multiply(s12, s23), TS.Multiply(s01, s03));     // s10·s03 + s12·s23
        TV q23 = TS.Subtract(zero, TS.Fma(s02, s03, TS.Multiply(s12, s13)));     // s20·s03 + s21·s13
        // S³ = S·S² (skew): (S³)_ij = Σ_k s_ik·(S²)_kj for i < j.
        TV c01 = TS.Fma(s01, q11, TS.Fma(s02, q12, TS.Multiply(s03, q13)));
        TV c02 = TS.Fma(s01, q12, TS.Fma(s02, q22, TS.Multiply(s03, q23)));
        TV c03 = TS.Fma(s01, q13, TS.Fma(s02, q23, TS.Multiply(s03, q33)));
        TV c12 = TS.Fma(s12, q22, TS.Fma(s13, q23, TS.Multiply(TS.Subtract(zero, s01), q02)));
        TV c13 = TS.Fma(s12, q23, TS.Fma(s13, q33, TS.Multiply(TS.Subtract(zero, s01), q03)));
        TV c23 = TS.Fma(s23, q33, TS.Fma(TS.Subtract(zero, s02), q03, TS.Multiply(TS.Subtract(zero, s12), q13)));
        // a = Σ_{i<j} s_ij² = −tr(S²)/2: every s_ij² stands in two diagonal entries of S².
        TV a = TS.Multiply(TS.Create(-0.5f), TS.Add(TS.Add(q00, q11), TS.Add(q22, q33)));
        TV pf = TS.Fma(s01, s23, TS.Subtract(TS.Multiply(s03, s12), TS.Multiply(s02, s13)));
        TV pp = TS.Multiply(pf, pf), one = TS.Create(1f);
        TV alpha, beta, gamma, delta; // C = α·I + β·S + γ·S² + δ·S³
        if (shape.IsExact)
        {
            TV onePlusA = TS.Add(one, a), scale = TS.Divide(one, TS.Add(onePlusA, pp)), twoScale = TS.Add(scale, scale);
            alpha = TS.Multiply(TS.Subtract(onePlusA, pp), scale);
            beta = TS.Subtract(zero, TS.Multiply(onePlusA, twoScale));
            gamma = twoScale;
            delta = TS.Subtract(zero, twoScale);
        }
        else
        {
            // R ← R·S + c_k·I, with (α, β, γ, δ)·S = (−p²·δ, α, β − a·δ, γ).
            alpha = beta = gamma = delta = zero;
            for (int k = coefficients.Length - 1; k >= 0; k--)
            {
                TV nextAlpha = TS.Subtract(TS.Create(coefficients[k]), TS.Multiply(pp, delta));
                TV nextGamma = TS.Subtract(beta, TS.Multiply(a, delta));
                delta = gamma;
                gamma = nextGamma;
                beta = alpha;
                alpha = nextAlpha;
            }
        }
        // Row-major C into the lane matrix: diagonal α + γ·(S²)_ii; off-diagonal β·s_ij + γ·(S²)_ij + δ·(S³)_ij, with the odd
        // (skew) terms negated below the diagonal.
        TS.Store(TS.Fma(gamma, q00, alpha), ref At(ref temp, b, 0, 0, v));
        TS.Store(TS.Fma(gamma, q11, alpha), ref At(ref temp, b, 1, 1, v));
        TS.Store(TS.Fma(gamma, q22, alpha), ref At(ref temp, b, 2, 2, v));
        TS.Store(TS.Fma(gamma, q33, alpha), ref At(ref temp, b, 3, 3, v));
        PutPair<TS, TV>(ref temp, 0, 1, TS.Multiply(gamma, q01), TS.Fma(delta, c01, TS.Multiply(beta, s01)));
        PutPair<TS, TV>(ref temp, 0, 2, TS.Multiply(gamma, q02), TS.Fma(delta, c02, TS.Multiply(beta, s02)));
        PutPair<TS, TV>(ref temp, 0, 3, TS.Multiply(gamma, q03), TS.Fma(delta, c03, TS.Multiply(beta, s03)));
        PutPair<TS, TV>(ref temp, 1, 2, TS.Multiply(gamma, q12), TS.Fma(delta, c12, TS.Multiply(beta, s12)));
        PutPair<TS, TV>(ref temp, 1, 3, TS.Multiply(gamma, q13), TS.Fma(delta, c13, TS.Multiply(beta, s13)));
        PutPair<TS, TV>(ref temp, 2, 3, TS.Multiply(gamma, q23), TS.Fma(delta, c23, TS.Multiply(beta, s23)));
        StoreLanes<TS, TV>(ref temp, first, lanes, 16, ref blocks);
    }

    /// <summary>C[r, c] = symmetric + odd and C[c, r] = symmetric − odd in a 4 × 4 lane matrix.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PutPair<TS, TV>(ref float matrix, int r, int c, TV symmetric, TV odd)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        TS.Store(TS.Add(symmetric, odd), ref At(ref matrix, 4, r, c, TS.Count));
        TS.Store(TS.Subtract(symmetric, odd), ref At(ref matrix, 4, c, r, TS.Count));
    }

    /// <summary>
    /// b = 2 in closed form for blocks [first, end). S = [[0, s], [−s, 0]] with s = ½(a01 − a10) (BOFT) or w (OFTv2), and
    /// S² = −s²·I, so the exact map is C = [[1 − s², −2s], [2s, 1 − s²]] / (1 + s²), and the Cayley–Neumann series
    /// Σ_p c_p S^p = α·I + β·S with α = Σ_even c_p (−s²)^(p/2), β = Σ_odd c_p (−s²)^((p−1)/2) (Horner in −s²).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PairsForward(CayleyShape shape, float[] coefficients, ReadOnlySpan<float> parameters, Span<float> blocks, int first, int end)
    {
        int length = shape.ParameterBlockLength;
        bool half = shape.Skew == SkewKind.HalfDifference;
        for (int j = first; j < end; j++)
        {
            ReadOnlySpan<float> p = parameters.Slice(j * length, length);
            float sk = half ? 0.5f * (p[1] - p[2]) : p[0], minusSquare = -sk * sk;
            float diagonal, offDiagonal; // C = [[diagonal, offDiagonal], [−offDiagonal, diagonal]]
            if (shape.IsExact)
            {
                float scale = 1f / (1f - minusSquare);
                diagonal = (1f + minusSquare) * scale;
                offDiagonal = -2f * sk * scale;
            }
            else
            {
                float alpha = 0f, beta = 0f;
                for (int q = coefficients.Length - 1; q >= 0; q--)
                {
                    if (q % 2 == 0)
                        alpha = MathF.FusedMultiplyAdd(alpha, minusSquare, coefficients[q]);
                    else
                        beta = MathF.FusedMultiplyAdd(beta, minusSquare, coefficients[q]);
                }
                diagonal = alpha;
                offDiagonal = beta * sk;
            }
            Span<float> block = blocks.Slice(j * 4, 4);
            block[0] = diagonal;
            block[1] = offDiagonal;
            block[2] = -offDiagonal;
            block[3] = diagonal;
        }
    }

    /// <summary>gradParameters[blk] += VJP for blocks 0 … count−1 (skipping masked ones).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardBatch<TS, TV>(CayleyShape shape, float[] coefficients, float[] parameters, int parametersOffset, float[] blocks, int blocksOffset,
        float[] gradBlocks, int gradBlocksOffset, bool[]? skip, float[] gradParameters, int gradParametersOffset, int count, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int b = shape.BlockSize, v = TS.Count;
        if (!shape.IsExact && coefficients.Length <= 1)
            return; // C = c_0·I does not depend on the parameters
        long workPerBlock = 4L * b * b * b * Math.Max(1, coefficients.Length);
        if (b <= LanesMaxBlockSize)
        {
            int groups = (count + v - 1) / v;
            SimdParallel.For(groups, workPerBlock * count, maxDegreeOfParallelism, group =>
            {
                int first = group * v, lanes = Math.Min(v, count - first);
                LanesBackward<TS, TV>(shape, coefficients, ref parameters[parametersOffset], ref blocks[blocksOffset], ref gradBlocks[gradBlocksOffset], skip,
                    ref gradParameters[gradParametersOffset], first, lanes);
            });
        }
        else
        {
            SimdParallel.For(count, workPerBlock * count, maxDegreeOfParallelism, blk =>
            {
                if (skip is null || !skip[blk])
                    RowsBackward<TS, TV>(shape, coefficients, ref parameters[parametersOffset], ref blocks[blocksOffset], ref gradBlocks[gradBlocksOffset],
                        ref gradParameters[gradParametersOffset], blk);
            });
        }
    }

    /// <summary>The skew entry S[r, c] (BOFT: (A[r,c] − A[c,r])/2; OFT: ±w_t) of parameter block <paramref name="block"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float SkewEntry(CayleyShape shape, ref float parameters, int block, int r, int c)
    {
        int b = shape.BlockSize;
        if (shape.Skew == SkewKind.HalfDifference)
        {
            ref float a = ref Unsafe.Add(ref parameters, (nint)block * b * b);
            return 0.5f * (Unsafe.Add(ref a, r * b + c) - Unsafe.Add(ref a, c * b + r));
        }
        if (r == c)
            return 0;
        ref float w = ref Unsafe.Add(ref parameters, (nint)block * (b * (b - 1) / 2));
        return r < c ? Unsafe.Add(ref w, PackedIndex(b, r, c)) : -Unsafe.Add(ref w, PackedIndex(b, c, r));
    }

    /// <summary>Index of (r, c), r &lt; c, in the row-major strict upper triangle.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int PackedIndex(int b, int r, int c) => r * (2 * b - r - 1) / 2 + (c - r - 1);

    /// <summary>gradParameters[block] += adjoint of the skew map applied to ∂L/∂S given as a getter over (r, c).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AccumulateSkewAdjoint(CayleyShape shape, ReadOnlySpan<float> gradSkew, ref float gradParameters, int block)
    {
        int b = shape.BlockSize;
        if (shape.Skew == SkewKind.HalfDifference)
        {
            ref float g = ref Unsafe.Add(ref gradParameters, (nint)block * b * b);
            for (int r = 0; r < b; r++)
                for (int c = 0; c < b; c++)
                    Unsafe.Add(ref g, r * b + c) += 0.5f * (gradSkew[r * b + c] - gradSkew[c * b + r]);
            return;
        }
        ref float w = ref Unsafe.Add(ref gradParameters, (nint)block * (b * (b - 1) / 2));
        int t = 0;
        for (int r = 0; r < b; r++)
            for (int c = r + 1; c < b; c++, t++)
                Unsafe.Add(ref w, t) += gradSkew[r * b + c] - gradSkew[c * b + r];
    }

    #region Blocks in lanes (b ≤ 32)

    // A "lane matrix" of n columns stores element (r, c) of up to V blocks as one vector at ((r·n + c)·V).

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref float At(ref float matrix, int columns, int r, int c, int v) => ref Unsafe.Add(ref matrix, ((nint)r * columns + c) * v);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LanesForward<TS, TV>(CayleyShape shape, float[] coefficients, ref float parameters, ref float blocks, int first, int lanes)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int b = shape.BlockSize, bb = b * b, v = TS.Count;
        if (b == 4)
        {
            Lanes4Forward<TS, TV>(shape, coefficients, ref parameters, ref blocks, first, lanes);
            return;
        }
        if (shape.IsExact)
        {
            // 2M = ((I + S)/2)⁻¹ by in-place Gauss–Jordan (b³ multiply-adds, b² vectors), then C = 2M − I = (I − S)(I + S)⁻¹
            // on the diagonal only. Halving is exact and every step of the elimination scales by powers of two with it, so
            // the result has the bits of 2·(I + S)⁻¹, without a pass over the b² elements to double them.
            Span<float> scratch = Scratch.Get(2 * bb * v);
            ref float a = ref scratch[0];
            ref float temp = ref scratch[bb * v];
            LoadSkewLanes<TS, TV>(shape, ref parameters, first, lanes, ref a, ref temp, scale: 0.5f, diagonal: 0.5f);
            LanesInvert<TS, TV>(ref a, b);
            TV one = TS.Create(1f);
            for (int r = 0; r < b; r++)
            {
                ref float diagonal = ref At(ref a, b, r, r, v);
                TS.Store(TS.Subtract(TS.Load(ref diagonal), one), ref diagonal);
            }
            StoreLanes<TS, TV>(ref a, first, lanes, bb, ref blocks);
            return;
        }

        // Cayley–Neumann: C = Σ_p c_p Q^p by Horner in Q² over pairs of terms (Paterson–Stockmeyer with s = 2):
        // A_j = c_{2j} I + c_{2j+1} Q, the last pair also taking c_{2J} Q² when the term count is odd; C = A_0 + Q²(A_1 + Q²(…)).
        // Block products: 1 + ⌊terms/2⌋ − 1 (PEFT's 5 terms: 2, where the power-by-power sum took 3).
        Span<float> buffers = Scratch.Get(4 * bb * v);
        ref float q = ref buffers[0];
        ref float qq = ref buffers[bb * v];
        ref float product = ref buffers[2 * bb * v];
        ref float result = ref buffers[3 * bb * v];
        LoadSkewLanes<TS, TV>(shape, ref parameters, first, lanes, ref q, ref product);
        int terms = coefficients.Length, pairs = Math.Max(1, terms / 2);
        bool squared = terms > 2;
        if (squared)
            LanesMultiply<TS, TV>(ref q, false, ref q, false, ref qq, b);
        for (int j = pairs - 1; j >= 0; j--)
        {
            if (j < pairs - 1)
                LanesMultiply<TS, TV>(ref qq, false, ref result, false, ref product, b);
            float c0 = 2 * j < terms ? coefficients[2 * j] : 0f, c1 = 2 * j + 1 < terms ? coefficients[2 * j + 1] : 0f;
            bool top = j == pairs - 1 && terms % 2 == 1 && terms > 2;
            TV cq = TS.Create(c1), cqq = TS.Create(top ? coefficients[terms - 1] : 0f), cI = TS.Create(c0);
            for (int r = 0; r < b; r++)
                for (int c = 0; c < b; c++)
                {
                    nint e = ((nint)r * b + c) * v;
                    TV value = j < pairs - 1 ? TS.Load(ref Unsafe.Add(ref product, e)) : TS.Zero;
                    if (top)
                        value = TS.Fma(cqq, TS.Load(ref Unsafe.Add(ref qq, e)), value);
                    value = TS.Fma(cq, TS.Load(ref Unsafe.Add(ref q, e)), value);
                    if (r == c)
                        value = TS.Add(value, cI);
                    TS.Store(value, ref Unsafe.Add(ref result, e));
                }
        }
        StoreLanes<TS, TV>(ref result, first, lanes, bb, ref blocks);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LanesBackward<TS, TV>(CayleyShape shape, float[] coefficients, ref float parameters, ref float blocks, ref float gradBlocks, bool[]? skip,
        ref float gradParameters, int first, int lanes)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int b = shape.BlockSize, bb = b * b, v = TS.Count;
        int degree = coefficients.Length - 1;
        int matrices = shape.IsExact ? 4 : degree + 4;
        Span<float> buffers = Scratch.Get(matrices * bb * v);
        ref float g = ref buffers[0];
        ref float x = ref buffers[bb * v];
        ref float y = ref buffers[2 * bb * v];
        ref float z = ref buffers[3 * bb * v];
        LoadLanes<TS, TV>(ref gradBlocks, first, lanes, bb, ref g);
        if (shape.IsExact)
        {
            // M = (C + I)/2 into z; X = Mᵀ G; Y = X Mᵀ; ∂L/∂S = −2 Y.
            LoadLanes<TS, TV>(ref blocks, first, lanes, bb, ref z);
            TV half = TS.Create(0.5f);
            for (int r = 0; r < b; r++)
                for (int c = 0; c < b; c++)
                {
                    ref float e = ref At(ref z, b, r, c, v);
                    TV value = TS.Load(ref e);
                    if (r == c)
                        value = TS.Add(value, TS.Create(1f));
                    TS.Store(TS.Multiply(value, half), ref e);
                }
            LanesMultiply<TS, TV>(ref z, true, ref g, false, ref x, b);
            LanesMultiply<TS, TV>(ref x, false, ref z, true, ref y, b);
            TV minusTwo = TS.Create(-2f);
            for (int e = 0; e < bb; e++)
                TS.Store(TS.Multiply(TS.Load(ref Unsafe.Add(ref y, e * v)), minusTwo), ref Unsafe.Add(ref y, e * v));
        }
        else
        {
            // Q in z; B_j in the degree matrices after z; Horner for Σ_j (Qᵀ)^j G B_j into y.
            ref float q = ref z;
            ref float bs = ref buffers[4 * bb * v];
            LoadSkewLanes<TS, TV>(shape, ref parameters, first, lanes, ref q, ref x);
            ref float last = ref Unsafe.Add(ref bs, (nint)(degree - 1) * bb * v);
            SetScaledIdentity<TS, TV>(ref last, b, coefficients[degree]);
            for (int j = degree - 2; j >= 0; j--)
            {
                ref float bj = ref Unsafe.Add(ref bs, (nint)j * bb * v);
                LanesMultiply<TS, TV>(ref q, true, ref Unsafe.Add(ref bs, (nint)(j + 1) * bb * v), false, ref bj, b);
                AddScaledIdentity<TS, TV>(ref bj, b, coefficients[j + 1]);
            }
            LanesMultiply<TS, TV>(ref g, false, ref last, false, ref y, b);
            for (int j = degree - 2; j >= 0; j--)
            {
                LanesMultiply<TS, TV>(ref q, true, ref y, false, ref x, b);                                     // x = Qᵀ y
                LanesMultiply<TS, TV>(ref g, false, ref Unsafe.Add(ref bs, (nint)j * bb * v), false, ref y, b); // y = G B_j
                for (int e = 0; e < bb; e++)
                    TS.Store(TS.Add(TS.Load(ref Unsafe.Add(ref y, e * v)), TS.Load(ref Unsafe.Add(ref x, e * v))), ref Unsafe.Add(ref y, e * v));
            }
        }

        // Adjoint of the skew map in lanes (into x), then back to block layout (into g) and added to gradParameters.
        int length = shape.ParameterBlockLength;
        if (shape.Skew == SkewKind.HalfDifference)
        {
            TV half = TS.Create(0.5f);
            for (int r = 0; r < b; r++)
                for (int c = 0; c < b; c++)
                    TS.Store(TS.Multiply(half, TS.Subtract(TS.Load(ref At(ref y, b, r, c, v)), TS.Load(ref At(ref y, b, c, r, v)))), ref At(ref x, b, r, c, v));
        }
        else
        {
            int t = 0;
            for (int r = 0; r < b; r++)
                for (int c = r + 1; c < b; c++, t++)
                    TS.Store(TS.Subtract(TS.Load(ref At(ref y, b, r, c, v)), TS.Load(ref At(ref y, b, c, r, v))), ref Unsafe.Add(ref x, (nint)t * v));
        }
        if (length == 0)
            return;
        Transposer.Transpose<TS, TV>(ref x, v, ref g, length, length, lanes);
        for (int l = 0; l < lanes; l++)
        {
            if (skip is not null && skip[first + l])
                continue;
            Elementwise.AddInPlace<TS, TV>(ref Unsafe.Add(ref g, (nint)l * length), ref Unsafe.Add(ref gradParameters, (nint)(first + l) * length), length);
        }
    }

    /// <summary>
    /// In-place Gauss–Jordan inversion without pivoting of the lane matrix A (b × b): A := A⁻¹ (b³ multiply-adds).
    /// Pivots are taken two at a time (p, q = p + 1): rows p and q are eliminated against each other first, then every other
    /// row r gets both updates in one pass, <c>row_r = fma(g, Q, fma(f, P, row_r))</c>, two FMAs per load and store of
    /// row r (one pivot per pass stored every element once per FMA, and Zen 3 retires one 256-bit store per cycle). The
    /// FMAs, their nesting and the factors are those of two single-pivot steps, so the result is bitwise the same; four
    /// rows share each load of P and Q. An odd last pivot runs alone.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LanesInvert<TS, TV>(ref float a, int b)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        TV one = TS.Create(1f);
        Span<int> others = b <= 256 ? stackalloc int[b] : new int[b];
        int p = 0;
        for (; p + 1 < b; p += 2)
        {
            int q = p + 1;
            nint pv = (nint)p * v, qv = (nint)q * v;
            ref float rowP = ref At(ref a, b, p, 0, v);
            ref float rowQ = ref At(ref a, b, q, 0, v);
            // Step p on rows p and q: P = row_p / a_pp (column p holds 1/a_pp), row_q += f_q·P.
            Normalize<TS, TV>(ref rowP, pv, b, one);
            Eliminate<TS, TV>(ref rowQ, pv, ref rowP, b);
            // Step q's pivot row Q; row p's factor for step q, and P with its column q zeroed (step q zeroes it before adding).
            Normalize<TS, TV>(ref rowQ, qv, b, one);
            TV gp = TS.Subtract(TS.Zero, TS.Load(ref Unsafe.Add(ref rowP, qv)));
            TS.Store(TS.Zero, ref Unsafe.Add(ref rowP, qv));
            int count = 0;
            for (int r = 0; r < b; r++)
                if (r != p && r != q)
                    others[count++] = r;
            int i = 0;
            for (; i + 4 <= count; i += 4)
            {
                ref float r0 = ref At(ref a, b, others[i], 0, v);
                ref float r1 = ref At(ref a, b, others[i + 1], 0, v);
                ref float r2 = ref At(ref a, b, others[i + 2], 0, v);
                ref float r3 = ref At(ref a, b, others[i + 3], 0, v);
                PairFactors<TS, TV>(ref r0, pv, qv, gp, out TV f0, out TV g0);
                PairFactors<TS, TV>(ref r1, pv, qv, gp, out TV f1, out TV g1);
                PairFactors<TS, TV>(ref r2, pv, qv, gp, out TV f2, out TV g2);
                PairFactors<TS, TV>(ref r3, pv, qv, gp, out TV f3, out TV g3);
                for (nint c = 0; c < (nint)b * v; c += v)
                {
                    TV x = TS.Load(ref Unsafe.Add(ref rowP, c)), y = TS.Load(ref Unsafe.Add(ref rowQ, c));
                    TS.Store(TS.Fma(g0, y, TS.Fma(f0, x, TS.Load(ref Unsafe.Add(ref r0, c)))), ref Unsafe.Add(ref r0, c));
                    TS.Store(TS.Fma(g1, y, TS.Fma(f1, x, TS.Load(ref Unsafe.Add(ref r1, c)))), ref Unsafe.Add(ref r1, c));
                    TS.Store(TS.Fma(g2, y, TS.Fma(f2, x, TS.Load(ref Unsafe.Add(ref r2, c)))), ref Unsafe.Add(ref r2, c));
                    TS.Store(TS.Fma(g3, y, TS.Fma(f3, x, TS.Load(ref Unsafe.Add(ref r3, c)))), ref Unsafe.Add(ref r3, c));
                }
            }
            for (; i < count; i++)
            {
                ref float row = ref At(ref a, b, others[i], 0, v);
                PairFactors<TS, TV>(ref row, pv, qv, gp, out TV f, out TV g);
                for (nint c = 0; c < (nint)b * v; c += v)
                    TS.Store(TS.Fma(g, TS.Load(ref Unsafe.Add(ref rowQ, c)), TS.Fma(f, TS.Load(ref Unsafe.Add(ref rowP, c)), TS.Load(ref Unsafe.Add(ref row, c)))),
                        ref Unsafe.Add(ref row, c));
            }
            // Row p's own step-q update, last: the other rows needed P before it.
            AddScaled<TS, TV>(ref rowP, gp, ref rowQ, b);
        }
        if (p < b)
        {
            // The odd last pivot: one step on every other row.
            nint pv = (nint)p * v;
            ref float rowP = ref At(ref a, b, p, 0, v);
            Normalize<TS, TV>(ref rowP, pv, b, one);
            for (int r = 0; r < b; r++)
                if (r != p)
                    Eliminate<TS, TV>(ref At(ref a, b, r, 0, v), pv, ref rowP, b);
        }
    }

    /// <summary>Pivot row of step p in place: <c>row := row / row[p]</c> with <c>row[p] := 1 / row[p]</c> (in-place inverse).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Normalize<TS, TV>(ref float row, nint pv, int b, TV one)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        ref float pivot = ref Unsafe.Add(ref row, pv);
        TV inverse = TS.Divide(one, TS.Load(ref pivot));
        TS.Store(one, ref pivot);
        for (nint c = 0; c < (nint)b * v; c += v)
            TS.Store(TS.Multiply(TS.Load(ref Unsafe.Add(ref row, c)), inverse), ref Unsafe.Add(ref row, c));
    }

    /// <summary>One single-pivot step on <paramref name="row"/>: f = −row[p], row[p] := 0, row += f·pivot row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Eliminate<TS, TV>(ref float row, nint pv, ref float pivotRow, int b)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        TV f = TS.Subtract(TS.Zero, TS.Load(ref Unsafe.Add(ref row, pv)));
        TS.Store(TS.Zero, ref Unsafe.Add(ref row, pv));
        AddScaled<TS, TV>(ref row, f, ref pivotRow, b);
    }

    /// <summary><c>row = fma(factor, other, row)</c> over the b vectors of a lane-matrix row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddScaled<TS, TV>(ref float row, TV factor, ref float other, int b)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        for (nint c = 0; c < (nint)b * v; c += v)
            TS.Store(TS.Fma(factor, TS.Load(ref Unsafe.Add(ref other, c)), TS.Load(ref Unsafe.Add(ref row, c))), ref Unsafe.Add(ref row, c));
    }

    /// <summary>
    /// Row r's factors for the pivot pair (p, q): f = −a_rp (step p), and g = −(a_rq + f·P_q) (step q, a_rq after step p),
    /// computed as fma(f, g_p, −a_rq) with g_p = −P_q: the same single rounding. Zeroes a_rp and a_rq (the in-place inverse
    /// takes them from the pivot rows' columns p and q).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PairFactors<TS, TV>(ref float row, nint pv, nint qv, TV gp, out TV f, out TV g)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        f = TS.Subtract(TS.Zero, TS.Load(ref Unsafe.Add(ref row, pv)));
        g = TS.Fma(f, gp, TS.Subtract(TS.Zero, TS.Load(ref Unsafe.Add(ref row, qv))));
        TS.Store(TS.Zero, ref Unsafe.Add(ref row, pv));
        TS.Store(TS.Zero, ref Unsafe.Add(ref row, qv));
    }

    /// <summary>
    /// <c>result = op(a)·op(b)</c> on lane matrices (b × b); op = transpose when the flag is set; result must not alias.
    /// Register tile: 4 rows × 4 columns (16 accumulators, 8 loads per 16 FMAs) where the JIT has 32 vector registers
    /// (<see cref="Rotation.ThirtyTwoRegisters"/>), else 4 rows × 2 columns (8 accumulators + 6 operands: with AVX2's 16
    /// registers the 4 × 4 tile kept 8 accumulators on the stack, a load–FMA–store round trip each per step, seen with
    /// DOTNET_JitDisasm); then 1-column and 1-row edges. Every element sums t in order, so both tiles give the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LanesMultiply<TS, TV>(ref float a, bool transposeA, ref float bMatrix, bool transposeB, ref float result, int b)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        nint aRow = transposeA ? v : (nint)b * v, aColumn = transposeA ? (nint)b * v : v;
        nint bRow = transposeB ? v : (nint)b * v, bColumn = transposeB ? (nint)b * v : v;
        int r = 0;
        bool wide = Rotation.ThirtyTwoRegisters;
        for (; r + 4 <= b; r += 4)
        {
            int c = 0;
            for (; wide && c + 4 <= b; c += 4)
            {
                TV s00 = TS.Zero, s01 = TS.Zero, s02 = TS.Zero, s03 = TS.Zero, s10 = TS.Zero, s11 = TS.Zero, s12 = TS.Zero, s13 = TS.Zero;
                TV s20 = TS.Zero, s21 = TS.Zero, s22 = TS.Zero, s23 = TS.Zero, s30 = TS.Zero, s31 = TS.Zero, s32 = TS.Zero, s33 = TS.Zero;
                ref float x = ref Unsafe.Add(ref a, r * aRow);
                ref float y = ref Unsafe.Add(ref bMatrix, c * bColumn);
                for (int t = 0; t < b; t++)
                {
                    TV x0 = TS.Load(ref x), x1 = TS.Load(ref Unsafe.Add(ref x, aRow)), x2 = TS.Load(ref Unsafe.Add(ref x, 2 * aRow)), x3 = TS.Load(ref Unsafe.Add(ref x, 3 * aRow));
                    TV y0 = TS.Load(ref y), y1 = TS.Load(ref Unsafe.Add(ref y, bColumn)), y2 = TS.Load(ref Unsafe.Add(ref y, 2 * bColumn)), y3 = TS.Load(ref Unsafe.Add(ref y, 3 * bColumn));
                    s00 = TS.Fma(x0, y0, s00); s01 = TS.Fma(x0, y1, s01); s02 = TS.Fma(x0, y2, s02); s03 = TS.Fma(x0, y3, s03);
                    s10 = TS.Fma(x1, y0, s10); s11 = TS.Fma(x1, y1, s11); s12 = TS.Fma(x1, y2, s12); s13 = TS.Fma(x1, y3, s13);
                    s20 = TS.Fma(x2, y0, s20); s21 = TS.Fma(x2, y1, s21); s22 = TS.Fma(x2, y2, s22); s23 = TS.Fma(x2, y3, s23);
                    s30 = TS.Fma(x3, y0, s30); s31 = TS.Fma(x3, y1, s31); s32 = TS.Fma(x3, y2, s32); s33 = TS.Fma(x3, y3, s33);
                    x = ref Unsafe.Add(ref x, aColumn);
                    y = ref Unsafe.Add(ref y, bRow);
                }
                StoreRow<TS, TV>(ref At(ref result, b, r, c, v), s00, s01, s02, s03);
                StoreRow<TS, TV>(ref At(ref result, b, r + 1, c, v), s10, s11, s12, s13);
                StoreRow<TS, TV>(ref At(ref result, b, r + 2, c, v), s20, s21, s22, s23);
                StoreRow<TS, TV>(ref At(ref result, b, r + 3, c, v), s30, s31, s32, s33);
            }
            for (; c + 2 <= b; c += 2)
            {
                TV s00 = TS.Zero, s01 = TS.Zero, s10 = TS.Zero, s11 = TS.Zero, s20 = TS.Zero, s21 = TS.Zero, s30 = TS.Zero, s31 = TS.Zero;
                ref float x = ref Unsafe.Add(ref a, r * aRow);
                ref float y = ref Unsafe.Add(ref bMatrix, c * bColumn);
                for (int t = 0; t < b; t++)
                {
                    TV y0 = TS.Load(ref y), y1 = TS.Load(ref Unsafe.Add(ref y, bColumn));
                    TV x0 = TS.Load(ref x);
                    s00 = TS.Fma(x0, y0, s00); s01 = TS.Fma(x0, y1, s01);
                    x0 = TS.Load(ref Unsafe.Add(ref x, aRow));
                    s10 = TS.Fma(x0, y0, s10); s11 = TS.Fma(x0, y1, s11);
                    x0 = TS.Load(ref Unsafe.Add(ref x, 2 * aRow));
                    s20 = TS.Fma(x0, y0, s20); s21 = TS.Fma(x0, y1, s21);
                    x0 = TS.Load(ref Unsafe.Add(ref x, 3 * aRow));
                    s30 = TS.Fma(x0, y0, s30); s31 = TS.Fma(x0, y1, s31);
                    x = ref Unsafe.Add(ref x, aColumn);
                    y = ref Unsafe.Add(ref y, bRow);
                }
                TS.Store(s00, ref At(ref result, b, r, c, v)); TS.Store(s01, ref At(ref result, b, r, c + 1, v));
                TS.Store(s10, ref At(ref result, b, r + 1, c, v)); TS.Store(s11, ref At(ref result, b, r + 1, c + 1, v));
                TS.Store(s20, ref At(ref result, b, r + 2, c, v)); TS.Store(s21, ref At(ref result, b, r + 2, c + 1, v));
                TS.Store(s30, ref At(ref result, b, r + 3, c, v)); TS.Store(s31, ref At(ref result, b, r + 3, c + 1, v));
            }
            for (; c < b; c++)
                for (int rr = r; rr < r + 4; rr++)
                    TS.Store(LanesDot<TS, TV>(ref Unsafe.Add(ref a, rr * aRow), aColumn, ref Unsafe.Add(ref bMatrix, c * bColumn), bRow, b), ref At(ref result, b, rr, c, v));
        }
        for (; r < b; r++)
            for (int c = 0; c < b; c++)
                TS.Store(LanesDot<TS, TV>(ref Unsafe.Add(ref a, r * aRow), aColumn, ref Unsafe.Add(ref bMatrix, c * bColumn), bRow, b), ref At(ref result, b, r, c, v));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow<TS, TV>(ref float destination, TV s0, TV s1, TV s2, TV s3)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        TS.Store(s0, ref destination);
        TS.Store(s1, ref Unsafe.Add(ref destination, v));
        TS.Store(s2, ref Unsafe.Add(ref destination, 2 * v));
        TS.Store(s3, ref Unsafe.Add(ref destination, 3 * v));
    }

    /// <summary>Σ_t x[t·xStride] ⊙ y[t·yStride] over t &lt; b (lane-wise).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV LanesDot<TS, TV>(ref float x, nint xStride, ref float y, nint yStride, int b)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        TV sum = TS.Zero;
        for (int t = 0; t < b; t++)
            sum = TS.Fma(TS.Load(ref Unsafe.Add(ref x, t * xStride)), TS.Load(ref Unsafe.Add(ref y, t * yStride)), sum);
        return sum;
    }

    /// <summary>The skew blocks of parameter blocks first … first+lanes−1 as a lane matrix (unused lanes 0), times
    /// <paramref name="scale"/> (a power of two: exact), with <paramref name="diagonal"/> on the diagonal; temp holds b²·V floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LoadSkewLanes<TS, TV>(CayleyShape shape, ref float parameters, int first, int lanes, ref float q, ref float temp, float scale = 1f, float diagonal = 0f)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int b = shape.BlockSize, v = TS.Count;
        LoadLanes<TS, TV>(ref parameters, first, lanes, shape.ParameterBlockLength, ref temp);
        TV onDiagonal = TS.Create(diagonal);
        if (shape.Skew == SkewKind.HalfDifference)
        {
            TV half = TS.Create(0.5f * scale);
            for (int r = 0; r < b; r++)
                for (int c = 0; c < b; c++)
                {
                    // The diagonal is (a_rr − a_rr)/2 + diagonal: 0 + diagonal, or NaN from a NaN or infinite a_rr, as in PEFT.
                    TV value = TS.Multiply(half, TS.Subtract(TS.Load(ref At(ref temp, b, r, c, v)), TS.Load(ref At(ref temp, b, c, r, v))));
                    TS.Store(r == c ? TS.Add(value, onDiagonal) : value, ref At(ref q, b, r, c, v));
                }
            return;
        }
        TV factor = TS.Create(scale);
        int t = 0;
        for (int r = 0; r < b; r++)
        {
            TS.Store(onDiagonal, ref At(ref q, b, r, r, v));
            for (int c = r + 1; c < b; c++, t++)
            {
                TV w = TS.Multiply(factor, TS.Load(ref Unsafe.Add(ref temp, (nint)t * v)));
                TS.Store(w, ref At(ref q, b, r, c, v));
                TS.Store(TS.Subtract(TS.Zero, w), ref At(ref q, b, c, r, v));
            }
        }
    }

    /// <summary>Blocks first … first+lanes−1 (each <paramref name="blockLength"/> floats) → lane matrix (element e of lane l at e·V + l; unused lanes 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LoadLanes<TS, TV>(ref float source, int first, int lanes, int blockLength, ref float destination)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        if (blockLength == 0)
            return;
        if (lanes < v)
            MemoryMarshal.CreateSpan(ref destination, blockLength * v).Clear();
        Transposer.Transpose<TS, TV>(ref Unsafe.Add(ref source, (nint)first * blockLength), blockLength, ref destination, v, lanes, blockLength);
    }

    /// <summary>Lane matrix → blocks first … first+lanes−1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void StoreLanes<TS, TV>(ref float source, int first, int lanes, int blockLength, ref float destination)
        where TS : struct, ISimd<TV>
        where TV : struct =>
        Transposer.Transpose<TS, TV>(ref source, TS.Count, ref Unsafe.Add(ref destination, (nint)first * blockLength), blockLength, blockLength, lanes);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SetScaledIdentity<TS, TV>(ref float matrix, int b, float scale)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        MemoryMarshal.CreateSpan(ref matrix, b * b * v).Clear();
        for (int r = 0; r < b; r++)
            TS.Store(TS.Create(scale), ref At(ref matrix, b, r, r, v));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddScaledIdentity<TS, TV>(ref float matrix, int b, float scale)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        for (int r = 0; r < b; r++)
        {
            ref float e = ref At(ref matrix, b, r, r, v);
            TS.Store(TS.Add(TS.Load(ref e), TS.Create(scale)), ref e);
        }
    }

    #endregion

    #region One block at a time, rows vectorised (b > 32)

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowsForward<TS, TV>(CayleyShape shape, float[] coefficients, ref float parameters, ref float blocks, int block)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int b = shape.BlockSize, bb = b * b;
        ref float output = ref Unsafe.Add(ref blocks, (nint)block * bb);
        if (shape.IsExact)
        {
            int n = (2 * b + TS.Count - 1) / TS.Count * TS.Count; // rows padded to whole vectors (zero padding)
            Span<float> aug = Scratch.Get(b * n);
            aug.Clear();
            for (int r = 0; r < b; r++)
                for (int c = 0; c < b; c++)
                {
                    float s = SkewEntry(shape, ref parameters, block, r, c), identity = r == c ? 1f : 0f;
                    aug[r * n + c] = identity + s;
                    aug[r * n + b + c] = identity - s;
                }
            RowsGaussJordan<TS, TV>(aug, b, n);
            for (int r = 0; r < b; r++)
                aug.Slice(r * n + b, b).CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref output, r * b), b));
            return;
        }
        Span<float> buffers = Scratch.Get(3 * bb);
        Span<float> q = buffers[..bb], power = buffers.Slice(bb, bb), product = buffers.Slice(2 * bb, bb);
        Span<float> result = MemoryMarshal.CreateSpan(ref output, bb);
        LoadSkew(shape, ref parameters, block, q);
        for (int r = 0; r < b; r++)
            for (int c = 0; c < b; c++)
                result[r * b + c] = (r == c ? coefficients[0] : 0f) + (coefficients.Length > 1 ? coefficients[1] * q[r * b + c] : 0f);
        q.CopyTo(power);
        for (int p = 2; p < coefficients.Length; p++)
        {
            RowsMultiply<TS, TV>(power, q, product, b);
            product.CopyTo(power);
            Axpy<TS, TV>(coefficients[p], power, result);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowsBackward<TS, TV>(CayleyShape shape, float[] coefficients, ref float parameters, ref float blocks, ref float gradBlocks,
        ref float gradParameters, int block)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int b = shape.BlockSize, bb = b * b, degree = coefficients.Length - 1;
        int matrices = shape.IsExact ? 4 : degree + 5;
        Span<float> buffers = Scratch.Get(matrices * bb);
        Span<float> g = buffers[..bb], x = buffers.Slice(bb, bb), y = buffers.Slice(2 * bb, bb), z = buffers.Slice(3 * bb, bb);
        MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref gradBlocks, (nint)block * bb), bb).CopyTo(g);
        if (shape.IsExact)
        {
            // z = Mᵀ = ((C + I)/2)ᵀ;  y = (Mᵀ G) Mᵀ;  ∂L/∂S = −2 y.
            ref float c = ref Unsafe.Add(ref blocks, (nint)block * bb);
            for (int r = 0; r < b; r++)
                for (int col = 0; col < b; col++)
                    z[col * b + r] = 0.5f * (Unsafe.Add(ref c, r * b + col) + (r == col ? 1f : 0f));
            RowsMultiply<TS, TV>(z, g, x, b);
            RowsMultiply<TS, TV>(x, z, y, b);
            Elementwise.ScaleInPlace<TS, TV>(ref y[0], bb, -2f);
        }
        else
        {
            // z = Qᵀ (so products by Qᵀ are plain row-major products); B_j after buffer 4; Horner into y.
            Span<float> q = buffers.Slice(4 * bb, bb);
            LoadSkew(shape, ref parameters, block, q);
            for (int r = 0; r < b; r++)
                for (int col = 0; col < b; col++)
                    z[col * b + r] = q[r * b + col];
            Span<float> bs = buffers.Slice(5 * bb, degree * bb);
            Span<float> last = bs.Slice((degree - 1) * bb, bb);
            last.Clear();
            for (int r = 0; r < b; r++)
                last[r * b + r] = coefficients[degree];
            for (int j = degree - 2; j >= 0; j--)
            {
                Span<float> bj = bs.Slice(j * bb, bb);
                RowsMultiply<TS, TV>(z, bs.Slice((j + 1) * bb, bb), bj, b);
                for (int r = 0; r < b; r++)
                    bj[r * b + r] += coefficients[j + 1];
            }
            RowsMultiply<TS, TV>(g, last, y, b);
            for (int j = degree - 2; j >= 0; j--)
            {
                RowsMultiply<TS, TV>(z, y, x, b);
                RowsMultiply<TS, TV>(g, bs.Slice(j * bb, bb), y, b);
                Elementwise.AddInPlace<TS, TV>(ref x[0], ref y[0], bb);
            }
        }
        AccumulateSkewAdjoint(shape, y, ref gradParameters, block);
    }

    /// <summary>
    /// Gauss–Jordan without pivoting on the row-major [A | B] (b × 2b, row stride n ≥ 2b a multiple of the vector width,
    /// padding zero): B := A⁻¹ B. Updates start at the vector boundary at or before column p + 1: the columns before it are
    /// never read again (left of the pivot), so whole vectors can be used without scalar heads.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowsGaussJordan<TS, TV>(Span<float> aug, int b, int n)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        ref float a = ref MemoryMarshal.GetReference(aug);
        for (int p = 0; p < b; p++)
        {
            ref float pivotRow = ref Unsafe.Add(ref a, (nint)p * n);
            int start = (p + 1) / v * v;
            TV inverse = TS.Create(1f / Unsafe.Add(ref pivotRow, p));
            for (int c = start; c < n; c += v)
                TS.Store(TS.Multiply(TS.Load(ref Unsafe.Add(ref pivotRow, c)), inverse), ref Unsafe.Add(ref pivotRow, c));
            for (int r = 0; r < b; r++)
            {
                if (r == p)
                    continue;
                ref float row = ref Unsafe.Add(ref a, (nint)r * n);
                TV factor = TS.Create(-Unsafe.Add(ref row, p));
                for (int c = start; c < n; c += v)
                    TS.Store(TS.Fma(factor, TS.Load(ref Unsafe.Add(ref pivotRow, c)), TS.Load(ref Unsafe.Add(ref row, c))), ref Unsafe.Add(ref row, c));
            }
        }
    }

    /// <summary><c>result = a · b</c>, row-major b × b; result must not alias.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowsMultiply<TS, TV>(ReadOnlySpan<float> a, ReadOnlySpan<float> bMatrix, Span<float> result, int b)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        result.Clear();
        for (int r = 0; r < b; r++)
        {
            Span<float> row = result.Slice(r * b, b);
            for (int t = 0; t < b; t++)
                Axpy<TS, TV>(a[r * b + t], bMatrix.Slice(t * b, b), row);
        }
    }

    /// <summary><c>y += alpha · x</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Axpy<TS, TV>(float alpha, ReadOnlySpan<float> x, Span<float> y)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count, i = 0, length = y.Length;
        ref float xs = ref MemoryMarshal.GetReference(x);
        ref float ys = ref MemoryMarshal.GetReference(y);
        TV a = TS.Create(alpha);
        for (; i + v <= length; i += v)
            TS.Store(TS.Fma(a, TS.Load(ref Unsafe.Add(ref xs, i)), TS.Load(ref Unsafe.Add(ref ys, i))), ref Unsafe.Add(ref ys, i));
        for (; i < length; i++)
            Unsafe.Add(ref ys, i) = MathF.FusedMultiplyAdd(alpha, Unsafe.Add(ref xs, i), Unsafe.Add(ref ys, i));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LoadSkew(CayleyShape shape, ref float parameters, int block, Span<float> q)
    {
        int b = shape.BlockSize;
        for (int r = 0; r < b; r++)
            for (int c = 0; c < b; c++)
                q[r * b + c] = SkewEntry(shape, ref parameters, block, r, c);
    }

    #endregion
}
