namespace DialogueDb.Operator.Resources;

/// <summary>A list keyed by these fields (<c>x-kubernetes-list-type: map</c>), so server-side apply merges by key.</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class ListMapKeysAttribute(params string[] keys) : Attribute
{
    public IReadOnlyList<string> Keys { get; } = keys;
}

/// <summary>A CEL rule (<c>x-kubernetes-validations</c>) the API server checks on every write.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Class, AllowMultiple = true)]
internal sealed class ValidationRuleAttribute(string rule, string message) : Attribute
{
    public string Rule { get; } = rule;

    public string Message { get; } = message;
}

/// <summary>A string format of the OpenAPI schema (<c>date-time</c>, ...).</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class FormatAttribute(string format) : Attribute
{
    public string Format { get; } = format;
}

/// <summary>A Kubernetes quantity: an integer or a string (<c>x-kubernetes-int-or-string</c>).</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class IntOrStringAttribute : Attribute;

/// <summary>A column of <c>kubectl get</c>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
internal sealed class PrinterColumnAttribute(string name, string type, string jsonPath) : Attribute
{
    public string Name { get; } = name;

    public string Type { get; } = type;

    public string JsonPath { get; } = jsonPath;

    public int Priority { get; init; }

    public string? Description { get; init; }
}
