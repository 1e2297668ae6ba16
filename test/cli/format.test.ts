import { describe, expect, it } from '@jest/globals';
import { parseArgs } from '../../src/cli/args.js';
import { policyView } from '../../src/api/status.js';
import { formatDescribe } from '../../src/cli/describe.js';
import { formatEvents } from '../../src/cli/events.js';
import { formatList } from '../../src/cli/list.js';
import { asyncBacklogLine, formatQueue, queueRows } from '../../src/cli/queue.js';
import { formatTable, utc } from '../../src/cli/table.js';
import { deletedWorkers, formatWorkers, workerOf } from '../../src/cli/workers.js';
import { isAppError } from '../../src/errors.js';

const T0 = '2026-01-02T03:04:05.000Z';
const T1 = '2026-01-02T03:04:06.500Z';

describe('CLI tables', () => {
  it('the shared formatter aligns columns four spaces apart with no trailing spaces', () => {
    expect(formatTable(['A', 'LONGER'], [['wide cell', 'x'], ['y', '']]).split('\n')).toEqual(['A            LONGER', 'wide cell    x', 'y']);
  });

  it('times are UTC ISO-8601, and a missing one is a dash', () => {
    expect(utc(Date.parse(T0))).toBe(T0);
    expect(utc('2026-01-02T04:04:05+01:00')).toBe(T0);
    expect([utc(null), utc(undefined)]).toEqual(['-', '-']);
  });

  it('list is the faas-cli table sorted by name; wide adds namespace, available, states and queue', () => {
    const rows = [
      { name: 'figlet', namespace: 'openfaas-fn', replicas: 3, availableReplicas: 2, invocationCount: 1200, states: { starting: 1, free: 1, busy: 1, draining: 0, stopping: 0 }, queueLength: 4 },
      { name: 'echo', replicas: 1, invocationCount: 7 },
    ];
    expect(formatList(rows, false).split('\n')).toEqual(['Function    Invocations    Replicas', 'echo        7              1', 'figlet      1200           3']);
    expect(formatList(rows, true).split('\n')).toEqual([
      'Function    Namespace      Invocations    Replicas    Available    Starting    Free    Busy    Draining    Queued',
      'echo        -              7              1           0            0           0       0       0           0',
      'figlet      openfaas-fn    1200           3           2            1           1       1       0           4',
    ]);
  });

  it('workers uses the EverAI columns: a busy replica is RUNNING BUSY, a starting one PENDING, a removed one DELETED with both times', () => {
    const live = [
      workerOf({ id: 'echo-1', state: 'busy', inFlight: 2, createdAt: T0, lastRequestAt: T1, served: 5 }),
      workerOf({ id: 'echo-2', state: 'starting', inFlight: 0, createdAt: T1, lastRequestAt: null, served: 0 }),
    ];
    const gone = deletedWorkers(
      [
        { time: T0, function: 'echo', source: 'alert', action: 'scale_up_start', from: 0, to: 0, reason: 'starting', inputs: {}, replica: 'echo-0' },
        { time: T1, function: 'echo', source: 'api', action: 'scale_down_complete', from: 0, to: 0, reason: 'drained', inputs: {}, replica: 'echo-0' },
      ],
      new Set(live.map((w) => w.id)),
    );
    expect(formatWorkers([...live, ...gone], false).split('\n')).toEqual([
      'ID        STATUS     DETAIL_STATUS    CREATED_AT                  DELETED_AT',
      'echo-1    RUNNING    BUSY             2026-01-02T03:04:05.000Z    -',
      'echo-2    PENDING    -                2026-01-02T03:04:06.500Z    -',
      'echo-0    DELETED    -                2026-01-02T03:04:05.000Z    2026-01-02T03:04:06.500Z',
    ]);
    expect(formatWorkers(live, true).split('\n')[0]).toBe('ID        STATUS     DETAIL_STATUS    CREATED_AT                  DELETED_AT    IN_FLIGHT    SERVED    LAST_REQUEST_AT');
  });

  it('queue uses the EverAI columns and reasons WorkerBusy and NoReplica; wide adds the wait', () => {
    const rows = queueRows({
      noReplica: 0,
      busy: 2,
      oldestWaitMs: 1500,
      waiting: [
        { index: 0, arrivedAt: T0, reason: 'busy' },
        { index: 1, arrivedAt: T1, reason: 'no_replica' },
      ],
    });
    expect(formatQueue(rows, false, 0).split('\n')).toEqual([
      'QUEUE_INDEX    CREATE_AT                   QUEUE_REASON',
      '0              2026-01-02T03:04:05.000Z    WorkerBusy',
      '1              2026-01-02T03:04:06.500Z    NoReplica',
    ]);
    expect(formatQueue(rows, true, Date.parse(T1)).split('\n')[1]).toMatch(/WorkerBusy\s+1500$/);
  });

  it('queue ends with the stored async calls, one line, none from a gateway that does not report them', () => {
    expect(asyncBacklogLine(3)).toBe('Async backlog: 3 stored calls not yet delivered');
    expect(asyncBacklogLine(1)).toBe('Async backlog: 1 stored call not yet delivered');
    expect(asyncBacklogLine(0)).toBe('Async backlog: 0 stored calls not yet delivered');
    expect(asyncBacklogLine(undefined)).toBeNull();
  });

  it('events show a decision with its replica counts and a lifecycle step with its replica', () => {
    const text = formatEvents(
      [
        { time: T0, function: 'echo', source: 'alert', action: 'scale_up', from: 1, to: 3, reason: 'step-up', inputs: { alerts: 1 } },
        { time: T1, function: 'echo', source: 'alert', action: 'scale_up_complete', from: 0, to: 0, reason: 'ready', inputs: {}, replica: 'echo-2' },
      ],
      true,
    );
    expect(text.split('\n')).toEqual([
      'TIME                        FUNCTION    SOURCE    ACTION               REPLICA    FROM    TO    REASON     INPUTS',
      '2026-01-02T03:04:05.000Z    echo        alert     scale_up             -          1       3     step-up    {"alerts":1}',
      '2026-01-02T03:04:06.500Z    echo        alert     scale_up_complete    echo-2     -       -     ready      -',
    ]);
  });

  it('describe prints the faas-cli fields, then policy, replica states and queue', () => {
    const text = formatDescribe(
      {
        name: 'echo',
        namespace: 'openfaas-fn',
        replicas: 2,
        availableReplicas: 2,
        invocationCount: 9,
        labels: { 'com.openfaas.scale.max': '10' },
        annotations: {},
        states: { starting: 0, free: 1, busy: 1, draining: 0, stopping: 0 },
        queueLength: 0,
        queue: { noReplica: 0, busy: 0, oldestWaitMs: 0, waiting: [] },
        instances: [],
        policy: { type: 'rps', settings: { min_replicas: 1, max_replicas: 10 } },
      },
      'http://127.0.0.1:8080/function/echo',
    );
    expect(text.split('\n')).toEqual([
      'Name:                echo',
      'Namespace:           openfaas-fn',
      'Status:              Ready',
      'Replicas:            2',
      'Available Replicas:  2',
      'Invocations:         9',
      'URL:                 http://127.0.0.1:8080/function/echo',
      'Labels:              com.openfaas.scale.max=10',
      'Annotations:         -',
      'Policy:              rps (min_replicas=1, max_replicas=10)',
      'Replica States:      starting 0, free 1, busy 1, draining 0, stopping 0',
      'Queue:               0 (NoReplica 0, WorkerBusy 0, oldest wait 0 ms)',
    ]);
  });
});

describe('describe: what a new user needs to see (issue 20)', () => {
  const SPEC_DEFAULTS = { minReplicas: 1, maxReplicas: 20, maxReplicasCeiling: 100 };
  const body = (labels: Record<string, string>, more: Record<string, unknown> = {}) => ({
    name: 'fn',
    namespace: 'openfaas-fn',
    replicas: 1,
    availableReplicas: 1,
    invocationCount: 0,
    labels,
    annotations: {},
    states: { starting: 0, free: 1, busy: 0, draining: 0, stopping: 0 },
    queueLength: 0,
    queue: { noReplica: 0, busy: 0, oldestWaitMs: 0, waiting: [] },
    instances: [],
    policy: policyView({ labels, annotations: {} }, SPEC_DEFAULTS),
    ...more,
  });

  it.each([
    ['a queue kind with unlimited concurrency set explicitly', { 'com.openfaas.scale.type': 'queue', 'com.openfaas.scale.concurrency': '0' }, /^Warning: +queue with concurrency 0 \(unlimited\): .*never scales up; set com\.openfaas\.scale\.concurrency/m],
    ['a free-workers kind with min-free 0', { 'com.openfaas.scale.type': 'free-workers', 'com.openfaas.scale.min-free': '0' }, /^Warning: +free-workers with min-free 0: .*never scales up/m],
  ])('warns about %s, whose signal cannot move', (_name, labels, warning) => {
    expect(formatDescribe(body(labels), 'http://127.0.0.1:8081/function/fn')).toMatch(warning);
  });

  it.each([
    ['queue with the default concurrency (1)', { 'com.openfaas.scale.type': 'queue' }],
    ['free-workers with the defaults', { 'com.openfaas.scale.type': 'free-workers' }],
    ['rps', {}],
  ])('does not warn about %s', (_name, labels) => {
    expect(formatDescribe(body(labels), 'http://127.0.0.1:8081/function/fn')).not.toMatch(/^Warning:/m);
  });

  it('a function at zero is "Scaled to zero", also from a gateway that sends no status', () => {
    const zero = body({}, { replicas: 0, availableReplicas: 0, states: { starting: 0, free: 0, busy: 0, draining: 0, stopping: 0 } });
    expect(formatDescribe(zero, 'u')).toMatch(/^Status: +Scaled to zero$/m);
    expect(formatDescribe({ ...zero, replicas: 1 }, 'u')).toMatch(/^Status: +Not Ready$/m);
  });
});

describe('CLI arguments', () => {
  it('reads --gateway in both forms, falls back to OPENFAAS_URL, and -o in both forms', () => {
    expect(parseArgs(['list', '--gateway', 'http://127.0.0.1:1'], {}).gateway).toBe('http://127.0.0.1:1');
    expect(parseArgs(['list', '--gateway=http://127.0.0.1:2'], {}).gateway).toBe('http://127.0.0.1:2');
    expect(parseArgs(['list'], { OPENFAAS_URL: 'http://127.0.0.1:3' }).gateway).toBe('http://127.0.0.1:3');
    // Without either: the admin listener's default port, where /system/* is served.
    expect(parseArgs(['list'], {}).gateway).toBe('http://127.0.0.1:8081');
    expect(parseArgs(['list', '-o', 'json'], {}).output).toBe('json');
    expect(parseArgs(['list', '--output=wide'], {}).output).toBe('wide');
    expect(parseArgs(['list', '--verbose'], {}).output).toBe('wide');
    expect(parseArgs(['events', 'echo', '-f'], {}).follow).toBe(true);
  });

  it('reads the timeouts as durations (a bare number is seconds), in both forms, with defaults', () => {
    expect(parseArgs(['list'], {})).toMatchObject({ timeoutMs: 30_000, connectTimeoutMs: 10_000, idleTimeoutMs: 45_000 });
    expect(parseArgs(['events', '-f', '--timeout', '2', '--connect-timeout=500ms', '--idle-timeout', '1m'], {})).toMatchObject({ timeoutMs: 2000, connectTimeoutMs: 500, idleTimeoutMs: 60_000 });
  });

  const bad: Array<[string, string[]]> = [
    ['an unknown option', ['list', '--bogus']],
    ['an unknown output format', ['list', '-o', 'yaml']],
    ['a gateway that is no http URL', ['list', '--gateway', 'ftp://x']],
    ['a missing option value', ['list', '--gateway']],
    ['a zero timeout', ['list', '--timeout', '0']],
    ['a timeout that is no duration', ['events', '--idle-timeout=soon']],
  ];
  it.each(bad)('%s is a USAGE error', (_name, argv) => {
    let thrown: unknown;
    try {
      parseArgs(argv, {});
    } catch (e) {
      thrown = e;
    }
    expect(isAppError(thrown, 'USAGE')).toBe(true);
  });
});
