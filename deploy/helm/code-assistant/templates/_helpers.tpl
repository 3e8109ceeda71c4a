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

{{/* The services' image; a service's own tag (imageTags) wins over image.tag. */}}
{{- define "ca.image" -}}
{{- $tag := index .root.Values.imageTags .component | default .root.Values.image.tag -}}
{{ .root.Values.image.repository }}:{{ $tag }}
{{- end -}}

{{/* Where each backing service is: the chart's own, or the one named in the values. The
bootstrap is fully qualified: KEDA's operator resolves it from its own namespace. */}}
{{- define "ca.kafkaBootstrap" -}}
{{- if .Values.kafka.strimzi.enabled -}}
{{ .Values.kafka.strimzi.clusterName }}-kafka-bootstrap.{{ .Release.Namespace }}.svc:9092
{{- else -}}
{{ required "kafka.bootstrap: set it, or enable kafka.strimzi" .Values.kafka.bootstrap }}
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

{{/* Settings from the ConfigMap; the URLs that may carry passwords from Secrets. */}}
{{- define "ca.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "ca.fullname" . }}-settings
env:
  - name: READY_FILE
    value: /tmp/ready
  - name: CLICKHOUSE_URL
    valueFrom:
      secretKeyRef:
        name: {{ .Values.clickhouse.existingSecret }}
        key: url
  {{- if not .Values.redis.enabled }}
  - name: REDIS_URL
    valueFrom:
      secretKeyRef:
        name: {{ required "redis.existingSecret: the Secret with REDIS_URL under 'url' (redis.enabled is false)" .Values.redis.existingSecret }}
        key: url
  {{- end }}
{{- end -}}

{{/* A service's command: the ready file of a previous run of the container is removed first
(the emptyDir outlives a restart), so readiness waits for this run. */}}
{{- define "ca.command" -}}
command: ["/bin/sh", "-c", {{ printf "rm -f /tmp/ready; exec python -m %s" . | quote }}]
{{- end -}}

{{/* What every pod shares: the config's checksum (a settings change restarts the pods), pull
secrets and scheduling. */}}
{{- define "ca.podMeta" -}}
annotations:
  checksum/settings: {{ include (print .Template.BasePath "/settings.yaml") . | sha256sum }}
  {{- with .Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{- define "ca.podSpec" -}}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Mounts: the tenants file and /tmp for all; the TLS key only where it is served (tls). */}}
{{- define "ca.volumeMounts" -}}
- name: tenants
  mountPath: /etc/code-assistant/tenants
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if and .tls .root.Values.tls.existingSecret }}
- name: tls
  mountPath: /etc/code-assistant/tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "ca.volumes" -}}
- name: tenants
  secret:
    secretName: {{ .root.Values.tenants.existingSecret }}
- name: tmp
  emptyDir: {}
{{- if and .tls .root.Values.tls.existingSecret }}
- name: tls
  secret:
    secretName: {{ .root.Values.tls.existingSecret }}
{{- end }}
{{- end -}}

{{/* Ready once the service has joined its consumer group (runtime.service writes READY_FILE). */}}
{{- define "ca.readyFile" -}}
readinessProbe:
  exec:
    command: ["test", "-f", "/tmp/ready"]
  periodSeconds: 5
{{- end -}}
