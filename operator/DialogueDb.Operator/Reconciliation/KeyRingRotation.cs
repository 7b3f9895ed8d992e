using System.Globalization;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;
using static DialogueDb.Operator.Reconciliation.SecretData;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>
/// What a two-phase rotation needs to know about one kind of key ring kept as text in a generated Secret: the key of
/// the Secret that holds it, how to add a key that readers can use but writers do not yet, how to make that key the
/// active one, and what the Events say.
/// </summary>
internal sealed record KeyRingFormat(
    string File,
    Func<string, string, (string Json, string Id)> AddReadOnlyKey,
    Func<string, string, string, string> Activate,
    string AddedReason,
    Func<string, int, string, string> AddedMessage,
    string ActivatedReason,
    Func<string, string> ActivatedMessage);

/// <summary>
/// Two-phase rotation of a key ring in a generated Secret, the same for the data keys and the event key. A raised
/// rotation counter adds a key for readers only (every replica decrypts with it, every event consumer opens with it;
/// annotations <c>dialoguedb.io/pending-key</c> and <c>dialoguedb.io/activate-at</c>); once
/// <see cref="OperatorOptions.EncryptionKeyActivationSeconds"/> have passed (longer than a kubelet takes to refresh a
/// Secret volume) the key becomes the active one writers use. So nothing is ever written under a key a reader does
/// not have yet. Each phase is one replace at the read resourceVersion: a concurrent change gives 409 and a retry,
/// never a lost key.
/// </summary>
internal sealed class KeyRingRotation(OwnSecrets secrets, OperatorOptions options, EventRecorder events, TimeProvider time)
{
    /// <summary>Moves the rotation on by at most one phase; returns when a pending key becomes active (null: none pending).</summary>
    public async Task<DateTimeOffset?> AdvanceAsync(
        DialogueProject project, V1Secret secret, int wanted, KeyRingFormat format, CancellationToken cancellationToken)
    {
        var (ns, name) = (secret.Metadata.NamespaceProperty, secret.Metadata.Name);
        secret.Metadata.Annotations ??= new Dictionary<string, string>();
        var annotations = secret.Metadata.Annotations;
        var source = $"Secret {ns}/{name}";
        var now = time.GetUtcNow();
        if (annotations.TryGetValue(PendingKeyAnnotation, out var pending) && annotations.TryGetValue(ActivateAtAnnotation, out var at))
        {
            var activatesAt = DateTimeOffset.Parse(at, CultureInfo.InvariantCulture);
            if (now < activatesAt)
            {
                return activatesAt;
            }

            secret.Data[format.File] = Utf8(format.Activate(Text(secret, format.File), source, pending));
            annotations.Remove(PendingKeyAnnotation);
            annotations.Remove(ActivateAtAnnotation);
            await secrets.ReplaceAsync(secret, cancellationToken);
            await events.RecordAsync(project, "Normal", format.ActivatedReason, format.ActivatedMessage(pending), cancellationToken);
            return null;
        }

        if (Rotation(secret) >= wanted)
        {
            return null;
        }

        var (json, id) = format.AddReadOnlyKey(Text(secret, format.File), source);
        var activation = now + TimeSpan.FromSeconds(options.EncryptionKeyActivationSeconds);
        var activationText = activation.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);
        secret.Data[format.File] = Utf8(json);
        annotations[RotationAnnotation] = Invariant(wanted);
        annotations[PendingKeyAnnotation] = id;
        annotations[ActivateAtAnnotation] = activationText;
        await secrets.ReplaceAsync(secret, cancellationToken);
        await events.RecordAsync(project, "Normal", format.AddedReason, format.AddedMessage(id, wanted, activationText), cancellationToken);
        return activation;
    }
}
