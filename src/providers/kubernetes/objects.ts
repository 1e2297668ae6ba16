/** The fields of the Kubernetes objects alert-scaler reads: typed list items and raw JSON alike (src/providers/kubernetes/client.ts lists and watches them). */

/** The fields of a Deployment alert-scaler reads; matches both typed and raw watch objects. */
export interface DeploymentLike {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly resourceVersion?: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
  };
  readonly spec?: {
    readonly replicas?: number;
    readonly selector?: { readonly matchLabels?: Record<string, string> };
    /** The pod template: its containers' ports give a pod's port when no EndpointSlice does. */
    readonly template?: { readonly spec?: { readonly containers?: ReadonlyArray<{ readonly ports?: ReadonlyArray<{ readonly name?: string; readonly containerPort?: number }> }> } };
  };
  readonly status?: { readonly readyReplicas?: number; readonly availableReplicas?: number };
}

/** The fields of a Pod alert-scaler reads (typed list items or raw watch JSON). */
export interface PodLike {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly resourceVersion?: string;
    readonly labels?: Record<string, string>;
    /** A Date from a typed list, an RFC 3339 string from a watch. */
    readonly creationTimestamp?: Date | string;
    readonly deletionTimestamp?: Date | string;
    /** The controller (a ReplicaSet `<deployment>-<pod-template-hash>`) names the pod's Deployment. */
    readonly ownerReferences?: ReadonlyArray<{ readonly kind?: string; readonly name?: string; readonly controller?: boolean }>;
  };
  readonly status?: {
    readonly phase?: string;
    readonly podIP?: string;
    readonly conditions?: ReadonlyArray<{ readonly type?: string; readonly status?: string }>;
  };
}

/** The fields of an EndpointSlice alert-scaler reads (discovery.k8s.io/v1). */
export interface EndpointSliceLike {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly resourceVersion?: string;
    readonly labels?: Record<string, string>;
  };
  readonly addressType?: string;
  readonly ports?: ReadonlyArray<{ readonly name?: string; readonly port?: number }> | null;
  readonly endpoints?: ReadonlyArray<{
    readonly addresses?: readonly string[];
    readonly conditions?: { readonly ready?: boolean; readonly serving?: boolean; readonly terminating?: boolean };
    readonly targetRef?: { readonly kind?: string; readonly name?: string };
  }> | null;
}

/** The fields of a ConfigMap alert-scaler reads (a named policy: its `data`). */
export interface ConfigMapLike {
  readonly metadata?: { readonly name?: string; readonly namespace?: string; readonly resourceVersion?: string };
  readonly data?: Record<string, string> | null;
}

/** The fields of a core Event alert-scaler reads back (its name, to bump its count later). */
export interface EventLike {
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
}

/** One event of a watch, as the apiserver sends it; `T` is the watched kind. */
export interface WatchEvent<T = DeploymentLike> {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: T & { readonly code?: number; readonly reason?: string; readonly message?: string };
}
