// Shared option parsing and validation: lists of positive integers, backend names, thread counts. Every error names the
// flag and the accepted values (Spectre prints the message and the program exits non-zero before any work starts).

using System.ComponentModel;
using System.Globalization;
using Boft.Kernels;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Boft.Benchmarks.Cli;

/// <summary>Options every measuring command has.</summary>
internal class BackendSettings : CommandSettings
{
    [CommandOption("--backend <NAME>")]
    [Description("backend: default (CUDA when present, else simd), simd, simd512, simd256, simd128, cuda, ilgpu-cpu, ilgpu-cpu4, ilgpu-cpu32, reference")]
    [DefaultValue("default")]
    public string Backend { get; init; } = "default";

    [CommandOption("--threads <N>")]
    [Description("CPU threads for the SIMD backend (default: all cores)")]
    public string? ThreadsText { get; init; }

    public int? Threads => Options.Int(ThreadsText, "--threads");

    [CommandOption("--out <DIR>")]
    [Description("folder for the result files (default: results/ in the repository)")]
    public string? OutputDirectory { get; init; }

    public int ThreadCount => Threads ?? -1;

    public override ValidationResult Validate() => Options.Guard(() =>
    {
        if (!BoftBackends.Names.Contains(Backend.Trim().ToLowerInvariant()))
            return ValidationResult.Error($"--backend '{Backend}' is not a backend; accepted values: {string.Join(", ", BoftBackends.Names)}.");
        if (Threads is int t && t < 1)
            return ValidationResult.Error($"--threads {t} is not valid; accepted values: a whole number ≥ 1.");
        return ValidationResult.Success();
    });
}

internal static class Options
{
    /// <summary>Parses a whole number option; null when it was not given.</summary>
    public static int? Int(string? value, string flag)
    {
        if (value is null)
            return null;
        return int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int result) ? result
            : throw new OptionException($"{flag} '{value}' is not valid; accepted values: a whole number.");
    }

    /// <summary>Parses a number option; null when it was not given.</summary>
    public static double? Number(string? value, string flag)
    {
        if (value is null)
            return null;
        return double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double result) && double.IsFinite(result) ? result
            : throw new OptionException($"{flag} '{value}' is not valid; accepted values: a number, e.g. 200.");
    }

    /// <summary>Runs a validation, turning an <see cref="OptionException"/> into its error.</summary>
    public static ValidationResult Guard(Func<ValidationResult> validate)
    {
        try
        {
            return validate();
        }
        catch (OptionException e)
        {
            return ValidationResult.Error(e.Message);
        }
    }

    /// <summary>Parses "768,1024" into positive integers; null when the option was not given.</summary>
    public static int[]? IntList(string? value, string flag, int minimum = 1)
    {
        if (value is null)
            return null;
        string[] parts = value.Split(',', StringSplitOptions.TrimEntries);
        var result = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out result[i]) || result[i] < minimum)
                throw new OptionException($"{flag} '{value}' is not valid; accepted values: a comma-separated list of whole numbers ≥ {minimum}, e.g. 768,1024.");
        }
        return result;
    }

    /// <summary>Returns a validation error for a bad integer list, or success.</summary>
    public static ValidationResult CheckIntList(string? value, string flag, int minimum = 1)
    {
        try
        {
            IntList(value, flag, minimum);
            return ValidationResult.Success();
        }
        catch (OptionException e)
        {
            return ValidationResult.Error(e.Message);
        }
    }

    public static ValidationResult CheckPositive(double? value, string flag) =>
        value is double v && !(v > 0) ? ValidationResult.Error($"--{flag} {v.ToString(CultureInfo.InvariantCulture)} is not valid; accepted values: a number > 0.") : ValidationResult.Success();

    public static ValidationResult All(params ValidationResult[] results) => results.FirstOrDefault(r => !r.Successful) ?? ValidationResult.Success();
}

/// <summary>A bad option value.</summary>
internal sealed class OptionException(string message) : Exception(message);
