using System.Text;
using System.Threading.Channels;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace DialogueDb.Service.Tests.Audit;

/// <summary>The relay's pauses, on fake time: what it waits after the sink refuses a batch, and that the batch then goes out.</summary>
public sealed class OutboxRelayTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void NextSinkRetry_DoublesFromTheFirstPause_UpToTheMaximum()
    {
        var pauses = new List<TimeSpan> { OutboxRelay.SinkRetryFirst };
        while (pauses.Count < 8)
        {
            pauses.Add(OutboxRelay.NextSinkRetry(pauses[^1]));
        }

        Assert.Equal<double>([250, 500, 1000, 2000, 4000, 5000, 5000, 5000], pauses.Select(p => p.TotalMilliseconds));
    }

    [Fact]
    public async Task SinkDown_RelayWaitsTheGrowingPauseBetweenTries_ThenPublishesAndDeletesTheRow()
    {
        using var dataDir = new TestFolder();
        var options = new ServiceOptions { DataDir = dataDir.Path };
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddStorage(options);
        using var host = builder.Build();
        await DatabaseMigrator.EnsureEmbeddedSchemaAsync(host.Services, Ct);
        var protector = new ContentProtector(EncryptionKeyRing.NewRing(), "relay-pauses");
        var contexts = host.Services.GetRequiredService<DbContextOptions<DialogueDbContext>>();
        await using (var db = new DialogueDbContext(contexts))
        {
            db.Outbox.Add(new OutboxRow
            {
                EventId = "01EVENT",
                Namespace = "",
                Subject = "d-1",
                Payload = protector.Encrypt("""{"eventId":"01EVENT"}""", RowIdentity.AuditEvent("01EVENT")),
                Occurred = 1,
            });
            await db.SaveChangesAsync(Ct);
        }

        var time = new TimerRecordingTime();
        var sink = new SinkDownFor(failures: 7);
        using var signal = new OutboxSignal();
        using var relay = new OutboxRelay(() => new DialogueDbContext(contexts), leaderSource: null, protector, sink, signal, time,
            NullLogger<OutboxRelay>.Instance);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bounded.CancelAfter(TimeSpan.FromMinutes(1)); // a bound on a hang, not a timing: every pause below is fake time

        await relay.StartAsync(Ct);
        var pauses = new List<TimeSpan>();
        for (var tries = 1; tries <= 7; tries++)
        {
            var pause = await time.Timers.ReadAsync(bounded.Token);
            pauses.Add(pause);
            Assert.Equal(tries, sink.Tries);
            time.Advance(pause);
        }

        var published = await sink.Published.Task.WaitAsync(bounded.Token);
        await relay.StopAsync(Ct);

        Assert.Equal<double>([250, 500, 1000, 2000, 4000, 5000, 5000], pauses.Select(p => p.TotalMilliseconds));
        Assert.Equal(8, sink.Tries);
        Assert.Equal("""{"eventId":"01EVENT"}""", Encoding.UTF8.GetString(Assert.Single(published)));
        await using var check = new DialogueDbContext(contexts);
        Assert.Equal(0, await check.Outbox.CountAsync(Ct));
        Assert.Equal(1, relay.Published);
    }

    /// <summary>Fault injection: refuses the first <c>failures</c> batches as an unreachable stream would.</summary>
    private sealed class SinkDownFor(int failures) : IEventSink
    {
        private int _tries;

        public int Tries => Volatile.Read(ref _tries);

        public TaskCompletionSource<IReadOnlyList<byte[]>> Published { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Describe => "a sink that is down";

        public Task PublishAsync(IReadOnlyList<byte[]> events, CancellationToken ct)
        {
            if (Interlocked.Increment(ref _tries) <= failures)
            {
                throw new IOException("the sink is down");
            }

            Published.TrySetResult(events);
            return Task.CompletedTask;
        }

        public Task TrimAsync(CancellationToken ct) => Task.CompletedTask;
    }

    /// <summary>Fake time that reports each timer's due time as it is created, so the test advances exactly to it.</summary>
    private sealed class TimerRecordingTime : TimeProvider
    {
        private readonly FakeTimeProvider _fake = new(DateTimeOffset.UtcNow);
        private readonly Channel<TimeSpan> _timers = Channel.CreateUnbounded<TimeSpan>();

        public ChannelReader<TimeSpan> Timers => _timers.Reader;

        public void Advance(TimeSpan by) => _fake.Advance(by);

        public override DateTimeOffset GetUtcNow() => _fake.GetUtcNow();

        public override long GetTimestamp() => _fake.GetTimestamp();

        public override long TimestampFrequency => _fake.TimestampFrequency;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = _fake.CreateTimer(callback, state, dueTime, period);
            _timers.Writer.TryWrite(dueTime);
            return timer;
        }
    }
}
