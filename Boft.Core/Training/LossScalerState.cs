// The resumable state of a LossScaler, as torch.amp.GradScaler.state_dict() holds it: "scale", "growth_factor",
// "backoff_factor", "growth_interval" and "_growth_tracker" (the good steps in a row). torch pickles that dict inside
// its training checkpoint; Boft writes the same keys as a small JSON file (atomically: a temporary file renamed over the
// old one), so a resumed float16 run continues at the scale it had instead of starting again at 2^16.

using System.Globalization;
using System.Text;
using System.Text.Json;
using Boft.Checkpoints;

namespace Boft.Training;

/// <summary>
/// A <see cref="LossScaler"/>'s resumable state, with the keys of torch's <c>GradScaler.state_dict()</c>. Take it with
/// <see cref="LossScaler.State"/>, restore it with <see cref="LossScaler.FromState"/>; <see cref="Save"/> and <see cref="Load"/>
/// store it as JSON.
/// </summary>
/// <param name="Scale">The current scale (a positive, normal float32 value).</param>
/// <param name="GrowthFactor">The growth factor (&gt; 1).</param>
/// <param name="BackoffFactor">The backoff factor (in (0, 1)).</param>
/// <param name="GrowthInterval">Good steps in a row before the scale grows (≥ 1).</param>
/// <param name="GrowthTracker">Good steps in a row so far (torch's <c>_growth_tracker</c>; in [0, GrowthInterval)).</param>
public sealed record LossScalerState(float Scale, double GrowthFactor, double BackoffFactor, int GrowthInterval, int GrowthTracker)
{
    /// <summary>Checks the state as <see cref="LossScalingOptions.Validate"/> checks options, and the tracker's range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range (the message names it and quotes it).</exception>
    public void Validate()
    {
        new LossScalingOptions(Scale, GrowthFactor, BackoffFactor, GrowthInterval).Validate();
        if (GrowthTracker < 0 || GrowthTracker >= GrowthInterval)
            throw new ArgumentOutOfRangeException(nameof(GrowthTracker), GrowthTracker,
                $"GrowthTracker ({GrowthTracker}) must lie in [0, GrowthInterval = {GrowthInterval}).");
    }

    /// <summary>The state as JSON with torch's key names.</summary>
    /// <returns>A JSON object.</returns>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteNumber("scale", (double)Scale);
            writer.WriteNumber("growth_factor", GrowthFactor);
            writer.WriteNumber("backoff_factor", BackoffFactor);
            writer.WriteNumber("growth_interval", GrowthInterval);
            writer.WriteNumber("_growth_tracker", GrowthTracker);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Reads a state written by <see cref="ToJson"/> (or the same keys from torch's state dict).</summary>
    /// <param name="json">The JSON object.</param>
    /// <returns>The validated state.</returns>
    /// <exception cref="InvalidDataException">The text is not such an object, a key is missing or not a number, the scale is not a
    /// float32 value, or a value is out of range.</exception>
    public static LossScalerState FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using JsonDocument document = JsonDocument.Parse(json);
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"A loss scaler state is a JSON object, not {root.ValueKind}.");
            double scale = Number(root, "scale");
            if ((double)(float)scale != scale)
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"'scale' ({scale:R}) is not a float32 value."));
            double growthInterval = Number(root, "growth_interval"), tracker = Number(root, "_growth_tracker");
            if (growthInterval != Math.Floor(growthInterval) || growthInterval > int.MaxValue || tracker != Math.Floor(tracker) || tracker > int.MaxValue || tracker < int.MinValue)
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                    $"'growth_interval' ({growthInterval:R}) and '_growth_tracker' ({tracker:R}) must be whole numbers."));
            var state = new LossScalerState((float)scale, Number(root, "growth_factor"), Number(root, "backoff_factor"), (int)growthInterval, (int)tracker);
            state.Validate();
            return state;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"A loss scaler state must be JSON: {e.Message}", e);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new InvalidDataException($"Invalid loss scaler state: {e.Message}", e);
        }
    }

    /// <summary>Writes <see cref="ToJson"/> to <paramref name="path"/> atomically (a failed write leaves any old file as it was).</summary>
    /// <param name="path">The file.</param>
    public void Save(string path)
    {
        Validate();
        byte[] bytes = Encoding.UTF8.GetBytes(ToJson());
        AtomicFile.Write(path, stream => stream.Write(bytes));
    }

    /// <summary>Reads a state saved by <see cref="Save"/>.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The validated state.</returns>
    /// <exception cref="InvalidDataException">The file does not hold a valid state (the message names the file).</exception>
    public static LossScalerState Load(string path)
    {
        string text = File.ReadAllText(path);
        try
        {
            return FromJson(text);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    private static double Number(JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out JsonElement value))
            throw new InvalidDataException($"The loss scaler state has no '{key}'.");
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out double number) || !double.IsFinite(number))
            throw new InvalidDataException($"'{key}' must be a finite number, not {value.GetRawText()}.");
        return number;
    }
}
