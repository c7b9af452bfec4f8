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

{{/*
The media claim and the nodes. Web, worker and beat pods all mount it, on as many nodes as the
scheduler likes: a ReadWriteOnce volume attaches to one node, and pods placed elsewhere hang in
ContainerCreating (Multi-Attach error). ReadWriteMany is the default; ReadWriteOnce only with
media.persistence.singleNode, which keeps every pod that mounts it on one node; ReadWriteOncePod
(one pod at all) never. Describe an existingClaim with accessMode too.
*/}}
{{- define "banchengshi.mediaCheck" -}}
{{- $persistence := .Values.media.persistence -}}
{{- if $persistence.enabled -}}
{{- if eq $persistence.accessMode "ReadWriteOncePod" -}}
{{- fail "media.persistence.accessMode is ReadWriteOncePod: only one pod may mount such a volume, and the web, worker and beat pods all mount the media volume. Use a ReadWriteMany storage class (NFS, CephFS, a shared-file CSI driver). (docs/DEPLOY.md, \"Attachments\")" -}}
{{- else if and (eq $persistence.accessMode "ReadWriteOnce") (not $persistence.singleNode) -}}
{{- fail "media.persistence.accessMode is ReadWriteOnce: the volume attaches to one node, and web, worker and beat pods on other nodes would hang in ContainerCreating (Multi-Attach error). Use a ReadWriteMany storage class (NFS, CephFS, a shared-file CSI driver), or set media.persistence.singleNode=true to run every pod that mounts it on the node of the first one (no spreading over nodes: that node's loss stops the platform; its capacity bounds the autoscalers). (docs/DEPLOY.md, \"Attachments\")" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "banchengshi.mediaSingleNode" -}}
{{- $persistence := .Values.media.persistence -}}
{{- if and $persistence.enabled (eq $persistence.accessMode "ReadWriteOnce") $persistence.singleNode -}}true{{- end -}}
{{- end -}}

{{/*
A component's affinity: the values' own and, with a single-node media claim, a required podAffinity
to the other pods that mount it (the first one may land anywhere, since it matches its own term).
Call with (dict "root" $ "affinity" .Values.web.affinity); empty when there is none.
*/}}
{{- define "banchengshi.affinity" -}}
{{- $affinity := deepCopy (default (dict) .affinity) -}}
{{- if include "banchengshi.mediaSingleNode" .root -}}
{{- $podAffinity := deepCopy (default (dict) (get $affinity "podAffinity")) -}}
{{- $terms := default (list) (get $podAffinity "requiredDuringSchedulingIgnoredDuringExecution") -}}
{{- $name := dict "key" "app.kubernetes.io/name" "operator" "In" "values" (list (include "banchengshi.name" .root)) -}}
{{- $instance := dict "key" "app.kubernetes.io/instance" "operator" "In" "values" (list .root.Release.Name) -}}
{{- $component := dict "key" "app.kubernetes.io/component" "operator" "In" "values" (list "web" "worker" "beat") -}}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchExpressions" (list $name $instance $component)) -}}
{{- $_ := set $podAffinity "requiredDuringSchedulingIgnoredDuringExecution" (append $terms $term) -}}
{{- $_ := set $affinity "podAffinity" $podAffinity -}}
{{- end -}}
{{- if $affinity -}}
{{- toYaml $affinity -}}
{{- end -}}
{{- end -}}
