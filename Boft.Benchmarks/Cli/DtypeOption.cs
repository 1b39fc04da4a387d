// The --dtype option of finetune, the main job and compare: a comma-separated list of element types (fp32, bf16, fp16;
// docs/09_Mixed-precision.md). Errors name the flag and the accepted values.

using Boft.Backends;
using Boft.Experiments.Finetune;
using Spectre.Console;

namespace Boft.Benchmarks.Cli;

internal static class DtypeOption
{
    /// <summary>The accepted names, in table order.</summary>
    public static IReadOnlyDictionary<string, ElementType> Names { get; } = new Dictionary<string, ElementType>(StringComparer.OrdinalIgnoreCase)
    {
        ["fp32"] = ElementType.Float32,
        ["bf16"] = ElementType.BFloat16,
        ["fp16"] = ElementType.Float16,
    };

    /// <summary>Parses the list; null or empty gives float32 only (today's behaviour).</summary>
    /// <exception cref="ArgumentException">A name is not a type, or one is given twice.</exception>
    public static ElementType[] Parse(string? value, string flag = "--dtype")
    {
        if (string.IsNullOrWhiteSpace(value))
            return [ElementType.Float32];
        var types = new List<ElementType>();
        foreach (string part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!Names.TryGetValue(part, out ElementType type))
                throw new ArgumentException($"{flag} '{part}' is not an element type; accepted values: a comma-separated list of {string.Join(", ", Names.Keys)}.");
            if (types.Contains(type))
                throw new ArgumentException($"{flag} lists '{part}' twice.");
            types.Add(type);
        }
        if (types.Count == 0)
            throw new ArgumentException($"{flag} is empty; accepted values: a comma-separated list of {string.Join(", ", Names.Keys)}.");
        return [.. types];
    }

    /// <summary>The validation of <see cref="Parse"/>.</summary>
    public static ValidationResult Check(string? value, string flag = "--dtype")
    {
        try
        {
            Parse(value, flag);
            return ValidationResult.Success();
        }
        catch (ArgumentException error)
        {
            return ValidationResult.Error(error.Message);
        }
    }

    /// <summary>The short name (fp32, bf16, fp16).</summary>
    public static string Name(ElementType type) => FinetuneExperiment.DtypeName(type);
}
