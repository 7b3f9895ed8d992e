{{/* The release's full name, at most 63 characters (a DNS label). */}}
{{- define "dialoguedb-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dialoguedb-operator.serviceAccountName" -}}
{{- default (include "dialoguedb-operator.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "dialoguedb-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dialoguedb-operator.labels" -}}
{{ include "dialoguedb-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dialoguedb
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "dialoguedb-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "dialoguedb-operator.serviceImage" -}}
{{- printf "%s:%s" .Values.serviceImage.repository (default .Chart.AppVersion .Values.serviceImage.tag) -}}
{{- end -}}

{{/* Where the operator reads its configuration and the shared servers' admin connections (mounted files). */}}
{{- define "dialoguedb-operator.configDir" -}}/etc/dialoguedb-operator{{- end -}}
