{{/* Names and labels. */}}
{{- define "banchengshi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "banchengshi.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "banchengshi.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "banchengshi.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "banchengshi.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "banchengshi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: banchengshi
{{- end -}}

{{/* Selector labels of one component: call with (dict "root" $ "component" "web"). */}}
{{- define "banchengshi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "banchengshi.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "banchengshi.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "banchengshi.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "banchengshi.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "banchengshi.secretName" -}}
{{- default (printf "%s-env" (include "banchengshi.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{/* Non-secret environment, shared by the ConfigMap and the migration hook. */}}
{{- define "banchengshi.configEnv" -}}
DJANGO_SETTINGS_MODULE: banchengshi.settings.production
COUNTY_DOMAIN_SUFFIX: {{ .Values.domainSuffix | quote }}
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
LOG_FORMAT: {{ .Values.config.logFormat | quote }}
SENTRY_ENVIRONMENT: {{ .Values.config.sentryEnvironment | quote }}
SENTRY_RELEASE: {{ printf "banchengshi@%s" (default .Chart.AppVersion .Values.image.tag) | quote }}
SMS_BACKEND: {{ .Values.config.smsBackend | quote }}
SMS_ENDPOINT: {{ .Values.config.smsEndpoint | quote }}
EMAIL_HOST: {{ .Values.config.emailHost | quote }}
EMAIL_PORT: {{ .Values.config.emailPort | quote }}
DEFAULT_FROM_EMAIL: {{ .Values.config.defaultFromEmail | quote }}
METRICS_ALLOWED_NETWORKS: {{ join "," .Values.config.metricsAllowedNetworks | quote }}
TRUSTED_PROXIES: {{ join "," .Values.config.trustedProxies | quote }}
INTEROP_WEBHOOK_ALLOWED_NETWORKS: {{ join "," .Values.config.interopWebhookAllowedNetworks | quote }}
WEB_CONCURRENCY: {{ .Values.web.concurrency | quote }}
CELERY_CONCURRENCY: {{ .Values.worker.concurrency | quote }}
WORKER_METRICS_PORT: {{ .Values.worker.metricsPort | quote }}
{{- range $key, $value := .Values.config.extraEnv }}
{{ $key }}: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* Pod-level settings every component shares. */}}
{{- define "banchengshi.podSpecCommon" -}}
serviceAccountName: {{ include "banchengshi.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
  - name: media
    {{- if .Values.media.persistence.enabled }}
    persistentVolumeClaim:
      claimName: {{ default (printf "%s-media" (include "banchengshi.fullname" .)) .Values.media.persistence.existingClaim }}
    {{- else }}
    emptyDir: {}
    {{- end }}
{{- end -}}

{{/* Container-level settings every component shares. */}}
{{- define "banchengshi.containerCommon" -}}
image: {{ include "banchengshi.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
envFrom:
  - configMapRef:
      name: {{ include "banchengshi.fullname" . }}
  - secretRef:
      name: {{ include "banchengshi.secretName" . }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  - name: media
    mountPath: /data/media
{{- end -}}

{{/* Restart pods when their configuration changes. */}}
{{- define "banchengshi.configChecksums" -}}
checksum/config: {{ include "banchengshi.configEnv" . | sha256sum }}
{{- if not .Values.existingSecret }}
checksum/secret: {{ toJson .Values.secrets | sha256sum }}
{{- end }}
{{- end -}}
