"""KServe schemas: InferenceService (serving.kserve.io/v1beta1) and (Cluster)ServingRuntime (v1alpha1).

Field names, types, enums and required lists follow the KServe CRDs (`config/crd/full/...`) and the Go
types in `pkg/apis/serving`. The predictor's `model` and the component extension fields are modelled in
full; the framework-specific predictors (sklearn, pytorch, ...), explainers and `status` are preserved.
"""

from __future__ import annotations

from ._build import (
    Schema,
    arr,
    boolean,
    int64,
    int_or_string,
    integer,
    merged,
    obj,
    preserve,
    resource,
    string,
    string_list,
    string_map,
    with_description,
)
from .core import AFFINITY, CONTAINER, CONTAINER_PROPS, ENV_VAR, IMAGE_PULL_SECRETS, TOLERATION, VOLUME
from .meta import OBJECT_META
from .pod import POD_SPEC_PROPS

PROTOCOL_VERSION = string("Protocol version to use by the predictor (i.e. v1 or v2 or grpc-v1 or grpc-v2).")

# ---- InferenceService --------------------------------------------------------------------------------

COMPONENT_EXTENSION_PROPS: dict[str, Schema] = {
    "minReplicas": integer(
        "Minimum number of replicas, defaults to 1 but can be set to 0 to enable scale-to-zero."
    ),
    "maxReplicas": integer("Maximum number of replicas for autoscaling."),
    "scaleTarget": integer(
        "ScaleTarget specifies the integer target value of the metric type the Autoscaler watches for."
    ),
    "scaleMetric": string(
        "ScaleMetric defines the scaling metric type watched by autoscaler: concurrency, rps, cpu or memory.",
        enum=("cpu", "memory", "concurrency", "rps"),
    ),
    "scaleMetricType": string(
        "Type of metric to use: Utilization or AverageValue.", enum=("Utilization", "AverageValue")
    ),
    "containerConcurrency": int64(
        "ContainerConcurrency specifies how many requests can be processed "
        "concurrently; the hard limit of the container concurrency."
    ),
    "timeout": int64(
        "TimeoutSeconds specifies the number of seconds to wait before timing out a request to the component."
    ),
    "canaryTrafficPercent": int64(
        "CanaryTrafficPercent defines the traffic split percentage between the "
        "candidate revision and the last ready revision."
    ),
    "logger": obj(
        {
            "url": string("URL to send logging events."),
            "mode": string(
                "Specifies the scope of the loggers: all (default), request or response.",
                enum=("all", "request", "response"),
            ),
        },
        preserve_unknown=True,
        description="Activate request/response logging and logger configurations.",
    ),
    "batcher": obj(
        {
            "maxBatchSize": integer("Specifies the max number of requests to trigger a batch."),
            "maxLatency": integer("Specifies the max latency to trigger a batch."),
            "timeout": integer("Specifies the timeout of a batch."),
        },
        description="Activate request batching and batching configurations.",
    ),
    "labels": string_map("Labels that will be added to the component pod."),
    "annotations": string_map("Annotations that will be added to the component pod."),
    "deploymentStrategy": obj(
        {
            "type": string("Recreate or RollingUpdate."),
            "rollingUpdate": obj({"maxSurge": int_or_string(), "maxUnavailable": int_or_string()}),
        },
        description="The deployment strategy to use to replace existing pods with new ones. Only applicable "
        "for raw deployment mode.",
    ),
    "autoScaling": preserve("AutoScaling to be used for autoscaling spec (metrics, behavior, KEDA)."),
}

MODEL_FORMAT = obj(
    {
        "name": string("Name of the model format."),
        "version": string(
            "Version of the model format. Used in validating that a predictor is supported by a "
            'runtime. Can be "major", "major.minor" or "major.minor.patch".'
        ),
    },
    required=("name",),
    description="ModelFormat being served.",
)

MODEL_STORAGE = obj(
    {
        "key": string("The Storage Key in the secret for this object."),
        "path": string(
            "The path to the object in the storage. Note that this path is relative to the storage URI."
        ),
        "parameters": string_map("Parameters to override the default storage credentials and config."),
        "schemaPath": string("The path to the model schema file in the storage."),
    },
    description="Storage Spec for model location.",
)

MODEL_SPEC = obj(
    merged(
        CONTAINER_PROPS,
        {
            "modelFormat": MODEL_FORMAT,
            "runtime": string("Specific ClusterServingRuntime/ServingRuntime name to use for deployment."),
            "storageUri": string(
                "This field points to the location of the trained model which is mounted "
                "onto the pod (oci://, s3://, pvc://, hf://, ...)."
            ),
            "storage": MODEL_STORAGE,
            "runtimeVersion": string("Runtime version of the predictor docker image."),
            "protocolVersion": PROTOCOL_VERSION,
        },
    ),
    required=("modelFormat",),
    description="Model spec for any arbitrary framework: container overrides plus the model format, the "
    "runtime to use and where the model is stored.",
)

_FRAMEWORKS = {
    "sklearn": "Spec for SKLearn model server.",
    "xgboost": "Spec for XGBoost model server.",
    "tensorflow": "Spec for TFServing (https://github.com/tensorflow/serving).",
    "pytorch": "Spec for TorchServe (https://pytorch.org/serve).",
    "triton": "Spec for Triton Inference Server.",
    "onnx": "Spec for ONNX runtime.",
    "huggingface": "Spec for HuggingFace runtime.",
    "pmml": "Spec for PMML.",
    "lightgbm": "Spec for LightGBM model server.",
    "paddle": "Spec for Paddle model server.",
}

# Inlined PodSpec: `containers` is optional on a component, whose predictor may be a `model` instead.
_POD_SPEC_PROPS = {
    **POD_SPEC_PROPS,
    "containers": arr(CONTAINER, "Containers of a custom component.", merge_key="name"),
}

WORKER_SPEC = obj(
    merged(
        _POD_SPEC_PROPS,
        {
            "pipelineParallelSize": integer("The number of parallel workers (pipeline parallelism)."),
            "tensorParallelSize": integer("The number of GPUs to be used per node."),
        },
    ),
    description="WorkerSpec for enabling multi-node/multi-gpu.",
)

PREDICTOR_SPEC = obj(
    merged(
        {name: preserve(text) for name, text in _FRAMEWORKS.items()},
        {
            "model": MODEL_SPEC,
            "storageUris": arr(
                obj({"uri": string(min_length=1), "mountPath": string(max_length=255)}, required=("uri",)),
                "Spec for multiple storage uris.",
                min_items=1,
            ),
            "workerSpec": WORKER_SPEC,
        },
        _POD_SPEC_PROPS,
        COMPONENT_EXTENSION_PROPS,
    ),
    description="PredictorSpec defines the configuration for a predictor: a model (or one framework spec), "
    "PodSpec overrides and the component extension (replicas, autoscaling, logging, ...).",
)

TRANSFORMER_SPEC = obj(
    merged(_POD_SPEC_PROPS, COMPONENT_EXTENSION_PROPS),
    description="TransformerSpec defines transformer service for pre/post processing.",
)

EXPLAINER_SPEC = obj(
    merged(
        {"art": preserve("Spec for ART explainer."), "alibi": preserve(), "aix": preserve()},
        _POD_SPEC_PROPS,
        COMPONENT_EXTENSION_PROPS,
    ),
    description="ExplainerSpec defines the container spec for a model explanation server.",
)

INFERENCE_SERVICE = resource(
    "InferenceService is the Schema for the InferenceServices API.",
    OBJECT_META,
    {
        "spec": obj(
            {"predictor": PREDICTOR_SPEC, "transformer": TRANSFORMER_SPEC, "explainer": EXPLAINER_SPEC},
            required=("predictor",),
            description="InferenceServiceSpec is the top level type for this resource.",
        ),
        "status": preserve(
            "InferenceServiceStatus defines the observed state of InferenceService: url, "
            "conditions, components, modelStatus."
        ),
    },
)

# ---- ServingRuntime / ClusterServingRuntime ------------------------------------------------------------

SUPPORTED_MODEL_FORMAT = obj(
    {
        "name": string("Name of the model format."),
        "version": string("Version of the model format."),
        "autoSelect": boolean(
            "Set to true to allow the ServingRuntime to be used for automatic model "
            "placement if this model format is specified with no explicit runtime."
        ),
        "priority": integer(
            "Priority of this serving runtime for auto selection (greater than zero).", minimum=1
        ),
    },
    required=("name",),
)

_RUNTIME_POD_PROPS: dict[str, Schema] = {
    "containers": arr(
        CONTAINER, "List of containers belonging to the pod. There must be at least one.", merge_key="name"
    ),
    "volumes": arr(
        VOLUME,
        "List of volumes that can be mounted by containers belonging to the pod.",
        merge_key="name",
        strategy="merge,retainKeys",
    ),
    "nodeSelector": string_map("A selector which must match a node's labels for the pod to be scheduled."),
    "affinity": AFFINITY,
    "tolerations": arr(TOLERATION, "If specified, the pod's tolerations."),
    "labels": string_map("Labels that will be added to the pod."),
    "annotations": string_map("Annotations that will be added to the pod."),
    "imagePullSecrets": IMAGE_PULL_SECRETS,
    "hostIPC": boolean("Use the host's ipc namespace."),
}

SERVING_RUNTIME_SPEC = obj(
    merged(
        {
            "supportedModelFormats": arr(
                SUPPORTED_MODEL_FORMAT, "Model formats and version supported by this runtime."
            ),
            "multiModel": boolean("Whether this ServingRuntime is intended for multi-model usage or not."),
            "disabled": boolean("Set to true to disable use of this runtime."),
            "protocolVersions": string_list(
                "Supported protocol versions (i.e. v1 or v2 or grpc-v1 or grpc-v2)."
            ),
            "workerSpec": preserve("Set WorkerSpec to enable multi-node/multi-gpu."),
        },
        _RUNTIME_POD_PROPS,
        {
            "grpcEndpoint": string("Grpc endpoint for internal model-management."),
            "grpcDataEndpoint": string("Grpc endpoint for inferencing."),
            "httpDataEndpoint": string("HTTP endpoint for inferencing."),
            "replicas": integer(
                "Configure the number of replicas in the Deployment generated by this ServingRuntime."
            ),
            "storageHelper": obj(
                {"disabled": boolean()},
                description="Configuration for this runtime's use of the storage helper.",
            ),
            "builtInAdapter": obj(
                {
                    "serverType": string(),
                    "runtimeManagementPort": integer(),
                    "memBufferBytes": integer(),
                    "modelLoadingTimeoutMillis": integer(),
                    "env": arr(ENV_VAR),
                },
                description="Provide the details about built-in runtime adapter.",
            ),
        },
    ),
    required=("containers",),
    description="ServingRuntimeSpec defines the desired state of ServingRuntime: the serving containers, "
    "the model formats they support and pod-level settings.",
)

_RUNTIME_STATUS = preserve("ServingRuntimeStatus defines the observed state of ServingRuntime.")

SERVING_RUNTIME = resource(
    "ServingRuntime is the Schema for the servingruntimes API.",
    OBJECT_META,
    {"spec": SERVING_RUNTIME_SPEC, "status": _RUNTIME_STATUS},
)

CLUSTER_SERVING_RUNTIME = with_description(
    SERVING_RUNTIME, "ClusterServingRuntime is the Schema for the servingruntimes API (cluster-scoped)."
)

SCHEMAS: dict[str, Schema] = {
    "io.kserve.serving.v1beta1.InferenceService": INFERENCE_SERVICE,
    "io.kserve.serving.v1alpha1.ServingRuntime": SERVING_RUNTIME,
    "io.kserve.serving.v1alpha1.ClusterServingRuntime": CLUSTER_SERVING_RUNTIME,
}
