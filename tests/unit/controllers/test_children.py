"""Children are judged by the hash of what was rendered, and updates keep what other writers own."""

from kubeserve.controllers.children import RENDERED_HASH, _merge_into, rendered_hash, stored_hash, with_hash


def deployment(args):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "m-predictor", "namespace": "ns", "labels": {"component": "predictor"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "isvc.m-predictor"}},
                     "template": {"spec": {"containers": [{"name": "kserve-container", "args": args}]}}}}


def test_hash_follows_the_spec_not_annotations_or_status():
    a, b = deployment(["--port=8080"]), deployment(["--port=8080"])
    b["metadata"]["annotations"] = {"x": "y"}
    b["status"] = {"replicas": 3}
    assert rendered_hash(a) == rendered_hash(b)
    assert rendered_hash(a) != rendered_hash(deployment(["--port=9090"]))
    assert stored_hash(with_hash(a)) == rendered_hash(a)
    assert stored_hash({"metadata": {}}) is None


def test_merge_keeps_identity_cluster_ip_selector_and_hpa_replicas():
    stored = with_hash(deployment(["--old"]))
    stored["metadata"].update(resourceVersion="42", uid="u1", annotations={**stored["metadata"]["annotations"],
                                                                           "deployment.kubernetes.io/revision": "3"})
    stored["spec"]["replicas"] = 4  # the HPA scaled it
    stored["spec"]["selector"] = {"matchLabels": {"app": "isvc.m-predictor", "old": "1"}}
    wanted = with_hash(deployment(["--new"]))
    merged = _merge_into(stored, wanted, keep_replicas=True)
    assert merged["metadata"]["resourceVersion"] == "42" and merged["metadata"]["uid"] == "u1"
    assert merged["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert merged["metadata"]["annotations"][RENDERED_HASH] == wanted["metadata"]["annotations"][RENDERED_HASH]
    assert merged["spec"]["replicas"] == 4
    assert merged["spec"]["selector"]["matchLabels"]["old"] == "1"
    assert merged["spec"]["template"]["spec"]["containers"][0]["args"] == ["--new"]
    assert _merge_into(stored, wanted, keep_replicas=False)["spec"]["replicas"] == 1

    service = {"kind": "Service", "metadata": {"name": "s"}, "spec": {"clusterIP": "127.96.0.9", "ports": [80]}}
    new = _merge_into(service, {"kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [81]}},
                      keep_replicas=False)
    assert new["spec"] == {"clusterIP": "127.96.0.9", "ports": [81]}
