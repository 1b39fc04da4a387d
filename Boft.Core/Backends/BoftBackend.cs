// The backend contract: every op of BOFT/OFT training as a validated public method and a protected *Core hook.
// Validation lives here, once, so that every backend (SIMD, ILGPU CPU simulator, CUDA) throws the same
// exceptions before any work is launched. Semantics of each op: docs/02_Ops/*.md.
//
// Gradient convention (llm.c): gradients of *parameters* (gradParameters, gradScale, gradBias, gradWeight)
// accumulate with +=, so several backward passes can be summed before an optimizer step (ZeroGrad is explicit);
// gradients of *activations* and intermediates (gradInput, gradBlocks) are overwritten with =.
// All reductions over rows are deterministic: the same inputs give bit-identical results on every run.

namespace Boft.Backends;

/// <summary>
/// A compute backend for BOFT/OFT: tensors plus the batched Cayley map, the butterfly rotation (forward and backward),
/// scale/bias, merge, the frozen linear map, losses, activations and optimizer steps, all in float32.
/// Instances are not thread-safe. Dispose the backend after its tensors.
/// </summary>
public abstract partial class BoftBackend : IDisposable
{
    private bool disposed;

    /// <summary>The backend's name as used in test names and benchmark tables (e.g. <c>Simd</c>, <c>IlgpuCpu</c>, <c>Cuda</c>).</summary>
    public abstract string Name { get; }

    /// <summary>Whether <see cref="Dispose()"/> has been called.</summary>
    public bool IsDisposed => disposed;

    #region Tensors

    /// <summary>Allocates a zero-filled tensor.</summary>
    /// <param name="shape">The dimensions.</param>
    /// <returns>A new tensor owned by this backend.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is negative or the tensor is too large.</exception>
    /// <exception cref="ObjectDisposedException">The backend is disposed.</exception>
    public Tensor Allocate(params int[] shape)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(shape);
        return AllocateCore((int[])shape.Clone());
    }

    /// <summary>Allocates a tensor and fills it with <paramref name="values"/>.</summary>
    /// <param name="values">Row-major values; their count must equal the product of <paramref name="shape"/>.</param>
    /// <param name="shape">The dimensions.</param>
    /// <returns>A new tensor owned by this backend.</returns>
    /// <exception cref="ArgumentException">The number of values does not match the shape.</exception>
    public Tensor Upload(ReadOnlySpan<float> values, params int[] shape)
    {
        Tensor tensor = Allocate(shape);
        try
        {
            tensor.CopyFrom(values);
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
        return tensor;
    }

    /// <summary>Waits until all queued work of this backend has finished.</summary>
    public void Synchronize()
    {
        ThrowIfDisposed();
        SynchronizeCore();
    }

    #endregion

    #region Cayley

    /// <summary>
    /// Batched Cayley map: for each output block j, builds the skew block from parameter block <c>shape.ParameterBlockOf(j)</c>
    /// and writes <c>C = (I − S)(I + S)⁻¹</c> (exact) or <c>Σ c_p S^p</c> (Cayley–Neumann). Blocks whose mask value is non-zero
    /// are set to the identity (multiplicative dropout, weight interpolation).
    /// </summary>
    /// <param name="shape">The Cayley shape.</param>
    /// <param name="parameters">Raw parameters. Shape: [parameterBlockCount, parameterBlockLength] (any dims with that length).</param>
    /// <param name="identityMask">Optional; length blockCount, 1 = replace the block by I, 0 = keep it (no other values).</param>
    /// <param name="blocks">Output. Shape: [blockCount, blockSize, blockSize] (any dims with that length).</param>
    /// <exception cref="ArgumentException">A tensor length does not match the shape.</exception>
    /// <exception cref="BackendMismatchException">A tensor belongs to another backend.</exception>
    public void CayleyForward(CayleyShape shape, Tensor parameters, Tensor? identityMask, Tensor blocks)
    {
        ArgumentNullException.ThrowIfNull(shape);
        Check(parameters, nameof(parameters));
        RequireLength(parameters, nameof(parameters), shape.ParametersLength, $"[{shape.ParameterBlockCount}, {shape.ParameterBlockLength}] for {shape}");
        CheckMask(shape, identityMask);
        Check(blocks, nameof(blocks));
        RequireLength(blocks, nameof(blocks), shape.BlocksLength, $"[{shape.BlockCount}, {shape.BlockSize}, {shape.BlockSize}] for {shape}");
        CayleyForwardCore(shape, parameters, identityMask, blocks);
    }

    /// <summary>
    /// Backward of <see cref="CayleyForward"/>: <c>gradParameters += ∂L/∂parameters</c> given <c>gradBlocks = ∂L/∂C</c>.
    /// Exact map: <c>∂L/∂S = −2 Mᵀ G Mᵀ</c> with <c>M = (I + S)⁻¹ = (C + I)/2</c> taken from <paramref name="blocks"/>;
    /// Cayley–Neumann: recomputed from <paramref name="parameters"/>. Masked blocks contribute nothing; with a shared block the
    /// copies' gradients are summed.
    /// </summary>
    /// <param name="shape">The Cayley shape.</param>
    /// <param name="parameters">The raw parameters used in the forward. Shape: [parameterBlockCount, parameterBlockLength].</param>
    /// <param name="blocks">The forward's output blocks. Shape: [blockCount, blockSize, blockSize].</param>
    /// <param name="gradBlocks">∂L/∂C. Shape: [blockCount, blockSize, blockSize].</param>
    /// <param name="identityMask">The same mask as in the forward, or null.</param>
    /// <param name="gradParameters">Accumulated (+=). Shape: [parameterBlockCount, parameterBlockLength].</param>
    /// <exception cref="ArgumentException">A tensor length does not match the shape, or a mask is used with a shared block.</exception>
    /// <exception cref="BackendMismatchException">A tensor belongs to another backend.</exception>
    public void CayleyBackward(CayleyShape shape, Tensor parameters, Tensor blocks, Tensor gradBlocks, Tensor? identityMask, Tensor gradParameters)
    {
        ArgumentNullException.ThrowIfNull(shape);
        string paramShape = $"[{shape.ParameterBlockCount}, {shape.ParameterBlockLength}] for {shape}";
        string blockShape = $"[{shape.BlockCount}, {shape.BlockSize}, {shape.BlockSize}] for {shape}";
        Check(parameters, nameof(parameters));
        RequireLength(parameters, nameof(parameters), shape.ParametersLength, paramShape);
        Check(blocks, nameof(blocks));
        RequireLength(blocks, nameof(blocks), shape.BlocksLength, blockShape);
        Check(gradBlocks, nameof(gradBlocks));
        RequireLength(gradBlocks, nameof(gradBlocks), shape.BlocksLength, blockShape);
        CheckMask(shape, identityMask);
        if (identityMask is not null && shape.Shared && shape.IsExact)
            throw new ArgumentException($"identityMask cannot be combined with a shared block and the exact map ({shape}): the shared block's M is taken from block 0.", nameof(identityMask));
        Check(gradParameters, nameof(gradParameters));
        RequireLength(gradParameters, nameof(gradParameters), shape.ParametersLength, paramShape);
        CayleyBackwardCore(shape, parameters, blocks, gradBlocks, identityMask, gradParameters);
    }

    /// <summary>
    /// COFT projection, in place: for each packed parameter block w with <c>Q = U − Uᵀ</c>, if <c>‖Q‖_F &gt; radius</c> then
    /// <c>w := radius · w / ‖Q‖_F</c> (PEFT OFTv2 <c>_project_batch</c>; radius = <c>eps / sqrt(r_param)</c>).
    /// </summary>
    /// <param name="shape">A <see cref="SkewKind.PackedUpper"/> Cayley shape.</param>
    /// <param name="radius">The Frobenius radius (≥ 0).</param>
    /// <param name="parameters">Projected in place. Shape: [parameterBlockCount, parameterBlockLength].</param>
    /// <exception cref="ArgumentException">The shape is not packed, or the length does not match.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The radius is negative or not finite.</exception>
    public void CoftProject(CayleyShape shape, double radius, Tensor parameters)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Skew != SkewKind.PackedUpper)
            throw new ArgumentException($"COFT projection is defined for OFT's packed parameters, but the shape is {shape}.", nameof(shape));
        if (!double.IsFinite(radius) || radius < 0)
            throw new ArgumentOutOfRangeException(nameof(radius), radius, "The COFT radius must be finite and non-negative.");
        Check(parameters, nameof(parameters));
        RequireLength(parameters, nameof(parameters), shape.ParametersLength, $"[{shape.ParameterBlockCount}, {shape.ParameterBlockLength}] for {shape}");
        CoftProjectCore(shape, radius, parameters);
    }

    #endregion

    #region Rotation

    /// <summary>
    /// Applies the rotation to rows without forming R: <c>output = input · R</c> (or <c>input · Rᵀ</c> with
    /// <paramref name="transpose"/>), all m factors fused, permutations applied as gathers.
    /// <paramref name="output"/> may be the same tensor as <paramref name="input"/>.
    /// </summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="input">Rows. Shape: [..., featureCount].</param>
    /// <param name="blocks">Orthogonal blocks. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="transpose">Apply Rᵀ instead of R.</param>
    /// <param name="output">Rows. Same shape as <paramref name="input"/>.</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void Rotate(RotationShape shape, Tensor input, Tensor blocks, bool transpose, Tensor output)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int rows = RequireRows(input, nameof(input), shape.FeatureCount, $"the rotation has d = {shape.FeatureCount}");
        CheckBlocks(shape, blocks, nameof(blocks));
        Check(output, nameof(output));
        RequireSameShape(output, nameof(output), input, nameof(input));
        RotateCore(shape, input, blocks, transpose, output, rows);
    }

    /// <summary>
    /// Backward of <c>output = input · R</c>: <c>gradInput = gradOutput · Rᵀ</c> and
    /// <c>gradBlocks[i, j] = Σ_rows w_i[:, blk j]ᵀ · g_v[:, blk j]</c> (both overwritten; boft-spec §5), reduced deterministically.
    /// </summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="input">The forward's input rows. Shape: [..., featureCount].</param>
    /// <param name="blocks">The forward's blocks. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="gradOutput">∂L/∂output. Same shape as <paramref name="input"/>.</param>
    /// <param name="gradInput">Overwritten with ∂L/∂input. Same shape as <paramref name="input"/>. May alias <paramref name="gradOutput"/>.</param>
    /// <param name="gradBlocks">Overwritten with ∂L/∂blocks. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void RotateBackward(RotationShape shape, Tensor input, Tensor blocks, Tensor gradOutput, Tensor gradInput, Tensor gradBlocks)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int rows = RequireRows(input, nameof(input), shape.FeatureCount, $"the rotation has d = {shape.FeatureCount}");
        CheckBlocks(shape, blocks, nameof(blocks));
        Check(gradOutput, nameof(gradOutput));
        RequireSameShape(gradOutput, nameof(gradOutput), input, nameof(input));
        Check(gradInput, nameof(gradInput));
        RequireSameShape(gradInput, nameof(gradInput), input, nameof(input));
        CheckBlocks(shape, gradBlocks, nameof(gradBlocks));
        if (ReferenceEquals(gradInput, input))
            throw new ArgumentException("gradInput must not alias input: the input is needed while gradients are written.", nameof(gradInput));
        RotateBackwardCore(shape, input, blocks, gradOutput, gradInput, gradBlocks, rows);
    }

    /// <summary>
    /// Merges the adapter into a weight: <c>output = diag(scale) · weight · Rᵀ</c>, by applying the factors to the rows of
    /// <paramref name="weight"/> (never forming R). <paramref name="output"/> may be the same tensor as <paramref name="weight"/>.
    /// </summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="weight">Base weight. Shape: [outFeatureCount, featureCount].</param>
    /// <param name="blocks">Blocks. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="scale">Optional per-output scale. Shape: [outFeatureCount] or [outFeatureCount, 1].</param>
    /// <param name="output">Merged weight. Shape: same as <paramref name="weight"/>.</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void Merge(RotationShape shape, Tensor weight, Tensor blocks, Tensor? scale, Tensor output)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int outFeatures = RequireRows(weight, nameof(weight), shape.FeatureCount, $"the rotation has d = {shape.FeatureCount}");
        CheckBlocks(shape, blocks, nameof(blocks));
        if (scale is not null)
        {
            Check(scale, nameof(scale));
            RequireLength(scale, nameof(scale), outFeatures, $"[{outFeatures}] (one per row of weight {weight.ShapeString})");
        }
        Check(output, nameof(output));
        RequireSameShape(output, nameof(output), weight, nameof(weight));
        MergeCore(shape, weight, blocks, scale, output, outFeatures);
    }

    #endregion

    #region Scale and bias

    /// <summary><c>output = input ⊙ scale + bias</c> per row (scale and bias broadcast over rows; either may be null).
    /// <paramref name="output"/> may alias <paramref name="input"/>.</summary>
    /// <param name="input">Shape: [..., outFeatureCount].</param>
    /// <param name="scale">Optional. Shape: [outFeatureCount] or [outFeatureCount, 1].</param>
    /// <param name="bias">Optional. Shape: [outFeatureCount].</param>
    /// <param name="output">Same shape as <paramref name="input"/>.</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void ScaleBias(Tensor input, Tensor? scale, Tensor? bias, Tensor output)
    {
        Check(input, nameof(input));
        int n = input.LastDimension;
        int rows = RequireRows(input, nameof(input), n, "");
        CheckVector(scale, nameof(scale), n, input);
        CheckVector(bias, nameof(bias), n, input);
        Check(output, nameof(output));
        RequireSameShape(output, nameof(output), input, nameof(input));
        ScaleBiasCore(input, scale, bias, output, rows, n);
    }

    /// <summary>Backward of <see cref="ScaleBias"/>: <c>gradInput = gradOutput ⊙ scale</c> (=), <c>gradScale += Σ_rows gradOutput ⊙ input</c>,
    /// <c>gradBias += Σ_rows gradOutput</c>. Any output may be null to skip it.</summary>
    /// <param name="input">The forward's input. Shape: [..., outFeatureCount].</param>
    /// <param name="scale">The forward's scale, or null (identity).</param>
    /// <param name="gradOutput">Same shape as <paramref name="input"/>.</param>
    /// <param name="gradInput">Optional, overwritten; same shape as <paramref name="input"/>; may alias <paramref name="gradOutput"/>.</param>
    /// <param name="gradScale">Optional, accumulated. Shape: [outFeatureCount] or [outFeatureCount, 1].</param>
    /// <param name="gradBias">Optional, accumulated. Shape: [outFeatureCount].</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void ScaleBiasBackward(Tensor input, Tensor? scale, Tensor gradOutput, Tensor? gradInput, Tensor? gradScale, Tensor? gradBias)
    {
        Check(input, nameof(input));
        int n = input.LastDimension;
        int rows = RequireRows(input, nameof(input), n, "");
        CheckVector(scale, nameof(scale), n, input);
        Check(gradOutput, nameof(gradOutput));
        RequireSameShape(gradOutput, nameof(gradOutput), input, nameof(input));
        if (gradInput is not null)
        {
            Check(gradInput, nameof(gradInput));
            RequireSameShape(gradInput, nameof(gradInput), input, nameof(input));
        }
        CheckVector(gradScale, nameof(gradScale), n, input);
        CheckVector(gradBias, nameof(gradBias), n, input);
        ScaleBiasBackwardCore(input, scale, gradOutput, gradInput, gradScale, gradBias, rows, n);
    }

    #endregion

    #region Frozen linear map (GEMM)

    /// <summary><c>output = input · weightᵀ</c> (a linear layer without bias).</summary>
    /// <param name="input">Shape: [..., inFeatureCount].</param>
    /// <param name="weight">Shape: [outFeatureCount, inFeatureCount].</param>
    /// <param name="output">Shape: [..., outFeatureCount] with the same rows as <paramref name="input"/>.</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void Linear(Tensor input, Tensor weight, Tensor output)
    {
        (int n, int d) = RequireMatrix(weight, nameof(weight));
        int rows = RequireRows(input, nameof(input), d, $"weight has shape {weight.ShapeString}");
        RequireRowsOf(output, nameof(output), rows, n, input, nameof(input));
        LinearCore(input, weight, output, rows, d, n);
    }

    /// <summary><c>gradInput = gradOutput · weight</c> (overwritten): the input gradient of <see cref="Linear"/>.</summary>
    /// <param name="gradOutput">Shape: [..., outFeatureCount].</param>
    /// <param name="weight">Shape: [outFeatureCount, inFeatureCount].</param>
    /// <param name="gradInput">Shape: [..., inFeatureCount] with the same rows as <paramref name="gradOutput"/>.</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void LinearBackwardInput(Tensor gradOutput, Tensor weight, Tensor gradInput)
    {
        (int n, int d) = RequireMatrix(weight, nameof(weight));
        int rows = RequireRows(gradOutput, nameof(gradOutput), n, $"weight has shape {weight.ShapeString}");
        RequireRowsOf(gradInput, nameof(gradInput), rows, d, gradOutput, nameof(gradOutput));
        LinearBackwardInputCore(gradOutput, weight, gradInput, rows, d, n);
    }

    /// <summary><c>gradWeight += gradOutputᵀ · input</c>: the weight gradient of <see cref="Linear"/>, reduced deterministically.</summary>
    /// <param name="gradOutput">Shape: [..., outFeatureCount].</param>
    /// <param name="input">Shape: [..., inFeatureCount] with the same rows.</param>
    /// <param name="gradWeight">Accumulated. Shape: [outFeatureCount, inFeatureCount].</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void LinearBackwardWeight(Tensor gradOutput, Tensor input, Tensor gradWeight)
    {
        (int n, int d) = RequireMatrix(gradWeight, nameof(gradWeight));
        int rows = RequireRows(gradOutput, nameof(gradOutput), n, $"gradWeight has shape {gradWeight.ShapeString}");
        RequireRowsOf(input, nameof(input), rows, d, gradOutput, nameof(gradOutput));
        LinearBackwardWeightCore(gradOutput, input, gradWeight, rows, d, n);
    }

    #endregion

    #region Activations and losses

    /// <summary><c>output = max(input, 0)</c> element-wise; <paramref name="output"/> may alias <paramref name="input"/>.</summary>
    /// <param name="input">Any shape.</param>
    /// <param name="output">Same shape.</param>
    public void Relu(Tensor input, Tensor output)
    {
        Check(input, nameof(input));
        Check(output, nameof(output));
        RequireSameShape(output, nameof(output), input, nameof(input));
        ReluCore(input, output);
    }

    /// <summary><c>gradInput = gradOutput ⊙ [input &gt; 0]</c> (overwritten); may alias <paramref name="gradOutput"/>.</summary>
    /// <param name="input">The forward's input (or output: the sign is the same).</param>
    /// <param name="gradOutput">Same shape.</param>
    /// <param name="gradInput">Same shape.</param>
    public void ReluBackward(Tensor input, Tensor gradOutput, Tensor gradInput)
    {
        Check(input, nameof(input));
        Check(gradOutput, nameof(gradOutput));
        RequireSameShape(gradOutput, nameof(gradOutput), input, nameof(input));
        Check(gradInput, nameof(gradInput));
        RequireSameShape(gradInput, nameof(gradInput), input, nameof(input));
        ReluBackwardCore(input, gradOutput, gradInput);
    }

    /// <summary>Mean squared error <c>mean((prediction − target)²)</c> over all elements; optionally writes
    /// <c>gradPrediction = 2 (prediction − target) / N</c> (overwritten).</summary>
    /// <param name="prediction">Any shape.</param>
    /// <param name="target">Same shape.</param>
    /// <param name="gradPrediction">Optional; same shape.</param>
    /// <returns>The loss (waits for the backend).</returns>
    public double MseLoss(Tensor prediction, Tensor target, Tensor? gradPrediction)
    {
        Check(prediction, nameof(prediction));
        Check(target, nameof(target));
        RequireSameShape(target, nameof(target), prediction, nameof(prediction));
        if (gradPrediction is not null)
        {
            Check(gradPrediction, nameof(gradPrediction));
            RequireSameShape(gradPrediction, nameof(gradPrediction), prediction, nameof(prediction));
        }
        if (prediction.Length == 0)
            throw new ArgumentException("prediction is empty: the mean squared error of no elements is undefined.", nameof(prediction));
        return MseLossCore(prediction, target, gradPrediction);
    }

    /// <summary>Softmax cross-entropy averaged over rows; optionally writes <c>gradLogits = (softmax − onehot) / rows</c> (overwritten).</summary>
    /// <param name="logits">Shape: [..., classCount].</param>
    /// <param name="labels">Class indices stored as floats (exact integers in [0, classCount)). Shape: [rows].</param>
    /// <param name="gradLogits">Optional; same shape as <paramref name="logits"/>.</param>
    /// <returns>The mean loss (waits for the backend).</returns>
    /// <exception cref="ArgumentException">A shape does not match, or a label is not a valid class index.</exception>
    public double SoftmaxCrossEntropy(Tensor logits, Tensor labels, Tensor? gradLogits)
    {
        Check(logits, nameof(logits));
        int classes = logits.LastDimension;
        int rows = RequireRows(logits, nameof(logits), classes, "");
        if (rows == 0 || classes == 0)
            throw new ArgumentException($"logits has shape {logits.ShapeString}: at least one row and one class are needed.", nameof(logits));
        Check(labels, nameof(labels));
        RequireLength(labels, nameof(labels), rows, $"[{rows}] (one label per row of logits {logits.ShapeString})");
        if (gradLogits is not null)
        {
            Check(gradLogits, nameof(gradLogits));
            RequireSameShape(gradLogits, nameof(gradLogits), logits, nameof(logits));
        }
        return SoftmaxCrossEntropyCore(logits, labels, gradLogits, rows, classes);
    }

    #endregion

    #region Optimizers and utilities

    /// <summary>
    /// One SGD step with PyTorch's semantics (<c>torch.optim.SGD</c>): <c>g = grad + weightDecay·p</c>; with momentum μ ≠ 0,
    /// <c>buf = g</c> on the first step else <c>buf = μ·buf + (1 − dampening)·g</c>, and <c>g = nesterov ? g + μ·buf : buf</c>;
    /// then <c>p −= learningRate·g</c>.
    /// </summary>
    /// <param name="parameters">Updated in place.</param>
    /// <param name="gradients">Same length.</param>
    /// <param name="momentumBuffer">Required when momentum ≠ 0; same length; updated in place.</param>
    /// <param name="settings">Hyperparameters.</param>
    /// <param name="firstStep">True on the first step for these parameters (initializes the momentum buffer).</param>
    /// <exception cref="ArgumentException">A length does not match, or a momentum buffer is missing.</exception>
    public void SgdStep(Tensor parameters, Tensor gradients, Tensor? momentumBuffer, SgdSettings settings, bool firstStep)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        Check(parameters, nameof(parameters));
        Check(gradients, nameof(gradients));
        RequireLength(gradients, nameof(gradients), parameters.Length, $"{parameters.ShapeString} like parameters");
        if (settings.Momentum != 0)
        {
            if (momentumBuffer is null)
                throw new ArgumentException($"momentumBuffer is required when momentum is {settings.Momentum}.", nameof(momentumBuffer));
            Check(momentumBuffer, nameof(momentumBuffer));
            RequireLength(momentumBuffer, nameof(momentumBuffer), parameters.Length, $"{parameters.ShapeString} like parameters");
        }
        SgdStepCore(parameters, gradients, settings.Momentum != 0 ? momentumBuffer : null, settings, firstStep);
    }

    /// <summary>
    /// One Adam or AdamW step with PyTorch's semantics (no amsgrad): <c>m = β1·m + (1 − β1)·g</c>, <c>v = β2·v + (1 − β2)·g²</c>,
    /// <c>p −= lr · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + ε)</c>. Weight decay is added to g (Adam) or applied as
    /// <c>p *= 1 − lr·λ</c> before the update (AdamW, <see cref="AdamSettings.DecoupledWeightDecay"/>).
    /// </summary>
    /// <param name="parameters">Updated in place.</param>
    /// <param name="gradients">Same length.</param>
    /// <param name="firstMoment">m; same length; updated in place (zero before step 1).</param>
    /// <param name="secondMoment">v; same length; updated in place (zero before step 1).</param>
    /// <param name="settings">Hyperparameters.</param>
    /// <param name="step">t, starting at 1.</param>
    /// <param name="learningRate">The learning rate for this step (after any schedule).</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="step"/> is less than 1.</exception>
    public void AdamStep(Tensor parameters, Tensor gradients, Tensor firstMoment, Tensor secondMoment, AdamSettings settings, int step, double learningRate)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        if (!double.IsFinite(learningRate) || learningRate < 0)
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, $"Invalid learning rate: {learningRate}");
        Check(parameters, nameof(parameters));
        string like = $"{parameters.ShapeString} like parameters";
        Check(gradients, nameof(gradients));
        RequireLength(gradients, nameof(gradients), parameters.Length, like);
        Check(firstMoment, nameof(firstMoment));
        RequireLength(firstMoment, nameof(firstMoment), parameters.Length, like);
        Check(secondMoment, nameof(secondMoment));
        RequireLength(secondMoment, nameof(secondMoment), parameters.Length, like);
        AdamStepCore(parameters, gradients, firstMoment, secondMoment, settings, step, learningRate);
    }

    /// <summary>Sets every element to <paramref name="value"/>.</summary>
    /// <param name="tensor">Any tensor of this backend.</param>
    /// <param name="value">The value.</param>
    public void Fill(Tensor tensor, float value)
    {
        Check(tensor, nameof(tensor));
        FillCore(tensor, value);
    }

    /// <summary>Multiplies every element by <paramref name="factor"/> in place.</summary>
    /// <param name="tensor">Any tensor of this backend.</param>
    /// <param name="factor">The factor.</param>
    public void Scale(Tensor tensor, float factor)
    {
        Check(tensor, nameof(tensor));
        ScaleCore(tensor, factor);
    }

    /// <summary>Copies <paramref name="source"/> into <paramref name="destination"/> (same length).</summary>
    /// <param name="source">The source.</param>
    /// <param name="destination">The destination.</param>
    public void Copy(Tensor source, Tensor destination)
    {
        Check(source, nameof(source));
        Check(destination, nameof(destination));
        RequireLength(destination, nameof(destination), source.Length, $"{source.ShapeString} like source");
        CopyCore(source, destination);
    }

    /// <summary>Returns <c>Σ x²</c> over all elements, accumulated in double (waits for the backend).</summary>
    /// <param name="tensor">Any tensor of this backend.</param>
    /// <returns>The sum of squares.</returns>
    public double SumOfSquares(Tensor tensor)
    {
        Check(tensor, nameof(tensor));
        return SumOfSquaresCore(tensor);
    }

    #endregion

    #region Core hooks (arguments already validated)

    /// <summary>Allocates a zero-filled tensor.</summary>
    /// <param name="shape">A private copy of the dimensions.</param>
    /// <returns>The tensor.</returns>
    protected abstract Tensor AllocateCore(int[] shape);

    /// <summary>Waits for queued work.</summary>
    protected abstract void SynchronizeCore();

    /// <summary>See <see cref="CayleyForward"/>.</summary>
    /// <param name="shape">Shape.</param><param name="parameters">Parameters.</param><param name="identityMask">Mask.</param><param name="blocks">Output.</param>
    protected abstract void CayleyForwardCore(CayleyShape shape, Tensor parameters, Tensor? identityMask, Tensor blocks);

    /// <summary>See <see cref="CayleyBackward"/>.</summary>
    /// <param name="shape">Shape.</param><param name="parameters">Parameters.</param><param name="blocks">Blocks.</param>
    /// <param name="gradBlocks">Gradient of blocks.</param><param name="identityMask">Mask.</param><param name="gradParameters">Accumulated output.</param>
    protected abstract void CayleyBackwardCore(CayleyShape shape, Tensor parameters, Tensor blocks, Tensor gradBlocks, Tensor? identityMask, Tensor gradParameters);

    /// <summary>See <see cref="CoftProject"/>.</summary>
    /// <param name="shape">Shape.</param><param name="radius">Radius.</param><param name="parameters">Parameters.</param>
    protected abstract void CoftProjectCore(CayleyShape shape, double radius, Tensor parameters);

    /// <summary>See <see cref="Rotate"/>.</summary>
    /// <param name="shape">Shape.</param><param name="input">Input.</param><param name="blocks">Blocks.</param>
    /// <param name="transpose">Transpose.</param><param name="output">Output.</param><param name="rowCount">Rows.</param>
    protected abstract void RotateCore(RotationShape shape, Tensor input, Tensor blocks, bool transpose, Tensor output, int rowCount);

    /// <summary>See <see cref="RotateBackward"/>.</summary>
    /// <param name="shape">Shape.</param><param name="input">Input.</param><param name="blocks">Blocks.</param><param name="gradOutput">Gradient of output.</param>
    /// <param name="gradInput">Gradient of input.</param><param name="gradBlocks">Gradient of blocks.</param><param name="rowCount">Rows.</param>
    protected abstract void RotateBackwardCore(RotationShape shape, Tensor input, Tensor blocks, Tensor gradOutput, Tensor gradInput, Tensor gradBlocks, int rowCount);

    /// <summary>See <see cref="Merge"/>.</summary>
    /// <param name="shape">Shape.</param><param name="weight">Weight.</param><param name="blocks">Blocks.</param>
    /// <param name="scale">Scale.</param><param name="output">Output.</param><param name="outFeatureCount">Rows of weight.</param>
    protected abstract void MergeCore(RotationShape shape, Tensor weight, Tensor blocks, Tensor? scale, Tensor output, int outFeatureCount);

    /// <summary>See <see cref="ScaleBias"/>.</summary>
    /// <param name="input">Input.</param><param name="scale">Scale.</param><param name="bias">Bias.</param>
    /// <param name="output">Output.</param><param name="rowCount">Rows.</param><param name="featureCount">Columns.</param>
    protected abstract void ScaleBiasCore(Tensor input, Tensor? scale, Tensor? bias, Tensor output, int rowCount, int featureCount);

    /// <summary>See <see cref="ScaleBiasBackward"/>.</summary>
    /// <param name="input">Input.</param><param name="scale">Scale.</param><param name="gradOutput">Gradient of output.</param>
    /// <param name="gradInput">Gradient of input.</param><param name="gradScale">Gradient of scale.</param><param name="gradBias">Gradient of bias.</param>
    /// <param name="rowCount">Rows.</param><param name="featureCount">Columns.</param>
    protected abstract void ScaleBiasBackwardCore(Tensor input, Tensor? scale, Tensor gradOutput, Tensor? gradInput, Tensor? gradScale, Tensor? gradBias, int rowCount, int featureCount);

    /// <summary>See <see cref="Linear"/>.</summary>
    /// <param name="input">Input.</param><param name="weight">Weight.</param><param name="output">Output.</param>
    /// <param name="rowCount">Rows.</param><param name="inFeatureCount">d.</param><param name="outFeatureCount">n.</param>
    protected abstract void LinearCore(Tensor input, Tensor weight, Tensor output, int rowCount, int inFeatureCount, int outFeatureCount);

    /// <summary>See <see cref="LinearBackwardInput"/>.</summary>
    /// <param name="gradOutput">Gradient of output.</param><param name="weight">Weight.</param><param name="gradInput">Gradient of input.</param>
    /// <param name="rowCount">Rows.</param><param name="inFeatureCount">d.</param><param name="outFeatureCount">n.</param>
    protected abstract void LinearBackwardInputCore(Tensor gradOutput, Tensor weight, Tensor gradInput, int rowCount, int inFeatureCount, int outFeatureCount);

    /// <summary>See <see cref="LinearBackwardWeight"/>.</summary>
    /// <param name="gradOutput">Gradient of output.</param><param name="input">Input.</param><param name="gradWeight">Accumulated gradient of weight.</param>
    /// <param name="rowCount">Rows.</param><param name="inFeatureCount">d.</param><param name="outFeatureCount">n.</param>
    protected abstract void LinearBackwardWeightCore(Tensor gradOutput, Tensor input, Tensor gradWeight, int rowCount, int inFeatureCount, int outFeatureCount);

    /// <summary>See <see cref="Relu"/>.</summary>
    /// <param name="input">Input.</param><param name="output">Output.</param>
    protected abstract void ReluCore(Tensor input, Tensor output);

    /// <summary>See <see cref="ReluBackward"/>.</summary>
    /// <param name="input">Input.</param><param name="gradOutput">Gradient of output.</param><param name="gradInput">Gradient of input.</param>
    protected abstract void ReluBackwardCore(Tensor input, Tensor gradOutput, Tensor gradInput);

    /// <summary>See <see cref="MseLoss"/>.</summary>
    /// <param name="prediction">Prediction.</param><param name="target">Target.</param><param name="gradPrediction">Gradient.</param>
    /// <returns>The loss.</returns>
    protected abstract double MseLossCore(Tensor prediction, Tensor target, Tensor? gradPrediction);

    /// <summary>See <see cref="SoftmaxCrossEntropy"/>. Implementations throw <see cref="ArgumentException"/> for invalid labels.</summary>
    /// <param name="logits">Logits.</param><param name="labels">Labels.</param><param name="gradLogits">Gradient.</param>
    /// <param name="rowCount">Rows.</param><param name="classCount">Classes.</param>
    /// <returns>The loss.</returns>
    protected abstract double SoftmaxCrossEntropyCore(Tensor logits, Tensor labels, Tensor? gradLogits, int rowCount, int classCount);

    /// <summary>See <see cref="SgdStep"/>.</summary>
    /// <param name="parameters">Parameters.</param><param name="gradients">Gradients.</param><param name="momentumBuffer">Momentum buffer or null when momentum is 0.</param>
    /// <param name="settings">Settings.</param><param name="firstStep">First step.</param>
    protected abstract void SgdStepCore(Tensor parameters, Tensor gradients, Tensor? momentumBuffer, SgdSettings settings, bool firstStep);

    /// <summary>See <see cref="AdamStep"/>.</summary>
    /// <param name="parameters">Parameters.</param><param name="gradients">Gradients.</param><param name="firstMoment">m.</param><param name="secondMoment">v.</param>
    /// <param name="settings">Settings.</param><param name="step">t.</param><param name="learningRate">Learning rate.</param>
    protected abstract void AdamStepCore(Tensor parameters, Tensor gradients, Tensor firstMoment, Tensor secondMoment, AdamSettings settings, int step, double learningRate);

    /// <summary>See <see cref="Fill"/>.</summary>
    /// <param name="tensor">Tensor.</param><param name="value">Value.</param>
    protected abstract void FillCore(Tensor tensor, float value);

    /// <summary>See <see cref="Scale"/>.</summary>
    /// <param name="tensor">Tensor.</param><param name="factor">Factor.</param>
    protected abstract void ScaleCore(Tensor tensor, float factor);

    /// <summary>See <see cref="Copy"/>.</summary>
    /// <param name="source">Source.</param><param name="destination">Destination.</param>
    protected abstract void CopyCore(Tensor source, Tensor destination);

    /// <summary>See <see cref="SumOfSquares"/>.</summary>
    /// <param name="tensor">Tensor.</param>
    /// <returns>Σ x².</returns>
    protected abstract double SumOfSquaresCore(Tensor tensor);

    #endregion

    #region Lifetime and validation helpers

    /// <summary>Throws <see cref="ObjectDisposedException"/> if the backend is disposed.</summary>
    /// <exception cref="ObjectDisposedException">The backend is disposed.</exception>
    public void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    /// <summary>Disposes the backend. Idempotent.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees backend resources.</summary>
    /// <param name="disposing">True when called from <see cref="Dispose()"/>.</param>
    protected virtual void Dispose(bool disposing) => disposed = true;

    /// <summary>Checks that <paramref name="tensor"/> is non-null, alive and owned by this backend.</summary>
    /// <param name="tensor">The tensor.</param>
    /// <param name="name">The argument name.</param>
    /// <exception cref="ArgumentNullException">The tensor is null.</exception>
    /// <exception cref="ObjectDisposedException">The tensor or backend is disposed.</exception>
    /// <exception cref="BackendMismatchException">The tensor belongs to another backend.</exception>
    protected void Check(Tensor tensor, string name)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(tensor, name);
        if (tensor.IsDisposed)
            throw new ObjectDisposedException(name, $"{name} ({tensor.ShapeString}) has been disposed.");
        if (!ReferenceEquals(tensor.Backend, this))
            throw new BackendMismatchException($"{name} ({tensor.ShapeString}) belongs to backend '{tensor.Backend.Name}' but was passed to backend '{Name}'; copy it over first.");
    }

    private static void RequireLength(Tensor tensor, string name, int expected, string expectedShape)
    {
        if (tensor.Length != expected)
            throw new ArgumentException($"{name} has shape {tensor.ShapeString} ({tensor.Length} elements) but {expectedShape} needs {expected} elements.", name);
    }

    private static void RequireSameShape(Tensor tensor, string name, Tensor other, string otherName)
    {
        if (!tensor.Shape.SequenceEqual(other.Shape))
            throw new ArgumentException($"{name} has shape {tensor.ShapeString} but {otherName} has shape {other.ShapeString}.", name);
    }

    private int RequireRows(Tensor tensor, string name, int featureCount, string reason)
    {
        Check(tensor, name);
        if (tensor.Rank == 0 || tensor.LastDimension != featureCount)
            throw new ArgumentException($"{name} has shape {tensor.ShapeString} but its last dimension must be {featureCount}{(reason.Length > 0 ? " because " + reason : "")}.", name);
        return featureCount == 0 ? 0 : tensor.Length / featureCount;
    }

    private void RequireRowsOf(Tensor tensor, string name, int rows, int columns, Tensor other, string otherName)
    {
        Check(tensor, name);
        if (tensor.Rank == 0 || tensor.LastDimension != columns || tensor.Length != (long)rows * columns)
            throw new ArgumentException($"{name} has shape {tensor.ShapeString} but needs {rows} rows of {columns} (from {otherName} with shape {other.ShapeString}).", name);
    }

    private (int Rows, int Columns) RequireMatrix(Tensor tensor, string name)
    {
        Check(tensor, name);
        if (tensor.Rank != 2)
            throw new ArgumentException($"{name} has shape {tensor.ShapeString} but must be a matrix [outFeatureCount, inFeatureCount].", name);
        return (tensor.Shape[0], tensor.Shape[1]);
    }

    private void CheckBlocks(RotationShape shape, Tensor blocks, string name)
    {
        Check(blocks, name);
        RequireLength(blocks, name, shape.BlocksLength, $"[{shape.FactorCount}, {shape.BlockCount}, {shape.BlockSize}, {shape.BlockSize}] for {shape}");
    }

    private void CheckMask(CayleyShape shape, Tensor? identityMask)
    {
        if (identityMask is null)
            return;
        Check(identityMask, nameof(identityMask));
        RequireLength(identityMask, nameof(identityMask), shape.BlockCount, $"[{shape.BlockCount}] (one value per block) for {shape}");
    }

    private void CheckVector(Tensor? vector, string name, int length, Tensor rowsTensor)
    {
        if (vector is null)
            return;
        Check(vector, name);
        RequireLength(vector, name, length, $"[{length}] (one per column of {rowsTensor.ShapeString})");
    }

    #endregion
}
