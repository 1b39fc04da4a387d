// The one shape-check module: every argument check of the backend contract (BoftBackend.*.cs, on Tensors) and of the
// ILGPU launchers (Boft.Kernels/Ilgpu/*Kernels.cs, on ArrayViews) throws through these functions, so each message is
// written once. Tensors describe themselves with their shape ("[4, 16]"); views with their length as rows
// (RowsOf: "[4, 16]" when the length is a whole number of rows, else "[64]"). Internal; Boft.Kernels sees it through
// InternalsVisibleTo. Descriptions are ShapeTexts, formatted only on the throwing path (ShapeText.cs). Adding an op: describe its expected shapes here (the *Shape functions) and call the checks from the
// contract and the launchers.

using System.Globalization;

namespace Boft.Backends;

/// <summary>Argument checks and their messages, shared by <see cref="BoftBackend"/> and the ILGPU launchers.</summary>
internal static class ShapeChecks
{
    #region Expected shapes (used in the messages; formatted only when a check fails, see ShapeText)

    /// <summary>Raw parameters of a Cayley shape: <c>[parameterBlockCount, parameterBlockLength] for shape</c>.</summary>
    public static ShapeText CayleyParametersShape(CayleyShape shape) =>
        ShapeText.Deferred(shape, null, 0, 0, static t => t.Item is CayleyShape s ? Invariant($"[{s.ParameterBlockCount}, {s.ParameterBlockLength}] for {s}") : "");

    /// <summary>Blocks of a Cayley shape: <c>[blockCount, b, b] for shape</c>.</summary>
    public static ShapeText CayleyBlocksShape(CayleyShape shape) =>
        ShapeText.Deferred(shape, null, 0, 0, static t => t.Item is CayleyShape s ? Invariant($"[{s.BlockCount}, {s.BlockSize}, {s.BlockSize}] for {s}") : "");

    /// <summary>An identity mask of a Cayley shape: <c>[blockCount] (one value per block) for shape</c>.</summary>
    public static ShapeText MaskShape(CayleyShape shape) =>
        ShapeText.Deferred(shape, null, 0, 0, static t => t.Item is CayleyShape s ? Invariant($"[{s.BlockCount}] (one value per block) for {s}") : "");

    /// <summary>Blocks of a rotation shape: <c>[m, blockCount, b, b] for shape</c>.</summary>
    public static ShapeText RotationBlocksShape(RotationShape shape) =>
        ShapeText.Deferred(shape, null, 0, 0, static t => t.Item is RotationShape s ? Invariant($"[{s.FactorCount}, {s.BlockCount}, {s.BlockSize}, {s.BlockSize}] for {s}") : "");

    /// <summary>A per-column vector of a row tensor: <c>[n] (one per column of rowsShape)</c>.</summary>
    public static ShapeText PerColumnShape(int featureCount, Tensor rows) =>
        ShapeText.Deferred(rows, null, featureCount, 0, static t => Invariant($"[{t.First}] (one per column of {((Tensor)t.Item!).ShapeString})"));

    /// <summary>A per-column vector of a view of rows: <c>[n] (one per column of rowsName [r, n])</c>.</summary>
    public static ShapeText PerColumnShape(int featureCount, string rowsName, long rowsLength) =>
        ShapeText.Deferred(null, rowsName, featureCount, rowsLength, static t => Invariant($"[{t.First}] (one per column of {t.Name} {RowsOf(t.Second, (int)t.First)})"));

    /// <summary>A per-row vector of a weight: <c>[rows] (one per row of weight weightShape)</c>.</summary>
    public static ShapeText PerRowShape(int rowCount, Tensor weight) =>
        ShapeText.Deferred(weight, null, rowCount, 0, static t => Invariant($"[{t.First}] (one per row of weight {((Tensor)t.Item!).ShapeString})"));

    /// <summary>A per-row vector of a weight view of <paramref name="rowCount"/> rows of <paramref name="columns"/>.</summary>
    public static ShapeText PerRowShape(int rowCount, int columns) =>
        ShapeText.Deferred(null, null, rowCount, columns, static t => Invariant($"[{t.First}] (one per row of weight {RowsOf(t.First * t.Second, (int)t.Second)})"));

    /// <summary>Labels of a logits tensor: <c>[rows] (one label per row of logits logitsShape)</c>.</summary>
    public static ShapeText LabelsShape(int rowCount, Tensor logits) =>
        ShapeText.Deferred(logits, null, rowCount, 0, static t => Invariant($"[{t.First}] (one label per row of logits {((Tensor)t.Item!).ShapeString})"));

    /// <summary>Labels of a logits view of <paramref name="rowCount"/> rows of <paramref name="classCount"/>.</summary>
    public static ShapeText LabelsShape(int rowCount, int classCount) =>
        ShapeText.Deferred(null, null, rowCount, classCount, static t => Invariant($"[{t.First}] (one label per row of logits {RowsOf(t.First * t.Second, (int)t.Second)})"));

    /// <summary>The same length as another operand: <c>otherShape like otherName</c>.</summary>
    public static ShapeText LikeShape(Tensor other, string otherName) =>
        ShapeText.Deferred(other, otherName, 0, 0, static t => $"{((Tensor)t.Item!).ShapeString} like {t.Name}");

    /// <summary>The same length as another (flat) operand: <c>[length] like otherName</c>.</summary>
    public static ShapeText LikeShape(long length, string otherName) =>
        ShapeText.Deferred(null, otherName, length, 0, static t => Invariant($"[{t.First}] like {t.Name}"));

    /// <summary>A view's length as rows of <paramref name="columns"/>: <c>[rows, columns]</c> when whole, else <c>[length]</c>.</summary>
    public static string RowsOf(long length, int columns) =>
        columns > 0 && length % columns == 0 ? Invariant($"[{length / columns}, {columns}]") : Invariant($"[{length}]");

    /// <summary><see cref="RowsOf"/>, formatted when needed.</summary>
    public static ShapeText DeferredRowsOf(long length, int columns) =>
        ShapeText.Deferred(null, null, length, columns, static t => RowsOf(t.First, (int)t.Second));

    /// <summary>A flat length: <c>[length]</c>, formatted when needed.</summary>
    public static ShapeText Flat(long length) => ShapeText.Deferred(null, null, length, 0, static t => Invariant($"[{t.First}]"));

    /// <summary>A tensor's shape, formatted when needed.</summary>
    public static ShapeText ShapeOf(Tensor tensor) => ShapeText.Deferred(tensor, null, 0, 0, static t => ((Tensor)t.Item!).ShapeString);

    /// <summary>Why rows must have d columns: <c>the rotation shape has d = …</c>.</summary>
    public static ShapeText RotationRowsReason(RotationShape shape) =>
        ShapeText.Deferred(shape, null, 0, 0, static t => t.Item is RotationShape s ? Invariant($"the rotation {s} has d = {s.FeatureCount}") : "");

    /// <summary>Why rows must have a weight's column count: <c>weight has shape [n, d]</c>.</summary>
    public static ShapeText WeightReason(string name, Tensor weight) =>
        ShapeText.Deferred(weight, name, 0, 0, static t => $"{t.Name} has shape {((Tensor)t.Item!).ShapeString}");

    /// <summary>Why rows must have a weight view's column count: <c>weight has shape [n, d]</c>.</summary>
    public static ShapeText WeightReason(string name, int rowCount, int columnCount) =>
        ShapeText.Deferred(null, name, rowCount, columnCount, static t => Invariant($"{t.Name} has shape [{t.First}, {t.Second}]"));

    #endregion

    #region Shape checks

    /// <summary>Requires exactly <paramref name="expected"/> elements.</summary>
    /// <exception cref="ArgumentException">The length differs.</exception>
    public static void Length(string name, ShapeText actualShape, long actualLength, long expected, ShapeText expectedShape)
    {
        if (actualLength != expected)
            throw new ArgumentException(Invariant($"{name} has shape {actualShape} ({actualLength} elements) but {expectedShape} needs {expected} elements."), name);
    }

    /// <summary>Requires the last dimension of a tensor to be <paramref name="featureCount"/>.</summary>
    /// <exception cref="ArgumentException">It is not (or the tensor is a scalar).</exception>
    public static void LastDimension(string name, ReadOnlySpan<int> shape, int featureCount, ShapeText reason)
    {
        if (shape.Length == 0 || shape[^1] != featureCount)
            {
            string because = reason.ToString();
            throw new ArgumentException(Invariant($"{name} has shape {Tensor.FormatShape(shape)} but its last dimension must be {featureCount}{(because.Length > 0 ? " because " + because : "")}."), name);
        }
    }

    /// <summary>Requires a flat length to be a whole number of rows of <paramref name="columns"/>.</summary>
    /// <exception cref="ArgumentException">It is not, or <paramref name="columns"/> is not positive.</exception>
    public static void WholeRows(string name, long length, int columns, ShapeText reason)
    {
        if (columns <= 0 || length % columns != 0)
            throw new ArgumentException(Invariant($"{name} has {length} elements, which is not a whole number of rows of {columns} ({reason})."), name);
    }

    /// <summary>Requires two operands to have the same shape (<paramref name="same"/> computed by the caller).</summary>
    /// <exception cref="ArgumentException">They differ.</exception>
    public static void SameShape(bool same, string name, ShapeText shape, string otherName, ShapeText otherShape)
    {
        if (!same)
            throw new ArgumentException($"{name} has shape {shape} but {otherName} has shape {otherShape}.", name);
    }

    /// <summary>Requires <paramref name="rowCount"/> rows of <paramref name="columns"/> (<paramref name="ok"/> computed by the caller).</summary>
    /// <exception cref="ArgumentException">It does not have them.</exception>
    public static void RowsLike(bool ok, string name, ShapeText shape, int rowCount, int columns, string otherName, ShapeText otherShape)
    {
        if (!ok)
            throw new ArgumentException(Invariant($"{name} has shape {shape} but needs {rowCount} rows of {columns} (from {otherName} with shape {otherShape})."), name);
    }

    /// <summary>Requires a rank-2 tensor (a weight matrix).</summary>
    /// <exception cref="ArgumentException">It is not.</exception>
    public static void Matrix(string name, ReadOnlySpan<int> shape)
    {
        if (shape.Length != 2)
            throw new ArgumentException($"{name} has shape {Tensor.FormatShape(shape)} but must be a matrix [outFeatureCount, inFeatureCount].", name);
    }

    /// <summary>Requires a positive count.</summary>
    /// <exception cref="ArgumentOutOfRangeException">It is not.</exception>
    public static void Positive(int value, string name)
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive.");
    }

    #endregion

    #region Op rules

    /// <summary>RotateBackward: gradInput must not alias input.</summary>
    /// <exception cref="ArgumentException">They alias.</exception>
    public static void GradInputNotAliasingInput(bool aliases)
    {
        if (aliases)
            throw new ArgumentException("gradInput must not alias input: the input is needed while gradients are written.", "gradInput");
    }

    /// <summary>CayleyBackward: a mask cannot be combined with a shared block and the exact map.</summary>
    /// <exception cref="ArgumentException">It is.</exception>
    public static void MaskAllowed(CayleyShape shape, bool hasMask)
    {
        if (hasMask && shape.Shared && shape.IsExact)
            throw new ArgumentException($"identityMask cannot be combined with a shared block and the exact map ({shape}): the shared block's M is taken from block 0.", "identityMask");
    }

    /// <summary>CoftProject: the shape must be OFT's packed one and the radius finite and non-negative.</summary>
    /// <exception cref="ArgumentException">The shape is not packed.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The radius is negative or not finite.</exception>
    public static void Coft(CayleyShape shape, double radius)
    {
        if (shape.Skew != SkewKind.PackedUpper)
            throw new ArgumentException($"COFT projection is defined for OFT's packed parameters, but the shape is {shape}.", nameof(shape));
        if (!double.IsFinite(radius) || radius < 0)
            throw new ArgumentOutOfRangeException(nameof(radius), radius, "The COFT radius must be finite and non-negative.");
    }

    /// <summary>SgdStep: a momentum buffer is required when momentum is not 0.</summary>
    /// <exception cref="ArgumentException">It is missing.</exception>
    public static void MomentumBuffer(double momentum, bool present)
    {
        if (momentum != 0 && !present)
            throw new ArgumentException(Invariant($"momentumBuffer is required when momentum is {momentum}."), "momentumBuffer");
    }

    /// <summary>AdamStep and the optimizer settings: the learning rate must be finite and non-negative.</summary>
    /// <exception cref="ArgumentOutOfRangeException">It is not.</exception>
    public static void LearningRate(double learningRate, string name = "learningRate")
    {
        if (!double.IsFinite(learningRate) || learningRate < 0)
            throw new ArgumentOutOfRangeException(name, learningRate, Invariant($"Invalid learning rate: {learningRate}"));
    }

    /// <summary>SoftmaxCrossEntropy: the exception for a label that is not an exact class index.</summary>
    public static ArgumentException InvalidLabel(int row, double label, int classCount) =>
        new(Invariant($"labels[{row}] = {label} is not a class index in [0, {classCount}) (labels must be exact integers stored as floats)."), "labels");

    /// <summary>SoftmaxCrossEntropy on a device that only counts the bad labels.</summary>
    public static ArgumentException InvalidLabels(double count, int classCount) =>
        new(Invariant($"labels holds {count} values that are not class indices in [0, {classCount}) (labels must be exact integers stored as floats)."), "labels");

    /// <summary>The exception for a required view that is <c>default</c> (no buffer).</summary>
    public static ArgumentException DefaultView(string name) => new($"{name} is a default ArrayView (no buffer) but is required.", name);

    /// <summary>MseLoss: at least one element.</summary>
    /// <exception cref="ArgumentException">There is none.</exception>
    public static void NotEmptyPrediction(long length)
    {
        if (length == 0)
            throw new ArgumentException("prediction is empty: the mean squared error of no elements is undefined.", "prediction");
    }

    /// <summary>SoftmaxCrossEntropy: at least one row and one class.</summary>
    /// <exception cref="ArgumentException">There is none.</exception>
    public static void LogitsNotEmpty(int rowCount, int classCount, ShapeText logitsShape)
    {
        if (rowCount == 0 || classCount == 0)
            throw new ArgumentException($"logits has shape {logitsShape}: at least one row and one class are needed.", "logits");
    }

    #endregion

    #region Element types

    /// <summary>The exception for a 16-bit operand where the op (or argument) takes float32 only.</summary>
    public static ArgumentException NotFloat32(string name, string shape, ElementType type) =>
        new($"{name} ({shape}) is {type} but must be Float32: parameters, blocks, their gradients and optimizer state are float32 masters, and this operation has no 16-bit path (docs/09_Mixed-precision.md).", name);

    /// <summary>The exception for two activations of one op with different element types.</summary>
    public static ArgumentException TypeMismatch(string name, ElementType type, string otherName, ElementType otherType) =>
        new($"{name} is {type} but {otherName} is {otherType}: all activations and frozen weights of one operation share one element type.", name);

    /// <summary>The exception for a 16-bit tensor given to an op family without a 16-bit path on this backend.</summary>
    public static ArgumentException NoSixteenBitPath(string name, string shape, ElementType type, string backend, SixteenBitOperation operation) =>
        new($"{name} ({shape}) is {type} but the {backend} backend has no 16-bit {operation} path yet: use Float32 here, or the SIMD or reference backend (docs/09_Mixed-precision.md).", name);

    /// <summary>The exception for a 16-bit tensor on a backend without 16-bit storage.</summary>
    public static NotSupportedException NoSixteenBitStorage(string backend, ElementType type) =>
        new($"The {backend} backend has no {type} path yet; use the SIMD or reference backend for 16-bit tensors, or Float32.");

    #endregion

    #region Ownership and lifetime

    /// <summary>The exception for a disposed operand.</summary>
    public static ObjectDisposedException Disposed(string name, string shape) => new(name, $"{name} ({shape}) has been disposed.");

    /// <summary>The exception for an operand that belongs to another backend or accelerator.</summary>
    /// <param name="name">The argument.</param>
    /// <param name="shape">Its shape, or null (a stream).</param>
    /// <param name="kind">"backend" or "accelerator".</param>
    /// <param name="owner">Who owns it (distinguishable: name and instance).</param>
    /// <param name="receiver">Who it was passed to.</param>
    public static BackendMismatchException Mismatch(string name, string? shape, string kind, string owner, string receiver) =>
        new($"{name}{(shape is null ? "" : $" ({shape})")} belongs to {kind} {owner} but was passed to {kind} {receiver}; copy it over first.");

    #endregion

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
