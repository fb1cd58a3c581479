// Validates Prometheus Operator objects against the operator's own API, as published in
// @kubernetes-models/prometheus-operator (pinned in package.json and package-lock.json), twice:
// - its JSON Schema validators (compiled with ajv): types, patterns, enums, required fields;
// - its TypeScript types, with the TypeScript compiler: an object literal may only have known
//   fields, so a misspelt field fails (as `kubectl apply`'s strict field validation would).
// Reads a JSON array of Kubernetes objects on stdin; prints one line per object,
// "<Kind>/<name>: valid" or "<Kind>/<name>: <problem>; <problem>", and exits 1 if any is invalid
// or of a kind it has no schema for. Used by tests/test_kubernetes.py.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

const models = { ServiceMonitor, PrometheusRule };
const objects = JSON.parse(readFileSync(0, "utf8"));
const problems = objects.map(() => []);

objects.forEach((object, i) => {
  const Model = object.apiVersion === "monitoring.coreos.com/v1" ? models[object.kind] : undefined;
  if (Model === undefined) {
    problems[i].push(`no schema for ${object.apiVersion} ${object.kind}`);
    return;
  }
  try {
    new Model(object).validate();
  } catch (error) {
    problems[i].push(error.message.replaceAll("\n", "; "));
  }
});

// One line per object, typed by its kind's interface; a diagnostic's line names the object.
const here = dirname(fileURLToPath(import.meta.url));
const file = join(here, "__manifests__.ts");
const lines = [];
for (const kind of Object.keys(models)) {
  lines.push(`import type { I${kind} } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}";`);
}
const first = lines.length;
objects.forEach((object, i) => {
  const type = models[object.kind] ? `I${object.kind}` : "unknown";
  lines.push(`export const object${i}: ${type} = ${JSON.stringify(object)};`);
});
const options = {
  strict: true, noEmit: true, skipLibCheck: true, types: [],
  target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
};
const host = ts.createCompilerHost(options);
const source = ts.createSourceFile(file, lines.join("\n"), ts.ScriptTarget.ES2022, true);
const { getSourceFile, fileExists, readFile } = host;
host.getSourceFile = (name, ...rest) => (name === file ? source : getSourceFile(name, ...rest));
host.fileExists = (name) => name === file || fileExists(name);
host.readFile = (name) => (name === file ? source.text : readFile(name));
const program = ts.createProgram([file], options, host);
for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "; ");
  if (diagnostic.file?.fileName !== file) {
    console.log(`TypeScript: ${message}`); // the package itself: a broken install
    process.exitCode = 1;
    continue;
  }
  const { line } = source.getLineAndCharacterOfPosition(diagnostic.start);
  problems[line - first]?.push(message);
}

objects.forEach((object, i) => {
  const name = `${object.kind}/${object.metadata?.name}`;
  console.log(`${name}: ${problems[i].length ? problems[i].join("; ") : "valid"}`);
  if (problems[i].length) process.exitCode = 1;
});
