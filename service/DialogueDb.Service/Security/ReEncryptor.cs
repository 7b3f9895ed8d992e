using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Security;

/// <summary>
/// Moves every stored ciphertext (content, state, values, and the free-text labels, descriptions and names) to the active data key, in bounded batches (short transactions, bounded memory).
/// Safe while the API serves: each row is replaced only if it still holds the ciphertext that was read (an API write in
/// between wins and is already on the active key). Resumable: a rerun skips rows already on the active key.
/// Runs over a connection that sees every namespace (the maintenance role; SQLite has no row-level security).
/// </summary>
internal sealed class ReEncryptor(DialogueDbContext db, ContentProtector protector, TextWriter progress, TimeProvider time)
{
    public sealed record Totals(string Table, long Scanned, long Rewritten, long Skipped);

    public async Task<IReadOnlyList<Totals>> RunAsync(int batchSize, CancellationToken ct)
    {
        var active = protector.Ring.ActiveId;
        progress.WriteLine($"Re-encrypting to data key {active} in batches of {batchSize}.");
        return
        [
            await RunTableAsync<(string, string, long)>("messages", batchSize, async (after, size) =>
            {
                var rows = db.Messages.IgnoreQueryFilters().AsNoTracking();
                if (after is var (ns, dialogueId, seq))
                {
                    rows = rows.Where(m => string.Compare(m.Namespace, ns) > 0
                        || (m.Namespace == ns && (string.Compare(m.DialogueId, dialogueId) > 0 || (m.DialogueId == dialogueId && m.Seq > seq))));
                }

                var batch = await rows.OrderBy(m => m.Namespace).ThenBy(m => m.DialogueId).ThenBy(m => m.Seq).Take(size)
                    .Select(m => new { m.Namespace, m.DialogueId, m.Seq, m.Id, m.Content, m.Name }).ToListAsync(ct);
                var rewritten = 0;
                foreach (var m in batch)
                {
                    var content = Fresh(m.Content, RowIdentity.MessageContent(m.Namespace, m.DialogueId, m.Id), active);
                    var name = Fresh(m.Name, RowIdentity.MessageName(m.Namespace, m.DialogueId, m.Id), active);
                    if (content is null && name is null)
                    {
                        continue;
                    }

                    rewritten += await db.Messages.IgnoreQueryFilters()
                        .Where(x => x.Namespace == m.Namespace && x.DialogueId == m.DialogueId && x.Seq == m.Seq
                            && x.Content == m.Content && x.Name == m.Name)
                        .ExecuteUpdateAsync(s => s.SetProperty(x => x.Content, content ?? m.Content).SetProperty(x => x.Name, name ?? m.Name), ct);
                }

                return (batch.Count, rewritten, batch.Count == 0 ? null : (batch[^1].Namespace, batch[^1].DialogueId, batch[^1].Seq));
            }),
            await RunTableAsync<(string, string)>("dialogues", batchSize, async (after, size) =>
            {
                var rows = db.Dialogues.IgnoreQueryFilters().AsNoTracking();
                if (after is var (ns, id))
                {
                    rows = rows.Where(d => string.Compare(d.Namespace, ns) > 0 || (d.Namespace == ns && string.Compare(d.Id, id) > 0));
                }

                var batch = await rows.OrderBy(d => d.Namespace).ThenBy(d => d.Id).Take(size)
                    .Select(d => new { d.Namespace, d.Id, d.State, d.Label }).ToListAsync(ct);
                var rewritten = 0;
                foreach (var d in batch)
                {
                    var state = Fresh(d.State, RowIdentity.DialogueState(d.Namespace, d.Id), active);
                    var label = Fresh(d.Label, RowIdentity.DialogueLabel(d.Namespace, d.Id), active);
                    if (state is null && label is null)
                    {
                        continue;
                    }

                    rewritten += await db.Dialogues.IgnoreQueryFilters()
                        .Where(x => x.Namespace == d.Namespace && x.Id == d.Id && x.State == d.State && x.Label == d.Label)
                        .ExecuteUpdateAsync(s => s.SetProperty(x => x.State, state ?? d.State).SetProperty(x => x.Label, label ?? d.Label), ct);
                }

                return (batch.Count, rewritten, batch.Count == 0 ? null : (batch[^1].Namespace, batch[^1].Id));
            }),
            await RunTableAsync<(string, string)>("memories", batchSize, async (after, size) =>
            {
                var rows = db.Memories.IgnoreQueryFilters().AsNoTracking();
                if (after is var (ns, id))
                {
                    rows = rows.Where(m => string.Compare(m.Namespace, ns) > 0 || (m.Namespace == ns && string.Compare(m.Id, id) > 0));
                }

                var batch = await rows.OrderBy(m => m.Namespace).ThenBy(m => m.Id).Take(size)
                    .Select(m => new { m.Namespace, m.Id, m.Value, m.Label, m.Description }).ToListAsync(ct);
                var rewritten = 0;
                foreach (var m in batch)
                {
                    var value = Fresh(m.Value, RowIdentity.MemoryValue(m.Namespace, m.Id), active);
                    var label = Fresh(m.Label, RowIdentity.MemoryLabel(m.Namespace, m.Id), active);
                    var description = Fresh(m.Description, RowIdentity.MemoryDescription(m.Namespace, m.Id), active);
                    if (value is null && label is null && description is null)
                    {
                        continue;
                    }

                    rewritten += await db.Memories.IgnoreQueryFilters()
                        .Where(x => x.Namespace == m.Namespace && x.Id == m.Id && x.Value == m.Value && x.Label == m.Label
                            && x.Description == m.Description)
                        .ExecuteUpdateAsync(s => s.SetProperty(x => x.Value, value ?? m.Value).SetProperty(x => x.Label, label ?? m.Label)
                            .SetProperty(x => x.Description, description ?? m.Description), ct);
                }

                return (batch.Count, rewritten, batch.Count == 0 ? null : (batch[^1].Namespace, batch[^1].Id));
            }),
        ];
    }

    /// <summary>
    /// The value encrypted under the active key, or null when it already is (or is absent). A value in the upgrade's
    /// plaintext form is refused like tampered ciphertext (the sealer, not this, encrypts those): re-encrypting it would
    /// turn text planted in the database into a valid ciphertext.
    /// </summary>
    private byte[]? Fresh(byte[]? stored, RowIdentity row, uint active)
    {
        if (stored is null || (stored is [ContentProtector.FormatVersion, ..] && ContentProtector.KeyIdOf(stored) == active))
        {
            return null;
        }

        return protector.Encrypt(protector.Decrypt(stored, row), row);
    }

    /// <summary>Walks one table in primary-key order; <paramref name="batch"/> returns (rows read, rows rewritten, last key).</summary>
    private async Task<Totals> RunTableAsync<TKey>(string table, int batchSize,
        Func<TKey?, int, Task<(int Read, int Rewritten, TKey? Last)>> batch)
        where TKey : struct
    {
        var started = time.GetTimestamp();
        long scanned = 0;
        long rewritten = 0;
        TKey? after = null;
        while (true)
        {
            var (read, changed, last) = await batch(after, batchSize);
            scanned += read;
            rewritten += changed;
            if (read > 0)
            {
                var seconds = Math.Max(time.GetElapsedTime(started).TotalSeconds, 0.001);
                progress.WriteLine($"  {table}: scanned {scanned}, re-encrypted {rewritten} ({scanned / seconds:F0} rows/s)");
            }

            if (read < batchSize)
            {
                break;
            }

            after = last;
        }

        var skipped = scanned - rewritten;
        progress.WriteLine($"{table}: done, {rewritten} re-encrypted, {skipped} already on the active key " +
            $"({time.GetElapsedTime(started).TotalSeconds:F1} s).");
        return new Totals(table, scanned, rewritten, skipped);
    }
}
