#!/usr/bin/env bash
# `make demo`: start kubeserve, apply the guide's YAML with the real kubectl, and show it back.
set -euo pipefail
cd "$(dirname "$0")/.."
export KUBESERVE_HOME="${KUBESERVE_HOME:-$PWD/.kubeserve-demo}"
export KUBESERVE_API_PORT="${KUBESERVE_API_PORT:-16443}"
KS=".venv/bin/kubeserve"
GUIDE="tests/fixtures/guide"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "$*"; "$@"; }

"$KS" up --detach
export KUBECONFIG="$("$KS" kubeconfig)"
export KUBECACHEDIR="$KUBESERVE_HOME/kubectl-cache"
trap '[ "${KEEP:-0}" = 1 ] || "$KS" down' EXIT

run kubectl version
run kubectl get namespaces
run kubectl get acceleratorprofiles -n redhat-ods-applications
kubectl get namespace my-namespace >/dev/null 2>&1 || run kubectl create namespace my-namespace

# The guide's complete working example, verbatim.
run kubectl apply -f "$GUIDE/granite-model-runtime.yaml" -n my-namespace
run kubectl apply -f "$GUIDE/granite-model-service.yaml" -n my-namespace
run kubectl apply -f "$GUIDE/granite-model-route.yaml" -n my-namespace
run kubectl apply -f "$GUIDE/granite-model-service.yaml" -n my-namespace   # again: unchanged

run kubectl get servingruntimes -n my-namespace
run kubectl get inferenceservices -n my-namespace -o wide
run kubectl get routes -n my-namespace
step "kubectl get inferenceservices -o custom-columns=... -n my-namespace"
kubectl get inferenceservices -n my-namespace -o custom-columns=\
NAME:.metadata.name,\
RUNTIME:.spec.predictor.model.runtime,\
MODEL:.spec.predictor.model.storageUri,\
READY:.status.conditions[?\(@.type==\'Ready\'\)].status,\
URL:.status.url
# No GPU here: the controller explains why the guide's GPU example cannot run (Insufficient nvidia.com/gpu).
sleep 3
run kubectl describe inferenceservice granite-model -n my-namespace
run kubectl explain inferenceservice.spec.predictor.model.storage

# Admission explains the guide's rules: a runtime whose name differs from the InferenceService.
step "kubectl apply (an InferenceService naming another runtime: kubeserve warns)"
sed 's/name: minimal-model$/name: minimal-model-v2/' "$GUIDE/minimal-model-service.yaml" | kubectl apply -n my-namespace -f -

# The embedded node: a Deployment and a Service, run as local process trees, queried the guide's way.
run kubectl get nodes -o wide
step "kubectl get nodes -o custom-columns=NAME:.metadata.name,GPUs:.status.capacity.nvidia\\.com/gpu"
kubectl get nodes -o custom-columns=NAME:.metadata.name,GPUs:.status.capacity.nvidia\\.com/gpu
run kubectl create deployment hello --image=kubeserve/http-test-server --replicas=2 --port=8080 -n my-namespace
run kubectl expose deployment hello --port=80 --target-port=8080 -n my-namespace
run kubectl rollout status deployment/hello -n my-namespace --timeout=120s
run kubectl get pods,services,endpoints -n my-namespace -o wide
run kubectl run test-curl --image=curlimages/curl:latest --rm -i --restart=Never -n my-namespace -- \
  curl -s http://hello.my-namespace.svc.cluster.local:80/
run kubectl logs -l app=hello -n my-namespace --prefix --tail=3
run kubectl top pod -n my-namespace

# Model storage: the guide's PVC example needs model files on the claim; then place them as the storage
# initializer does (pvc:// is used in place, never copied), and see a bad URI explain itself.
DEMO_MODEL="$KUBESERVE_HOME/demo-model"
mkdir -p "$DEMO_MODEL"
echo '{"architectures": ["LlamaForCausalLM"], "hidden_size": 256}' > "$DEMO_MODEL/config.json"
head -c 1048576 /dev/urandom > "$DEMO_MODEL/model.safetensors"
step "kubectl apply -f - -n my-namespace   (PersistentVolumeClaim model-pvc)"
kubectl apply -n my-namespace -f - <<'YAML'
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: model-pvc
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
YAML
run "$KS" pvc cp "$DEMO_MODEL" model-pvc:llama-3.1-8b-instruct -n my-namespace --progress none
rm -rf "$KUBESERVE_HOME/placed"
run "$KS" storage pull pvc://model-pvc/llama-3.1-8b-instruct "$KUBESERVE_HOME/placed" -n my-namespace
run ls -l "$KUBESERVE_HOME/placed/"
step "$KS storage pull gs://my-bucket/model /tmp/model   (unsupported: kubeserve says why)"
"$KS" storage pull gs://my-bucket/model "$KUBESERVE_HOME/nowhere" || true

# Serve the guide's CPU example for real: its oci://registry.redhat.io/… modelcar comes from a local registry
# (a small model built here, pushed under the same repository name) through kubeserve's registry mirror.
REG_PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$KUBESERVE_HOME/registry"
cat > "$KUBESERVE_HOME/registry/config.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $KUBESERVE_HOME/registry/data}}
http: {addr: 127.0.0.1:$REG_PORT}
YAML
docker-registry serve "$KUBESERVE_HOME/registry/config.yml" >"$KUBESERVE_HOME/registry/log" 2>&1 &
REG_PID=$!
trap 'kill $REG_PID 2>/dev/null; [ "${KEEP:-0}" = 1 ] || "$KS" down' EXIT
cat > "$KUBESERVE_HOME/registries.conf" <<TOML
[[registry]]
prefix = "registry.redhat.io"
location = "registry.redhat.io"
[[registry.mirror]]
location = "127.0.0.1:$REG_PORT"
insecure = true
TOML
rm -rf "$KUBESERVE_HOME/llama-demo"
run "$KS" demo-model "$KUBESERVE_HOME/llama-demo"
run "$KS" modelcar build "$KUBESERVE_HOME/llama-demo" \
  "127.0.0.1:$REG_PORT/rhelai1/modelcar-granite-3-1-8b-instruct:1.5" --push --progress none
run kubectl apply -f "$GUIDE/cpu-model-runtime.yaml" -n my-namespace
run kubectl apply -f "$GUIDE/cpu-model-service.yaml" -n my-namespace
run kubectl wait --for=condition=Ready inferenceservice/cpu-model --timeout=600s -n my-namespace
run kubectl get inferenceservice cpu-model -n my-namespace
run kubectl run query --image=curlimages/curl:latest --rm -i --restart=Never -n my-namespace -- \
  curl -s http://cpu-model-predictor.my-namespace.svc.cluster.local/v1/completions \
  -H 'Content-Type: application/json' -d '{"model": "cpu-model", "prompt": "Hello", "max_tokens": 12}'
echo
run kubectl get events -n my-namespace --field-selector involvedObject.name=cpu-model

# The gateway: a Route to an InferenceService that is not exposed is refused, with the label to add.
step "kubectl apply -f - -n my-namespace   (Route cpu-model, edge TLS, to cpu-model-predictor)"
kubectl apply -n my-namespace -f - <<'YAML'
apiVersion: route.openshift.io/v1
kind: Route
metadata:
  name: cpu-model
spec:
  to: {kind: Service, name: cpu-model-predictor, weight: 100}
  port: {targetPort: http}
  tls: {termination: edge, insecureEdgeTerminationPolicy: Redirect}
YAML
sleep 2
run kubectl get route cpu-model -n my-namespace -o jsonpath='{.status.ingress[0].conditions[?(@.type=="Admitted")]}'
echo
run kubectl label inferenceservice cpu-model networking.kserve.io/visibility=exposed -n my-namespace
run kubectl wait --for=condition=Ready inferenceservice/cpu-model --timeout=600s -n my-namespace
run kubectl get route cpu-model -n my-namespace
ROUTE_URL=$(kubectl get route cpu-model -n my-namespace -o jsonpath='{.spec.host}')
HTTPS_PORT=$(cut -d' ' -f1 "$KUBESERVE_HOME/router-ports")
[ "$HTTPS_PORT" = 443 ] || ROUTE_URL="$ROUTE_URL:$HTTPS_PORT"
export CURL_CA_BUNDLE="$("$KS" ca)"
step "curl -X POST \"https://$ROUTE_URL/v2/models/cpu-model/infer\"   (the guide's KServe v2 request)"
for attempt in 1 2 3 4 5 6 7 8 9 10; do   # the Route's admission reaches the gateway within a second or two
  curl -sS --fail-with-body -X POST "https://$ROUTE_URL/v2/models/cpu-model/infer" -H "Content-Type: application/json" \
    -d '{"inputs": [{"name": "text_input", "shape": [1], "datatype": "BYTES", "data": ["What is machine learning?"]}],
         "parameters": {"temperature": 0.7, "max_tokens": 24}}' && break
  sleep 1
done
echo

echo
echo "kubeserve is serving the API at https://127.0.0.1:$KUBESERVE_API_PORT"
echo "cpu-model answers the OpenAI API at http://cpu-model-predictor.my-namespace.svc.cluster.local (inside pods)"
echo "or: kubectl port-forward service/cpu-model-predictor 8080:80 -n my-namespace"
echo "and through its Route: curl --cacert $("$KS" ca) https://$ROUTE_URL/v2/models/cpu-model (OpenAI: /v1/...)"
if [ "${KEEP:-0}" = 1 ]; then
  echo "still running: export KUBECONFIG=$KUBECONFIG; stop with: $KS down --home $KUBESERVE_HOME"
fi
