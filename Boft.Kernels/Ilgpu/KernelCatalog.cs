// Every kernel entry point Boft launches, with every instantiation it uses (the block-size structs of the Cayley and rotation
// kernels, the tile sizes of the GEMM, the storage types of the kernels with a 16-bit path), for compile checks and PTX export without a GPU: PTXBackend compiles them for any
// CUDA architecture from a CPU-only ILGPU context. Used by PtxCompileTests and scripts/ptxas-check.sh; the benchmark app
// can call WritePtx for a `ptx` subcommand.

using System.Reflection;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Boft.Kernels.Ilgpu;

/// <summary>One compiled-kernel entry: a display name such as <c>Rotation.ForwardSharedKernel&lt;Size8&gt;</c> and its method.</summary>
/// <param name="Name">Display name (file-name safe after <see cref="KernelEntry.FileName"/>).</param>
/// <param name="Method">The (closed) kernel method.</param>
internal sealed record KernelEntry(string Name, MethodInfo Method)
{
    /// <summary>The name with generic brackets and commas replaced, for file names.</summary>
    public string FileName => Name.Replace('<', '_').Replace(',', '_').Replace(">", "", StringComparison.Ordinal);
}

/// <summary>The list of Boft's kernels and a PTX compiler for them.</summary>
internal static class KernelCatalog
{
    /// <summary>Every kernel and instantiation Boft can launch.</summary>
    public static IReadOnlyList<KernelEntry> All()
    {
        var entries = new List<KernelEntry>();
        void Sized(Type type, string method, IEnumerable<Type> sizes)
        {
            MethodInfo definition = Find(type, method);
            foreach (Type size in sizes)
                entries.Add(new KernelEntry($"{Short(type)}.{method}<{size.Name}>", definition.MakeGenericMethod(size)));
        }
        void Plain(Type type, string method) => entries.Add(new KernelEntry($"{Short(type)}.{method}", Find(type, method)));
        // Kernels with a 16-bit path: one entry per storage codec (named <..., Float32|BFloat16|Float16>), after the size structs.
        void Typed(Type type, string method, IEnumerable<Type> sizes)
        {
            MethodInfo definition = Find(type, method);
            foreach ((Type store, Type codec) in Codecs)
            {
                string codecName = codec.Name.Replace("Codec", "", StringComparison.Ordinal);
                if (!definition.GetGenericArguments()[0].GetGenericParameterConstraints().Contains(typeof(IKernelSize)))
                {
                    entries.Add(new KernelEntry($"{Short(type)}.{method}<{codecName}>", definition.MakeGenericMethod(store, codec)));
                    continue;
                }
                foreach (Type size in sizes)
                    entries.Add(new KernelEntry($"{Short(type)}.{method}<{size.Name},{codecName}>", definition.MakeGenericMethod(size, store, codec)));
            }
        }
        // Kernels launched for the 16-bit codecs only (their float32 case is another kernel): named <..., BFloat16|Float16>.
        void SixteenBit(Type type, string method, IEnumerable<Type> sizes)
        {
            MethodInfo definition = Find(type, method);
            bool sized = definition.GetGenericArguments()[0].GetGenericParameterConstraints().Contains(typeof(IKernelSize));
            foreach ((Type store, Type codec) in Codecs.Where(c => c.Store == typeof(ushort)))
            {
                string codecName = codec.Name.Replace("Codec", "", StringComparison.Ordinal);
                if (!sized)
                {
                    entries.Add(new KernelEntry($"{Short(type)}.{method}<{codecName}>", definition.MakeGenericMethod(store, codec)));
                    continue;
                }
                foreach (Type size in sizes)
                    entries.Add(new KernelEntry($"{Short(type)}.{method}<{size.Name},{codecName}>", definition.MakeGenericMethod(size, store, codec)));
            }
        }

        Sized(typeof(CayleyKernels), nameof(CayleyKernels.ForwardKernel), KernelSizes.AllTypes());
        Sized(typeof(CayleyKernels), nameof(CayleyKernels.BackwardKernel), KernelSizes.AllTypes());
        Sized(typeof(CayleyKernels), nameof(CayleyKernels.ForwardGlobalKernel), [typeof(AnySize)]);
        Sized(typeof(CayleyKernels), nameof(CayleyKernels.BackwardGlobalKernel), [typeof(AnySize)]);
        Plain(typeof(CayleyKernels), nameof(CayleyKernels.CoftProjectKernel));
        Typed(typeof(RotationKernels), nameof(RotationKernels.ForwardSharedKernel), KernelSizes.AllTypes());
        Typed(typeof(RotationKernels), nameof(RotationKernels.ForwardGlobalKernel), KernelSizes.AllTypes());
        Typed(typeof(RotationKernels), nameof(RotationKernels.BackwardSharedKernel), KernelSizes.AllTypes());
        Typed(typeof(RotationKernels), nameof(RotationKernels.BackwardGlobalKernel), KernelSizes.AllTypes());
        Plain(typeof(RotationKernels), nameof(RotationKernels.ReducePartialsKernel));
        Typed(typeof(ScaleBiasKernels), nameof(ScaleBiasKernels.ForwardKernel), []);
        Typed(typeof(ScaleBiasKernels), nameof(ScaleBiasKernels.GradInputKernel), []);
        Typed(typeof(ScaleBiasKernels), nameof(ScaleBiasKernels.ColumnPartialsKernel), []);
        SixteenBit(typeof(ScaleBiasKernels), nameof(ScaleBiasKernels.ForwardFloat32BiasKernel), []);
        Plain(typeof(ScaleBiasKernels), nameof(ScaleBiasKernels.ColumnReduceKernel));
        Typed(typeof(LinearKernels), nameof(LinearKernels.GemmKernel), [typeof(Size4), typeof(Size8), typeof(Size16)]);
        Typed(typeof(LinearKernels), nameof(LinearKernels.GemmDirectKernel), []);
        SixteenBit(typeof(LinearKernels), nameof(LinearKernels.GemmFloat32OutputKernel), [typeof(Size4), typeof(Size8), typeof(Size16)]);
        SixteenBit(typeof(LinearKernels), nameof(LinearKernels.GemmDirectFloat32OutputKernel), []);
        Typed(typeof(LossKernels), nameof(LossKernels.ReduceKernel), []);
        Plain(typeof(LossKernels), nameof(LossKernels.SumPartialsKernel));
        Plain(typeof(LossKernels), nameof(LossKernels.CrossEntropyRowsKernel));
        Plain(typeof(OptimizerKernels), nameof(OptimizerKernels.SgdKernel));
        Plain(typeof(OptimizerKernels), nameof(OptimizerKernels.AdamKernel));
        MethodInfo fill = Find(typeof(ElementwiseKernels), nameof(ElementwiseKernels.FillKernel));
        entries.Add(new KernelEntry("Elementwise.FillKernel<Single>", fill.MakeGenericMethod(typeof(float))));
        entries.Add(new KernelEntry("Elementwise.FillKernel<UInt16>", fill.MakeGenericMethod(typeof(ushort))));
        Plain(typeof(ElementwiseKernels), nameof(ElementwiseKernels.ScaleKernel));
        Plain(typeof(ElementwiseKernels), nameof(ElementwiseKernels.ReluKernel));
        Plain(typeof(ElementwiseKernels), nameof(ElementwiseKernels.ReluBackwardKernel));
        Plain(typeof(ElementwiseKernels), nameof(ElementwiseKernels.ReluBitsKernel));
        Plain(typeof(ElementwiseKernels), nameof(ElementwiseKernels.ReluBackwardBitsKernel));
        // The conv forward and input gradient: images of each codec; beside 16-bit images, a weight (and bias) in float32 or in
        // the images' type: <Images,Weight[,Bias]>.
        MethodInfo convForward = Find(typeof(Conv2dKernels), nameof(Conv2dKernels.ForwardKernel));
        MethodInfo convBackwardInput = Find(typeof(Conv2dKernels), nameof(Conv2dKernels.BackwardInputKernel));
        foreach ((Type store, Type codec) in Codecs)
        {
            string images = codec.Name.Replace("Codec", "", StringComparison.Ordinal);
            (Type Store, Type Codec)[] operands = store == typeof(float) ? [(store, codec)] : [(typeof(float), typeof(Float32Codec)), (store, codec)];
            foreach ((Type weightStore, Type weightCodec) in operands)
            {
                string weight = weightCodec.Name.Replace("Codec", "", StringComparison.Ordinal);
                entries.Add(new KernelEntry($"Conv2d.BackwardInputKernel<{images},{weight}>", convBackwardInput.MakeGenericMethod(store, codec, weightStore, weightCodec)));
                foreach ((Type biasStore, Type biasCodec) in operands)
                    entries.Add(new KernelEntry($"Conv2d.ForwardKernel<{images},{weight},{biasCodec.Name.Replace("Codec", "", StringComparison.Ordinal)}>",
                        convForward.MakeGenericMethod(store, codec, weightStore, weightCodec, biasStore, biasCodec)));
            }
        }
        Typed(typeof(Conv2dKernels), nameof(Conv2dKernels.BackwardWeightKernel), []);
        Typed(typeof(Conv2dKernels), nameof(Conv2dKernels.BiasGradKernel), []);
        Plain(typeof(Conv2dKernels), nameof(Conv2dKernels.RowScaleBackwardKernel));
        return entries;
    }

    /// <summary>The storage types and codecs of the kernels with a 16-bit path (ElementCodecs.cs).</summary>
    public static readonly (Type Store, Type Codec)[] Codecs =
        [(typeof(float), typeof(Float32Codec)), (typeof(ushort), typeof(BFloat16Codec)), (typeof(ushort), typeof(Float16Codec))];

    /// <summary>Compiles one kernel to PTX (all Boft kernels are explicitly grouped).</summary>
    /// <param name="backend">A PTX backend for the target architecture and ISA.</param>
    /// <param name="entry">The kernel.</param>
    /// <returns>The PTX assembly.</returns>
    public static string CompilePtx(PTXBackend backend, KernelEntry entry)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(entry);
        var description = EntryPointDescription.FromExplicitlyGroupedKernel(entry.Method);
        return ((PTXCompiledKernel)backend.Compile(description, KernelSpecialization.Empty)).PTXAssembly;
    }

    /// <summary>
    /// Writes <c>{name}.{arch}.ptx</c> for every kernel into <paramref name="directory"/>, compiled in a plain CPU context (no
    /// ILGPU.Algorithms intrinsics, as in an arbitrary user context). Returns the files written.
    /// </summary>
    /// <param name="directory">Output folder (created).</param>
    /// <param name="architectures">Targets, e.g. SM_80 and SM_90.</param>
    /// <param name="instructionSet">PTX ISA, e.g. ISA_78 (the newest that Debian's ptxas 11.8 accepts).</param>
    /// <returns>The paths written.</returns>
    public static IReadOnlyList<string> WritePtx(string directory, IEnumerable<CudaArchitecture> architectures, CudaInstructionSet instructionSet)
    {
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        using Context context = Context.Create(b => b.CPU());
        foreach (CudaArchitecture architecture in architectures)
        {
            using var backend = new PTXBackend(context, architecture, instructionSet, nvvmAPI: null!);
            foreach (KernelEntry entry in All())
            {
                string path = Path.Combine(directory, $"{entry.FileName}.{ArchitectureName(architecture)}.ptx");
                File.WriteAllText(path, CompilePtx(backend, entry));
                written.Add(path);
            }
        }
        return written;
    }

    /// <summary>sm_XY for a CUDA architecture.</summary>
    public static string ArchitectureName(CudaArchitecture architecture) => $"sm_{architecture.Major}{architecture.Minor}";

    private static MethodInfo Find(Type type, string name) =>
        type.GetMethod(name, BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public) ?? throw new MissingMethodException(type.FullName, name);

    private static string Short(Type type) => type.Name.Replace("Kernels", "", StringComparison.Ordinal);
}
