/**
 * The fake's pods indexed by namespace and label, so the simulated controllers find a
 * Deployment's pods without scanning every pod (seeding 50,000 Deployments would otherwise
 * be quadratic).
 */
import { labelsOf, type K8sObject } from './wire.js';

export class PodIndex {
  private readonly byLabel = new Map<string, Map<string, K8sObject>>();

  private static slot(namespace: string, key: string, value: string): string {
    return `${namespace}\u0000${key}\u0000${value}`;
  }

  /** Replaces `previous` (if any) by `next` (if any) in the index. */
  update(previous: K8sObject | undefined, next: K8sObject | undefined): void {
    if (previous !== undefined) {
      for (const [k, v] of Object.entries(labelsOf(previous))) this.byLabel.get(PodIndex.slot(previous.metadata.namespace ?? '', k, v))?.delete(previous.metadata.name);
    }
    if (next !== undefined) {
      for (const [k, v] of Object.entries(labelsOf(next))) {
        const slot = PodIndex.slot(next.metadata.namespace ?? '', k, v);
        let pods = this.byLabel.get(slot);
        if (pods === undefined) {
          pods = new Map();
          this.byLabel.set(slot, pods);
        }
        pods.set(next.metadata.name, next);
      }
    }
  }

  /** Pods of `namespace` that carry the first label of `selector` (the caller checks the rest); none for an empty selector. */
  candidates(namespace: string, selector: Record<string, string>): K8sObject[] {
    const first = Object.entries(selector)[0];
    if (first === undefined) return [];
    return [...(this.byLabel.get(PodIndex.slot(namespace, first[0], first[1]))?.values() ?? [])];
  }
}
