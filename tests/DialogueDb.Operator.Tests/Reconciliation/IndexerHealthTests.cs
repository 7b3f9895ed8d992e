using DialogueDb.Operator.Reconciliation;
using k8s.Models;

namespace DialogueDb.Operator.Tests.Reconciliation;

/// <summary>The SearchIndexerReady condition from the indexer Deployment's status and its pods' container states.</summary>
public sealed class IndexerHealthTests
{
    private static V1Deployment Deployment(int replicas, int available, long generation = 2, long observed = 2,
        params V1DeploymentCondition[] conditions) => new()
    {
        Metadata = new V1ObjectMeta { Name = "support-indexer", Generation = generation },
        Spec = new V1DeploymentSpec { Replicas = replicas },
        Status = new V1DeploymentStatus { ObservedGeneration = observed, AvailableReplicas = available, Conditions = conditions },
    };

    private static V1Pod Pod(string name, V1ContainerState state, V1ContainerState? last = null) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Status = new V1PodStatus
        {
            ContainerStatuses = [new V1ContainerStatus { Name = "indexer", State = state, LastState = last, Image = "i", ImageID = "", Ready = false }],
        },
    };

    private static V1ContainerState Waiting(string reason, string? message = null) =>
        new() { Waiting = new V1ContainerStateWaiting { Reason = reason, Message = message } };

    [Fact]
    public void Of_EveryReplicaAvailable_Ready()
    {
        var health = IndexerHealth.Of(Deployment(replicas: 2, available: 2), []);

        Assert.Equal(new IndexerCondition(true, IndexerHealth.Available, "2/2 indexer pods available."), health);
    }

    [Fact]
    public void Of_ScaledToZero_ReadyWithNothingToRun()
    {
        Assert.Equal((true, IndexerHealth.ScaledToZero), Tuple(IndexerHealth.Of(Deployment(replicas: 0, available: 0), [])));
    }

    [Fact]
    public void Of_NoDeploymentYet_OrAStatusOfAnOlderGeneration_NotReady_Starting()
    {
        Assert.Equal((false, IndexerHealth.Starting), Tuple(IndexerHealth.Of(null, [])));
        Assert.Equal((false, IndexerHealth.Starting), Tuple(IndexerHealth.Of(Deployment(1, available: 1, generation: 3, observed: 2), [])));
    }

    [Fact]
    public void Of_CrashLoopingPod_NamesThePodTheReasonAndTheLastExit_WithoutTheChangingBackoff()
    {
        var crashing = Pod("support-indexer-7d9-abcde", Waiting("CrashLoopBackOff", "back-off 40s restarting failed container=indexer"),
            new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 1, Reason = "Error" } });

        var health = IndexerHealth.Of(Deployment(replicas: 1, available: 0), [crashing]);

        Assert.False(health.Ready);
        Assert.Equal("CrashLoopBackOff", health.Reason);
        Assert.Equal("0/1 indexer pods available. Pod support-indexer-7d9-abcde, container indexer: CrashLoopBackOff. It last exited with 1 (Error).",
            health.Message);
    }

    [Fact]
    public void Of_ImagePullBackOff_KeepsTheKubeletsMessage()
    {
        var pulling = Pod("support-indexer-1", Waiting("ImagePullBackOff", "Back-off pulling image \"registry/dialoguedb:9\""));

        var health = IndexerHealth.Of(Deployment(replicas: 1, available: 0), [pulling]);

        Assert.Equal((false, "ImagePullBackOff"), Tuple(health));
        Assert.Contains("registry/dialoguedb:9", health.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Of_PodsOnlyStarting_FallsBackToTheDeploymentsFailureCondition()
    {
        var creating = Pod("support-indexer-1", Waiting("ContainerCreating"));
        var stuck = Deployment(1, 0, conditions: new V1DeploymentCondition
        {
            Type = "Progressing", Status = "False", Reason = "ProgressDeadlineExceeded",
            Message = "ReplicaSet \"support-indexer-7d9\" has timed out progressing.",
        });

        Assert.Equal((false, IndexerHealth.Starting), Tuple(IndexerHealth.Of(Deployment(1, 0), [creating])));
        var health = IndexerHealth.Of(stuck, [creating]);
        Assert.Equal((false, "ProgressDeadlineExceeded"), Tuple(health));
        Assert.EndsWith("has timed out progressing.", health.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Of_PodsRefusedByAdmission_ReplicaFailureReason()
    {
        var refused = Deployment(1, 0, conditions: new V1DeploymentCondition
        {
            Type = "ReplicaFailure", Status = "True", Reason = "FailedCreate", Message = "pods \"support-indexer-1\" is forbidden: exceeded quota",
        });

        Assert.Equal((false, "FailedCreate"), Tuple(IndexerHealth.Of(refused, [])));
    }

    [Fact]
    public void Of_UnschedulablePod_SaysSo()
    {
        var pending = new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = "support-indexer-1" },
            Status = new V1PodStatus
            {
                Conditions = [new V1PodCondition { Type = "PodScheduled", Status = "False", Reason = "Unschedulable", Message = "0/3 nodes are available." }],
            },
        };

        var health = IndexerHealth.Of(Deployment(1, 0), [pending]);

        Assert.Equal((false, "Unschedulable"), Tuple(health));
        Assert.Contains("0/3 nodes are available.", health.Message, StringComparison.Ordinal);
    }

    private static (bool, string) Tuple(IndexerCondition condition) => (condition.Ready, condition.Reason);
}
