import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { QueueKeys } from 'bullmq';
import { parseAllDocuments } from 'yaml';

const dir = join(__dirname, '..', '..', 'infra', 'k8s');
type Doc = { apiVersion: string; kind: string; metadata: { name: string }; [k: string]: any };

function load(file: string): Doc[] {
  return parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => {
    assert.deepEqual(d.errors, [], `${file} parses`);
    return d.toJS() as Doc;
  });
}

describe('infra/k8s', () => {
  let docs: Doc[];
  let config: Record<string, string>;
  const find = (kind: string, name: string) => {
    const doc = docs.find((d) => d.kind === kind && d.metadata.name === name);
    assert.ok(doc, `${kind}/${name}`);
    return doc;
  };
  before(() => {
    const kustomization = load('kustomization.yaml')[0];
    docs = (kustomization.resources as string[]).flatMap(load);
    config = find('ConfigMap', 'kiln-config').data;
  });

  it('every resource parses and has a kind and a name', () => {
    assert.ok(docs.length >= 8);
    for (const d of docs) assert.ok(d.apiVersion && d.kind && d.metadata?.name, JSON.stringify(d).slice(0, 80));
  });

  it('the KEDA triggers watch the real BullMQ wait and active keys of the configured prefix', () => {
    const keys = new QueueKeys(config.KILN_QUEUE_PREFIX).getKeys('training');
    assert.equal(config.KILN_QUEUE_PREFIX, '{kiln}');
    const scaled = find('ScaledObject', 'kiln-worker-gpu');
    assert.equal(scaled.spec.scaleTargetRef.name, 'kiln-worker-gpu');
    assert.equal(scaled.spec.minReplicaCount, 0);
    const lists = scaled.spec.triggers.map((t: any) => {
      assert.equal(t.type, 'redis');
      assert.equal(t.authenticationRef.name, find('TriggerAuthentication', 'kiln-redis').metadata.name);
      return t.metadata.listName;
    });
    assert.deepEqual(lists, [keys.wait, keys.active]);
    for (const t of scaled.spec.triggers) assert.equal(typeof t.metadata.listLength, 'string');
  });

  describe('GPU worker', () => {
    it('requests a GPU, requires it and uses the worker image', () => {
      const pod = find('Deployment', 'kiln-worker-gpu').spec.template.spec;
      const [c] = pod.containers;
      assert.equal(c.image, 'kiln-worker-gpu');
      assert.equal(c.resources.limits['nvidia.com/gpu'], 1);
      assert.equal(c.resources.requests['nvidia.com/gpu'], 1);
      const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
      assert.equal(env.KILN_REQUIRE_GPU, 'true');
      assert.equal(env.KILN_BACKEND, 'node-gpu');
      assert.deepEqual(c.envFrom.map((e: any) => e.configMapRef?.name ?? e.secretRef?.name), ['kiln-config', 'kiln-secrets']);
      assert.ok(pod.tolerations.some((t: any) => t.key === 'nvidia.com/gpu'));
    });

    it('gets longer to stop than the worker grace period', () => {
      const spec = find('Deployment', 'kiln-worker-gpu').spec;
      const grace = Number(config.KILN_SHUTDOWN_GRACE_SECONDS);
      assert.ok(grace > 0);
      assert.ok(spec.template.spec.terminationGracePeriodSeconds > grace + 30);
      assert.equal(spec.replicas, undefined, 'KEDA owns the replica count');
      assert.equal(spec.strategy.rollingUpdate.maxUnavailable, 0);
    });

    it('probes the worker health port', () => {
      const [c] = find('Deployment', 'kiln-worker-gpu').spec.template.spec.containers;
      const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
      const port = c.ports.find((p: any) => p.name === 'health');
      assert.equal(String(port.containerPort), env.KILN_WORKER_HEALTH_PORT);
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
        assert.deepEqual(c[probe].httpGet, { path: '/healthz', port: 'health' }, probe);
      }
    });
  });

  it('the API probes /healthz for liveness and /readyz for readiness on PORT', () => {
    const [c] = find('Deployment', 'kiln-api').spec.template.spec.containers;
    assert.equal(c.image, 'kiln-api');
    assert.equal(c.env.find((e: any) => e.name === 'PORT').value, String(c.ports[0].containerPort));
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
  });

  it('runs every pod as the image non-root uid with a read-only root', () => {
    for (const name of ['kiln-api', 'kiln-worker-gpu']) {
      const pod = find('Deployment', name).spec.template.spec;
      assert.equal(pod.securityContext.runAsNonRoot, true);
      assert.equal(pod.securityContext.runAsUser, 10001);
      assert.equal(pod.containers[0].securityContext.readOnlyRootFilesystem, true);
    }
  });

  it('has a PodDisruptionBudget selecting each Deployment', () => {
    for (const name of ['kiln-api', 'kiln-worker-gpu']) {
      const labels = find('Deployment', name).spec.template.metadata.labels;
      const pdb = find('PodDisruptionBudget', name);
      for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) assert.equal(labels[k], v, `${name} ${k}`);
    }
  });
});
