// Batched Cayley map (exact and Cayley–Neumann), its handwritten backward, and the COFT projection.
//   exact:    C = (I − S)(I + S)⁻¹ = (I + S)⁻¹(I − S),   S = (A − Aᵀ)/2 (BOFT raw blocks) or U − Uᵀ (OFT packed)
//   Neumann:  C = Σ_p c_p Sᵖ (Horner)
//   backward (parameter gradients ACCUMULATE, +=): exact ∂L/∂S = −2 Mᵀ G Mᵀ with M = (I + S)⁻¹ = (C + I)/2 read back from the
//             forward's blocks (nothing else is saved); Neumann ∂L/∂S = Σ_j (Sᵀ)ʲ G H_j with H_j = Σ_{p>j} c_p (Sᵀ)^{p−1−j},
//             both recurrences run as Horner from j = deg−1 down, so no powers are stored; then the skew adjoint.
//             Masked blocks contribute nothing; with a shared block the copies' G are summed (fixed order) before the VJP.
// Launch geometry: a team of min(b, groupSize) threads per b×b block (one thread for b ≤ 4), one matrix row per thread;
// several teams per group;
// each team holds 2 (forward exact), 3 (forward Neumann, backward exact) or 6 (backward Neumann) b×(b+1) matrices in shared
// memory (b ≤ 32 always fits in 48 KiB; larger OFT blocks, e.g. b = 96, use the *GlobalKernel variants, which keep the
// matrices in a per-group slice of a global workspace instead). The exact solve is Gauss–Jordan on [I + S | I − S] WITHOUT pivoting: I + S has symmetric part I, every Schur
// complement keeps a symmetric part ⪰ I, so every pivot is ≥ 1 (no growth, no division by small numbers).
// Docs: docs/03_Kernels/cayley.md

using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Boft.Backends;
using ILGPU;
using ILGPU.Runtime;
using CayleyBackwardAction = System.Action<ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, Boft.Kernels.Ilgpu.CayleyParams>;
using CayleyBackwardLauncher = System.Action<ILGPU.Runtime.AcceleratorStream, ILGPU.KernelConfig, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, Boft.Kernels.Ilgpu.CayleyParams>;
using CayleyBackwardGlobalAction = System.Action<ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, Boft.Kernels.Ilgpu.CayleyParams>;
using CayleyBackwardGlobalLauncher = System.Action<ILGPU.Runtime.AcceleratorStream, ILGPU.KernelConfig, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, Boft.Kernels.Ilgpu.CayleyParams>;
using CayleyForwardGlobalAction = System.Action<ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<float>, Boft.Kernels.Ilgpu.CayleyParams>;
using CayleyForwardGlobalLauncher = System.Action<ILGPU.Runtime.AcceleratorStream, ILGPU.KernelConfig, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, Boft.Kernels.Ilgpu.CayleyParams>;
using CayleyForwardAction = System.Action<ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    Boft.Kernels.Ilgpu.CayleyParams>;
using CayleyForwardLauncher = System.Action<ILGPU.Runtime.AcceleratorStream, ILGPU.KernelConfig, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, Boft.Kernels.Ilgpu.CayleyParams>;

namespace Boft.Kernels.Ilgpu;

/// <summary>Scalars of the Cayley kernels (one struct keeps the kernel signatures short).</summary>
internal struct CayleyParams
{
    /// <summary>Number of output blocks NB.</summary>
    public int BlockCount;

    /// <summary>b (runtime value; a fixed-size instantiation ignores it).</summary>
    public int BlockSize;

    /// <summary>Threads per team: 1 for b ≤ 4, else min(b, group size); a thread handles rows lane, lane + TeamSize, ...</summary>
    public int TeamSize;

    /// <summary>Teams per group; when &gt; 1, TeamSize is 1 or b.</summary>
    public int TeamsPerGroup;

    /// <summary>Number of team work items: output blocks (forward) or parameter blocks (backward).</summary>
    public int TeamCount;

    /// <summary>1: OFT packed upper triangle, Q = U − Uᵀ; 0: BOFT raw block, S = (A − Aᵀ)/2.</summary>
    public int Packed;

    /// <summary>1: every output block uses parameter block 0.</summary>
    public int Shared;

    /// <summary>1: an identity mask is given.</summary>
    public int HasMask;

    /// <summary>Neumann coefficients c_0..c_deg (count = deg + 1), or 0 for the exact map.</summary>
    public int CoefficientCount;

    /// <summary>Length of one parameter block: b² or b(b−1)/2.</summary>
    public int ParameterBlockLength;

    /// <summary>Floats per shared matrix slot: b·(b + 1) (rows padded by one against bank conflicts).</summary>
    public int SlotStride;

    /// <summary>Matrix slots per team.</summary>
    public int SlotsPerTeam;
}

/// <summary>How a Cayley launch is laid out; WorkspaceFloats &gt; 0 selects the global-workspace kernels.</summary>
internal readonly record struct CayleyPlan(KernelConfig Config, CayleyParams Params, long WorkspaceFloats);

/// <summary>Scalars of the COFT projection kernel.</summary>
internal struct CoftParams
{
    public int ParameterBlockCount;
    public int ParameterBlockLength;
    public float Radius;
}

/// <summary>Device code of the Cayley op.</summary>
internal static class CayleyKernels
{
    /// <summary>Shared matrix slots per team of the forward kernel.</summary>
    public static int ForwardSlots(bool exact) => exact ? 2 : 3;

    /// <summary>Shared matrix slots per team of the backward kernel.</summary>
    public static int BackwardSlots(bool exact) => exact ? 3 : 6;

    /// <summary>Synchronizes a team; a one-thread team (b ≤ 4) needs none. p.TeamSize is uniform, so every thread takes the same branch.</summary>
    private static void TeamBarrier(in CayleyParams p)
    {
        if (p.TeamSize > 1)
            Group.Barrier();
    }

    /// <summary>Index of (r, c), r &lt; c, in the packed strict upper triangle (row-major triu_indices(b, b, 1)).</summary>
    private static int PackedIndex(int r, int c, int b) => r * b - r * (r + 1) / 2 + (c - r - 1);

    /// <summary>Element (r, c) of the skew block built from parameter block <paramref name="parameterBlock"/>.</summary>
    private static float Skew(ArrayView<float> parameters, int parameterBlock, int r, int c, int b, in CayleyParams p)
    {
        int baseIndex = parameterBlock * p.ParameterBlockLength;
        if (p.Packed == 0)
            return 0.5f * (parameters[baseIndex + r * b + c] - parameters[baseIndex + c * b + r]);
        if (r < c)
            return parameters[baseIndex + PackedIndex(r, c, b)];
        if (r > c)
            return -parameters[baseIndex + PackedIndex(c, r, b)];
        return 0f;
    }

    /// <summary>Forward: one team per output block, grid-stride over blocks; matrices in dynamic shared memory.</summary>
    internal static void ForwardKernel<TSize>(ArrayView<float> parameters, ArrayView<float> identityMask, ArrayView<float> coefficients,
        ArrayView<float> blocks, CayleyParams p)
        where TSize : struct, IKernelSize =>
        Forward<TSize>(parameters, identityMask, coefficients, blocks, SharedMemory.GetDynamic<float>(), p);

    /// <summary>Forward with the team matrices in this group's slice of a global workspace (blocks too large for shared memory).</summary>
    internal static void ForwardGlobalKernel<TSize>(ArrayView<float> parameters, ArrayView<float> identityMask, ArrayView<float> coefficients,
        ArrayView<float> blocks, ArrayView<float> workspace, CayleyParams p)
        where TSize : struct, IKernelSize
    {
        int groupFloats = p.TeamsPerGroup * p.SlotsPerTeam * p.SlotStride;
        Forward<TSize>(parameters, identityMask, coefficients, blocks, workspace.SubView(Grid.IdxX * groupFloats, groupFloats), p);
    }

    private static void Forward<TSize>(ArrayView<float> parameters, ArrayView<float> identityMask, ArrayView<float> coefficients,
        ArrayView<float> blocks, ArrayView<float> shared, CayleyParams p)
        where TSize : struct, IKernelSize
    {
        int b = default(TSize).Of(p.BlockSize);
        int tid = Group.IdxX;
        int team = p.TeamSize == 1 ? tid : p.TeamsPerGroup == 1 ? 0 : tid / b;
        int lane = tid - team * p.TeamSize;
        int st = b + 1;
        int teamBase = team * p.SlotsPerTeam * p.SlotStride;
        ArrayView<float> slot0 = shared.SubView(teamBase, p.SlotStride);
        ArrayView<float> slot1 = shared.SubView(teamBase + p.SlotStride, p.SlotStride);
        ArrayView<float> slot2 = p.CoefficientCount == 0 ? slot1 : shared.SubView(teamBase + 2 * p.SlotStride, p.SlotStride);
        Debug.Assert(team < p.TeamsPerGroup && lane >= 0 && lane < p.TeamSize, "Cayley forward: thread maps to a team and a lane");
        Debug.Assert((team + 1) * p.SlotsPerTeam * p.SlotStride <= shared.Length && b * (b + 1) <= p.SlotStride, "Cayley forward: the team's slots fit its scratch");
        for (int first = Grid.IdxX * p.TeamsPerGroup; first < p.TeamCount; first += Grid.DimX * p.TeamsPerGroup)
        {
            int blk = first + team;
            bool active = blk < p.TeamCount;
            int blkc = active ? blk : p.TeamCount - 1;
            int pb = p.Shared != 0 ? 0 : blkc;
            ArrayView<float> result;
            if (p.CoefficientCount == 0)
            {
                // slot0 = L = I + S, slot1 = R = I − S; eliminate L to diagonal, then C = diag(L)⁻¹ R.
                for (int r = lane; r < b; r += p.TeamSize)
                {
                    for (int c = 0; c < b; c++)
                    {
                        float s = Skew(parameters, pb, r, c, b, p);
                        float identity = r == c ? 1f : 0f;
                        slot0[r * st + c] = identity + s;
                        slot1[r * st + c] = identity - s;
                    }
                }
                TeamBarrier(p);
                for (int pivot = 0; pivot < b; pivot++)
                {
                    for (int r = lane; r < b; r += p.TeamSize)
                    {
                        if (r == pivot)
                            continue;
                        float f = slot0[r * st + pivot] / slot0[pivot * st + pivot];
                        for (int c = pivot; c < b; c++)
                            slot0[r * st + c] -= f * slot0[pivot * st + c];
                        for (int c = 0; c < b; c++)
                            slot1[r * st + c] -= f * slot1[pivot * st + c];
                    }
                    TeamBarrier(p);
                }
                for (int r = lane; r < b; r += p.TeamSize)
                {
                    float inverse = 1f / slot0[r * st + r];
                    for (int c = 0; c < b; c++)
                        slot1[r * st + c] *= inverse;
                }
                result = slot1;
            }
            else
            {
                // slot0 = Q; Horner P ← c_j I + Q P from P = c_deg I, ping-pong between slot1 and slot2.
                int degree = p.CoefficientCount - 1;
                float top = coefficients[degree];
                for (int r = lane; r < b; r += p.TeamSize)
                {
                    for (int c = 0; c < b; c++)
                    {
                        slot0[r * st + c] = Skew(parameters, pb, r, c, b, p);
                        slot1[r * st + c] = r == c ? top : 0f;
                    }
                }
                TeamBarrier(p);
                for (int j = degree - 1; j >= 0; j--)
                {
                    bool even = ((degree - 1 - j) & 1) == 0;
                    ArrayView<float> source = even ? slot1 : slot2;
                    ArrayView<float> target = even ? slot2 : slot1;
                    float cj = coefficients[j];
                    for (int r = lane; r < b; r += p.TeamSize)
                    {
                        for (int c = 0; c < b; c++)
                        {
                            float acc = r == c ? cj : 0f;
                            for (int t = 0; t < b; t++)
                                acc += slot0[r * st + t] * source[t * st + c];
                            target[r * st + c] = acc;
                        }
                    }
                    TeamBarrier(p);
                }
                result = (degree & 1) == 0 ? slot1 : slot2;
            }
            bool masked = p.HasMask != 0 && identityMask[blkc] != 0f;
            if (active)
            {
                int outBase = blkc * b * b;
                for (int r = lane; r < b; r += p.TeamSize)
                    for (int c = 0; c < b; c++)
                        blocks[outBase + r * b + c] = masked ? (r == c ? 1f : 0f) : result[r * st + c];
            }
            TeamBarrier(p);
        }
    }

    /// <summary>Backward: one team per parameter block, gradParameters += VJP; matrices in dynamic shared memory.</summary>
    internal static void BackwardKernel<TSize>(ArrayView<float> parameters, ArrayView<float> blocks, ArrayView<float> gradBlocks,
        ArrayView<float> identityMask, ArrayView<float> coefficients, ArrayView<float> gradParameters, CayleyParams p)
        where TSize : struct, IKernelSize =>
        Backward<TSize>(parameters, blocks, gradBlocks, identityMask, coefficients, gradParameters, SharedMemory.GetDynamic<float>(), p);

    /// <summary>Backward with the team matrices in this group's slice of a global workspace.</summary>
    internal static void BackwardGlobalKernel<TSize>(ArrayView<float> parameters, ArrayView<float> blocks, ArrayView<float> gradBlocks,
        ArrayView<float> identityMask, ArrayView<float> coefficients, ArrayView<float> gradParameters, ArrayView<float> workspace, CayleyParams p)
        where TSize : struct, IKernelSize
    {
        int groupFloats = p.TeamsPerGroup * p.SlotsPerTeam * p.SlotStride;
        Backward<TSize>(parameters, blocks, gradBlocks, identityMask, coefficients, gradParameters, workspace.SubView(Grid.IdxX * groupFloats, groupFloats), p);
    }

    private static void Backward<TSize>(ArrayView<float> parameters, ArrayView<float> blocks, ArrayView<float> gradBlocks,
        ArrayView<float> identityMask, ArrayView<float> coefficients, ArrayView<float> gradParameters, ArrayView<float> shared, CayleyParams p)
        where TSize : struct, IKernelSize
    {
        int b = default(TSize).Of(p.BlockSize);
        int tid = Group.IdxX;
        int team = p.TeamSize == 1 ? tid : p.TeamsPerGroup == 1 ? 0 : tid / b;
        int lane = tid - team * p.TeamSize;
        int st = b + 1;
        int bb = b * b;
        int teamBase = team * p.SlotsPerTeam * p.SlotStride;
        bool exact = p.CoefficientCount == 0;
        ArrayView<float> slot0 = shared.SubView(teamBase, p.SlotStride);
        ArrayView<float> slot1 = shared.SubView(teamBase + p.SlotStride, p.SlotStride);
        ArrayView<float> slot2 = shared.SubView(teamBase + 2 * p.SlotStride, p.SlotStride);
        ArrayView<float> slot3 = exact ? slot2 : shared.SubView(teamBase + 3 * p.SlotStride, p.SlotStride);
        ArrayView<float> slot4 = exact ? slot2 : shared.SubView(teamBase + 4 * p.SlotStride, p.SlotStride);
        ArrayView<float> slot5 = exact ? slot2 : shared.SubView(teamBase + 5 * p.SlotStride, p.SlotStride);
        Debug.Assert(team < p.TeamsPerGroup && lane >= 0 && lane < p.TeamSize, "Cayley backward: thread maps to a team and a lane");
        Debug.Assert((team + 1) * p.SlotsPerTeam * p.SlotStride <= shared.Length && b * (b + 1) <= p.SlotStride, "Cayley backward: the team's slots fit its scratch");
        for (int first = Grid.IdxX * p.TeamsPerGroup; first < p.TeamCount; first += Grid.DimX * p.TeamsPerGroup)
        {
            int pbRaw = first + team;
            bool active = pbRaw < p.TeamCount;
            int pb = active ? pbRaw : p.TeamCount - 1;
            // slot1 = G, summed over the copies that use this parameter block (one copy unless shared), masked copies skipped.
            for (int r = lane; r < b; r += p.TeamSize)
            {
                for (int c = 0; c < b; c++)
                {
                    float g = 0f;
                    if (p.Shared != 0)
                    {
                        for (int j = 0; j < p.BlockCount; j++)
                            if (p.HasMask == 0 || identityMask[j] == 0f)
                                g += gradBlocks[j * bb + r * b + c];
                    }
                    else if (p.HasMask == 0 || identityMask[pb] == 0f)
                    {
                        g = gradBlocks[pb * bb + r * b + c];
                    }
                    slot1[r * st + c] = g;
                    if (exact)
                    {
                        int source = p.Shared != 0 ? 0 : pb;
                        slot0[r * st + c] = 0.5f * (blocks[source * bb + r * b + c] + (r == c ? 1f : 0f)); // M = (C + I)/2
                    }
                    else
                    {
                        slot0[r * st + c] = Skew(parameters, pb, r, c, b, p); // Q
                    }
                }
            }
            TeamBarrier(p);
            ArrayView<float> result;
            if (exact)
            {
                // slot2 = T = Mᵀ G; then slot1 = ∂L/∂S = −2 T Mᵀ.
                for (int r = lane; r < b; r += p.TeamSize)
                {
                    for (int c = 0; c < b; c++)
                    {
                        float acc = 0f;
                        for (int t = 0; t < b; t++)
                            acc += slot0[t * st + r] * slot1[t * st + c];
                        slot2[r * st + c] = acc;
                    }
                }
                TeamBarrier(p);
                for (int r = lane; r < b; r += p.TeamSize)
                {
                    for (int c = 0; c < b; c++)
                    {
                        float acc = 0f;
                        for (int t = 0; t < b; t++)
                            acc += slot2[r * st + t] * slot0[c * st + t];
                        slot1[r * st + c] = -2f * acc;
                    }
                }
                TeamBarrier(p);
                result = slot1;
            }
            else
            {
                // X = Qᵀ (read transposed from slot0), G in slot1; H in slot2/slot3, A in slot4/slot5.
                int degree = p.CoefficientCount - 1;
                float top = degree > 0 ? coefficients[degree] : 0f;
                for (int r = lane; r < b; r += p.TeamSize)
                {
                    for (int c = 0; c < b; c++)
                    {
                        slot2[r * st + c] = r == c ? top : 0f;      // H_{deg−1} = c_deg I
                        slot4[r * st + c] = top * slot1[r * st + c]; // A_{deg−1} = G H_{deg−1}
                    }
                }
                TeamBarrier(p);
                for (int j = degree - 2; j >= 0; j--)
                {
                    bool even = ((degree - 2 - j) & 1) == 0;
                    ArrayView<float> h = even ? slot2 : slot3;
                    ArrayView<float> hNext = even ? slot3 : slot2;
                    ArrayView<float> a = even ? slot4 : slot5;
                    ArrayView<float> aNext = even ? slot5 : slot4;
                    float cj = coefficients[j + 1];
                    for (int r = lane; r < b; r += p.TeamSize)
                    {
                        for (int c = 0; c < b; c++)
                        {
                            float acc = r == c ? cj : 0f;
                            for (int t = 0; t < b; t++)
                                acc += slot0[t * st + r] * h[t * st + c]; // H_j = c_{j+1} I + Qᵀ H_{j+1}
                            hNext[r * st + c] = acc;
                        }
                    }
                    TeamBarrier(p);
                    for (int r = lane; r < b; r += p.TeamSize)
                    {
                        for (int c = 0; c < b; c++)
                        {
                            float acc = 0f;
                            for (int t = 0; t < b; t++)
                                acc += slot1[r * st + t] * hNext[t * st + c] + slot0[t * st + r] * a[t * st + c]; // A_j = G H_j + Qᵀ A_{j+1}
                            aNext[r * st + c] = acc;
                        }
                    }
                    TeamBarrier(p);
                }
                int steps = degree > 1 ? degree - 1 : 0;
                result = (steps & 1) == 0 ? slot4 : slot5;
            }
            // Skew adjoint, accumulated into this team's own parameter block.
            if (active)
            {
                int outBase = pb * p.ParameterBlockLength;
                for (int r = lane; r < b; r += p.TeamSize)
                {
                    if (p.Packed == 0)
                    {
                        for (int c = 0; c < b; c++)
                            gradParameters[outBase + r * b + c] += 0.5f * (result[r * st + c] - result[c * st + r]);
                    }
                    else
                    {
                        for (int c = r + 1; c < b; c++)
                            gradParameters[outBase + PackedIndex(r, c, b)] += result[r * st + c] - result[c * st + r];
                    }
                }
            }
            TeamBarrier(p);
        }
    }

    /// <summary>COFT: per packed block, w := radius·w/‖Q‖_F when ‖Q‖_F = sqrt(2 Σ w²) exceeds the radius. One thread per block.</summary>
    internal static void CoftProjectKernel(ArrayView<float> parameters, CoftParams p)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int blk = Grid.IdxX * Group.DimX + Group.IdxX; blk < p.ParameterBlockCount; blk += stride)
        {
            int baseIndex = blk * p.ParameterBlockLength;
            float sum = 0f;
            for (int t = 0; t < p.ParameterBlockLength; t++)
            {
                float w = parameters[baseIndex + t];
                sum += w * w;
            }
            float norm = MathF.Sqrt(2f * sum);
            if (norm > p.Radius)
            {
                for (int t = 0; t < p.ParameterBlockLength; t++)
                    parameters[baseIndex + t] = p.Radius * (parameters[baseIndex + t] / norm);
            }
        }
    }
}

/// <summary>Launchers of the Cayley op.</summary>
public sealed partial class BoftKernels
{
    /// <summary>Largest block size with its own specialized kernels and shared-memory-resident Cayley matrices; larger b run from a global workspace.</summary>
    public const int MaxSpecializedBlockSize = 32;

    [MemberNotNull(nameof(cayleyForward), nameof(cayleyBackward), nameof(cayleyForwardGlobal), nameof(cayleyBackwardGlobal), nameof(coftProject))]
    private void InitializeCayley()
    {
        cayleyForward = new SizedKernel<CayleyForwardAction, CayleyForwardLauncher>(this, typeof(CayleyKernels), nameof(CayleyKernels.ForwardKernel), a => Accelerator.LoadKernel(a));
        cayleyBackward = new SizedKernel<CayleyBackwardAction, CayleyBackwardLauncher>(this, typeof(CayleyKernels), nameof(CayleyKernels.BackwardKernel), a => Accelerator.LoadKernel(a));
        cayleyForwardGlobal = new SizedKernel<CayleyForwardGlobalAction, CayleyForwardGlobalLauncher>(this, typeof(CayleyKernels), nameof(CayleyKernels.ForwardGlobalKernel), a => Accelerator.LoadKernel(a));
        cayleyBackwardGlobal = new SizedKernel<CayleyBackwardGlobalAction, CayleyBackwardGlobalLauncher>(this, typeof(CayleyKernels), nameof(CayleyKernels.BackwardGlobalKernel), a => Accelerator.LoadKernel(a));
        coftProject = Accelerator.LoadKernel<ArrayView<float>, CoftParams>(CayleyKernels.CoftProjectKernel);
    }

    private SizedKernel<CayleyForwardAction, CayleyForwardLauncher> cayleyForward;
    private SizedKernel<CayleyBackwardAction, CayleyBackwardLauncher> cayleyBackward;
    private SizedKernel<CayleyForwardGlobalAction, CayleyForwardGlobalLauncher> cayleyForwardGlobal;
    private SizedKernel<CayleyBackwardGlobalAction, CayleyBackwardGlobalLauncher> cayleyBackwardGlobal;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, CoftParams> coftProject;
    private readonly Dictionary<CayleyShape, ArrayView<float>> coefficientBuffers = [];

    /// <summary>
    /// Batched Cayley map: for each output block j, the skew block S from parameter block <c>shape.ParameterBlockOf(j)</c>, then
    /// <c>C = (I − S)(I + S)⁻¹</c> (exact) or <c>Σ c_p Sᵖ</c> (Cayley–Neumann); blocks with a non-zero mask value become I.
    /// </summary>
    /// <param name="shape">The Cayley shape (b in 1..32).</param>
    /// <param name="parameters">Raw parameters. Shape: [parameterBlockCount, parameterBlockLength].</param>
    /// <param name="identityMask">Optional (<c>default</c> = none). Shape: [blockCount].</param>
    /// <param name="blocks">Output. Shape: [blockCount, blockSize, blockSize].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <param name="workspace">Scratch for blocks too large for shared memory (<see cref="CayleyWorkspaceLength"/>; b &gt; 32 only), or null for the internal one.</param>
    /// <exception cref="ArgumentException">A length does not match the shape, or the workspace is too small.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    /// <exception cref="ObjectDisposedException">These kernels, the accelerator or a buffer are disposed.</exception>
    public void CayleyForward(CayleyShape shape, ArrayView<float> parameters, ArrayView<float> identityMask, ArrayView<float> blocks, AcceleratorStream? stream = null,
        BoftWorkspace? workspace = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        AcceleratorStream s = StreamOf(stream);
        RequireLength(parameters, nameof(parameters), shape.ParametersLength, ShapeChecks.CayleyParametersShape(shape));
        bool hasMask = Optional(identityMask, nameof(identityMask));
        if (hasMask)
            RequireLength(identityMask, nameof(identityMask), shape.BlockCount, ShapeChecks.MaskShape(shape));
        RequireLength(blocks, nameof(blocks), shape.BlocksLength, ShapeChecks.CayleyBlocksShape(shape));
        CayleyPlan plan = PlanCayley(shape, forward: true, shape.BlockCount, hasMask);
        if (plan.WorkspaceFloats == 0)
            cayleyForward.For(shape.BlockSize)(s, plan.Config, parameters, hasMask ? identityMask : None, CoefficientsOf(shape), blocks, plan.Params);
        else
            cayleyForwardGlobal.For(shape.BlockSize)(s, plan.Config, parameters, hasMask ? identityMask : None, CoefficientsOf(shape), blocks,
                Scratch(plan.WorkspaceFloats, workspace, "CayleyForward"), plan.Params);
    }

    /// <summary>
    /// Backward of <see cref="CayleyForward"/>: <c>gradParameters += ∂L/∂parameters</c> from <c>gradBlocks = ∂L/∂C</c>. Exact map:
    /// <c>∂L/∂S = −2 Mᵀ G Mᵀ</c> with <c>M = (C + I)/2</c> taken from <paramref name="blocks"/>; Cayley–Neumann: recomputed from
    /// <paramref name="parameters"/>. Masked blocks contribute nothing; with a shared block the copies' gradients are summed.
    /// </summary>
    /// <param name="shape">The Cayley shape.</param>
    /// <param name="parameters">The forward's parameters. Shape: [parameterBlockCount, parameterBlockLength].</param>
    /// <param name="blocks">The forward's output. Shape: [blockCount, blockSize, blockSize].</param>
    /// <param name="gradBlocks">∂L/∂C. Shape: [blockCount, blockSize, blockSize].</param>
    /// <param name="identityMask">The forward's mask, or <c>default</c>.</param>
    /// <param name="gradParameters">Accumulated (+=). Shape: [parameterBlockCount, parameterBlockLength].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <param name="workspace">Scratch for blocks too large for shared memory (<see cref="CayleyWorkspaceLength"/>; b &gt; 32 only), or null for the internal one.</param>
    /// <exception cref="ArgumentException">A length does not match, or a mask is combined with a shared block and the exact map.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    /// <exception cref="ObjectDisposedException">These kernels, the accelerator or a buffer are disposed.</exception>
    public void CayleyBackward(CayleyShape shape, ArrayView<float> parameters, ArrayView<float> blocks, ArrayView<float> gradBlocks,
        ArrayView<float> identityMask, ArrayView<float> gradParameters, AcceleratorStream? stream = null, BoftWorkspace? workspace = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        AcceleratorStream s = StreamOf(stream);
        RequireLength(parameters, nameof(parameters), shape.ParametersLength, ShapeChecks.CayleyParametersShape(shape));
        RequireLength(blocks, nameof(blocks), shape.BlocksLength, ShapeChecks.CayleyBlocksShape(shape));
        RequireLength(gradBlocks, nameof(gradBlocks), shape.BlocksLength, ShapeChecks.CayleyBlocksShape(shape));
        bool hasMask = Optional(identityMask, nameof(identityMask));
        if (hasMask)
        {
            RequireLength(identityMask, nameof(identityMask), shape.BlockCount, ShapeChecks.MaskShape(shape));
            ShapeChecks.MaskAllowed(shape, hasMask);
        }
        RequireLength(gradParameters, nameof(gradParameters), shape.ParametersLength, ShapeChecks.CayleyParametersShape(shape));
        CayleyPlan plan = PlanCayley(shape, forward: false, shape.ParameterBlockCount, hasMask);
        if (plan.WorkspaceFloats == 0)
            cayleyBackward.For(shape.BlockSize)(s, plan.Config, parameters, blocks, gradBlocks, hasMask ? identityMask : None, CoefficientsOf(shape), gradParameters, plan.Params);
        else
            cayleyBackwardGlobal.For(shape.BlockSize)(s, plan.Config, parameters, blocks, gradBlocks, hasMask ? identityMask : None, CoefficientsOf(shape), gradParameters,
                Scratch(plan.WorkspaceFloats, workspace, "CayleyBackward"), plan.Params);
    }

    /// <summary>
    /// COFT projection in place: each packed block w with <c>‖Q‖_F = sqrt(2 Σ w²) &gt; radius</c> becomes <c>radius·w/‖Q‖_F</c>
    /// (PEFT OFTv2 <c>_project_batch</c>).
    /// </summary>
    /// <param name="shape">A <see cref="SkewKind.PackedUpper"/> shape.</param>
    /// <param name="radius">The Frobenius radius (finite, ≥ 0).</param>
    /// <param name="parameters">Projected in place. Shape: [parameterBlockCount, parameterBlockLength].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">The shape is not packed, or the length does not match.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The radius is negative or not finite.</exception>
    public void CoftProject(CayleyShape shape, float radius, ArrayView<float> parameters, AcceleratorStream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        AcceleratorStream s = StreamOf(stream);
        ShapeChecks.Coft(shape, radius);
        RequireLength(parameters, nameof(parameters), shape.ParametersLength, ShapeChecks.CayleyParametersShape(shape));
        if (shape.ParameterBlockLength == 0)
            return;
        var p = new CoftParams { ParameterBlockCount = shape.ParameterBlockCount, ParameterBlockLength = shape.ParameterBlockLength, Radius = radius };
        coftProject(s, ElementwiseConfig(shape.ParameterBlockCount), parameters, p);
    }

    /// <summary>Floats of workspace <see cref="CayleyForward"/> and <see cref="CayleyBackward"/> need (0 unless the blocks are too large for shared memory).</summary>
    /// <param name="shape">The Cayley shape.</param>
    /// <returns>The length to pass to <see cref="CreateWorkspace"/>.</returns>
    public long CayleyWorkspaceLength(CayleyShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ThrowIfDisposed();
        return Math.Max(PlanCayley(shape, true, shape.BlockCount, false).WorkspaceFloats, PlanCayley(shape, false, shape.ParameterBlockCount, false).WorkspaceFloats);
    }

    /// <summary>The Neumann coefficients on the device (uploaded once per shape), or a placeholder for the exact map.</summary>
    private ArrayView<float> CoefficientsOf(CayleyShape shape)
    {
        if (shape.IsExact)
            return None;
        if (!coefficientBuffers.TryGetValue(shape, out ArrayView<float> view))
        {
            ReadOnlySpan<double> source = shape.NeumannCoefficients;
            var values = new float[source.Length];
            for (int i = 0; i < values.Length; i++)
                values[i] = (float)source[i];
            view = AllocateOwned<float>(values).View.SubView(0, values.Length);
            coefficientBuffers[shape] = view;
        }
        return view;
    }

    /// <summary>Blocks up to this size are solved by one thread each (b³ ≤ 64 multiply-adds per elimination: no team barriers pay off).</summary>
    internal const int SingleThreadBlockSize = 4;

    /// <summary>
    /// Teams of min(b, group size) threads (one thread for b ≤ 4), as many per group as threads and shared memory allow; when one team's matrices do
    /// not fit in shared memory (b ≳ 40), one team per group with its matrices in a global workspace (grid-stride over blocks).
    /// </summary>
    internal CayleyPlan PlanCayley(CayleyShape shape, bool forward, int teamCount, bool hasMask)
    {
        int b = shape.BlockSize;
        bool exact = shape.IsExact;
        int slots = forward ? CayleyKernels.ForwardSlots(exact) : CayleyKernels.BackwardSlots(exact);
        int stride = checked(b * (b + 1));
        long teamFloats = (long)slots * stride;
        bool useShared = teamFloats <= CayleySharedFloats;
        int teamSize = b <= SingleThreadBlockSize ? 1 : Math.Min(b, MaxGroupSize);
        int teams = (teamSize < b && teamSize > 1) || !useShared ? 1 : Math.Max(1, Math.Min(MaxGroupSize / teamSize, (int)(CayleySharedFloats / teamFloats)));
        teams = Math.Max(1, Math.Min(teams, teamCount));
        int grid = Math.Clamp(LaunchMath.CeilDiv(teamCount, teams), 1, GridStrideGroups);
        if (!useShared)
            grid = (int)Math.Max(1, Math.Min(Math.Min(grid, ResidentGroups), Options.MaxWorkspaceBytes / sizeof(float) / teamFloats));
        var p = new CayleyParams
        {
            BlockCount = shape.BlockCount,
            BlockSize = b,
            TeamSize = teamSize,
            TeamsPerGroup = teams,
            TeamCount = teamCount,
            Packed = shape.Skew == SkewKind.PackedUpper ? 1 : 0,
            Shared = shape.Shared ? 1 : 0,
            HasMask = hasMask ? 1 : 0,
            CoefficientCount = shape.NeumannCoefficients.Length,
            ParameterBlockLength = shape.ParameterBlockLength,
            SlotStride = stride,
            SlotsPerTeam = slots,
        };
        KernelConfig config = useShared
            ? new KernelConfig(grid, teams * teamSize, SharedMemoryConfig.RequestDynamic<float>((int)(teams * teamFloats)))
            : new KernelConfig(grid, teamSize);
        return new CayleyPlan(config, p, useShared ? 0 : grid * teamFloats);
    }
}
