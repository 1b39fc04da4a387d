// The SIMD backend's Conv2d family over 16-bit activations (docs/09_Mixed-precision.md): the float32 im2col kernels run on
// chunks of whole images, each chunk widened (exact) into pooled float32 scratch (at most 8 MiB an operand, as the other
// 16-bit ops) and each 16-bit result rounded once (RNE) as it is written back. The weight and bias are float32 (a weight
// derived from float32 masters, such as the adapters' merged W') or frozen in the activation type; a 16-bit one is
// widened once per call (a conv weight is small next to the images it filters). The weight and bias gradients are float32
// and accumulate chunk after chunk in a fixed order, so results stay bit-identical from run to run.

using Boft.Backends;

namespace Boft.Kernels.Simd;

public sealed partial class SimdBackend
{
    /// <summary>A float32 copy of a small 16-bit operand (weight, bias), or null when it already is float32.</summary>
    private SimdTensor? WidenedCopy(SimdTensor? tensor)
    {
        if (tensor is null || !tensor.ElementType.IsSixteenBit())
            return null;
        var wide = new SimdTensor(this, [tensor.Length]);
        WidenRows(tensor, 0, 1, tensor.Length, wide);
        return wide;
    }

    private void Conv2dSixteenBit(Conv2dShape shape, SimdTensor input, SimdTensor weight, SimdTensor? bias, SimdTensor output, int batch)
    {
        using SimdTensor? wideWeight = WidenedCopy(weight), wideBias = WidenedCopy(bias);
        int inputLength = shape.InputImageLength, outputLength = shape.OutputImageLength;
        int columns = Math.Max(inputLength, outputLength);
        WithScratch(2, (long)Math.Min(batch, ChunkRows(columns)) * columns, s => ForChunks(batch, columns, (image0, images) =>
        {
            WidenRows(input, image0, images, inputLength, s[0]);
            Conv2dCore(shape, s[0], wideWeight ?? weight, wideBias ?? bias, s[1], images);
            StoreRounded(s[1], output, image0, images, outputLength);
        }));
    }

    private void Conv2dBackwardInputSixteenBit(Conv2dShape shape, SimdTensor gradOutput, SimdTensor weight, SimdTensor gradInput, int batch)
    {
        using SimdTensor? wideWeight = WidenedCopy(weight);
        int inputLength = shape.InputImageLength, outputLength = shape.OutputImageLength;
        int columns = Math.Max(inputLength, outputLength);
        WithScratch(2, (long)Math.Min(batch, ChunkRows(columns)) * columns, s => ForChunks(batch, columns, (image0, images) =>
        {
            WidenRows(gradOutput, image0, images, outputLength, s[0]);
            Conv2dBackwardInputCore(shape, s[0], wideWeight ?? weight, s[1], images);
            StoreRounded(s[1], gradInput, image0, images, inputLength);
        }));
    }

    private void Conv2dBackwardWeightSixteenBit(Conv2dShape shape, SimdTensor gradOutput, SimdTensor input, SimdTensor? gradWeight, SimdTensor? gradBias, int batch)
    {
        int inputLength = shape.InputImageLength, outputLength = shape.OutputImageLength;
        int columns = Math.Max(inputLength, outputLength);
        WithScratch(2, (long)Math.Min(batch, ChunkRows(columns)) * columns, s => ForChunks(batch, columns, (image0, images) =>
        {
            WidenRows(gradOutput, image0, images, outputLength, s[0]);
            WidenRows(input, image0, images, inputLength, s[1]);
            Conv2dBackwardWeightCore(shape, s[0], s[1], gradWeight, gradBias, images);
        }));
    }
}
