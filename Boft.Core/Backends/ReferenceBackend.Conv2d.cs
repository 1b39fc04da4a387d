// The Conv2d family on the reference backend: Boft.Reference.Conv2dReference in double precision; 16-bit tensors hold
// values exact in their type and each stored result is rounded once (ReferenceBackend.Write).

using Boft.Reference;

namespace Boft.Backends;

public sealed partial class ReferenceBackend
{
    /// <inheritdoc />
    protected override void Conv2dCore(Conv2dShape shape, Tensor input, Tensor weight, Tensor? bias, Tensor output, int batch)
    {
        var y = new double[output.Length];
        Conv2dReference.Forward(shape, batch, Read(input), Read(weight), ReadOptional(bias) ?? [], y);
        Write(y, output);
    }

    /// <inheritdoc />
    protected override void Conv2dBackwardInputCore(Conv2dShape shape, Tensor gradOutput, Tensor weight, Tensor gradInput, int batch)
    {
        var gx = new double[gradInput.Length];
        Conv2dReference.BackwardInput(shape, batch, Read(gradOutput), Read(weight), gx);
        Write(gx, gradInput);
    }

    /// <inheritdoc />
    protected override void Conv2dBackwardWeightCore(Conv2dShape shape, Tensor gradOutput, Tensor input, Tensor? gradWeight, Tensor? gradBias, int batch)
    {
        var gw = new double[gradWeight is null ? 0 : shape.WeightLength];
        var gb = new double[gradBias is null ? 0 : shape.OutChannels];
        Conv2dReference.BackwardWeight(shape, batch, Read(gradOutput), Read(input), gw, gb);
        if (gradWeight is not null)
            Accumulate(gw, gradWeight);
        if (gradBias is not null)
            Accumulate(gb, gradBias);
    }

    /// <inheritdoc />
    protected override void RowScaleBackwardCore(Tensor input, Tensor scale, Tensor gradOutput, Tensor? gradInput, Tensor? gradScale, int rowCount, int columnCount)
    {
        var gi = new double[gradInput is null ? 0 : input.Length];
        var gs = new double[gradScale is null ? 0 : rowCount];
        Conv2dReference.RowScaleBackward(Read(input), Read(scale), Read(gradOutput), columnCount, gi, gs);
        if (gradInput is not null)
            Write(gi, gradInput);
        if (gradScale is not null)
            Accumulate(gs, gradScale);
    }
}
