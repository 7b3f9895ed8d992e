namespace DialogueDb.Service.Hosting;

/// <summary>
/// Runs a background service (relay, usage flusher, policy watch) so that its failure cannot take the API down: a
/// crash is logged, counted, shown in <c>/healthz/ready</c> (Degraded) and the service is started again after a
/// backoff (1 s doubling to 1 min). A fatal failure (the process cannot go on: out of memory, a disposed container)
/// stops the host with exit code 1, so an orchestrator records it, instead of the default stop with code 0.
/// </summary>
internal sealed partial class SupervisedService(
    string name, IHostedService inner, TimeProvider time, IHostApplicationLifetime lifetime, ILogger<SupervisedService> logger,
    Action<int>? setExitCode = null) : BackgroundService
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(1);

    private readonly Action<int> _setExitCode = setExitCode ?? (code => Environment.ExitCode = code);
    private volatile string? _lastFailure;

    public string Name => name;

    /// <summary>Crashes since start.</summary>
    public int Failures { get; private set; }

    /// <summary>The type of the last failure while the service is waiting to restart; null while it runs.</summary>
    public string? LastFailure => _lastFailure;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = FirstBackoff;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await inner.StartAsync(stoppingToken);
                _lastFailure = null;
                if (inner is BackgroundService { ExecuteTask: { } running })
                {
                    await running.WaitAsync(stoppingToken);
                }

                return; // Finished on its own.
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (IsFatal(ex))
            {
                var error = ex.GetType().Name;
                LogFatal(logger, name, error, ex);
                _setExitCode(1);
                lifetime.StopApplication();
                return;
            }
            catch (Exception ex)
            {
                Failures++;
                var error = ex.GetType().Name;
                _lastFailure = error;
                LogRestarting(logger, name, error, backoff.TotalSeconds, ex);
                try
                {
                    await Task.Delay(backoff, time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                backoff = backoff * 2 > MaxBackoff ? MaxBackoff : backoff * 2;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await inner.StopAsync(cancellationToken);
    }

    private static bool IsFatal(Exception ex) => ex is OutOfMemoryException or InsufficientExecutionStackException
        || (ex is ObjectDisposedException disposed && disposed.ObjectName?.Contains("ServiceProvider", StringComparison.Ordinal) == true);

    [LoggerMessage(Level = LogLevel.Error, Message = "Background service {Name} failed ({Error}); restarting it in {Seconds:F0} s")]
    private static partial void LogRestarting(ILogger logger, string name, string error, double seconds, Exception exception);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Background service {Name} failed fatally ({Error}); stopping the process with exit code 1")]
    private static partial void LogFatal(ILogger logger, string name, string error, Exception exception);
}

internal static class SupervisedServiceRegistration
{
    /// <summary>Registers <paramref name="service"/> to run under a <see cref="SupervisedService"/> (instead of AddHostedService).</summary>
    public static IServiceCollection AddSupervisedService<T>(this IServiceCollection services, string name, Func<IServiceProvider, T> service)
        where T : class, IHostedService
    {
        services.AddSingleton(sp => new SupervisedService(name, service(sp), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IHostApplicationLifetime>(), sp.GetRequiredService<ILogger<SupervisedService>>()));
        // Not AddHostedService: it de-duplicates by implementation type, which would keep only the first supervised service.
        services.AddSingleton<IHostedService>(sp => sp.GetServices<SupervisedService>().Single(s => s.Name == name));
        if (!services.Any(d => d.ServiceType == typeof(SupervisedServicesHealthCheck)))
        {
            services.AddSingleton<SupervisedServicesHealthCheck>();
            services.AddHealthChecks().AddCheck<SupervisedServicesHealthCheck>("background-services");
        }

        return services;
    }
}
