{{/*
The operator's RBAC rules, written once and used by the ClusterRole (every namespace) or by one Role per watched
namespace. They are exactly DialogueDb.Operator.Kubernetes.OperatorPermissions.Rules, the one list of what the
operator's code calls: tests/DialogueDb.Operator.Tests/Chart/ChartRbacTests.cs parses the YAML between the define
lines below and fails on any difference, so keep each block plain YAML (no template expressions).
*/}}
{{- define "dialoguedb-operator.projectRules" }}
- apiGroups: ["dialoguedb.io"]
  resources: ["dialogueprojects"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["dialoguedb.io"]
  resources: ["dialogueprojects/status"]
  verbs: ["patch"]
- apiGroups: ["dialoguedb.io"]
  resources: ["dialogueprojects/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: ["batch"]
  resources: ["cronjobs"]
  verbs: ["list", "watch", "create", "patch"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["list", "watch", "create", "patch"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles"]
  verbs: ["list", "watch", "create", "patch"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["rolebindings"]
  verbs: ["list", "watch", "create", "patch"]
{{- end }}

{{/* Leader election only: granted in the release namespace alone, never cluster-wide. */}}
{{- define "dialoguedb-operator.leaderElectionRules" }}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
{{- end }}
