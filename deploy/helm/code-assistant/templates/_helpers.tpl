{{/* Names and labels. */}}
{{- define "ca.fullname" -}}
{{- printf "%s-code-assistant" .Release.Name | trunc 53 | trimSuffix "-" -}}
{{- end -}}

{{- define "ca.labels" -}}
app.kubernetes.io/name: code-assistant
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ca.selector" -}}
app.kubernetes.io/name: code-assistant
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ca.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{/* Where each backing service is: the chart's own, or the one named in the values. */}}
{{- define "ca.kafkaBootstrap" -}}
{{- if .Values.kafka.strimzi.enabled -}}
{{ .Values.kafka.strimzi.clusterName }}-kafka-bootstrap:9092
{{- else -}}
{{ required "kafka.bootstrap: set it, or enable kafka.strimzi" .Values.kafka.bootstrap }}
{{- end -}}
{{- end -}}

{{- define "ca.clickhouseUrl" -}}
{{- if .Values.clickhouse.altinity.enabled -}}
http://clickhouse-{{ include "ca.fullname" . }}:8123
{{- else -}}
{{ required "clickhouse.url: set it, or enable clickhouse.altinity" .Values.clickhouse.url }}
{{- end -}}
{{- end -}}

{{- define "ca.redisUrl" -}}
{{- if .Values.redis.enabled -}}
redis://{{ include "ca.fullname" . }}-redis:6379/0
{{- else -}}
{{ required "redis.url: set it, or enable redis" .Values.redis.url }}
{{- end -}}
{{- end -}}

{{/* A code topic's segment: a fifth of its retention, at least 10 s (streams.kafka.code_segment_ms). */}}
{{- define "ca.codeSegmentMs" -}}
{{- max 10000 (div (int64 .Values.kafka.codeRetentionMs) 5) -}}
{{- end -}}

{{/* What every service container shares: non-root, read-only, the settings, the tenants file. */}}
{{- define "ca.securityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "ca.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "ca.fullname" . }}-settings
env:
  - name: READY_FILE
    value: /tmp/ready
{{- end -}}

{{- define "ca.volumeMounts" -}}
- name: tenants
  mountPath: /etc/code-assistant/tenants
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if .Values.tls.existingSecret }}
- name: tls
  mountPath: /etc/code-assistant/tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "ca.volumes" -}}
- name: tenants
  secret:
    secretName: {{ .Values.tenants.existingSecret }}
- name: tmp
  emptyDir: {}
{{- if .Values.tls.existingSecret }}
- name: tls
  secret:
    secretName: {{ .Values.tls.existingSecret }}
{{- end }}
{{- end -}}

{{/* Ready once the service has joined its consumer group (runtime.service writes READY_FILE). */}}
{{- define "ca.readyFile" -}}
readinessProbe:
  exec:
    command: ["test", "-f", "/tmp/ready"]
  periodSeconds: 5
{{- end -}}
