// A shape or reason in an argument-check message, formatted only when the check fails. Every op validates its
// arguments on every call, so the descriptions a message would need ("[256, 64] for Cayley(blocks=256, b=8, …)") must
// cost nothing when the arguments are right: a ShapeText holds the few values a description is made from and a static
// formatter, and is turned into text by ToString() on the throwing path only. No allocation: the held objects are the
// caller's own (shapes, tensors, names) and the formatter is a static lambda (cached by the compiler).

namespace Boft.Backends;

/// <summary>A lazily formatted piece of an argument-check message (see the file header).</summary>
internal readonly struct ShapeText
{
    private readonly string? text;
    private readonly Func<ShapeText, string>? format;

    private ShapeText(string? text, object? item, string? name, long first, long second, Func<ShapeText, string>? format)
    {
        this.text = text;
        Item = item;
        Name = name;
        First = first;
        Second = second;
        this.format = format;
    }

    /// <summary>The object the description is made from (a shape or a tensor), if any.</summary>
    public object? Item { get; }

    /// <summary>A name the description uses, if any.</summary>
    public string? Name { get; }

    /// <summary>The first number the description uses.</summary>
    public long First { get; }

    /// <summary>The second number the description uses.</summary>
    public long Second { get; }

    /// <summary>A description formatted from the given values by <paramref name="format"/> (a static lambda) when needed.</summary>
    public static ShapeText Deferred(object? item, string? name, long first, long second, Func<ShapeText, string> format) =>
        new(null, item, name, first, second, format);

    /// <summary>A description already written out.</summary>
    public static implicit operator ShapeText(string text) => new(text, null, null, 0, 0, null);

    /// <summary>The description (formats it now).</summary>
    public override string ToString() => text ?? format?.Invoke(this) ?? "";
}
