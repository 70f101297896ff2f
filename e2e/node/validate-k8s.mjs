// Validates rendered Kubernetes manifests (a multi-document YAML file) against the API's JSON
// schemas with kubernetes-models (ajv): types, required fields, enums and formats. Exits 1 on the
// first document that fails. Used by scripts/check-deploy beside kubernetes-validate --strict.
//   node validate-k8s.mjs rendered.yaml
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const [file] = process.argv.slice(2);
let failed = 0;
for (const document of parseAllDocuments(readFileSync(file, "utf8"))) {
  const resource = document.toJSON();
  if (!resource) continue;
  const { apiVersion, kind } = resource;
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : [null, apiVersion];
  const module = await import(group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`);
  const Model = module[kind];
  if (!Model) {
    console.error(`${kind} (${apiVersion}): no schema known`);
    failed += 1;
    continue;
  }
  try {
    new Model(resource).validate();
    console.log(`ok ${kind}/${resource.metadata?.name}`);
  } catch (err) {
    console.error(`${kind}/${resource.metadata?.name}: ${err.message}`);
    failed += 1;
  }
}
process.exit(failed ? 1 : 0);
