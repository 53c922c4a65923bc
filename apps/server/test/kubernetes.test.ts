/**
 * deploy/kubernetes as an operator applies it: rendered by `kubectl kustomize`, every object valid
 * against the Kubernetes schemas (the kubernetes-models validators, and the Prometheus Operator's
 * for the ServiceMonitor), and the Deployment saying what the README promises: replicas on Redis
 * from a Secret file, probes on /health and /ready, a grace period above drain + grace, the
 * restricted security profile, and settings that exist.
 */

import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor'
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget'
import { Service } from 'kubernetes-models/v1/Service'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { SETTINGS, loadConfig } from '../src/config.ts'

const KUBERNETES = resolve(import.meta.dirname, '../../../deploy/kubernetes')
const KUBECTL = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0
if (!KUBECTL) console.warn('\n*** SKIPPED: rendering deploy/kubernetes. No kubectl (apt-get install kubernetes-client; .ci/run installs it). ***\n')

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; spec: Record<string, unknown> }

function render(path: string): Manifest[] {
  const rendered = spawnSync('kubectl', ['kustomize', path], { encoding: 'utf8' })
  if (rendered.status !== 0) throw new Error(`kubectl kustomize ${path}: ${rendered.stderr}`)
  return parseAllDocuments(rendered.stdout).map((document) => document.toJS() as Manifest)
}

const VALIDATORS: Record<string, new (value: never) => { validate(): void }> = {
  'apps/v1 Deployment': Deployment,
  'v1 Service': Service,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
  'monitoring.coreos.com/v1 ServiceMonitor': ServiceMonitor,
}

/** Throws the schema's complaint when `manifest` is not a valid object of its kind. */
function validate(manifest: Manifest): void {
  const Model = VALIDATORS[`${manifest.apiVersion} ${manifest.kind}`]
  if (!Model) throw new Error(`no schema for ${manifest.apiVersion} ${manifest.kind}`)
  new Model(manifest as never).validate()
}

describe.skipIf(!KUBECTL)('deploy/kubernetes', () => {
  it('should reject what the schemas reject (the check can fail)', () => {
    const [deployment] = render(`${KUBERNETES}/base`).filter((m) => m.kind === 'Deployment')
    const broken = structuredClone(deployment!) as Manifest & { spec: { replicas: unknown } }
    broken.spec.replicas = 'two'
    expect(() => validate(broken)).toThrow()
  })

  it('should render a base whose every object validates', () => {
    const manifests = render(`${KUBERNETES}/base`)
    expect(manifests.map((m) => m.kind).sort()).toEqual(['Deployment', 'PodDisruptionBudget', 'Service'])
    for (const manifest of manifests) expect(() => validate(manifest), `${manifest.kind} ${manifest.metadata.name}`).not.toThrow()
  })

  it('should add a valid ServiceMonitor on the metrics port with the component', () => {
    const manifests = render(`${KUBERNETES}/examples/with-servicemonitor`)
    for (const manifest of manifests) expect(() => validate(manifest), manifest.kind).not.toThrow()
    const monitor = manifests.find((m) => m.kind === 'ServiceMonitor') as unknown as {
      spec: { endpoints: { port: string; path: string }[]; selector: { matchLabels: Record<string, string> } }
    }
    const service = manifests.find((m) => m.kind === 'Service') as unknown as { metadata: { labels: Record<string, string> } }
    expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: 'metrics', path: '/metrics' })])
    for (const [label, value] of Object.entries(monitor.spec.selector.matchLabels)) expect(service.metadata.labels[label]).toBe(value)
  })

  it('should run two replicas on Redis from a Secret file, probed, drained and locked down', () => {
    const manifests = render(`${KUBERNETES}/base`)
    // biome-ignore lint/suspicious/noExplicitAny: reason: a rendered manifest is walked as plain data
    const deployment = manifests.find((m) => m.kind === 'Deployment') as any
    const pod = deployment.spec.template.spec
    const [container] = pod.containers
    expect(deployment.spec.replicas).toBe(2)
    const env = Object.fromEntries(container.env.map((e: { name: string; value: string }) => [e.name, e.value]))
    // Every variable is a setting the server reads (or a secret's file form).
    const known = new Set(SETTINGS.flatMap((s) => [s.env, `${s.env}_FILE`]))
    for (const name of Object.keys(env)) expect(known.has(name), name).toBe(true)
    const secretMount = container.volumeMounts.find((m: { name: string }) => m.name === 'redis')
    const secretVolume = pod.volumes.find((v: { name: string }) => v.name === 'redis')
    expect(env['RENDEZVOUS_STORE_FILE']).toBe(`${secretMount.mountPath}/url`)
    expect(secretVolume.secret.secretName).toBe('rendezvous-redis')
    expect(env['RENDEZVOUS_STORE']).toBeUndefined()
    // The settings as the server reads them: the container's environment over the image's defaults.
    const loaded = loadConfig({ HOST: '0.0.0.0', PORT: '8080', ...env, RENDEZVOUS_STORE_FILE: undefined, RENDEZVOUS_STORE: 'redis://redis:6379' }, [])
    if (loaded.kind !== 'config') throw new Error(JSON.stringify(loaded))
    const { config } = loaded
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(config.shutdownDrainSeconds + config.shutdownGraceSeconds + 2)
    const ports = Object.fromEntries(container.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]))
    expect(ports).toEqual({ http: config.port, metrics: config.metricsListen.kind === 'listen' ? config.metricsListen.port : -1 })
    expect(container.startupProbe.httpGet).toEqual({ path: '/health', port: 'http' })
    expect(container.livenessProbe.httpGet).toEqual({ path: '/health', port: 'http' })
    expect(container.readinessProbe.httpGet).toEqual({ path: '/ready', port: 'http' })
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } })
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } })
    expect(container.resources.requests.memory).toBeDefined()
    expect(container.resources.limits.memory).toBeDefined()
    // /tmp is the one writable place, as in the image.
    expect(container.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).toContain('/tmp')
    const service = manifests.find((m) => m.kind === 'Service') as unknown as { spec: { ports: { name: string; targetPort: string }[] } }
    expect(service.spec.ports.map((p) => [p.name, p.targetPort])).toEqual([
      ['http', 'http'],
      ['metrics', 'metrics'],
    ])
    const budget = manifests.find((m) => m.kind === 'PodDisruptionBudget') as unknown as {
      spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } }
    }
    expect(budget.spec.minAvailable).toBe(1)
    expect(budget.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels)
  })
})
