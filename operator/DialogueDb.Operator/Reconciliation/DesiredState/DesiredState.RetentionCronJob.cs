using System.Globalization;
using System.IO.Hashing;
using System.Text;
using DialogueDb.Operator.Resources;
using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>The daily retention job.</summary>
internal static partial class DesiredState
{
    public static V1CronJob RetentionCronJob(ProjectInputs inputs)
    {
        var project = inputs.Project;
        var pod = PodSpec(inputs, "retention", "Never");
        pod.Containers = [Container(
            inputs, "retention", ["retention"], [SecretEnv("DIALOGUEDB_POSTGRES", inputs.MaintenanceDatabase)], withProbes: false)];
        return new V1CronJob
        {
            ApiVersion = "batch/v1",
            Kind = "CronJob",
            Metadata = Meta(project, Retention(project.Metadata.Name), "retention"),
            Spec = new V1CronJobSpec
            {
                Schedule = project.Spec.RetentionSchedule ?? DefaultRetentionSchedule(project),
                TimeZone = "Etc/UTC",
                ConcurrencyPolicy = "Forbid",
                StartingDeadlineSeconds = 3600,
                SuccessfulJobsHistoryLimit = 1,
                FailedJobsHistoryLimit = 3,
                Suspend = project.Spec.Suspend == true ? true : null,
                JobTemplate = new V1JobTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = Labels(project, "retention") },
                    Spec = new V1JobSpec
                    {
                        BackoffLimit = 3,
                        TtlSecondsAfterFinished = 86400,
                        Template = new V1PodTemplateSpec
                        {
                            Metadata = new V1ObjectMeta { Labels = Labels(project, "retention") },
                            Spec = pod,
                        },
                    },
                },
            },
        };
    }

    /// <summary>Once a day at a minute between 00:00 and 05:59 UTC derived from the project, so projects do not all run at once.</summary>
    public static string DefaultRetentionSchedule(DialogueProject project)
    {
        var hash = Crc32.HashToUInt32(Encoding.UTF8.GetBytes($"{project.Metadata.NamespaceProperty}/{project.Metadata.Name}"));
        return string.Create(CultureInfo.InvariantCulture, $"{hash % 60} {hash / 60 % 6} * * *");
    }
}
