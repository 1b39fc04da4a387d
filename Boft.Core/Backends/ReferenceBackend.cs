// A backend that runs every op through the double-precision reference (Boft.Reference) on host memory, storing float32.
// It is the oracle behind the backend contract: slow (single-threaded scalar code), exact up to the float32 storage, and
// never chosen by default. Use it to debug a pipeline or to check another backend end to end.

using Boft.Reference;

namespace Boft.Backends;

/// <summary>The double-precision reference behind the <see cref="BoftBackend"/> contract (host memory, float32 storage).</summary>
public sealed partial class ReferenceBackend : BoftBackend
{
    /// <inheritdoc />
    public override string Name => "Reference";

    /// <inheritdoc />
    protected override Tensor AllocateCore(int[] shape) => new HostTensor(this, shape, ElementType.Float32);

    /// <inheritdoc />
    protected override Tensor AllocateCore(int[] shape, ElementType elementType) => new HostTensor(this, shape, elementType);

    /// <inheritdoc />
    public override bool Supports(ElementType elementType) => true;

    /// <inheritdoc />
    public override bool HasSixteenBitPath(SixteenBitOperation operation) => true;

    /// <inheritdoc />
    protected override void SynchronizeCore()
    {
    }

    private static double[] Read(Tensor t) => Array.ConvertAll(((HostTensor)t).Data, v => (double)v);

    private static double[]? ReadOptional(Tensor? t) => t is null ? null : Read(t);

    // 16-bit tensors hold float32 values that are exact in their type: each stored result is rounded once, from the double
    // result, to the tensor's type (the contract's one rounding at the store).
    private static void Write(double[] values, Tensor t)
    {
        float[] data = ((HostTensor)t).Data;
        ElementType type = t.ElementType;
        for (int i = 0; i < data.Length; i++)
            data[i] = ElementConversions.Round(values[i], type);
    }

    private static void Accumulate(double[] values, Tensor t)
    {
        float[] data = ((HostTensor)t).Data;
        for (int i = 0; i < data.Length; i++)
            data[i] = (float)(data[i] + values[i]);
    }

    /// <inheritdoc />
    protected override void CayleyForwardCore(CayleyShape shape, Tensor parameters, Tensor? identityMask, Tensor blocks)
    {
        var result = new double[shape.BlocksLength];
        CayleyBatchReference.Forward(shape, Read(parameters), ReadOptional(identityMask) ?? [], result);
        Write(result, blocks);
    }

    /// <inheritdoc />
    protected override void CayleyBackwardCore(CayleyShape shape, Tensor parameters, Tensor blocks, Tensor gradBlocks, Tensor? identityMask, Tensor gradParameters)
    {
        var gradParams = new double[shape.ParametersLength];
        CayleyBatchReference.Backward(shape, Read(parameters), Read(gradBlocks), ReadOptional(identityMask) ?? [], gradParams);
        Accumulate(gradParams, gradParameters);
    }

    /// <inheritdoc />
    protected override void CoftProjectCore(CayleyShape shape, double radius, Tensor parameters)
    {
        double[] p = Read(parameters);
        CoftReference.Project(p, shape.BlockSize, radius, p);
        Write(p, parameters);
    }

    /// <inheritdoc />
    protected override void RotateCore(RotationShape shape, Tensor input, Tensor blocks, bool transpose, Tensor output, int rowCount)
    {
        double[] x = Read(input);
        RotationReference.Forward(shape, x, Read(blocks), transpose, x);
        Write(x, output);
    }

    /// <inheritdoc />
    protected override void RotateBackwardCore(RotationShape shape, Tensor input, Tensor blocks, Tensor gradOutput, Tensor gradInput, Tensor gradBlocks, int rowCount)
    {
        double[] x = Read(input);
        var gx = new double[x.Length];
        var gc = new double[shape.BlocksLength];
        RotationReference.Backward(shape, x, Read(blocks), Read(gradOutput), gx, gc);
        Write(gx, gradInput);
        Write(gc, gradBlocks);
    }

    /// <inheritdoc />
    protected override void MergeCore(RotationShape shape, Tensor weight, Tensor blocks, Tensor? scale, Tensor output, int outFeatureCount)
    {
        double[] w = Read(weight);
        RotationReference.Forward(shape, w, Read(blocks), transpose: true, w);
        double[]? s = ReadOptional(scale);
        if (s is not null)
            for (int o = 0; o < outFeatureCount; o++)
                for (int t = 0; t < shape.FeatureCount; t++)
                    w[o * shape.FeatureCount + t] *= s[o];
        Write(w, output);
    }

    /// <inheritdoc />
    protected override void ScaleBiasCore(Tensor input, Tensor? scale, Tensor? bias, Tensor output, int rowCount, int featureCount)
    {
        double[] x = Read(input);
        LinearReference.ScaleBias(x, ReadOptional(scale) ?? [], ReadOptional(bias) ?? [], featureCount, x);
        Write(x, output);
    }

    /// <inheritdoc />
    protected override void ScaleBiasBackwardCore(Tensor input, Tensor? scale, Tensor gradOutput, Tensor? gradInput, Tensor? gradScale, Tensor? gradBias, int rowCount, int featureCount)
    {
        var gi = new double[gradInput is null ? 0 : input.Length];
        var gs = new double[gradScale is null ? 0 : featureCount];
        var gb = new double[gradBias is null ? 0 : featureCount];
        LinearReference.ScaleBiasBackward(Read(input), ReadOptional(scale) ?? [], Read(gradOutput), featureCount, gi, gs, gb);
        if (gradInput is not null)
            Write(gi, gradInput);
        if (gradScale is not null)
            Accumulate(gs, gradScale);
        if (gradBias is not null)
            Accumulate(gb, gradBias);
    }

    /// <inheritdoc />
    protected override void LinearCore(Tensor input, Tensor weight, Tensor output, int rowCount, int inFeatureCount, int outFeatureCount)
    {
        var y = new double[output.Length];
        LinearReference.Forward(Read(input), Read(weight), inFeatureCount, y);
        Write(y, output);
    }

    /// <inheritdoc />
    protected override void LinearBackwardInputCore(Tensor gradOutput, Tensor weight, Tensor gradInput, int rowCount, int inFeatureCount, int outFeatureCount)
    {
        var gx = new double[gradInput.Length];
        LinearReference.BackwardInput(Read(gradOutput), Read(weight), inFeatureCount, gx);
        Write(gx, gradInput);
    }

    /// <inheritdoc />
    protected override void LinearBackwardWeightCore(Tensor gradOutput, Tensor input, Tensor gradWeight, int rowCount, int inFeatureCount, int outFeatureCount)
    {
        var gw = new double[gradWeight.Length];
        LinearReference.BackwardWeight(Read(gradOutput), Read(input), inFeatureCount, gw);
        Accumulate(gw, gradWeight);
    }

    /// <inheritdoc />
    protected override void ReluCore(Tensor input, Tensor output)
    {
        double[] x = Read(input);
        for (int i = 0; i < x.Length; i++)
            x[i] = Math.Max(x[i], 0);
        Write(x, output);
    }

    /// <inheritdoc />
    protected override void ReluBackwardCore(Tensor input, Tensor gradOutput, Tensor gradInput)
    {
        double[] x = Read(input), g = Read(gradOutput);
        for (int i = 0; i < x.Length; i++)
            g[i] = x[i] > 0 ? g[i] : 0;
        Write(g, gradInput);
    }

    /// <inheritdoc />
    protected override double MseLossCore(Tensor prediction, Tensor target, Tensor? gradPrediction)
    {
        var grad = new double[gradPrediction is null ? 0 : prediction.Length];
        double loss = LossReference.MeanSquaredError(Read(prediction), Read(target), grad);
        if (gradPrediction is not null)
            Write(grad, gradPrediction);
        return loss;
    }

    /// <inheritdoc />
    protected override double SoftmaxCrossEntropyCore(Tensor logits, Tensor labels, Tensor? gradLogits, int rowCount, int classCount)
    {
        float[] raw = ((HostTensor)labels).Data;
        var classes = new int[raw.Length];
        for (int r = 0; r < raw.Length; r++)
        {
            if (!(raw[r] >= 0 && raw[r] < classCount && raw[r] == MathF.Floor(raw[r])))
                throw ShapeChecks.InvalidLabel(r, raw[r], classCount);
            classes[r] = (int)raw[r];
        }
        var grad = new double[gradLogits is null ? 0 : logits.Length];
        double loss = LossReference.SoftmaxCrossEntropy(Read(logits), classes, classCount, grad);
        if (gradLogits is not null)
            Write(grad, gradLogits);
        return loss;
    }

    /// <inheritdoc />
    protected override void SgdStepCore(Tensor parameters, Tensor gradients, Tensor? momentumBuffer, SgdSettings settings, bool firstStep)
    {
        double[] p = Read(parameters);
        double[] buf = momentumBuffer is null ? [] : Read(momentumBuffer);
        OptimizerReference.SgdStep(Read(gradients), settings, firstStep, p, buf);
        Write(p, parameters);
        if (momentumBuffer is not null)
            Write(buf, momentumBuffer);
    }

    /// <inheritdoc />
    protected override void AdamStepCore(Tensor parameters, Tensor gradients, Tensor firstMoment, Tensor secondMoment, AdamSettings settings, int step, double learningRate)
    {
        double[] p = Read(parameters), m = Read(firstMoment), v = Read(secondMoment);
        OptimizerReference.AdamStep(Read(gradients), settings, step, learningRate, p, m, v);
        Write(p, parameters);
        Write(m, firstMoment);
        Write(v, secondMoment);
    }

    /// <inheritdoc />
    protected override void FillCore(Tensor tensor, float value) => Array.Fill(((HostTensor)tensor).Data, ElementConversions.Round(value, tensor.ElementType));

    /// <inheritdoc />
    protected override void ScaleCore(Tensor tensor, float factor)
    {
        float[] data = ((HostTensor)tensor).Data;
        for (int i = 0; i < data.Length; i++)
            data[i] *= factor;
    }

    /// <inheritdoc />
    protected override void CopyCore(Tensor source, Tensor destination) => ((HostTensor)source).Data.AsSpan().CopyTo(((HostTensor)destination).Data);

    /// <inheritdoc />
    protected override void ConvertCore(Tensor source, Tensor destination)
    {
        float[] from = ((HostTensor)source).Data, to = ((HostTensor)destination).Data;
        ElementType type = destination.ElementType;
        for (int i = 0; i < from.Length; i++)
            to[i] = ElementConversions.Round(from[i], type);
    }

    /// <inheritdoc />
    protected override double SumOfSquaresCore(Tensor tensor)
    {
        double sum = 0;
        foreach (float v in ((HostTensor)tensor).Data)
            sum += (double)v * v;
        return sum;
    }

    /// <summary>A tensor in a managed float array; a 16-bit tensor's values are exactly representable in its type.</summary>
    private sealed class HostTensor(ReferenceBackend backend, int[] shape, ElementType elementType) : Tensor(backend, shape, elementType)
    {
        public float[] Data { get; } = new float[CheckedLength(shape)];

        protected override void CopyFromCore(ReadOnlySpan<float> source)
        {
            source.CopyTo(Data);
            ElementConversions.RoundInPlace(Data, ElementType);
        }

        protected override void CopyBitsFromCore(ReadOnlySpan<ushort> source) => ElementConversions.Widen(source, ElementType, Data);

        protected override void CopyBitsToCore(Span<ushort> destination) => ElementConversions.Narrow(Data, ElementType, destination);

        protected override void CopyToCore(Span<float> destination) => Data.AsSpan().CopyTo(destination);

        protected override void DisposeCore()
        {
        }

        private static int CheckedLength(int[] dims)
        {
            long length = 1;
            foreach (int d in dims)
                length *= Math.Max(d, 0);
            return (int)Math.Min(length, int.MaxValue);
        }
    }
}
