// The public surface of Boft.Core and Boft.Kernels, tracked: docs/api.md is generated from the assemblies by reflection
// (every public type and every public or protected member, with nullability), and this test fails when the two differ.
// After an intended API change, regenerate it and commit the diff with the change:
//   BOFT_UPDATE_API=1 dotnet test --filter "FullyQualifiedName~ApiSurface"

using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using Boft.Backends;
using Boft.Kernels.Simd;

namespace Boft.Tests.Docs;

[TestFixture]
public sealed class ApiSurfaceTests
{
    private const string UpdateVariable = "BOFT_UPDATE_API";

    [Test]
    public void PublicApi_MatchesDocsApiMd()
    {
        string path = Path.Combine(RepositoryRoot(), "docs", "api.md");
        string generated = ApiSurface.Generate([typeof(BoftBackend).Assembly, typeof(SimdBackend).Assembly]);
        if (Environment.GetEnvironmentVariable(UpdateVariable) == "1")
        {
            File.WriteAllText(path, generated);
            Assert.Pass($"{UpdateVariable}=1: wrote {path}.");
        }
        Assert.That(File.Exists(path), Is.True, $"docs/api.md is missing; create it with {UpdateVariable}=1 dotnet test --filter \"FullyQualifiedName~ApiSurface\"");
        string[] expected = File.ReadAllText(path).ReplaceLineEndings("\n").Split('\n');
        string[] actual = generated.Split('\n');
        int first = Enumerable.Range(0, Math.Min(expected.Length, actual.Length)).FirstOrDefault(i => expected[i] != actual[i], -1);
        if (first < 0 && expected.Length == actual.Length)
            return;
        first = first < 0 ? Math.Min(expected.Length, actual.Length) : first;
        Assert.Fail($"The public API differs from docs/api.md (first difference at line {first + 1}):\n" +
            $"  docs/api.md: {(first < expected.Length ? expected[first] : "<end>")}\n" +
            $"  assemblies:  {(first < actual.Length ? actual[first] : "<end>")}\n" +
            $"If the change is intended, run {UpdateVariable}=1 dotnet test --filter \"FullyQualifiedName~ApiSurface\" and commit docs/api.md.");
    }

    [Test]
    public void Generator_SeesTheContractAndItsHooks()
    {
        // The snapshot must be able to fail: it lists public methods, protected hooks and parameter nullability.
        string text = ApiSurface.Generate([typeof(BoftBackend).Assembly]);
        Assert.That(text, Does.Contain("public void Rotate(RotationShape shape, Tensor input, Tensor blocks, bool transpose, Tensor output)"));
        Assert.That(text, Does.Contain("protected abstract void RotateCore("));
        Assert.That(text, Does.Contain("Tensor? identityMask"));
        Assert.That(text, Does.Not.Contain("ShapeChecks"), "internal types are not public API");
    }

    private static string RepositoryRoot([CallerFilePath] string path = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", ".."));
}

/// <summary>Writes the public surface of assemblies as markdown, one code block per namespace.</summary>
internal static class ApiSurface
{
    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
    private static readonly NullabilityInfoContext Nullability = new();

    public static string Generate(IEnumerable<Assembly> assemblies)
    {
        var text = new StringBuilder();
        text.Append("# Public API of Boft.Core and Boft.Kernels\n\n");
        text.Append("Generated from the assemblies by `Boft.Tests/Docs/ApiSurfaceTests.cs`, which fails when this file and the code differ.\n");
        text.Append("After an intended change: `BOFT_UPDATE_API=1 dotnet test --filter \"FullyQualifiedName~ApiSurface\"`, then commit this file.\n");
        foreach (Assembly assembly in assemblies)
        {
            text.Append("\n## ").Append(assembly.GetName().Name).Append('\n');
            IEnumerable<IGrouping<string, Type>> namespaces = assembly.GetExportedTypes()
                .GroupBy(t => t.Namespace ?? "")
                .OrderBy(g => g.Key, StringComparer.Ordinal);
            foreach (IGrouping<string, Type> ns in namespaces)
            {
                text.Append("\n### ").Append(ns.Key).Append("\n\n```csharp\n");
                foreach (Type type in ns.OrderBy(t => t.FullName, StringComparer.Ordinal))
                    WriteType(text, type);
                text.Append("```\n");
            }
        }
        return text.ToString();
    }

    private static void WriteType(StringBuilder text, Type type)
    {
        text.Append(TypeDeclaration(type)).Append('\n');
        if (type.IsEnum)
        {
            foreach (string name in Enum.GetNames(type))
                text.Append("    ").Append(name).Append(" = ").Append(Convert.ToInt64(Enum.Parse(type, name), System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
            return;
        }
        if (typeof(Delegate).IsAssignableFrom(type))
            return;
        // Protected members of a sealed type cannot be reached from outside: only the public ones count there.
        bool Visible(MethodBase method) => method.IsPublic || (!type.IsSealed && (method.IsFamily || method.IsFamilyOrAssembly));
        var members = new List<(string Key, string Text)>();
        foreach (ConstructorInfo c in type.GetConstructors(Declared).Where(c => Visible(c) && !c.IsStatic))
            members.Add(("0", $"{Access(c)}{Name(type)}({Parameters(c.GetParameters())})"));
        foreach (MethodInfo m in type.GetMethods(Declared).Where(m => Visible(m) && !m.IsSpecialName && !m.Name.Contains('<', StringComparison.Ordinal)))
            members.Add(("2" + m.Name, $"{Access(m)}{Modifiers(m, type)}{TypeName(m.ReturnType, Nullability.Create(m.ReturnParameter))} {m.Name}{GenericArguments(m)}({Parameters(m.GetParameters())})"));
        foreach (PropertyInfo p in type.GetProperties(Declared))
        {
            MethodInfo? get = p.GetMethod is { } g && Visible(g) ? g : null, set = p.SetMethod is { } s && Visible(s) ? s : null;
            if (get is null && set is null)
                continue;
            MethodInfo accessor = (get ?? set)!;
            string accessors = (get is null ? "" : "get; ") + (set is null ? "" : IsInit(set) ? "init; " : "set; ");
            string name = p.GetIndexParameters().Length > 0 ? $"this[{Parameters(p.GetIndexParameters())}]" : p.Name;
            members.Add(("1" + name, $"{Access(accessor)}{Modifiers(accessor, type)}{TypeName(p.PropertyType, Nullability.Create(p))} {name} {{ {accessors}}}"));
        }
        foreach (FieldInfo f in type.GetFields(Declared).Where(f => (f.IsPublic || (!type.IsSealed && (f.IsFamily || f.IsFamilyOrAssembly))) && !f.IsSpecialName))
            members.Add(("1" + f.Name, $"{(f.IsPublic ? "public " : "protected ")}{(f.IsLiteral ? "const " : f.IsStatic ? "static " : "")}{(f.IsInitOnly ? "readonly " : "")}{TypeName(f.FieldType, Nullability.Create(f))} {f.Name}"));
        foreach (EventInfo e in type.GetEvents(Declared).Where(e => e.AddMethod is { } a && Visible(a)))
            members.Add(("1" + e.Name, $"{Access(e.AddMethod!)}event {TypeName(e.EventHandlerType!, Nullability.Create(e))} {e.Name}"));
        foreach ((string _, string member) in members.OrderBy(m => m.Key, StringComparer.Ordinal).ThenBy(m => m.Text, StringComparer.Ordinal))
            text.Append("    ").Append(member).Append('\n');
        foreach (Type nested in type.GetNestedTypes(BindingFlags.Public).OrderBy(t => t.Name, StringComparer.Ordinal))
            WriteType(text, nested);
    }

    private static string Access(MethodBase method) => method.IsPublic ? "public " : "protected ";

    private static bool IsInit(MethodInfo setter) =>
        setter.ReturnParameter.GetRequiredCustomModifiers().Any(m => m.FullName == "System.Runtime.CompilerServices.IsExternalInit");

    private static string Modifiers(MethodInfo method, Type owner)
    {
        if (method.IsStatic)
            return "static ";
        if (owner.IsInterface)
            return "";
        if (method.IsAbstract)
            return "abstract ";
        bool isOverride = method.GetBaseDefinition().DeclaringType != method.DeclaringType;
        if (isOverride)
            return method.IsFinal ? "sealed override " : "override ";
        return method.IsVirtual && !method.IsFinal ? "virtual " : "";
    }

    private static string TypeDeclaration(Type type)
    {
        string access = type.IsNested ? "public nested " : "public ";
        if (type.IsEnum)
            return $"{access}enum {Name(type)} : {TypeName(Enum.GetUnderlyingType(type), null)}";
        if (typeof(Delegate).IsAssignableFrom(type) && type != typeof(Delegate))
        {
            MethodInfo invoke = type.GetMethod("Invoke")!;
            return $"{access}delegate {TypeName(invoke.ReturnType, Nullability.Create(invoke.ReturnParameter))} {Name(type)}({Parameters(invoke.GetParameters())})";
        }
        string kind = type.IsInterface ? "interface" : type.IsValueType ? (IsRecord(type) ? "record struct" : "struct") : IsRecord(type) ? "record" : "class";
        string modifiers = type.IsInterface || type.IsValueType ? "" : type.IsAbstract && type.IsSealed ? "static " : type.IsAbstract ? "abstract " : type.IsSealed ? "sealed " : "";
        if (type.IsValueType && type.GetCustomAttributes().Any(a => a.GetType().Name == "IsReadOnlyAttribute"))
            modifiers = "readonly ";
        var bases = new List<string>();
        if (type.BaseType is { } baseType && baseType != typeof(object) && baseType != typeof(ValueType))
            bases.Add(TypeName(baseType, null));
        IEnumerable<Type> inherited = type.BaseType?.GetInterfaces() ?? [];
        bases.AddRange(type.GetInterfaces().Except(inherited).Where(i => i.IsPublic || i.IsNestedPublic).Select(i => TypeName(i, null)).Order(StringComparer.Ordinal));
        return $"{access}{modifiers}{kind} {Name(type)}{(bases.Count > 0 ? " : " + string.Join(", ", bases) : "")}";
    }

    private static bool IsRecord(Type type) => type.GetMethod("<Clone>$") is not null || (type.IsValueType && type.GetMethod("PrintMembers", BindingFlags.NonPublic | BindingFlags.Instance) is not null);

    private static string Name(Type type)
    {
        string name = type.Name;
        int tick = name.IndexOf('`', StringComparison.Ordinal);
        if (tick >= 0)
            name = name[..tick];
        Type[] arguments = type.GetGenericArguments();
        if (type.IsNested && type.DeclaringType!.IsGenericType)
            arguments = arguments[type.DeclaringType.GetGenericArguments().Length..];
        return arguments.Length == 0 ? name : $"{name}<{string.Join(", ", arguments.Select(a => TypeName(a, null)))}>";
    }

    private static string GenericArguments(MethodInfo method) =>
        method.IsGenericMethodDefinition ? $"<{string.Join(", ", method.GetGenericArguments().Select(a => a.Name))}>" : "";

    private static string Parameters(ParameterInfo[] parameters) => string.Join(", ", parameters.Select(Parameter));

    private static string Parameter(ParameterInfo parameter)
    {
        Type type = parameter.ParameterType;
        string prefix = "";
        if (type.IsByRef)
        {
            prefix = parameter.IsOut ? "out " : parameter.IsIn ? "in " : "ref ";
            type = type.GetElementType()!;
        }
        if (parameter.GetCustomAttribute<ParamArrayAttribute>() is not null)
            prefix = "params ";
        string text = $"{prefix}{TypeName(type, Nullability.Create(parameter))} {parameter.Name}";
        if (parameter.HasDefaultValue)
            text += " = " + DefaultValue(parameter.DefaultValue);
        return text;
    }

    private static string DefaultValue(object? value) => value switch
    {
        null => "null",
        string s => $"\"{s}\"",
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string TypeName(Type type, NullabilityInfo? nullability)
    {
        if (type.IsByRef)
            return TypeName(type.GetElementType()!, nullability?.ElementType ?? nullability);
        if (Nullable.GetUnderlyingType(type) is { } underlying)
            return TypeName(underlying, null) + "?";
        if (type.IsArray)
            return TypeName(type.GetElementType()!, nullability?.ElementType) + "[" + new string(',', type.GetArrayRank() - 1) + "]" + Suffix(type, nullability);
        if (type.IsGenericParameter)
            return type.Name + Suffix(type, nullability);
        string name = Keyword(type) ?? (type.IsNested ? TypeName(type.DeclaringType!, null) + "." : "") + Plain(type);
        if (type.IsGenericType)
        {
            Type[] arguments = type.GetGenericArguments();
            NullabilityInfo[] argumentNullability = nullability?.GenericTypeArguments ?? [];
            if (type.IsNested && type.DeclaringType!.IsGenericType)
                arguments = arguments[type.DeclaringType.GetGenericArguments().Length..];
            if (type.FullName?.StartsWith("System.ValueTuple", StringComparison.Ordinal) == true)
                return "(" + string.Join(", ", arguments.Select((a, i) => TypeName(a, i < argumentNullability.Length ? argumentNullability[i] : null))) + ")" + Suffix(type, nullability);
            name += "<" + string.Join(", ", arguments.Select((a, i) => TypeName(a, i < argumentNullability.Length ? argumentNullability[i] : null))) + ">";
        }
        return name + Suffix(type, nullability);
    }

    private static string Plain(Type type)
    {
        string name = type.Name;
        int tick = name.IndexOf('`', StringComparison.Ordinal);
        return tick >= 0 ? name[..tick] : name;
    }

    private static string Suffix(Type type, NullabilityInfo? nullability) =>
        !type.IsValueType && nullability?.ReadState == NullabilityState.Nullable ? "?" : "";

    private static string? Keyword(Type type) => type == typeof(void) ? "void"
        : type == typeof(bool) ? "bool"
        : type == typeof(byte) ? "byte"
        : type == typeof(sbyte) ? "sbyte"
        : type == typeof(short) ? "short"
        : type == typeof(ushort) ? "ushort"
        : type == typeof(int) ? "int"
        : type == typeof(uint) ? "uint"
        : type == typeof(long) ? "long"
        : type == typeof(ulong) ? "ulong"
        : type == typeof(float) ? "float"
        : type == typeof(double) ? "double"
        : type == typeof(decimal) ? "decimal"
        : type == typeof(char) ? "char"
        : type == typeof(string) ? "string"
        : type == typeof(object) ? "object"
        : null;
}
