{{/* Names and labels shared by every template. */}}

{{- define "streamflow.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "streamflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "streamflow.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "streamflow.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "streamflow.labels" -}}
{{ include "streamflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: streamflow
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "streamflow.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* An env value as the string Kubernetes wants: values files give float64 (67108864 must not become
"6.7108864e+07"), --set gives int64 and bool. */}}
{{- define "streamflow.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) -}}
{{- . | int64 | toString | quote -}}
{{- else -}}
{{- . | toString | quote -}}
{{- end -}}
{{- end -}}

{{/* The operator container's env: the `env` map (sorted by name), then `extraEnv`; a name in both fails. */}}
{{- define "streamflow.env" -}}
{{- $env := .Values.env | default dict -}}
{{- range .Values.extraEnv -}}
{{- if hasKey $env .name -}}
{{- fail (printf "%s is set in both env and extraEnv: set it in one place" .name) -}}
{{- end -}}
{{- end -}}
{{- if or $env .Values.extraEnv -}}
env:
{{- range $name, $value := $env }}
  - name: {{ $name }}
    value: {{ include "streamflow.envValue" $value }}
{{- end }}
{{- range .Values.extraEnv }}
  - name: {{ .name }}
    {{- if hasKey . "value" }}
    value: {{ include "streamflow.envValue" .value }}
    {{- else }}
    valueFrom:
      {{- toYaml .valueFrom | nindent 6 }}
    {{- end }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* Labels of the `helm test` Pod: not the selector labels, so no Service or monitor selects it. */}}
{{- define "streamflow.testLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
app.kubernetes.io/part-of: streamflow
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
