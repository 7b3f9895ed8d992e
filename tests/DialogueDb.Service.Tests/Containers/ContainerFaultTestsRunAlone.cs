namespace DialogueDb.Service.Tests.Containers;

/// <summary>
/// The container fault tests run alone, not beside the rest of the suite: they start containers, stop, pause and
/// restart them and time how long requests take meanwhile, and the suite's own timed checks should not share the
/// two cores with that.
/// </summary>
[CollectionDefinition(DisableParallelization = true)]
public sealed class ContainerFaultTestsRunAlone;
