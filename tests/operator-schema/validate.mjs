// Validates Prometheus Operator objects against the operator's own schemas, as compiled into
// @kubernetes-models/prometheus-operator (pinned in package.json and package-lock.json).
// Reads a JSON array of Kubernetes objects on stdin; prints one line per object,
// "<Kind>/<name>: valid" or "<Kind>/<name>: <path> <problem>", and exits 1 if any is invalid
// or of a kind it has no schema for. Used by tests/test_kubernetes.py.
import { readFileSync } from "node:fs";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

const models = { ServiceMonitor, PrometheusRule };
let failed = false;
for (const object of JSON.parse(readFileSync(0, "utf8"))) {
  const name = `${object.kind}/${object.metadata?.name}`;
  const Model = object.apiVersion === "monitoring.coreos.com/v1" ? models[object.kind] : undefined;
  if (Model === undefined) {
    console.log(`${name}: no schema for ${object.apiVersion} ${object.kind}`);
    failed = true;
    continue;
  }
  try {
    new Model(object).validate();
    console.log(`${name}: valid`);
  } catch (error) {
    console.log(`${name}: ${error.message.replaceAll("\n", "; ")}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
