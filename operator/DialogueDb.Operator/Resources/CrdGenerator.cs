using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace DialogueDb.Operator.Resources;

/// <summary>
/// Builds the CustomResourceDefinition from the C# types, so the CRD cannot drift from the model the operator reads:
/// descriptions, validation (patterns, enums, ranges, CEL rules), list-map keys and printer columns all come from
/// attributes on <see cref="DialogueProject"/>. <c>crds/dialogueprojects.dialoguedb.io.yaml</c> is its output, checked
/// by a test.
/// </summary>
internal static class CrdGenerator
{
    /// <summary>Kubernetes' resource.Quantity syntax (e.g. 500m, 1Gi, 1e3).</summary>
    private const string QuantityPattern =
        @"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

    public static string FileName => $"{DialogueProject.Plural}.{DialogueProject.Group}.yaml";

    public static V1CustomResourceDefinition Build()
    {
        var type = typeof(DialogueProject);
        var root = new V1JSONSchemaProps
        {
            Type = "object",
            Description = Describe(type),
            Properties = new Dictionary<string, V1JSONSchemaProps>
            {
                ["apiVersion"] = new() { Type = "string", Description = "The API version: dialoguedb.io/v1alpha1." },
                ["kind"] = new() { Type = "string", Description = "DialogueProject." },
                ["metadata"] = new() { Type = "object" },
                ["spec"] = Property(type.GetProperty(nameof(DialogueProject.Spec))!),
                ["status"] = Property(type.GetProperty(nameof(DialogueProject.Status))!),
            },
            Required = ["spec"],
        };

        return new V1CustomResourceDefinition
        {
            ApiVersion = "apiextensions.k8s.io/v1",
            Kind = "CustomResourceDefinition",
            Metadata = new V1ObjectMeta
            {
                Name = $"{DialogueProject.Plural}.{DialogueProject.Group}",
                Labels = new Dictionary<string, string> { ["app.kubernetes.io/part-of"] = "dialoguedb" },
            },
            Spec = new V1CustomResourceDefinitionSpec
            {
                Group = DialogueProject.Group,
                Scope = "Namespaced",
                Names = new V1CustomResourceDefinitionNames
                {
                    Kind = DialogueProject.KindName,
                    ListKind = DialogueProject.KindName + "List",
                    Plural = DialogueProject.Plural,
                    Singular = DialogueProject.Singular,
                    ShortNames = [DialogueProject.ShortName],
                    Categories = ["dialoguedb"],
                },
                Versions =
                [
                    new V1CustomResourceDefinitionVersion
                    {
                        Name = DialogueProject.Version,
                        Served = true,
                        Storage = true,
                        Schema = new V1CustomResourceValidation { OpenAPIV3Schema = root },
                        Subresources = new V1CustomResourceSubresources { Status = new object() },
                        AdditionalPrinterColumns = type.GetCustomAttributes<PrinterColumnAttribute>()
                            .Select(c => new V1CustomResourceColumnDefinition
                            {
                                JsonPath = c.JsonPath,
                                Name = c.Name,
                                Type = c.Type,
                                Description = c.Description,
                                Priority = c.Priority == 0 ? null : c.Priority,
                            })
                            .ToList(),
                    },
                ],
            },
        };
    }

    public static string ToYaml() =>
        "# Generated from operator/DialogueDb.Operator/Resources by `dialoguedb-operator crd`; do not edit by hand.\n" +
        KubernetesYaml.Serialize(Build());

    private static V1JSONSchemaProps Property(PropertyInfo property)
    {
        var schema = Schema(Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType, property);
        schema.Description = Describe(property);
        return schema;
    }

    private static V1JSONSchemaProps Schema(Type type, PropertyInfo? property)
    {
        var schema = type switch
        {
            _ when type == typeof(string) => StringSchema(property),
            _ when type == typeof(int) => new V1JSONSchemaProps { Type = "integer", Format = "int32" },
            _ when type == typeof(long) => new V1JSONSchemaProps { Type = "integer", Format = "int64" },
            _ when type == typeof(bool) => new V1JSONSchemaProps { Type = "boolean" },
            _ when type == typeof(DateTime) => new V1JSONSchemaProps { Type = "string", Format = "date-time" },
            _ when IsDictionary(type) => MapSchema(property),
            _ when IsList(type, out var item) => ListSchema(item, property),
            _ when type.IsClass => ObjectSchema(type),
            _ => throw new NotSupportedException($"No CRD schema for {type.Name}."),
        };

        if (property is null)
        {
            return schema;
        }

        if (property.GetCustomAttribute<DefaultValueAttribute>() is { } defaultValue)
        {
            schema.DefaultProperty = defaultValue.Value;
        }

        if (property.GetCustomAttribute<RangeAttribute>() is { } range)
        {
            schema.Minimum = Bound(range.Minimum);
            schema.Maximum = Bound(range.Maximum);
        }

        var rules = property.GetCustomAttributes<ValidationRuleAttribute>()
            .Select(r => new V1ValidationRule { Rule = r.Rule, Message = r.Message })
            .Concat(schema.XKubernetesValidations ?? [])
            .ToList();
        if (rules.Count > 0)
        {
            schema.XKubernetesValidations = rules;
        }

        return schema;
    }

    private static V1JSONSchemaProps StringSchema(PropertyInfo? property) => new()
    {
        Type = "string",
        Format = property?.GetCustomAttribute<FormatAttribute>()?.Format,
        Pattern = property?.GetCustomAttribute<RegularExpressionAttribute>()?.Pattern,
        MaxLength = property?.GetCustomAttribute<MaxLengthAttribute>()?.Length,
        EnumProperty = property?.GetCustomAttribute<AllowedValuesAttribute>()?.Values.Cast<object>().ToList(),
    };

    private static V1JSONSchemaProps MapSchema(PropertyInfo? property) => new()
    {
        Type = "object",
        MaxProperties = property?.GetCustomAttribute<MaxLengthAttribute>()?.Length,
        AdditionalProperties = property?.GetCustomAttribute<IntOrStringAttribute>() is null
            ? new V1JSONSchemaProps { Type = "string" }
            : new V1JSONSchemaProps
            {
                XKubernetesIntOrString = true,
                AnyOf = [new V1JSONSchemaProps { Type = "integer" }, new V1JSONSchemaProps { Type = "string" }],
                Pattern = QuantityPattern,
            },
    };

    private static V1JSONSchemaProps ListSchema(Type item, PropertyInfo? property)
    {
        var schema = new V1JSONSchemaProps
        {
            Type = "array",
            Items = Schema(item, null),
            MaxItems = property?.GetCustomAttribute<MaxLengthAttribute>()?.Length,
        };
        if (property?.GetCustomAttribute<ListMapKeysAttribute>() is { } keys)
        {
            schema.XKubernetesListType = "map";
            schema.XKubernetesListMapKeys = [.. keys.Keys];
        }
        else
        {
            schema.XKubernetesListType = "atomic";
        }

        return schema;
    }

    private static V1JSONSchemaProps ObjectSchema(Type type)
    {
        var properties = new Dictionary<string, V1JSONSchemaProps>();
        var required = new List<string>();
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var name = JsonName(property);
            properties[name] = Property(property);
            if (property.GetCustomAttribute<RequiredAttribute>() is not null)
            {
                required.Add(name);
            }
        }

        var schema = new V1JSONSchemaProps { Type = "object", Properties = properties, Required = required.Count > 0 ? required : null };
        var rules = type.GetCustomAttributes<ValidationRuleAttribute>().Select(
            r => new V1ValidationRule { Rule = r.Rule, Message = r.Message }).ToList();
        if (rules.Count > 0)
        {
            schema.XKubernetesValidations = rules;
        }

        return schema;
    }

    public static string JsonName(PropertyInfo property) =>
        property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.CamelCase.ConvertName(property.Name);

    private static double? Bound(object value)
    {
        var number = Convert.ToDouble(value, CultureInfo.InvariantCulture);
        // A bound at the type's limit is no bound; as a double it would not even round-trip.
        return number is >= int.MaxValue or <= int.MinValue ? null : number;
    }

    private static string Describe(MemberInfo member) =>
        member.GetCustomAttribute<DescriptionAttribute>()?.Description
        ?? throw new InvalidOperationException($"{member.DeclaringType?.Name}.{member.Name} needs a [Description] for the CRD.");

    private static bool IsDictionary(Type type) =>
        type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IDictionary<,>);

    private static bool IsList(Type type, out Type item)
    {
        item = typeof(object);
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IList<>))
        {
            item = type.GetGenericArguments()[0];
            return true;
        }

        return false;
    }
}
